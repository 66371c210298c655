"""Surge patrol plan: forecast next month's offences per cell, then choose cells under
an officer-hour budget; Gi* labels the evidence behind each choice.

The steps, each a private function over plain arrays (the numeric core,
:func:`select_cells`, takes values, costs and neighbours; :func:`plan_patrols` is its
geo adapter over a :class:`~hotspots.study.Study`):

1. **Forecast.** Next month's offences (harm with a harm-weighted study) per cell,
   from all the study's history, by the method rolling validation chooses
   (:func:`hotspots.stats.forecast.forecast`: exponentially weighted counts or a
   non-negative self-exciting regression). The choice and its scores go into the
   audit trail.
2. **Cost.** Patrol time is a dosage per square kilometre, so a budget buys the same
   officer time at every H3 resolution (:class:`Dosage`: by default Koper-style
   15-minute visits, 4 a day, 7 days a week, one officer, to every
   :data:`BEAT_KM2` of the area — about one res-9 cell, seven res-10 cells; Koper
   1995 found the residual deterrence of a visit peaks at about 15 minutes). Every
   cell costs the mean area of the study grid's cells: H3 cells of one resolution
   differ by a few per cent, patrol time does not, and near-equal costs would turn
   the exact knapsack into a needlessly hard subset-sum problem.
3. **Choice.** An exact 0/1 knapsack (PuLP/CBC, after the Dembo–Hammer reduction
   that fixes the cells whose choice the LP bound already decides) picks the cells
   with the most forecast offences for the hours; ties go to the cheaper plan. The
   whole budget is spent unless nothing else is worth a visit, and then the plan
   says so. ``cluster_first`` takes cells in or next to a Gi* hot spot first and
   fills the rest from the forecast.
4. **Zones.** Chosen cells that touch (H3 ring 1) form a zone — for naming,
   briefing and travel, not an all-or-nothing block. A zone forecast below
   ``min_forecast`` offences a month is dropped and its hours go to cells that
   join a kept zone or are worth a zone alone.
5. **Evidence.** Gi* over a long window (default the last 36 covered months), with
   permutations added until every call is stable
   (:func:`hotspots.stats.stability.stable_gistar`), labels each chosen cell *in a
   95 % hot spot*, *next to a 95 % hot spot* or *busy micro-place (forecast only)*.
   Gi* is the evidence, not the gate: a busy cell with quiet neighbours is never
   excluded for them.
6. **Reasons.** Each zone carries its rank, wards, forecast, last year's offences,
   trend (Mann–Kendall), label, cost, visits, top streets and a plain-English
   rationale. police.uk data has months only, and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from ..areas import BNG, load_wards
from ..config import DEFAULT_SEED
from ..errors import ParameterError, check_choice
from ..months import describe_months, latest_run, month_range
from ..provenance import json_value, synthetic_note
from ..stats.emerging import mann_kendall
from ..stats.forecast import forecast as run_forecast
from ..stats.inference import confidence_label
from ..stats.stability import stable_gistar
from .streets import top_streets

__all__ = [
    "BEAT_KM2",
    "DEFAULT_MIN_FORECAST",
    "LABELS",
    "Dosage",
    "PatrolPlan",
    "Selection",
    "choose_zones",
    "evidence_labels",
    "plan_patrols",
    "select_cells",
]

#: Area one patrol visit covers (km²): the average H3 res-9 cell.
BEAT_KM2 = float(h3.average_hexagon_area(9, unit="km^2"))
#: Fewest forecast offences a month a zone needs.
DEFAULT_MIN_FORECAST = 0.5
#: The evidence labels of a chosen cell, strongest first ({level} is 95, 99, 90).
LABELS = ("in a {level} % hot spot", "next to a {level} % hot spot",
          "busy micro-place (forecast only)")
#: Offences-with-times columns recognised for peak days and hours.
TIME_COLUMNS = ("datetime", "date_time", "occurred")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
            "Sunday")
_LEVEL_PCT = {1: 90, 2: 95, 3: 99}
_ZONE_COLUMNS = [
    "rank", "zone", "cells", "n_cells", "forecast", "value", "share", "offences",
    "hours_per_week", "visits_per_week", "label", "cell_labels", "cell_forecast",
    "confidence", "max_bin", "max_z", "wards", "trend", "trend_p", "streets", "peak",
    "rationale", "geometry"]


@dataclass(frozen=True)
class Dosage:
    """How much patrol an area gets: the unit the budget is spent in.

    Parameters
    ----------
    minutes_per_visit : float
        Length of one visit (Koper: about 15 minutes).
    visits_per_day : float
        Visits a day to each beat of ``beat_km2`` (randomised in practice).
    days_per_week : float
        Days a week the surge runs.
    officers : int
        Officers per visit (2 for double-crewed patrols).
    beat_km2 : float
        Area one visit covers (default :data:`BEAT_KM2`, one res-9 cell), so the
        cost of a cell is proportional to its area whatever the resolution.
    """

    minutes_per_visit: float = 15.0
    visits_per_day: float = 4.0
    days_per_week: float = 7.0
    officers: int = 1
    beat_km2: float = BEAT_KM2

    def __post_init__(self):
        for name in ("minutes_per_visit", "visits_per_day", "days_per_week",
                     "beat_km2"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"dosage {name} must be > 0; got "
                                     f"{getattr(self, name)!r}.")
        if self.days_per_week > 7:
            raise ParameterError(f"dosage days_per_week is at most 7; got "
                                 f"{self.days_per_week!r}.")
        if int(self.officers) < 1:
            raise ParameterError(f"dosage officers must be ≥ 1; got {self.officers!r}.")

    @property
    def hours_per_km2(self) -> float:
        """Officer-hours a week per km² patrolled."""
        return (self.minutes_per_visit * self.visits_per_day * self.days_per_week
                * self.officers / 60.0 / self.beat_km2)

    def hours_per_week(self, area_km2) -> np.ndarray | float:
        """Officer-hours a week to patrol ``area_km2`` km² at this dosage."""
        return np.asarray(area_km2, dtype="float64") * self.hours_per_km2

    def visits_per_week(self, area_km2) -> np.ndarray | float:
        """Visits a week to cover ``area_km2`` km²."""
        return (np.asarray(area_km2, dtype="float64") / self.beat_km2
                * self.visits_per_day * self.days_per_week)

    def describe(self) -> str:
        return (f"{self.minutes_per_visit:g}-minute visits, {self.visits_per_day:g} a "
                f"day, {self.days_per_week:g} days a week, {self.officers} "
                f"officer{'s' if self.officers != 1 else ''} per visit, each visit "
                f"covering {self.beat_km2:.3f} km²")

    def to_dict(self) -> dict:
        return {"minutes_per_visit": self.minutes_per_visit,
                "visits_per_day": self.visits_per_day,
                "days_per_week": self.days_per_week, "officers": int(self.officers),
                "beat_km2": round(self.beat_km2, 6),
                "hours_per_km2_week": round(self.hours_per_km2, 4),
                "hours_per_cell_week": {
                    f"res {r}": round(float(self.hours_per_week(
                        h3.average_hexagon_area(r, unit="km^2"))), 4)
                    for r in (8, 9, 10)}}


@dataclass(frozen=True)
class Selection:
    """What :func:`select_cells` chose.

    Attributes
    ----------
    chosen : ndarray of bool
        Cells chosen.
    zone : ndarray of int
        Zone of each chosen cell (0, 1, … by forecast), −1 for the rest.
    hours : float
        Hours the chosen cells cost.
    budget : float
    stopped : str
        Why the budget was not all spent: ``"budget"`` (it was, up to the last
        cell that fits), ``"min_forecast"`` (no other zone reaches the minimum) or
        ``"nothing"`` (no other cell has a forecast above zero).
    dropped : int
        Cells chosen at first and dropped because their zone fell below the minimum.
    """

    chosen: np.ndarray = field(repr=False)
    zone: np.ndarray = field(repr=False)
    hours: float
    budget: float
    stopped: str
    dropped: int = 0


@dataclass(frozen=True)
class PatrolPlan:
    """The chosen surge zones (``zones``), the candidate cells and why.

    ``zones`` columns: ``rank, zone, cells, n_cells, forecast, value, share,
    offences, hours_per_week, visits_per_week, label, cell_labels, cell_forecast,
    confidence, max_bin, max_z, wards, trend, trend_p, streets, peak, rationale,
    geometry``. ``candidates``: one row per cell with a forecast above zero
    (``h3, forecast, value, hours_per_week, label, bin, z, selected, zone``).
    """

    zones: gpd.GeoDataFrame = field(repr=False)
    candidates: pd.DataFrame = field(repr=False)
    metadata: dict = field(repr=False)

    @property
    def hours(self) -> float:
        return float(self.zones["hours_per_week"].sum()) if len(self.zones) else 0.0

    @property
    def cells(self) -> list[str]:
        """Every chosen cell, zone by zone."""
        return [c for cs in self.zones["cells"] for c in cs]

    def records(self) -> list[dict]:
        """The chosen zones as JSON-ready dicts (no geometry)."""
        cols = [c for c in self.zones.columns if c != "geometry"]
        return [{k: json_value(v) for k, v in row.items()}
                for row in self.zones[cols].to_dict("records")]

    def to_json(self) -> dict:
        return {"zones": self.records(), "hours_per_week": round(self.hours, 2),
                "metadata": json_value(self.metadata)}

    def summary(self) -> list[str]:
        """Human lines: the budget used, each zone's rationale, the notes."""
        m = self.metadata
        lines = [f"{self.hours:.1f} of {m['officer_hours']:g} officer-hours a week "
                 f"planned in {len(self.zones)} zone(s), {len(self.cells)} cell(s); "
                 f"forecast {m['forecast_planned']:.1f} of "
                 f"{m['forecast_total']:.1f} offences next month "
                 f"({100 * m['covered_share']:.1f} %)."]
        lines += list(m["notes"])
        lines += [z["rationale"] for z in self.records()]
        if note := synthetic_note(m.get("synthetic_share", 0.0)):
            lines.append(note)
        return lines


