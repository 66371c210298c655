"""Emerging hot spots: Mann–Kendall, space-time neighbours, and every category built
on purpose."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from hotspots.errors import ParameterError
from hotspots.grid import ring_weights
from hotspots.stats.emerging import (
    CATEGORIES,
    classify,
    emerging_cube,
    mann_kendall,
    space_time_weights,
)

T = 10
UP, FLAT, DOWN = (3.0, 0.001), (0.2, 0.8), (-3.0, 0.001)


def _flags(steps):
    f = np.zeros(T, dtype=bool)
    f[list(steps)] = True
    return f


# name: (hot steps, cold steps, trend (z, p))
CASES = {
    "new hot spot": ([9], [], FLAT),
    "consecutive hot spot": ([7, 8, 9], [], FLAT),
    "intensifying hot spot": (range(10), [], UP),
    "persistent hot spot": (range(10), [], FLAT),
    "diminishing hot spot": (range(10), [], DOWN),
    "sporadic hot spot": ([2, 5, 9], [], FLAT),
    "oscillating hot spot": ([4, 9], [1], FLAT),
    "historical hot spot": (range(9), [], FLAT),
    "new cold spot": ([], [9], FLAT),
    "consecutive cold spot": ([], [8, 9], FLAT),
    "intensifying cold spot": ([], range(10), DOWN),
    "persistent cold spot": ([], range(10), FLAT),
    "diminishing cold spot": ([], range(10), UP),
    "sporadic cold spot": ([], [0, 3, 9], FLAT),
    "oscillating cold spot": ([2], [5, 9], FLAT),
    "historical cold spot": ([], range(9), FLAT),
    "no pattern detected": ([3], [6], FLAT),
}


def test_every_category_has_a_case():
    assert set(CASES) == set(CATEGORIES)


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_classify_builds_each_category(name):
    hot, cold, (tz, tp) = CASES[name]
    got = classify(_flags(hot)[None], _flags(cold)[None], np.array([tz]),
                   np.array([tp]))
    assert got.tolist() == [name]


def test_a_run_with_earlier_hot_months_is_sporadic_not_consecutive():
    got = classify(_flags([2, 8, 9])[None], _flags([])[None], np.array([0.0]),
                   np.array([1.0]))
    assert got.tolist() == ["sporadic hot spot"]


def test_mann_kendall_matches_scipy_without_ties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 15)) + np.linspace(0, 2, 15)
    tau, z, p = mann_kendall(x)
    for r in range(20):
        ref = stats.kendalltau(np.arange(15), x[r])
        assert tau[r] == pytest.approx(ref.statistic)
    assert (p[tau > 0.5] < 0.05).all()


def test_mann_kendall_hand_worked_with_ties():
    # x = 1 2 2 3: pairs (i<j) signs: +,+,+, 0,+, + -> S = 5 ; n = 4
    # Var = [4*3*13 - 2*1*9] / 18 = (156 - 18) / 18 = 7.6667 ; Z = (5 - 1)/sqrt(Var)
    tau, z, p = mann_kendall(np.array([[1.0, 2.0, 2.0, 3.0]]))
    assert tau[0] == pytest.approx(5 / 6)
    assert z[0] == pytest.approx(4 / np.sqrt(138 / 18))
    const = mann_kendall(np.zeros((1, 5)))
    assert (const[0][0], const[1][0], const[2][0]) == (0.0, 0.0, 1.0)


def test_space_time_weights_link_the_previous_month():
    W = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    S = space_time_weights(W, 3, 1).toarray()
    assert S.shape == (9, 9) and np.diag(S).sum() == 0
    # cell 1 at t=1 (bin 4): ring now (bins 3, 5), itself and ring at t=0 (0, 1, 2)
    assert np.flatnonzero(S[4]).tolist() == [0, 1, 2, 3, 5]
    # t=0 has no past
    assert np.flatnonzero(S[1]).tolist() == [0, 2]


def _grid():
    centre = h3.latlng_to_cell(51.41, -0.19, 9)
    cells = sorted(h3.grid_disk(centre, 5))
    return cells, ring_weights(cells, 1)


def _plant(cube, cells, centre, months, count):
    for c in h3.grid_disk(centre, 1):
        cube[cells.index(c), months] += count


def test_cube_end_to_end_finds_built_patterns():
    cells, W = _grid()
    rng = np.random.default_rng(3)
    T = 12
    cube = rng.poisson(0.3, size=(len(cells), T)).astype(float)
    centre = h3.latlng_to_cell(51.41, -0.19, 9)
    ring3 = sorted(h3.grid_ring(centre, 3))
    a = ring3[0]
    far = max(ring3, key=lambda c: h3.grid_distance(c, a))  # rings inside the grid
    _plant(cube, cells, a, slice(None), 6)  # hot every month
    _plant(cube, cells, far, [T - 1], 12)  # hot only in the last month
    res = emerging_cube(cube, W, permutations=9999, seed=1)
    cat = dict(zip(cells, res["category"], strict=True))
    assert cat[a] in ("persistent hot spot", "intensifying hot spot",
                      "diminishing hot spot")
    assert cat[far] == "new hot spot"
    # empty background cells are never cold spots in an empty neighbourhood
    assert not any(c.endswith("cold spot") for c in res["category"][cube.sum(1) == 0])


def test_cube_is_reproducible_with_a_seed():
    cells, W = _grid()
    cube = np.random.default_rng(5).poisson(1.0, size=(len(cells), 6)).astype(float)
    a = emerging_cube(cube, W, permutations=499, seed=9)
    b = emerging_cube(cube, W, permutations=499, seed=9)
    assert a["category"].tolist() == b["category"].tolist()
    np.testing.assert_array_equal(a["p_adj"], b["p_adj"])


def test_too_few_months_is_a_clear_error():
    cells, W = _grid()
    with pytest.raises(ParameterError, match="at least 3 months"):
        emerging_cube(np.ones((len(cells), 2)), W)
