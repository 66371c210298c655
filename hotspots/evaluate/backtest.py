"""Backtest: would the surge plan have been in the right places, month by month?

Rolling origin, out of sample, on real months only. The study is read **once**
(:class:`~hotspots.study.Study`, every covered month; a month no file covers is
missing, never zero). Every covered month after the first ``train`` is a test month
and is scored; for each, every method ranks cells using only the months before it
(all of them: the history grows), at the plan's resolution:

``plan``
    The surge plan (:func:`~hotspots.plan.patrols.select_cells` on the forecast of
    :func:`~hotspots.stats.forecast.forecast`: method and parameters chosen by
    rolling validation on the months before the test month).
``last12``, ``last_month``, ``all_history``
    The naive rankings: offences in the last 12 covered months, in the last
    covered month, and in every month before.
``kde``
    Quartic kernel density of the last ``kde_months`` covered months' offence
    points at the cell centres (CrimeStat / ArcGIS Kernel Density), bandwidth
    chosen from ``bandwidths`` by the offences it captured over the previous
    ``validation`` months (training months only).
``gistar``
    Cells by Gi* z over the last ``gistar_months`` covered months.

**Equal area and equal officer-hours.** The budget is an area share
(``area_share``, default 2 %) or officer-hours (``officer_hours`` at the plan's
dosage); cells of one resolution cost the same, so both fix a number of cells.
The plan spends it (it may stop short when ``min_forecast`` is set and nothing else
is worth a visit); every baseline then takes as many cells as the plan did — equal
area and equal hours — or the whole budget in a month without a plan. Ties in a
ranking are broken by a seeded random order (``seed``, month), so no method gains
from cell order; ``tie_seeds`` repeats the scoring over other seeds.

**Scores.** For a method *m* and month *t* with ``N_t`` offences (or harm), hits
``n_mt`` and area share ``a_mt`` of the chosen cells: hit rate ``n_mt / N_t``, PAI
``(n_mt / N_t) / a_mt`` (Chainey, Tompson & Uhlig 2008; cell areas from H3). A
month without a plan scores 0 for the plan and is counted, never dropped, at the
area share it was given. Pooled:
``PAI_m = Σ_t n_mt / Σ_t N_t a_mt``. The plan *wins* a month against a baseline
when it hits at least as many; against the **best naive** baseline when it hits at
least the most of ``last12``, ``last_month`` and ``all_history`` that month. The
**ratio** is the plan's pooled PAI over the best naive method's pooled PAI, with a
90 % moving-block bootstrap interval over the test months (blocks of ``block``
months, the best naive method re-chosen in each resample; Künsch 1989).

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping for
predicting spatial patterns of crime. *Security Journal* 21, 4–28.
Künsch, H. R. (1989). The jackknife and the bootstrap for general stationary
observations. *Annals of Statistics* 17(3), 1217–1241.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..areas import Area, bng_xy, resolve_area
from ..config import DEFAULT_SEED
from ..errors import ParameterError, check_choice
from ..months import describe_months, month_index
from ..plan.patrols import Dosage, evidence_labels, select_cells
from ..provenance import json_value, synthetic_note
from ..stats.forecast import forecast as run_forecast
from ..stats.forecast import top_k
from ..stats.gistar import gistar
from ..stats.stability import stable_gistar

__all__ = [
    "BANDWIDTHS",
    "METHODS",
    "NAIVE",
    "BacktestResult",
    "backtest",
    "block_bootstrap",
    "pooled_pai",
    "quartic_kde",
    "score",
    "top_n",
    "win_rate",
]

#: Methods scored, the plan first.
METHODS = ("plan", "last12", "last_month", "all_history", "kde", "gistar")
#: The naive baselines (counts of past offences).
NAIVE = ("last12", "last_month", "all_history")
#: Quartic kernel bandwidths (m) the KDE baseline chooses from.
BANDWIDTHS = (100.0, 150.0, 200.0, 300.0, 400.0)


@dataclass(frozen=True)
class BacktestResult:
    """Per-month scores (``months``: one row per month and method), the summary and
    the audit trail."""

    months: pd.DataFrame = field(repr=False)
    summary_: dict
    metadata: dict = field(repr=False)

    def to_json(self) -> dict:
        out = []
        for month, grp in self.months.groupby("month", sort=True):
            g = grp.set_index("method")
            first = g.loc["plan"]
            out.append({
                "month": month,
                "plan_cells": int(first["cells"]),
                "area_share": _f(first["area_share"], 6),
                "offences": _f(first["offences"]),
                "hits": {m: _f(g.at[m, "hits"]) for m in METHODS},
                "pai": {m: _f(g.at[m, "pai"]) for m in METHODS},
                "hit_rate": {m: _f(g.at[m, "hit_rate"]) for m in METHODS},
                "area_shares": {m: _f(g.at[m, "area_share"], 6) for m in METHODS},
                "best_naive": first["best_naive"],
                "plan_wins": bool(first["plan_wins"]),
                "forecast": {"method": first["forecast_method"],
                             "half_life": _f(first["half_life"])},
                "kde_bandwidth_m": _f(first["kde_bandwidth"]),
            })
        return json_value({"months": out, "summary": self.summary_,
                           "metadata": self.metadata})

    @property
    def overall(self) -> dict:
        """Pooled figures per method in the layout of earlier releases
        (``{"methods": {m: {"pai", "hit_rate"}}, "ranking_by_pai"}``)."""
        s = self.summary_
        methods = {m: {"pai": s["pooled_pai"][m], "hit_rate": s["pooled_hit_rate"][m]}
                   for m in METHODS}
        ranked = sorted(METHODS, key=lambda m: -(methods[m]["pai"] or 0))
        return {"methods": methods, "ranking_by_pai": ranked}

    def summary(self) -> list[str]:
        """Human lines: the pooled table, the win rates and the interval."""
        s, m = self.summary_, self.metadata
        lines = [
            f"backtest: {m['crime']} in {m['area']['name']}, H3 res {m['resolution']}, "
            f"{m['budget']['text']}; {s['months']} test months "
            f"{m['test_months'][0]}…{m['test_months'][1]}, a plan in "
            f"{s['months_with_plan']}.",
        ]
        for meth in METHODS:
            pai = s["pooled_pai"][meth]
            hr = s["pooled_hit_rate"][meth]
            win = s["win_rate"].get(meth)
            lines.append(
                f"  {meth:<12} pooled PAI {_fmt(pai, 2):>6}  hit rate "
                f"{_fmt(None if hr is None else 100 * hr, 1):>5} %"
                + ("" if win is None else
                   f"  plan ≥ it in {100 * win:.0f} % of months"))
        lo, hi = s["ratio_ci90"]
        v = s["vs_best_naive"]
        lines.append(
            f"Against the best naive baseline each month: won {v['won']}, tied "
            f"{v['tied']}, lost {v['lost']} of {s['months']} (plan ≥ it in "
            f"{100 * s['win_rate_vs_best_naive']:.0f} %); pooled PAI ratio "
            f"plan / {s['best_naive']} "
            f"{_fmt(s['ratio'], 3)} (90 % block-bootstrap interval {_fmt(lo, 3)}–"
            f"{_fmt(hi, 3)}).")
        tb = s["tie_break"]
        lines.append(
            f"Tie-break sensitivity over {len(tb['seeds'])} seeds: win rate "
            f"{100 * tb['win_rate_vs_best_naive'][0]:.0f}–"
            f"{100 * tb['win_rate_vs_best_naive'][1]:.0f} %, ratio "
            f"{_fmt(tb['ratio'][0], 3)}–{_fmt(tb['ratio'][1], 3)}.")
        gap = [x for x in m.get("missing_months") or []
               if m["test_months"][0] <= x <= m["test_months"][1]]
        if gap:  # covered months only are tested: say which were not
            lines.append(f"Months without data, not tested (never read as zero): "
                         f"{describe_months(gap)}.")
        before = [x for x in m.get("missing_months") or []
                  if x < m["test_months"][0]]
        if before:  # the history the plans and baselines learn from skips them
            lines.append(f"Months without data in the history, left out: "
                         f"{describe_months(before)}; 'last12' and 'last month' "
                         "are the last months with data.")
        if note := synthetic_note(m["synthetic_share"]):
            lines.append(note)
        return lines


def _f(v, nd: int = 4):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if not np.isfinite(v) else round(v, nd)


def _fmt(v, nd):
    return "n/a" if v is None else f"{v:.{nd}f}"


# -- numeric pieces --------------------------------------------------------------------
def quartic_kde(points_xy: np.ndarray, at_xy: np.ndarray, bandwidth: float,
                weights=None) -> np.ndarray:
    """Quartic (biweight) kernel density of ``points_xy`` at ``at_xy`` (per m²).

    ``K(d) = 3 / (π h²) · (1 − d²/h²)²`` for ``d < h``, the kernel of most crime
    mapping software (CrimeStat, ArcGIS Kernel Density).
    """
    at_xy = np.asarray(at_xy, dtype="float64").reshape(-1, 2)
    pts = np.asarray(points_xy, dtype="float64").reshape(-1, 2)
    K = _kernel_matrix(at_xy, pts, (float(bandwidth),))[0]
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, "float64")
    return np.asarray(K @ w).ravel()


def _kernel_matrix(at_xy, pts_xy, bandwidths) -> list[sp.csr_matrix]:
    """Sparse quartic kernel weights (cells × points) for each bandwidth."""
    n, m = len(at_xy), len(pts_xy)
    if not m or not n:
        return [sp.csr_matrix((n, m)) for _ in bandwidths]
    hmax = max(bandwidths)
    pairs = cKDTree(at_xy).sparse_distance_matrix(cKDTree(pts_xy), hmax,
                                                  output_type="ndarray")
    i, j, d = pairs["i"], pairs["j"], pairs["v"]
    out = []
    for h in bandwidths:
        keep = d < h
        u = 1.0 - (d[keep] / h) ** 2
        out.append(sp.csr_matrix((3.0 / (np.pi * h * h) * u * u, (i[keep], j[keep])),
                                 shape=(n, m)))
    return out


def top_n(score_values, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``n`` highest scores; ties broken by a random order."""
    score_values = np.asarray(score_values, dtype="float64")
    return top_k(score_values, n, rng.permutation(len(score_values)))


