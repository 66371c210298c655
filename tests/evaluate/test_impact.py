"""Impact of a surge against matched controls: recovery, placebo, WDQ, errors."""

from __future__ import annotations

import json

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from hotspots.errors import AreaNotFound, DataError, ParameterError
from hotspots.evaluate.impact import (
    OUTSIDE,
    count_panel,
    estimate_impact,
    impact,
    surge_cells,
    wdq,
)
from hotspots.grid import study_cells
from tests.conftest import street_row

MONTHS = [str(p) for p in pd.period_range("2022-01", "2023-03", freq="M")]
START, LENGTH = "2023-01", 3  # the surge: the last three months
CENTRE = h3.latlng_to_cell(51.41, -0.195, 9)
TREATED = sorted(h3.grid_disk(CENTRE, 1))  # 7 cells


def _panel(effect=1.0, seed=11, overdispersed=False):
    """A seeded cell × month Poisson (or gamma-Poisson) panel, trend +1 %/month.

    ``effect`` multiplies the treated cells' rate during the surge months.
    """
    cells = study_cells(shapely.box(-0.215, 51.395, -0.175, 51.425), 9)
    rng = np.random.default_rng(seed)
    level = rng.gamma(3.0, 2.0, len(cells))  # mean 6 offences a month
    mu = level[:, None] * np.exp(0.01 * np.arange(len(MONTHS)))[None, :]
    surge = np.isin(cells, TREATED)[:, None] & np.array(
        [m >= START for m in MONTHS]
    )[None, :]
    mu = np.where(surge, mu * effect, mu)
    if overdispersed:
        mu = mu * rng.gamma(4.0, 1 / 4.0, mu.shape)
    return pd.DataFrame(rng.poisson(mu), index=cells, columns=MONTHS)


@pytest.fixture(scope="module")
def dropped():
    """A panel with a 40 % drop injected into the treated cells."""
    return _panel(effect=0.6)


# -- recovery and placebo -----------------------------------------------------------
@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_recovers_an_injected_drop(dropped, family):
    res = estimate_impact(dropped, TREATED, START, LENGTH, family=family)
    e = res.effect
    assert e.ci_low < 0.6 < e.ci_high  # the true rate ratio is inside the CI
    assert e.ci_high < 1.0 and e.significant and e.p_value < 0.05
    assert e.ci_low < e.rate_ratio < e.ci_high
    assert e.cells == len(TREATED)
    assert res.metadata["family"] == family
    assert res.placebo is not None and not res.placebo.significant


def test_treated_cells_in_upper_case_are_the_same_cells(dropped):
    """H3 ids are hex: upper case (as a spreadsheet may show them) names the
    same cells (they had been 'not in the count panel')."""
    lower = estimate_impact(dropped, TREATED, START, LENGTH)
    upper = estimate_impact(dropped, [f" {c.upper()}" for c in TREATED], START,
                            LENGTH)
    assert upper.effect.rate_ratio == lower.effect.rate_ratio
    assert upper.effect.cells == len(TREATED)


def test_recovers_a_drop_in_overdispersed_counts():
    panel = _panel(effect=0.6, seed=7, overdispersed=True)
    res = estimate_impact(panel, TREATED, START, LENGTH, family="negbin")
    assert res.effect.ci_low < 0.6 < res.effect.ci_high < 1.0
    assert res.metadata["nb_alpha"] > 0.05  # the extra variance was seen


def test_interval_coverage_over_many_seeds():
    # 40 seeded panels with a 40 % drop: a 95 % interval should hold the true rate
    # ratio about 38 times (33 or fewer has probability < 0.5 % when calibrated;
    # cell-clustered errors alone held it only ~92 % of the time in a longer run)
    hits = 0
    for seed in range(100, 140):
        e = estimate_impact(_panel(effect=0.6, seed=seed), TREATED, START, LENGTH,
                            buffer_k=0, pre_months=3).effect
        hits += e.ci_low < 0.6 < e.ci_high
    assert hits >= 34


@pytest.mark.parametrize("seed", [11, 13, 15])
def test_placebo_panel_finds_no_effect(seed):
    res = estimate_impact(_panel(effect=1.0, seed=seed), TREATED, START, LENGTH)
    assert res.effect.ci_low < 1.0 < res.effect.ci_high
    assert not res.effect.significant
    assert "Pre-trend placebo" in " ".join(res.summary())


