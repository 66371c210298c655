"""Getis-Ord Gi* with a fast, exact conditional-permutation engine.

The statistic and its analytic moments are those of esda's
``G_Local(y, w, transform="B", star=True)`` (binary weights, the cell itself
included with weight 1), and agree with it to rounding.

Permutation inference
---------------------
Conditional randomisation holds cell *i*'s own value fixed and draws its *k_i*
neighbours' values at random, without replacement, from the other *n − 1* values
(Anselin 1995; Getis & Ord 1992). esda draws those for every cell separately
(O(n·P·k)). Here the draws are shared: for each neighbour cardinality *k*, one set
of *P* index draws without replacement over the *n − 1* slots of the *sorted* value
pool is made from a generator seeded by ``(seed, k)``. The pool without cell *i* is
the sorted pool with one copy of *y_i* removed, so every cell with the same
``(k, y_i)`` has the same null distribution, computed once and then looked up for
all such cells. The nulls of all values share one gather: removing a copy of *v*
only shifts the drawn slots at or past its position by one, and the sorted pool's
step ``pool[d+1] − pool[d]`` is zero except where its value changes, so each value's
null is the shared sum plus a sparse correction (one ``bincount``). Whole-number
sums are ranked with a histogram instead of a sort. The result is exact and costs
O(P · k) per neighbour count plus O(P + #steps drawn) per distinct value.

Because the draws depend only on ``(seed, k)`` and the value multiset, results do
not depend on the order of the cells or on how a grid is partitioned (the Dask
path relies on this). When the pool holds more than ``max_values``
distinct values (e.g. harm-weighted floats), the null of each *k* is drawn
from the whole pool including cell *i* (inclusion probability off by at most
*k/n*); the result says so in ``exact_null``.

Ties
----
On a fine grid most counts are zero, so the null is full of ties. esda's folded
pseudo p-value counts only ``null >= observed`` and folds it, which calls an empty
cell in an empty neighbourhood a significant *cold* spot (almost every draw ties
with it). Here each tail counts its ties: the tail in the direction of the
analytic z is ``#(null >= obs)`` for z ≥ 0 and ``#(null <= obs)`` for z < 0,
``p_one = (tail + 1) / (P + 1)``, and the reported two-sided
``p_sim = min(1, 2 · p_one)``, matching the two-sided 90/95/99 % bins analysts know
from ArcGIS. An all-zero neighbourhood can therefore never be significant.

References
----------
Getis, A. & Ord, J. K. (1992). The analysis of spatial association by use of
distance statistics. *Geographical Analysis* 24(3).
Ord, J. K. & Getis, A. (1995). Local spatial autocorrelation statistics:
distributional issues and an application. *Geographical Analysis* 27(4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..limits import check_gistar
from .inference import normal_p

__all__ = ["GiStar", "check_neighbour_index", "gistar"]

#: Above this many distinct values in the pool the shared null includes the cell
#: itself (see module notes); it depends on the pool only, so every partition of a
#: grid makes the same choice.
MAX_VALUES = 2_000


@dataclass(frozen=True)
class GiStar:
    """Gi* per cell.

    Attributes
    ----------
    gs : ndarray
        G*_i = (y_i + Σ_j w_ij y_j) / Σ y.
    ei, vi : ndarray
        Its expectation and variance under randomisation.
    z : ndarray
        Analytic z-score (esda's ``Zs``).
    p_norm : ndarray
        Two-sided normal p-value of ``z``.
    p_sim : ndarray
        Two-sided conditional-permutation pseudo p-value, ties counted in each
        tail (NaN when ``permutations == 0``).
    p_one : ndarray
        One-sided pseudo p-value in the direction of ``z``.
    cardinality : ndarray
        Neighbours of each cell (self excluded).
    permutations : int
    seed : int or None
    exact_null : bool
        False when the shared null included the cell itself (see module notes).
    """

    gs: np.ndarray
    ei: np.ndarray
    vi: np.ndarray
    z: np.ndarray
    p_norm: np.ndarray
    p_sim: np.ndarray
    p_one: np.ndarray
    cardinality: np.ndarray
    permutations: int
    seed: int | None
    exact_null: bool = True


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (``np.unique``, without the ``numpy.ma``
    import np.unique makes on first use: 20 ms of a fresh process)."""
    s = np.sort(np.asarray(values).ravel())
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def gistar(
    y,
    W,
    *,
    permutations: int = 999,
    seed: int | None = None,
    max_values: int = MAX_VALUES,
    pool=None,
    rows=None,
) -> GiStar:
    """Getis-Ord Gi* with conditional-permutation pseudo p-values.

    Parameters
    ----------
    y : array_like, shape (n,)
        Counts (or harm) per cell, zero-filled, non-negative.
    W : scipy.sparse matrix or :class:`hotspots.grid.Neighbours`, shape (n, n)
        Binary neighbours with a zero diagonal; the cell itself is added (Gi*).
    permutations : int
        Number of conditional permutations (0: analytic only).
    seed : int, optional
        Seed; the same seed gives the same p-values, whatever the cell order.
    max_values : int
        Above this many distinct values in the pool the shared null includes the
        cell itself (see the module notes).
    pool : array_like, optional
        The values of *every* cell of the study grid, when ``y`` and ``W`` hold only
        a partition of it plus a halo (the Dask path). Global moments and the
        permutation pool come from here, so a partition's answers equal the whole
        grid's. Default: ``y``.
    rows : array_like of int, optional
        The cells of ``y`` to score (a partition's core, not its halo). Default: all.

    Returns
    -------
    GiStar

    Examples
    --------
    A hot cell in the middle of a line of five:

    >>> import scipy.sparse as sp
    >>> W = sp.diags([1, 1], [-1, 1], shape=(5, 5)).tocsr()
    >>> r = gistar([0, 1, 9, 1, 0], W, permutations=0)
    >>> [round(float(v), 3) for v in r.gs]
    [0.091, 0.909, 1.0, 0.909, 0.091]
    """
    y, W, k = _check(y, W, permutations, whole=pool is None)
    pool = y if pool is None else _check_pool(pool)
    rows = np.arange(len(y)) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(pool)
    # memory and work estimated before anything is drawn (hotspots.limits)
    check_gistar(y[rows], k[rows], permutations, n_pool=n,
                 exact=len(_distinct(pool)) <= max_values)
    if permutations and len(k) and k.max() >= n - 1:
        raise ParameterError("a cell neighbours every other cell: nothing to permute.")
    total = pool.sum()
    src, dst = W
    s = np.bincount(src, weights=y[dst], minlength=len(y))[rows]  # self excluded
    k = k[rows]
    y = y[rows]
    card = k + 1.0
    gs = (s + y) / total
    mean = total / n
    var = (pool**2).mean() - mean**2
    ei = card / n
    vi = card * (n - card) / (n - 1) / n**2 * (var / mean**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(vi > 0, (gs - ei) / np.sqrt(vi), 0.0)
    p_norm = normal_p(z)
    if permutations == 0:
        nan = np.full(len(y), np.nan)
        return GiStar(gs, ei, vi, z, p_norm, nan, nan, k.astype(int), 0, seed)
    p_one, exact = _permutation_p(
        y, s, k.astype(int), z, permutations, seed, max_values, pool
    )
    p_sim = np.minimum(1.0, 2.0 * p_one)
    return GiStar(
        gs, ei, vi, z, p_norm, p_sim, p_one, k.astype(int), permutations, seed, exact
    )


def _check(y, W, permutations, whole=True):
    y = np.asarray(y, dtype="float64")
    if y.ndim != 1:
        raise ParameterError(f"'y' needs to be one-dimensional; got shape {y.shape}.")
    n = len(y)
    if n < 3:
        raise ParameterError(f"Gi* needs at least 3 cells; got {n}.")
    if not np.isfinite(y).all() or (y < 0).any():
        raise ParameterError("'y' needs finite, non-negative counts or harm values.")
    if whole and y.sum() <= 0:
        raise ParameterError("no offences in the study grid: Gi* is undefined.")
    indptr, indices = _pattern(W, n)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    if np.any(indices == rows):
        raise ParameterError("'W' needs a zero diagonal (Gi* adds the cell itself).")
    if not isinstance(permutations, int | np.integer) or permutations < 0:
        raise ParameterError(
            f"'permutations' needs to be a whole number ≥ 0. {permutations!r} was "
            "given instead."
        )
    k = np.diff(indptr).astype("float64")
    return y, (rows, indices), k


def _pattern(W, n):
    """``(indptr, indices)`` of binary neighbours ``W``: a scipy sparse matrix
    (any format) or a :class:`hotspots.grid.Neighbours` — no scipy import."""
    if hasattr(W, "tocsr"):  # scipy sparse, any format; the caller's is not changed
        W = W.tocsr()
        if not W.has_canonical_format:
            W = W.copy()
            W.sum_duplicates()
        if W.nnz and not np.all(W.data == 1):
            raise ParameterError("'W' needs binary (0/1) weights.")
    if getattr(W, "shape", None) != (n, n) or not hasattr(W, "indptr"):
        raise ParameterError(
            f"'W' needs to be a scipy sparse matrix or Neighbours of shape ({n}, "
            f"{n}); got {type(W).__name__} {getattr(W, 'shape', None)}."
        )
    indptr = np.asarray(W.indptr, np.int64)
    indices = np.asarray(W.indices, np.int64)
    try:
        check_neighbour_index(indptr, indices, n)
    except ValueError:
        raise ParameterError(
            "'W' is not a valid compressed-row neighbour index.") from None
    return indptr, indices


def check_neighbour_index(indptr: np.ndarray, indices: np.ndarray, n: int) -> None:
    """Raise ValueError unless ``indptr, indices`` are a valid ``n × n``
    compressed-row pattern: ``indptr`` of length n + 1 from 0 to the number of
    entries, never falling, and every index in ``[0, n)``."""
    if (indptr.ndim != 1 or indices.ndim != 1 or len(indptr) != n + 1
            or indptr[0] != 0 or indptr[-1] != len(indices)
            or np.any(np.diff(indptr) < 0)
            or (len(indices) and (indices.min() < 0 or indices.max() >= n))):
        raise ValueError("not a valid neighbour index")


def _check_pool(pool) -> np.ndarray:
    pool = np.asarray(pool, dtype="float64")
    if pool.ndim != 1 or not np.isfinite(pool).all() or (pool < 0).any():
        raise ParameterError("'pool' needs finite, non-negative values (1-D).")
    if pool.sum() <= 0:
        raise ParameterError("no offences in the study grid: Gi* is undefined.")
    return pool


def _draws(n_slots: int, k: int, permutations: int, seed) -> np.ndarray:
    """``permutations`` rows of ``k`` distinct indices in ``[0, n_slots)``."""
    rng = np.random.default_rng(None if seed is None else [int(seed), int(k)])
    idx = rng.integers(0, n_slots, size=(permutations, k))
    if k > 1:
        while True:
            srt = np.sort(idx, axis=1)
            bad = np.flatnonzero((np.diff(srt, axis=1) == 0).any(axis=1))
            if not len(bad):
                break
            # a row of k draws has no repeat with chance ~exp(-k(k-1)/2n): drawn
            # again while that is not hopeless, else without replacement
            hopeless = k * (k - 1) > 14 * n_slots  # chance under 1e-3
            if not hopeless and (len(bad) * 4 < permutations or k * 4 < n_slots):
                idx[bad] = rng.integers(0, n_slots, size=(len(bad), k))
            elif k * 4 < n_slots:  # few of many: no need to shuffle them all
                for b in bad:
                    idx[b] = rng.choice(n_slots, k, replace=False)
            else:  # dense draws: permutations are cheaper than rejection
                for b in bad:
                    idx[b] = rng.permutation(n_slots)[:k]
    return idx


def _permutation_p(y, s, k, z, permutations, seed, max_values, pool):
    n = len(pool)
    pool = np.sort(pool)
    p_one = np.ones(len(y))
    vals, inv = np.unique(y, return_inverse=True)
    exact = len(_distinct(pool)) <= max_values
    whole = bool(np.all(pool == np.round(pool))) and bool(np.all(s == np.round(s)))
    eps = 1e-9 * max(1.0, float(np.abs(s).max()))
    up = z >= 0
    rank = _rank_counts if whole else _rank
    for kk in _distinct(k):
        cells_k = np.flatnonzero(k == kk)
        if kk == 0:  # no neighbours: nothing to compare
            continue
        if exact:
            draws = _draws(n - 1, kk, permutations, seed)
            base, rows, at, step = _shared_sums(pool, draws)
            for vi in _distinct(inv[cells_k]):
                r = np.searchsorted(pool, vals[vi], side="left")
                m = at >= r  # draws past the removed copy of the cell's value
                null = base + np.bincount(rows[m], weights=step[m],
                                          minlength=permutations)
                rank(null, s, cells_k[inv[cells_k] == vi], up, p_one, permutations,
                     eps)
        else:
            draws = _draws(n, kk, permutations, seed)
            rank(pool[draws].sum(axis=1), s, cells_k, up, p_one, permutations, eps)
    return p_one, exact


def _shared_sums(pool, draws):
    """The null sums of every value at once.

    Removing one copy of ``v`` from the sorted pool shifts slot ``d`` to pool index
    ``d + (d >= r_v)``. So a draw's sum is the sum over ``pool[d]`` plus, for each
    drawn slot at or past ``r_v``, the step ``pool[d + 1] − pool[d]`` — which is
    zero except where the sorted pool changes value. Those few non-zero steps are
    kept sparse (row, slot, step) and added per value with one ``bincount``.
    """
    low = pool[draws]
    steps = pool[draws + 1] - low
    rows, cols = np.nonzero(steps)
    return low.sum(axis=1), rows, draws[rows, cols], steps[rows, cols]


def _rank(null, s, cells, up, p_one, permutations, eps):
    null = np.sort(null)
    obs = s[cells]
    ge = permutations - np.searchsorted(null, obs - eps, side="left")  # null >= obs
    le = np.searchsorted(null, obs + eps, side="right")  # null <= obs
    tail = np.where(up[cells], ge, le)
    p_one[cells] = (tail + 1.0) / (permutations + 1.0)


def _rank_counts(null, s, cells, up, p_one, permutations, eps):
    """:func:`_rank` for whole-number sums: a histogram instead of a sort."""
    null = np.rint(null).astype(np.int64)
    lo = int(null.min())
    below = np.concatenate([[0], np.cumsum(np.bincount(null - lo))])  # #(null < lo+i)
    obs = np.rint(s[cells]).astype(np.int64) - lo
    le = below[np.clip(obs + 1, 0, len(below) - 1)]  # null <= obs
    ge = permutations - below[np.clip(obs, 0, len(below) - 1)]  # null >= obs
    tail = np.where(up[cells], ge, le)
    p_one[cells] = (tail + 1.0) / (permutations + 1.0)
