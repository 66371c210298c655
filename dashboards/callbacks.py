"""What the app's callbacks compute, as plain functions (tested by direct call).

Each function takes an :class:`AppContext` (the store, its cache, the disclosure
rule), the viewer's role and the control values, and returns plain data: GeoJSON
dicts, table rows, text. ``dashboards.app`` only wires them to components. All
numbers come from the package (:mod:`hotspots.analysis`, :mod:`hotspots.cache`,
:mod:`hotspots.report.share`, :mod:`hotspots.plan`); nothing here computes a
statistic.

Every string that reaches a Leaflet tooltip (which renders HTML) is escaped here;
text in Dash components and the grid is rendered as text by React.
"""

from __future__ import annotations

import html
import io
import json
import math
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
from hotspots.errors import HotspotsError, ParameterError, check_choice
from hotspots.months import month_range, shift_month
from hotspots.plan import cameras as cams
from hotspots.plan import patrols
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
    "FAMILIES",
    "LEVELS",
    "RESOLUTIONS",
    "ROLES",
    "AppContext",
    "View",
    "area_options",
    "export_csv",
    "export_geojson",
    "export_pdf",
    "highlight",
    "legend_items",
    "default_months",
    "ward_at",
    "ward_layer",
    "hex_layer",
    "month_marks",
    "parse_view",
    "precompute",
    "point_layer",
    "table_columns",
    "tasking_payload",
    "view_payload",
    "ward_panel",
]

ROLES = ("analyst", "partner")
#: Family control value -> (crime family, weight) for the analysis.
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
#: Finest resolution drawn in full for an area kind; finer shows significant only.
FULL_RES = {"london": 7, "bcu": 9, "borough": 10, "ward": 10}
#: Finest resolution computed at all for an area kind.
MAX_RES = {"london": 9, "bcu": 10, "borough": 10, "ward": 10}
#: Area kinds whose offence points are drawn (London-wide points are too many).
POINT_KINDS = ("borough", "ward")
PANEL_FAMILIES = ("robbery", "vehicle", "asb", "burglary", "all")
EMPTY = {"type": "FeatureCollection", "features": []}


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
             **kw) -> AppContext:
        store = store if isinstance(store, Store) else Store.open(store)
        return cls(store, ViewCache(store), rule or DisclosureRule(),
                   tuple(store.months()), **kw)

    def area(self, value: str) -> Area:
        """The :class:`Area` of an area control value (cached)."""
        if not value:
            raise ParameterError("choose an area")
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


# -- control options ---------------------------------------------------------------
def area_options(wards: gpd.GeoDataFrame) -> list[dict]:
    """Options of the area control: London, the BCUs, boroughs, then wards.

    Values are what :func:`hotspots.areas.resolve_area` accepts unambiguously (BCU
    codes, borough names, ward codes); labels are for people.
    """
    opts = [{"label": "London", "value": "London"}]
    opts += [{"label": f"{name} BCU ({code})", "value": code}
             for code, (name, _) in BCUS.items()]
    met = wards[wards["bcu"].notna()]
    opts += [{"label": b, "value": b} for b in sorted(met["borough"].unique())]
    w = met.sort_values(["ward_name", "borough"])
    opts += [{"label": f"{n} ({b})", "value": c} for n, b, c in
             zip(w["ward_name"], w["borough"], w["ward_code"], strict=True)]
    return opts


def month_marks(months: tuple[str, ...]) -> dict:
    """RangeSlider marks: every January, labelled with its year."""
    return {i: m[:4] for i, m in enumerate(months) if m.endswith("-01")}


def default_months(ctx: AppContext, family: str = "robbery", n: int = 12,
                   area: str = "London") -> list[int]:
    """Slider indices of the last ``n`` months the data covers for ``family``."""
    from hotspots.counts import covered_months

    covered = [m for m in covered_months(ctx.store, FAMILIES[family][0], area)
               if m in ctx.months]
    if not covered:
        return [0, len(ctx.months) - 1]
    end = ctx.months.index(covered[-1])
    start = ctx.months.index(covered[max(0, len(covered) - n)])
    return [start, end]


