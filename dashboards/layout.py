"""The page: header and banner, controls, map, ranked table and ward panel.

:func:`page` builds the layout for one viewer. Analysts get the offence-point
layer, the tasking controls and the zone / site layers; partners get none of
those components at all (so nothing can be switched on in the browser), and their
callbacks answer with disclosure-controlled data only.

The page fills the window (1366×768 and up) without scrolling: controls, the ward
panel and the table scroll inside themselves. Map layers sit in panes with fixed
stacking (hexagons < ward outlines < points < zones < sites < highlight < labels),
so zones and sites stay above the hexagons whatever order data arrives in.
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_leaflet as dl
from dash import dcc, html

from hotspots.stats.inference import BIN_COLOURS

from . import ids
from .callbacks import (
    FAMILIES,
    LEVELS,
    RESOLUTIONS,
    AppContext,
    area_options,
    brief_available,
    default_months,
    legend_items,
    month_marks,
    period_text,
)

__all__ = ["DEFAULTS", "PANES", "login_required_page", "page"]

#: Initial control values.
DEFAULTS = {"area": "Merton", "family": "robbery", "res": 9, "level": 95,
            "fdr": ["fdr"], "hours": 60, "cameras": 4, "radius": 100}
LONDON_CENTRE = [51.49, -0.12]
#: Map panes (name -> z-index); Leaflet's own overlay pane is 400, markers 600.
PANES = {"hexes": 410, "wards": 420, "points": 430, "zones": 440, "sites": 450,
         "highlight": 460, "labels": 470}


def _header(user: str, role: str) -> html.Header:
    return html.Header(className="hs-header", children=[
        html.Div("hotspots", className="hs-title"),
        html.Div("Crime hot spots in London from police.uk data",
                 className="hs-subtitle"),
        html.Div(className="hs-user", children=[
            html.Span(user, id=ids.USER), " (",
            html.Span(role, id=ids.ROLE), ") ",
            html.Form(html.Button("Log out", type="submit", className="hs-logout"),
                      action="/logout", method="POST", className="hs-logout-form"),
        ]),
    ])


def _controls(ctx: AppContext, role: str, area: str, months: list[int]) -> html.Div:
    fam_opts = [{"label": label, "value": key} for key, (_, _, label) in
                FAMILIES.items()]
    items = [
        html.Label("Area, street or place", htmlFor=ids.AREA),
        dcc.Dropdown(id=ids.AREA, options=area_options(ctx.wards()), value=area,
                     clearable=False, searchable=True, className="hs-area",
                     placeholder="Type a ward, borough, street or place"),
        html.Label("Crime family"),
        dcc.RadioItems(id=ids.FAMILY, options=fam_opts, value=DEFAULTS["family"],
                       className="hs-radio"),
        html.Label("Months"),
        dcc.RangeSlider(id=ids.MONTHS, min=0, max=len(ctx.months) - 1, step=1,
                        value=months, marks=month_marks(ctx.months),
                        allowCross=False, updatemode="mouseup"),
        html.Div(period_text(ctx, months), id=ids.PERIOD, className="hs-small"),
        html.Label("H3 resolution"),
        dcc.RadioItems(id=ids.RES, options=[{"label": f" {r}", "value": r}
                                            for r in RESOLUTIONS],
                       value=DEFAULTS["res"], inline=True),
        html.Label("Confidence"),
        dcc.RadioItems(id=ids.LEVEL, options=[{"label": f" {p} %", "value": p}
                                              for p in LEVELS],
                       value=DEFAULTS["level"], inline=True),
        dcc.Checklist(id=ids.FDR, options=[{"label": " FDR correction",
                                            "value": "fdr"}],
                      value=DEFAULTS["fdr"]),
    ]
    if role == "analyst":
        items += [
            html.H4("Tasking"),
            html.Div(className="hs-inputs", children=[
                html.Label(["Officer-hours a week", dcc.Input(
                    id=ids.HOURS, type="number", min=0, step=10,
                    value=DEFAULTS["hours"], debounce=True)]),
                html.Label(["Cameras", dcc.Input(
                    id=ids.CAMERAS, type="number", min=0, step=1,
                    value=DEFAULTS["cameras"], debounce=True)]),
                html.Label(["Camera radius (m)", dcc.Input(
                    id=ids.RADIUS, type="number", min=25, step=25,
                    value=DEFAULTS["radius"], debounce=True)]),
            ]),
            html.Div(id=ids.TASKING_NOTE, className="hs-small hs-note"),
        ]
    items += [
        html.H4("Export this view"),
        html.Div(className="hs-exports", children=[
            html.Button("CSV", id=ids.DL_CSV, n_clicks=0),
            html.Button("GeoJSON", id=ids.DL_GEOJSON, n_clicks=0),
            html.Button("PDF", id=ids.DL_PDF, n_clicks=0),
        ]),
    ]
    if role == "analyst":
        brief = [html.Button("Tasking brief (PDF)", id=ids.DL_BRIEF, n_clicks=0,
                             className="hs-primary")] if brief_available() else []
        items += [
            html.H4("Export the plan"),
            html.Div(className="hs-exports", children=[
                *brief,
                html.Button("Zones + sites CSV", id=ids.DL_PLAN_CSV, n_clicks=0),
                html.Button("Zones + sites GeoJSON", id=ids.DL_PLAN_GEOJSON,
                            n_clicks=0),
            ]),
        ]
    items.append(dcc.Download(id=ids.DOWNLOAD))
    return html.Div(items, className="hs-controls")


def _legend(role: str) -> html.Details:
    rows = [html.Div([html.Span(className="hs-swatch", style={"background": c}),
                      label]) for c, label in legend_items()]
    rows.append(html.Div([html.Span(className="hs-swatch hs-swatch-ward"),
                          "2022 ward"]))
    if role == "analyst":
        rows += [html.Div([html.Span(className="hs-swatch hs-swatch-zone"),
                           "Surge zone"]),
                 html.Div([html.Span(className="hs-swatch hs-swatch-site"),
                           "NOMAD camera site"])]
    return html.Details(id=ids.LEGEND, className="hs-legend", open=True, children=[
        html.Summary("Legend"), html.B("Gi* confidence"), *rows])


def _map(role: str, tiles: dict | None) -> html.Div:
    def geo(id_, pane, **kw):
        return dl.GeoJSON(id=id_, data=None, pane=pane, **kw)

    overlays = [
        dl.Overlay(geo(ids.WARDS, "wards", style={"variable": "hotspots.wardStyle"},
                       hoverStyle={"variable": "hotspots.wardHover"}),
                   name="2022 wards", checked=True),
        dl.Overlay(geo(ids.HEXES, "hexes", style={"variable": "hotspots.hexStyle"},
                       hideout={"colours": {str(b): c
                                            for b, c in BIN_COLOURS.items()}}),
                   name="Hot spots (Gi*)", checked=True),
        dl.Overlay(geo(ids.LABELS, "labels",
                       pointToLayer={"variable": "hotspots.labelToLayer"},
                       interactive=False),
                   name="Names", checked=True),
    ]
    if role == "analyst":
        overlays += [
            dl.Overlay(geo(ids.ZONES, "zones",
                           style={"variable": "hotspots.zoneStyle"}),
                       name="Surge zones", checked=True),
            dl.Overlay(geo(ids.SITES, "sites",
                           pointToLayer={"variable": "hotspots.siteToLayer"}),
                       name="NOMAD sites", checked=True),
            dl.Overlay(geo(ids.POINTS, "points",
                           pointToLayer={"variable": "hotspots.pointToLayer"}),
                       name=ids.OVERLAY_POINTS, checked=False),
        ]
    children = [dl.Pane(name=n, style={"zIndex": z}) for n, z in PANES.items()]
    if tiles:
        # no attribution until a tile has loaded (assets/hotspots.js adds it)
        children.append(dl.TileLayer(
            id=ids.TILES, url=tiles["url"], attribution="",
            maxZoom=19, eventHandlers={
                "tileload": {"variable": "hotspots.onTileLoad"},
                "tileerror": {"variable": "hotspots.onTileError"}}))
    children += [
        dl.LayersControl(overlays, id=ids.LAYERS, collapsed=True,
                         position="topright"),
        geo(ids.HIGHLIGHT, "highlight",
            style={"variable": "hotspots.highlightStyle"}),
        dl.ScaleControl(position="bottomright", imperial=False),
    ]
    return html.Div(className="hs-map-wrap", children=[
        dl.Map(id=ids.MAP, center=LONDON_CENTRE, zoom=10, children=children,
               className="hs-map", maxZoom=19,
               eventHandlers={"zoomend": {"variable": "hotspots.onZoom"}}),
        html.Div(id=ids.TILE_INFO, hidden=True,
                 **{"data-attribution": (tiles or {}).get("attribution", "")}),
        _legend(role),
        html.Div(id=ids.BUSY, className="hs-busy", children=[
            html.Div(className="hs-spinner"), html.Span("Loading the map…")]),
    ])


def _table(role: str) -> html.Div:
    kinds = [{"label": " Hot spots", "value": "hotspots"}]
    if role == "analyst":
        kinds += [{"label": " Surge zones", "value": "zones"},
                  {"label": " NOMAD sites", "value": "sites"}]
    return html.Div(className="hs-table", children=[
        html.Div(className="hs-table-head", children=[
            dcc.RadioItems(id=ids.TABLE_KIND, options=kinds, value="hotspots",
                           inline=True),
            html.Span(id=ids.PLANNING, className="hs-planning",
                      children="planning…"),
        ]),
        dag.AgGrid(id=ids.TABLE, rowData=[], columnDefs=[],
                   dashGridOptions={"animateRows": False, "rowHeight": 28,
                                    "headerHeight": 30, "tooltipShowDelay": 300,
                                    "rowSelection": {
                                        "mode": "singleRow",
                                        "enableClickSelection": True,
                                        "checkboxes": False}},
                   getRowId="params.data.id", style={"height": "100%"},
                   className="ag-theme-alpine hs-grid"),
    ])


def page(ctx: AppContext, user: str, role: str, tiles: dict | None,
         area: str | None = None) -> html.Div:
    """The whole page for ``user`` with ``role``; ``tiles`` is the base map
    (``{"url", "attribution"}``) or None for none."""
    months = default_months(ctx, DEFAULTS["family"])
    # ROWS_TASKING stays empty for partners (their tasking callback never runs and
    # answers nothing for them), but the table callback reads it in both views
    stores = [dcc.Store(id=ids.ROWS_HOT, data=[]), dcc.Store(id=ids.WARD, data=None),
              dcc.Store(id=ids.ROWS_TASKING, data={"zones": [], "sites": []}),
              dcc.Store(id=ids.VIEW_DATA), dcc.Store(id=ids.TASK_DATA),
              dcc.Store(id=ids.DRAWN), dcc.Store(id=ids.SEARCH),
              dcc.Store(id=ids.PREFETCH)]
    return html.Div(className=f"hs-page hs-{role}", children=[
        _header(user, role),
        html.Div(id=ids.BANNER, className="hs-banner", style={"display": "none"}),
        html.Div(className="hs-body", children=[
            _controls(ctx, role, area or DEFAULTS["area"], months),
            html.Main(className="hs-main", children=[
                html.Div(className="hs-mapbar", children=[
                    html.Div(id=ids.MONTHS_LABEL, className="hs-maptitle"),
                    html.Div(id=ids.STATUS, className="hs-status"),
                ]),
                _map(role, tiles),
                _table(role),
            ]),
            html.Aside(id=ids.WARD_PANEL, className="hs-panel",
                       children=html.P("Click a ward on the map (or pick a ward as "
                                       "the area) to see its panel.")),
        ]),
        *stores,
    ])


def login_required_page() -> html.Div:
    """What the layout is when nobody is logged in (the server redirects first)."""
    return html.Div([html.P("Please log in."), html.A("Log in", href="/login")])
