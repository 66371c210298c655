"""What the app's callbacks compute, as plain functions (tested by direct call).

Each function takes an :class:`AppContext` (the store, its cache, the disclosure
rule), the viewer's role and the control values, and returns plain data: GeoJSON
dicts, table rows, text. ``dashboards.app`` only wires them to components. All
numbers come from the package (:mod:`hotspots.analysis`, :mod:`hotspots.cache`,
:mod:`hotspots.report.share`, :mod:`hotspots.plan`); nothing here computes a
statistic.

Every string that reaches a Leaflet tooltip (which renders HTML) is escaped here;
text in Dash components and the grid is rendered as text by React, and map labels
are set with ``textContent`` in ``assets/hotspots.js``.

Partners never get an exact count below the disclosure threshold: not in a layer,
a table, a status line, an export's fields or metadata, nor a PDF line (totals are
rounded as cells are, :meth:`DisclosureRule.label`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from hotspots.areas import Area, load_wards, resolve_area
from hotspots.cache import ViewCache
from hotspots.config import BCUS, crime_types_for
from hotspots.errors import HotspotsError, NoOffences, ParameterError, check_choice
from hotspots.months import describe_months, month_range, shift_month
from hotspots.plan.streets import NO_NAME, street_name
from hotspots.population import rate_per_1000
from hotspots.provenance import REAL_DATA, safe_csv_frame
from hotspots.report.share import (
    BIN_COLOURS,
    BIN_LABELS,
    DisclosureRule,
    at_level,
    confidence_label,
    partner_cells,
    synthetic_label,
    write_view_pdf,
)
from hotspots.store import Store

__all__ = [
    "EMPTY",
    "FAMILIES",
    "LEVELS",
    "RESOLUTIONS",
    "ROLES",
    "AppContext",
    "Pick",
    "View",
    "area_options",
    "brief_available",
    "default_months",
    "encode_pick",
    "export_brief",
    "export_csv",
    "export_geojson",
    "export_pdf",
    "export_plan_csv",
    "export_plan_geojson",
    "hex_layer",
    "highlight",
    "hot_rows",
    "label_layer",
    "legend_items",
    "month_marks",
    "no_hot_reason",
    "parse_pick",
    "parse_view",
    "period_text",
    "point_layer",
    "precompute",
    "prefetch",
    "search_options",
    "table_columns",
    "tasking_payload",
    "unpack_layer",
    "view_payload",
    "warm_start",
    "ward_at",
    "ward_layer",
    "ward_panel",
]

ROLES = ("analyst", "partner")
#: Family control value -> (crime family, weight, label) for the analysis.
FAMILIES: dict[str, tuple[str, str, str]] = {
    "robbery": ("robbery", "count", "Robbery"),
    "vehicle": ("vehicle", "count", "Vehicle crime"),
    "asb": ("asb", "count", "Anti-social behaviour"),
    "all": ("all", "count", "All crime"),
    "harm": ("all", "harm", "All crime, harm-weighted"),
}
#: Confidence control value (per cent) -> smallest bin shown.
LEVELS = {90: 1, 95: 2, 99: 3}
RESOLUTIONS = (7, 8, 9, 10)
#: Finest resolution drawn in full for an area kind; finer draws only the cells
#: that matter (significant, or holding offences).
FULL_RES = {"london": 8, "bcu": 10, "borough": 10, "ward": 10}
#: Finest resolution computed at all for an area kind.
MAX_RES = {"london": 9, "bcu": 10, "borough": 10, "ward": 10}
#: Area kinds whose offence points are drawn (London-wide points are too many).
POINT_KINDS = ("borough", "ward")
PANEL_FAMILIES = ("robbery", "vehicle", "asb", "burglary", "all")
EMPTY = {"type": "FeatureCollection", "features": []}
#: Decimal places of coordinates sent to the browser (5: about 1 m).
PRECISION = 5
#: The prefix of an area-box value that is a street or place, not an area.
PICK = "@"
#: Street labels drawn per ward (the busiest streets first).
STREET_LABELS_PER_WARD = 12


def _esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


@dataclass(frozen=True)
class AppContext:
    """What every callback needs: the store, its cache and the disclosure rule."""

    store: Store
    cache: ViewCache = field(repr=False)
    rule: DisclosureRule = DisclosureRule()
    months: tuple[str, ...] = ()
    max_points: int = 4000
    permutations: int | None = None  # None: as many as the correction needs

    @classmethod
    def open(cls, store: Store | None = None, rule: DisclosureRule | None = None,
             disk_cache: bool = True, **kw) -> AppContext:
        store = store if isinstance(store, Store) else Store.open(store)
        return cls(store, ViewCache(store, disk=disk_cache),
                   rule or DisclosureRule(), tuple(store.months()), **kw)

    def area(self, value: str) -> Area:
        """The :class:`Area` of an area control value (cached)."""
        if not value:
            raise ParameterError("choose an area")
        value = parse_pick(value).area
        return self.cache.value("area", {"v": value}, lambda: resolve_area(value))

    def wards(self) -> gpd.GeoDataFrame:
        return self.cache.value("wards", {}, load_wards)


@dataclass(frozen=True)
class View:
    """The validated control values of one map view."""

    area: Area
    family: str
    crime: str
    weight: str
    start: str
    end: str
    res: int
    level: int
    correction: str
    significant_only: bool
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> dict:
        return {"area": [self.area.kind, self.area.code], "family": self.family,
                "start": self.start, "end": self.end, "res": self.res,
                "level": self.level, "correction": self.correction}

    @property
    def title(self) -> str:
        return (f"{self.area.name}: {FAMILIES[self.family][2]}, {self.start} to "
                f"{self.end} (H3 r{self.res}, {_pct(self.level)} confidence"
                f"{', FDR' if self.correction == 'fdr' else ''})")


def _pct(level: int) -> str:
    return {1: "90 %", 2: "95 %", 3: "99 %"}[level]


# -- the area box: areas, and streets or places picked by search -------------------
@dataclass(frozen=True)
class Pick:
    """An area-box value: the area to analyse and, for a street or place, where to
    move the map (``bounds`` as ``[[s, w], [n, e]]``)."""

    area: str
    kind: str = "area"
    label: str | None = None
    bounds: list[list[float]] | None = None


def encode_pick(kind: str, label: str, area: str, bounds) -> str:
    """The area-box value of a street or place found by search.

    Examples
    --------
    >>> b = [[51.4, -0.2], [51.41, -0.19]]
    >>> v = encode_pick("street", "Mitcham Lane", "Merton", b)
    >>> parse_pick(v).area, parse_pick(v).bounds[1][0]
    ('Merton', 51.41)
    """
    b = _norm_bounds(bounds)
    return PICK + json.dumps([kind, label, area, b], separators=(",", ":"))


def parse_pick(value) -> Pick:
    """The :class:`Pick` of an area-box value (a plain area is its own pick)."""
    text = "" if value is None else str(value)
    if not text.startswith(PICK):
        return Pick(text)
    try:
        kind, label, area, bounds = json.loads(text[len(PICK):])
        return Pick(str(area), str(kind), str(label), _norm_bounds(bounds))
    except (ValueError, TypeError):
        raise ParameterError(f"'area' needs to be an area or a search result. "
                             f"{text[:60]!r} was given instead.") from None


def _norm_bounds(b) -> list[list[float]] | None:
    """``[[s, w], [n, e]]`` from that form, ``(minx, miny, maxx, maxy)`` or a dict."""
    if b is None:
        return None
    if isinstance(b, dict):
        b = [b.get(k) for k in ("west", "south", "east", "north")] \
            if "west" in b else [b.get(k) for k in ("minx", "miny", "maxx", "maxy")]
    flat = [float(x) for x in np.asarray(b, dtype="float64").ravel()]
    if len(flat) != 4 or not all(math.isfinite(x) for x in flat):
        return None
    if isinstance(b, list | tuple) and len(b) == 2:  # [[s, w], [n, e]] (lat first)
        (s, w), (n, e) = (flat[0], flat[1]), (flat[2], flat[3])
    else:
        w, s, e, n = flat
    if abs(w) > 45 and abs(s) < 45:  # lat/lon swapped: London's lat is ~51.5
        s, w, n, e = w, s, e, n
    return [[round(min(s, n), 6), round(min(w, e), 6)],
            [round(max(s, n), 6), round(max(w, e), 6)]]


def area_options(wards: gpd.GeoDataFrame) -> list[dict]:
    """Options of the area control: London, the BCUs, boroughs, then wards.

    Values are what :func:`hotspots.areas.resolve_area` accepts unambiguously (BCU
    codes, borough names, ward codes); labels are for people. Streets and places
    are added while typing (:func:`search_options`).
    """
    opts = [{"label": "London", "value": "London"}]
    opts += [{"label": f"{name} BCU ({code})", "value": code}
             for code, (name, _) in BCUS.items()]
    met = wards[wards["bcu"].notna()]
    opts += [{"label": f"{b} (borough)", "value": b}
             for b in sorted(met["borough"].unique())]
    w = met.sort_values(["ward_name", "borough"])
    opts += [{"label": f"{n} (ward, {b})", "value": c} for n, b, c in
             zip(w["ward_name"], w["borough"], w["ward_code"], strict=True)]
    return opts


def _norm_text(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def search_options(ctx: AppContext, text: str, current=None,
                   limit: int = 12, role: str = "analyst") -> list[dict]:
    """Area-box options matching ``text``: areas, then streets and places.

    Streets and places come from :func:`hotspots.places.search` when that module
    is installed (wards, boroughs, police.uk streets and a gazetteer in the data
    root), else from the police.uk street names in the store. Their value is a
    :func:`encode_pick` (the area to analyse and where to move the map). The
    current value's option is always kept, so the box keeps showing it.

    A street's box is drawn around its police.uk map points; a partner's is its
    ward's (a street of one point would put the map on it), and a partner is not
    offered streets or places named by streets with fewer offences than the
    disclosure threshold (the map's street labels hold them back too).
    """
    check_choice("role", role, ROLES)
    q = _norm_text(text or "")
    out: list[dict] = []
    if len(q) >= 2:
        areas = area_options(ctx.wards())
        starts = [o for o in areas if _norm_text(o["label"]).startswith(q)]
        inside = [o for o in areas if q in _norm_text(o["label"]) and o not in starts]
        out = (starts + inside)[:limit]
        seen = {o["value"] for o in out}
        hits = ctx.cache.value("search", {"q": q, "limit": limit},
                               lambda: _place_hits(ctx, text, limit))
        for hit in hits:
            if hit["value"] not in seen:
                out.append(hit)
                seen.add(hit["value"])
    if role == "partner":  # nothing below the threshold, nothing framed closer
        # than a ward (a street or place of a few points would put the map on them)
        out = [_ward_framed(ctx, o) for o in out
               if o.get("_offences", ctx.rule.threshold) >= ctx.rule.threshold]
    out = [{k: x for k, x in o.items() if k != "_offences"} for o in out]
    if current and all(o["value"] != current for o in out):
        out.append(_option_of(ctx, current))
    return out


def _ward_framed(ctx: AppContext, option: dict) -> dict:
    """A street or place option framed by the ward its box's centre lies in."""
    p = parse_pick(option["value"])
    if p.kind == "area" or p.bounds is None:
        return option
    (s, w), (n, e) = p.bounds
    wards = ctx.wards()
    at = wards[wards.contains(shapely.Point((w + e) / 2, (s + n) / 2))]
    if not len(at):
        return option
    x0, y0, x1, y1 = at.geometry.iloc[0].bounds
    return {**option, "value": encode_pick(p.kind, p.label, p.area,
                                           [[y0, x0], [y1, x1]])}


def _option_of(ctx: AppContext, value: str) -> dict:
    p = parse_pick(value)
    if p.kind != "area":
        return {"label": f"{p.label} ({p.kind}, {p.area})", "value": value}
    for o in area_options(ctx.wards()):
        if o["value"] == value:
            return o
    return {"label": str(value), "value": value}


def _place_hits(ctx: AppContext, text: str, limit: int) -> list[dict]:
    try:
        from hotspots import places
    except ImportError:
        places = None
    hits = []
    if places is not None and hasattr(places, "search"):
        try:
            try:
                found = places.search(text, limit=limit, store=ctx.store)
            except TypeError:
                found = places.search(text, limit=limit)
        except HotspotsError:
            found = []
        plain = {o["value"]: o for o in area_options(ctx.wards())}
        for r in found:
            kind = str(r.get("kind", "place"))
            area = r.get("area")
            area = area.get("code") or area.get("name") if isinstance(area, dict) \
                else area
            if kind in ("london", "bcu", "borough", "ward") and area in plain:
                hits.append(plain[area])  # an area: the plain option
                continue
            bounds = _norm_bounds(r.get("bounds"))
            if not area or bounds is None:
                continue
            area = _context_area(ctx, str(area))
            label = str(r.get("label", text))
            hit = {"label": f"{label} ({kind})",
                   "value": encode_pick(kind, label, str(area), bounds)}
            if r.get("offences") is not None:  # how many rows name it (not sent)
                hit["_offences"] = int(r["offences"])
            hits.append(hit)
        return hits
    streets = _street_index(ctx)
    q = _norm_text(text)
    if len(q) < 3 or not len(streets):
        return []
    sel = streets[streets["key"].str.contains(q, regex=False)]
    sel = sel.assign(_starts=~sel["key"].str.startswith(q)).sort_values(
        ["_starts", "n"], ascending=[True, False], kind="stable").head(limit)
    for r in sel.itertuples(index=False):
        b = [[r.s, r.w], [r.n_, r.e]]
        hits.append({"label": f"{r.street} (street, {r.borough})",
                     "value": encode_pick("street", r.street, r.borough, b),
                     "_offences": int(r.n)})
    return hits


def _context_area(ctx: AppContext, area: str) -> str:
    """The borough a street or place's ward lies in: the view analyses the borough
    (hot spots against their borough's background) and the map frames the place."""
    try:
        a = ctx.area(area)
    except HotspotsError:
        return area
    return a.boroughs[0] if a.kind == "ward" and len(a.boroughs) == 1 else area


def _street_index(ctx: AppContext) -> pd.DataFrame:
    """One row per (police.uk street name, borough): its points' extent and size."""
    def build():
        df = ctx.cache.reader().offences(columns=["location", "lon", "lat",
                                                  "ward_code"])
        df = df[df["location"].notna() & df["ward_code"].notna()]
        pts = (df.groupby(["location", "lon", "lat", "ward_code"], observed=True)
               .size().rename("n").reset_index())
        borough = ctx.wards().set_index("ward_code")["borough"]
        pts["borough"] = pts["ward_code"].map(borough)
        pts["street"] = pts["location"].astype(str).str.replace(
            r"^On or near\s*", "", regex=True).str.strip()
        pts = pts[pts["street"].str.len() > 0]
        g = pts.groupby(["street", "borough"], observed=True).agg(
            w=("lon", "min"), e=("lon", "max"), s=("lat", "min"), n_=("lat", "max"),
            n=("n", "sum")).reset_index()
        pad = 0.0015
        g[["w", "s"]] -= pad
        g[["e", "n_"]] += pad
        g["key"] = [_norm_text(x) for x in g["street"]]
        return g

    return ctx.cache.value("street-index", {}, build)


def month_marks(months: tuple[str, ...]) -> dict:
    """RangeSlider marks: every January, labelled with its year."""
    return {i: m[:4] for i, m in enumerate(months) if m.endswith("-01")}


def month_span(ctx: AppContext, months) -> tuple[int, int]:
    """The slider's two month indices, in order (ParameterError unless both
    are months of the store: a negative index is not the last month)."""
    try:
        i, j = sorted(int(x) for x in months)
    except (TypeError, ValueError):
        i = j = -1
    if not 0 <= i <= j < len(ctx.months):
        raise ParameterError(f"'months' needs two month indices from 0 to "
                             f"{len(ctx.months) - 1}. {str(months)[:40]!r} was "
                             "given instead.")
    return i, j


def period_text(ctx: AppContext, months) -> str:
    """The months a slider position covers, in words (``2022-01 to 2022-12``)."""
    try:
        i, j = month_span(ctx, months)
    except ParameterError:
        return ""
    return f"{ctx.months[i]} to {ctx.months[j]} ({j - i + 1} months)"


def default_months(ctx: AppContext, family: str = "robbery", n: int = 12,
                   area: str = "London") -> list[int]:
    """Slider indices of the ``n`` calendar months ending at the last month the
    data covers for ``family`` (months no force covers inside stay gaps)."""
    from hotspots.counts import covered_months

    covered = [m for m in covered_months(ctx.store, FAMILIES[family][0], area)
               if m in ctx.months]
    if not covered:
        return [0, len(ctx.months) - 1]
    end = ctx.months.index(covered[-1])
    first = shift_month(covered[-1], -(n - 1))
    start = next(i for i, m in enumerate(ctx.months) if m >= first)
    return [start, end]


def parse_view(ctx: AppContext, area: str, family: str, months, res, level,
               fdr) -> View:
    """Validate the control values into a :class:`View` (raises ParameterError)."""
    check_choice("family", family, tuple(FAMILIES))
    a = ctx.area(area)
    i, j = month_span(ctx, months)
    start, end = ctx.months[i], ctx.months[j]
    check_choice("res", res, RESOLUTIONS)
    check_choice("level", level, tuple(LEVELS))
    res, pct = int(res), int(level)
    notes = []
    if res > MAX_RES[a.kind]:
        notes.append(f"H3 resolution {res} is too fine for {a.name}; showing "
                     f"resolution {MAX_RES[a.kind]}.")
        res = MAX_RES[a.kind]
    significant_only = res > FULL_RES[a.kind]
    if significant_only:
        notes.append(f"At resolution {res} only cells with offences or a "
                     f"significant result are drawn for {a.name}.")
    crime, weight, _ = FAMILIES[family]
    correction = "fdr" if _truthy(fdr) else "none"
    return View(a, family, crime, weight, start, end, res, LEVELS[pct], correction,
                significant_only, tuple(notes))


def _truthy(v) -> bool:
    if isinstance(v, list | tuple):
        return bool(v)
    return bool(v) and v not in ("off", "false", "0")


def precompute(ctx: AppContext, areas, levels=(95,),
               tasking: tuple[float, int, float] | None = (60.0, 4, 100.0)) -> int:
    """Warm the store cache with the default views of ``areas``; returns a count.

    Every family at the default months and H3 r9, FDR on and off; and the surge
    plan and camera sites for ``tasking`` (officer-hours, cameras, radius) at each
    level with FDR (kept in memory).
    """
    from hotspots.cache import warm

    i, j = default_months(ctx, "robbery")
    period = [(ctx.months[i], ctx.months[j])]
    n = 0
    for area in areas:
        a = ctx.area(area)
        res = 9
        n += warm(ctx.cache, [a], list(FAMILIES), period, resolutions=(res,),
                  corrections=("fdr", "none"), permutations=ctx.permutations)
        if tasking and a.kind != "london":
            for fam in FAMILIES:
                for pct in levels:
                    tasking_payload(ctx, "analyst", area, fam, [i, j], res, pct,
                                    ["fdr"], *tasking)
    return n


def warm_start(ctx: AppContext) -> dict:
    """Build, once at server start, what a first view would otherwise wait for.

    The store's offences in memory and the count tables
    (:meth:`hotspots.cache.ViewCache.prepare`), every London, BCU and borough
    area with its ward outlines and its H3 r9 hexagons ready to send, the
    street-name points, the modules an analysis and a plan import, and one small
    analysis outside the cache (so the first user's view runs warm code). No
    view is computed: the view cache stays empty. Returns seconds per step.
    """
    import time

    if not ctx.store.exists():  # nothing ingested yet: every view says so
        return {}
    out = ctx.cache.prepare()
    t = time.perf_counter()
    wards = ctx.wards()
    # the outlines every London, BCU and borough view draws: its wards, and the
    # hexagons of the default resolution (grids are also kept in the store)
    from hotspots.study import area_grid

    for value in ["London", *BCUS, *sorted(wards["borough"].dropna().unique())]:
        with contextlib.suppress(HotspotsError):
            a = ctx.area(value)
            _ward_shapes(ctx, a)
            _grid_rings(ctx, a, area_grid(a, 9, ctx.cache.reader()),
                        4 if a.kind == "london" else PRECISION)
    out["areas_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    import scipy.sparse  # noqa: F401  (Gi* weights)

    import hotspots.analysis  # noqa: F401
    import hotspots.plan.tasking  # noqa: F401
    import hotspots.stats.stability  # noqa: F401
    out["imports_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    try:
        from hotspots import streetnames

        streetnames.street_points(ctx.store)
    except (ImportError, AttributeError, HotspotsError):
        pass
    out["street_names_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    try:  # a small study and analysis, kept nowhere
        from hotspots.analysis import analyse_study
        from hotspots.study import Study

        ward = ctx.area(str(wards["ward_code"].iloc[0]))
        analyse_study(Study.load(ward, "robbery", res=9, store=ctx.cache.reader()),
                      permutations=99)
    except HotspotsError:
        pass
    out["first_analysis_s"] = round(time.perf_counter() - t, 2)
    return out


# -- data of a view ---------------------------------------------------------------
def _cells(ctx: AppContext, v: View) -> tuple[gpd.GeoDataFrame, dict]:
    return ctx.cache.analysis(v.area, v.crime, v.start, v.end, res=v.res,
                              correction=v.correction, weight=v.weight,
                              permutations=ctx.permutations)


def _result(ctx: AppContext, v: View):
    """The view's :class:`~hotspots.analysis.Analysis` (its study inside)."""
    return ctx.cache.result(v.area, v.crime, v.start, v.end, res=v.res,
                            correction=v.correction, weight=v.weight,
                            permutations=ctx.permutations)


def _study(ctx: AppContext, v: View):
    """The view's :class:`~hotspots.study.Study` (the one its analysis uses)."""
    return ctx.cache.study(v.area, v.crime, v.start, v.end, res=v.res,
                           weight=v.weight)


def _ward_counts(ctx: AppContext, v: View) -> tuple[pd.Series | None, float]:
    """Offences per ward code in the view's area, and the synthetic share.

    From the view's study (the offences its hexagons count: covered months
    only); from the store's ward-by-month table, its covered months, when the
    study cannot load; None when the data covers none of the period (no data,
    not zero: the analysis says why).
    """
    from hotspots.counts import covered_months

    try:
        st = _study(ctx, v)
    except HotspotsError:
        have = set(covered_months(ctx.store, v.crime, v.area))
        months = [m for m in month_range(v.start, v.end) if m in have]
        if not months:
            return None, 0.0
        return _ward_month_counts(ctx, v.area, v.crime, months)
    off = st.offences
    counts = off.groupby("ward_code", observed=True).size()
    return (counts.reindex(list(v.area.ward_codes), fill_value=0),
            float(st.synthetic_share))


def _ward_month_counts(ctx: AppContext, v_area: Area, crime: str,
                       months: list[str]) -> tuple[pd.Series, float]:
    """Offences per ward code in the area over ``months``, and the synthetic
    share (store table)."""
    wm = ctx.cache.ward_month_counts()
    types = crime_types_for(crime)
    sel = wm[wm["ward_code"].isin(v_area.ward_codes) & wm["crime_type"].isin(types)
             & wm["month"].isin(months)]
    counts = sel.groupby("ward_code")["count"].sum()
    total = int(sel["count"].sum())
    synth = float(sel["synthetic"].sum() / total) if total else 0.0
    return counts.reindex(list(v_area.ward_codes), fill_value=0), synth


def _geo(frame: gpd.GeoDataFrame, props: list[str],
         precision: int = PRECISION) -> dict:
    """A compact GeoJSON dict of ``frame``: only ``props``, coordinates rounded.

    Coordinates are rounded to ``precision`` decimals (5: about a metre). Simple
    polygons (hexagons) take a vectorised path; anything else goes through
    :func:`shapely.to_geojson`.
    """
    geoms = np.asarray(frame.geometry.values, dtype=object)
    table = pd.DataFrame(frame[props]).reset_index(drop=True)
    records = [{k: _plain(v) for k, v in r.items()} for r in table.to_dict("records")]
    if not len(geoms):
        return {"type": "FeatureCollection", "features": []}
    types = shapely.get_type_id(geoms)
    if (types == 3).all() and not shapely.get_num_interior_rings(geoms).any():
        rings = shapely.get_exterior_ring(geoms)
        xy = np.round(shapely.get_coordinates(rings), precision).tolist()
        ends = np.cumsum(shapely.get_num_coordinates(rings)).tolist()
        starts = [0, *ends[:-1]]
        feats = [{"type": "Feature",
                  "geometry": {"type": "Polygon", "coordinates": [xy[a:b]]},
                  "properties": r} for a, b, r in zip(starts, ends, records,
                                                      strict=True)]
        return {"type": "FeatureCollection", "features": feats}
    geoms = shapely.set_precision(geoms, 10.0 ** -precision)
    feats = [{"type": "Feature", "geometry": json.loads(g), "properties": r}
             for g, r in zip(shapely.to_geojson(geoms), records, strict=True)
             if g is not None]
    return {"type": "FeatureCollection", "features": feats}


def _plain(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if not np.isfinite(v) else float(v)
    if v is pd.NA:
        return None
    return v


# -- polygons on the wire: packed integer coordinates ------------------------------
def _pack_geometry(geoms, precision: int = PRECISION) -> dict:
    """Polygons and multipolygons packed for the browser (no per-row shapely).

    Coordinates become integers (``round(x * 10**precision)``), closing points
    are dropped and every value is the difference from the one before it, so a
    hexagon costs ~12 short numbers instead of 14 decimals.
    ``assets/hotspots.js`` (``hotspots.unpack``) and :func:`unpack_layer` rebuild
    the GeoJSON. Keys: ``p`` (precision), ``len`` (features), ``nc`` (points per
    ring, or one number for all), ``nr`` (rings per polygon) and ``np``
    (polygons per feature), each left out when all are 1, ``xy`` (flat deltas).
    """
    geoms = np.asarray(geoms, dtype=object)
    parts, fidx = shapely.get_parts(geoms, return_index=True)
    rings, pidx = shapely.get_rings(parts, return_index=True)
    nc = shapely.get_num_coordinates(rings) - 1
    xy = shapely.get_coordinates(rings)
    closing = np.cumsum(nc + 1) - 1
    keep = np.ones(len(xy), dtype=bool)
    keep[closing] = False
    ints = np.round(xy[keep] * 10.0 ** precision).astype(np.int64)
    out = {"p": int(precision), "len": len(geoms)}
    out.update(_counts_field("nc", nc))
    out.update(_counts_field("nr", np.bincount(pidx, minlength=len(parts)), one=True))
    out.update(_counts_field("np", np.bincount(fidx, minlength=len(geoms)), one=True))
    out["xy"] = _deltas(ints)
    return out


def _counts_field(name: str, counts: np.ndarray, one: bool = False) -> dict:
    """``{name: counts}``; one number when all are equal (nothing when all 1 and
    ``one``)."""
    counts = np.asarray(counts, dtype=np.int64)
    if len(counts) and (counts == counts[0]).all():
        if one and counts[0] == 1:
            return {}
        return {name: int(counts[0])}
    return {name: counts.tolist()}


def _deltas(ints: np.ndarray) -> list[int]:
    """Flat ``x0, y0, dx1, dy1, …`` of an (n, 2) integer array."""
    if not len(ints):
        return []
    d = np.diff(ints, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return d.ravel().tolist()


def _grid_rings(ctx: AppContext, area: Area, grid, precision: int) -> tuple:
    """The grid's hexagons as integer rings (built once per area, resolution and
    precision from :meth:`Grid.wkb`): ``(points, counts, starts)``."""
    def build():
        polys = shapely.from_wkb(grid.wkb().to_numpy(zero_copy_only=False))
        rings = shapely.get_exterior_ring(polys)
        nc = shapely.get_num_coordinates(rings) - 1
        xy = shapely.get_coordinates(rings)
        keep = np.ones(len(xy), dtype=bool)
        keep[np.cumsum(nc + 1) - 1] = False
        ints = np.round(xy[keep] * 10.0 ** precision).astype(np.int64)
        return ints, nc.astype(np.int64), np.r_[0, np.cumsum(nc)[:-1]]

    key = {"area": [area.kind, area.code], "res": grid.res, "n": len(grid),
           "first": int(grid.ids[0]) if len(grid) else 0, "p": precision}
    return ctx.cache.value("grid-rings", key, build)


def _pack_cells(rings: tuple, idx: np.ndarray, precision: int) -> dict:
    """Grid cells ``idx`` (positions) packed as :func:`_pack_geometry` does."""
    ints, nc, starts = rings
    counts = nc[idx]
    first = np.repeat(starts[idx] - np.r_[0, np.cumsum(counts)[:-1]], counts)
    take = first + np.arange(int(counts.sum()))
    out = {"p": int(precision), "len": len(idx)}
    out.update(_counts_field("nc", counts))
    out["xy"] = _deltas(ints[take])
    return out


def unpack_layer(layer: dict) -> dict:
    """The GeoJSON FeatureCollection of a packed layer (as the browser builds it).

    A plain FeatureCollection is returned as it is.

    Examples
    --------
    >>> import shapely
    >>> sq = shapely.box(0, 0, 1, 1)
    >>> d = {**_pack_geometry([sq], 1), "props": {"id": ["a"]}}
    >>> f = unpack_layer(d)["features"][0]
    >>> f["properties"], f["geometry"]["coordinates"][0][0]
    ({'id': 'a'}, [1.0, 0.0])
    """
    if "xy" not in layer:
        return layer
    p, n, xy = layer["p"], layer["len"], layer["xy"]
    scale = 10 ** p

    def seq(name, k):
        v = layer.get(name, 1)
        return [v] * k if isinstance(v, int) else v

    np_ = seq("np", n)
    nr = seq("nr", sum(np_))
    nc = seq("nc", sum(nr))
    props = layer.get("props", {})
    x = y = j = ring = poly = 0
    feats = []
    for f in range(n):
        polys = []
        for _ in range(np_[f]):
            rings = []
            for _ in range(nr[poly]):
                pts = []
                for _ in range(nc[ring]):
                    x, y = x + xy[j], y + xy[j + 1]
                    j += 2
                    pts.append([round(x / scale, p), round(y / scale, p)])
                rings.append([*pts, pts[0]])
                ring += 1
            polys.append(rings)
            poly += 1
        geom = ({"type": "Polygon", "coordinates": polys[0]} if len(polys) == 1
                else {"type": "MultiPolygon", "coordinates": polys})
        feats.append({"type": "Feature", "geometry": geom, "properties": {
            k: vals[f] for k, vals in props.items() if vals[f] is not None}})
    return {"type": "FeatureCollection", "features": feats}


def _bounds(geom) -> list[list[float]]:
    minx, miny, maxx, maxy = geom.bounds
    return [[miny, minx], [maxy, maxx]]


def _cell_places(ctx: AppContext, v: View, cells: list[str]) -> pd.DataFrame:
    """The ward (name) and busiest police.uk street of each cell in ``cells``.

    The ward is the one holding the cell's centre (else its nearest, for cells
    over the area's edge); the street is the most frequent Location among the
    cell's offences in the view (named streets before unnamed points; blank for
    a cell with none). Both come from the view's study: no store read.
    """
    from hotspots.areas import locate_points
    from hotspots.plan.streets import apostrophe_s

    if not cells:
        return pd.DataFrame({"ward": [], "street": [], "street_n": []},
                            index=pd.Index([], name="h3"))
    study = _study(ctx, v)
    pos = study.grid.index_of(cells)
    ll = np.array([h3.cell_to_latlng(c) for c in cells]).reshape(-1, 2)
    where = locate_points(ll[:, 1], ll[:, 0], ctx.wards(), max_snap_m=2000.0)
    out = pd.DataFrame({"ward": where["ward_name"].fillna("").to_numpy()},
                       index=pd.Index(cells, name="h3"))
    off = study.offences
    mine = off[off["cell"].isin(pos[pos >= 0])]
    out["street"], out["street_n"] = "", 0
    if len(mine):
        names = (mine["location"].fillna("").astype(str)
                 .str.replace(r"^On or near\s*", "", regex=True).str.strip())
        top = (pd.DataFrame({"cell": mine["cell"].to_numpy(),
                             "street": names.to_numpy(),
                             "named": (names != "").to_numpy()})
               .groupby(["cell", "named", "street"]).size().rename("n")
               .reset_index().sort_values(["cell", "named", "n", "street"],
                                          ascending=[True, False, False, True])
               .drop_duplicates("cell").set_index("cell"))
        cell = pd.Series(pos)  # "King's Road", as the brief writes it
        out["street"] = cell.map(top["street"].map(apostrophe_s)).fillna("").to_numpy()
        out["street_n"] = cell.map(top["n"]).fillna(0).astype(int).to_numpy()
    return out


def hex_layer(ctx: AppContext, role: str, v: View) -> tuple[dict, list[dict], dict]:
    """The Gi* hexagons of a view (a packed layer), the ranked hot-spot rows and a
    summary.

    Analysts get counts, z and p; partners get the disclosure-controlled layer
    (:func:`hotspots.report.share.partner_cells`): bins and rounded counts only.
    The layer is packed for the wire (:func:`_pack_geometry`; the browser and
    :func:`unpack_layer` rebuild GeoJSON features with ``id``, ``bin`` and,
    where there is one, ``tooltip``). Cell outlines come from the grid's WKB,
    converted once per grid; no geometry is built per view.
    """
    check_choice("role", role, ROLES)

    def build():
        a = _result(ctx, v)
        meta = a.metadata
        table = a.table
        synth = float(meta.get("data", {}).get("synthetic_share", 0.0))
        precision = 4 if v.area.kind == "london" else PRECISION
        if role == "partner":
            geo, rows, summary = _partner_hexes(ctx, v, a, precision)
        else:
            geo, rows, summary = _analyst_hexes(ctx, v, a, precision)
        for i, r in enumerate(rows, 1):
            r["rank"] = i
        b = at_level(table["bin"].to_numpy(), v.level)
        summary.update({"cells": int(len(table)), "hot": int((b > 0).sum()),
                        "cold": int((b < 0).sum()), "synthetic_share": synth,
                        "missing_months": list(
                            (meta.get("period") or {}).get("missing_months") or []),
                        "drawn": geo["len"],
                        "reason": no_hot_reason(table, v) if not (b > 0).any()
                        else ""})
        return geo, rows, summary

    return ctx.cache.value("hexes", {**v.key, "role": role}, build)


_CONFIDENCE = {b: confidence_label(b) for b in range(-3, 4)}


def _analyst_hexes(ctx: AppContext, v: View, a, precision: int):
    t = a.table
    bins = at_level(t["bin"].to_numpy(), v.level)
    n = t["offences"].to_numpy()
    keep = ((bins != 0) | (n > 0)) if v.significant_only else np.ones(len(t), bool)
    idx = np.flatnonzero(keep)
    h3s = t["h3"].to_numpy()[idx]
    b = bins[idx]
    conf = [_CONFIDENCE[int(x)] for x in b]
    harm = v.weight == "harm"
    tips = [None if v.significant_only and bb == 0 else
            f"<b>{_esc(c)}</b><br>offences: {int(k):,}"
            + (f" (harm {w:,.1f})" if harm else "")
            + f"<br>z = {z:.2f}, p = {p:.3f}"
            for c, bb, k, w, z, p in zip(
                conf, b, n[idx], t["count"].to_numpy()[idx], t["z"].to_numpy()[idx],
                t["p_fdr"].to_numpy()[idx], strict=True)]
    geo = _pack_cells(_grid_rings(ctx, v.area, a.study.grid, precision), idx, precision)
    geo["props"] = {"id": h3s.tolist(), "bin": b.astype(int).tolist(),
                    "tooltip": tips}
    hot = np.flatnonzero(bins > 0)
    hot = hot[np.lexsort((-t["z"].to_numpy()[hot], -bins[hot]))]
    rows = [{"id": str(t["h3"].iat[i]), "rank": 0,
             "confidence": _CONFIDENCE[int(bins[i])],
             "offences": int(n[i]), "z": round(float(t["z"].iat[i]), 2),
             "p_fdr": round(float(t["p_fdr"].iat[i]), 4), "_kind": "hex"}
            for i in hot]
    return geo, rows, {"suppressed_cells": 0, "merged_cells": 0}


def _partner_hexes(ctx: AppContext, v: View, a, precision: int):
    layer = partner_cells(a.cells, ctx.rule, level=v.level)
    f = layer.frame
    if v.significant_only:
        f = f[(f["bin"] != 0) | f["count"].notna()]
    tips = [f"<b>{_esc(c)}</b><br>offences: {_esc(n)}" for c, n in
            zip(f["confidence"], f["count_label"], strict=True)]
    if v.significant_only:  # many cells: hover text only where it matters
        tips = [t if b != 0 else None for t, b in zip(tips, f["bin"], strict=True)]
    pos = a.study.grid.index_of(f["h3"].to_numpy())
    if (pos >= 0).all():  # cells of the grid: their outlines are ready
        geo = _pack_cells(_grid_rings(ctx, v.area, a.study.grid, precision), pos,
                          precision)
    else:  # merged parent cells: their own outlines
        geo = _pack_geometry(np.asarray(f.geometry.values), precision)
    geo["props"] = {"id": f["h3"].astype(str).tolist(),
                    "bin": f["bin"].astype(int).tolist(), "tooltip": tips}
    hot = f[f["bin"] > 0].sort_values(["bin", "count"], ascending=False,
                                      na_position="last")
    rows = [{"id": r.h3, "rank": 0, "confidence": r.confidence,
             "offences": r.count_label, "_kind": "hex",
             "_withheld": bool(pd.isna(r.count))}
            for r in hot.itertuples(index=False)]
    return geo, rows, {"suppressed_cells": layer.suppressed_cells,
                       "merged_cells": layer.merged_cells,
                       "offences": int(pd.to_numeric(a.cells["offences"],
                                                     errors="coerce").sum())}


def hot_rows(ctx: AppContext, role: str, area, family, months, res, level, fdr,
             rows: list[dict]) -> list[dict]:
    """The ranked hot-spot rows with each cell's ward and busiest street.

    Called by the table after the map has drawn (it reads the cells' offences),
    so the map never waits for it. ``rows`` (the browser's copy) only says that
    the map has drawn: the rows are the view's own, as :func:`hex_layer` made
    them for this role, so a request naming other cells learns nothing. Rows of
    cells not at the view's resolution (a partner's merged parent cells) get
    blanks, and a partner's cells whose count is withheld get no street (its
    presence would tell an empty cell from one with a few offences).
    """
    if not rows:
        return []
    try:
        v = parse_view(ctx, area, family, months, res, level, fdr)
        if too_few_for_partners(ctx, role, v):
            return []
        own = hex_layer(ctx, role, v)[1]
    except HotspotsError:
        return []
    ids_ = tuple(r["id"] for r in own if h3.is_valid_cell(r["id"])
                 and h3.get_resolution(r["id"]) == v.res)
    places = ctx.cache.value("cell-places", {**v.key, "cells": ids_},
                             lambda: _cell_places(ctx, v, list(ids_)))
    out = []
    for r in own:
        hit = r["id"] in places.index
        # a partner is named no street of fewer offences than the threshold
        named = hit and not r.get("_withheld", False) and (
            role != "partner" or places.at[r["id"], "street_n"] >= ctx.rule.threshold)
        out.append({**r, "ward": places.at[r["id"], "ward"] if hit else "",
                    "street": places.at[r["id"], "street"] if named else ""})
    return out


def no_hot_reason(cells: pd.DataFrame, v: View) -> str:
    """Why a view has no hot cell, and what would show some (no counts in it).

    Looks at the cells' bins at the weaker levels and, under FDR, at the
    uncorrected p-values, and says which change would find hot spots.

    Examples
    --------
    The wording for a 99 % FDR view whose best cell reaches 95 %:

    >>> import pandas as pd
    >>> from types import SimpleNamespace as Ns
    >>> c = pd.DataFrame({"bin": [0, 2, -1], "z": [0, 2.5, -1], "p_sim": [1, .01, .2]})
    >>> v = Ns(level=3, correction="fdr", area=Ns(name="Merton"))
    >>> no_hot_reason(c, v)
    '99 % with FDR: no cell reaches it in Merton; try 95 % or a longer period.'
    """
    bins = np.asarray(cells["bin"], dtype="int64") if len(cells) else np.zeros(0)
    fdr = v.correction == "fdr"
    head = f"{_pct(v.level)}{' with FDR' if fdr else ''}: no cell reaches it in " \
           f"{v.area.name}"
    tries = []
    for lv in range(v.level - 1, 0, -1):
        if (bins >= lv).any():
            tries.append(_pct(lv))
            break
    if not tries and fdr and {"z", "p_sim"} <= set(cells.columns):
        alpha = {1: 0.10, 2: 0.05, 3: 0.01}[v.level]
        raw = (np.asarray(cells["z"]) > 0) & (np.asarray(cells["p_sim"]) <= alpha)
        if raw.any():
            tries.append("without FDR")
    if not len(bins) or not tries:
        return f"{head}; try a longer period, a coarser resolution or a wider area."
    return f"{head}; try {tries[0]} or a longer period."


def _ward_shapes(ctx: AppContext, a: Area) -> tuple[dict, list[str], dict]:
    """The area's ward outlines packed for the wire (cached per area), their
    codes in order and ``{code: (name, borough)}``; simplified for London and
    the BCUs, where a ward is a few pixels across."""
    def build():
        wards = ctx.wards()
        w = wards[wards["ward_code"].isin(a.ward_codes)]
        geoms = np.asarray(w.geometry.values)
        tol = {"london": 5e-4, "bcu": 1e-4}.get(a.kind, 0.0)
        if tol:
            geoms = shapely.simplify(geoms, tol, preserve_topology=True)
        ok = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
        geo = _pack_geometry(geoms[ok], precision=4 if tol else PRECISION)
        codes = w["ward_code"].to_numpy()[ok].tolist()
        meta = dict(zip(w["ward_code"], zip(w["ward_name"], w["borough"],
                                            strict=True), strict=True))
        return geo, codes, meta

    return ctx.cache.value("ward-shapes", {"area": [a.kind, a.code]}, build)


def ward_layer(ctx: AppContext, role: str, v: View) -> tuple[dict, float]:
    """The area's 2022 wards with names and counts (partners: controlled), as a
    packed layer (:func:`unpack_layer`), and the synthetic share."""
    check_choice("role", role, ROLES)

    def build():
        shapes, codes, meta = _ward_shapes(ctx, v.area)
        counts, synth = _ward_counts(ctx, v)
        # offences, also for the harm-weighted view (its hexagons weigh them)
        fam = _esc(FAMILIES[v.family][2].replace(", harm-weighted", "")
                   + " offences")
        tips = []
        for code in codes:
            if counts is None:
                lab = "no data for this period"
            else:
                n = int(counts.get(code, 0))
                lab = ctx.rule.label(n) if role == "partner" else f"{n:,}"
            name, b = meta[code]
            tips.append(f"<b>{_esc(name)}</b> ({_esc(b)})<br>{fam}: {_esc(lab)}")
        return {**shapes, "props": {"id": list(codes), "tooltip": tips}}, synth

    key = {"area": [v.area.kind, v.area.code], "crime": v.crime, "start": v.start,
           "end": v.end, "role": role, "family": v.family, "res": v.res}
    return ctx.cache.value("wards-layer", key, build)


def label_layer(ctx: AppContext, area_value, role: str = "analyst") -> dict:
    """Map labels of an area: ward names, and street names where known.

    Ward names sit at a point inside each ward (``kind: ward``). Street names
    come from :mod:`hotspots.streetnames` (one label per police.uk street at its
    points' medoid) when that module is installed, at most
    :data:`STREET_LABELS_PER_WARD` per ward, busiest first (``kind: street``,
    ``rank`` within its ward); a partner's only for streets with at least the
    disclosure threshold of offences (a label on a street of one or two map
    points marks where those few offences were). Labels are text, set with
    ``textContent`` in the browser, so they are sent unescaped.
    """
    check_choice("role", role, ROLES)
    a = ctx.area(area_value)
    least = ctx.rule.threshold if role == "partner" else 0

    def build():
        wards = ctx.wards()
        w = wards[wards["ward_code"].isin(a.ward_codes)]
        pts = w.geometry.representative_point()
        feats = [{"type": "Feature",
                  "geometry": {"type": "Point", "coordinates": [
                      round(p.x, PRECISION), round(p.y, PRECISION)]},
                  "properties": {"label": str(n), "kind": "ward", "rank": 0}}
                 for p, n in zip(pts, w["ward_name"], strict=True)]
        if a.kind != "london":
            feats += _street_label_features(ctx, a, least)
        return {"type": "FeatureCollection", "features": feats}

    return ctx.cache.value("labels", {"area": [a.kind, a.code], "least": least},
                           build)


def _street_label_features(ctx: AppContext, a: Area, least: int = 0) -> list[dict]:
    try:
        from hotspots import streetnames
    except ImportError:
        return []
    fn = next((getattr(streetnames, n) for n in ("street_labels", "label_points",
                                                 "street_names", "labels")
               if callable(getattr(streetnames, n, None))), None)
    if fn is None:
        return []
    try:
        try:
            lab = fn(a, store=ctx.store)
        except TypeError:
            lab = fn(a)
    except HotspotsError:
        return []
    lab = pd.DataFrame(lab)
    if not len(lab):
        return []
    name = next((c for c in ("street", "name", "label", "location") if c in lab),
                None)
    if name is None:
        return []
    if "lon" not in lab and "geometry" in lab:
        g = gpd.GeoSeries(lab["geometry"])
        lab = lab.assign(lon=g.x.to_numpy(), lat=g.y.to_numpy())
    if "lon" not in lab:
        return []
    size = next((c for c in ("n", "count", "offences", "points") if c in lab), None)
    if least and size is None:  # no count to hold back the few by: none
        return []
    lab = lab.assign(_n=lab[size] if size else 0)
    lab = lab[lab["_n"] >= least]
    if "ward_code" in lab:
        lab = lab[lab["ward_code"].isin(a.ward_codes)]
        lab = lab.sort_values(["ward_code", "_n"], ascending=[True, False])
        lab["rank"] = lab.groupby("ward_code").cumcount() + 1
        lab = lab[lab["rank"] <= STREET_LABELS_PER_WARD]
    else:
        lab = lab.sort_values("_n", ascending=False).head(
            STREET_LABELS_PER_WARD * max(1, len(a.ward_codes)))
        lab["rank"] = np.arange(1, len(lab) + 1)
    text = lab[name].astype(str).str.replace(r"^On or near\s*", "", regex=True)
    return [{"type": "Feature",
             "geometry": {"type": "Point", "coordinates": [
                 round(float(x), PRECISION), round(float(y), PRECISION)]},
             "properties": {"label": t, "kind": "street", "rank": int(r)}}
            for x, y, t, r in zip(lab["lon"], lab["lat"], text, lab["rank"],
                                  strict=True) if t.strip()]


def point_layer(ctx: AppContext, role: str, v: View) -> tuple[dict, str]:
    """Offences at their police.uk snap points (analysts only), and a note.

    One feature per snap point with the number of offences there; partners get
    an empty layer whatever they ask. The app asks only while the layer is on.
    """
    check_choice("role", role, ROLES)
    if role != "analyst":
        return EMPTY, ""
    if v.area.kind not in POINT_KINDS:
        return EMPTY, "offence points are drawn for a borough or a ward"

    def build():
        try:  # the view's offences (its study: no store read)
            df = _study(ctx, v).offences[["lon", "lat", "location", "crime_type"]]
        except HotspotsError:
            return EMPTY, "no offences"
        if not len(df):
            return EMPTY, "no offences"
        by_type = (df.groupby(["lon", "lat", "crime_type"], sort=False, observed=True)
                   .size().rename("k").reset_index())
        by_type["label"] = by_type["crime_type"] + " " + by_type["k"].astype(str)
        types = by_type.groupby(["lon", "lat"], sort=False)["label"].agg(", ".join)
        g = (df.groupby(["lon", "lat"], sort=False)
             .agg(n=("crime_type", "size"), location=("location", "first"))
             .join(types.rename("types"))
             .reset_index().sort_values("n", ascending=False, kind="stable"))
        note = ""
        if len(g) > ctx.max_points:
            note = (f"showing the {ctx.max_points:,} busiest of {len(g):,} snap "
                    "points")
            g = g.head(ctx.max_points)
        feats = [{"type": "Feature",
                  "geometry": {"type": "Point",
                               "coordinates": [round(x, PRECISION),
                                               round(y, PRECISION)]},
                  "properties": {"n": int(n), "tooltip":
                                 f"<b>{_esc(loc)}</b><br>{int(n)} offence(s): "
                                 f"{_esc(t)}"}}
                 for x, y, n, loc, t in zip(g["lon"], g["lat"], g["n"],
                                            g["location"], g["types"], strict=True)]
        return {"type": "FeatureCollection", "features": feats}, note

    return ctx.cache.value("points", {k: v.key[k] for k in
                                      ("area", "family", "start", "end", "res")},
                           build)


def too_few_for_partners(ctx: AppContext, role: str, v: View) -> str | None:
    """For a partner, why nothing of a view with fewer offences than the
    disclosure threshold is shown (none and 1-4 alike, in the same words); None
    for an analyst or a view with enough offences.

    The map, the hot-spot table and the exports all ask this one rule, so no
    route answers a view of 1-4 offences differently from an empty one.
    """
    if role != "partner":
        return None
    try:
        offences = hex_layer(ctx, role, v)[2].get("offences", ctx.rule.threshold)
    except NoOffences:
        offences = 0
    except HotspotsError:  # no analysis (too few cells, a period without data):
        offences = _view_offences(ctx, v)  # its error says as much only with 5+
    if offences >= ctx.rule.threshold:
        return None
    return (f"Fewer than {ctx.rule.threshold} {FAMILIES[v.family][2].lower()} "
            f"offences in {v.area.name} in this period: no hot spots are shown "
            "(disclosure control).")


def _view_offences(ctx: AppContext, v: View) -> int:
    """The offences of a view's area, family and months, counted without its
    analysis (for a view whose analysis fails)."""
    wm = ctx.cache.ward_month_counts()
    sel = wm[wm["ward_code"].isin(set(v.area.ward_codes))
             & wm["crime_type"].isin(crime_types_for(v.crime))
             & (wm["month"] >= v.start) & (wm["month"] <= v.end)]
    return int(sel["count"].sum())


def _family_synthetic_share(ctx: AppContext, v: View) -> float:
    """The semi-synthetic share of a family's rows over the whole store: the
    banner of a withheld view, which its own share would give away (none among
    0 offences, some among 1-4)."""
    wm = ctx.cache.ward_month_counts()
    sel = wm[wm["crime_type"].isin(crime_types_for(v.crime))]
    n = int(sel["count"].sum())
    return float(sel["synthetic"].sum()) / n if n else 0.0


def view_payload(ctx: AppContext, role: str, area, family, months, res, level,
                 fdr) -> dict:
    """Everything the map shows for one set of controls (but tasking and points).

    Returns
    -------
    dict
        ``hexes``, ``wards`` (GeoJSON), ``rows`` (ranked hot cells), ``bounds``
        (``[[s, w], [n, e]]``: a searched street or place, else the area),
        ``banner`` (semi-synthetic label or None), ``status`` (one line, with the
        reason when no cell is hot), ``summary``, ``title``.
    """
    try:
        v = parse_view(ctx, area, family, months, res, level, fdr)
        pick = parse_pick(area)
    except HotspotsError as exc:
        return {"hexes": EMPTY, "wards": EMPTY, "rows": [], "bounds": None,
                "banner": None, "status": str(exc), "summary": {}, "title": ""}
    wards, synth_w = ward_layer(ctx, role, v)
    try:
        hexes, rows, summary = hex_layer(ctx, role, v)
        err = None
    except HotspotsError as exc:
        hexes, rows, summary, err = EMPTY, [], {}, str(exc)
    else:
        # the exact total goes no further (a copy: the summary is the cache's)
        summary = {k: x for k, x in summary.items() if k != "offences"}
    synth = max(synth_w, summary.get("synthetic_share", 0.0))
    withheld = too_few_for_partners(ctx, role, v)
    if withheld:  # none and 1-4 alike: the same words, no cells, the banner
        hexes, rows, err = EMPTY, [], withheld  # of the family, not the view
        synth = _family_synthetic_share(ctx, v)
    if err:
        status = err
    else:
        status = (f"{summary['cells']:,} cells; {summary['hot']:,} hot and "
                  f"{summary['cold']:,} cold at {_pct(v.level)} confidence")
        if role == "partner":
            status += (f"; counts withheld in {summary['suppressed_cells']:,} cells "
                       f"(fewer than {ctx.rule.threshold})")
        if summary.get("reason"):
            status += ". " + summary["reason"]
        if summary.get("missing_months"):  # a gap in the data, not zeros
            status = (status.rstrip(".") + ". No data for "
                      f"{describe_months(summary['missing_months'])}: those months "
                      "are left out, not read as zero.")
    status = " ".join([status if status.endswith(".") or not v.notes
                       else status + ".", *v.notes])
    title = v.title + (f" · {pick.label}" if pick.label else "")
    return {"hexes": hexes, "wards": wards, "rows": rows,
            "bounds": pick.bounds or _bounds(v.area.geometry),
            "banner": synthetic_label(synth, partner=role == "partner"),
            "status": status, "summary": summary,
            "title": title}


def prefetch(ctx: AppContext, role: str, area, family, months, res, level,
             fdr) -> None:
    """Compute the view with the other correction (FDR on / off) ahead of the
    click that asks for it: the app calls this once the map and the plan are
    done, so the toggle is a warm change (a cached view costs a look-up)."""
    try:
        v = parse_view(ctx, area, family, months, res, level, fdr)
        other = "none" if v.correction == "fdr" else "fdr"
        hex_layer(ctx, role, dataclasses.replace(v, correction=other))
    except HotspotsError:
        pass  # the view itself says what is wrong


# -- tasking ----------------------------------------------------------------------
def tasking_payload(ctx: AppContext, role: str, area, family, months, res, level,
                    fdr, officer_hours, cameras, radius) -> dict:
    """Surge zones and NOMAD camera sites for the view (analysts only).

    Calls :mod:`hotspots.plan` (``patrols``, ``cameras``).
    Returns ``zones``, ``sites`` (GeoJSON), ``rows`` ({"zones": [...],
    "sites": [...]}), ``note`` (errors, and how much of the budget the plan uses
    and why not all of it) and, for the exports and the brief, ``plan`` and
    ``cameras`` (the package's results, or None).
    """
    out = {"zones": EMPTY, "sites": EMPTY, "rows": {"zones": [], "sites": []},
           "note": "", "plan": None, "cameras": None, "budget": {}}
    if role != "analyst":
        return out
    try:
        v = parse_view(ctx, area, family, months, res, level, fdr)
        hours = float(officer_hours or 0)
        k = int(cameras or 0)
        r_m = float(radius or 0)
        if hours < 0 or k < 0 or r_m < 0:
            raise ParameterError("tasking inputs need to be ≥ 0")
    except (HotspotsError, TypeError, ValueError) as exc:
        return {**out, "note": str(exc)}
    params = {"area": [v.area.kind, v.area.code], "crime": v.crime,
              "weight": v.weight, "months": [v.start, v.end], "res": v.res,
              "level": v.level, "hours": hours,  # the plan ignores the correction
              "cameras": k, "radius": r_m, "permutations": ctx.permutations}
    return ctx.cache.value("tasking", params, lambda: _tasking(ctx, v, hours, k, r_m))


def _tasking(ctx: AppContext, v: View, hours: float, k: int, r_m: float) -> dict:
    out = {"zones": EMPTY, "sites": EMPTY, "rows": {"zones": [], "sites": []},
           "plan": None, "cameras": None, "budget": {}, "view": v}
    if v.area.kind == "london":
        return {**out, "note": "surge zones and camera sites are planned for a "
                               "BCU, borough or ward"}
    from hotspots.plan.tasking import recommend

    try:  # the same answer as `hotspots recommend`: all history up to the view
        study = ctx.cache.study(v.area, v.crime, None, v.end, res=v.res,
                                weight=v.weight)
        task = recommend(study=study, officer_hours=hours, cameras=k, radius_m=r_m,
                         rotations=1, level=v.level)
    except HotspotsError as exc:
        return {**out, "note": f"tasking: {exc}"}
    out["plan"], out["cameras"] = task.plan, task.cameras
    out["zones"], out["rows"]["zones"] = _zones(task.plan)
    out["budget"] = _budget(task.plan, hours, v)
    if task.cameras is not None:
        out["sites"], out["rows"]["sites"] = _sites(task.cameras, r_m)
    out["note"] = out["budget"]["text"]
    return out


def _col(frame: pd.DataFrame, *names, default=None):
    """The first of ``names`` that ``frame`` has, as a list (else ``default``s)."""
    for n in names:
        if n in frame.columns:
            return list(frame[n])
    return [default] * len(frame)


def _words(x) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    if isinstance(x, list | tuple | np.ndarray):
        return ", ".join(str(i) for i in x)
    return str(x)


def _zones(plan):
    """The plan's zones as a map layer and table rows."""
    frame = plan.zones.copy()
    n = len(frame)
    ids = [str(x) for x in _col(frame, "zone", "id", default="")]
    ranks = [int(r) if r is not None else i for i, r in
             enumerate(_col(frame, "rank"), 1)]
    why = [_words(x) for x in _col(frame, "rationale", "why", default="")]
    offs = _col(frame, "offences", "value", default=0)
    hrs = _col(frame, "hours_per_week", "hours", default=0.0)
    wards = [_words(x) for x in _col(frame, "wards", default="")]
    frame["id"] = ids or [""] * n
    frame["tooltip"] = [f"<b>Surge zone {r}</b><br>{_esc(w)}"
                        for r, w in zip(ranks, why, strict=True)]
    rows = [{"id": i, "rank": r, "_kind": "zone",
             "offences": int(o) if o is not None and np.isfinite(o) else None,
             "hours": round(float(h), 1), "wards": w, "why": y,
             "_geom": shapely.geometry.mapping(g)}
            for i, r, o, h, w, y, g in zip(ids, ranks, offs, hrs, wards, why,
                                           frame.geometry, strict=True)]
    return _geo(frame, ["id", "tooltip"]), rows


def _budget(plan, hours: float, v: View) -> dict:
    """How much of the weekly budget the plan uses, and why not all of it."""
    meta = getattr(plan, "metadata", None) or {}
    zones = getattr(plan, "zones", None)
    used = meta.get("hours_per_week", getattr(plan, "hours", None))
    if used is None and zones is not None and "hours_per_week" in zones:
        used = float(zones["hours_per_week"].sum())
    used = float(used or 0.0)
    notes = [re.sub(r"^\d+(\.\d+)? of \d+(\.\d+)? h used:\s*", "", str(x))
             for x in (meta.get("notes") or [])]
    left = hours - used
    why = ""
    if left > max(0.05 * hours, 0.5):
        cand = getattr(plan, "candidates", None)
        rest = None
        if cand is not None and len(cand) and "selected" in cand:
            rest = cand[~cand["selected"].astype(bool)]
        if notes:
            why = "; ".join(notes)
        elif rest is not None and len(rest) and "hours_per_week" in rest:
            cheapest = float(rest["hours_per_week"].min())
            why = (f"every other hot zone costs more than the {left:.1f} h left "
                   f"(the cheapest {cheapest:.1f} h)")
        else:
            why = (f"no other zone at {_pct(v.level)} confidence qualifies: more "
                   "hours find nothing more to patrol (try a lower confidence or "
                   "a longer period)")
    elif notes:
        why = "; ".join(notes)
    text = f"plan uses {used:.1f} of {hours:g} officer-hours a week"
    if why:
        text += f": {why}"
    return {"budget": hours, "used": round(used, 2), "unused": round(max(left, 0), 2),
            "why": why, "text": text}


def _sites(res, r_m):
    """The camera sites as a map layer (with their coverage radius) and rows."""
    frame = res.sites.copy()
    ids = [str(x) for x in _col(frame, "site", "id", default="")]
    why = [_words(x) for x in _col(frame, "rationale", "why", default="")]
    frame["id"] = ids
    frame["radius"] = r_m
    frame["tooltip"] = [f"<b>NOMAD site {_esc(i)}</b><br>{_esc(w)}"
                        for i, w in zip(ids, why, strict=True)]
    rows = [{"id": i, "rank": int(r), "_kind": "site", "location": _words(loc),
             "offences": int(o) if o is not None and np.isfinite(o) else None,
             "deploy": f"{a} to {b}", "why": w,
             "_geom": shapely.geometry.mapping(g)}
            for i, r, loc, o, a, b, w, g in zip(
                ids, _col(frame, "rank", default=0), _col(frame, "location"),
                _col(frame, "covered_offences", "offences", default=None),
                _col(frame, "deploy_from", default=""),
                _col(frame, "deploy_to", default=""), why, frame.geometry,
                strict=True)]
    return _geo(frame, ["id", "radius", "tooltip"]), rows


# -- table and highlight --------------------------------------------------------------
def table_columns(kind: str, role: str) -> list[dict]:
    """Column definitions of the ranked table for hotspots, zones or sites."""
    check_choice("kind", kind, ("hotspots", "zones", "sites"))
    if kind == "hotspots":
        cols = [("rank", "#", 56), ("confidence", "Confidence", 190),
                ("offences", "Offences", 100)]
        if role == "analyst":
            cols += [("z", "z", 70), ("p_fdr", "p", 80)]
        cols += [("ward", "Ward", 170), ("street", "Top street", 210),
                 ("id", "H3 cell", 150)]
    elif kind == "zones":
        cols = [("rank", "#", 56), ("id", "Zone", 70), ("offences", "Offences", 90),
                ("hours", "Hours/week", 100), ("wards", "Wards", 200),
                ("why", "Why", 600)]
    else:
        cols = [("rank", "#", 56), ("id", "Site", 70), ("location", "Location", 220),
                ("offences", "Offences seen", 110), ("deploy", "Deployment", 190),
                ("why", "Why", 500)]
    return [{"field": f, "headerName": h, "width": w, "sortable": True,
             **({"tooltipField": f} if f == "why" else {})}
            for f, h, w in cols]


def highlight(rows) -> tuple[dict, list[list[float]] | None]:
    """The picked table row as a GeoJSON layer and the bounds to zoom to."""
    if not rows:
        return EMPTY, None
    row = rows[0] if isinstance(rows, list) else rows
    rid = str(row.get("id", ""))
    if row.get("_kind") == "hex" and h3.is_valid_cell(rid):
        ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(rid)]
        geom = shapely.Polygon(ring)
    elif isinstance(row.get("_geom"), dict):
        try:
            geom = shapely.geometry.shape(row["_geom"])
        except (ValueError, TypeError, AttributeError, KeyError):
            return EMPTY, None
    else:
        return EMPTY, None
    if geom.geom_type == "Point":  # a camera site: ring it (a point draws no outline)
        geom = geom.buffer(0.0015, quad_segs=8)
    feat = {"type": "Feature", "geometry": shapely.geometry.mapping(geom),
            "properties": {"id": _esc(rid)}}
    minx, miny, maxx, maxy = geom.buffer(0.004).bounds
    return ({"type": "FeatureCollection", "features": [feat]},
            [[miny, minx], [maxy, maxx]])


# -- ward panel -------------------------------------------------------------------
def ward_at(ctx: AppContext, click) -> str | None:
    """The 2022 ward code under a map click (``{"latlng": ...}``), or None."""
    from hotspots.areas import locate_points

    try:
        ll = click["latlng"]
        lat, lng = (ll["lat"], ll["lng"]) if isinstance(ll, dict) else ll[:2]
        lat, lng = float(lat), float(lng)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return None
    hit = locate_points([lng], [lat], ctx.wards(), max_snap_m=1.0)
    code = hit["ward_code"].iloc[0]
    return str(code) if code else None


def _twelve(ctx: AppContext, end: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return ((shift_month(end, -11), end),
            (shift_month(end, -23), shift_month(end, -12)))


def ward_panel(ctx: AppContext, role: str, ward_code: str | None, family: str,
               months) -> dict | None:
    """The ward panel: counts by family, 12-month change, top streets, emerging.

    Returns None when no ward is chosen, else a dict with ``name``, ``borough``,
    ``period``, ``families`` (rows: family, last12, previous12, change, per1000),
    ``residents`` and ``rates_note`` (Census 2021, best-fit: the caveat, or why
    the ward has no rate), ``streets`` (rows: street, count), ``emerging`` (str)
    and ``banner``.
    Partners get counts under the disclosure rule, and only streets whose count
    reaches its threshold.
    """
    check_choice("role", role, ROLES)
    if not ward_code:
        return None
    wards = ctx.wards()
    hit = wards[wards["ward_code"] == ward_code]
    if not len(hit):
        return None
    check_choice("family", family, tuple(FAMILIES))
    try:
        i, j = (int(x) for x in months)
        start, end = ctx.months[min(i, j)], ctx.months[max(i, j)]
    except (TypeError, ValueError, IndexError):
        start, end = ctx.months[0], ctx.months[-1]
    (a0, a1), (b0, b1) = _twelve(ctx, end)
    wm = ctx.cache.ward_month_counts()
    wm = wm[wm["ward_code"] == ward_code]
    rule = ctx.rule
    ward_area = ctx.area(ward_code)
    residents, rates_note = _residents(ctx, ward_code)
    fam_rows, synth_rows, total_rows = [], 0, 0
    for fam in PANEL_FAMILIES:
        sel = wm[wm["crime_type"].isin(crime_types_for(fam))]
        last = int(sel.loc[(sel["month"] >= a0) & (sel["month"] <= a1), "count"].sum())
        prev = int(sel.loc[(sel["month"] >= b0) & (sel["month"] <= b1), "count"].sum())
        gap_last = _uncovered(ctx, fam, a0, a1, ward_area)
        gap_prev = _uncovered(ctx, fam, b0, b1, ward_area)
        if fam == FAMILIES[family][0]:
            cur = sel[(sel["month"] >= a0) & (sel["month"] <= a1)]
            synth_rows = int(cur["synthetic"].sum())
            total_rows = int(cur["count"].sum())
        if role == "partner":
            sl, sp = rule.shown(last), rule.shown(prev)
            change = (f"{(sl - sp) / sp:+.0%}" if sl is not None and sp else "n/a")
            texts = [rule.label(last), rule.label(prev)]
        else:
            change = f"{(last - prev) / prev:+.0%}" if prev else "n/a"
            texts = [f"{last:,}", f"{prev:,}"]
        texts = [_with_gap(t, g) for t, g in zip(texts, (gap_last, gap_prev),
                                                strict=True)]
        if gap_last or gap_prev:
            change = "n/a (months missing)"
        # a partner's rate is worked from the rounded count it is shown beside
        # (from the exact one, rate × residents would give the count away)
        base = rule.shown(last) if role == "partner" else last
        rate = rate_per_1000(base, residents) if not gap_last and base is not None \
            else None
        fam_rows.append({"family": fam, "last12": texts[0], "previous12": texts[1],
                         "change": change,
                         "per1000": f"{rate:.2f}" if rate is not None else "n/a",
                         # every family's row says when its rows are not real
                         "synthetic": bool(sel.loc[(sel["month"] >= b0)
                                                   & (sel["month"] <= a1),
                                                   "synthetic"].sum() > 0)})
    sm = ctx.cache.street_month_counts()
    types = crime_types_for(FAMILIES[family][0])
    s = sm[(sm["ward_code"] == ward_code) & sm["crime_type"].isin(types)
           & (sm["month"] >= a0) & (sm["month"] <= a1)  # and months with data:
           & sm["month"].isin(_covered(ctx, FAMILIES[family][0], ward_area))]
    names = s["location"].map(street_name)
    top = s.groupby(names)["count"].sum().sort_values(ascending=False,
                                                      kind="stable")
    top = pd.concat([top[top.index != NO_NAME], top[top.index == NO_NAME]])
    if role == "partner":
        top = top[top >= rule.threshold]
        streets = [{"street": k, "count": rule.label(n)}
                   for k, n in top.head(10).items()]
    else:
        streets = [{"street": k, "count": f"{int(n):,}"} for k, n in
                   top.head(10).items()]
    r = hit.iloc[0]
    return {"code": ward_code, "name": str(r["ward_name"]),
            "borough": str(r["borough"]),
            "period": f"{a0} to {a1} vs {b0} to {b1}", "families": fam_rows,
            "residents": f"{residents:,}" if residents is not None else "n/a",
            "rates_note": rates_note, "streets": streets,
            "emerging": _emerging(ctx, ward_code, family, start, end),
            "banner": synthetic_label(synth_rows / total_rows if total_rows else 0,
                                      partner=role == "partner")}


def _residents(ctx: AppContext, ward_code: str) -> tuple[int | None, str]:
    """A ward's Census 2021 residents (None below the minimum base or unknown) and
    the line to print with its rates (the best-fit caveat, or why there is none)."""
    from hotspots.population import WARD_CAVEAT, ward_population

    pop = ctx.cache.value("ward-population", {},
                          lambda: ward_population(wards=ctx.wards())
                          .set_index("ward_code"))
    if ward_code not in pop.index:
        return None, "No population for this ward: rates are unavailable."
    row = pop.loc[ward_code]
    n = row["population"]
    if row["status"] != "best-fit" or pd.isna(n):
        return None, str(row["note"])
    return int(n), WARD_CAVEAT


def _uncovered(ctx: AppContext, family: str, start: str, end: str,
               area: Area) -> int:
    """How many months of ``start..end`` the forces policing ``area`` do not
    cover for ``family`` (a month with no file is missing, not zero)."""
    covered = _covered(ctx, family, area)
    return sum(m not in covered for m in month_range(start, end))


def _covered(ctx: AppContext, family: str, area: Area) -> set[str]:
    """The months every force policing ``area`` covers for ``family``."""
    from hotspots.counts import covered_months
    from hotspots.coverage import area_forces

    forces = tuple(sorted(area_forces(area)))
    return ctx.cache.value("covered-months", {"family": family, "forces": forces},
                           lambda: set(covered_months(ctx.store, family, area)))


def _with_gap(text: str, missing: int) -> str:
    """A 12-month count, or n/a where the data lacks some of its months (no
    count of part of a year, as the printed ward maps have it)."""
    if missing >= 12:
        return "missing"
    return f"n/a ({12 - missing}/12 months with data)" if missing else text


def _emerging(ctx: AppContext, ward_code: str, family: str, start: str,
              end: str) -> str:
    """The emerging hot spot categories of the ward's cells, in words.

    :func:`hotspots.stats.emerging.emerging_hotspots` runs on the ward's borough
    (neighbours across the ward edge count) for the chosen months; the ward's
    cells are those whose centre lies in it.
    """
    wards = ctx.wards()
    row = wards[wards["ward_code"] == ward_code]
    if start >= end or len(month_range(start, end)) < 3:
        return "needs at least 3 months"
    try:
        cells, _ = ctx.cache.emerging(row["borough"].iloc[0], FAMILIES[family][0],
                                      start, end)
    except HotspotsError as exc:
        return f"n/a ({exc})"
    centres = np.array([h3.cell_to_latlng(c) for c in cells["h3"]]).reshape(-1, 2)
    inside = shapely.contains_xy(row.geometry.iloc[0], centres[:, 1], centres[:, 0])
    cats = cells.loc[inside, "category"].value_counts()
    if not len(cats):
        return "no cells"
    pattern = cats.drop("no pattern detected", errors="ignore")
    if not len(pattern):
        return f"no pattern detected ({int(cats.sum())} cells)"
    parts = [f"{c} ({n} cell{'s' if n > 1 else ''})" for c, n in pattern.items()]
    rest = int(cats.get("no pattern detected", 0))
    return "; ".join(parts) + (f"; no pattern in {rest}" if rest else "")


# -- exports ----------------------------------------------------------------------
def _export_frame(ctx: AppContext, role: str, v: View) -> tuple[gpd.GeoDataFrame, dict]:
    withheld = too_few_for_partners(ctx, role, v)
    if withheld:
        raise ParameterError(withheld)
    cells, meta = _cells(ctx, v)
    synth = float(meta.get("data", {}).get("synthetic_share", 0.0))
    if role == "partner":
        f = partner_cells(cells, ctx.rule, level=v.level).frame
        f = f[["h3", "bin", "confidence", "count", "count_label", "suppressed",
               "geometry"]].copy()
        total = float(pd.to_numeric(cells["offences"], errors="coerce").sum())
        grid = meta.get("grid") or {}
        # whether, not how much: a share of a few offences tells their number
        info = {"title": v.title, "synthetic_share": None,
                "includes_synthetic": synth > 0,
                "synthetic_label": synthetic_label(synth, partner=True),
                "disclosure": ctx.rule.describe(),
                "offences": ctx.rule.label(total),
                "analysis": {"statistic": meta.get("statistic"),
                             "period": {k: (meta.get("period") or {}).get(k)
                                        for k in ("from", "to")},
                             "grid": {k: grid.get(k) for k in
                                      ("system", "resolution", "cell_area_km2")},
                             "correction": meta.get("correction"),
                             "weight": meta.get("weight")},
                "why": [f"Offences in the view: {ctx.rule.label(total)} "
                        f"({FAMILIES[v.family][2].lower()})."]}
    else:
        f = cells[["h3", "count", "offences", "gistar", "z", "p_sim", "p_fdr", "bin",
                   "geometry"]].copy()
        f["bin"] = at_level(f["bin"].to_numpy(), v.level)
        f["confidence"] = [confidence_label(b) for b in f["bin"]]
        info = {"title": v.title, "synthetic_share": round(synth, 4),
                "synthetic_label": synthetic_label(synth), "disclosure": None,
                "analysis": {k: meta.get(k) for k in ("statistic", "period", "grid",
                                                        "correction", "weight")},
                "why": meta.get("why", [])}
    if role == "partner":
        f["includes_synthetic"] = info["includes_synthetic"]
    else:
        f["synthetic_share"] = info["synthetic_share"]
    return f, info


def export_csv(ctx: AppContext, role: str, area, family, months, res, level,
               fdr) -> tuple[str, str]:
    """The current view's cells as CSV text, and a file name."""
    v = parse_view(ctx, area, family, months, res, level, fdr)
    f, info = _export_frame(ctx, role, v)
    table = pd.DataFrame(f.drop(columns="geometry"))
    centres = np.array([h3.cell_to_latlng(c) for c in table["h3"]]).reshape(-1, 2)
    table["lat"], table["lon"] = centres[:, 0].round(6), centres[:, 1].round(6)
    # each row says what it is, in words (a share column alone is easily missed)
    table["data"] = info.get("synthetic_label") or REAL_DATA
    return safe_csv_frame(table).to_csv(index=False), _fname(v, role, "csv")


def export_geojson(ctx: AppContext, role: str, area, family, months, res, level,
                   fdr) -> tuple[str, str]:
    """The current view's cells as GeoJSON (metadata as a foreign member)."""
    v = parse_view(ctx, area, family, months, res, level, fdr)
    f, info = _export_frame(ctx, role, v)
    geo = f.to_geo_dict(drop_id=True)
    geo["metadata"] = info
    return json.dumps(geo, default=_json_default), _fname(v, role, "geojson")


def _json_default(x):
    if isinstance(x, np.integer | np.floating):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if x is pd.NA:
        return None
    return str(x)


def export_pdf(ctx: AppContext, role: str, area, family, months, res, level,
               fdr) -> tuple[bytes, str]:
    """A printable one-page PDF of the current view."""
    v = parse_view(ctx, area, family, months, res, level, fdr)
    f, info = _export_frame(ctx, role, v)
    wards = ctx.wards()
    wards = wards[wards["ward_code"].isin(v.area.ward_codes)]
    hot = f[f["bin"] > 0].sort_values("bin", ascending=False)
    cols = (["h3", "confidence", "count_label"] if role == "partner"
            else ["h3", "confidence", "offences", "z", "p_fdr"])
    table = pd.DataFrame(hot[cols]).round(3)
    if role == "partner":
        table = table.rename(columns={"count_label": "offences"})
    notes = [x for x in (info["synthetic_label"], info["disclosure"]) if x]
    notes += list(info["why"][:3])
    with tempfile.TemporaryDirectory() as tmp:
        path = write_view_pdf(f, wards, Path(tmp) / "view.pdf", v.title, notes, table)
        data = path.read_bytes()
    return data, _fname(v, role, "pdf")


def _fname(v: View, role: str, ext: str, what: str = "") -> str:
    return (f"hotspots_{what}{v.area.slug}_{v.family}_{v.start}_{v.end}_r{v.res}"
            f"{'_partner' if role == 'partner' else ''}.{ext}")


# -- the plan as files: zones and sites with rationale and budget -------------------
def _plan_for_export(ctx, role, args, tasking) -> tuple[View, dict]:
    if role != "analyst":
        raise ParameterError("the tasking plan is for analysts")
    v = parse_view(ctx, *args)
    t = tasking_payload(ctx, role, *args, *tasking)
    if t.get("plan") is None and not t["rows"]["sites"]:
        raise ParameterError(t.get("note") or "no plan for this view")
    return v, t


def _plan_rows(t: dict) -> list[dict]:
    b = t.get("budget") or {}
    rows = []
    for z in t["rows"]["zones"]:
        c = shapely.geometry.shape(z["_geom"]).representative_point()
        rows.append({"kind": "zone", "id": z["id"], "rank": z["rank"],
                     "offences": z["offences"], "hours_per_week": z["hours"],
                     "wards": z["wards"], "location": "", "deploy": "",
                     "lon": round(c.x, 6), "lat": round(c.y, 6),
                     "rationale": z["why"]})
    for s in t["rows"]["sites"]:
        c = shapely.geometry.shape(s["_geom"])
        rows.append({"kind": "site", "id": s["id"], "rank": s["rank"],
                     "offences": s["offences"], "hours_per_week": None,
                     "wards": "", "location": s["location"], "deploy": s["deploy"],
                     "lon": round(c.x, 6), "lat": round(c.y, 6),
                     "rationale": s["why"]})
    rows.append({"kind": "budget", "id": "", "rank": None, "offences": None,
                 "hours_per_week": b.get("used"), "wards": "", "location": "",
                 "deploy": "", "lon": None, "lat": None,
                 "rationale": t.get("note", "")})
    return rows


def export_plan_csv(ctx: AppContext, role: str, area, family, months, res, level,
                    fdr, officer_hours, cameras, radius) -> tuple[str, str]:
    """The plan's surge zones and camera sites as CSV (one row each, with the
    rationale), and a closing ``budget`` row: hours used and why not all."""
    args = (area, family, months, res, level, fdr)
    v, t = _plan_for_export(ctx, role, args, (officer_hours, cameras, radius))
    b = t.get("budget") or {}
    table = pd.DataFrame(_plan_rows(t))
    table.insert(0, "view", v.title)
    table["budget_hours"] = b.get("budget", float(officer_hours or 0))
    return safe_csv_frame(table).to_csv(index=False), _fname(v, role, "csv",
                                                             "plan_")


def export_plan_geojson(ctx: AppContext, role: str, area, family, months, res, level,
                        fdr, officer_hours, cameras, radius) -> tuple[str, str]:
    """The plan's zones (polygons) and sites (points) as GeoJSON; metadata holds
    the view, the budget (given, used, unused, why) and the synthetic label."""
    args = (area, family, months, res, level, fdr)
    v, t = _plan_for_export(ctx, role, args, (officer_hours, cameras, radius))
    feats = []
    for r, src in zip(_plan_rows(t)[:-1], t["rows"]["zones"] + t["rows"]["sites"],
                      strict=True):
        props = {k: r[k] for k in ("kind", "id", "rank", "offences",
                                   "hours_per_week", "wards", "location", "deploy",
                                   "rationale")}
        feats.append({"type": "Feature", "geometry": src["_geom"],
                      "properties": props})
    cells, meta = _cells(ctx, v)
    synth = float(meta.get("data", {}).get("synthetic_share", 0.0))
    doc = {"type": "FeatureCollection", "features": feats,
           "metadata": {"view": v.title, "budget": t.get("budget"),
                        "note": t.get("note", ""),
                        "synthetic_label": synthetic_label(synth)}}
    return json.dumps(doc, default=_json_default), _fname(v, role, "geojson", "plan_")


def brief_available() -> bool:
    """Whether the tasking brief writer (:mod:`hotspots.report.brief`) is there."""
    try:
        from hotspots.report import brief
    except ImportError:
        return False
    return callable(getattr(brief, "write_brief", None))


def export_brief(ctx: AppContext, role: str, area, family, months, res, level, fdr,
                 officer_hours, cameras, radius) -> tuple[bytes, str]:
    """The printable tasking brief (A4 PDF) of the plan on the map."""
    if not brief_available():
        raise ParameterError("the tasking brief writer is not installed")
    from hotspots.report.brief import write_brief

    args = (area, family, months, res, level, fdr)
    v, t = _plan_for_export(ctx, role, args, (officer_hours, cameras, radius))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "brief.pdf"
        try:
            out = write_brief(t["plan"], t["cameras"], path, store=ctx.store)
        except TypeError:
            out = write_brief(t["plan"], t["cameras"], path)
        out = Path(getattr(out, "pdf", out) or path)
        data = (out if out.is_file() else path).read_bytes()
    return data, _fname(v, role, "pdf", "brief_")


def legend_items() -> list[tuple[str, str]]:
    """(colour, label) pairs of the confidence legend, hot to cold."""
    return [(BIN_COLOURS[b], BIN_LABELS[b]) for b in range(3, -4, -1)]