def parse_view(ctx: AppContext, area: str, family: str, months, res, level,
               fdr) -> View:
    """Validate the control values into a :class:`View` (raises ParameterError)."""
    check_choice("family", family, tuple(FAMILIES))
    a = ctx.area(area)
    try:
        i, j = (int(x) for x in months)
        start, end = ctx.months[min(i, j)], ctx.months[max(i, j)]
    except (TypeError, ValueError, IndexError):
        raise ParameterError(f"'months' needs two month indices. {months!r} was "
                             "given instead.") from None
    res = int(res)
    check_choice("res", res, RESOLUTIONS)
    pct = int(level)
    check_choice("level", pct, tuple(LEVELS))
    notes = []
    if res > MAX_RES[a.kind]:
        notes.append(f"H3 resolution {res} is too fine for {a.name}; showing "
                     f"resolution {MAX_RES[a.kind]}.")
        res = MAX_RES[a.kind]
    significant_only = res > FULL_RES[a.kind]
    if significant_only:
        notes.append(f"At resolution {res} only significant cells are drawn for "
                     f"{a.name} (choose a coarser resolution to see every cell).")
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

    Every family at the default months, H3 r9 (r8 for London), FDR on and off;
    and the surge plan and camera sites for ``tasking`` (officer-hours, cameras,
    radius) at each level with FDR (kept in memory).
    """
    from hotspots.cache import warm

    i, j = default_months(ctx, "robbery")
    period = [(ctx.months[i], ctx.months[j])]
    n = 0
    for area in areas:
        a = ctx.area(area)
        res = 8 if a.kind == "london" else 9
        n += warm(ctx.cache, [a], list(FAMILIES), period, resolutions=(res,),
                  corrections=("fdr", "none"), permutations=ctx.permutations)
        if tasking and a.kind != "london":
            for fam in FAMILIES:
                for pct in levels:
                    tasking_payload(ctx, "analyst", area, fam, [i, j], res, pct,
                                    ["fdr"], *tasking)
    return n


# -- data of a view ---------------------------------------------------------------
def _cells(ctx: AppContext, v: View) -> tuple[gpd.GeoDataFrame, dict]:
    return ctx.cache.analysis(v.area, v.crime, v.start, v.end, res=v.res,
                              correction=v.correction, weight=v.weight,
                              permutations=ctx.permutations)


def _ward_counts(ctx: AppContext, v_area: Area, crime: str, start: str,
                 end: str) -> tuple[pd.Series, float]:
    """Offences per ward code in the area, and the synthetic share."""
    wm = ctx.cache.ward_month_counts()
    types = crime_types_for(crime)
    sel = wm[wm["ward_code"].isin(v_area.ward_codes) & wm["crime_type"].isin(types)
             & (wm["month"] >= start) & (wm["month"] <= end)]
    counts = sel.groupby("ward_code")["count"].sum()
    total = int(sel["count"].sum())
    synth = float(sel["synthetic"].sum() / total) if total else 0.0
    return counts.reindex(list(v_area.ward_codes), fill_value=0), synth


def _geo(frame: gpd.GeoDataFrame, props: list[str], precision: float = 1e-5) -> dict:
    """A GeoJSON dict of ``frame`` with only ``props``, coordinates rounded."""
    geom = gpd.GeoSeries(frame["geometry"].to_numpy(), crs=4326)
    g = gpd.GeoDataFrame(pd.DataFrame(frame[props]).reset_index(drop=True),
                         geometry=geom.set_precision(precision), crs=4326)
    return g.to_geo_dict(drop_id=True)


def _bounds(geom) -> list[list[float]]:
    minx, miny, maxx, maxy = geom.bounds
    return [[miny, minx], [maxy, maxx]]


def hex_layer(ctx: AppContext, role: str, v: View) -> tuple[dict, list[dict], dict]:
    """The Gi* hexagons of a view as GeoJSON, the ranked hot-spot rows, a summary.

    Analysts get counts, z and p; partners get the disclosure-controlled layer
    (:func:`hotspots.report.share.partner_cells`): bins and rounded counts only.
    """
    check_choice("role", role, ROLES)

    def build():
        cells, meta = _cells(ctx, v)
        synth = float(meta.get("data", {}).get("synthetic_share", 0.0))
        if role == "partner":
            layer = partner_cells(cells, ctx.rule, level=v.level)
            f = layer.frame.copy()
            f["tooltip"] = [
                f"<b>{_esc(c)}</b><br>offences: {_esc(n)}" for c, n in
                zip(f["confidence"], f["count_label"], strict=True)]
            f["id"] = f["h3"]
            if v.significant_only:
                f = f[f["bin"] != 0]
            rows = [
                {"id": r.h3, "rank": 0, "confidence": r.confidence,
                 "offences": r.count_label, "_kind": "hex"}
                for r in f[f["bin"] > 0].sort_values(
                    ["bin", "count"], ascending=False, na_position="last")
                .itertuples(index=False)]
            summary = {"suppressed_cells": layer.suppressed_cells,
                       "merged_cells": layer.merged_cells}
            geo = _geo(f, ["id", "bin", "tooltip"])
        else:
            f = cells[["h3", "count", "offences", "z", "p_sim", "p_fdr", "bin",
                       "geometry"]].copy()
            f["bin"] = at_level(f["bin"].to_numpy(), v.level)
            f["confidence"] = [confidence_label(b) for b in f["bin"]]
            f["tooltip"] = [
                f"<b>{_esc(c)}</b><br>offences: {int(n):,}"
                + (f" (harm {w:,.1f})" if v.weight == "harm" else "")
                + f"<br>z = {z:.2f}, p = {p:.3f}" for c, n, w, z, p in zip(
                    f["confidence"], f["offences"], f["count"], f["z"],
                    f["p_fdr"], strict=True)]
            f["id"] = f["h3"]
            if v.significant_only:
                f = f[f["bin"] != 0]
            hot = f[f["bin"] > 0].sort_values(["bin", "z"], ascending=False)
            rows = [
                {"id": r.h3, "rank": 0, "confidence": r.confidence,
                 "offences": int(r.offences), "z": round(float(r.z), 2),
                 "p_fdr": round(float(r.p_fdr), 4), "_kind": "hex"}
                for r in hot.itertuples(index=False)]
            summary = {"suppressed_cells": 0, "merged_cells": 0}
            geo = _geo(f, ["id", "bin", "tooltip"])
        for i, r in enumerate(rows, 1):
            r["rank"] = i
        b = at_level(cells["bin"].to_numpy(), v.level)
        summary.update({"cells": int(len(cells)), "hot": int((b > 0).sum()),
                        "cold": int((b < 0).sum()), "synthetic_share": synth,
                        "drawn": len(geo["features"])})
        return geo, rows, summary

    return ctx.cache.value("hexes", {**v.key, "role": role}, build)


def ward_layer(ctx: AppContext, role: str, v: View) -> tuple[dict, float]:
    """The area's 2022 wards with names and counts (partners: controlled)."""
    check_choice("role", role, ROLES)

    def build():
        wards = ctx.wards()
        w = wards[wards["ward_code"].isin(v.area.ward_codes)].copy()
        counts, synth = _ward_counts(ctx, v.area, v.crime, v.start, v.end)
        n = w["ward_code"].map(counts).fillna(0).astype(int)
        if role == "partner":
            labels = [ctx.rule.label(x) for x in n]
        else:
            labels = [f"{x:,}" for x in n]
        w["tooltip"] = [
            f"<b>{_esc(name)}</b> ({_esc(b)})<br>{_esc(FAMILIES[v.family][2])}: "
            f"{_esc(lab)}" for name, b, lab in
            zip(w["ward_name"], w["borough"], labels, strict=True)]
        w["name"] = [_esc(x) for x in w["ward_name"]]
        w["id"] = w["ward_code"]
        tol = 1e-4 if v.area.kind in ("london", "bcu") else 0.0
        if tol:
            w["geometry"] = w.geometry.simplify(tol, preserve_topology=True)
        return _geo(w, ["id", "name", "tooltip"]), synth

    key = {"area": [v.area.kind, v.area.code], "crime": v.crime, "start": v.start,
           "end": v.end, "role": role}
    return ctx.cache.value("wards-layer", key, build)