def test_pre_trend_placebo_catches_diverging_groups():
    panel = _panel(seed=3).astype(float)
    # the treated cells double over the second half of the pre-period
    late = [m for m in MONTHS if "2022-07" <= m <= "2022-12"]
    panel.loc[TREATED, late] *= 2
    res = estimate_impact(panel, TREATED, START, LENGTH)
    assert res.placebo.significant and res.placebo.rate_ratio > 1.4
    assert any("Pre-trend check failed" in w for w in res.metadata["why"])


# -- roles, matching, WDQ -----------------------------------------------------------
def test_roles_are_disjoint_and_the_buffer_is_the_ring(dropped):
    res = estimate_impact(dropped, TREATED, START, LENGTH, buffer_k=1)
    roles = res.cells.groupby("role")["h3"].apply(set).to_dict()
    t, b, c = roles["treated"], roles["buffer"], roles["control"]
    assert t == set(TREATED)
    assert not (t & b) and not (t & c) and not (b & c)
    ring = set().union(*(h3.grid_disk(x, 1) for x in TREATED)) - t
    assert b == ring & set(dropped.index)
    assert len(c) == 3 * len(t) == res.metadata["cells"]["control"]
    assert res.cells["matched_to"].dropna().isin(TREATED).all()
    # no buffer: nothing kept out, no WDQ
    res0 = estimate_impact(dropped, TREATED, START, LENGTH, buffer_k=0)
    assert res0.buffer is None and res0.wdq is None
    assert "not assessed" in res0.wdq_reading


def test_controls_are_matched_on_level_and_trend(dropped):
    res = estimate_impact(dropped, TREATED, START, LENGTH, n_controls=7)
    bal = res.metadata["balance"]
    assert abs(bal["level"]["smd"]) < 0.25
    # a random draw of 7 cells is worse matched than the nearest neighbours
    cells = res.cells.set_index("h3")
    pool = dropped.index.difference(cells.index)
    pre = dropped[[m for m in MONTHS if m < START]].mean(axis=1)
    treated_mean = pre[TREATED].mean()
    control_mean = pre[cells.index[cells["role"] == "control"]].mean()
    assert abs(control_mean - treated_mean) < abs(pre[pool].mean() - treated_mean)
    # same seed, same controls; the input panel is untouched
    before = dropped.copy()
    again = estimate_impact(dropped, TREATED, START, LENGTH, n_controls=7)
    assert again.cells["h3"].tolist() == res.cells["h3"].tolist()
    pd.testing.assert_frame_equal(dropped, before)


def test_wdq_matches_a_hand_computation(dropped):
    # Bowers & Johnson's worked form: treated 100 → 60, buffer 50 → 45, controls flat
    assert wdq(100, 60, 50, 45, 200, 200) == pytest.approx((45 / 200 - 50 / 200)
                                                           / (60 / 200 - 100 / 200))
    assert wdq(100, 60, 50, 45, 200, 200) == pytest.approx(0.125)
    assert wdq(100, 60, 50, 70, 200, 200) == pytest.approx(-0.5)  # displacement
    assert wdq(100, 100, 50, 45, 200, 200) is None  # no change in the treated cells
    assert wdq(100, 60, 50, 45, 0, 200) is None  # no controls before
    res = estimate_impact(dropped, TREATED, START, LENGTH)
    cells = res.cells.set_index("h3")
    pre = [m for m in MONTHS if m < START][-12:]
    post = [m for m in MONTHS if m >= START]

    def total(role, months):
        rows = cells.index[cells["role"] == role]
        return float(dropped.loc[rows, months].to_numpy().sum())

    a_b, a_a = total("treated", pre), total("treated", post)
    b_b, b_a = total("buffer", pre), total("buffer", post)
    c_b, c_a = total("control", pre), total("control", post)
    assert res.totals == {"A_b": a_b, "A_a": a_a, "B_b": b_b, "B_a": b_a,
                          "C_b": c_b, "C_a": c_a}
    hand = (b_a / c_a - b_b / c_b) / (a_a / c_a - a_b / c_b)
    assert res.wdq == pytest.approx(hand)
    # the buffer was left alone: its interval includes no change, so neither
    # displacement nor diffusion is claimed, whatever the WDQ's sign
    assert res.buffer.ci_low < 1 < res.buffer.ci_high
    assert res.wdq_reading.startswith(
        "no evidence of displacement or diffusion of benefits: the buffer's rate "
        f"ratio {res.buffer.rate_ratio:.2f}")


