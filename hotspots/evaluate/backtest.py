"""Backtest: would last month's surge plan have been in the right places?

Rolling origin, out of sample: for every month ``t`` the data allows, plan from
the ``train`` months before it (default 12) and score on ``t`` alone. Every method
picks the **same number of cells** ``N`` (the number the surge plan chose for that
month, so the comparison is at equal area):

``plan``
    The surge patrol plan (:func:`~hotspots.plan.patrols.plan_patrols`): Gi*
    hot cells merged into zones, chosen under the officer-hour budget.
``gistar``
    The ``N`` cells with the highest Gi* z over the training months.
``last12``
    The ``N`` cells with the most offences over the training months.
``last_month``
    The ``N`` cells with the most offences in the last training month.
``kde``
    The ``N`` cells whose centres have the highest quartic kernel density of the
    training offences (bandwidth ``bandwidth_m``, default 300 m), the analyst's
    classic hot spot map.

Ties in a ranking (common: most cells hold 0, 1 or 2 offences) are broken by a
seeded random order, not by cell id, so no method gains from an arbitrary order.

Scores, per month and overall:

* **hit rate** ``h = n / N_t``: the share of the test month's offences that fell
  in the chosen cells;
* **PAI** (Predictive Accuracy Index, Chainey, Tompson & Uhlig 2008)
  ``PAI = h / (a / A)``: the hit rate over the share of the area the cells cover
  (cell areas from H3, so the few smaller pentagon-adjacent cells count right).

Overall figures pool the months (sum of hits over sum of offences), and the
months each method won are counted, ties shared, so a baseline's wins are
reported as plainly as the plan's.

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping for
predicting spatial patterns of crime. *Security Journal* 21, 4–28.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h3
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..analysis import DEFAULT_SEED, analyse
from ..areas import Area, bng_xy, resolve_area
from ..counts import covered_period
from ..errors import ParameterError
from ..plan.patrols import Dosage, plan_patrols
from ..store import Store

__all__ = ["METHODS", "BacktestResult", "backtest", "quartic_kde", "score"]

METHODS = ("plan", "gistar", "last12", "last_month", "kde")


@dataclass(frozen=True)
class BacktestResult:
    """Per-month scores (``months``: one row per month and method) and the pool."""

    months: pd.DataFrame = field(repr=False)
    overall: dict
    metadata: dict = field(repr=False)

    def to_json(self) -> dict:
        out = []
        for month, grp in self.months.groupby("month", sort=True):
            g = grp.set_index("method")
            first = grp.iloc[0]
            out.append({
                "month": month, "cells": int(first["n_cells"]),
                "offences": int(first["offences"]),
                "area_share": _f(first["area_share"]),
                "hits": {m: int(g.at[m, "hits"]) for m in g.index},
                "hit_rate": {m: _f(g.at[m, "hit_rate"]) for m in g.index},
                "pai": {m: _f(g.at[m, "pai"]) for m in g.index},
                "best": [m for m in g.index if g.at[m, "best"]],
            })
        return {"months": out, "overall": self.overall, "metadata": self.metadata}


def _f(v) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


# -- numeric pieces --------------------------------------------------------------------
def quartic_kde(points_xy: np.ndarray, at_xy: np.ndarray, bandwidth: float
                ) -> np.ndarray:
    """Quartic (biweight) kernel density of ``points_xy`` at ``at_xy`` (per m²).

    ``K(d) = 3 / (π h²) · (1 − d²/h²)²`` for ``d < h``, the kernel of most crime
    mapping software (CrimeStat, ArcGIS Kernel Density).
    """
    at_xy = np.asarray(at_xy, dtype="float64").reshape(-1, 2)
    out = np.zeros(len(at_xy))
    if not len(points_xy):
        return out
    tree = cKDTree(np.asarray(points_xy, dtype="float64").reshape(-1, 2))
    h = float(bandwidth)
    for i, idx in enumerate(tree.query_ball_point(at_xy, r=h)):
        if idx:
            d2 = ((tree.data[idx] - at_xy[i]) ** 2).sum(axis=1) / (h * h)
            out[i] = (3.0 / (np.pi * h * h)) * ((1.0 - d2) ** 2).sum()
    return out


def top_n(score_values: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``n`` highest scores; ties broken by a random order."""
    score_values = np.asarray(score_values, dtype="float64")
    tie = rng.permutation(len(score_values))
    order = np.lexsort((tie, -score_values))
    return order[: int(n)]