def point_layer(ctx: AppContext, role: str, v: View) -> tuple[dict, str]:
    """Offences at their police.uk snap points (analysts only), and a note.

    One feature per snap point with the number of offences there; partners get
    an empty layer whatever they ask.
    """
    check_choice("role", role, ROLES)
    if role != "analyst":
        return EMPTY, ""
    if v.area.kind not in POINT_KINDS:
        return EMPTY, "offence points are drawn for a borough or a ward"

    def build():
        df = ctx.store.offences(area=v.area, crime=v.crime, start=v.start,
                                end=v.end, columns=["lon", "lat", "location",
                                                    "crime_type"])
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
                               "coordinates": [round(x, 6), round(y, 6)]},
                  "properties": {"n": int(n), "tooltip":
                                 f"<b>{_esc(loc)}</b><br>{int(n)} offence(s): "
                                 f"{_esc(t)}"}}
                 for x, y, n, loc, t in zip(g["lon"], g["lat"], g["n"],
                                            g["location"], g["types"], strict=True)]
        return {"type": "FeatureCollection", "features": feats}, note

    return ctx.cache.value("points", {k: v.key[k] for k in
                                      ("area", "family", "start", "end")}, build)


def view_payload(ctx: AppContext, role: str, area, family, months, res, level,
                 fdr) -> dict:
    """Everything the map shows for one set of controls (but tasking and points).

    Returns
    -------
    dict
        ``hexes``, ``wards`` (GeoJSON), ``rows`` (ranked hot cells), ``bounds``
        (``[[s, w], [n, e]]``), ``banner`` (semi-synthetic label or None),
        ``status`` (one line), ``summary``, ``title``.
    """
    try:
        v = parse_view(ctx, area, family, months, res, level, fdr)
    except HotspotsError as exc:
        return {"hexes": EMPTY, "wards": EMPTY, "rows": [], "bounds": None,
                "banner": None, "status": str(exc), "summary": {}, "title": ""}
    wards, synth_w = ward_layer(ctx, role, v)
    try:
        hexes, rows, summary = hex_layer(ctx, role, v)
        err = None
    except HotspotsError as exc:
        hexes, rows, summary, err = EMPTY, [], {}, str(exc)
    synth = max(synth_w, summary.get("synthetic_share", 0.0))
    if err:
        status = err
    else:
        status = (f"{summary['cells']:,} cells; {summary['hot']:,} hot and "
                  f"{summary['cold']:,} cold at {_pct(v.level)} confidence")
        if role == "partner":
            status += (f"; counts withheld in {summary['suppressed_cells']:,} cells "
                       f"(fewer than {ctx.rule.threshold})")
    status = " ".join([status, *v.notes])
    return {"hexes": hexes, "wards": wards, "rows": rows,
            "bounds": _bounds(v.area.geometry), "banner": synthetic_label(synth),
            "status": status, "summary": summary, "title": v.title}