# -- the numeric core ----------------------------------------------------------------
def choose_zones(value, cost, budget: float) -> np.ndarray:
    """0/1 knapsack: which items (cells) to take for the most ``value`` within
    ``budget``.

    Exact: items whose choice the LP bound decides are fixed first (Dembo & Hammer
    1980), the rest go to PuLP/CBC with identical items merged; among plans of
    equal value the cheaper wins. Returns a boolean mask.
    """
    value = np.asarray(value, dtype="float64")
    cost = np.asarray(cost, dtype="float64")
    if not budget > 0:
        raise ParameterError(f"the officer-hour budget must be > 0; got {budget!r}.")
    if (cost <= 0).any():
        raise ParameterError("every cell must cost more than 0 hours.")
    take = np.zeros(len(value), dtype=bool)
    idx = np.flatnonzero((cost <= budget + 1e-9) & (value > 0))
    if not len(idx):
        return take
    if cost[idx].sum() <= budget + 1e-9:
        take[idx] = True
        return take
    fixed_in, free = _reduce(value[idx], cost[idx], budget)
    take[idx[fixed_in]] = True
    left = budget - cost[idx[fixed_in]].sum()
    free = idx[free]
    if len(free) and left > 1e-9:
        take[free] = _cbc(value[free], cost[free], left)
    while cost[take].sum() > budget + 1e-9:  # pragma: no cover - solver tolerance
        worst = np.flatnonzero(take)[np.argmin(value[take] / cost[take])]
        take[worst] = False
    return take