def score(chosen, test_counts, areas) -> tuple[float, float, float]:
    """Hits, hit rate and PAI of the cells ``chosen`` (indices) on a test month.

    A month with no offences has no hit rate or PAI (NaN); an empty choice scores
    0 hits and PAI 0.
    """
    test_counts = np.asarray(test_counts, dtype="float64")
    areas = np.asarray(areas, dtype="float64")
    chosen = np.asarray(chosen, dtype=np.int64)
    total = test_counts.sum()
    hits = float(test_counts[chosen].sum())
    a_share = areas[chosen].sum() / areas.sum()
    if total <= 0:
        return hits, float("nan"), float("nan")
    rate = hits / total
    pai = rate / a_share if a_share > 0 else 0.0
    return hits, float(rate), float(pai)


def pooled_pai(hits, offences, area_share) -> float:
    """``Σ hits / Σ (offences × area share)`` over months.

    Examples
    --------
    >>> pooled_pai([3, 0], [10, 20], [0.1, 0.1])
    1.0
    """
    hits = np.asarray(hits, dtype="float64")
    den = (np.asarray(offences, "float64") * np.asarray(area_share, "float64")).sum()
    return float(hits.sum() / den) if den > 0 else float("nan")


def win_rate(plan_hits, other_hits) -> float:
    """Share of months the plan hit at least as many as the other method.

    Examples
    --------
    >>> win_rate([3, 0, 5], [3, 1, 2])
    0.6666666666666666
    """
    a, b = np.asarray(plan_hits, "float64"), np.asarray(other_hits, "float64")
    return float((a >= b).mean()) if len(a) else float("nan")