def test_long_frame_gives_the_same_answer(dropped):
    long = dropped.stack().rename("count").rename_axis(["h3", "month"]).reset_index()
    a = estimate_impact(dropped, TREATED, START, LENGTH)
    b = estimate_impact(long, TREATED, START, LENGTH)
    assert a.effect == b.effect and a.wdq == b.wdq


def test_json_is_serialisable_and_complete(dropped):
    doc = json.loads(json.dumps(estimate_impact(dropped, TREATED, START,
                                                LENGTH).to_json()))
    assert {"effect", "buffer", "placebo", "wdq", "wdq_reading", "totals", "cells",
            "summary", "metadata", "synthetic_share"} <= set(doc)
    assert len(doc["effect"]["ci"]) == 2 and doc["effect"]["level"] == 0.95
    assert doc["metadata"]["surge"] == {"from": "2023-01", "to": "2023-03",
                                        "months": 3}
    assert doc["metadata"]["pre"]["months"] == 12


# -- bad requests -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [({"start": "2024-05"}, ParameterError, "surge start '2024-05' is outside the"),
     ({"start": "2022-06"}, ParameterError, "12 pre-period months are needed"),
     ({"length": 4}, ParameterError, "the surge runs 2023-01…2023-04 but the data"),
     ({"length": 0}, ParameterError, "'length' needs to be a whole number"),
     ({"start": "23-01"}, ParameterError, "months need to be YYYY-MM"),
     ({"treated": ["not-a-cell"]}, ParameterError, "1 are not H3 cell ids"),
     ({"treated": [h3.latlng_to_cell(51.5, -0.1, 9)]}, ParameterError,
      "outside the study grid"),
     ({"treated": []}, ParameterError, "'treated' needs at least one cell"),
     ({"family": "ols"}, ParameterError, "'family' needs to be one of"),
     ({"buffer_k": 30}, ParameterError, "too few control cells: 0 cell"),
     ({"n_controls": 3}, ParameterError, "'n_controls' needs to be a whole number"),
     ({"level": 1.5}, ParameterError, "'level' needs to be in"),
     ],
    ids=["start-after", "start-too-early", "runs-past-end", "length-0", "bad-month",
         "not-h3", "outside-grid", "no-cells", "family", "no-controls-left",
         "few-controls", "level"])
def test_bad_requests(dropped, kw, error, message):
    args = {"counts": dropped, "treated": TREATED, "start": START, "length": LENGTH}
    args.update(kw)
    with pytest.raises(error, match=message):
        estimate_impact(**args)


def test_no_controls_left_when_the_surge_covers_the_area(dropped):
    every = list(dropped.index[:-3])
    with pytest.raises(ParameterError, match="too few control cells: 3 cell"):
        estimate_impact(dropped, every, START, LENGTH, buffer_k=0)


def test_empty_surge_months_are_an_error_not_a_zero_interval(dropped):
    panel = dropped.copy()
    panel.loc[TREATED, [m for m in MONTHS if m >= START]] = 0
    with pytest.raises(DataError, match="no offences in the treated cells during"):
        estimate_impact(panel, TREATED, START, LENGTH)


def test_bad_panels(dropped):
    with pytest.raises(DataError, match="needs consecutive months; missing 2022-05"):
        estimate_impact(dropped.drop(columns="2022-05"), TREATED, START, LENGTH)
    neg = dropped.copy()
    neg.iloc[0, 0] = -1
    with pytest.raises(DataError, match="finite, non-negative"):
        estimate_impact(neg, TREATED, START, LENGTH)
    with pytest.raises(DataError, match="cell × month DataFrame"):
        estimate_impact([1, 2], TREATED, START, LENGTH)


# -- from a store -------------------------------------------------------------------
ZOO_MONTHS = [str(p) for p in pd.period_range("2022-01", "2022-07", freq="M")]


@pytest.fixture
def zoo_store(zoo_root, write_street, monkeypatch, tmp_path):
    """Seven months of robbery spread over the four zoo wards, ingested."""
    from hotspots.ingest import ingest
    from hotspots.store import Store

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    rng = np.random.default_rng(2)
    n = 0
    for month in ZOO_MONTHS:
        rows = []
        for _ in range(150):
            n += 1
            lon, lat = -0.2 + rng.random() * 0.02, 51.40 + rng.random() * 0.02
            rows.append(street_row(crime_id=f"r{n}", month=month, lon=f"{lon:.5f}",
                                   lat=f"{lat:.5f}"))
        write_street(rows, month=month)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    return store


