"""Surge patrol plan: dosage per km², the exact knapsack, zones, the zone minimum,
Gi* as evidence, and plans on the shared data that do not depend on the seed."""

import itertools

import h3
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from hotspots.errors import ParameterError
from hotspots.plan.patrols import (
    BEAT_KM2,
    Dosage,
    choose_zones,
    evidence_labels,
    plan_patrols,
    select_cells,
)

CENTRE = h3.latlng_to_cell(51.41, -0.19, 10)


def line(n):
    return sp.diags([1.0, 1.0], [-1, 1], shape=(n, n)).tocsr()


# -- dosage ------------------------------------------------------------------------
def test_dosage_is_per_square_kilometre():
    d = Dosage()
    per_km2 = 15 * 4 * 7 / 60 / BEAT_KM2  # 7 h a week for each 0.105 km²
    assert d.hours_per_km2 == pytest.approx(per_km2)
    assert d.hours_per_week(BEAT_KM2) == pytest.approx(7.0)
    res10 = h3.average_hexagon_area(10, unit="km^2")
    assert d.hours_per_week(res10) == pytest.approx(7.0 * res10 / BEAT_KM2)
    assert d.to_dict()["hours_per_cell_week"]["res 9"] == pytest.approx(7.0,
                                                                       abs=1e-3)
    assert Dosage(10, 6, 5, officers=2).hours_per_week(BEAT_KM2) == pytest.approx(
        10 * 6 * 5 * 2 / 60)
    assert d.visits_per_week(2 * BEAT_KM2) == pytest.approx(56)
    assert "15-minute visits" in d.describe()
    for bad in ({"minutes_per_visit": 0}, {"visits_per_day": -1},
                {"days_per_week": 8}, {"officers": 0}, {"beat_km2": 0}):
        with pytest.raises(ParameterError, match="dosage"):
            Dosage(**bad)


# -- the knapsack ----------------------------------------------------------------------
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
    for _ in range(40):
        n = int(rng.integers(1, 11))
        value = rng.integers(1, 30, n).astype(float)
        cost = rng.choice([7.0, 14.0, 21.0, 28.0, 49.0, 1.0, 1.03], n)
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
        select_cells([1.0], [1.0], budget, line(1))


# -- choosing cells --------------------------------------------------------------------
def test_a_busy_cell_with_quiet_neighbours_is_chosen():
    """Cell 10 is forecast 5 offences and its neighbours none; the cluster 0–3 is
    forecast 1 each. Three cells' worth of hours go to cell 10 first."""
    value = np.zeros(20)
    value[0:4] = 1.0
    value[10] = 5.0
    s = select_cells(value, np.ones(20), 3, line(20))
    assert s.chosen[10] and s.chosen.sum() == 3
    assert s.zone[10] == 0  # the busiest zone first
    # Gi* would not call it (its neighbours are empty): the label says so
    bins = np.zeros(20, dtype=int)
    bins[1:3] = 2
    labels = evidence_labels(bins, line(20), s.chosen)
    assert labels[list(np.flatnonzero(s.chosen)).index(10)] == \
        "busy micro-place (forecast only)"


def test_zones_are_connected_groups_and_the_budget_is_spent():
    value = np.array([3, 2, 0, 0, 4, 0, 1, 1, 1, 0], dtype=float)
    s = select_cells(value, np.ones(10), 6, line(10))
    assert s.hours == 6 and s.stopped == "budget"
    assert s.chosen.tolist() == [1, 1, 0, 0, 1, 0, 1, 1, 1, 0]
    # zones by forecast: {0,1} (5) first... {4} (4), {6,7,8} (3)
    assert s.zone.tolist() == [0, 0, -1, -1, 1, -1, 2, 2, 2, -1]


def test_zones_below_the_minimum_are_dropped_and_the_output_says_why():
    value = np.array([0.3, 0, 0, 0.9, 0.2, 0, 0, 0.1, 0, 0.05], dtype=float)
    s = select_cells(value, np.ones(10), 10, line(10), min_forecast=0.5)
    # cell 3 (0.9) is a zone alone; 4 joins it; 0, 7 and 9 are isolated and small
    assert np.flatnonzero(s.chosen).tolist() == [3, 4]
    assert s.stopped == "min_forecast" and s.hours == 2
    free = select_cells(value, np.ones(10), 10, line(10))
    assert free.chosen.sum() == 5 and free.stopped == "nothing"


def test_cluster_first_takes_hot_spot_cells_first():
    value = np.array([5.0, 0, 0, 0, 1.0, 1.0, 0, 0])
    first = np.array([0, 0, 0, 1, 1, 1, 0, 0], dtype=bool)
    s = select_cells(value, np.ones(8), 2, line(8), first=first)
    assert np.flatnonzero(s.chosen).tolist() == [4, 5]
    s = select_cells(value, np.ones(8), 3, line(8), first=first)
    assert np.flatnonzero(s.chosen).tolist() == [0, 4, 5]


