"""Work and memory limits (hotspots.limits): estimated before running, refused early.

The estimates are checked against independent references: h3's own ring sizes and
study grids, and the bytes numpy really allocates in a Gi* run (tracemalloc).
"""

from __future__ import annotations

import math
import tracemalloc

import h3
import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from hotspots.errors import ParameterError
from hotspots.limits import (
    Limits,
    cells_for_area,
    check_archive_member,
    check_cells,
    check_distance,
    check_gistar,
    check_permutations,
    check_ring,
    gistar_cost,
    gistar_shape,
    neighbours_within,
    preflight,
    ring_cells,
)
from hotspots.stats.gistar import gistar

GIB = 1 << 30
CAP_KEYS = ("HOTSPOTS_MAX_MEMORY_MB", "HOTSPOTS_MAX_WORK", "HOTSPOTS_MAX_K",
            "HOTSPOTS_MAX_CELLS", "HOTSPOTS_MAX_UNZIP_MB", "HOTSPOTS_MAX_UNZIP_RATIO")


@pytest.fixture(autouse=True)
def default_caps(monkeypatch):
    """Every test starts from the default caps, whatever the shell exported."""
    for key in CAP_KEYS:
        monkeypatch.delenv(key, raising=False)


def _peak_bytes(fn):
    """(result or exception, peak bytes traced while ``fn`` ran)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        res = fn()
    except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
        res = exc
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return res, peak


def _line(n):
    """Binary neighbours of ``n`` cells on a line (the cell either side)."""
    return sp.diags([1.0, 1.0], [-1, 1], shape=(n, n)).tocsr()


# -- caps ------------------------------------------------------------------------------
def test_defaults_and_environment(monkeypatch):
    lim = Limits.from_env()
    assert (lim.max_memory_mb, lim.max_k, lim.max_cells) == (8192, 25, 2_000_000)
    assert lim.max_memory_bytes == 8 * GIB
    monkeypatch.setenv("HOTSPOTS_MAX_MEMORY_MB", "1_024")
    monkeypatch.setenv("HOTSPOTS_MAX_WORK", "2e9")
    monkeypatch.setenv("HOTSPOTS_MAX_K", "5")
    lim = Limits.from_env()
    assert (lim.max_memory_mb, lim.max_work, lim.max_k) == (1024, 2e9, 5)
    with pytest.raises(ParameterError,
                       match=r"'k' 6 .*the cap is 5 \(HOTSPOTS_MAX_K\)"):
        check_ring(6)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("HOTSPOTS_MAX_WORK", "-5", "'HOTSPOTS_MAX_WORK' needs to be a number > 0"),
     ("HOTSPOTS_MAX_MEMORY_MB", "1.5",
      "'HOTSPOTS_MAX_MEMORY_MB' needs to be a whole number > 0. '1.5' was given"),
     ("HOTSPOTS_MAX_K", "nan", "'HOTSPOTS_MAX_K' needs to be a whole number > 0")],
    ids=["negative", "fraction", "nan"])
def test_bad_caps_are_refused(monkeypatch, key, value, message):
    monkeypatch.setenv(key, value)
    with pytest.raises(ParameterError, match=message):
        check_ring(1)


# -- k-rings ---------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_ring_size_matches_h3(k):
    cell = h3.latlng_to_cell(51.41, -0.19, 9)
    assert ring_cells(k) == len(h3.grid_disk(cell, k))


def test_k_500_is_refused_before_any_allocation():
    res, peak = _peak_bytes(lambda: check_ring(500))
    assert isinstance(res, ParameterError)
    assert str(res) == ("'k' 500 makes neighbourhoods of 751,501 cells (3k(k+1)+1); "
                        "the cap is 25 (HOTSPOTS_MAX_K). Use ≤ 25.")
    assert peak < 256 * 1024


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2"],
                         ids=["zero", "negative", "fraction", "bool", "text"])
def test_k_must_be_a_whole_number(k):
    with pytest.raises(ParameterError, match="'k' needs to be a whole number ≥ 1"):
        check_ring(k)


def test_ring_memory_with_the_grid_size():
    # 100,000 cells × 3k(k+1) pairs × 80 bytes: k=1 is 48 MB, k=2 144 MB, k=10 2.5 GB
    lim = Limits(max_memory_mb=100)
    assert check_ring(1, 100_000, limits=lim) == 6
    with pytest.raises(ParameterError,
                       match=r"'k' 10 × 100,000 cells \(330 neighbours each\) needs "
                             r"about 2.5 GB of memory; the cap is 100 MB "
                             r"\(HOTSPOTS_MAX_MEMORY_MB\). Use ≤ 1\."):
        check_ring(10, 100_000, limits=lim)


# -- Gi* permutations ------------------------------------------------------------------
def test_a_billion_permutations_are_refused_at_once():
    # 1e9 × (25 × 6 + 24) bytes = 162 GiB; 8 GiB fits 49.4 M, the nice value below
    # is 19,999,999
    res, peak = _peak_bytes(lambda: check_permutations(1_000_000_000))
    assert isinstance(res, ParameterError)
    assert str(res) == (
        "'permutations' 1,000,000,000 needs about 162 GB of memory (the engine draws "
        "1,000,000,000 × 6 neighbour values); the cap is 8 GB "
        "(HOTSPOTS_MAX_MEMORY_MB). Use ≤ 19,999,999.")
    assert peak < 256 * 1024


def test_gistar_refuses_before_drawing(monkeypatch):
    # end cells have 1 neighbour, the others 2: the k=2 draws are made while the
    # k=1 draws live, 8 × 1 + 25 × 2 + 24 = 82 bytes a permutation, 10 M of them
    # 782 MiB > 256 MiB (a cap low enough that a missing check would cost little);
    # 256 MiB / 82 fits 3.27 M, so 1,999,999
    monkeypatch.setenv("HOTSPOTS_MAX_MEMORY_MB", "256")
    y = np.array([0.0, 1.0, 9.0, 1.0, 0.0])
    res, peak = _peak_bytes(
        lambda: gistar(y, _line(5), permutations=10_000_000, seed=1))
    assert isinstance(res, ParameterError)
    assert str(res) == (
        "'permutations' 10,000,000 × 5 cells needs about 782 MB of memory (the "
        "engine draws 10,000,000 × 2 neighbour values for each of 2 neighbour "
        "counts); the cap is 256 MB (HOTSPOTS_MAX_MEMORY_MB). Use ≤ 1,999,999.")
    assert peak < 1 << 20  # not one of the 10 M × 2 draws was made


def test_work_cap_from_the_environment(monkeypatch):
    y = np.arange(40, dtype=float) % 7
    monkeypatch.setenv("HOTSPOTS_MAX_WORK", "1e6")
    with pytest.raises(ParameterError,
                       match=r"'permutations' 99,999 × 40 cells needs about .* steps .*"
                             r"the cap is 1.0 million \(HOTSPOTS_MAX_WORK\). Use ≤ \d"):
        gistar(y, _line(40), permutations=99_999, seed=1)
    monkeypatch.setenv("HOTSPOTS_MAX_WORK", "1e9")
    r = gistar(y, _line(40), permutations=999, seed=1)
    assert r.permutations == 999


def test_the_suggested_permutations_fit():
    y = np.arange(200, dtype=float) % 11
    lim = Limits(max_memory_mb=64)
    with pytest.raises(ParameterError, match=r"Use ≤ ([\d,]+)\.") as info:
        check_gistar(y, np.full(200, 6), 10_000_000, limits=lim)
    use = int(info.value.args[0].rsplit("≤ ", 1)[1].rstrip(".").replace(",", ""))
    assert use in (99_999, 199_999, 499_999, 999_999, 1_999_999)
    check_gistar(y, np.full(200, 6), use, limits=lim)  # the advice is accepted


def test_shape_by_hand():
    # k=1: values {0, 1}; k=2: values {0, 3}
    assert gistar_shape([0, 0, 3, 1, 0], [2, 2, 2, 1, 1]) == {1: 2, 2: 2}
    assert gistar_shape([], []) == {}


def test_memory_shape_by_hand():
    # k=2 first (25 × 2 = 50 bytes a permutation), then k=6 while k=2's draws live
    # (8 × 2 + 25 × 6 = 166): peak 166 + 24 for the null, plus 160 a cell
    c = gistar_cost(100, 1_000, {2: 1, 6: 3})
    assert c.memory_bytes == 1_000 * (166 + 24) + 100 * 160


def test_distinct_values_drive_the_work_not_the_memory():
    few = gistar_cost(10_000, 9_999, {6: 10})
    many = gistar_cost(10_000, 9_999, {6: 1_000})
    assert few.memory_bytes == many.memory_bytes
    assert many.work > 50 * few.work
    inexact = gistar_cost(10_000, 9_999, {6: 1_000}, exact=False)
    assert inexact.work < few.work


def test_estimate_matches_what_numpy_allocates():
    """The model against the engine itself: tracemalloc sees numpy's buffers."""
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(51.41, -0.19, 9), 3))  # 37 cells
    index = {c: i for i, c in enumerate(cells)}
    rows, cols = [], []
    for c in cells:
        for nb in h3.grid_disk(c, 1):
            if nb != c and nb in index:
                rows.append(index[c])
                cols.append(index[nb])
    W = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(37, 37))
    y = np.random.default_rng(3).poisson(2.0, 37).astype(float)
    k = np.asarray(W.sum(axis=1)).ravel()
    est = check_gistar(y, k, 40_000).memory_bytes
    res, peak = _peak_bytes(lambda: gistar(y, W, permutations=40_000, seed=2))
    assert not isinstance(res, Exception)
    print(f"traced peak / estimate = {peak / est:.3f}")
    assert 0.75 < peak / est < 1.25, (peak, est)


