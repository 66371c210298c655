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
cubes built to be each category. This module is the numeric core (a count cube and
weights in, categories out); :mod:`hotspots.spacetime` runs it on a study.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ParameterError
from .gistar import gistar
from .inference import adjust, normal_p

__all__ = [
    "CATEGORIES",
    "classify",
    "emerging_cube",
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
    p = normal_p(z)
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
