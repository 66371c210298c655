"""Backtest: scoring by hand, the JSON contract, every month counted, one read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspots.errors import ParameterError
from hotspots.evaluate.backtest import (
    METHODS,
    NAIVE,
    backtest,
    block_bootstrap,
    pooled_pai,
    quartic_kde,
    score,
    top_n,
    win_rate,
)
from tests.conftest import cli_json


# -- scoring by hand -----------------------------------------------------------------
def test_score_on_a_tiny_grid_by_hand():
    test_counts = np.array([4, 0, 1, 5])
    areas = np.array([1.0, 1.0, 1.0, 1.0])
    hits, rate, pai = score([0, 3], test_counts, areas)
    assert (hits, rate, pai) == (9, 0.9, pytest.approx(1.8))  # 90 % in half the area
    # unequal areas: PAI divides by the chosen cells' share of the area
    hits, rate, pai = score([0], test_counts, np.array([1.0, 2.0, 3.0, 4.0]))
    assert rate == 0.4 and pai == pytest.approx(0.4 / 0.1)
    # a month without a plan scores 0, it is not left out
    assert score([], test_counts, areas) == (0.0, 0.0, 0.0)
    # a month without offences has no rate
    _, rate, pai = score([0], np.zeros(4), areas)
    assert np.isnan(rate) and np.isnan(pai)


def test_pooled_pai_and_win_rate_by_hand():
    # month 1: 10 offences, 3 hit in 10 % of the area; month 2: 20, 0 hit (no plan)
    assert pooled_pai([3, 0], [10, 20], [0.1, 0.1]) == pytest.approx(3 / 3)
    # the mean of the monthly PAIs would be (3 + 0) / 2 = 1.5: pooling weighs months
    # by their offences
    assert pooled_pai([3, 0], [10, 20], [0.1, 0.05]) == pytest.approx(3 / 2)
    assert win_rate([3, 0, 5, 2], [3, 1, 2, 2]) == 0.75  # ties count for the plan
    assert np.isnan(win_rate([], []))


def test_block_bootstrap_of_a_constant_ratio_is_that_ratio():
    T = 12
    naive = np.array([10.0, 12, 9, 11, 10, 13, 8, 10, 12, 11, 9, 10])
    hits = {"plan": 1.1 * naive, "last12": naive, "last_month": 0.5 * naive,
            "all_history": 0.9 * naive}
    den = {m: np.full(T, 2.0) for m in hits}
    lo, hi = block_bootstrap(hits, den, reps=500, seed=1)
    assert lo == pytest.approx(1.1) and hi == pytest.approx(1.1)
    # a noisy plan: the interval holds the pooled ratio and is seeded
    rng = np.random.default_rng(0)
    hits["plan"] = naive * rng.uniform(0.8, 1.4, T)
    a = block_bootstrap(hits, den, reps=800, seed=3)
    assert a == block_bootstrap(hits, den, reps=800, seed=3)
    ratio = hits["plan"].sum() / naive.sum()
    assert a[0] < ratio < a[1]


def test_quartic_kde_by_hand():
    h = 300.0
    pts = np.array([[0.0, 0.0]])
    at = np.array([[0.0, 0.0], [150.0, 0.0], [0.0, 299.0], [0.0, 301.0]])
    k0 = 3 / (np.pi * h * h)
    got = quartic_kde(pts, at, h)
    assert got[0] == pytest.approx(k0)
    assert got[1] == pytest.approx(k0 * (1 - 0.25) ** 2)
    assert 0 < got[2] < 1e-4 * k0
    assert got[3] == 0.0
    assert quartic_kde(np.array([[0, 0], [0, 0]]), at[:1], h)[0] == pytest.approx(
        2 * k0)
    assert quartic_kde(pts, at[:1], h, weights=[2.5])[0] == pytest.approx(2.5 * k0)
    g = np.mgrid[-300:301:5, -300:301:5].reshape(2, -1).T.astype(float)
    assert quartic_kde(pts, g, h).sum() * 25 == pytest.approx(1.0, rel=1e-3)
    assert quartic_kde(np.empty((0, 2)), at, h).tolist() == [0.0] * 4


def test_top_n_takes_the_highest_and_breaks_ties_at_random():
    v = np.array([5, 1, 5, 0, 5, 3])
    picks = {tuple(sorted(top_n(v, 2, np.random.default_rng(s)))) for s in range(40)}
    assert all(set(p) <= {0, 2, 4} for p in picks)
    assert len(picks) == 3  # each pair of the tied cells gets its turn
    assert sorted(top_n(v, 4, np.random.default_rng(0))) == [0, 2, 4, 5]


# -- a hand-made study ---------------------------------------------------------------
def _study(months=20):
    """A cell with 6 offences a month and one with 2, both steady, in Merton."""
    import h3

    from hotspots.study import Study

    busy = h3.latlng_to_cell(51.415, -0.19, 10)
    other = h3.latlng_to_cell(51.40, -0.17, 10)
    ms = pd.period_range("2021-01", periods=months, freq="M").astype(str)
    rows = [{"month": m, "crime_type": "Robbery", "h3_10": c, "lon": -0.19,
             "lat": 51.415} for m in ms for c, k in ((busy, 6), (other, 2))
            for _ in range(k)]
    return Study.from_offences("Merton", pd.DataFrame(rows), res=10), busy


def test_every_month_is_scored_and_the_contract_is_kept():
    st, busy = _study()
    bt = backtest("Merton", study=st, train=12, area_share=0.001, tie_seeds=2,
                  reps=200)
    doc = bt.to_json()
    assert [m["month"] for m in doc["months"]] == list(st.months[12:])
    for m in doc["months"]:
        assert {"month", "plan_cells", "area_share", "hits", "pai",
                "hit_rate"} <= set(m)
        assert set(m["hits"]) == set(m["pai"]) == set(m["hit_rate"]) == set(METHODS)
        assert m["hits"]["plan"] == 8  # both cells, every month
    s = doc["summary"]
    assert {"months", "months_with_plan", "pooled_pai", "win_rate_vs_best_naive",
            "ratio_ci90"} <= set(s)
    assert s["months"] == s["months_with_plan"] == 8
    assert s["win_rate_vs_best_naive"] == 1.0 and s["best_naive"] in NAIVE
    assert len(s["ratio_ci90"]) == 2
    # won, tied and lost apart (the ≥ rate counts ties as wins): from the months
    best = [max(m["hits"][k] for k in NAIVE) for m in doc["months"]]
    plan = [m["hits"]["plan"] for m in doc["months"]]
    assert s["vs_best_naive"] == {
        "won": sum(p > b for p, b in zip(plan, best, strict=True)),
        "tied": sum(p == b for p, b in zip(plan, best, strict=True)),
        "lost": sum(p < b for p, b in zip(plan, best, strict=True))}
    assert s["vs_best_naive"]["tied"] == 8  # both the plan and last12 take both cells
    line = next(x for x in bt.summary() if x.startswith("Against the best naive"))
    assert "won 0, tied 8, lost 0 of 8 (plan ≥ it in 100 %)" in line
    assert bt.metadata["budget"]["cells"] == max(1, round(0.001 * len(st.grid)))


def test_a_month_without_a_plan_scores_zero_and_is_counted():
    st, _ = _study()
    bt = backtest("Merton", study=st, train=12, area_share=0.001, min_forecast=99,
                  tie_seeds=1, reps=50)
    s = bt.to_json()["summary"]
    assert s["months"] == 8 and s["months_with_plan"] == 0
    assert s["pooled_pai"]["plan"] == 0.0 and s["win_rate_vs_best_naive"] == 0.0
    months = bt.to_json()["months"]
    assert all(m["plan_cells"] == 0 and m["hits"]["plan"] == 0 for m in months)
    # the baselines still take the budget's cells
    assert all(m["hits"]["all_history"] > 0 for m in months)


@pytest.mark.parametrize(("kw", "message"), [
    ({"train": 0}, "train must be ≥ 1"),
    ({"train": 20}, "more than 20 covered months"),
    ({"area_share": 0.02, "officer_hours": 60}, "not both"),
    ({"area_share": 1.5}, "area_share must be in"),
    ({"officer_hours": -1}, "officer_hours must be > 0"),
    ({"officer_hours": 0.1}, "the budget buys no cell"),
    ({"bandwidths": (0,)}, "bandwidths must be > 0"),
    ({"tie_seeds": 0}, "tie_seeds must be ≥ 1"),
], ids=["train", "too-short", "both", "share", "hours", "no-cell", "bandwidth",
        "tie-seeds"])
def test_bad_requests(kw, message):
    st, _ = _study()
    with pytest.raises(ParameterError, match=message):
        backtest("Merton", study=st, **kw)


# -- the shared data -----------------------------------------------------------------
@pytest.fixture(scope="module")
def merton(shared_store):
    """Merton robbery 2020-06…2022-03 (a gap 2021-02…2021-12), res 9."""
    return backtest("Merton", "robbery", "2020-06", "2022-03", train=6, res=9,
                    store=shared_store, tie_seeds=2, reps=200)


@pytest.mark.shared
def test_missing_months_are_never_test_months(merton, shared_store):
    doc = merton.to_json()
    assert [m["month"] for m in doc["months"]] == [
        "2020-12", "2021-01", "2022-01", "2022-02", "2022-03"]
    assert merton.metadata["missing_months"][0] == "2021-02"
    for m in doc["months"]:  # the test month's offences are the store's own count
        n = len(shared_store.offences("Merton", "robbery", m["month"], m["month"],
                                      columns=["month"]))
        assert m["offences"] == n
        assert all(0 <= v <= n for v in m["hits"].values())
        assert m["plan_cells"] > 0 and m["forecast"]["method"]
    assert merton.metadata["synthetic_share"] == 0.0  # real robbery
    # the summary a person reads says which months were not tested
    assert ("Months without data, not tested (never read as zero): "
            "2021-02..2021-12.") in merton.summary()


@pytest.mark.shared
def test_a_gap_in_the_history_alone_is_said(shared_store):
    """Test months 2022-05…2022-12 after a history with the 2021 gap: the summary
    says the history skips those months and what 'last12' then means."""
    bt = backtest("Merton", "robbery", "2020-06", "2022-12", train=12, res=9,
                  store=shared_store, tie_seeds=1, reps=50)
    assert bt.metadata["test_months"][0] > "2021-12"
    lines = bt.summary()
    assert not any(x.startswith("Months without data, not tested") for x in lines)
    assert ("Months without data in the history, left out: 2021-02..2021-12; "
            "'last12' and 'last month' are the last months with data.") in lines


@pytest.mark.shared
def test_the_last12_baseline_recomputed(merton, shared_store):
    """For 2022-01 the last 12 covered months are 2020-06…2021-01 (8) only: recount
    them from the store and bound the baseline's hits (ties at the cut)."""
    row = merton.months.query("month == '2022-01' and method == 'last12'").iloc[0]
    train = shared_store.offences("Merton", "robbery", "2020-06", "2021-01",
                                  columns=["h3_9"])["h3_9"].value_counts()
    test = shared_store.offences("Merton", "robbery", "2022-01", "2022-01",
                                 columns=["h3_9"])["h3_9"].value_counts()
    n = int(row["cells"])
    kth = train.sort_values(ascending=False).iloc[n - 1]
    sure = train[train > kth].index
    tied = test.reindex(train[train == kth].index, fill_value=0).sort_values(
        ascending=False)
    lo = test.reindex(sure, fill_value=0).sum()
    hi = lo + tied.iloc[: n - len(sure)].sum()
    assert lo <= row["hits"] <= hi


