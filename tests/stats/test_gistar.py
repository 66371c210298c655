"""Gi*: agreement with esda (the reference), hand-worked cases, ties, seeds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from libpysal.weights import WSP, lat2W

from hotspots.errors import ParameterError
from hotspots.stats.gistar import gistar


def _lattice(nrows, ncols, rook=False):
    w = lat2W(nrows, ncols, rook=rook)
    return w, sp.csr_matrix(w.sparse)


def _esda(y, W, permutations, seed):
    from esda.getisord import G_Local

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G_Local(
            np.asarray(y, float),
            WSP(W).to_W(silence_warnings=True),
            transform="B",
            star=True,
            permutations=permutations,
            seed=seed,
        )


@pytest.mark.parametrize("shape", [(5, 5), (12, 9), (30, 30)], ids=str)
def test_statistic_and_z_equal_esda(shape):
    rng = np.random.default_rng(1)
    _, W = _lattice(*shape)
    y = rng.poisson(2.0, size=shape[0] * shape[1]).astype(float)
    y[: shape[1]] += 6  # a hot edge
    ours = gistar(y, W, permutations=0)
    ref = _esda(y, W, 0, None)
    np.testing.assert_allclose(ours.gs, ref.Gs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.ei, ref.EGs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.vi, ref.VGs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.z, ref.Zs, rtol=0, atol=1e-9)


def test_hand_worked_line_of_five():
    # y = 0 1 9 1 0 on a line; total 11, n = 5
    # G*_2 = (1 + 9 + 1) / 11 = 1 ; card_2 = 3 ; E = 3/5
    # mean = 11/5 = 2.2 ; mean of squares = 83/5 = 16.6 ; s2 = 16.6 - 4.84 = 11.76
    # V = 3 * (5 - 3) / 4 / 25 * s2 / mean^2 = 0.06 * 11.76 / 4.84
    # z = (1 - 0.6) / sqrt(V)
    W = sp.diags([1.0, 1.0], [-1, 1], shape=(5, 5)).tocsr()
    r = gistar([0, 1, 9, 1, 0], W, permutations=0)
    v = 0.06 * 11.76 / 4.84
    assert r.gs[2] == pytest.approx(1.0)
    assert r.ei[2] == pytest.approx(0.6)
    assert r.vi[2] == pytest.approx(v)
    assert r.z[2] == pytest.approx(0.4 / np.sqrt(v))
    assert r.cardinality.tolist() == [1, 2, 2, 2, 1]


def test_pseudo_p_values_agree_with_esda_within_monte_carlo_error():
    """Continuous values (no ties): our tail is esda's tail. Our p with many
    permutations is the near-exact reference; esda's 999 must sit within ±4 SE."""
    rng = np.random.default_rng(7)
    _, W = _lattice(20, 20)
    y = rng.gamma(2.0, 1.0, size=400)
    y[:40] *= 3.0
    fine = gistar(y, W, permutations=99_999, seed=3)
    ref = _esda(y, W, 999, 11)
    # esda folds its p into the smaller tail; compare where the tail is the same
    same_tail = fine.p_one < 0.5
    p = fine.p_one[same_tail]
    se = np.sqrt(p * (1 - p) / 999)
    diff = np.abs(ref.p_sim[same_tail] - p)
    assert (diff <= 4 * se + 2 / 1000).mean() >= 0.99
    # |N(0, 1)| averages 0.8: the errors are Monte-Carlo sized, not a bias
    assert (diff / np.maximum(se, 1e-3)).mean() < 1.2
    assert abs((ref.p_sim[same_tail] - p).mean()) < 0.005
    # and the 95 % hot calls agree
    hot_ref = (ref.Zs > 0) & (2 * ref.p_sim <= 0.05)
    hot_ours = (fine.z > 0) & (fine.p_sim <= 0.05)
    assert (hot_ref == hot_ours).mean() >= 0.97


def test_exact_null_matches_a_brute_force_enumeration():
    """Tiny grid: enumerate every choice of neighbours from the other cells."""
    from itertools import combinations

    y = np.array([0, 0, 1, 3, 0, 2, 0, 5], dtype=float)
    W = sp.csr_matrix(np.roll(np.eye(8), 1, axis=1) + np.roll(np.eye(8), -1, axis=1))
    r = gistar(y, W, permutations=200_000, seed=5)
    s = np.asarray(W @ y).ravel()
    for i in range(8):
        others = np.delete(y, i)
        sums = np.array([others[list(c)].sum() for c in combinations(range(7), 2)])
        tail = (sums >= s[i]).mean() if r.z[i] >= 0 else (sums <= s[i]).mean()
        assert r.p_one[i] == pytest.approx(tail, abs=0.005)


def test_an_empty_cell_in_an_empty_neighbourhood_is_never_significant():
    rng = np.random.default_rng(2)
    _, W = _lattice(30, 30)
    y = np.zeros(900)
    y[rng.choice(900, 60, replace=False)] = rng.integers(1, 4, 60)
    r = gistar(y, W, permutations=999, seed=1)
    empty = (y == 0) & (np.asarray(W @ y).ravel() == 0)
    assert empty.sum() > 300
    assert (r.p_sim[empty] > 0.5).all()
    # esda's folded p calls many of them significant cold spots
    ref = _esda(y, W, 999, 1)
    assert ((ref.p_sim[empty] <= 0.05) & (ref.Zs[empty] < 0)).sum() > 100


