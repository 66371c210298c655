"""Surge patrol plan: hot cells merged into zones, chosen under an officer-hour budget.

The steps, each a private function over plain frames:

1. **Candidate zones.** Significant hot cells (confidence bin ≥ ``level``) that touch
   (H3 ring 1) form connected zones; a zone larger than ``max_cells`` is split by
   growing sub-zones from its busiest cell, so a whole town centre is not one
   all-or-nothing choice.
2. **Cost.** Each zone is costed in officer-hours a week from a patrol dosage
   (:class:`Dosage`): by default Koper-style 15-minute visits, 4 a day, 7 days a week,
   one officer, to every cell of the zone (Koper 1995 found the residual deterrence
   of a visit peaks at about 15 minutes; the Minneapolis and Sacramento hot spot
   trials used short random visits every two hours or so).
3. **Choice.** A 0/1 knapsack (PuLP/CBC) picks the zones that cover the most offences
   (or harm) without the weekly hours exceeding the budget; ties go to the plan
   with fewer hours.
4. **Reasons.** Each chosen zone carries its rank, the 2022 wards it touches, its
   offences and share of the area's, its trend (Mann–Kendall on monthly counts),
   confidence, cost, top streets, and a plain-English rationale. Peak days and
   hours are given only when the offences carry times of day (a force's own
   extract); police.uk data has months only, and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pulp
import shapely

from ..analysis import Analysis
from ..areas import BNG, load_wards
from ..errors import ParameterError, check_choice
from ..months import month_range
from ..provenance import json_value
from ..stats.emerging import mann_kendall
from ..stats.inference import confidence_label
from .streets import top_streets

__all__ = ["Dosage", "PatrolPlan", "candidate_zones", "choose_zones", "plan_patrols"]

#: offences-with-times columns recognised for peak days and hours
TIME_COLUMNS = ("datetime", "date_time", "occurred")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
            "Sunday")


@dataclass(frozen=True)
class Dosage:
    """How much patrol a zone gets: the unit the budget is spent in.

    Parameters
    ----------
    minutes_per_visit : float
        Length of one visit to one cell (Koper: about 15 minutes).
    visits_per_day : float
        Visits to each cell a day (randomised in practice).
    days_per_week : float
        Days a week the surge runs.
    officers : int
        Officers per visit (2 for double-crewed patrols).
    """

    minutes_per_visit: float = 15.0
    visits_per_day: float = 4.0
    days_per_week: float = 7.0
    officers: int = 1

    def __post_init__(self):
        for name in ("minutes_per_visit", "visits_per_day", "days_per_week"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"dosage {name} must be > 0; got "
                                     f"{getattr(self, name)!r}.")
        if self.days_per_week > 7:
            raise ParameterError(f"dosage days_per_week is at most 7; got "
                                 f"{self.days_per_week!r}.")
        if int(self.officers) < 1:
            raise ParameterError(f"dosage officers must be ≥ 1; got {self.officers!r}.")

    def hours_per_week(self, n_cells) -> np.ndarray | float:
        """Officer-hours a week to patrol ``n_cells`` cells at this dosage."""
        return (np.asarray(n_cells, dtype="float64") * self.minutes_per_visit
                * self.visits_per_day * self.days_per_week * self.officers / 60.0)

    def describe(self) -> str:
        return (f"{self.minutes_per_visit:g}-minute visits, {self.visits_per_day:g} a "
                f"day, {self.days_per_week:g} days a week, {self.officers} "
                f"officer{'s' if self.officers != 1 else ''} per visit")

    def to_dict(self) -> dict:
        return {"minutes_per_visit": self.minutes_per_visit,
                "visits_per_day": self.visits_per_day,
                "days_per_week": self.days_per_week, "officers": int(self.officers),
                "hours_per_cell_week": float(self.hours_per_week(1))}


@dataclass(frozen=True)
class PatrolPlan:
    """The chosen surge zones (``zones``), every candidate (``candidates``) and why."""

    zones: gpd.GeoDataFrame = field(repr=False)
    candidates: gpd.GeoDataFrame = field(repr=False)
    metadata: dict = field(repr=False)

    @property
    def hours(self) -> float:
        return float(self.zones["hours_per_week"].sum()) if len(self.zones) else 0.0

    def records(self) -> list[dict]:
        """The chosen zones as JSON-ready dicts (no geometry)."""
        cols = [c for c in self.zones.columns if c not in ("geometry",)]
        out = []
        for row in self.zones[cols].to_dict("records"):
            out.append({k: json_value(v) for k, v in row.items()})
        return out

    def to_json(self) -> dict:
        return {"zones": self.records(), "hours_per_week": round(self.hours, 2),
                "metadata": self.metadata}


# -- 1. candidate zones ----------------------------------------------------------------
def candidate_zones(cells: pd.DataFrame, level: int = 2, max_cells: int = 7,
                    value: str = "count") -> list[list[str]]:
    """Hot cells grouped into zones: connected by H3 ring 1, split above ``max_cells``.

    Parameters
    ----------
    cells : DataFrame
        ``h3``, ``bin`` and ``value`` columns (an :class:`~hotspots.analysis.Analysis`
        ``cells`` frame).
    level : {1, 2, 3}
        Lowest hot bin taken (1: 90 %, 2: 95 %, 3: 99 % confidence).
    max_cells : int
        Largest zone; bigger clusters are split.

    Returns
    -------
    list of list of str
        The zones' cells, each zone's busiest cell first; zones ordered by their
        first cell's value (then H3 id), so the result never depends on row order.
    """
    check_choice("level", level, (1, 2, 3))
    if int(max_cells) < 1:
        raise ParameterError(f"max_cells must be ≥ 1; got {max_cells!r}.")
    hot = cells.loc[cells["bin"] >= level, ["h3", value]]
    vals = dict(zip(hot["h3"], hot[value].astype(float), strict=True))
    order = sorted(vals, key=lambda c: (-vals[c], c))
    seen: set[str] = set()
    zones: list[list[str]] = []
    for start in order:
        if start in seen:
            continue
        comp, stack = {start}, [start]
        while stack:
            for nb in h3.grid_disk(stack.pop(), 1):
                if nb in vals and nb not in comp:
                    comp.add(nb)
                    stack.append(nb)
        seen |= comp
        zones.extend(_split(comp, vals, int(max_cells)))
    return sorted(zones, key=lambda z: (-vals[z[0]], z[0]))


def _split(comp: set[str], vals: dict, max_cells: int) -> list[list[str]]:
    """Grow sub-zones of at most ``max_cells`` from the busiest unassigned cell."""
    left = set(comp)
    out = []
    while left:
        seed = min(left, key=lambda c: (-vals[c], c))
        zone = [seed]
        left.discard(seed)
        while len(zone) < max_cells:
            frontier = {nb for c in zone for nb in h3.grid_disk(c, 1)} & left
            if not frontier:
                break
            best = min(frontier, key=lambda c: (-vals[c], c))
            zone.append(best)
            left.discard(best)
        out.append(zone)
    return out


# -- 3. choice -------------------------------------------------------------------------
def choose_zones(value, cost, budget: float) -> np.ndarray:
    """0/1 knapsack: which items to take for the most ``value`` within ``budget``.

    Solved exactly with PuLP (CBC); among plans of equal value the cheaper wins.
    Returns a boolean mask.
    """
    value = np.asarray(value, dtype="float64")
    cost = np.asarray(cost, dtype="float64")
    if not budget > 0:
        raise ParameterError(f"the officer-hour budget must be > 0; got {budget!r}.")
    if (cost <= 0).any():
        raise ParameterError("every zone must cost more than 0 hours.")
    fits = cost <= budget + 1e-9
    take = np.zeros(len(value), dtype=bool)
    idx = np.flatnonzero(fits)
    if not len(idx):
        return take
    if cost[idx].sum() <= budget + 1e-9:
        take[idx] = True
        return take
    prob = pulp.LpProblem("surge_patrols", pulp.LpMaximize)
    x = [pulp.LpVariable(f"z{i}", cat="Binary") for i in idx]
    scale = 1e-6 / max(cost[idx].sum(), 1.0)
    prob += pulp.lpSum((value[i] - scale * cost[i]) * xi for i, xi in zip(idx, x,
                                                                        strict=True))
    prob += pulp.lpSum(cost[i] * xi for i, xi in zip(idx, x, strict=True)) <= budget
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[status] != "Optimal":  # pragma: no cover - CBC always solves it
        raise ParameterError(f"the patrol knapsack was {pulp.LpStatus[status]}.")
    for i, xi in zip(idx, x, strict=True):
        take[i] = (xi.value() or 0) > 0.5
    # guard against solver tolerance: never exceed the budget
    while cost[take].sum() > budget + 1e-9:  # pragma: no cover
        worst = np.flatnonzero(take)[np.argmin(value[take] / cost[take])]
        take[worst] = False
    return take


# -- the public function ---------------------------------------------------------------
def plan_patrols(
    source: Analysis | pd.DataFrame,
    *,
    officer_hours: float,
    level: int = 2,
    dosage: Dosage | None = None,
    max_cells: int = 7,
    offences: pd.DataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
    streets: int = 3,
    min_offences: int = 1,
) -> PatrolPlan:
    """Surge zones for a week's officer-hours, from a hot spot analysis.

    Parameters
    ----------
    source : Analysis or GeoDataFrame
        An :func:`~hotspots.analysis.analyse` result (its cells, offences and audit
        trail are used), or a cells frame with ``h3, count, offences, z, bin``.
    officer_hours : float
        The weekly budget; the chosen zones never cost more.
    level : {1, 2, 3}
        Lowest confidence bin a cell needs (2: 95 %).
    dosage : Dosage, optional
        Visits that cost the hours (default :class:`Dosage`).
    max_cells : int
        Largest zone in cells.
    offences : DataFrame, optional
        The offences behind the cells (``h3`` or ``h3_<res>``, ``month``,
        ``location``, optional ``datetime``); taken from ``source`` when it is an
        Analysis. Needed for trends, streets and peak times.
    wards : GeoDataFrame, optional
        2022 wards (default :func:`hotspots.areas.load_wards`).
    streets : int
        Top streets listed per zone.
    min_offences : int
        Fewest offences a hot cell needs to be patrolled (default 1). Gi* calls a
        cell hot from its neighbourhood, so an empty cell beside busy ones can be
        hot; an hour spent there is an hour not spent where crime is.

    Returns
    -------
    PatrolPlan
        ``zones`` (chosen, ranked): ``rank, zone, cells, n_cells, offences, value,
        share, hours_per_week, confidence, max_z, wards, trend, trend_p, streets,
        peak, rationale, geometry``.
    """
    dosage = dosage or Dosage()
    try:
        budget = float(officer_hours)
    except (TypeError, ValueError):
        raise ParameterError(f"officer_hours must be a number; got {officer_hours!r}."
                             ) from None
    if not budget > 0:
        raise ParameterError(
            f"the officer-hour budget must be > 0; got {officer_hours!r}.")
    meta: dict = {}
    months: list[str] = []
    crime = "offences"
    if isinstance(source, Analysis):
        cells = source.cells
        res = source.metadata["grid"]["resolution"]
        if offences is None:
            offences = source.offences.rename(columns={f"h3_{res}": "h3"})
        months = month_range(source.start, source.end)
        meta = {"analysis": {k: source.metadata.get(k) for k in
                             ("area", "crime", "period", "grid", "weight",
                              "correction", "permutations", "seed")},
                "synthetic_share": source.metadata["data"]["synthetic_share"]}
        crime = source.crime
        area_name = source.area.name
    else:
        cells = source
        area_name = "the area"
    need = {"h3", "count", "bin"}
    if missing := need - set(cells.columns):
        raise ParameterError(f"the cells need columns {sorted(missing)}.")
    cells = cells.copy()
    if "offences" not in cells:
        cells["offences"] = cells["count"]
    if "z" not in cells:
        cells["z"] = np.nan
    if months == [] and offences is not None and "month" in offences:
        months = sorted(offences["month"].dropna().unique().tolist())
    eligible = cells[cells["offences"] >= int(min_offences)]
    zones = candidate_zones(eligible, level, max_cells, value="count")
    by = cells.set_index("h3")
    total_value = float(cells["count"].sum())
    total_off = int(cells["offences"].sum())
    cand = _zone_frame(zones, by, dosage, total_value)
    meta.update({
        "officer_hours": budget, "level": level, "max_cells": int(max_cells),
        "min_offences": int(min_offences),
        "dosage": dosage.to_dict(), "candidates": len(cand),
        "method": "0/1 knapsack (PuLP/CBC) over connected hot-cell zones",
        "times": ("police.uk gives months only: no peak days or hours"
                  if not _time_column(offences) else "from the offences' times"),
    })
    if len(cand):
        take = choose_zones(cand["value"], cand["hours_per_week"], budget)
    else:
        take = np.zeros(0, dtype=bool)
    cand["selected"] = take
    chosen = cand[take].sort_values(["value", "zone"], ascending=[False, True])
    chosen = chosen.reset_index(drop=True)
    chosen.insert(0, "rank", np.arange(1, len(chosen) + 1))
    chosen = _describe(chosen, offences, months, wards, streets, crime, area_name,
                       total_off, dosage)
    notes = []
    if not len(cand):
        notes.append(f"no hot cells at {confidence_label(level).split(', ')[1]}: "
                     "nothing to surge")
    elif not take.any():
        notes.append(f"the budget of {budget:g} officer-hours is below the cheapest "
                     f"zone ({cand['hours_per_week'].min():.1f} h a week)")
    meta.update({"notes": notes, "hours_per_week": float(chosen["hours_per_week"].sum())
                 if len(chosen) else 0.0,
                 "covered_share": float(chosen["share"].sum()) if len(chosen) else 0.0})
    return PatrolPlan(chosen, cand, meta)


def _zone_frame(zones, by, dosage: Dosage, total_value: float) -> gpd.GeoDataFrame:
    rows = []
    for i, zcells in enumerate(zones, 1):
        sub = by.loc[zcells]
        rows.append({
            "zone": f"Z{i:02d}", "cells": list(zcells), "n_cells": len(zcells),
            "offences": int(sub["offences"].sum()),
            "value": float(sub["count"].sum()),
            "max_bin": int(sub["bin"].max()),
            "max_z": float(sub["z"].max()),
            "geometry": sub.geometry.union_all() if "geometry" in sub else None,
        })
    frame = gpd.GeoDataFrame(rows, columns=["zone", "cells", "n_cells", "offences",
                                            "value", "max_bin", "max_z", "geometry"],
                             geometry="geometry", crs=4326)
    frame["share"] = frame["value"] / total_value if total_value > 0 else 0.0
    frame["hours_per_week"] = dosage.hours_per_week(frame["n_cells"].to_numpy())
    return frame


def _time_column(offences) -> str | None:
    if offences is None:
        return None
    for c in TIME_COLUMNS:
        if c in offences and offences[c].notna().any():
            return c
    return None


def _describe(chosen, offences, months, wards, n_streets, crime, area_name,
              total_off, dosage) -> gpd.GeoDataFrame:
    """Wards, trend, streets, peak times and the rationale of each chosen zone."""
    chosen = chosen.copy()
    n = len(chosen)
    chosen["confidence"] = [confidence_label(b) for b in chosen["max_bin"]]
    chosen["wards"] = _wards_touched(chosen, wards) if n else []
    trend, trend_p = ["n/a"] * n, [np.nan] * n
    street_lists = [[] for _ in range(n)]
    peaks = ["not available: police.uk gives months only"] * n
    if offences is not None and n and "h3" in offences:
        member = {c: i for i, cs in enumerate(chosen["cells"]) for c in cs}
        zi = offences["h3"].map(member)
        inz = offences[zi.notna()].assign(_z=zi[zi.notna()].astype(int))
        if months and len(months) >= 3 and "month" in inz:
            tab = (inz.groupby(["_z", "month"]).size().unstack(fill_value=0)
                   .reindex(index=range(n), columns=months, fill_value=0))
            tau, _, p = mann_kendall(tab.to_numpy())
            trend = [_trend_word(t, q) for t, q in zip(tau, p, strict=True)]
            trend_p = [float(q) for q in p]
        if "location" in inz:
            for i, grp in inz.groupby("_z"):
                top = top_streets(grp, n=n_streets)
                street_lists[i] = [f"{s} ({c})" for s, c in
                                   top.itertuples(index=False)]
        tcol = _time_column(inz)
        if tcol:
            for i, grp in inz.groupby("_z"):
                peaks[i] = _peak(grp[tcol])
    chosen["trend"], chosen["trend_p"] = trend, trend_p
    chosen["streets"] = street_lists
    chosen["peak"] = peaks
    period = f"{months[0]} to {months[-1]}" if months else "the period"
    why = []
    for r in chosen.itertuples(index=False):
        wards_txt = ", ".join(r.wards) if r.wards else "no ward found"
        share = f"{100 * r.share:.1f} %"
        txt = (f"Zone {r.rank} ({wards_txt}): {r.offences} {crime} offences in "
               f"{period}, {share} of {area_name}'s {total_off}, in {r.n_cells} "
               f"cell{'s' if r.n_cells != 1 else ''}; {r.confidence.lower()} "
               f"(highest z {r.max_z:.1f}); trend: {r.trend}; costs "
               f"{r.hours_per_week:.1f} officer-hours a week ({dosage.describe()}).")
        if r.streets:
            txt += f" Top streets: {'; '.join(r.streets)}."
        if not r.peak.startswith("not available"):
            txt += f" Peak: {r.peak}."
        why.append(txt)
    chosen["rationale"] = why
    cols = ["rank", "zone", "cells", "n_cells", "offences", "value", "share",
            "hours_per_week", "confidence", "max_bin", "max_z", "wards", "trend",
            "trend_p", "streets", "peak", "rationale", "geometry"]
    return gpd.GeoDataFrame(chosen[cols], geometry="geometry", crs=4326)


def _trend_word(tau: float, p: float) -> str:
    if p < 0.05:
        return "rising (Mann–Kendall p < 0.05)" if tau > 0 else \
            "falling (Mann–Kendall p < 0.05)"
    return "no clear trend"


def _peak(times: pd.Series) -> str:
    t = pd.to_datetime(times, errors="coerce").dropna()
    if t.empty:
        return "not available: no valid times"
    day = WEEKDAYS[int(t.dt.day_of_week.value_counts().idxmax())]
    block = int((t.dt.hour // 3).value_counts().idxmax())
    hours = f"{3 * block:02d}:00–{3 * block + 3:02d}:00"
    return f"{day}s, {hours} ({len(t)} timed offences)"


def _wards_touched(chosen: gpd.GeoDataFrame, wards) -> list[list[str]]:
    """Ward names each zone overlaps by at least a tenth of a cell."""
    wards = load_wards() if wards is None else wards
    out = []
    zones = chosen.to_crs(BNG)
    # only the wards near the zones are projected (the app plans on every view)
    near = wards.sindex.query(shapely.box(*chosen.total_bounds).buffer(0.002))
    w = wards.iloc[np.sort(near)].to_crs(BNG)
    for geom, n_cells in zip(zones.geometry, chosen["n_cells"], strict=True):
        cand = w[w.intersects(geom)]
        inter = cand.geometry.intersection(geom).area
        min_area = 0.1 * geom.area / max(int(n_cells), 1)
        names = cand.loc[inter >= min_area, "ward_name"]
        out.append(sorted(names.astype(str).tolist()))
    return out