def block_bootstrap(hits: dict, den: np.ndarray, *, naive=NAIVE, block: int = 3,
                    reps: int = 2000, seed: int = DEFAULT_SEED,
                    level: float = 0.90) -> tuple[float, float]:
    """Moving-block bootstrap interval of pooled PAI(plan) / best naive pooled PAI.

    ``hits`` maps method to per-month hits; ``den[m]`` maps method to per-month
    ``offences × area share``. Blocks of ``block`` consecutive test months are
    drawn with replacement until the series is as long as the original.
    """
    T = len(hits["plan"])
    if T == 0:
        return float("nan"), float("nan")
    b = int(min(max(block, 1), T))
    rng = np.random.default_rng(seed)
    n_blocks = -(-T // b)
    starts = rng.integers(0, T - b + 1, size=(reps, n_blocks))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(reps, -1)[:, :T]
    H = {m: np.asarray(v, "float64")[idx].sum(axis=1) for m, v in hits.items()}
    D = {m: np.asarray(den[m], "float64")[idx].sum(axis=1) for m in hits}
    with np.errstate(divide="ignore", invalid="ignore"):
        plan = H["plan"] / D["plan"]
        best = np.max([H[m] / D[m] for m in naive], axis=0)
        ratio = plan / best
    ratio = ratio[np.isfinite(ratio)]
    if not len(ratio):
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(ratio, a)), float(np.quantile(ratio, 1 - a))