# -- distance bands, cells, archives ---------------------------------------------------
def test_distance_band_estimate_against_a_real_band():
    from scipy.spatial import cKDTree

    from hotspots.areas import bng_xy

    cells = sorted(h3.grid_disk(h3.latlng_to_cell(51.41, -0.19, 9), 8))
    lat, lon = np.array([h3.cell_to_latlng(c) for c in cells]).T
    x, y = bng_xy(lon, lat)
    tree = cKDTree(np.column_stack([x, y]))
    centre = cells.index(h3.latlng_to_cell(51.41, -0.19, 9))
    actual = len(tree.query_ball_point([x[centre], y[centre]], 1_000)) - 1
    est = neighbours_within(1_000, 9)
    assert 0.8 < est / actual < 1.25, (est, actual)


def test_distance_band_caps():
    # the cap is a 25-ring: 1,950 neighbours; sqrt(1950 · a9 / π) m with a9 the h3
    # average r9 area (105,332.5 m²) is 8,085.9 m
    with pytest.raises(ParameterError,
                       match=r"'distance' 50,000 m reaches about 74,563 cells "
                             r"around each cell at res 9; the cap is 1,950 .* "
                             r"Use ≤ 8,085 m\."):
        check_distance(50_000, 9)
    for bad in (0, -5, math.nan, math.inf):
        with pytest.raises(ParameterError, match="'distance' needs to be a number"):
            check_distance(bad, 9)
    assert check_distance(300, 9) == neighbours_within(300, 9)