# -- tasking ----------------------------------------------------------------------
def tasking_payload(ctx: AppContext, role: str, area, family, months, res, level,
                    fdr, officer_hours, cameras, radius) -> dict:
    """Surge zones and NOMAD camera sites for the view (analysts only).

    Calls :mod:`hotspots.plan` (``patrols``, ``cameras``).
    Returns ``zones``, ``sites`` (GeoJSON), ``rows`` ({"zones": [...],
    "sites": [...]}) and ``note``.
    """
    out = {"zones": EMPTY, "sites": EMPTY, "rows": {"zones": [], "sites": []},
           "note": ""}
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
              "level": v.level, "correction": v.correction, "hours": hours,
              "cameras": k, "radius": r_m, "permutations": ctx.permutations}
    return ctx.cache.value("tasking", params, lambda: _tasking(ctx, v, hours, k, r_m))


def _tasking(ctx: AppContext, v: View, hours: float, k: int, r_m: float) -> dict:
    out = {"zones": EMPTY, "sites": EMPTY, "rows": {"zones": [], "sites": []}}
    if v.area.kind == "london":
        return {**out, "note": "surge zones and camera sites are planned for a "
                               "BCU, borough or ward"}
    notes = []
    offences = _view_offences(ctx, v)
    try:
        out["zones"], out["rows"]["zones"] = _zones(ctx, v, hours, offences)
    except HotspotsError as exc:
        notes.append(f"patrols: {exc}")
    try:
        out["sites"], out["rows"]["sites"] = _sites(ctx, v, k, r_m, offences)
    except HotspotsError as exc:
        notes.append(f"cameras: {exc}")
    out["note"] = "; ".join(notes)
    return out


