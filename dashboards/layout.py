"""The page: header and banner, controls, map, ranked table and ward panel.

:func:`page` builds the layout for one viewer. Analysts get the offence-point
layer, the tasking controls and the zone / site layers; partners get none of
those components at all (so nothing can be switched on in the browser), and their
callbacks answer with disclosure-controlled data only.
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_leaflet as dl
from dash import dcc, html

from . import ids
from .callbacks import (
    FAMILIES,
    LEVELS,
    RESOLUTIONS,
    AppContext,
    area_options,
    default_months,
    legend_items,
    month_marks,
)

__all__ = ["DEFAULTS", "login_required_page", "page"]

#: Initial control values.
DEFAULTS = {"area": "Merton", "family": "robbery", "res": 9, "level": 95,
            "fdr": ["fdr"], "hours": 60, "cameras": 4, "radius": 100}
LONDON_CENTRE = [51.49, -0.12]
OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"


def _header(user: str, role: str) -> html.Header:
    return html.Header(className="hs-header", children=[
        html.Div("hotspots", className="hs-title"),
        html.Div("Crime hot spots in London from police.uk data",
                 className="hs-subtitle"),
        html.Div(className="hs-user", children=[
            html.Span(user, id=ids.USER), " (",
            html.Span(role, id=ids.ROLE), ") ",
            html.A("Log out", href="/logout", className="hs-logout"),
        ]),
    ])


def _controls(ctx: AppContext, role: str, area: str, months: list[int]) -> html.Div:
    fam_opts = [{"label": label, "value": key} for key, (_, _, label) in
                FAMILIES.items()]
    items = [
        html.Label("Area", htmlFor=ids.AREA),
        dcc.Dropdown(id=ids.AREA, options=area_options(ctx.wards()), value=area,
                     clearable=False, searchable=True),
        html.Label("Crime family"),
        dcc.RadioItems(id=ids.FAMILY, options=fam_opts, value=DEFAULTS["family"],
                       className="hs-radio"),
        html.Label("Months"),
        dcc.RangeSlider(id=ids.MONTHS, min=0, max=len(ctx.months) - 1, step=1,
                        value=months, marks=month_marks(ctx.months),
                        allowCross=False, updatemode="mouseup"),
        html.Div(id=ids.MONTHS_LABEL, className="hs-small"),
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
            html.Label("Officer-hours", htmlFor=ids.HOURS),
            dcc.Input(id=ids.HOURS, type="number", min=0, step=10,
                      value=DEFAULTS["hours"], debounce=True),
            html.Label("Cameras", htmlFor=ids.CAMERAS),
            dcc.Input(id=ids.CAMERAS, type="number", min=0, step=1,
                      value=DEFAULTS["cameras"], debounce=True),
            html.Label("Coverage radius (m)", htmlFor=ids.RADIUS),
            dcc.Input(id=ids.RADIUS, type="number", min=25, step=25,
                      value=DEFAULTS["radius"], debounce=True),
            html.Div(id=ids.TASKING_NOTE, className="hs-small"),
        ]
    items += [
        html.H4("Export this view"),
        html.Div(className="hs-exports", children=[
            html.Button("CSV", id=ids.DL_CSV, n_clicks=0),
            html.Button("GeoJSON", id=ids.DL_GEOJSON, n_clicks=0),
            html.Button("PDF", id=ids.DL_PDF, n_clicks=0),
        ]),
        dcc.Download(id=ids.DOWNLOAD),
    ]
    return html.Div(items, className="hs-controls")


def _legend() -> html.Div:
    return html.Div(className="hs-legend", children=[
        html.B("Gi* confidence"),
        *[html.Div([html.Span(className="hs-swatch", style={"background": c}),
                    label]) for c, label in legend_items()],
    ])


def _map(role: str, tiles: str | None) -> html.Div:
    overlays = [
        dl.Overlay(dl.GeoJSON(id=ids.WARDS, data=None,
                              style={"variable": "hotspots.wardStyle"},
                              hoverStyle={"variable": "hotspots.wardHover"}),
                   name="2022 wards", checked=True),
        dl.Overlay(dl.GeoJSON(id=ids.HEXES, data=None,
                              style={"variable": "hotspots.hexStyle"}),
                   name="Hot spots (Gi*)", checked=True),
    ]
    if role == "analyst":
        overlays += [
            dl.Overlay(dl.GeoJSON(id=ids.ZONES, data=None,
                                  style={"variable": "hotspots.zoneStyle"}),
                       name="Surge zones", checked=True),
            dl.Overlay(dl.GeoJSON(id=ids.SITES, data=None,
                                  pointToLayer={"variable": "hotspots.siteToLayer"}),
                       name="NOMAD sites", checked=True),
            dl.Overlay(dl.GeoJSON(id=ids.POINTS, data=None,
                                  pointToLayer={"variable": "hotspots.pointToLayer"}),
                       name="Offence points", checked=False),
        ]
    children = []
    if tiles:
        children.append(dl.TileLayer(id=ids.TILES, url=tiles,
                                     attribution=OSM_ATTRIBUTION
                                     if "openstreetmap" in tiles else "Base map"))
    children += [
        dl.LayersControl(overlays, collapsed=False, position="topright"),
        dl.GeoJSON(id=ids.HIGHLIGHT, data=None,
                   style={"variable": "hotspots.highlightStyle"}),
        dl.ScaleControl(position="bottomright", imperial=False),
    ]
    return html.Div(className="hs-map-wrap", children=[
        dl.Map(id=ids.MAP, center=LONDON_CENTRE, zoom=10, children=children,
               preferCanvas=False, className="hs-map"),
        _legend(),
    ])


def _table(role: str) -> html.Div:
    kinds = [{"label": " Hot spots", "value": "hotspots"}]
    if role == "analyst":
        kinds += [{"label": " Surge zones", "value": "zones"},
                  {"label": " NOMAD sites", "value": "sites"}]
    return html.Div(className="hs-table", children=[
        dcc.RadioItems(id=ids.TABLE_KIND, options=kinds, value="hotspots",
                       inline=True),
        dag.AgGrid(id=ids.TABLE, rowData=[], columnDefs=[],
                   dashGridOptions={"animateRows": False, "rowSelection": {
                       "mode": "singleRow", "enableClickSelection": True,
                       "checkboxes": False}},
                   getRowId="params.data.id", style={"height": "260px"},
                   className="ag-theme-alpine"),
    ])


def page(ctx: AppContext, user: str, role: str, tiles: str | None,
         area: str | None = None) -> html.Div:
    """The whole page for ``user`` with ``role``."""
    months = default_months(ctx, DEFAULTS["family"])
    # ROWS_TASKING stays empty for partners (their tasking callback never runs and
    # answers nothing for them), but the table callback reads it in both views
    stores = [dcc.Store(id=ids.ROWS_HOT, data=[]), dcc.Store(id=ids.WARD, data=None),
              dcc.Store(id=ids.ROWS_TASKING, data={"zones": [], "sites": []})]
    return html.Div(className=f"hs-page hs-{role}", children=[
        _header(user, role),
        html.Div(id=ids.BANNER, className="hs-banner", style={"display": "none"}),
        html.Div(className="hs-body", children=[
            _controls(ctx, role, area or DEFAULTS["area"], months),
            html.Main(className="hs-main", children=[
                html.Div(id=ids.STATUS, className="hs-status"),
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
