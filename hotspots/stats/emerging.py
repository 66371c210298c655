"""Emerging hot spots: a monthly space-time cube, Gi* per bin, Mann–Kendall trends,
and the 17 categories ArcGIS Pro's Emerging Hot Spot Analysis users know.

Method
------
1. **Cube.** Offences are counted per H3 cell (the zero-filled study grid of the
   area) and month: ``n_cells × n_months`` bins, empty bins kept.
2. **Space-time Gi\\*.** A bin's neighbours are the cell's k-ring in the same month
   and the cell itself and its ring in the previous ``time_window`` months. Gi* is
   computed for every bin against the whole cube (one conditional-permutation
   engine, :func:`hotspots.stats.gistar.gistar`), then corrected for multiple
   testing within each month (Benjamini–Hochberg by default). A bin is a
   *significant hot (cold) spot* when z > 0 (< 0) and its corrected p ≤ ``alpha``
   (0.10: 90 % confidence, as ArcGIS).
3. **Trend.** The Mann–Kendall test on each cell's series of Gi* z-scores
   (tie-corrected variance, continuity correction); a trend counts when its
   two-sided p ≤ ``trend_alpha`` (0.05).
4. **Categories** (ArcGIS Pro definitions; "90 %" means at least 90 % of months):

   - *New hot spot*: hot in the final month, never hot before.
   - *Consecutive hot spot*: a single uninterrupted run of at least two hot months
     ending in the final month, never hot before that run, and hot in less than
     90 % of months.
   - *Intensifying hot spot*: hot in at least 90 % of months including the final
     one, with a significant upward trend in z.
   - *Persistent hot spot*: hot in at least 90 % of months including the final one,
     with no significant trend.
   - *Diminishing hot spot*: hot in at least 90 % of months including the final
     one, with a significant downward trend in z.
   - *Sporadic hot spot*: hot in the final month, on-again off-again before, hot in
     less than 90 % of months, and never a significant cold spot.
   - *Oscillating hot spot*: hot in the final month, a significant cold spot in
     some earlier month, hot in less than 90 % of months.
   - *Historical hot spot*: not hot in the final month, but hot in at least 90 %
     of months.
   - The eight *cold spot* categories are the same with hot and cold swapped (an
     intensifying cold spot has a significant *downward* trend in z).
   - *No pattern detected*: none of the above.

esda has no emerging hot spot analysis; this is hotspots' own, tested on synthetic
cubes built to be each category.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from ..errors import ParameterError
from .gistar import gistar
from .inference import adjust

__all__ = [
    "CATEGORIES",
    "Emerging",
    "classify",
    "emerging_hotspots",
    "mann_kendall",
    "space_time_weights",
]

_KINDS = ("new", "consecutive", "intensifying", "persistent", "diminishing",
          "sporadic", "oscillating", "historical")
CATEGORIES: tuple[str, ...] = (
    tuple(f"{k} hot spot" for k in _KINDS)
    + tuple(f"{k} cold spot" for k in _KINDS)
    + ("no pattern detected",)
)


def mann_kendall(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann–Kendall trend test on each row of ``x`` (cells × time).

    Returns
    -------
    tau, z, p : ndarray
        Kendall's tau-a (S / (n(n−1)/2)), the normal score with tie-corrected
        variance and continuity correction, and its two-sided p-value. A constant
        row has tau = z = 0 and p = 1.

    Examples
    --------
    >>> tau, z, p = mann_kendall(np.array([[1.0, 2.0, 3.0, 5.0, 4.0]]))
    >>> float(tau[0]), round(float(z[0]), 4)   # S = 8 of 10 pairs, Var(S) = 50/3
    (0.8, 1.7146)
    """
    x = np.atleast_2d(np.asarray(x, dtype="float64"))
    m, n = x.shape
    if n < 3:
        raise ParameterError(f"a trend needs at least 3 time steps; got {n}.")
    iu, ju = np.triu_indices(n, 1)
    s = np.sign(x[:, ju] - x[:, iu]).sum(axis=1)
    var = np.full(m, n * (n - 1) * (2 * n + 5) / 18.0)
    srt = np.sort(x, axis=1)
    has_ties = (np.diff(srt, axis=1) == 0).any(axis=1)
    for r in np.flatnonzero(has_ties):
        _, t = np.unique(srt[r], return_counts=True)
        var[r] -= (t * (t - 1) * (2 * t + 5)).sum() / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var),
                     np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    z = np.where(var > 0, z, 0.0)
    p = 2 * stats.norm.sf(np.abs(z))
    return s / (n * (n - 1) / 2), z, p


