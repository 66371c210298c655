"""Backtest: hit rate and PAI of the plan against simple baselines."""

import numpy as np
import pytest

from hotspots.errors import ParameterError
from hotspots.evaluate.backtest import (
    METHODS,
    backtest,
    quartic_kde,
    score,
    top_n,
)
from tests.conftest import cli_json


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
    # two points add up; the kernel integrates to one
    assert quartic_kde(np.array([[0, 0], [0, 0]]), at[:1], h)[0] == pytest.approx(
        2 * k0)
    g = np.mgrid[-300:301:5, -300:301:5].reshape(2, -1).T.astype(float)
    assert quartic_kde(pts, g, h).sum() * 25 == pytest.approx(1.0, rel=1e-3)
    assert quartic_kde(np.empty((0, 2)), at, h).tolist() == [0.0] * 4


def test_top_n_takes_the_highest_and_breaks_ties_at_random():
    v = np.array([5, 1, 5, 0, 5, 3])
    picks = {tuple(sorted(top_n(v, 2, np.random.default_rng(s)))) for s in range(40)}
    assert all(set(p) <= {0, 2, 4} for p in picks)
    assert len(picks) == 3  # each pair of the tied cells gets its turn
    assert sorted(top_n(v, 4, np.random.default_rng(0))) == [0, 2, 4, 5]
    same = top_n(v, 2, np.random.default_rng(9)), top_n(v, 2, np.random.default_rng(9))
    assert same[0].tolist() == same[1].tolist()


def test_score_by_hand():
    test_counts = np.array([4, 0, 1, 5])
    areas = np.array([1.0, 1.0, 1.0, 1.0])
    hits, rate, pai = score(np.array([0, 3]), test_counts, areas)
    assert (hits, rate, pai) == (9, 0.9, pytest.approx(1.8))
    # unequal areas: PAI divides by the chosen cells' share of the area
    hits, rate, pai = score(np.array([0]), test_counts, np.array([1.0, 2.0, 3.0, 4.0]))
    assert rate == 0.4 and pai == pytest.approx(0.4 / 0.1)
    _, rate, pai = score(np.array([0]), np.zeros(4), areas)
    assert np.isnan(rate) and np.isnan(pai)


@pytest.fixture(scope="module")
def merton_bt(shared_store):
    return backtest("Merton", "robbery", "2022-07", "2022-12", train=3,
                    store=shared_store)


@pytest.mark.shared
def test_backtest_on_the_shared_data(merton_bt, shared_store):
    bt = merton_bt
    doc = bt.to_json()
    assert [m["month"] for m in doc["months"]] == ["2022-10", "2022-11", "2022-12"]
    frame = bt.months
    assert set(frame["method"]) == set(METHODS)
    # every method picks the same number of cells in a month
    assert (frame.groupby("month")["n_cells"].nunique() == 1).all()
    scored = frame[frame["n_cells"] > 0]
    assert len(scored)
    assert np.allclose(scored["hit_rate"], scored["hits"] / scored["offences"])
    # the test month's offences are the store's own count
    for m in doc["months"]:
        n = len(shared_store.offences("Merton", "robbery", m["month"], m["month"],
                                      columns=["month"]))
        assert m["offences"] == n
        assert all(0 <= v <= m["offences"] for v in m["hits"].values())
    # pooled figures are sums over the months
    for meth, v in bt.overall["methods"].items():
        g = scored[scored["method"] == meth]
        assert v["hits"] == g["hits"].sum()
        assert v["hit_rate"] == pytest.approx(g["hits"].sum() / g["offences"].sum(),
                                              abs=1e-4)
    assert bt.metadata["synthetic_share"] == 0.0  # real robbery
    assert bt.metadata["train_months"] == 3


@pytest.mark.shared
def test_backtest_last12_baseline_recomputed(merton_bt, shared_store):
    """The last-12 baseline (here last-3) hits at least what any N cells with
    fewer training offences could: recompute its training counts independently."""
    frame = merton_bt.months
    row = frame[(frame["month"] == "2022-10") & (frame["method"] == "last12")].iloc[0]
    train = shared_store.offences("Merton", "robbery", "2022-07", "2022-09",
                                  columns=["h3_9"])["h3_9"].value_counts()
    test = shared_store.offences("Merton", "robbery", "2022-10", "2022-10",
                                 columns=["h3_9"])["h3_9"].value_counts()
    n = int(row["n_cells"])
    kth = train.sort_values(ascending=False).iloc[n - 1]
    sure = train[train > kth].index          # certainly chosen
    maybe = train[train == kth].index        # tied at the cut: some chosen
    lo = test.reindex(sure, fill_value=0).sum()
    tied = test.reindex(maybe, fill_value=0).sort_values(ascending=False)
    hi = lo + tied.iloc[: n - len(sure)].sum()
    assert lo <= row["hits"] <= hi


@pytest.mark.shared
def test_backtest_bad_requests(shared_store):
    with pytest.raises(ParameterError, match="more than 12 months"):
        backtest("Merton", "robbery", "2022-01", "2022-06", store=shared_store)
    with pytest.raises(ParameterError, match="outside"):
        backtest("Merton", "robbery", "2019-01", "2023-06", store=shared_store)
    with pytest.raises(ParameterError, match="train"):
        backtest("Merton", "robbery", train=0, store=shared_store)
    with pytest.raises(Exception, match="Narnia"):
        backtest("Narnia", "robbery", store=shared_store)



@pytest.mark.shared
def test_cli_backtest_json(shared_store, monkeypatch):
    doc = cli_json(monkeypatch, shared_store, [
        "backtest", "--area", "Merton", "--crime", "asb", "--from", "2023-07",
        "--to", "2023-10", "--train", "3"])
    assert [m["month"] for m in doc["months"]] == ["2023-10"]
    month = doc["months"][0]
    assert set(month["pai"]) == set(METHODS) == set(month["hit_rate"])
    assert doc["overall"]["ranking_by_pai"]