def _view_offences(ctx: AppContext, v: View) -> pd.DataFrame:
    """The view's offences with an ``h3`` column at the view's resolution."""
    col = f"h3_{v.res}" if v.res in (8, 9, 10) else "h3_9"
    df = ctx.store.offences(area=v.area, crime=v.crime, start=v.start, end=v.end,
                            columns=["lon", "lat", "location", "month", "crime_type",
                                     "synthetic", col])
    if v.res not in (8, 9, 10):
        df[col] = [h3.cell_to_parent(c, v.res) for c in df[col]]
    return df.rename(columns={col: "h3"})


def _zones(ctx, v, hours, offences):
    cells, _ = _cells(ctx, v)
    plan = patrols.plan_patrols(cells, officer_hours=hours, level=v.level,
                                offences=offences)
    frame = plan.zones.copy()
    frame["id"] = frame["zone"].astype(str)
    frame["tooltip"] = [
        f"<b>Surge zone {int(r)}</b><br>{_esc(why)}"
        for r, why in zip(frame["rank"], frame["rationale"], strict=True)]
    rows = [{"id": z.zone, "rank": int(z.rank), "_kind": "zone",
             "offences": int(z.offences), "hours": round(float(z.hours_per_week), 1),
             "wards": ", ".join(z.wards), "why": z.rationale,
             "_geom": shapely.geometry.mapping(z.geometry)}
            for z in frame.itertuples(index=False)]
    return _geo(frame, ["id", "tooltip"]), rows


def _sites(ctx, v, k, r_m, offences):
    if k < 1:
        return EMPTY, []
    cells, _ = _cells(ctx, v)
    res = cams.site_cameras(offences, cameras=k, radius_m=r_m,
                            cells=cells, rotations=1,
                            weight="harm" if v.weight == "harm" else "count")
    frame = res.sites.copy()
    frame["id"] = frame["site"].astype(str)
    frame["radius"] = r_m
    frame["tooltip"] = [
        f"<b>NOMAD site {_esc(i)}</b><br>{_esc(why)}"
        for i, why in zip(frame["id"], frame["rationale"], strict=True)]
    rows = [{"id": s.site, "rank": int(s.rank), "_kind": "site",
             "location": s.location, "offences": int(s.covered_offences),
             "deploy": f"{s.deploy_from} to {s.deploy_to}", "why": s.rationale,
             "_geom": shapely.geometry.mapping(s.geometry)}
            for s in frame.itertuples(index=False)]
    return _geo(frame, ["id", "radius", "tooltip"]), rows


