"""Component ids of the Dash app (layout, callbacks and tests share them)."""

__all__ = [
    "AREA", "BANNER", "CAMERAS", "DL_CSV", "DL_GEOJSON", "DL_PDF", "DOWNLOAD", "FAMILY",
    "FDR", "HEXES", "HIGHLIGHT", "HOURS", "LEVEL", "MAP", "MONTHS", "MONTHS_LABEL",
    "POINTS", "RADIUS", "RES", "ROLE", "ROWS_HOT", "ROWS_TASKING", "SITES", "STATUS",
    "TABLE", "TABLE_KIND", "TASKING_NOTE", "TILES", "USER", "WARD", "WARD_PANEL",
    "WARDS", "ZONES",
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
MONTHS_LABEL = "months-label"
RES = "res"
LEVEL = "level"
FDR = "fdr"
HOURS = "officer-hours"
CAMERAS = "cameras"
RADIUS = "radius"

# map and its layers
MAP = "map"
TILES = "tiles"
WARDS = "layer-wards"
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
TASKING_NOTE = "tasking-note"
WARD = "ward-selected"
WARD_PANEL = "ward-panel"
DL_CSV = "export-csv"
DL_GEOJSON = "export-geojson"
DL_PDF = "export-pdf"
DOWNLOAD = "download"
