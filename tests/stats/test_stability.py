"""Stable Gi* calls: exact p-values against enumeration, seed invariance on real
Merton robbery, and the sequential stopping rule."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest
import scipy.sparse as sp

from hotspots.errors import ParameterError
from hotspots.stats.gistar import gistar
from hotspots.stats.stability import _cdf, _exact_p, stable_gistar

SEEDS = (20220505, 7, 1, 2, 3, 4, 5, 6, 8, 9)


def _enumerate(y, W, i):
    """Two-sided conditional-permutation p-value of cell i by listing every draw."""
    nb = W.indices[W.indptr[i]:W.indptr[i + 1]]
    s = y[nb].sum()
    pool = np.delete(y, i)
    sums = [sum(c) for c in itertools.combinations(pool, len(nb))]
    z = gistar(y.astype(float), W, permutations=0).z[i]
    if z >= 0:
        tail = np.mean([v >= s for v in sums])
    else:
        tail = np.mean([v <= s for v in sums])
    return min(1.0, 2 * tail)


def test_exact_p_equals_enumeration():
    rng = np.random.default_rng(4)
    n = 11
    y = rng.poisson(1.2, n)
    y[5] = 7
    W = (sp.diags([1.0, 1.0, 1.0], [-1, 1, 3], shape=(n, n))).tocsr()
    W = sp.csr_matrix(((W + W.T) > 0).astype(float))
    cells = np.arange(n)
    z = gistar(y.astype(float), W, permutations=0).z
    got = _exact_p(y, W, cells, z)
    want = [_enumerate(y, W, i) for i in cells]
    assert got == pytest.approx(want, abs=1e-12)


def test_the_permutation_estimate_converges_to_the_exact_p():
    rng = np.random.default_rng(8)
    n = 300
    y = rng.poisson(0.6, n)
    y[150:154] = [4, 6, 5, 4]
    W = sp.diags([1.0, 1.0], [-1, 1], shape=(n, n)).tocsr()
    z = gistar(y.astype(float), W, permutations=0).z
    exact = _exact_p(y, W, np.arange(145, 160), z)
    est = gistar(y.astype(float), W, permutations=99_999, seed=3).p_sim[145:160]
    se = np.sqrt(np.maximum(exact, 1e-5) * 2 / 99_999)
    assert np.all(np.abs(est - exact) < 5 * se + 3e-5)


def test_cdf_of_a_small_multiset_by_hand():
    # values {0, 0, 1, 3}: draws of 2 have sums 0 (1 way), 1 (2), 3 (2), 4 (1)
    vals, cnts = np.array([0, 1, 3]), np.array([2, 1, 1])
    assert _cdf(vals, cnts, 2, 0) == pytest.approx(1 / comb(4, 2))
    assert _cdf(vals, cnts, 2, 2) == pytest.approx(3 / 6)
    assert _cdf(vals, cnts, 2, 3) == pytest.approx(5 / 6)
    assert _cdf(vals, cnts, 2, 9) == pytest.approx(1.0)
    assert _cdf(vals, cnts, 2, -1) == 0.0


def test_permutations_are_added_until_the_calls_are_clear():
    W = sp.diags([1.0, 1.0], [-1, 1], shape=(400, 400)).tocsr()
    y = np.zeros(400)
    y[200:203] = 30
    y[::7] += 1
    runs = [stable_gistar(y, W, seed=s, correction="none") for s in (1, 2, 3)]
    for r in runs:
        # 999 leave a few cells within Monte-Carlo error of 0.05; 9,999 settle them
        assert r.steps[0][0] == 999 and r.steps[0][1] > 0
        assert r.steps[-1] == (9_999, 0) and r.permutations == 9_999
        assert not r.exact.any() and r.unstable == 0
        assert np.flatnonzero(r.called).tolist() == [199, 200, 201, 202, 203]
        assert (r.margin[r.called] > 0).all()
        assert "Every call is stable" in " ".join(r.summary())
    # with FDR over 400 cells the middle cell's p (2.5e-5) is below the floor of
    # 999 permutations and near its threshold at 99,999: it takes the exact value
    r = stable_gistar(y, W, seed=1)
    assert r.exact.any() and r.unstable == 0
    assert r.to_dict()["exact_cells"] == int(r.exact.sum())


def test_harm_values_keep_unstable_cells_flagged():
    W = sp.diags([1.0, 1.0], [-1, 1], shape=(200, 200)).tocsr()
    y = np.array([0.0] * 98 + [5.5] * 5 + [0.0] * 97)
    r = stable_gistar(y, W, seed=1, max_permutations=9_999)
    assert not r.exact.any()  # no exact shortcut for non-integer values
    assert r.unstable == 3 and r.permutations == 9_999
    assert "may change with the seed" in " ".join(r.summary())


@pytest.mark.parametrize(("kw", "message"), [
    ({"alpha": 1.5}, "'alpha' needs levels in"),
    ({"correction": "holm"}, "'correction' needs to be one of"),
    ({"gamma": 0}, "'gamma' needs to be in"),
    ({"max_permutations": 0}, "'max_permutations' needs to be a whole number"),
], ids=["alpha", "correction", "gamma", "max"])
def test_bad_requests(kw, message):
    W = sp.diags([1.0, 1.0], [-1, 1], shape=(10, 10)).tocsr()
    with pytest.raises(ParameterError, match=message):
        stable_gistar(np.arange(10.0), W, **kw)


@pytest.mark.shared
@pytest.mark.parametrize("res", [9, 10])
def test_ten_seeds_give_the_same_hot_spots_on_merton_robbery_2022(shared_store, res):
    """Plain 'analyse' gave 6, 2, 0 and 1 cells at 95 % for four of these seeds at
    res 9; the stable calls are the same for all ten."""
    from hotspots.study import Study

    st = Study.load("Merton", "robbery", "2022-01", "2022-12", res=res,
                    store=shared_store, fields=("month",))
    y, W = st.total(), st.grid.weights(1)
    calls = {tuple(np.flatnonzero(stable_gistar(y, W, seed=s).bins >= 2))
             for s in SEEDS}
    assert len(calls) == 1
    assert len(next(iter(calls))) > 0


def test_an_exact_p_too_costly_is_left_flagged(monkeypatch):
    import hotspots.stats.stability as stab

    monkeypatch.setattr(stab, "MAX_EXACT_WORK", 0)
    W = sp.diags([1.0, 1.0], [-1, 1], shape=(200, 200)).tocsr()
    y = [0] * 98 + [5] * 5 + [0] * 97
    r = stable_gistar(y, W, seed=1, max_permutations=9_999)
    assert not r.exact.any() and r.unstable == 3