@pytest.mark.shared
def test_the_backtest_reads_the_store_once(shared_store, monkeypatch):
    from hotspots.store import Store
    from hotspots.study import Study

    Study.load("Merton", "robbery", res=9, store=shared_store, fields=("month",))
    calls = []
    real = Store.scan

    def counting(self, *a, **k):
        calls.append(a[0])
        return real(self, *a, **k)

    monkeypatch.setattr(Store, "scan", counting)
    backtest("Merton", "robbery", "2022-01", "2022-12", train=9, res=9,
             store=shared_store, tie_seeds=1, reps=50)
    assert calls == ["offences"]


@pytest.mark.shared
def test_cli_backtest_json(shared_store, monkeypatch):
    doc = cli_json(monkeypatch, shared_store, [
        "backtest", "--area", "Merton", "--crime", "asb", "--from", "2023-07",
        "--to", "2024-01", "--train", "5", "--res", "9", "--officer-hours", "60",
        "--tie-seeds", "1"])
    assert [m["month"] for m in doc["months"]] == ["2023-12", "2024-01"]
    month = doc["months"][0]
    assert set(month["pai"]) == set(METHODS) == set(month["hit_rate"])
    assert doc["summary"]["months"] == 2
    assert doc["metadata"]["budget"]["officer_hours"] == 60.0
    assert doc["metadata"]["synthetic_share"] == 1.0  # semi-synthetic ASB


@pytest.mark.shared
def test_a_small_ward_whose_seeds_leave_some_ratios_unknown(shared_store, monkeypatch):
    """Darwin (Bromley): a tie-break seed with nothing to compare gave a ratio of
    None, and the span of the seeds' ratios was an internal error; the span is
    of the known ones."""
    doc = cli_json(monkeypatch, shared_store, ["backtest", "--area", "E05013996"])
    tb = doc["summary"]["tie_break"]
    assert len(tb["seeds"]) == 5
    lo, hi = tb["win_rate_vs_best_naive"]
    assert 0 <= lo <= hi <= 1