# -- the public function ---------------------------------------------------------------
def backtest(
    area: Area | str,
    crime: str = "robbery",
    start: str | None = None,
    end: str | None = None,
    *,
    train: int = 12,
    res: int = 10,
    area_share: float | None = None,
    officer_hours: float | None = None,
    dosage: Dosage | None = None,
    min_forecast: float = 0.0,
    cluster_first: bool = False,
    weight: str = "count",
    bandwidths=BANDWIDTHS,
    kde_months: int = 12,
    gistar_months: int = 36,
    validation: int = 12,
    seed: int = DEFAULT_SEED,
    tie_seeds: int = 5,
    block: int = 3,
    reps: int = 2000,
    forecast_options: dict | None = None,
    store=None,
    study=None,
    progress=None,
) -> BacktestResult:
    """Rolling-origin backtest of the surge plan against simpler choices.

    Parameters
    ----------
    area, crime
        As for :class:`~hotspots.study.Study`.
    start, end : str, optional
        First and last months of data used (default all the data covers). Test
        months are the covered months after the first ``train``.
    train : int
        Covered months before the first test month.
    res : int
        H3 resolution of the plan and every baseline (10, 9 or 8).
    area_share : float, optional
        Budget as a share of the area (default 0.02 when neither is given).
    officer_hours : float, optional
        Budget as officer-hours a week at ``dosage``.
    dosage : Dosage, optional
        The plan's patrol dosage (default :class:`~hotspots.plan.patrols.Dosage`).
    min_forecast : float
        The plan's fewest forecast offences a month per zone (default 0: the whole
        budget, for scoring at equal area).
    cluster_first : bool
        The plan takes cells in or next to a Gi* hot spot first (one stable Gi*
        per test month, slower).
    weight : {'count', 'harm'}
        Score offences or harm.
    bandwidths : sequence of float
        KDE bandwidths (m) to choose from.
    kde_months, gistar_months : int
        Covered months behind the KDE and Gi* baselines.
    validation : int
        Months before a test month that choose the KDE bandwidth.
    seed : int
        Seeds the tie-breaking of rankings and the bootstrap.
    tie_seeds : int
        Seeds the scoring is repeated with (tie-break sensitivity).
    block, reps : int
        Block length (months) and replicates of the bootstrap.
    forecast_options : dict, optional
        Passed to :func:`hotspots.stats.forecast.forecast`.
    store : Store, optional
    study : Study, optional
        A loaded study to use instead of reading the store.
    progress : callable, optional
        Called with the months done and the total.
    """
    from ..study import Study

    if area_share is not None and officer_hours is not None:
        raise ParameterError("give 'area_share' or 'officer_hours', not both.")
    if area_share is None and officer_hours is None:
        area_share = 0.02
    if area_share is not None and not 0 < float(area_share) < 1:
        raise ParameterError(f"area_share must be in (0, 1); got {area_share!r}.")
    if officer_hours is not None and not float(officer_hours) > 0:
        raise ParameterError(f"officer_hours must be > 0; got {officer_hours!r}.")
    if isinstance(train, bool) or not isinstance(train, int | np.integer) or train < 1:
        raise ParameterError(f"train must be ≥ 1 month; got {train!r}.")
    if isinstance(tie_seeds, bool) or not isinstance(tie_seeds, int | np.integer) \
            or tie_seeds < 1:
        raise ParameterError(f"tie_seeds must be ≥ 1; got {tie_seeds!r}.")
    if not float(min_forecast) >= 0:
        raise ParameterError(f"min_forecast must be ≥ 0; got {min_forecast!r}.")
    from ..plan.tasking import PLAN_RESOLUTIONS

    check_choice("res", res, PLAN_RESOLUTIONS)  # the plans it scores are made there
    bandwidths = tuple(float(b) for b in bandwidths)
    if not bandwidths or min(bandwidths) <= 0:
        raise ParameterError(f"bandwidths must be > 0; got {bandwidths!r}.")
    dosage = dosage or Dosage()
    if study is None:
        area = resolve_area(area) if not isinstance(area, Area) else area
        study = Study.load(area, crime, start, end, res=res, weight=weight,
                           store=store, fields=("month", "lon", "lat", "crime_type"))
    st = study
    months = list(st.months)
    if len(months) <= train:
        raise ParameterError(
            f"a backtest needs more than {train} covered months; "
            f"{months[0]}..{months[-1]} has {len(months)}.")
    tests = months[train:]
    n = len(st.grid)
    cell_km2 = float(np.mean(st.grid.area_m2)) / 1e6
    cost_cell = float(dosage.hours_per_week(cell_km2))
    if area_share is not None:
        k_nom = max(1, int(round(float(area_share) * n)))
        budget = k_nom * cost_cell
        btext = f"{100 * float(area_share):g} % of the area ({k_nom} cells)"
    else:
        budget = float(officer_hours)
        k_nom = int(budget // cost_cell)
        btext = (f"{budget:g} officer-hours a week ({k_nom} cells at "
                 f"{cost_cell:.2f} h each)")
    if k_nom < 1:
        raise ParameterError(
            f"the budget buys no cell: one res-{st.res} cell costs {cost_cell:.2f} "
            "officer-hours a week.")
    ctx = _Context(st, months, tests, dosage, cost_cell, budget, k_nom,
                   float(min_forecast), bool(cluster_first), bandwidths,
                   int(kde_months), int(gistar_months), int(validation), seed,
                   forecast_options or {}, progress)
    frame, meta_months = ctx.run()
    summary = _summarise(frame, seed, block, reps)
    summary["tie_break"] = _tie_break(ctx, frame, seed, tie_seeds)
    meta = {
        "area": st.area.to_dict(), "crime": st.crime, "weight": st.weight,
        "resolution": st.res, "grid_cells": n,
        "data": [months[0], months[-1]], "missing_months": list(st.missing),
        "train_months": int(train), "test_months": [tests[0], tests[-1]],
        "n_tests": len(tests), "methods": list(METHODS), "naive": list(NAIVE),
        "budget": {"area_share": None if area_share is None else float(area_share),
                   "officer_hours": None if officer_hours is None else
                   float(officer_hours), "hours_per_cell_week": cost_cell,
                   "cells": k_nom, "text": btext},
        "plan": {"min_forecast": float(min_forecast),
                 "cluster_first": bool(cluster_first), "dosage": dosage.to_dict()},
        "kde": {"bandwidths_m": list(bandwidths), "months": int(kde_months),
                "chosen_by": f"offences captured over the previous {validation} "
                             "covered months"},
        "gistar": {"months": int(gistar_months), "ranking": "analytic z"},
        "forecast": meta_months,
        "seed": seed,
        "scoring": ("every covered month after the training months is a test month; "
                    "each method ranks cells from the months before it only; the "
                    "baselines take as many cells as the plan (equal area and "
                    "officer-hours), the whole budget in a month without a plan, "
                    "which scores 0 for the plan; ties broken at random (seeded)"),
        "synthetic_share": round(st.synthetic_share, 4),
        "study": st.audit(),
    }
    return BacktestResult(frame, summary, meta)


class _Context:
    """The arrays of one backtest and its month loop."""

    def __init__(self, st, months, tests, dosage, cost_cell, budget, k_nom,
                 min_forecast, cluster_first, bandwidths, kde_months, gistar_months,
                 validation, seed, fopts, progress):
        self.st, self.months, self.tests = st, months, tests
        self.dosage, self.cost_cell, self.budget = dosage, cost_cell, budget
        self.k_nom, self.min_forecast = k_nom, min_forecast
        self.cluster_first = cluster_first
        self.bandwidths, self.kde_months = bandwidths, kde_months
        self.gistar_months, self.validation = gistar_months, validation
        self.seed, self.fopts, self.progress = seed, fopts, progress
        self.n = len(st.grid)
        self.W = st.grid.weights(1)
        self.areas = st.grid.area_m2
        self.values = st.values
        self.col = {m: j for j, m in enumerate(months)}
        self.cum = np.concatenate([np.zeros((self.n, 1)),
                                   np.cumsum(self.values, axis=1)], axis=1)

    # rankings at a test month (column j: only columns < j are used) -------------
    def _window(self, j: int, k: int) -> np.ndarray:
        lo = max(0, j - k)
        return self.cum[:, j] - self.cum[:, lo]

    def _kde_setup(self) -> None:
        st = self.st
        off = st.offences
        x, y = bng_xy(off["lon"].to_numpy(), off["lat"].to_numpy())
        xy = np.round(np.c_[x, y], 1)
        ok = np.isfinite(xy).all(axis=1)
        pts, inv = np.unique(xy[ok], axis=0, return_inverse=True)
        t = pd.Index(self.months).get_indexer(off["month"].to_numpy()[ok])
        w = np.ones(int(ok.sum()))
        if st.weight == "harm" and st.harm is not None:
            w = st.harm.of(off["crime_type"].to_numpy()[ok])
        M = sp.csr_matrix((w, (inv.ravel(), t)), shape=(len(pts), len(self.months)))
        self.pcum = np.concatenate([np.zeros((len(pts), 1)),
                                    np.cumsum(M.toarray(), axis=1)], axis=1) \
            if len(pts) * len(self.months) <= 60_000_000 else None
        self.M = M.tocsc()
        cx, cy = bng_xy(st.grid.lon, st.grid.lat)
        self.K = _kernel_matrix(np.c_[cx, cy], pts, self.bandwidths)

    def _kde_surface(self, j: int, b: int) -> np.ndarray:
        lo = max(0, j - self.kde_months)
        if self.pcum is not None:
            w = self.pcum[:, j] - self.pcum[:, lo]
        else:
            w = np.asarray(self.M[:, lo:j].sum(axis=1)).ravel()
        return np.asarray(self.K[b] @ w).ravel()

    def _gistar_z(self, j: int) -> np.ndarray:
        y = self._window(j, self.gistar_months)
        if y.sum() <= 0:
            return np.zeros(self.n)
        return gistar(y, self.W, permutations=0).z

    def run(self) -> tuple[pd.DataFrame, list]:
        n = self.n
        self._kde_setup()
        share = min(1.0, self.k_nom / n)
        f = run_forecast(self.values, self.months, self.W, targets=self.tests,
                         share=share, tiebreak=np.arange(n), **self.fopts)
        # the KDE bandwidth: capture at every origin, chosen on earlier ones
        first = max(1, self.col[self.tests[0]] - self.validation)
        kde_cap = {}
        for j in range(first, len(self.months)):
            y = self.values[:, j]
            kde_cap[j] = [float(y[top_k(self._kde_surface(j, b), self.k_nom,
                                        np.arange(n))].sum())
                          for b in range(len(self.bandwidths))]
        rows = []
        self.picks = []  # per month: the ranking scores, to re-score other seeds
        fmeta = []
        for i, t in enumerate(self.tests):
            j = self.col[t]
            fc = f.values[:, i]
            first_mask = None
            if self.cluster_first:
                y36 = self._window(j, self.gistar_months)
                g = stable_gistar(y36, self.W, seed=self.seed) if y36.sum() > 0 \
                    else None
                if g is not None:
                    lab = evidence_labels(g.bins, self.W)
                    first_mask = np.array([not s.startswith("busy") for s in lab])
            sel = select_cells(fc, np.full(n, self.cost_cell), self.budget, self.W,
                               forecast=fc, min_forecast=self.min_forecast,
                               first=first_mask)
            plan_idx = np.flatnonzero(sel.chosen)
            k = len(plan_idx) if len(plan_idx) else self.k_nom
            prev = [v for v in range(first, j) if v in kde_cap][-self.validation:]
            tot = np.sum([kde_cap[v] for v in prev], axis=0) if prev else None
            b = int(np.argmax(tot)) if tot is not None else \
                self.bandwidths.index(min(self.bandwidths, key=lambda h: abs(h - 200)))
            scores = {
                "last12": self._window(j, 12),
                "last_month": self._window(j, 1),
                "all_history": self._window(j, j),
                "kde": self._kde_surface(j, b),
                "gistar": self._gistar_z(j),
            }
            self.picks.append((j, plan_idx, k, scores))
            rows.extend(self._score_month(t, j, plan_idx, k, scores, self.seed,
                                          f.method[i], f.half_life[i],
                                          self.bandwidths[b]))
            fmeta.append({"month": t, **{kk: v for kk, v in f.audit(t).items()
                                         if kk in ("method", "half_life_months",
                                                   "self_exciting_weights")}})
            if self.progress:
                self.progress(i + 1, len(self.tests))
        return pd.DataFrame(rows), fmeta

    def _score_month(self, t, j, plan_idx, k, scores, seed, fmethod=None, hl=None,
                     bw=None) -> list[dict]:
        y = self.values[:, j]
        total_area = self.areas.sum()
        rng = np.random.default_rng([int(seed), month_index(t)])
        chosen = {"plan": plan_idx}
        for m, s in scores.items():
            chosen[m] = top_k(s, k, rng.permutation(self.n))
        out = []
        hits = {m: float(y[c].sum()) for m, c in chosen.items()}
        best_naive = max(NAIVE, key=lambda m: (hits[m], -NAIVE.index(m)))
        for m in METHODS:
            h, rate, pai = score(chosen[m], y, self.areas)
            share = float(self.areas[chosen[m]].sum() / total_area)
            if not len(chosen[m]):  # no plan: scored on the area it was given
                share = self.k_nom / self.n
            out.append({
                "month": t, "method": m, "cells": len(chosen[m]),
                "offences": float(y.sum()), "hits": h, "hit_rate": rate, "pai": pai,
                "area_share": share,
                "best_naive": best_naive,
                "plan_wins": hits["plan"] >= hits[best_naive],
                "forecast_method": fmethod, "half_life": hl, "kde_bandwidth": bw,
            })
        return out


def _summarise(frame: pd.DataFrame, seed: int, block: int, reps: int) -> dict:
    wide = {m: frame[frame["method"] == m].set_index("month").sort_index()
            for m in METHODS}
    plan = wide["plan"]
    hits = {m: wide[m]["hits"].to_numpy() for m in METHODS}
    den = {m: (wide[m]["offences"] * wide[m]["area_share"]).to_numpy()
           for m in METHODS}
    pooled = {m: pooled_pai(hits[m], wide[m]["offences"], wide[m]["area_share"])
              for m in METHODS}
    total = plan["offences"].sum()
    rate = {m: float(hits[m].sum() / total) if total > 0 else None for m in METHODS}
    best = max(NAIVE, key=lambda m: (np.nan_to_num(pooled[m], nan=-1),
                                     -NAIVE.index(m)))
    naive_max = np.max([hits[m] for m in NAIVE], axis=0)
    lo, hi = block_bootstrap(hits, den, block=block, reps=reps, seed=seed)
    ratio = pooled["plan"] / pooled[best] if pooled[best] else float("nan")
    return json_value({
        "months": int(len(plan)),
        "months_with_plan": int((plan["cells"] > 0).sum()),
        "pooled_pai": {m: _f(v) for m, v in pooled.items()},
        "pooled_hit_rate": {m: _f(v) for m, v in rate.items()},
        "win_rate": {m: _f(win_rate(hits["plan"], hits[m])) for m in METHODS
                     if m != "plan"},
        "win_rate_vs_best_naive": _f(win_rate(hits["plan"], naive_max)),
        # months the plan hit more than, as many as, fewer than the best naive
        # baseline that month ("≥" above counts the ties with the wins)
        "vs_best_naive": {
            "won": int((hits["plan"] > naive_max).sum()),
            "tied": int((hits["plan"] == naive_max).sum()),
            "lost": int((hits["plan"] < naive_max).sum())},
        "best_naive": best,
        "ratio": _f(ratio),
        "ratio_ci90": [_f(lo), _f(hi)],
        "bootstrap": {"block_months": int(block), "replicates": int(reps),
                      "seed": int(seed)},
    })


def _tie_break(ctx: _Context, frame: pd.DataFrame, seed: int, n_seeds: int) -> dict:
    """Win rate and ratio when the rankings' ties are broken with other seeds."""
    seeds = [int(seed) + s for s in range(max(int(n_seeds), 1))]
    wins, ratios = [], []
    for s in seeds:
        rows = []
        for (j, plan_idx, k, scores), t in zip(ctx.picks, ctx.tests, strict=True):
            rows.extend(ctx._score_month(t, j, plan_idx, k, scores, s))
        sm = _summarise(pd.DataFrame(rows), s, 1, 1)
        wins.append(sm["win_rate_vs_best_naive"])
        ratios.append(sm["ratio"])

    def span(values):  # a seed whose months have nothing to compare gives None
        known = [v for v in values if v is not None]
        return [min(known), max(known)] if known else [None, None]

    return json_value({"seeds": seeds,
                       "win_rate_vs_best_naive": span(wins),
                       "ratio": span(ratios)})