def score(chosen: np.ndarray, test_counts: np.ndarray, areas: np.ndarray
          ) -> tuple[int, float, float]:
    """Hits, hit rate and PAI of the cells ``chosen`` (indices) on a test month."""
    test_counts = np.asarray(test_counts, dtype="float64")
    areas = np.asarray(areas, dtype="float64")
    total = test_counts.sum()
    hits = test_counts[chosen].sum()
    a_share = areas[chosen].sum() / areas.sum()
    hit_rate = hits / total if total > 0 else np.nan
    pai = hit_rate / a_share if a_share > 0 and total > 0 else np.nan
    return int(hits), float(hit_rate), float(pai)


# -- the public function ---------------------------------------------------------------
def backtest(
    area: Area | str,
    crime: str = "robbery",
    start: str | None = None,
    end: str | None = None,
    *,
    train: int = 12,
    officer_hours: float = 60.0,
    dosage: Dosage | None = None,
    level: int = 2,
    res: int = 9,
    permutations: int | None = None,
    bandwidth_m: float = 300.0,
    seed: int = DEFAULT_SEED,
    store: Store | None = None,
    progress=None,
) -> BacktestResult:
    """Rolling-origin backtest of the surge plan against simpler choices.

    Parameters
    ----------
    area, crime
        As for :func:`~hotspots.analysis.analyse`.
    start, end : str, optional
        First and last months of data to use (default: all the data covers). Test
        months run from ``start + train`` to ``end``.
    train : int
        Training months before each test month.
    officer_hours, dosage, level
        The surge plan's inputs (:func:`~hotspots.plan.patrols.plan_patrols`).
    permutations : int, optional
        Gi* permutations (default: as :func:`~hotspots.analysis.analyse` chooses,
        enough for the correction to reach 95 %).
    bandwidth_m : float
        Quartic kernel bandwidth for the ``kde`` baseline.
    seed : int
        Seeds the Gi* permutations and the tie-breaking.
    progress : callable, optional
        Called with the number of months done and the total after each month.
    """
    store = store or Store.open()
    area = resolve_area(area) if not isinstance(area, Area) else area
    if int(train) < 1:
        raise ParameterError(f"train must be ≥ 1 month; got {train!r}.")
    if not float(bandwidth_m) > 0:
        raise ParameterError(f"bandwidth_m must be > 0; got {bandwidth_m!r}.")
    months = covered_period(store, crime, start, end, strict=True, area=area)
    start, end = months[0], months[-1]
    if len(months) <= train:
        raise ParameterError(
            f"a backtest needs more than {train} months; {start}..{end} has "
            f"{len(months)}.")
    tests = months[train:]
    rows = []
    cells_used = None
    synthetic = []
    for i, t in enumerate(tests):
        window = months[i: i + train]
        a = analyse(area, crime, window[0], window[-1], res=res,
                    permutations=permutations, seed=seed, store=store)
        synthetic.append(a.metadata["data"]["synthetic_share"])
        rows.extend(_one_month(a, t, window, store, officer_hours, dosage, level,
                               res, bandwidth_m, seed + i))
        cells_used = len(a.cells)
        if progress:
            progress(i + 1, len(tests))
    frame = pd.DataFrame(rows)
    overall = _overall(frame)
    meta = {
        "area": area.to_dict(), "crime": crime, "data": [start, end],
        "train_months": int(train), "test_months": [tests[0], tests[-1]],
        "n_tests": len(tests), "methods": list(METHODS),
        "plan": {"officer_hours": float(officer_hours), "level": level,
                 "dosage": (dosage or Dosage()).to_dict()},
        "resolution": res, "grid_cells": cells_used, "permutations": permutations,
        "bandwidth_m": float(bandwidth_m), "seed": seed,
        "scoring": "hit rate and PAI of the same number of cells per method (the "
                   "plan's), on the month after each training window; ties in "
                   "rankings broken at random (seeded)",
        "synthetic_share": float(np.mean(synthetic)) if synthetic else 0.0,
    }
    return BacktestResult(frame, overall, meta)