def _ward_offences(store, ward_code, months):
    """Offences of one ward in the months, counted independently by ward code."""
    df = store.offences(crime="robbery", columns=["month", "ward_code"])
    return int((df["ward_code"].eq(ward_code) & df["month"].isin(months)).sum())


def test_impact_from_a_store_counts_the_ward_by_its_polygon(zoo_store):
    res = impact("SW", "robbery", "2022-06", 2, wards=["Zoo One"], pre_months=5,
                 store=zoo_store)
    roles = res.cells.groupby("role")["h3"].apply(set).to_dict()
    # every cell centred in the ward is treated (plus cells holding its offences)
    assert set(surge_cells(["Zoo One"])) <= roles["treated"]
    assert not (roles["treated"] & roles["control"])
    assert not (roles["buffer"] & roles["control"])
    # the treated counts are exactly the ward's offences, whatever cell they are in
    pre, post = ZOO_MONTHS[0:5], ZOO_MONTHS[5:7]
    assert res.totals["A_b"] == _ward_offences(zoo_store, "E05000001", pre)
    assert res.totals["A_a"] == _ward_offences(zoo_store, "E05000001", post)
    # a border cell's offences outside the ward are buffer, never control
    outside = {c for c in roles["buffer"] if c.endswith(OUTSIDE)}
    assert outside and {c.removesuffix(OUTSIDE) for c in outside} <= roles["treated"]
    assert res.metadata["wards"] == ["Zoo One (Merton)"]
    assert res.metadata["area"]["name"] == "South West BCU"
    assert "ward polygon" in res.metadata["assignment"]
    panel = count_panel("SW", "robbery", ZOO_MONTHS[0], ZOO_MONTHS[-1],
                        store=zoo_store)
    assert panel.counts.to_numpy().sum() == 150 * len(ZOO_MONTHS)
    assert panel.synthetic_share == 0.0
    # the wards may also be named by code, cells added directly (whole cells)
    extra = sorted(set(panel.counts.index) - roles["treated"])[:1]
    res2 = impact("SW", "robbery", "2022-06", 2, wards=["E05000001"], cells=extra,
                  pre_months=5, store=zoo_store)
    assert res2.metadata["cells"]["treated"] == len(roles["treated"]) + 1
    assert res2.metadata["treated_cells"] == sorted(roles["treated"] | set(extra))


def test_ward_panel_assigns_each_offence_once():
    """A hand-made study: a ward cell, a border cell and an outside cell."""
    from hotspots.study import Study

    inside, border, far = sorted(h3.grid_disk(CENTRE, 1))[:3]
    rows = pd.DataFrame({
        "month": ["2022-01", "2022-01", "2022-01", "2022-02", "2022-02"],
        "crime_type": "Robbery",
        "h3_9": [inside, border, border, border, far],
        "ward_code": ["W1", "W1", "W2", "W2", "W2"],
    })
    st = Study.from_offences("Merton", rows, res=9, months=["2022-01", "2022-02"])
    from hotspots.evaluate.impact import ward_panel

    panel, treated, outside = ward_panel(st, ["W1"])
    assert treated == sorted([inside, border])
    assert outside == [border + OUTSIDE]
    assert panel.loc[inside].tolist() == [1.0, 0.0]
    assert panel.loc[border].tolist() == [1.0, 0.0]        # the W1 offence only
    assert panel.loc[border + OUTSIDE].tolist() == [1.0, 1.0]  # its W2 offences
    assert panel.loc[far].tolist() == [0.0, 1.0]
    assert panel.to_numpy().sum() == len(rows)               # each offence once
    # a surge in cells takes them whole
    panel, treated, outside = ward_panel(st, [], cells=[border])
    assert treated == [border] and outside == []
    assert panel.loc[border].tolist() == [2.0, 1.0]


def test_controls_shortfall_is_said_not_hidden(dropped):
    pool = len(dropped) - 7 - 12  # treated and their ring
    res = estimate_impact(dropped, TREATED, START, LENGTH, n_controls=pool + 50)
    assert res.metadata["cells"]["control"] == pool
    assert res.metadata["matching"] == "all available"
    why = " ".join(res.metadata["why"])
    assert (f"all {pool} available cells are used as controls; {pool + 50} were "
            "asked") in why
    assert "not matched" in res.summary()[0] and "matched control" not in \
        res.summary()[0]
    ok = estimate_impact(dropped, TREATED, START, LENGTH)
    assert ok.metadata["matching"] == "matched"
    assert "21 matched control cell(s)" in ok.summary()[0]


