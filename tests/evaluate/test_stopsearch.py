"""Precision stop and search: share in hot spots, find rates in vs out."""

from __future__ import annotations

import json
import math

import h3
import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, fisher_exact
from typer.testing import CliRunner

from hotspots.errors import DataError, ParameterError
from hotspots.evaluate.stopsearch import (
    ALL,
    classify_outcomes,
    compare_rates,
    precision_table,
    stop_search_precision,
    wilson,
)
from tests.conftest import csv_bytes, ss_row, street_row

NFA = "A no further action disposal"
HOT = h3.latlng_to_cell(51.405, -0.195, 9)  # Zoo One (Merton)
COLD_MERTON = h3.latlng_to_cell(51.415, -0.195, 9)  # Zoo Two (Merton)
COLD_WANDS = h3.latlng_to_cell(51.415, -0.185, 9)  # Zoo Four (Wandsworth)
# (month, cell, point, outcomes) — the whole fixture, small enough to count by hand
PLAN = [
    ("2022-05", HOT, ("51.405", "-0.195"), ["Arrest"] * 3 + [""] + [NFA] * 2),
    ("2022-05", COLD_MERTON, ("51.415", "-0.195"),
     ["Community resolution"] + [NFA] * 3),
    ("2022-05", COLD_WANDS, ("51.415", "-0.185"), [NFA] * 5),
    ("2022-06", HOT, ("51.405", "-0.195"), ["Arrest"] + [NFA] * 3),
    ("2022-06", COLD_MERTON, ("51.415", "-0.195"), [NFA] * 6),
]
BOROUGH = {HOT: "Merton", COLD_MERTON: "Merton", COLD_WANDS: "Wandsworth"}


def _frame():
    rows = [{"borough": BOROUGH[c], "month": m, "outcome": o, "h3_9": c}
            for m, c, _, outs in PLAN for o in outs]
    return pd.DataFrame(rows)


def _wilson_by_hand(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# -- the find rule -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outcome", "kind"),
    [("Arrest", "find"), ("Community resolution", "find"),
     ("Penalty Notice for Disorder", "find"), ("Summons / charged by post", "find"),
     ("Caution (simple or conditional)", "find"), ("Khat or Cannabis warning", "find"),
     (NFA, "no_find"), ("Nothing found - no further action", "no_find"),
     ("a no further action disposal ", "no_find"), ("", "unknown"), (None, "unknown"),
     (np.nan, "unknown")],
    ids=["arrest", "community", "pnd", "summons", "caution", "warning", "nfa",
         "nothing-found", "nfa-case-space", "empty", "none", "nan"])
def test_find_rule(outcome, kind):
    assert classify_outcomes([outcome]).tolist() == [kind]


# -- intervals and the two-proportion comparison ----------------------------------
@pytest.mark.parametrize(("k", "n"),
                         [(8, 40), (0, 12), (12, 12), (3, 1000), (500, 999)])
def test_wilson_matches_the_formula(k, n):
    assert wilson(k, n) == pytest.approx(_wilson_by_hand(k, n), abs=1e-12)
    lo, hi = wilson(k, n, level=0.9)
    assert lo <= k / n <= hi


def test_wilson_edge_cases():
    assert wilson(0, 0) is None
    with pytest.raises(ParameterError, match="'count' needs to be between 0 and"):
        wilson(5, 4)
    with pytest.raises(ParameterError, match="'level' needs to be in"):
        wilson(1, 4, level=95)