def test_evidence_labels_by_hand():
    bins = np.array([0, 2, 0, 0, 1, 3])
    got = evidence_labels(bins, line(6))
    near, hot, busy = ("next to a 95 % hot spot", "in a 95 % hot spot",
                       "busy micro-place (forecast only)")
    assert got.tolist() == [near, hot, near, busy, near, hot]
    assert evidence_labels(bins, line(6), level=3)[5] == "in a 99 % hot spot"


# -- the geo adapter on a hand-made study --------------------------------------------
def _study(months=24):
    """A lone busy cell (8 a month) and a quiet cluster (1 a month each)."""
    from hotspots.study import Study

    lone = h3.latlng_to_cell(51.415, -0.19, 10)
    cluster = sorted(h3.grid_disk(h3.latlng_to_cell(51.40, -0.17, 10), 1))
    ms = pd.period_range("2021-01", periods=months, freq="M").astype(str)
    rows = [{"month": m, "crime_type": "Robbery", "h3_10": lone,
             "location": "On or near Lone Street"} for m in ms for _ in range(8)]
    rows += [{"month": m, "crime_type": "Robbery", "h3_10": c,
              "location": "On or near Quiet Road"} for m in ms for c in cluster]
    return Study.from_offences("Merton", pd.DataFrame(rows), res=10), lone, cluster


def test_plan_on_a_study_takes_the_lone_busy_cell():
    st, lone, cluster = _study()
    plan = plan_patrols(st, officer_hours=3, min_forecast=0.5)
    z = plan.zones
    assert z["cells"].iloc[0] == [lone]
    assert z["forecast"].iloc[0] == pytest.approx(8.0, rel=0.05)
    assert plan.hours <= 3
    assert z["label"].iloc[0] in ("busy micro-place (forecast only)",
                                  "in a 95 % hot spot", "next to a 95 % hot spot")
    assert "Lone Street" in z["streets"].iloc[0][0]
    assert "forecast 8.0 robbery offences next month" in z["rationale"].iloc[0]
    meta = plan.metadata
    assert meta["forecast"]["target"] == "2023-01"
    assert meta["forecast"]["method"] in ("ewma", "self-exciting")
    assert meta["evidence"]["window"] == ["2021-01", "2022-12"]
    assert "months only" in meta["times"]
    # a bigger budget takes the cluster too, as one zone
    big = plan_patrols(st, officer_hours=40, min_forecast=0.5)
    assert set(cluster) <= set(big.cells)
    assert any(set(cluster) <= set(cs) for cs in big.zones["cells"])


def test_plan_record_fields_are_stable():
    st, _, _ = _study()
    plan = plan_patrols(st, officer_hours=10)
    rec = plan.records()[0]
    assert {"rank", "zone", "cells", "n_cells", "forecast", "value", "share",
            "offences", "hours_per_week", "visits_per_week", "label", "cell_labels",
            "cell_forecast", "confidence", "max_bin", "max_z", "wards", "trend",
            "trend_p", "streets", "peak", "rationale"} <= set(rec)
    assert len(rec["cell_labels"]) == len(rec["cells"]) == len(rec["cell_forecast"])
    assert plan.candidates["selected"].sum() == len(plan.cells)
    assert plan.summary()[0].startswith(f"{plan.hours:.1f} of 10 officer-hours")


def test_the_app_path_cells_frame_and_offences():
    st, lone, _ = _study()
    cells = pd.DataFrame({"h3": st.grid.cells, "count": st.total(),
                          "bin": np.zeros(len(st.grid), dtype=int),
                          "z": np.zeros(len(st.grid))})
    off = st.offences.assign(h3=st.offences["h3_10"])
    plan = plan_patrols(cells, officer_hours=3, offences=off)
    assert plan.zones["cells"].iloc[0] == [lone]
    with pytest.raises(ParameterError, match="the cells need columns"):
        plan_patrols(cells.drop(columns="bin"), officer_hours=3)


def test_plan_bad_requests():
    st, _, _ = _study()
    with pytest.raises(ParameterError, match="budget must be > 0"):
        plan_patrols(st, officer_hours=0)
    with pytest.raises(ParameterError, match="officer_hours must be a number"):
        plan_patrols(st, officer_hours="many")
    with pytest.raises(ParameterError, match="min_forecast must be ≥ 0"):
        plan_patrols(st, officer_hours=3, min_forecast=-1)
    with pytest.raises(ParameterError, match="needs a Study, an Analysis"):
        plan_patrols([1, 2], officer_hours=3)


# -- the shared data -----------------------------------------------------------------
@pytest.fixture(scope="module")
def merton_robbery(shared_store):
    from hotspots.study import Study

    return Study.load("Merton", "robbery", res=10, store=shared_store)