def _reduce(v: np.ndarray, c: np.ndarray, budget: float):
    """Dembo–Hammer reduction: items fixed in, and the items left free.

    With the items by value density, the LP relaxation takes the greedy prefix and
    a fraction of the critical item; its value ``U`` bounds every plan. Forcing an
    item against its LP value lowers the bound by at least ``|v_j − r* c_j|``
    (``r*`` the critical density); when that falls below a plan already in hand
    (the greedy one, ``L``), the item's choice is decided.
    """
    order = np.lexsort((np.arange(len(v)), -v / c))
    cs = np.cumsum(c[order])
    crit = int(np.searchsorted(cs, budget + 1e-9, side="right"))
    if crit >= len(order):  # everything fits (handled by the caller)
        return order, np.zeros(0, dtype=np.int64)
    r = v[order[crit]] / c[order[crit]]
    used = cs[crit - 1] if crit else 0.0
    U = v[order[:crit]].sum() + r * (budget - used)
    # greedy lower bound: the prefix, then any later item that still fits
    L, room = v[order[:crit]].sum(), budget - used
    for j in order[crit:]:
        if c[j] <= room + 1e-9:
            L += v[j]
            room -= c[j]
    gap = np.abs(v - r * c)
    inlp = np.zeros(len(v), dtype=bool)
    inlp[order[:crit]] = True
    decided = U - gap < L - 1e-9
    fixed_in = np.flatnonzero(decided & inlp)
    free = np.flatnonzero(~decided)
    return fixed_in, free