def space_time_weights(W: sp.spmatrix, n_steps: int, time_window: int = 1
                       ) -> sp.csr_matrix:
    """Binary space-time neighbours over a cube stored time-major.

    Bin ``t * n + i`` (cell *i*, step *t*) neighbours cell *i*'s ring at step *t*,
    and cell *i* and its ring at steps *t − 1 … t − time_window*. Zero diagonal.
    """
    n = W.shape[0]
    S = (sp.csr_matrix(W) != 0).astype("float64")
    S_self = S + sp.identity(n, format="csr")
    blocks = [[None] * n_steps for _ in range(n_steps)]
    for t in range(n_steps):
        blocks[t][t] = S
        for lag in range(1, time_window + 1):
            if t - lag >= 0:
                blocks[t][t - lag] = S_self
    out = sp.bmat(blocks, format="csr")
    out.data[:] = 1.0
    out.setdiag(0)
    out.eliminate_zeros()
    return out


def classify(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray,
             trend_p: np.ndarray, trend_alpha: float = 0.05) -> np.ndarray:
    """The category of each cell from its hot/cold flags per step and its trend.

    Parameters
    ----------
    hot, cold : bool ndarray (cells × steps)
        Significant hot / cold spot in each step.
    trend_z, trend_p : ndarray (cells,)
        Mann–Kendall z and p of each cell's Gi* z-scores.
    """
    hot = np.asarray(hot, bool)
    cold = np.asarray(cold, bool)
    out = np.full(hot.shape[0], "no pattern detected", dtype=object)
    up = (trend_p <= trend_alpha) & (trend_z > 0)
    down = (trend_p <= trend_alpha) & (trend_z < 0)
    for flags, other, name, rising, falling in (
        (hot, cold, "hot", up, down),
        (cold, hot, "cold", down, up),
    ):
        labels = _categories(flags, other, rising, falling)
        set_ = (labels != "") & (out == "no pattern detected")
        out[set_] = labels[set_] + f" {name} spot"
    return out


def _categories(f, other, rising, falling):
    m, T = f.shape
    share = f.sum(axis=1) / T
    last = f[:, -1]
    before_last = f[:, :-1].sum(axis=1)
    # length of the run of flags ending at the last step
    run = np.zeros(m, dtype=int)
    alive = last.copy()
    for t in range(T - 1, -1, -1):
        alive &= f[:, t]
        run += alive
    first_run_start = T - run
    hot_before_run = np.array([f[i, : first_run_start[i]].any() for i in range(m)])
    lab = np.full(m, "", dtype=object)
    often = share >= 0.9
    lab[last & often & rising] = "intensifying"
    lab[last & often & falling] = "diminishing"
    lab[last & often & ~rising & ~falling] = "persistent"
    rest = last & ~often
    lab[rest & (before_last == 0)] = "new"
    cons = rest & (before_last > 0) & (run >= 2) & ~hot_before_run
    lab[cons] = "consecutive"
    other_before = other[:, :-1].any(axis=1)
    remaining = rest & (lab == "")
    lab[remaining & other_before] = "oscillating"
    lab[remaining & ~other_before] = "sporadic"
    lab[~last & often] = "historical"
    return lab


@dataclass(frozen=True)
class Emerging:
    """Per-cell emerging hot spot categories plus the audit trail."""

    cells: gpd.GeoDataFrame = field(repr=False)
    cube_z: np.ndarray = field(repr=False)
    cube_bins: np.ndarray = field(repr=False)
    months: tuple
    metadata: dict = field(repr=False)

    def categories(self) -> dict:
        counts = self.cells["category"].value_counts()
        return {c: int(counts.get(c, 0)) for c in CATEGORIES if counts.get(c, 0)}

    def to_json(self, output: str | None = None) -> dict:
        return {"categories": self.categories(), "cells": int(len(self.cells)),
                "months": list(self.months), "output": output,
                "synthetic_share": self.metadata["data"]["synthetic_share"],
                "metadata": self.metadata}


def emerging_cube(
    counts: np.ndarray,
    W: sp.spmatrix,
    *,
    time_window: int = 1,
    permutations: int = 999,
    seed: int | None = None,
    correction: str = "fdr",
    alpha: float = 0.10,
    trend_alpha: float = 0.05,
    engine=None,
) -> dict:
    """The numeric core: categories from a ``cells × steps`` count matrix.

    ``engine(counts, time_window=, permutations=, seed=)``, when given, returns the
    space-time Gi* of every bin in time-major order (the Dask path partitions the
    cells); by default it runs here.
    """
    counts = np.asarray(counts, dtype="float64")
    n, T = counts.shape
    if T < 3:
        raise ParameterError(f"emerging hot spots need at least 3 months; got {T}.")
    y = counts.T.reshape(-1)  # time-major
    if engine is None:
        Wst = space_time_weights(W, T, time_window)
        g = gistar(y, Wst, permutations=permutations, seed=seed)
    else:
        g = engine(counts, time_window=time_window, permutations=permutations,
                   seed=seed)
    p = g.p_sim if permutations else g.p_norm
    z = g.z.reshape(T, n).T
    p_adj = np.column_stack([adjust(p.reshape(T, n)[t], correction) for t in range(T)])
    hot = (z > 0) & (p_adj <= alpha)
    cold = (z < 0) & (p_adj <= alpha)
    tau, tz, tp = mann_kendall(z)
    cats = classify(hot, cold, tz, tp, trend_alpha)
    return {"category": cats, "z": z, "p_adj": p_adj, "hot": hot, "cold": cold,
            "tau": tau, "trend_z": tz, "trend_p": tp, "exact_null": g.exact_null}