@pytest.mark.shared
def test_merton_robbery_plan_is_the_same_whatever_the_seed(merton_robbery):
    plans = [plan_patrols(merton_robbery, officer_hours=60, seed=s)
             for s in (20220505, 7, 1)]
    first = plans[0]
    for p in plans[1:]:
        assert p.zones["cells"].tolist() == first.zones["cells"].tolist()
        assert p.zones["cell_labels"].tolist() == first.zones["cell_labels"].tolist()
    z = first.zones
    assert not z.empty and first.hours <= 60 + 1e-9
    assert first.metadata["evidence"]["unstable_cells"] == 0
    assert first.metadata["forecast"]["target"] == "2023-01"  # after 2022-12
    assert first.metadata["forecast"]["history"] == ["2018-02", "2022-12"]
    # the whole budget is used, or the plan says why not
    assert first.hours > 59 or first.metadata["notes"]
    # the zone forecasts add up from the cells, and every zone is connected
    for cells, fc in zip(z["cells"], z["cell_forecast"], strict=True):
        seen, stack = {cells[0]}, [cells[0]]
        while stack:
            for nb in h3.grid_disk(stack.pop(), 1):
                if nb in cells and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        assert seen == set(cells)
        assert sum(fc) >= 0.5 - 1e-6
    assert first.metadata["synthetic_share"] == 0.0


@pytest.mark.shared
def test_the_budget_buys_the_same_area_at_every_resolution(shared_store):
    from hotspots.study import Study

    areas, cell = {}, {}
    for res in (9, 10):
        st = Study.load("Merton", "robbery", "2022-01", "2022-12", res=res,
                        store=shared_store, fields=("month",))
        plan = plan_patrols(st, officer_hours=35, min_forecast=0)
        idx = st.grid.index_of(plan.cells)
        areas[res] = st.grid.area_m2[idx].sum() / 1e6
        cell[res] = st.grid.area_m2.mean() / 1e6
        assert plan.hours <= 35 + 1e-9
    # 35 h buy 35 / 66.5 km²: every resolution gets that, less under one cell
    want = 35 / Dosage().hours_per_km2
    for res in (9, 10):
        assert want - 1.05 * cell[res] <= areas[res] <= 1.03 * want


@pytest.mark.shared
def test_cli_recommend_json(shared_store, monkeypatch):
    from tests.conftest import cli_json

    doc = cli_json(monkeypatch, shared_store, [
        "recommend", "--area", "Merton", "--crime", "robbery", "--officer-hours",
        "30", "--cameras", "1", "--rotations", "1", "--min-forecast", "0.5"])
    assert doc["forecast_month"] == "2023-01"
    zones = doc["patrols"]
    assert zones and sum(z["hours_per_week"] for z in zones) <= 30 + 1e-9
    assert all(z["label"] in {"in a 95 % hot spot", "next to a 95 % hot spot",
                              "busy micro-place (forecast only)"} for z in zones)
    assert all(z["forecast"] >= 0.5 - 1e-9 for z in zones)
    meta = doc["patrol_metadata"]
    assert meta["forecast"]["method"] in ("ewma", "self-exciting")
    assert meta["evidence"]["months"] == 36
    assert meta["study"]["grid"]["resolution"] == 10


def test_a_plan_over_most_of_the_area_is_said_to_be_wide():
    """A budget buying most cells spreads patrols over the area: the plan says so
    (a plan of its hot spots does not)."""
    from hotspots.plan.patrols import WIDE_SHARE, _notes

    value = np.arange(1, 11, dtype=float)
    wide = select_cells(value, np.ones(10), 8, line(10))
    assert wide.chosen.mean() > WIDE_SHARE
    notes = _notes(wide, value, np.ones(10), 8, 0.0, 2)
    assert any(n.startswith("the plan covers 80% of the area's cells") for n in notes)
    narrow = select_cells(value, np.ones(10), 3, line(10))
    assert not any("of the area's cells" in n
                   for n in _notes(narrow, value, np.ones(10), 3, 0.0, 2))


@pytest.mark.shared
def test_a_zone_trend_is_never_read_across_a_gap(shared_store):
    """Merton robbery to 2022-06: the last months in a row with data are 2022-01…06,
    fewer than 12, so no zone gets a trend (across the 2021 gap the test would put
    2021-01 next to 2022-01); to 2022-12 the trend reads 2022's 12 months only."""
    from hotspots.stats.emerging import mann_kendall
    from hotspots.study import Study

    st = Study.load("Merton", "robbery", "2018-02", "2022-06", res=10,
                    store=shared_store, fields=("month",))
    zones = plan_patrols(st, officer_hours=40).zones
    assert len(zones) and all(t.startswith("n/a (no data 2021-02..2021-12")
                              for t in zones["trend"])
    st = Study.load("Merton", "robbery", "2018-02", "2022-12", res=10,
                    store=shared_store, fields=("month",))
    plan = plan_patrols(st, officer_hours=40)
    counts = st.counts[:, -12:]  # 2022, the covered months in a row
    assert list(st.months[-12:]) == [f"2022-{m:02d}" for m in range(1, 13)]
    idx = st.grid.index_of(np.asarray(plan.zones.iloc[0]["cells"]))
    _, _, p = mann_kendall(counts[idx].sum(axis=0)[None, :])
    assert plan.zones.iloc[0]["trend_p"] == pytest.approx(float(p[0]))
