"""The Dash app: analysts explore, tasking meetings decide, partners see a safe view.

``create_app()`` builds a fresh app (nothing is read at import time); the
callbacks it registers are thin wrappers over :mod:`dashboards.callbacks`, with
the viewer's role taken from the server-side session, never from the browser.

What reaches the browser is kept small: hexagons and ward outlines as packed
integer coordinates (~1 m; the browser rebuilds the GeoJSON, see
``callbacks.unpack_layer``), ward outlines only when the area, family or months
change, labels only when the area changes, and the offence points only while
their layer is switched on (a clientside callback asks for them; with the layer
off no request is made). The map comes first: the ranked table, the names, the
plan and the other correction's view (computed ahead so an FDR toggle is warm)
are asked for once the hexagons are painted, and the area box searches streets
and places only when typing pauses.

At start the server builds what every view shares (``callbacks.warm_start``: the
offences in memory, count tables, outlines), so a first view waits only for its
own analysis.

Base map (``HOTSPOTS_TILES`` or ``tiles=``; see :func:`resolve_tiles`): ``none``
(the default: nothing is fetched from anywhere, the map draws ward and street
names itself), ``osm``, ``os:KEY`` (OS Maps API) or an internal tile server's
``{z}/{x}/{y}`` URL template. The attribution appears once a tile has loaded.

Run it with ``hotspots serve`` (127.0.0.1:8050 unless told otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from flask import current_app, jsonify, request

from hotspots.access import Users, load_users
from hotspots.errors import ParameterError
from hotspots.limits import Limits
from hotspots.report.share import DisclosureRule
from hotspots.store import Store

from . import callbacks as cb
from . import ids
from .auth import current_user, install_auth
from .layout import login_required_page, page

__all__ = ["DEFAULT_TILES", "TILE_PRESETS", "create_app", "resolve_tiles", "run"]

#: No base map by default: nothing leaves the machine, and the map draws ward and
#: street names from the data itself. ``osm``, ``os:KEY`` or a URL turn tiles on.
DEFAULT_TILES = "none"
#: Named base maps: URL template and attribution (HTML, from the provider's terms).
TILE_PRESETS = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">'
            "OpenStreetMap</a> contributors"),
    "os": ("https://api.os.uk/maps/raster/v1/zxy/Light_3857/{z}/{x}/{y}.png"
           "?key={key}",
           "Contains OS data &copy; Crown copyright and database rights"),
}
ASSETS = Path(__file__).resolve().parent / "assets"


def resolve_tiles(tiles: str | None = None) -> dict | None:
    """The base map to draw, ``{"url", "attribution"}``, or None for none.

    ``tiles`` (else ``$HOTSPOTS_TILES``, else :data:`DEFAULT_TILES`) is one of
    ``none`` (or empty), ``osm``, ``os:KEY`` (or ``os`` with the key in
    ``$HOTSPOTS_OS_KEY``) or a ``{z}/{x}/{y}`` URL template (an internal tile
    server; its attribution from ``$HOTSPOTS_TILES_ATTRIBUTION``).

    Examples
    --------
    >>> resolve_tiles("none") is None
    True
    >>> resolve_tiles("os:abc")["url"].endswith("?key=abc")
    True
    """
    if tiles is None:
        tiles = os.environ.get("HOTSPOTS_TILES", DEFAULT_TILES)
    text = str(tiles).strip()
    low = text.lower()
    if not text or low == "none":
        return None
    if low in ("osm", "openstreetmap"):
        url, attr = TILE_PRESETS["osm"]
        return {"url": url, "attribution": attr}
    if low == "os" or low.startswith("os:"):
        key = text[3:] if ":" in text else os.environ.get("HOTSPOTS_OS_KEY", "")
        if not key:
            raise ParameterError("the OS Maps API needs a key: 'os:KEY' or "
                                 "$HOTSPOTS_OS_KEY")
        url, attr = TILE_PRESETS["os"]
        return {"url": url.replace("{key}", key), "attribution": attr}
    if not all(p in text for p in ("{z}", "{x}", "{y}")):
        raise ParameterError(f"'tiles' needs to be none, osm, os:KEY or a "
                             f"{{z}}/{{x}}/{{y}} URL template. {text!r} was given "
                             "instead.")
    return {"url": text,
            "attribution": os.environ.get("HOTSPOTS_TILES_ATTRIBUTION", "Base map")}


def _role() -> str:
    return current_user()[1] or "partner"


def create_app(store: Store | str | Path | None = None,
               users: Users | str | Path | None = None,
               tiles: str | None = None, *, rule: DisclosureRule | None = None,
               secret_key: str | None = None, permutations: int | None = None,
               max_points: int = 4000, precompute: tuple[str, ...] = (),
               disk_cache: bool = True, warm: bool = True) -> dash.Dash:
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
        Base map; see :func:`resolve_tiles`.
    rule : DisclosureRule, optional
        Disclosure control of the partner view (default threshold 5).
    secret_key : str, optional
        Session signing key (default ``$HOTSPOTS_SECRET_KEY``, else random per
        process, so sessions end when the server restarts).
    precompute : tuple of str
        Areas whose default views (every family, the default months, H3 r9) are
        computed into the store cache before the app starts.
    disk_cache : bool
        Keep analyses in the store's cache folder (off: memory only, as the
        benchmark does to measure cold views).
    warm : bool
        Build the shared tables before serving (:func:`callbacks.warm_start`:
        the offences held in memory, about 120 MB and a few seconds for two
        million offences), so no view waits for them. The view cache starts
        empty either way.
    """
    store = store if isinstance(store, Store) else Store.open(store)
    users = users if isinstance(users, Users) else load_users(users)
    tile_spec = resolve_tiles(tiles)
    ctx = cb.AppContext.open(store, rule, permutations=permutations,
                             max_points=max_points, disk_cache=disk_cache)
    warmed = cb.warm_start(ctx) if warm else {}
    if precompute:
        cb.precompute(ctx, precompute)
    app = dash.Dash(__name__, assets_folder=str(ASSETS), title="hotspots",
                    suppress_callback_exceptions=True, update_title=None,
                    serve_locally=True)
    install_auth(app.server, users, secret_key)
    app.server.config["HOTSPOTS_CONTEXT"] = ctx
    app.server.config["HOTSPOTS_WARM"] = warmed  # seconds per step, for logs

    def layout():
        name, role = current_user()
        if not name:
            return login_required_page()
        return page(ctx, name, role, tile_spec)

    app.layout = layout
    _register(app, ctx)
    app.server.before_request(_callback_request_check(app))
    app.server.register_error_handler(Exception, _callback_error)
    return app


