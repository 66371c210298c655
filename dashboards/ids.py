"""Component ids of the Dash app (layout, callbacks and tests share them)."""

__all__ = [
    "AREA", "BANNER", "BUSY", "CAMERAS", "DL_BRIEF", "DL_CSV", "DL_GEOJSON", "DL_PDF",
    "DL_PLAN_CSV", "DL_PLAN_GEOJSON", "DOWNLOAD", "DRAWN", "FAMILY", "FDR", "HEXES",
    "HIGHLIGHT", "HOURS", "LABELS", "LAYERS", "LEGEND", "LEVEL", "MAP", "MONTHS",
    "MONTHS_LABEL", "OVERLAY_POINTS", "PERIOD", "PLANNING", "POINTS", "PREFETCH",
    "RADIUS", "RES", "ROLE", "ROWS_HOT", "ROWS_TASKING", "SEARCH", "SITES", "STATUS",
    "TABLE", "TABLE_KIND", "TASKING_NOTE", "TASK_DATA", "TILES", "TILE_INFO", "USER",
    "VIEW_DATA", "WARD", "WARDS", "WARD_PANEL", "ZONES",
]

# header
BANNER = "synthetic-banner"
USER = "user-name"
ROLE = "user-role"
STATUS = "status"

# controls
AREA = "area"
FAMILY = "family"
MONTHS = "months"
PERIOD = "months-period"
RES = "res"
LEVEL = "level"
FDR = "fdr"
HOURS = "officer-hours"
CAMERAS = "cameras"
RADIUS = "radius"

# map and its layers
MAP = "map"
MONTHS_LABEL = "months-label"  # the map's title: changes with the map, not before
BUSY = "map-busy"  # the loading overlay over the map
PLANNING = "plan-busy"  # the tasking plan is being computed
TILES = "tiles"
TILE_INFO = "tile-info"  # carries the base map's attribution until a tile loads
LAYERS = "layers"
LEGEND = "legend"
WARDS = "layer-wards"
LABELS = "layer-labels"
HEXES = "layer-hexes"
ZONES = "layer-zones"
SITES = "layer-sites"
POINTS = "layer-points"
HIGHLIGHT = "layer-highlight"

# table, ward panel, exports
TABLE = "ranked-table"
TABLE_KIND = "table-kind"
ROWS_HOT = "rows-hot"
ROWS_TASKING = "rows-tasking"
VIEW_DATA = "view-data"  # the server's answer for a view, with its control values
TASK_DATA = "task-data"  # the same for the tasking plan
DRAWN = "map-drawn"  # the view whose map is drawn: names, table and plan follow it
SEARCH = "area-search"  # the area box's text once typing pauses (then searched)
PREFETCH = "prefetch"  # nothing shown: the other correction computed ahead
TASKING_NOTE = "tasking-note"
WARD = "ward-selected"
WARD_PANEL = "ward-panel"
DL_CSV = "export-csv"
DL_GEOJSON = "export-geojson"
DL_PDF = "export-pdf"
DL_PLAN_CSV = "export-plan-csv"
DL_PLAN_GEOJSON = "export-plan-geojson"
DL_BRIEF = "export-brief"
DOWNLOAD = "download"

#: Names of the overlays in the layer control (the app sends a layer's data only
#: while its overlay is checked).
OVERLAY_POINTS = "Offence points"