def test_displacement_is_worded_only_when_the_buffer_changed():
    panel = _panel(effect=0.6, seed=21).astype(float)
    ring = sorted(set().union(*(h3.grid_disk(c, 1) for c in TREATED)) - set(TREATED))
    late = [m for m in MONTHS if m >= START]
    panel.loc[ring, late] *= 1.8  # crime pushed next door
    res = estimate_impact(panel, TREATED, START, LENGTH)
    assert res.buffer.ci_low > 1.0
    assert res.wdq < 0 and res.wdq_reading.startswith("displacement")


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [({"area": "Atlantis"}, AreaNotFound, "'area' needs to be London"),
     ({"wards": ["Zoo Nine"]}, AreaNotFound, "surge ward 'Zoo Nine' not found"),
     ({"area": "Merton", "wards": ["Zoo Three"]}, AreaNotFound,
      "'Zoo Three' is not a ward of Merton"),
     ({"start": "2023-05"}, ParameterError, "surge start '2023-05' is outside the"),
     ({"start": "2022-03"}, ParameterError, "pre-period needs months from 2021-10"),
     ({"length": 5}, ParameterError, "the surge runs 2022-06…2022-10 but the data"),
     ({"wards": []}, ParameterError, "a surge needs its 'cells' or 'wards'"),
     ({"area": "Merton", "buffer_k": 3}, ParameterError, "too few control cells"),
     ({"crime": "piracy"}, ParameterError, "crime")],
    ids=["area", "ward", "ward-outside", "start", "pre", "end", "nothing",
         "no-controls", "crime"])
def test_impact_bad_requests(zoo_store, kw, error, message):
    args = {"area": "SW", "crime": "robbery", "start": "2022-06", "length": 2,
            "wards": ["Zoo One"], "pre_months": 5, "store": zoo_store}
    args.update(kw)
    with pytest.raises(error, match=message):
        impact(**args)


def _no_constants(name):
    raise AssertionError(f"{name} in the JSON output")


