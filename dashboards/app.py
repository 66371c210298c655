"""The Dash app: analysts explore, tasking meetings decide, partners see a safe view.

``create_app()`` builds a fresh app (nothing is read at import time); the
callbacks it registers are thin wrappers over :mod:`dashboards.callbacks`, with
the viewer's role taken from the server-side session, never from the browser.

Run it with ``hotspots serve`` (127.0.0.1:8050 unless told otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path

import dash
from dash import Input, Output, State, dcc, html, no_update

from hotspots.access import Users, load_users
from hotspots.report.share import DisclosureRule
from hotspots.store import Store

from . import callbacks as cb
from . import ids
from .auth import current_user, install_auth
from .layout import login_required_page, page

__all__ = ["DEFAULT_TILES", "create_app", "resolve_tiles", "run"]

#: The public OpenStreetMap tiles; set ``HOTSPOTS_TILES`` (or ``tiles=``) for an
#: internal tile server, or ``none`` for vector layers alone.
DEFAULT_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
ASSETS = Path(__file__).resolve().parent / "assets"


def resolve_tiles(tiles: str | None) -> str | None:
    """The tile URL template to use, or None for no base map.

    ``None`` means ``$HOTSPOTS_TILES`` else :data:`DEFAULT_TILES`; ``""`` or
    ``"none"`` means no base map.
    """
    if tiles is None:
        tiles = os.environ.get("HOTSPOTS_TILES", DEFAULT_TILES)
    tiles = tiles.strip()
    if not tiles or tiles.lower() == "none":
        return None
    return tiles


def _role() -> str:
    return current_user()[1] or "partner"


def create_app(store: Store | str | Path | None = None,
               users: Users | str | Path | None = None,
               tiles: str | None = None, *, rule: DisclosureRule | None = None,
               secret_key: str | None = None, permutations: int | None = None,
               max_points: int = 4000, precompute: tuple[str, ...] = ()
               ) -> dash.Dash:
    """Build the app.

    Parameters
    ----------
    store : Store or path, optional
        The store (default :func:`hotspots.config.store_root`).
    users : Users or path, optional
        Accounts, or a user file (default :func:`hotspots.access.load_users`:
        ``$HOTSPOTS_USERS_FILE``, ``$HOTSPOTS_USERS`` or the config folder).
        There is no default account.
    tiles : str, optional
        Base-map tile URL template; see :func:`resolve_tiles`.
    rule : DisclosureRule, optional
        Disclosure control of the partner view (default threshold 5).
    secret_key : str, optional
        Session signing key (default ``$HOTSPOTS_SECRET_KEY``, else random per
        process, so sessions end when the server restarts).
    precompute : tuple of str
        Areas whose default views (every family, the default months, H3 r9 — r8
        for London) are computed into the store cache before the app starts.
    """
    store = store if isinstance(store, Store) else Store.open(store)
    users = users if isinstance(users, Users) else load_users(users)
    tile_url = resolve_tiles(tiles)
    ctx = cb.AppContext.open(store, rule, permutations=permutations,
                             max_points=max_points)
    if precompute:
        cb.precompute(ctx, precompute)
    app = dash.Dash(__name__, assets_folder=str(ASSETS), title="hotspots",
                    suppress_callback_exceptions=True, update_title=None,
                    serve_locally=True)
    install_auth(app.server, users, secret_key)
    app.server.config["HOTSPOTS_CONTEXT"] = ctx

    def layout():
        name, role = current_user()
        if not name:
            return login_required_page()
        return page(ctx, name, role, tile_url)

    app.layout = layout
    _register(app, ctx)
    return app


VIEW_INPUTS = [Input(ids.AREA, "value"), Input(ids.FAMILY, "value"),
               Input(ids.MONTHS, "value"), Input(ids.RES, "value"),
               Input(ids.LEVEL, "value"), Input(ids.FDR, "value")]
VIEW_STATES = [State(i.component_id, i.component_property) for i in VIEW_INPUTS]


def _register(app: dash.Dash, ctx: cb.AppContext) -> None:
    @app.callback(
        Output(ids.HEXES, "data"), Output(ids.WARDS, "data"),
        Output(ids.ROWS_HOT, "data"), Output(ids.BANNER, "children"),
        Output(ids.BANNER, "style"), Output(ids.STATUS, "children"),
        Output(ids.MAP, "viewport"), Output(ids.MONTHS_LABEL, "children"),
        *VIEW_INPUTS)
    def update_view(area, family, months, res, level, fdr):
        p = cb.view_payload(ctx, _role(), area, family, months, res, level, fdr)
        trig = dash.callback_context.triggered_id
        viewport = ({"bounds": p["bounds"], "transition": "flyToBounds"}
                    if p["bounds"] and trig in (None, ids.AREA) else no_update)
        banner = p["banner"] or ""
        style = {"display": "block"} if p["banner"] else {"display": "none"}
        return (p["hexes"], p["wards"], p["rows"], banner, style, p["status"],
                viewport, p["title"])

    @app.callback(Output(ids.POINTS, "data"), *VIEW_INPUTS)
    def update_points(area, family, months, res, level, fdr):
        try:
            v = cb.parse_view(ctx, area, family, months, res, level, fdr)
        except cb.HotspotsError:
            return cb.EMPTY
        return cb.point_layer(ctx, _role(), v)[0]

    @app.callback(
        Output(ids.ZONES, "data"), Output(ids.SITES, "data"),
        Output(ids.ROWS_TASKING, "data"), Output(ids.TASKING_NOTE, "children"),
        *VIEW_INPUTS, Input(ids.HOURS, "value"), Input(ids.CAMERAS, "value"),
        Input(ids.RADIUS, "value"))
    def update_tasking(area, family, months, res, level, fdr, hours, cams, radius):
        t = cb.tasking_payload(ctx, _role(), area, family, months, res, level, fdr,
                               hours, cams, radius)
        return t["zones"], t["sites"], t["rows"], t["note"]

    @app.callback(
        Output(ids.TABLE, "rowData"), Output(ids.TABLE, "columnDefs"),
        Input(ids.TABLE_KIND, "value"), Input(ids.ROWS_HOT, "data"),
        State(ids.ROWS_TASKING, "data"))
    def update_table(kind, hot, tasking):
        role = _role()
        if kind == "hotspots":
            rows = hot or []
        else:
            rows = (tasking or {}).get(kind, []) if role == "analyst" else []
        return rows, cb.table_columns(kind if kind in ("hotspots", "zones", "sites")
                                      else "hotspots", role)

    @app.callback(
        Output(ids.HIGHLIGHT, "data"),
        Output(ids.MAP, "viewport", allow_duplicate=True),
        Input(ids.TABLE, "selectedRows"), prevent_initial_call=True)
    def pick_row(rows):
        data, bounds = cb.highlight(rows)
        vp = {"bounds": bounds, "transition": "flyToBounds"} if bounds else no_update
        return data, vp

    @app.callback(
        Output(ids.WARD, "data"),
        Input(ids.MAP, "clickData"), Input(ids.AREA, "value"))
    def pick_ward(click, area):
        trig = dash.callback_context.triggered_id
        if trig == ids.MAP and click:
            return cb.ward_at(ctx, click) or no_update
        if area and str(area).startswith("E05"):
            return area
        return None

    @app.callback(
        Output(ids.WARD_PANEL, "children"),
        Input(ids.WARD, "data"), Input(ids.FAMILY, "value"),
        Input(ids.MONTHS, "value"))
    def update_panel(ward, family, months):
        try:
            data = cb.ward_panel(ctx, _role(), ward, family, months)
        except cb.HotspotsError as exc:
            return html.P(str(exc))
        return ward_panel_children(data)

    @app.callback(
        Output(ids.DOWNLOAD, "data"),
        Input(ids.DL_CSV, "n_clicks"), Input(ids.DL_GEOJSON, "n_clicks"),
        Input(ids.DL_PDF, "n_clicks"), *VIEW_STATES, prevent_initial_call=True)
    def export(_csv, _gj, _pdf, area, family, months, res, level, fdr):
        trig = dash.callback_context.triggered_id
        args = (ctx, _role(), area, family, months, res, level, fdr)
        try:
            if trig == ids.DL_CSV:
                text, name = cb.export_csv(*args)
                return {"content": text, "filename": name}
            if trig == ids.DL_GEOJSON:
                text, name = cb.export_geojson(*args)
                return {"content": text, "filename": name}
            if trig == ids.DL_PDF:
                data, name = cb.export_pdf(*args)
                return dcc.send_bytes(data, name)
        except cb.HotspotsError:
            return no_update
        return no_update


def ward_panel_children(data: dict | None):
    """Dash components of the ward panel (text only: React escapes it)."""
    if not data:
        return html.P("Click a ward on the map (or pick a ward as the area) to see "
                      "its panel.")
    fam_rows = [html.Tr([html.Td(r["family"]), html.Td(r["last12"]),
                         html.Td(r["previous12"]), html.Td(r["change"])])
                for r in data["families"]]
    streets = [html.Li([html.Span(s["street"], className="hs-street"), " ",
                        html.Span(s["count"], className="hs-small")])
               for s in data["streets"]]
    out = [html.H3(data["name"], id="ward-name"),
           html.Div(data["borough"], className="hs-small")]
    if data.get("banner"):
        out.append(html.Div(data["banner"], className="hs-banner-small"))
    out += [
        html.H4("Offences, last 12 months vs the 12 before"),
        html.Div(data["period"], className="hs-small"),
        html.Table([html.Thead(html.Tr([html.Th("Family"), html.Th("Last 12"),
                                        html.Th("Previous 12"), html.Th("Change")])),
                    html.Tbody(fam_rows)], className="hs-panel-table"),
        html.H4("Top streets (last 12 months)"),
        html.Ol(streets or [html.Li("none above the disclosure threshold")],
                id="ward-streets"),
        html.H4("Emerging hot spot category"),
        html.P(data["emerging"]),
    ]
    return out


def run(host: str = "127.0.0.1", port: int = 8050, threads: int = 8,
        **kw) -> None:  # pragma: no cover - a blocking server
    """Serve the app with waitress (loopback unless ``host`` says otherwise)."""
    from waitress import serve

    app = create_app(**kw)
    serve(app.server, host=host, port=port, threads=threads, ident="hotspots")