def _cbc(value: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Exact 0/1 knapsack of the undecided items.

    Identical items (same value and cost: cells with the same history) are one
    integer variable bounded by their number, so the solver never searches their
    interchangeable orders; with a single cost the optimum is the best items by
    value, taken directly. Within a group the first items (in input order) go in.
    """
    take = np.zeros(len(value), dtype=bool)
    if np.ptp(cost) <= 1e-12 * cost.max():
        k = int(np.floor(budget / cost[0] + 1e-9))
        order = np.lexsort((np.arange(len(value)), -value))
        take[order[:k]] = True
        return take
    keys, inv, counts = np.unique(np.c_[value, cost], axis=0, return_inverse=True,
                                  return_counts=True)
    inv = inv.ravel()
    prob = pulp.LpProblem("surge_patrols", pulp.LpMaximize)
    x = [pulp.LpVariable(f"g{g}", lowBound=0, upBound=int(c), cat="Integer")
         for g, c in enumerate(counts)]
    scale = 1e-6 * max(value.max(), 1e-12) / max(cost.sum(), 1.0)
    prob += pulp.lpSum((float(v) - scale * float(c)) * xg
                       for (v, c), xg in zip(keys, x, strict=True))
    prob += pulp.lpSum(float(c) * xg for (_, c), xg in zip(keys, x, strict=True)) \
        <= budget
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[status] != "Optimal":  # pragma: no cover - CBC always solves it
        raise ParameterError(f"the patrol knapsack was {pulp.LpStatus[status]}.")
    for g, xg in enumerate(x):
        k = int(round(xg.value() or 0))
        take[np.flatnonzero(inv == g)[:k]] = True
    return take


def select_cells(value, cost, budget: float, W, *, forecast=None,
                 min_forecast: float = 0.0, first=None) -> Selection:
    """Cells to patrol for a budget: exact knapsack, zones, minimum zone forecast.

    Parameters
    ----------
    value : array_like
        What a cell is worth (forecast offences, or harm).
    cost : array_like
        Officer-hours a week a cell costs (> 0).
    budget : float
        Officer-hours a week.
    W : scipy.sparse matrix
        Binary ring-1 neighbours of the cells (zones are connected groups).
    forecast : array_like, optional
        Forecast offences a month per cell, for the zone minimum (default
        ``value``).
    min_forecast : float
        Fewest forecast offences a month a zone needs (0: no minimum).
    first : array_like of bool, optional
        Cells taken first (``cluster_first``: in or next to a hot spot); the rest of
        the budget is filled from the other cells.

    Returns
    -------
    Selection

    Examples
    --------
    Four cells in a row (0–1–2–3), each costing 1 hour; cell 3 is busy but alone:

    >>> import scipy.sparse as sp
    >>> W = sp.diags([1, 1], [-1, 1], shape=(4, 4)).tocsr()
    >>> s = select_cells([0.3, 0.4, 0.0, 2.0], [1, 1, 1, 1], 2, W)
    >>> s.chosen.tolist(), s.zone.tolist()
    ([False, True, False, True], [-1, 1, -1, 0])
    """
    value = np.asarray(value, dtype="float64")
    cost = np.asarray(cost, dtype="float64")
    n = len(value)
    fc = value if forecast is None else np.asarray(forecast, dtype="float64")
    if value.shape != (n,) or cost.shape != (n,) or fc.shape != (n,):
        raise ParameterError("'value', 'cost' and 'forecast' need one entry per cell.")
    if not np.isfinite(value).all() or (value < 0).any():
        raise ParameterError("'value' needs finite, non-negative numbers.")
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise ParameterError(f"the officer-hour budget must be a number; got "
                             f"{budget!r}.") from None
    if not budget > 0:
        raise ParameterError(f"the officer-hour budget must be > 0; got {budget!r}.")
    if (cost <= 0).any():
        raise ParameterError("every cell must cost more than 0 hours.")
    W = sp.csr_matrix(W)
    if W.shape != (n, n):
        raise ParameterError(f"'W' needs shape ({n}, {n}); got {W.shape}.")
    groups = [np.ones(n, dtype=bool)] if first is None else [
        np.asarray(first, dtype=bool), ~np.asarray(first, dtype=bool)]
    chosen = np.zeros(n, dtype=bool)
    banned = np.zeros(n, dtype=bool)
    for group in groups:
        left = budget - cost[chosen].sum()
        if left <= 1e-9:
            break
        pick = group & ~chosen & ~banned
        chosen |= _knap(value, cost, left, pick)
        if min_forecast > 0:
            chosen, banned = _enforce_minimum(value, cost, budget, W, fc, min_forecast,
                                              chosen, banned, pick)
    zone = _zones(chosen, W, fc)
    hours = float(cost[chosen].sum())
    rest = (value > 0) & ~chosen
    fits = rest & (cost <= budget - hours + 1e-9)
    if min_forecast > 0:
        near = np.asarray(W @ chosen.astype("float64")).ravel() > 0
        eligible = fits & ~banned & (near | (fc >= min_forecast))
    else:
        eligible = fits
    if not fits.any() and (budget - hours < cost.min() - 1e-9 or rest.any()):
        stopped = "budget"  # spent: nothing else fits in the hours left
    elif not rest.any():
        stopped = "nothing"
    elif not eligible.any():
        stopped = "min_forecast"
    else:
        stopped = "budget"
    return Selection(chosen, zone, hours, budget, stopped, int(banned.sum()))


def _knap(value, cost, budget, allowed) -> np.ndarray:
    out = np.zeros(len(value), dtype=bool)
    idx = np.flatnonzero(allowed & (value > 0))
    if len(idx) and budget > 1e-9:
        out[idx] = choose_zones(value[idx], cost[idx], budget)
    return out


def _enforce_minimum(value, cost, budget, W, fc, minimum, chosen, banned, allowed):
    """Drop zones below the minimum; refill from cells that keep zones above it.

    A refill cell either touches a kept zone (it joins it) or reaches the minimum
    alone, so every zone stays at or above it; repeated until nothing changes.
    """
    for _ in range(100):
        zone = _zones(chosen, W, fc)
        sums = np.bincount(zone[chosen], weights=fc[chosen]) if chosen.any() else \
            np.zeros(0)
        weak = np.isin(zone, np.flatnonzero(sums < minimum - 1e-12)) & chosen
        chosen = chosen & ~weak
        banned = banned | weak
        near = np.asarray(W @ chosen.astype("float64")).ravel() > 0
        ok = allowed & ~chosen & ~banned & (near | (fc >= minimum))
        left = budget - cost[chosen].sum()
        add = _knap(value, cost, left, ok)
        if not add.any() and not weak.any():
            break
        chosen = chosen | add
    return chosen, banned


def _zones(chosen: np.ndarray, W: sp.csr_matrix, fc: np.ndarray) -> np.ndarray:
    """Connected groups of the chosen cells, numbered by forecast (busiest 0)."""
    zone = np.full(len(chosen), -1, dtype=np.int64)
    idx = np.flatnonzero(chosen)
    if not len(idx):
        return zone
    _, lab = connected_components(W[idx][:, idx], directed=False)
    sums = np.bincount(lab, weights=fc[idx])
    first = np.full(lab.max() + 1, len(idx))
    np.minimum.at(first, lab, np.arange(len(idx)))
    order = np.lexsort((first, -sums))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    zone[idx] = rank[lab]
    return zone


def evidence_labels(bins, W, chosen=None, level: int = 2) -> np.ndarray:
    """The evidence label of each cell from its Gi* bin and its neighbours' bins.

    ``in a 95 % hot spot`` (bin ≥ ``level``), ``next to a 95 % hot spot`` (a ring-1
    neighbour is), else ``busy micro-place (forecast only)``.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> W = sp.diags([1, 1], [-1, 1], shape=(4, 4)).tocsr()
    >>> evidence_labels([2, 0, 0, 3], W).tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['in a 95 % hot spot', 'next to a 95 % hot spot', 'next to a 95 % hot spot',
     'in a 95 % hot spot']
    """
    check_choice("level", level, (1, 2, 3))
    hot = np.asarray(bins) >= level
    near = np.asarray(sp.csr_matrix(W) @ hot.astype("float64")).ravel() > 0
    words = [t.format(level=_LEVEL_PCT[level]) for t in LABELS]
    out = np.where(hot, words[0], np.where(near, words[1], words[2])).astype(object)
    return out if chosen is None else out[np.asarray(chosen)]


# -- the geo adapter -------------------------------------------------------------------
def plan_patrols(
    source,
    *,
    officer_hours: float,
    dosage: Dosage | None = None,
    min_forecast: float = DEFAULT_MIN_FORECAST,
    cluster_first: bool = False,
    evidence_months: int = 36,
    level: int = 2,
    offences: pd.DataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
    streets: int = 3,
    seed: int | None = DEFAULT_SEED,
    max_permutations: int = 99_999,
    forecast_options: dict | None = None,
) -> PatrolPlan:
    """Surge zones for a week's officer-hours, from a forecast of next month.

    Parameters
    ----------
    source : Study, Analysis or DataFrame
        A :class:`~hotspots.study.Study` (all its months are history; Gi* runs on
        its last ``evidence_months``); an :class:`~hotspots.analysis.Analysis`
        (its study is the history, its Gi* bins the evidence); or a cells frame
        with ``h3`` and ``bin`` (the app's analysis) plus ``offences``.
    officer_hours : float
        The weekly budget; the plan never costs more.
    dosage : Dosage, optional
        Visits that cost the hours (default :class:`Dosage`).
    min_forecast : float
        Fewest forecast offences a month a zone needs (0: none).
    cluster_first : bool
        Take cells in or next to a hot spot first, then fill from the forecast.
    evidence_months : int
        Covered months of the Gi* window that labels the cells.
    level : {1, 2, 3}
        Hot-spot confidence of the labels (2: 95 %).
    offences : DataFrame, optional
        With a cells frame: offences with ``h3``, ``month`` (and ``location``).
    wards : GeoDataFrame, optional
        2022 wards (default :func:`hotspots.areas.load_wards`).
    streets : int
        Top streets listed per zone.
    seed : int, optional
        Seed of the Gi* permutations (the calls and the plan do not depend on it).
    max_permutations : int
        Most Gi* permutations tried for stable calls.
    forecast_options : dict, optional
        Passed to :func:`hotspots.stats.forecast.forecast` (e.g. ``half_lives``).

    Returns
    -------
    PatrolPlan
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
    check_choice("level", level, (1, 2, 3))
    if not float(min_forecast) >= 0:
        raise ParameterError(f"min_forecast must be ≥ 0; got {min_forecast!r}.")
    src = _source(source, offences)
    W = src["W"]
    n = len(src["cells"])
    cell_km2 = float(np.mean(src["area_m2"])) / 1e6
    cost = np.full(n, float(dosage.hours_per_week(cell_km2)))
    share = float(min(1.0, max(budget / max(cost.sum(), 1e-12), 1.0 / max(n, 1))))
    fc, fmeta = _forecast(src, W, share, forecast_options)
    bins, z, gmeta = _evidence(src, W, evidence_months, level, seed,
                               max_permutations)
    labels = evidence_labels(bins, W, level=level)
    first = None
    if cluster_first:
        hot = bins >= level
        first = hot | (np.asarray(W @ hot.astype("float64")).ravel() > 0)
    sel = select_cells(fc, cost, budget, W, forecast=fc, min_forecast=min_forecast,
                       first=first)
    cand = _candidates(src, fc, cost, labels, bins, z, sel)
    zones = _zone_frame(src, sel, fc, cost, labels, bins, z, dosage)
    total = float(fc.sum())
    zones["share"] = zones["forecast"] / total if total > 0 else 0.0
    zones = _describe(zones, src, wards, streets, dosage, total)
    notes = _notes(sel, fc, cost, budget, min_forecast, level)
    planned = float(fc[sel.chosen].sum())
    meta = {
        **src["meta"],
        "officer_hours": budget, "hours_per_week": sel.hours,
        "min_forecast": float(min_forecast), "cluster_first": bool(cluster_first),
        "level": level, "dosage": dosage.to_dict(),
        "method": ("exact 0/1 knapsack (Dembo–Hammer reduction, then PuLP/CBC) over "
                   "cells on forecast offences per officer-hour; zones are connected "
                   "groups of the chosen cells"
                   + ("; cells in or next to a hot spot taken first"
                      if cluster_first else "")),
        "forecast": {**fmeta, "unit": "offences next month", "horizon": fmeta.get(
            "target")},
        "evidence": gmeta,
        "forecast_total": total, "forecast_planned": planned,
        "covered_share": planned / total if total > 0 else 0.0,
        "stopped": sel.stopped, "dropped_cells": sel.dropped,
        "candidates": int(len(cand)), "notes": notes,
        "times": ("police.uk gives months only: no peak days or hours"
                  if not _time_column(src["offences"]) else
                  "from the offences' times"),
    }
    return PatrolPlan(zones, cand, meta)


def _source(source, offences) -> dict:
    """The history, grid and evidence behind a plan, whatever it was given as."""
    from ..analysis import Analysis
    from ..grid import Grid
    from ..study import Study

    if isinstance(source, Analysis):
        st = source.study
        out = _from_study(st)
        out["bins"] = source.table["bin"].to_numpy()
        out["z"] = source.table["z"].to_numpy()
        m = source.metadata
        out["evidence_meta"] = {
            "window": [source.start, source.end],
            "from": "the analysis' own Gi* (its months and permutations)",
            "permutations": m.get("permutations"), "seed": m.get("seed"),
            "correction": m.get("correction")}
        out["meta"]["analysis"] = {k: m.get(k) for k in
                                   ("area", "crime", "period", "grid", "weight",
                                    "correction", "permutations", "seed")}
        return out
    if isinstance(source, Study):
        return _from_study(source)
    if not isinstance(source, pd.DataFrame):
        raise ParameterError(
            "plan_patrols needs a Study, an Analysis or a cells frame; got "
            f"{type(source).__name__}.")
    need = {"h3", "bin"}
    if missing := need - set(source.columns):
        raise ParameterError(f"the cells need columns {sorted(missing)}.")
    cells = source["h3"].astype(str).to_numpy()
    grid = Grid.from_cells(cells)
    order = grid.index_of(cells)
    bins = np.zeros(len(grid), dtype=np.int64)
    bins[order] = source["bin"].to_numpy()
    z = np.zeros(len(grid))
    if "z" in source:
        z[order] = source["z"].to_numpy()
    if offences is not None and {"h3", "month"} <= set(offences.columns):
        off = offences.assign(cell=grid.index_of(offences["h3"].astype(str)))
        off = off[off["cell"] >= 0]
        months = sorted(off["month"].dropna().astype(str).unique().tolist())
        t = pd.Index(months).get_indexer(off["month"].astype(str))
        values = np.zeros((len(grid), len(months)))
        np.add.at(values, (off["cell"].to_numpy(), t), 1.0)
    else:
        off = None
        months = []
        count = np.zeros(len(grid))
        count[order] = source.get("count", source.get("offences", 0))
        values = count[:, None]
    return {"cells": grid.cells, "grid": grid, "W": grid.weights(1),
            "area_m2": grid.area_m2, "values": values, "counts": values,
            "months": months, "offences": off, "bins": bins, "z": z,
            "crime": "offences", "area_name": "the area",
            "evidence_meta": {"from": "the cells' Gi* bins as given"},
            "meta": {"synthetic_share": float(off["synthetic"].mean())
                     if off is not None and "synthetic" in off and len(off) else 0.0}}


def _from_study(st) -> dict:
    return {"cells": st.grid.cells, "grid": st.grid, "W": st.grid.weights(1),
            "area_m2": st.grid.area_m2, "values": st.values, "counts": st.counts,
            "months": list(st.months), "offences": st.offences, "study": st,
            "crime": st.crime, "area_name": st.area.name,
            "meta": {"study": st.audit(), "synthetic_share": st.synthetic_share}}


def _forecast(src, W, share, options) -> tuple[np.ndarray, dict]:
    """Next month's forecast per cell and its audit record."""
    values, months = src["values"], src["months"]
    n = len(src["cells"])
    if len(months) < 3:
        per = max(values.shape[1], 1)
        return values.sum(axis=1) / per, {
            "method": "mean of the months given (too few months to forecast)",
            "months": list(months)}
    f = run_forecast(values, months, W, share=share, tiebreak=np.arange(n),
                     **(options or {}))
    meta = f.audit()
    meta["history"] = [months[0], months[-1]]
    meta["history_months"] = len(months)
    return f.values[:, 0], meta


def _evidence(src, W, months_back, level, seed, max_permutations):
    """Gi* bins and z of each cell over the evidence window, stable calls."""
    if "bins" in src:
        return src["bins"], src["z"], src["evidence_meta"]
    st = src["study"]
    window = st.months[-int(months_back):]
    y = st.window(window[0], window[-1]).total()
    if y.sum() <= 0:
        n = len(y)
        return np.zeros(n, dtype=np.int64), np.zeros(n), {
            "window": [window[0], window[-1]], "note": "no offences: no hot spots"}
    g = stable_gistar(y, W, alpha={1: 0.10, 2: 0.05, 3: 0.01}[level], seed=seed,
                      max_permutations=max_permutations)
    meta = {"window": [window[0], window[-1]], "months": len(window),
            "method": "Gi* (ring 1), FDR, permutations added until every call is "
                      "stable", **g.to_dict(), "why": g.summary()}
    return g.bins, g.gi.z, meta


def _candidates(src, fc, cost, labels, bins, z, sel) -> pd.DataFrame:
    keep = fc > 0
    return pd.DataFrame({
        "h3": src["cells"][keep], "forecast": fc[keep], "value": fc[keep],
        "hours_per_week": cost[keep], "label": labels[keep], "bin": bins[keep],
        "z": z[keep], "selected": sel.chosen[keep], "zone": sel.zone[keep],
    }).sort_values(["forecast", "h3"], ascending=[False, True]).reset_index(drop=True)


def _zone_frame(src, sel, fc, cost, labels, bins, z, dosage) -> gpd.GeoDataFrame:
    cells = src["cells"]
    grid = src["grid"]
    rows = []
    n_zones = int(sel.zone.max()) + 1 if sel.chosen.any() else 0
    polys = grid.polygons() if n_zones else None
    counts = src["counts"]
    last12 = counts[:, -12:].sum(axis=1) if counts.shape[1] else np.zeros(len(cells))
    for zi in range(n_zones):
        idx = np.flatnonzero(sel.zone == zi)
        idx = idx[np.lexsort((cells[idx], -fc[idx]))]
        strongest = min(idx, key=lambda i: _label_rank(labels[i]))
        rows.append({
            "zone": f"Z{zi + 1:02d}", "cells": [str(c) for c in cells[idx]],
            "n_cells": len(idx), "forecast": float(fc[idx].sum()),
            "value": float(fc[idx].sum()), "offences": int(last12[idx].sum()),
            "hours_per_week": float(cost[idx].sum()),
            "visits_per_week": float(dosage.visits_per_week(
                len(idx) * np.mean(grid.area_m2) / 1e6)),
            "label": str(labels[strongest]),
            "cell_labels": [str(labels[i]) for i in idx],
            "cell_forecast": [round(float(fc[i]), 4) for i in idx],
            "max_bin": int(bins[idx].max()), "max_z": float(z[idx].max()),
            "_idx": idx,
            "geometry": shapely.union_all(polys[idx]),
        })
    cols = ["zone", "cells", "n_cells", "forecast", "value", "offences",
            "hours_per_week", "visits_per_week", "label", "cell_labels",
            "cell_forecast", "max_bin", "max_z", "_idx", "geometry"]
    frame = gpd.GeoDataFrame(rows, columns=cols, geometry="geometry", crs=4326)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def _label_rank(label: str) -> int:
    return 0 if label.startswith("in a") else 1 if label.startswith("next") else 2


#: A plan choosing more than this share of the area's cells is said to be wide.
WIDE_SHARE = 0.5


def _notes(sel: Selection, fc, cost, budget, minimum, level) -> list[str]:
    notes = []
    left = budget - sel.hours
    if not sel.chosen.any() and not (fc > 0).any():
        notes.append("no offences in the history: nothing to forecast, nothing to "
                     "surge")
    elif not sel.chosen.any() and cost[fc > 0].min() > budget:
        notes.append(f"the budget of {budget:g} officer-hours is below the cheapest "
                     f"cell ({cost[fc > 0].min():.1f} h a week)")
    if left > 0.05 * budget + 1e-9 or (sel.stopped != "budget" and left > 1e-6):
        if sel.stopped == "min_forecast":
            why = (f"no other zone of touching cells is forecast ≥ {minimum:g} "
                   "offences a month")
        elif sel.stopped == "nothing":
            why = "no other cell is forecast any offence"
        else:
            why = "the cells left cost more than the hours left"
        notes.append(f"{sel.hours:.0f} of {budget:g} h used: {why}")
    share = sel.chosen.mean() if len(sel.chosen) else 0.0
    if share > WIDE_SHARE:
        notes.append(f"the plan covers {share:.0%} of the area's cells: a budget "
                     "this large spreads patrols over most of the area, not its "
                     "hot spots (a smaller budget, or a larger area, targets them)")
    return notes


def _time_column(offences) -> str | None:
    if offences is None:
        return None
    for c in TIME_COLUMNS:
        if c in offences and offences[c].notna().any():
            return c
    return None


def _last_months(months: list[str]) -> str:
    """How a zone's "offences in ..." names its months: the last 12 months with
    data, which across a gap are not the 12 calendar months to the last.

    >>> _last_months([f"2022-{m:02d}" for m in range(1, 13)])
    'the 12 months to 2022-12'
    >>> _last_months(["2020-12", "2021-01", "2022-01"])
    'the last 3 months with data (2020-12..2021-01, 2022-01)'
    """
    recent = months[-12:]
    if not recent:
        return "the period"
    if len(latest_run(recent)) == 12:
        return f"the 12 months to {recent[-1]}"
    return f"the last {len(recent)} months with data ({describe_months(recent)})"


#: Months a zone's trend reads (the last ones with data, in a row), and fewest.
TREND_MONTHS, MIN_TREND_MONTHS = 36, 12


def _gaps(months: list[str]) -> list[str]:
    """The months missing between the first and last of ``months``."""
    have = set(months)
    return [m for m in month_range(months[0], months[-1]) if m not in have]


def _describe(chosen, src, wards, n_streets, dosage, total) -> gpd.GeoDataFrame:
    """Wards, trend, streets, peak times and the rationale of each zone."""
    chosen = chosen.copy()
    n = len(chosen)
    chosen["confidence"] = [confidence_label(b) for b in chosen["max_bin"]]
    chosen["wards"] = _wards_touched(chosen, wards) if n else []
    trend, trend_p = ["n/a"] * n, [np.nan] * n
    street_lists = [[] for _ in range(n)]
    peaks = ["not available: police.uk gives months only"] * n
    counts = src["counts"]
    months = src["months"]
    # the last months in a row: across a gap, a trend test (which reads months
    # in order) would put the months either side of it next to each other
    run = min(len(latest_run(list(months))), TREND_MONTHS)
    if n and run >= MIN_TREND_MONTHS and counts.shape[1] >= run:
        recent = counts[:, -run:]
        tab = np.array([recent[idx].sum(axis=0) for idx in chosen["_idx"]])
        tau, _, p = mann_kendall(tab)
        trend = [_trend_word(t, q) for t, q in zip(tau, p, strict=True)]
        trend_p = [float(q) for q in p]
    elif n and len(months) >= MIN_TREND_MONTHS:  # a gap too recent for a trend
        trend = [f"n/a (no data {describe_months(_gaps(list(months)))}: fewer than "
                 f"{MIN_TREND_MONTHS} months in a row since)"] * n
    off = src["offences"]
    if n and off is not None and len(off) and "cell" in off:
        member = np.full(len(src["cells"]), -1)
        for i, idx in enumerate(chosen["_idx"]):
            member[idx] = i
        recent_months = set(months[-12:])
        zi = member[off["cell"].to_numpy()]
        inz = off[(zi >= 0) & off["month"].isin(recent_months).to_numpy()].assign(
            _z=zi[(zi >= 0) & off["month"].isin(recent_months).to_numpy()])
        if "location" in inz and inz["location"].notna().any():
            top = top_streets(inz, n=n_streets, by="_z")
            for i, grp in top.groupby("_z"):
                street_lists[int(i)] = [f"{s} ({c})" for s, c in
                                        grp[["street", "offences"]].itertuples(
                                            index=False)]
        tcol = _time_column(inz)
        if tcol:
            for i, grp in inz.groupby("_z"):
                peaks[int(i)] = _peak(grp[tcol])
    chosen["trend"], chosen["trend_p"] = trend, trend_p
    chosen["streets"] = street_lists
    chosen["peak"] = peaks
    crime, area = src["crime"], src["area_name"]
    last = _last_months(list(months))
    why = []
    for r in chosen.itertuples(index=False):
        wards_txt = ", ".join(r.wards) if r.wards else "no ward found"
        kinds = pd.Series(r.cell_labels).value_counts()
        evidence = "; ".join(f"{v} cell{'s' if v != 1 else ''} {k}"
                             for k, v in kinds.items())
        txt = (f"Zone {r.rank} ({wards_txt}): forecast {r.forecast:.1f} {crime} "
               f"offences next month ({100 * r.share:.1f} % of {area}'s "
               f"{total:.0f}), {r.offences} in {last}, in {r.n_cells} "
               f"cell{'s' if r.n_cells != 1 else ''}; {evidence} (highest Gi* z "
               f"{r.max_z:.1f}); trend: {r.trend}; costs {r.hours_per_week:.1f} "
               f"officer-hours a week ({dosage.describe()}).")
        if r.streets:
            txt += f" Top streets: {'; '.join(r.streets)}."
        if not r.peak.startswith("not available"):
            txt += f" Peak: {r.peak}."
        why.append(txt)
    chosen["rationale"] = why
    return gpd.GeoDataFrame(chosen[_ZONE_COLUMNS], geometry="geometry", crs=4326)


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
    near = wards.sindex.query(shapely.box(*chosen.total_bounds).buffer(0.002))
    w = wards.iloc[np.sort(near)].to_crs(BNG)
    for geom, n_cells in zip(zones.geometry, chosen["n_cells"], strict=True):
        cand = w[w.intersects(geom)]
        inter = cand.geometry.intersection(geom).area
        min_area = 0.1 * geom.area / max(int(n_cells), 1)
        names = cand.loc[inter >= min_area, "ward_name"]
        out.append(sorted(names.astype(str).tolist()))
    return out