def test_cli_impact(zoo_store, monkeypatch):
    from hotspots.cli import app

    monkeypatch.setenv("HOTSPOTS_STORE", str(zoo_store.path))
    r = CliRunner().invoke(app, ["impact", "--area", "SW", "--crime", "robbery",
                                 "--wards", "Zoo One", "--start", "2022-06",
                                 "--length", "2", "--pre-months", "5", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout, parse_constant=_no_constants)  # strict JSON
    assert doc["metadata"]["cells"]["treated"] >= len(surge_cells(["Zoo One"]))
    e = doc["effect"]
    assert e["ci"][0] <= e["rate_ratio"] <= e["ci"][1]
    controls = [c for c in doc["cells"] if c["role"] == "control"]
    assert controls and all(c["matched_to"] for c in controls)
    assert all(c["matched_to"] is None for c in doc["cells"] if c["role"] != "control")
    cells = [c["h3"] for c in doc["cells"] if c["role"] == "control"][:2]
    r2 = CliRunner().invoke(app, ["impact", "--area", "SW", "--crime", "robbery",
                                  "--cells", ",".join(cells), "--start", "2022-06",
                                  "--length", "2", "--pre-months", "5", "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout)["metadata"]["treated_cells"] == sorted(cells)
    bad = CliRunner().invoke(app, ["impact", "--area", "SW", "--crime", "robbery",
                                   "--wards", "Zoo One", "--start", "2030-01",
                                   "--json"])
    assert bad.exit_code == 2
    assert "outside the data" in json.loads(bad.stdout)["error"]
    for option, n in (("--length", "100000"), ("--pre-months", "301")):
        huge = CliRunner().invoke(app, ["impact", "--area", "SW", "--crime",
                                        "robbery", "--wards", "Zoo One", "--start",
                                        "2022-06", option, n, "--json"])
        assert huge.exit_code == 2, huge.output  # an error, not an IndexError
        assert json.loads(huge.stdout)["error"].endswith(
            f"at most 300 months (police.uk data began in 2010-12). {n} was given "
            "instead.")


# -- shared data --------------------------------------------------------------------
SURGE_WARDS = ["Abbey", "Colliers Wood", "Cricket Green"]


@pytest.fixture(scope="module")
def merton_burglary(shared_store):
    """Real Merton burglary 2022-06…2023-11 (12 months before a 6-month surge)."""
    return shared_store.offences("Merton", "burglary", "2022-06", "2023-11",
                                 columns=["month", "ward_code", "crime_type", "h3_9",
                                          "synthetic"])


def _cut(offences, codes, share=0.4, seed=1):
    """The offences with ``share`` of the surge wards' removed in each surge month."""
    rng = np.random.default_rng(seed)
    r = rng.random(len(offences))
    surge = offences["month"].between("2023-06", "2023-11") & \
        offences["ward_code"].isin(codes)
    drop = np.zeros(len(offences), dtype=bool)
    for _, g in offences[surge].groupby("month"):
        k = int(round(share * len(g)))
        drop[g.index[np.argsort(r[g.index])[:k]]] = True
    return offences[~drop], int(surge.sum()), int(drop.sum())


@pytest.mark.shared
def test_injected_cut_in_three_merton_wards_is_recovered(merton_burglary):
    from hotspots.areas import resolve_area
    from hotspots.evaluate.impact import _resolve_wards

    wards = _resolve_wards(resolve_area("Merton"), SURGE_WARDS)
    codes = {c for w in wards for c in w.ward_codes}
    cut, during, dropped = _cut(merton_burglary, codes)
    assert 0.38 < dropped / during < 0.42  # a 40 % cut of the wards' offences
    res = impact("Merton", "burglary", "2023-06", 6, wards=SURGE_WARDS,
                 offences=cut)
    e = res.effect
    assert e.ci_high < 1.0 and e.ci_low < 0.6 < e.ci_high
    # the ward's own counts are measured: nothing of the cut leaks elsewhere
    assert res.totals["A_a"] == during - dropped
    untouched = impact("Merton", "burglary", "2023-06", 6, wards=SURGE_WARDS,
                       offences=merton_burglary)
    u = untouched.effect
    assert u.ci_low < 1.0 < u.ci_high and not u.significant
    assert res.totals["A_a"] < untouched.totals["A_a"]
    assert not untouched.wdq_reading.startswith(("displacement", "diffusion"))


@pytest.mark.shared
def test_merton_burglary_surge_on_shared_data(shared_store):
    from hotspots.areas import resolve_area

    wards = ["Figge's Marsh", "Cricket Green"]
    res = impact("Merton", "burglary", "2023-06", 3, wards=wards, store=shared_store)
    doc = json.loads(json.dumps(res.to_json()))
    roles = res.cells.groupby("role")["h3"].apply(set).to_dict()
    t, b, c = roles["treated"], roles["buffer"], roles["control"]
    assert t and b and c
    assert not (t & b) and not (t & c) and not (b & c)
    # every cell centred in the two wards is treated
    assert set(surge_cells(wards)) <= t
    # the treated counts are the wards' offences, by ward code
    codes = set()
    for w in wards:
        codes |= set(resolve_area(w).ward_codes)
    df = shared_store.offences("Merton", "burglary", "2023-06", "2023-08",
                               columns=["ward_code"])
    assert doc["totals"]["A_a"] == int(df["ward_code"].isin(codes).sum())
    # every control lies in Merton and outside the 1-ring of the treated cells
    merton = resolve_area("Merton").geometry.buffer(0.002)
    ring = set().union(*(h3.grid_disk(x, 1) for x in t))
    assert not (c & ring)
    assert all(merton.contains(shapely.Point(h3.cell_to_latlng(x)[::-1])) for x in c)
    e = doc["effect"]
    assert 0 < e["ci"][0] <= e["rate_ratio"] <= e["ci"][1]
    assert doc["metadata"]["surge"] == {"from": "2023-06", "to": "2023-08",
                                        "months": 3}
    assert doc["metadata"]["pre"] == {"from": "2022-06", "to": "2023-05",
                                      "months": 12}
    assert doc["totals"]["A_b"] > 0 and doc["totals"]["C_b"] > 0
    # real burglary rows: no semi-synthetic label
    assert doc["synthetic_share"] == 0.0
    assert not any(line.startswith("SEMI-SYNTHETIC") for line in doc["summary"])
    with pytest.raises(ParameterError, match="surge start '2025-06' is outside the"):
        impact("Merton", "burglary", "2025-06", 3, wards=wards, store=shared_store)
