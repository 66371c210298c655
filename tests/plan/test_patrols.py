"""Surge patrol plan: zones, costs, the knapsack and the reasons."""

import itertools

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from hotspots.analysis import analyse
from hotspots.areas import load_wards
from hotspots.errors import ParameterError
from hotspots.plan.patrols import (
    Dosage,
    candidate_zones,
    choose_zones,
    plan_patrols,
)

CENTRE = h3.latlng_to_cell(51.41, -0.19, 9)


def cells_frame(values: dict, bins: dict | None = None) -> gpd.GeoDataFrame:
    """A cells frame over the ring-4 disk around CENTRE; ``values``: h3 -> count."""
    ids = sorted(h3.grid_disk(CENTRE, 4))
    count = np.array([values.get(c, 0) for c in ids], dtype=float)
    if bins is None:
        bins = dict.fromkeys(values, 2)
    return gpd.GeoDataFrame({
        "h3": ids, "count": count, "offences": count.astype(int),
        "z": count / 2.0, "bin": [bins.get(c, 0) for c in ids],
        "geometry": [shapely.Polygon([(lng, lat) for lat, lng in
                                      h3.cell_to_boundary(c)]) for c in ids],
    }, crs=4326)


def far_apart():
    """Two hot clusters that do not touch: a 3-cell one and a single cell."""
    a = CENTRE
    ring = sorted(h3.grid_ring(a, 1))
    b = sorted(h3.grid_ring(a, 4))[0]
    return {a: 10, ring[0]: 6, ring[1]: 5, b: 8}


def test_dosage_costs_koper_visits():
    d = Dosage()
    assert d.hours_per_week(1) == pytest.approx(15 * 4 * 7 / 60)  # 7 h
    assert Dosage(10, 6, 5, officers=2).hours_per_week(3) == pytest.approx(
        3 * 10 * 6 * 5 * 2 / 60)
    assert "15-minute visits" in d.describe()
    for bad in ({"minutes_per_visit": 0}, {"visits_per_day": -1},
                {"days_per_week": 8}, {"officers": 0}):
        with pytest.raises(ParameterError, match="dosage"):
            Dosage(**bad)


def test_candidate_zones_join_touching_cells_only():
    vals = far_apart()
    zones = candidate_zones(cells_frame(vals), level=2)
    assert sorted(map(sorted, zones)) == sorted(
        [sorted(c for c in vals if c != sorted(h3.grid_ring(CENTRE, 4))[0]),
         [sorted(h3.grid_ring(CENTRE, 4))[0]]])
    assert zones[0][0] == CENTRE  # busiest cell first, busiest zone first


def test_candidate_zones_respects_level_and_row_order():
    vals = far_apart()
    lone = sorted(h3.grid_ring(CENTRE, 4))[0]
    bins = dict.fromkeys(vals, 3) | {lone: 1}
    frame = cells_frame(vals, bins)
    assert all(lone not in z for z in candidate_zones(frame, level=2))
    assert any(lone in z for z in candidate_zones(frame, level=1))
    shuffled = frame.sample(frac=1, random_state=3)
    assert candidate_zones(shuffled, 1) == candidate_zones(frame, 1)


def test_big_clusters_are_split_into_connected_zones():
    disk = sorted(h3.grid_disk(CENTRE, 2))  # 19 touching cells
    vals = {c: 20 - i for i, c in enumerate(disk)}
    zones = candidate_zones(cells_frame(vals), level=2, max_cells=7)
    assert sorted(c for z in zones for c in z) == disk
    assert max(len(z) for z in zones) == 7
    for z in zones:  # each zone is connected
        seen, stack = {z[0]}, [z[0]]
        while stack:
            for nb in h3.grid_disk(stack.pop(), 1):
                if nb in z and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        assert seen == set(z)
    with pytest.raises(ParameterError, match="max_cells"):
        candidate_zones(cells_frame(vals), max_cells=0)


def brute_force(value, cost, budget):
    best = (0.0, 0.0)
    for mask in itertools.product([0, 1], repeat=len(value)):
        m = np.array(mask, bool)
        c = cost[m].sum()
        if c <= budget + 1e-9:
            best = max(best, (value[m].sum(), -c))
    return best[0]