def test_cells_for_an_area_against_h3():
    box = shapely.box(-0.25, 51.38, -0.15, 51.44)  # about 7 × 6.7 km
    actual = len(h3.geo_to_cells(box, 9))
    from hotspots.areas import bng_xy

    x, y = bng_xy(np.array([-0.25, -0.15]), np.array([51.41, 51.41]))
    w = float(x[1] - x[0])
    x2, y2 = bng_xy(np.array([-0.2, -0.2]), np.array([51.38, 51.44]))
    h = float(y2[1] - y2[0])
    est = cells_for_area(w * h / 1e6, 9)
    assert actual <= est < 1.25 * actual, (est, actual)


def test_cell_cap():
    lim = Limits(max_cells=1_000)
    assert check_cells(1_000, limits=lim) == 1_000
    with pytest.raises(ParameterError,
                       match=r"the study grid has about 5,000 cells; the cap is 1,000 "
                             r"\(HOTSPOTS_MAX_CELLS\)"):
        check_cells(5_000, limits=lim)


def test_archive_members():
    # the 813 KB zip that expanded to 200 MB (a ratio of 246)
    with pytest.raises(ParameterError,
                       match=r"x.csv expands 794 KB to 191 MB \(246 times\); the cap "
                             r"is 100 times \(HOTSPOTS_MAX_UNZIP_RATIO\)"):
        check_archive_member("x.csv", 813_000, 200_000_000)
    with pytest.raises(ParameterError,
                       match=r"big.csv expands to 2.8 GB; the cap is 2 GB "
                             r"\(HOTSPOTS_MAX_UNZIP_MB\)"):
        check_archive_member("big.csv", 300_000_000, 3_000_000_000)
    check_archive_member("2023-01-metropolitan-street.csv", 3_000_000, 25_000_000)
    check_archive_member("tiny.csv", 10, 50_000)  # small files may compress well


# -- preflight on an area --------------------------------------------------------------
def test_preflight_estimates_the_grid_of_an_area(zoo_root, monkeypatch):
    from hotspots.areas import _read_wards, resolve_area
    from hotspots.grid import study_cells

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    _read_wards.cache_clear()
    try:
        est = preflight(area="Merton", res=10, k=1, permutations=999)
        actual = len(study_cells(resolve_area("Merton").geometry, 10))
        assert actual <= est["cells"] < 1.3 * actual, (est, actual)
        assert est["neighbours"] == 6
        st = preflight(area="Merton", res=10, k=2, permutations=999, time_window=1)
        assert st["neighbours"] == 19 * 2 - 1  # the 2-ring now and a month before
        with pytest.raises(ParameterError, match=r"\(HOTSPOTS_MAX_CELLS\)"):
            preflight(area="Merton", res=10, limits=Limits(max_cells=50))
    finally:
        _read_wards.cache_clear()


def test_mean_cell_areas_are_h3s():
    import h3

    from hotspots.grid import cell_area_km2
    from hotspots.limits import H3_MEAN_AREA_M2

    assert len(H3_MEAN_AREA_M2) == 16
    for res, area in enumerate(H3_MEAN_AREA_M2):
        assert area == pytest.approx(h3.average_hexagon_area(res, unit="m^2"),
                                     rel=1e-12)
    assert cell_area_km2(9) == pytest.approx(h3.average_hexagon_area(9, unit="km^2"),
                                             rel=1e-12)