def emerging_hotspots(area, crime: str, start: str | None = None,
                      end: str | None = None, *, res: int = 9, k: int = 1,
                      time_window: int = 1, permutations: int | None = None,
                      seed: int | None = 20220505, correction: str = "fdr",
                      alpha: float = 0.10, trend_alpha: float = 0.05,
                      store=None, engine_for=None) -> Emerging:
    """Emerging hot spot categories for ``crime`` in ``area`` (monthly cube).

    Defaults: every month the data covers for the crime (at least 3), H3 res 9,
    k = 1, one previous month in the neighbourhood, 90 % confidence bins with FDR
    per month, Mann–Kendall at 5 %.
    """
    from ..analysis import _offence_cells, auto_permutations
    from ..areas import Area, resolve_area
    from ..counts import covered_period
    from ..grid import grid_frame, ring_weights, study_cells
    from ..months import latest_run, month_range
    from ..store import Store

    store = store or Store.open()
    area = area if isinstance(area, Area) else resolve_area(area)
    months = covered_period(store, crime, start, end, area=area)
    if start is None and end is None:
        months = latest_run(months)  # space-time lags need consecutive months
    elif months != month_range(months[0], months[-1]):
        gap = sorted(set(month_range(months[0], months[-1])) - set(months))
        raise ParameterError(
            f"emerging hot spots need consecutive months; the data has no {crime} "
            f"for {gap[0]}…{gap[-1]} in {area.name}. Choose a period without gaps.")
    start, end = months[0], months[-1]
    col = f"h3_{res}"
    df = store.offences(area=area, crime=crime, start=start, end=end,
                        columns=[col, "month", "synthetic", "source"])
    cells = study_cells(area.geometry, res, include=_offence_cells(store, area, res))
    index = pd.Index(cells)
    ci = index.get_indexer(df[col])
    ti = pd.Index(months).get_indexer(df["month"])
    ok = (ci >= 0) & (ti >= 0)
    cube = np.zeros((len(cells), len(months)))
    np.add.at(cube, (ci[ok], ti[ok]), 1.0)
    if cube.sum() == 0:
        raise ParameterError(f"no {crime} offences in {area.name} {start}…{end}")
    W = ring_weights(cells, k)
    if permutations is None:
        permutations = auto_permutations(len(cells), correction, alpha=alpha)
    engine = engine_for(cells, k) if engine_for is not None else None
    core = emerging_cube(cube, W, time_window=time_window, permutations=permutations,
                         seed=seed, correction=correction, alpha=alpha,
                         trend_alpha=trend_alpha, engine=engine)
    frame = grid_frame(cells)
    out = gpd.GeoDataFrame({
        "h3": frame["h3"],
        "category": core["category"],
        "offences": cube.sum(axis=1).astype(int),
        "hot_months": core["hot"].sum(axis=1),
        "cold_months": core["cold"].sum(axis=1),
        "final_z": core["z"][:, -1],
        "trend_tau": core["tau"],
        "trend_z": core["trend_z"],
        "trend_p": core["trend_p"],
    }, geometry=frame.geometry, crs=4326)
    synth = float(df["synthetic"].mean()) if len(df) else 0.0
    meta = {
        "area": area.to_dict(), "crime": crime,
        "period": {"from": months[0], "to": months[-1], "months": len(months)},
        "grid": {"system": "H3", "resolution": res, "cells": len(cells)},
        "neighbourhood": {"type": "k-ring", "k": k, "time_window": time_window},
        "permutations": permutations, "seed": seed, "correction": correction,
        "alpha": alpha, "trend_alpha": trend_alpha,
        "exact_null": bool(core["exact_null"]),
        "data": {"offences": int(len(df)), "synthetic_share": round(synth, 4),
                 "files": sorted(df["source"].unique().tolist())},
        "why": [
            f"Cube: {len(cells):,} cells × {len(months)} months of {crime} in "
            f"{area.name}; empty bins kept.",
            f"Space-time neighbours: the {k}-ring this month and the cell and its ring "
            f"in the previous {time_window} month(s).",
            f"Significant bins: 90 % confidence after {correction.upper()} per month; "
            f"{permutations:,} conditional permutations (seed {seed}).",
            f"Trend: Mann–Kendall on each cell's Gi* z-scores, significant at "
            f"{trend_alpha:.0%}.",
        ] + ([f"SEMI-SYNTHETIC: {synth:.0%} of these offence rows are synthetic."]
             if synth else []),
    }
    bins = np.where(core["hot"], 1, np.where(core["cold"], -1, 0))
    return Emerging(out, core["z"], bins, tuple(months), meta)