def _callback_error(exc: Exception):
    """A callback that failed on the values a request sent (a crafted request:
    the app's own controls send none such) answers 400 with one line, and the
    traceback goes to the server's log; anything else goes on to Flask's own
    handling (logged, a 500), as without this handler."""
    from dash.exceptions import DependencyException
    from werkzeug.exceptions import HTTPException, NotFound

    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, DependencyException):  # a component file Dash has not got
        return NotFound()
    if not _is_callback_request():
        raise exc
    body = _json_body()
    current_app.logger.exception("callback %s failed on the values sent",
                                 str((body if isinstance(body, dict) else {})
                                     .get("output", "?"))[:200])
    return _bad("the callback could not use the values sent "
                f"({type(exc).__name__})")


_CALLBACK_PATH = "/_dash-update-component"


def _is_callback_request() -> bool:
    return request.path.endswith(_CALLBACK_PATH) and request.method == "POST"


def _json_body():
    """The request's JSON, or None when it is none (not JSON, or nested too deep
    for the parser: a RecursionError, which ``silent`` does not cover)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def _callback_request_check(app: dash.Dash):
    """A check, run after the log-in guard, that answers 400 to a callback
    request Dash would fail on with a 500: not JSON; without its ``output`` and
    ``inputs``; naming an output no server callback has (a clientside one's, or
    none); or with another number of inputs or states than the callback's."""

    def check():
        if not _is_callback_request():
            return None
        body = _json_body()
        if not (isinstance(body, dict) and isinstance(body.get("output"), str)
                and isinstance(body.get("inputs"), list)):
            return _bad("not a callback request: a JSON object with 'output' and "
                        "'inputs' is needed")
        spec = app.callback_map.get(body["output"])
        if spec is None or "callback" not in spec:  # a clientside one has none
            return _bad(f"no callback answers {body['output'][:200]!r}")
        state = body.get("state", [])
        if (not isinstance(state, list) or len(body["inputs"]) != len(spec["inputs"])
                or len(state) != len(spec["state"])
                or not all(_is_prop(p) for p in body["inputs"] + state)):
            return _bad(f"the inputs and states do not match the callback of "
                        f"{body['output'][:200]!r}")
        return None

    return check