def test_compare_rates_by_hand_large_counts():
    res = compare_rates(60, 200, 150, 1000)
    p1, p2 = 0.3, 0.15
    (l1, u1), (l2, u2) = _wilson_by_hand(60, 200), _wilson_by_hand(150, 1000)
    # Newcombe's hybrid score interval, by hand
    assert res["rate_diff"] == pytest.approx(p1 - p2)
    assert res["diff_low"] == pytest.approx(
        p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    assert res["diff_high"] == pytest.approx(
        p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    # the score test of equal proportions is Pearson's chi-square (n/(n-1) aside)
    chi = chi2_contingency([[60, 140], [150, 850]], correction=False)
    assert res["test"] == "score"
    assert res["p_value"] == pytest.approx(chi.pvalue, rel=0.05)
    assert res["p_value"] < 1e-4


def test_compare_rates_small_counts_use_fisher():
    res = compare_rates(3, 5, 1, 4)
    assert res["test"] == "fisher"
    assert res["p_value"] == pytest.approx(fisher_exact([[3, 2], [1, 3]]).pvalue)
    assert compare_rates(0, 0, 1, 4)["p_value"] is None
    same = compare_rates(0, 50, 0, 60)  # no finds anywhere: nothing to tell apart
    assert same["rate_diff"] == 0 and same["p_value"] == 1.0


# -- the table ------------------------------------------------------------------------
def test_precision_table_counts_by_hand():
    t = precision_table(_frame(), [HOT]).set_index(["borough", "month"])
    m5 = t.loc[("Merton", "2022-05")]
    assert (m5.searches, m5.in_hot, m5.known_in, m5.finds_in, m5.known_out,
            m5.finds_out, m5.unknown_outcome) == (10, 6, 5, 3, 4, 1, 1)
    assert m5.share_in_hot == pytest.approx(0.6)
    assert m5.rate_in == pytest.approx(3 / 5) and m5.rate_out == pytest.approx(1 / 4)
    assert (m5.rate_in_low, m5.rate_in_high) == pytest.approx(_wilson_by_hand(3, 5))
    assert (m5.share_ci_low, m5.share_ci_high) == pytest.approx(_wilson_by_hand(6, 10))
    assert m5.test == "fisher"
    mt = t.loc[("Merton", ALL)]
    assert (mt.searches, mt.in_hot, mt.known_in, mt.finds_in, mt.known_out,
            mt.finds_out) == (20, 10, 9, 4, 10, 1)
    w = t.loc[("Wandsworth", "2022-05")]
    assert w.in_hot == 0 and w.known_in == 0 and pd.isna(w.rate_in)
    assert pd.isna(w.p_value) and w.rate_out == 0
    total = t.loc[(ALL, ALL)]
    assert (total.searches, total.in_hot, total.known_in, total.finds_in,
            total.known_out, total.finds_out) == (25, 10, 9, 4, 15, 1)
    assert t.loc[(ALL, "2022-06")].searches == 10
    # monthly rows add up to the period rows
    months = t.drop(index=ALL, level="month")
    for col in ("searches", "in_hot", "finds_in", "finds_out", "known_in"):
        by_b = months.groupby(level="borough")[col].sum()
        assert (by_b == t.xs(ALL, level="month")[col].reindex(by_b.index)).all()


def test_precision_table_single_borough_has_no_all_borough_rows():
    f = _frame()
    t = precision_table(f[f["borough"] == "Merton"], [HOT])
    assert set(t["borough"]) == {"Merton"}
    assert t["month"].tolist() == ["2022-05", "2022-06", ALL]


def test_precision_table_rejects_missing_columns():
    with pytest.raises(DataError, match="needs the columns h3_9"):
        precision_table(_frame().drop(columns="h3_9"), [HOT])


# -- from a store -------------------------------------------------------------------
@pytest.fixture
def zoo_store(zoo_root, write_street, monkeypatch, tmp_path):
    """The search plan above plus robbery concentrated around the hot cell."""
    from hotspots.ingest import STOP_SEARCH_HEADER, ingest
    from hotspots.store import Store

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    for month in ("2022-05", "2022-06"):
        rows = [ss_row(date=f"{month}-10T12:00:00+00:00", lat=lat, lon=lon, outcome=o)
                for m, _, (lat, lon), outs in PLAN if m == month for o in outs]
        (zoo_root / "crimes" / f"{month}-metropolitan-stop-and-search.csv"
         ).write_bytes(csv_bytes(rows, STOP_SEARCH_HEADER))
    rng = np.random.default_rng(4)
    n = 0
    cluster = [h3.cell_to_latlng(c) for c in h3.grid_disk(HOT, 1)]
    for month in ("2022-04", "2022-05", "2022-06"):
        rows = []
        # a robbery hot spot: 6 a month on the hot cell and each of its neighbours
        points = [p for p in cluster for _ in range(6)]
        points += [(51.40 + rng.random() * 0.02, -0.20 + rng.random() * 0.02)
                   for _ in range(15)]
        for lat, lon in points:
            n += 1
            rows.append(street_row(crime_id=f"r{n}", month=month, lat=f"{lat:.6f}",
                                   lon=f"{lon:.6f}"))
        write_street(rows, month=month)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    return store


def test_precision_from_a_store_with_given_hot_cells(zoo_store):
    res = stop_search_precision("SW", "robbery", "2022-05", "2022-06",
                                hot_cells=[HOT], store=zoo_store)
    o = res.overall
    assert (o["searches"], o["in_hot"], o["known_in"], o["finds_in"],
            o["known_out"], o["finds_out"]) == (25, 10, 9, 4, 15, 1)
    assert res.hot_cells == (HOT,)
    assert res.metadata["hot_spots"]["source"] == "given"
    assert res.metadata["missing_months"] == []
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert doc["overall"]["rate_in"] == pytest.approx(4 / 9, abs=1e-6)
    assert doc["find_rule"].startswith("find = ")
    assert len(doc["rows"]) == len(res.table)


def test_search_months_are_the_areas_own_forces(zoo_root, zoo_store, tmp_path):
    """A month with British Transport Police searches alone is missing for a Met
    area (it had read as covered, and the Met's searches as 0), and a Met file
    with a header alone is a month with no searches (it had read as missing);
    the crime pack says the same."""
    from hotspots.coverage import search_months
    from hotspots.ingest import STOP_SEARCH_HEADER, ingest
    from hotspots.store import Store

    crimes = zoo_root / "crimes"
    btp = [ss_row(date="2022-07-10T12:00:00+00:00", lat=51.405, lon=-0.195)]
    (crimes / "2022-07-btp-stop-and-search.csv").write_bytes(
        csv_bytes(btp, STOP_SEARCH_HEADER))
    (crimes / "2022-08-metropolitan-stop-and-search.csv").write_bytes(
        csv_bytes([], STOP_SEARCH_HEADER))
    store = Store.open(tmp_path / "store2")
    res = ingest(root=zoo_root, store=store)
    assert any("2022-08-metropolitan-stop-and-search.csv: a header and no rows, "
               "read as a month without searches" in w for w in res.warnings)
    assert search_months(store, ("metropolitan",)) == ["2022-05", "2022-06",
                                                       "2022-08"]
    assert search_months(store, ("btp",)) == ["2022-07"]
    got = stop_search_precision("Merton", "robbery", "2022-05", "2022-08",
                                hot_cells=[HOT], store=store)
    assert got.metadata["missing_months"] == ["2022-07"]
    from hotspots.report.crimepack import crime_pack

    pack = crime_pack("Merton", month="2022-06", store=store)
    ss = pack.stop_search
    mine = ss[ss["level"] == "borough"].set_index("month")
    assert mine.loc["2022-06", "status"] == "covered"
    assert mine.loc["2022-04", "status"] == "missing"


def test_precision_from_a_store_with_analysed_hot_spots(zoo_store):
    from hotspots.analysis import analyse

    res = stop_search_precision("Merton", "robbery", "2022-05", "2022-06", level=1,
                                store=zoo_store)
    expected = set(analyse("Merton", "robbery", "2022-05", "2022-06",
                           store=zoo_store).hot_cells(1)["h3"])
    assert set(res.hot_cells) == expected and HOT in expected
    hs = res.metadata["hot_spots"]
    assert hs["source"] == "analyse" and hs["from"] == "2022-05"
    assert 0 < hs["area_share"] < 1
    assert set(res.table["borough"]) == {"Merton"}
    assert res.overall["searches"] == 20
    # hot spots of another period (clipped to the months the crime data covers)
    earlier = stop_search_precision("Merton", "robbery", "2022-05", "2022-06",
                                    level=1, hot_from="2022-04", hot_to="2022-09",
                                    store=zoo_store)
    hs = earlier.metadata["hot_spots"]
    assert (hs["from"], hs["to"]) == ("2022-04", "2022-06")
    assert set(earlier.hot_cells) == set(analyse(
        "Merton", "robbery", "2022-04", "2022-06", store=zoo_store).hot_cells(1)["h3"])


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [({"start": "2023-01", "end": "2023-03"}, ParameterError,
      "2023-01…2023-03 is outside the stop-and-search data"),
     ({"level": 4}, ParameterError, "'level' needs to be one of"),
     ({"confidence": 2}, ParameterError, "'confidence' needs to be in"),
     ({"area": "Zoo Three"}, DataError, "no stop-and-search records in Zoo Three"),
     ({"crime": "piracy"}, ParameterError, "crime")],
    ids=["outside", "level", "confidence", "no-searches", "crime"])
def test_precision_bad_requests(zoo_store, kw, error, message):
    args = {"area": "SW", "crime": "robbery", "start": "2022-05", "end": "2022-06",
            "hot_cells": [HOT], "store": zoo_store}
    args.update(kw)
    with pytest.raises(error, match=message):
        stop_search_precision(**args)


def test_missing_months_are_reported(zoo_store):
    res = stop_search_precision("SW", "robbery", "2022-04", "2022-06",
                                hot_cells=[HOT], store=zoo_store)
    assert res.metadata["missing_months"] == ["2022-04"]
    assert any(line.startswith("Missing") for line in res.summary())


def test_cli_stopsearch(zoo_store, monkeypatch):
    from hotspots.cli import app

    monkeypatch.setenv("HOTSPOTS_STORE", str(zoo_store.path))
    r = CliRunner().invoke(app, ["stopsearch", "--area", "SW", "--crime", "robbery",
                                 "--from", "2022-05", "--to", "2022-06", "--level",
                                 "1", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["searches"] == 25 and doc["overall"]["searches"] == 25
    assert {row["borough"] for row in doc["rows"]} == {"Merton", "Wandsworth", ALL}
    bad = CliRunner().invoke(app, ["stopsearch", "--area", "SW", "--from", "2030-01",
                                   "--to", "2030-02", "--json"])
    assert bad.exit_code == 2
    assert "outside the stop-and-search data" in json.loads(bad.stdout)["error"]


# -- shared data --------------------------------------------------------------------
@pytest.mark.shared
def test_merton_robbery_hot_spots_on_shared_data(shared_store):
    from hotspots.analysis import analyse

    # real robbery 2022; stop and search has no file for 2022-01
    res = stop_search_precision("Merton", "robbery", "2022-02", "2022-12",
                                store=shared_store)
    hot = set(analyse("Merton", "robbery", "2022-02", "2022-12",
                      store=shared_store).hot_cells(2)["h3"])
    assert set(res.hot_cells) == hot and hot
    raw = shared_store.stop_search("Merton", "2022-02", "2022-12",
                                   columns=["h3_9", "outcome"])
    o = res.overall
    assert o["searches"] == len(raw)
    assert o["in_hot"] == int(raw["h3_9"].isin(hot).sum())
    finds = classify_outcomes(raw["outcome"]) == "find"
    assert o["finds_in"] == int((finds & raw["h3_9"].isin(hot)).sum())
    assert o["share_ci_low"] <= o["share_in_hot"] <= o["share_ci_high"]
    assert o["rate_in_low"] <= o["rate_in"] <= o["rate_in_high"]
    assert o["rate_out_low"] <= o["rate_out"] <= o["rate_out_high"]
    assert o["diff_low"] <= o["rate_diff"] <= o["diff_high"]
    months = res.table[res.table["month"] != ALL]
    assert months["month"].tolist() == [f"2022-{m:02d}" for m in range(2, 13)]
    assert months["searches"].sum() == o["searches"]
    # searches concentrate in the hot spots more than their area share
    assert o["share_in_hot"] > res.metadata["hot_spots"]["area_share"]
    # real robbery: no semi-synthetic label
    assert not any(line.startswith("SEMI-SYNTHETIC") for line in res.summary())


@pytest.mark.shared
def test_missing_stop_search_month_on_shared_data(shared_store):
    res = stop_search_precision("Merton", "robbery", "2021-12", "2022-02",
                                hot_cells=[], store=shared_store)
    assert res.metadata["missing_months"] == ["2022-01"]
    assert res.overall["in_hot"] == 0 and res.overall["rate_in"] is None
    assert any(line.startswith("No hot") for line in res.summary())


@pytest.mark.shared
def test_hot_spots_over_the_robbery_gap_say_which_months_they_lack(shared_store):
    """Robbery has no data 2021-02…2021-12: hot spots over 2021-06…2022-03 are
    built from the months that have it, and the result says which it lacks."""
    res = stop_search_precision("Merton", "robbery", "2021-06", "2022-03",
                                store=shared_store)
    gap = [f"2021-{m:02d}" for m in range(6, 13)]
    assert res.metadata["hot_spots"]["missing_months"] == gap
    assert ("Missing robbery months behind the hot spots (no data; left out, not "
            "read as zero): 2021-06..2021-12.") in res.summary()
    covered = stop_search_precision("Merton", "robbery", "2022-02", "2022-12",
                                    store=shared_store)
    assert covered.metadata["hot_spots"]["missing_months"] == []


@pytest.mark.shared
def test_a_force_without_stop_search_files_is_named(shared_store):
    """The shared data holds the Met's searches only: in the City, whose own police
    filed none, the result says its searches are not counted; Merton's says
    nothing of the kind."""
    city = stop_search_precision("City of London", "burglary", "2022-02", "2022-12",
                                 store=shared_store)
    want = ("Missing: no stop-and-search file of city-of-london, a police force of "
            "City of London: its own searches are not counted, only other forces' "
            "searches there.")
    assert want in city.metadata["why"] and want in city.summary()
    # the monthly rows' p-values come with their caveat
    assert any(x.startswith("Monthly rows: their p-values are not adjusted")
               for x in city.summary())
    merton = stop_search_precision("Merton", "burglary", "2022-02", "2022-12",
                                   store=shared_store)
    assert not any("no stop-and-search file of" in w for w in merton.metadata["why"])


@pytest.mark.shared
def test_a_hot_spot_period_without_crime_data_is_refused(shared_store):
    """Merton robbery hot spots for 2023-03…12 (no robbery data after 2022-12):
    refused with the months the data covers (they had been taken from 2022-12
    alone without a word)."""
    with pytest.raises(ParameterError, match=r"no robbery data for the hot spot "
                       r"period 2023-03…2023-12 \(the data covers .*2022-01\.\."
                       r"2022-12; give --hot-from"):
        stop_search_precision("Merton", "robbery", "2023-01", "2023-12",
                              hot_from="2023-03", hot_to="2023-12",
                              store=shared_store)