def test_knapsack_matches_brute_force_and_never_exceeds_budget():
    rng = np.random.default_rng(7)
    for _ in range(25):
        n = int(rng.integers(1, 9))
        value = rng.integers(1, 30, n).astype(float)
        cost = rng.choice([7.0, 14.0, 21.0, 28.0, 49.0], n)
        budget = float(rng.integers(5, 90))
        take = choose_zones(value, cost, budget)
        assert cost[take].sum() <= budget + 1e-9
        assert value[take].sum() == pytest.approx(brute_force(value, cost, budget))


def test_knapsack_prefers_the_cheaper_plan_on_ties():
    take = choose_zones([5, 5, 10], [7, 7, 21], 21)
    assert take.tolist() == [True, True, False]


@pytest.mark.parametrize("budget", [0, -5])
def test_zero_budget_is_a_clear_error(budget):
    with pytest.raises(ParameterError, match="budget must be > 0"):
        choose_zones([1], [7], budget)
    with pytest.raises(ParameterError, match="budget must be > 0"):
        plan_patrols(cells_frame(far_apart()), officer_hours=budget)


def test_plan_on_cells_never_exceeds_the_budget():
    frame = cells_frame(far_apart())
    for hours in (3, 7, 14, 21, 27.9, 28, 100):
        plan = plan_patrols(frame, officer_hours=hours, wards=load_wards())
        assert plan.hours <= hours + 1e-9
        assert plan.metadata["hours_per_week"] == pytest.approx(plan.hours)
        assert plan.zones["rank"].tolist() == list(range(1, len(plan.zones) + 1))
    small = plan_patrols(frame, officer_hours=3)
    assert small.zones.empty
    assert "below the cheapest zone" in small.metadata["notes"][0]
    whole = plan_patrols(frame, officer_hours=28)
    assert whole.zones["n_cells"].sum() == 4
    assert whole.metadata["covered_share"] == pytest.approx(1.0)


def test_plan_reports_times_only_when_the_offences_have_them():
    vals = far_apart()
    frame = cells_frame(vals)
    rows = []
    for c, n in vals.items():
        rows += [{"h3": c, "month": f"2023-{1 + i % 6:02d}",
                  "location": "On or near Zoo Road"} for i in range(int(n))]
    off = pd.DataFrame(rows)
    plan = plan_patrols(frame, officer_hours=100, offences=off)
    assert plan.zones["peak"].str.contains("months only").all()
    assert "months only" in plan.metadata["times"]
    assert plan.zones["streets"].iloc[0][0].startswith("On or near Zoo Road")
    # a force extract with times: Fridays 21:00-24:00
    off["datetime"] = pd.Timestamp("2023-06-02 22:30")  # a Friday
    plan = plan_patrols(frame, officer_hours=100, offences=off)
    assert plan.zones["peak"].str.startswith("Fridays, 21:00").all()
    assert "Peak: Fridays" in plan.zones["rationale"].iloc[0]


def test_no_hot_cells_means_no_plan():
    frame = cells_frame(far_apart(), bins={})
    plan = plan_patrols(frame, officer_hours=60)
    assert plan.zones.empty
    assert "nothing to surge" in plan.metadata["notes"][0]


@pytest.fixture(scope="module")
def merton(shared_store):
    return analyse("Merton", "robbery", "2022-01", "2022-12", store=shared_store)


@pytest.mark.shared
def test_merton_robbery_plan_on_the_shared_data(merton):
    plan = plan_patrols(merton, officer_hours=60)
    z = plan.zones
    assert not z.empty and plan.hours <= 60
    # the zones are made of the analysis' significant hot cells
    hot = set(merton.hot_cells(2)["h3"])
    assert {c for cs in z["cells"] for c in cs} <= hot
    # offences in the zones equal the cells' counts
    by = merton.cells.set_index("h3")["offences"]
    assert z["offences"].tolist() == [int(by.loc[cs].sum()) for cs in z["cells"]]
    # concentrated: the zones hold a far larger share of offences than of area
    area_share = z["n_cells"].sum() / len(merton.cells)
    assert z["share"].sum() > 3 * area_share
    merton_wards = set(load_wards().query("borough == 'Merton'")["ward_name"])
    for wards, why in zip(z["wards"], z["rationale"], strict=True):
        assert set(wards) & merton_wards  # every zone touches a Merton ward
        assert wards[0] in why and "officer-hours a week" in why
    assert plan.metadata["synthetic_share"] == 0.0  # real robbery
    assert "months only" in plan.metadata["times"]