def _is_prop(item) -> bool:
    return isinstance(item, dict) and "id" in item and "property" in item


def _bad(message: str):
    return jsonify({"error": message}), 400


VIEW_INPUTS = [Input(ids.AREA, "value"), Input(ids.FAMILY, "value"),
               Input(ids.MONTHS, "value"), Input(ids.RES, "value"),
               Input(ids.LEVEL, "value"), Input(ids.FDR, "value")]
VIEW_STATES = [State(i.component_id, i.component_property) for i in VIEW_INPUTS]
TASK_STATES = [State(ids.HOURS, "value"), State(ids.CAMERAS, "value"),
               State(ids.RADIUS, "value")]
#: Triggers that change the ward layer (its outlines and counts).
WARD_TRIGGERS = (None, ids.AREA, ids.FAMILY, ids.MONTHS)


def _register(app: dash.Dash, ctx: cb.AppContext) -> None:
    busy = [(Output(ids.BUSY, "className"), "hs-busy hs-on", "hs-busy")]

    # The server answers into a store with the control values it answered for;
    # a clientside callback applies the answer only if those are still the
    # controls' values, so a slow answer to an old request never overwrites a
    # newer one (no stale map, table or title).
    @app.callback(Output(ids.VIEW_DATA, "data"), *VIEW_INPUTS, running=busy)
    def update_view(area, family, months, res, level, fdr):
        p = cb.view_payload(ctx, _role(), area, family, months, res, level, fdr)
        trig = dash.callback_context.triggered_id
        viewport = ({"bounds": p["bounds"], "transition": "flyToBounds"}
                    if p["bounds"] and trig in (None, ids.AREA) else None)
        wards = p["wards"] if trig in WARD_TRIGGERS or not p["title"] else None
        return {"key": [area, family, months, res, level, fdr],
                "hexes": p["hexes"], "wards": wards, "rows": p["rows"],
                "banner": p["banner"] or "",
                "style": {"display": "block" if p["banner"] else "none"},
                "status": p["status"], "viewport": viewport, "title": p["title"]}

    app.clientside_callback(
        ClientsideFunction("hotspots", "applyView"),
        Output(ids.HEXES, "data"), Output(ids.WARDS, "data"),
        Output(ids.BANNER, "children"),
        Output(ids.BANNER, "style"), Output(ids.STATUS, "children"),
        Output(ids.MAP, "viewport"), Output(ids.MONTHS_LABEL, "children"),
        Input(ids.VIEW_DATA, "data"), *VIEW_STATES, prevent_initial_call=True)

    # Once the hexagons are painted, the rest follows: the ranked rows (whose
    # table asks the server for wards and streets), the names and the plan. On
    # two shared cores the map gets the machine to itself first.
    app.clientside_callback(
        ClientsideFunction("hotspots", "afterDraw"),
        Output(ids.DRAWN, "data"), Output(ids.ROWS_HOT, "data"),
        Input(ids.HEXES, "data"), State(ids.VIEW_DATA, "data"), *VIEW_STATES,
        prevent_initial_call=True)

    # names: after the map is drawn, once per area (the layer's hideout
    # remembers which area its labels are for)
    @app.callback(Output(ids.LABELS, "data"), Output(ids.LABELS, "hideout"),
                  Input(ids.DRAWN, "data"), State(ids.AREA, "value"),
                  State(ids.LABELS, "hideout"), prevent_initial_call=True)
    def update_labels(_drawn, area, shown):
        try:
            key = cb.parse_pick(area).area
        except cb.HotspotsError:
            return cb.EMPTY, None
        if key == shown:
            return no_update, no_update
        try:
            return cb.label_layer(ctx, area, _role()), key
        except cb.HotspotsError:
            return cb.EMPTY, None

    @app.callback(Output(ids.PERIOD, "children"), Input(ids.MONTHS, "value"))
    def update_period(months):
        return cb.period_text(ctx, months)

    # the area box searches streets and places once typing pauses (a keystroke
    # is not a request; a pick made meanwhile cancels the search)
    app.clientside_callback(
        ClientsideFunction("hotspots", "debounceSearch"),
        Output(ids.SEARCH, "data"), Input(ids.AREA, "search_value"),
        prevent_initial_call=True)

    @app.callback(Output(ids.AREA, "options"), Input(ids.SEARCH, "data"),
                  State(ids.AREA, "value"), prevent_initial_call=True)
    def search(text, current):
        if not text or len(text.strip()) < 2:
            return no_update
        return cb.search_options(ctx, text, current, role=_role())

    # offence points: asked for (clientside) only while their overlay is on
    app.clientside_callback(
        ClientsideFunction("hotspots", "pointsRequest"),
        Output(ids.POINTS, "data", allow_duplicate=True),
        Output(ids.POINTS, "hideout"),
        *VIEW_INPUTS, Input(ids.LAYERS, "overlays"),
        State(ids.POINTS, "hideout"), prevent_initial_call=True)

    @app.callback(Output(ids.POINTS, "data"), Input(ids.POINTS, "hideout"),
                  *VIEW_STATES[1:])
    def update_points(req, family, months, res, level, fdr):
        role = _role()
        if role != "analyst" or not isinstance(req, dict) or not req.get("on"):
            return cb.EMPTY
        try:
            v = cb.parse_view(ctx, req.get("area"), family, months, res, level, fdr)
        except cb.HotspotsError:
            return cb.EMPTY
        return cb.point_layer(ctx, role, v)[0]

    # the plan is asked for once the map is drawn (the map comes first on two
    # shared cores), and whenever the tasking inputs change
    @app.callback(
        Output(ids.TASK_DATA, "data"),
        Input(ids.DRAWN, "data"), Input(ids.HOURS, "value"),
        Input(ids.CAMERAS, "value"), Input(ids.RADIUS, "value"), *VIEW_STATES,
        running=[(Output(ids.PLANNING, "className"), "hs-planning hs-on",
                  "hs-planning")], prevent_initial_call=True)
    def update_tasking(_drawn, hours, cams, radius, area, family, months, res, level,
                       fdr):
        t = cb.tasking_payload(ctx, _role(), area, family, months, res, level, fdr,
                               hours, cams, radius)
        return {"key": [area, family, months, res, level, fdr, hours, cams, radius],
                "zones": t["zones"], "sites": t["sites"], "rows": t["rows"],
                "note": t["note"]}

    # then the same view with the other correction, so an FDR toggle is warm
    # (analysts: after the plan; partners, who have none: after the map)
    @app.callback(Output(ids.PREFETCH, "data"), Input(ids.DRAWN, "data"),
                  Input(ids.TASK_DATA, "data"), *VIEW_STATES,
                  prevent_initial_call=True)
    def prefetch(_drawn, _plan, area, family, months, res, level, fdr):
        role = _role()
        after = ids.TASK_DATA if role == "analyst" else ids.DRAWN
        if any(p.startswith(after + ".") for p in
               dash.callback_context.triggered_prop_ids):
            cb.prefetch(ctx, role, area, family, months, res, level, fdr)
        return no_update

    app.clientside_callback(
        ClientsideFunction("hotspots", "applyTasking"),
        Output(ids.ZONES, "data"), Output(ids.SITES, "data"),
        Output(ids.ROWS_TASKING, "data"), Output(ids.TASKING_NOTE, "children"),
        Input(ids.TASK_DATA, "data"), *VIEW_STATES, *TASK_STATES,
        prevent_initial_call=True)

    @app.callback(
        Output(ids.TABLE, "rowData"), Output(ids.TABLE, "columnDefs"),
        Input(ids.TABLE_KIND, "value"), Input(ids.ROWS_HOT, "data"),
        Input(ids.ROWS_TASKING, "data"), *VIEW_STATES)
    def update_table(kind, hot, tasking, *view):
        role = _role()  # (both row stores may change in one go: always rebuild)
        if kind == "hotspots":
            rows = cb.hot_rows(ctx, role, *view, hot or [])
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
        try:
            code = cb.parse_pick(area).area
        except cb.HotspotsError:
            return None
        return code if code.startswith("E05") else None

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
        Output(ids.STATUS, "children", allow_duplicate=True),
        Input(ids.DL_CSV, "n_clicks"), Input(ids.DL_GEOJSON, "n_clicks"),
        Input(ids.DL_PDF, "n_clicks"), *VIEW_STATES, prevent_initial_call=True)
    def export(_csv, _gj, _pdf, area, family, months, res, level, fdr):
        trig = dash.callback_context.triggered_id
        args = (ctx, _role(), area, family, months, res, level, fdr)
        try:
            if trig == ids.DL_CSV:
                text, name = cb.export_csv(*args)
                return {"content": text, "filename": name}, no_update
            if trig == ids.DL_GEOJSON:
                text, name = cb.export_geojson(*args)
                return {"content": text, "filename": name}, no_update
            if trig == ids.DL_PDF:
                data, name = cb.export_pdf(*args)
                return dcc.send_bytes(data, name), no_update
        except cb.HotspotsError as exc:  # said where the view's status is
            return no_update, f"Nothing exported: {exc}"
        return no_update, no_update

    plan_buttons = [Input(ids.DL_PLAN_CSV, "n_clicks"),
                    Input(ids.DL_PLAN_GEOJSON, "n_clicks")]
    if cb.brief_available():
        plan_buttons.append(Input(ids.DL_BRIEF, "n_clicks"))

    @app.callback(
        Output(ids.DOWNLOAD, "data", allow_duplicate=True),
        Output(ids.TASKING_NOTE, "children", allow_duplicate=True),
        *plan_buttons, *VIEW_STATES, *TASK_STATES, prevent_initial_call=True)
    def export_plan(*vals):
        trig = dash.callback_context.triggered_id
        view = vals[len(plan_buttons):len(plan_buttons) + 6]
        task = vals[len(plan_buttons) + 6:]
        args = (ctx, _role(), *view, *task)
        try:
            if trig == ids.DL_PLAN_CSV:
                text, name = cb.export_plan_csv(*args)
                return {"content": text, "filename": name}, no_update
            if trig == ids.DL_PLAN_GEOJSON:
                text, name = cb.export_plan_geojson(*args)
                return {"content": text, "filename": name}, no_update
            if trig == ids.DL_BRIEF:
                data, name = cb.export_brief(*args)
                return dcc.send_bytes(data, name), no_update
        except cb.HotspotsError as exc:
            return no_update, f"export: {exc}"
        return no_update, no_update


def ward_panel_children(data: dict | None):
    """Dash components of the ward panel (text only: React escapes it)."""
    if not data:
        return html.P("Click a ward on the map (or pick a ward as the area) to see "
                      "its panel.")
    fam_rows = [html.Tr([html.Td(r["family"] + (" (semi-synthetic)"
                                                if r.get("synthetic") else "")),
                         html.Td(r["last12"]),
                         html.Td(r["previous12"]), html.Td(r["change"]),
                         html.Td(r.get("per1000", "n/a"))])
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
                                        html.Th("Previous 12"), html.Th("Change"),
                                        html.Th("Per 1,000")])),
                    html.Tbody(fam_rows)], className="hs-panel-table"),
        html.Div(f"Residents: {data.get('residents', 'n/a')}. "
                 f"{data.get('rates_note', '')}", className="hs-small",
                 id="ward-rates-note"),
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
    serve(app.server, host=host, port=port, threads=threads, ident="hotspots",
          max_request_body_size=Limits.from_env().max_request_bytes)