# -- table and highlight --------------------------------------------------------------
def table_columns(kind: str, role: str) -> list[dict]:
    """Column definitions of the ranked table for hotspots, zones or sites."""
    check_choice("kind", kind, ("hotspots", "zones", "sites"))
    if kind == "hotspots":
        cols = [("rank", "#", 60), ("confidence", "Confidence", 200),
                ("offences", "Offences", 110)]
        if role == "analyst":
            cols += [("z", "z", 80), ("p_fdr", "p", 90)]
        cols += [("id", "H3 cell", 160)]
    elif kind == "zones":
        cols = [("rank", "#", 60), ("id", "Zone", 80), ("offences", "Offences", 100),
                ("hours", "Hours/week", 110), ("wards", "Wards", 260)]
    else:
        cols = [("rank", "#", 60), ("id", "Site", 80), ("location", "Location", 240),
                ("offences", "Offences seen", 120), ("deploy", "Deployment", 200)]
    return [{"field": f, "headerName": h, "width": w, "sortable": True}
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
    ``period``, ``families`` (rows: family, last12, previous12, change),
    ``streets`` (rows: street, count), ``emerging`` (str) and ``banner``.
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
    fam_rows, synth_rows, total_rows = [], 0, 0
    for fam in PANEL_FAMILIES:
        sel = wm[wm["crime_type"].isin(crime_types_for(fam))]
        last = int(sel.loc[(sel["month"] >= a0) & (sel["month"] <= a1), "count"].sum())
        prev = int(sel.loc[(sel["month"] >= b0) & (sel["month"] <= b1), "count"].sum())
        if fam == FAMILIES[family][0]:
            cur = sel[(sel["month"] >= a0) & (sel["month"] <= a1)]
            synth_rows = int(cur["synthetic"].sum())
            total_rows = int(cur["count"].sum())
        if role == "partner":
            sl, sp = rule.shown(last), rule.shown(prev)
            change = (f"{(sl - sp) / sp:+.0%}" if sl is not None and sp else "n/a")
            fam_rows.append({"family": fam, "last12": rule.label(last),
                             "previous12": rule.label(prev), "change": change})
        else:
            change = f"{(last - prev) / prev:+.0%}" if prev else "n/a"
            fam_rows.append({"family": fam, "last12": f"{last:,}",
                             "previous12": f"{prev:,}", "change": change})
    sm = ctx.cache.street_month_counts()
    types = crime_types_for(FAMILIES[family][0])
    s = sm[(sm["ward_code"] == ward_code) & sm["crime_type"].isin(types)
           & (sm["month"] >= a0) & (sm["month"] <= a1)]
    names = s["location"].where(s["location"].str.strip().str.lower()
                                != "on or near", "On or near (no street name)")
    top = s.groupby(names)["count"].sum().sort_values(ascending=False,
                                                      kind="stable")
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
            "streets": streets,
            "emerging": _emerging(ctx, ward_code, family, start, end),
            "banner": synthetic_label(synth_rows / total_rows if total_rows else 0)}


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
    cells, meta = _cells(ctx, v)
    synth = float(meta.get("data", {}).get("synthetic_share", 0.0))
    if role == "partner":
        f = partner_cells(cells, ctx.rule, level=v.level).frame
        f = f[["h3", "bin", "confidence", "count", "count_label", "suppressed",
               "geometry"]].copy()
        disclosure = ctx.rule.describe()
    else:
        f = cells[["h3", "count", "offences", "gistar", "z", "p_sim", "p_fdr", "bin",
                   "geometry"]].copy()
        f["bin"] = at_level(f["bin"].to_numpy(), v.level)
        f["confidence"] = [confidence_label(b) for b in f["bin"]]
        disclosure = None
    f["synthetic_share"] = round(synth, 4)
    info = {"title": v.title, "synthetic_share": round(synth, 4),
            "synthetic_label": synthetic_label(synth), "disclosure": disclosure,
            "analysis": {k: meta.get(k) for k in ("statistic", "period", "grid",
                                                    "correction", "weight")},
            "why": meta.get("why", [])}
    return f, info


def export_csv(ctx: AppContext, role: str, area, family, months, res, level,
               fdr) -> tuple[str, str]:
    """The current view's cells as CSV text, and a file name."""
    v = parse_view(ctx, area, family, months, res, level, fdr)
    f, info = _export_frame(ctx, role, v)
    table = pd.DataFrame(f.drop(columns="geometry"))
    centres = np.array([h3.cell_to_latlng(c) for c in table["h3"]]).reshape(-1, 2)
    table["lat"], table["lon"] = centres[:, 0].round(6), centres[:, 1].round(6)
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    return buf.getvalue(), _fname(v, role, "csv")


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
    notes = [x for x in (info["synthetic_label"], info["disclosure"]) if x]
    notes += list(info["why"][:3])
    with tempfile.TemporaryDirectory() as tmp:
        path = write_view_pdf(f, wards, Path(tmp) / "view.pdf", v.title, notes, table)
        data = path.read_bytes()
    return data, _fname(v, role, "pdf")


def _fname(v: View, role: str, ext: str) -> str:
    return (f"hotspots_{v.area.slug}_{v.family}_{v.start}_{v.end}_r{v.res}"
            f"{'_partner' if role == 'partner' else ''}.{ext}")


def legend_items() -> list[tuple[str, str]]:
    """(colour, label) pairs of the confidence legend, hot to cold."""
    return [(BIN_COLOURS[b], BIN_LABELS[b]) for b in range(3, -4, -1)]

