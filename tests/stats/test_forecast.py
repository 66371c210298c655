"""Forecasts: exponential weights by hand, the self-exciting regression on series
with known answers, the rolling choice, missing months and no peeking."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hotspots.errors import ParameterError
from hotspots.months import month_range
from hotspots.stats.forecast import (
    FEATURES,
    HALF_LIVES,
    ewma,
    forecast,
    self_exciting,
    top_k,
)

MONTHS = month_range("2020-01", "2022-12")  # 36 months


def line(n: int) -> sp.csr_matrix:
    """Cells 0–1–2–…: each touches the next."""
    return sp.diags([1.0, 1.0], [-1, 1], shape=(n, n)).tocsr()


def none(n: int) -> sp.csr_matrix:
    return sp.csr_matrix((n, n))


# -- exponential weights -------------------------------------------------------------
def test_ewma_by_hand():
    # half-life 2: weights 1, 2^-1/2, 1/2 for the last three months
    w = np.array([0.5, 2 ** -0.5, 1.0])
    y = np.array([[6.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    got = ewma(y, ["2022-01", "2022-02", "2022-03"], 2)
    assert got == pytest.approx([(6 * w[0] + 3 * w[2]) / w.sum(), 1.0])
    # an infinite half-life is the all-history mean, a forecast of a later month
    # counts the months in between as lags too
    assert ewma(y, ["2022-01", "2022-02", "2022-03"], np.inf) == pytest.approx([3, 1])
    assert ewma(y, ["2022-01", "2022-02", "2022-03"], 1, target="2022-02") == \
        pytest.approx([6.0, 1.0])


def test_ewma_skips_a_missing_month_instead_of_reading_zero():
    # 2021-02…2021-12 missing: 2021-01 is 12 months before 2022-01's forecast
    y = np.array([[4.0, 4.0]])
    got = ewma(y, ["2021-01", "2022-01"], 12, target="2022-02")
    assert got == pytest.approx([4.0])  # zeros in the gap would pull it down
    w = np.array([0.5 ** (12 / 12), 1.0])
    y2 = np.array([[8.0, 2.0]])
    assert ewma(y2, ["2021-01", "2022-01"], 12, target="2022-02") == \
        pytest.approx([(8 * w[0] + 2 * w[1]) / w.sum()])


def test_the_engine_matches_the_direct_formula():
    """The month-by-month recursion of ``forecast`` equals the weighted mean."""
    rng = np.random.default_rng(3)
    months = [m for m in MONTHS if not "2021-03" <= m <= "2021-08"]  # a gap
    y = rng.poisson(2.0, (12, len(months))).astype(float)
    targets = months[10:]
    for h in (3, 12):
        f = forecast(y, months, none(12), targets=targets, half_lives=(h,),
                     methods=("ewma",))
        assert set(f.method) == {"ewma"}
        for t in targets:
            cols = [i for i, m in enumerate(months) if m < t]
            assert f.of(t) == pytest.approx(
                ewma(y[:, cols], [months[i] for i in cols], h, target=t))


# -- the self-exciting regression ------------------------------------------------------
def test_near_repeat_pair_is_forecast():
    """An offence in a cell is followed next month by one in the next cell: the
    ring's recent counts carry the forecast, so last month's neighbours come top."""
    n, rng = 60, np.random.default_rng(7)
    T = len(MONTHS)
    y = np.zeros((n, T))
    for t in range(T):
        seeds = rng.choice(n - 1, 2, replace=False)
        y[seeds, t] += 1
        if t + 1 < T:
            y[seeds + 1, t + 1] += 1
    last = np.flatnonzero(y[:, -1])
    fit = self_exciting(y, MONTHS, line(n))
    assert set(fit.coef) == set(FEATURES)
    # the repeat comes through the ring, not the cell's own last month
    assert fit.coef["ring_recent"] > 0.1 > fit.coef["last_month"]
    nbrs = sorted((set(last - 1) | set(last + 1)) & set(range(n)))
    rest = np.setdiff1d(np.arange(n), nbrs)
    top = np.argsort(-fit.values)[: len(last)]
    assert len(set(top) & set(nbrs)) >= len(last) - 1
    assert fit.values[nbrs].mean() > 2 * fit.values[rest].mean()
    assert fit.fitted_on[-1] == MONTHS[-1]


def test_a_stationary_field_is_forecast_by_its_long_run_level():
    """Counts drawn afresh each month from fixed rates: nothing beats the long-run
    level, and the rolling choice finds it (a long half-life or the level)."""
    rng = np.random.default_rng(11)
    n = 400
    rate = rng.gamma(0.6, 0.5, n)
    y = rng.poisson(rate[:, None], (n, len(MONTHS))).astype(float)
    f = forecast(y, MONTHS, line(n), share=0.05)
    mean = y.mean(axis=1)
    last = y[:, -1]
    err = np.abs(f.values[:, 0] - rate).mean()
    assert err < np.abs(last - rate).mean() / 2
    assert err <= 1.1 * np.abs(mean - rate).mean()
    if f.method[0] == "ewma":
        assert f.half_life[0] >= 24
    else:
        coef = f.coef[0]
        slow = coef["level"] + coef["ew_48"] + coef["ring2_level"] + coef["ring_level"]
        assert slow > coef["last_month"] + coef["months_2_3"] + coef["ew_3"]


def test_a_cell_that_turns_hot_is_forecast_above_a_steady_one():
    """Cell 1 was empty for two years and then had 6 a month; cell 0 has had 2 a
    month all along. All history ranks cell 0 first; the forecast does not."""
    n = 40
    y = np.zeros((n, len(MONTHS)))
    y[0] = 2.0
    y[1, -9:] = 6.0
    y[2:, ::5] = 1.0  # quiet background
    assert y[0].sum() > y[1].sum()  # the all-history ranking
    f = forecast(y, MONTHS, none(n), share=1 / n)
    assert int(np.argmax(f.values[:, 0])) == 1
    assert f.values[1, 0] > 4.0
    assert f.method[0] in ("ewma", "self-exciting")
    audit = f.audit()
    assert audit["target"] == "2023-01" and audit["validation"]["n_months"] == 24


def test_a_missing_stretch_is_never_read_as_zero():
    months = [m for m in MONTHS if not "2021-02" <= m <= "2021-12"]
    y = np.full((30, len(months)), 3.0)
    f = forecast(y, months, line(30), targets=["2022-01", "2022-06", "2023-01"])
    assert f.values == pytest.approx(np.full((30, 3), 3.0), rel=1e-6)


def test_a_forecast_never_sees_its_month_or_later():
    rng = np.random.default_rng(5)
    y = rng.poisson(1.5, (50, len(MONTHS))).astype(float)
    target = MONTHS[30]
    a = forecast(y, MONTHS, line(50), targets=[target])
    y2 = y.copy()
    y2[:, 30:] = rng.poisson(9.0, (50, len(MONTHS) - 30))
    b = forecast(y2, MONTHS, line(50), targets=[target])
    assert np.array_equal(a.values, b.values)
    assert a.method == b.method and a.half_life == b.half_life


def test_the_choice_is_recorded_and_does_not_depend_on_cell_order():
    rng = np.random.default_rng(9)
    n = 80
    y = rng.poisson(rng.gamma(1.0, 1.0, n)[:, None], (n, len(MONTHS))).astype(float)
    W = line(n)
    f = forecast(y, MONTHS, W, targets=MONTHS[-3:], tiebreak=np.arange(n))
    perm = rng.permutation(n)
    g = forecast(y[perm], MONTHS, W[perm][:, perm], targets=MONTHS[-3:],
                 tiebreak=np.argsort(perm))
    assert np.allclose(f.values[perm], g.values)
    assert f.method == g.method and f.half_life == g.half_life
    assert set(f.method) <= {"ewma", "self-exciting"}
    assert all(h in HALF_LIVES for h in f.half_life)
    audit = f.audit(MONTHS[-1])
    assert set(audit["validation"]["log_score"]) == {f"{h:g}" for h in HALF_LIVES}
    assert audit["validation"]["months"] == [MONTHS[-25], MONTHS[-2]]
    assert len(f.summary()) == 3


def test_top_k_breaks_ties_by_the_given_order():
    s = np.array([2.0, 5.0, 2.0, 2.0, 0.0])
    assert top_k(s, 3, [4, 3, 2, 1, 0]).tolist() == [1, 3, 2]
    assert top_k(s, 3, [0, 1, 2, 3, 4]).tolist() == [1, 0, 2]
    assert top_k(s, 0, np.arange(5)).tolist() == []
    assert sorted(top_k(s, 9, np.arange(5)).tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("kw", "message"), [
    ({"months": MONTHS[:-1]}, "'months' has 35 months for 36 columns"),
    ({"months": MONTHS[::-1]}, "distinct and ascending"),
    ({"values": -np.ones((3, 36))}, "finite, non-negative"),
    ({"W": sp.csr_matrix((2, 2))}, "shape \\(3, 3\\)"),
    ({"W": 2 * line(3)}, "binary"),
    ({"half_lives": (0,)}, "half-life needs to be a number of months > 0"),
    ({"share": 0}, "'share' needs to be in \\(0, 1\\]"),
    ({"targets": ["2020-02"]}, "fewer than 3 covered months before it"),
    ({"targets": ["2022-06", "2022-01"]}, "distinct months in order"),
    ({"validation": 0}, "'validation' needs to be a whole number"),
    ({"methods": ("arima",)}, "'methods' needs to be some of"),
    ({"methods": ("self-exciting",)}, "'methods' needs 'ewma' too"),
], ids=["months", "order", "negative", "W-shape", "W-binary", "half-life", "share",
        "too-early", "targets", "validation", "methods", "regression-alone"])
def test_bad_requests(kw, message):
    args = {"values": np.ones((3, 36)), "months": MONTHS, "W": line(3)}
    args.update(kw)
    with pytest.raises(ParameterError, match=message):
        forecast(**args)
    with pytest.raises(ParameterError, match="no covered month before 2020-01"):
        ewma(np.ones((2, 36)), MONTHS, 12, target="2020-01")
    with pytest.raises(ParameterError, match="needs at least 3 months"):
        self_exciting(np.ones((3, 36)), MONTHS, line(3), target="2020-05")