def test_same_seed_same_answer_and_cell_order_does_not_matter():
    rng = np.random.default_rng(4)
    _, W = _lattice(15, 15)
    y = rng.poisson(1.0, 225).astype(float)
    a = gistar(y, W, permutations=999, seed=42)
    b = gistar(y, W, permutations=999, seed=42)
    np.testing.assert_array_equal(a.p_sim, b.p_sim)
    c = gistar(y, W, permutations=999, seed=43)
    assert not np.array_equal(a.p_sim, c.p_sim)
    perm = rng.permutation(225)
    Wp = W[perm][:, perm]
    d = gistar(y[perm], Wp, permutations=999, seed=42)
    np.testing.assert_array_equal(d.p_sim, a.p_sim[perm])


def test_shared_null_fallback_stays_close_to_the_exact_null():
    rng = np.random.default_rng(9)
    _, W = _lattice(25, 25)
    y = rng.gamma(1.0, 2.0, 625)
    exact = gistar(y, W, permutations=20_000, seed=1)
    approx = gistar(y, W, permutations=20_000, seed=1, max_values=1)
    assert exact.exact_null and not approx.exact_null
    assert np.abs(exact.p_one - approx.p_one).max() < 0.03


@pytest.mark.parametrize(
    ("y", "W", "match"),
    [
        ([1, -1, 2, 0], sp.eye(4, k=1, format="csr"), "non-negative"),
        ([0, 0, 0, 0], sp.eye(4, k=1, format="csr"), "no offences"),
        ([1, 2, 3], sp.eye(4, format="csr"), "shape"),
        ([1, 2, 3, 4], sp.eye(4, format="csr"), "zero diagonal"),
        ([1, 2, 3, 4], 0.5 * sp.eye(4, k=1, format="csr"), "binary"),
    ],
    ids=["negative", "all-zero", "shape", "diagonal", "weighted"],
)
def test_bad_input_is_named(y, W, match):
    with pytest.raises(ParameterError, match=match):
        gistar(y, W, permutations=9)


def test_neighbour_arrays_give_the_same_answer_as_the_scipy_matrix():
    """The analysis path hands Gi* the grid's neighbour arrays (no scipy import);
    they are the same statistic and the same pseudo p-values as the matrix."""
    from hotspots.grid import Neighbours

    rng = np.random.default_rng(4)
    _, W = _lattice(15, 11)
    y = rng.poisson(1.5, size=W.shape[0]).astype(float)
    a = gistar(y, W, permutations=199, seed=3)
    b = gistar(y, Neighbours(W.indptr, W.indices), permutations=199, seed=3)
    for f in ("gs", "z", "p_sim", "cardinality"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    # a matrix with a repeated entry is summed first (weight 2): refused as weighted,
    # and the caller's matrix is left as it was
    dup = sp.csr_matrix((np.ones(3), np.array([1, 1, 0]), np.array([0, 2, 3, 3])),
                        shape=(3, 3))
    with pytest.raises(ParameterError, match="binary"):
        gistar([1, 2, 3], dup, permutations=0)
    assert dup.nnz == 3 and not dup.has_canonical_format
    # a broken index is named, not read out of range
    with pytest.raises(ParameterError, match="compressed-row"):
        gistar([1, 2, 3], Neighbours(np.array([0, 1, 2, 2]), np.array([1, 7])),
               permutations=0)


def test_a_partition_with_a_halo_scores_its_core_exactly_as_the_whole_grid():
    """What the Dask path relies on: global pool in, same z and p out."""
    rng = np.random.default_rng(12)
    _, W = _lattice(20, 20)
    y = rng.poisson(1.5, 400).astype(float)
    whole = gistar(y, W, permutations=999, seed=8)
    core = np.arange(0, 120)  # first six rows of the lattice
    local = np.arange(0, 140)  # plus a one-row halo
    part = gistar(y[local], W[local][:, local], permutations=999, seed=8, pool=y,
                  rows=core)
    np.testing.assert_array_equal(part.z, whole.z[core])
    np.testing.assert_array_equal(part.p_sim, whole.p_sim[core])


@pytest.mark.parametrize("n, k", [(2900, 330), (2900, 200), (500, 40), (50, 49)])
def test_draws_are_distinct_rows_also_where_rejection_is_hopeless(n, k):
    """k draws of n where a row without a repeat is all but impossible (k = 330
    of 2,900: chance ~e^-19; the draw had looped for ever); reproducible."""
    from hotspots.stats.gistar import _draws

    d = _draws(n, k, 99, 7)
    assert d.shape == (99, k) and d.min() >= 0 and d.max() < n
    assert all(len(set(row)) == k for row in d.tolist())
    assert np.array_equal(d, _draws(n, k, 99, 7))