def _one_month(a, t, window, store, officer_hours, dosage, level, res, bandwidth,
               seed) -> list[dict]:
    cells = a.cells.reset_index(drop=True)
    ids = cells["h3"].astype(str).to_numpy()
    pos = {c: i for i, c in enumerate(ids)}
    areas = np.array([h3.cell_area(c, unit="m^2") for c in ids])
    test = store.offences(a.area, a.crime, t, t, columns=[f"h3_{res}"])
    test_counts = np.bincount(
        test[f"h3_{res}"].map(pos).dropna().astype(int), minlength=len(ids))
    plan = plan_patrols(a, officer_hours=officer_hours, dosage=dosage, level=level,
                        streets=1)
    plan_cells = [pos[c] for cs in plan.zones["cells"] for c in cs if c in pos]
    n = len(plan_cells)
    base = {"month": t, "train_from": window[0], "train_to": window[-1],
            "n_cells": n, "offences": int(test_counts.sum()),
            "area_share": float(areas[plan_cells].sum() / areas.sum()) if n else 0.0}
    if n == 0:
        return [{**base, "method": m, "hits": 0, "hit_rate": np.nan, "pai": np.nan,
                 "best": False} for m in METHODS]
    rng = np.random.default_rng(seed)
    off = a.offences
    h = off[f"h3_{res}"].map(pos)
    last = off.loc[off["month"] == window[-1], f"h3_{res}"].map(pos).dropna()
    x, y = bng_xy(off["lon"], off["lat"])
    cx, cy = bng_xy(*np.array([h3.cell_to_latlng(c)[::-1] for c in ids]).T)
    picks = {
        "plan": np.asarray(plan_cells),
        "gistar": top_n(cells["z"].to_numpy(), n, rng),
        "last12": top_n(np.bincount(h.dropna().astype(int), minlength=len(ids)), n,
                        rng),
        "last_month": top_n(np.bincount(last.astype(int), minlength=len(ids)), n,
                            rng),
        "kde": top_n(quartic_kde(np.c_[x, y], np.c_[cx, cy], bandwidth), n, rng),
    }
    out = []
    for m in METHODS:
        hits, rate, pai = score(picks[m], test_counts, areas)
        out.append({**base, "method": m, "hits": hits, "hit_rate": rate, "pai": pai})
    best = max(r["hits"] for r in out)
    for r in out:
        r["best"] = bool(base["offences"] > 0 and r["hits"] == best)
    return out


def _overall(frame: pd.DataFrame) -> dict:
    scored = frame[frame["n_cells"] > 0]
    out = {"months_scored": int(scored["month"].nunique()),
           "months_without_plan": int(frame.loc[frame["n_cells"] == 0, "month"]
                                      .nunique()),
           "methods": {}}
    for m, g in scored.groupby("method", sort=False):
        total = g["offences"].sum()
        rate = g["hits"].sum() / total if total > 0 else np.nan
        share = g["area_share"].mean()
        out["methods"][m] = {
            "hits": int(g["hits"].sum()), "offences": int(total),
            "hit_rate": _f(rate), "pai": _f(rate / share if share > 0 else np.nan),
            "mean_monthly_pai": _f(g["pai"].mean()),
            "months_best": int(g["best"].sum()),
        }
    ranked = sorted(out["methods"], key=lambda k: -(out["methods"][k]["pai"] or 0))
    out["ranking_by_pai"] = ranked
    return out
