"""The borough crime pack: hand-worked zoo figures, one store scan, the PDF, and
every figure against ``count_offences`` on the shared data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from hotspots.cli import app
from hotspots.config import crime_types_for
from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.ingest import STOP_SEARCH_HEADER, ingest
from hotspots.months import month_range
from hotspots.report.crimepack import (
    LEVELS,
    PACK_FAMILIES,
    WINDOWS,
    crime_pack,
    crime_packs,
    financial_year_start,
    pack_study,
    population_note,
    write_crime_pack,
)
from hotspots.store import Store
from hotspots.study import Study
from tests.conftest import csv_bytes, ss_row
from tests.report.conftest import MERTON, WANDSWORTH


def _text(path) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in PdfReader(path).pages]


#: Stop and search in the zoo: month -> [(point, outcome)]. Merton 2022-05: an
#: arrest and an NFA; 2022-06: a community resolution, an NFA and one without an
#: outcome. Wandsworth 2022-05: an NFA; 2022-06: two arrests. No other month has a
#: stop-and-search file, so every other month is "no data".
SEARCHES = {
    "2022-05": [(MERTON, "Arrest"), (MERTON, "A no further action disposal"),
                (WANDSWORTH, "A no further action disposal")],
    "2022-06": [(MERTON, "Community resolution"),
                (MERTON, "A no further action disposal"), (MERTON, ""),
                (WANDSWORTH, "Arrest"), (WANDSWORTH, "Arrest")],
}


@pytest.fixture
def pack_store(report_env, with_population, tmp_path):
    """The report zoo plus stop-and-search files, ingested again."""
    root, _ = report_env
    for month, rows in SEARCHES.items():
        body = [ss_row(date=f"{month}-10T12:00:00+00:00", lat=pt["lat"],
                       lon=pt["lon"], outcome=o) for pt, o in rows]
        (root / "crimes" / f"{month}-metropolitan-stop-and-search.csv"
         ).write_bytes(csv_bytes(body, STOP_SEARCH_HEADER))
    store = Store.open(tmp_path / "store")
    ingest(root=root, store=store)
    return store


def test_financial_year_starts_in_april():
    assert financial_year_start("2022-04") == "2022-04"
    assert financial_year_start("2022-03") == "2021-04"
    assert financial_year_start("2023-01") == "2022-04"


def test_zoo_figures_by_hand(pack_store):
    pack = crime_pack("Merton", "2022-06", families=("robbery", "vehicle"),
                      store=pack_store)
    f = pack.to_json()
    assert f["periods"]["fytd"] == {"from": "2022-04", "to": "2022-06"}
    assert f["periods"]["previous_fytd"] == {"from": "2021-04", "to": "2021-06"}
    # robbery, Merton: 2022-05 + 2022-06 = 1 + 2; previous 12: 2020-07 + 2021-06
    tw = f["twelve_month_change"]["robbery"]
    assert (tw["current"], tw["previous"], tw["pct"]) == (3, 2, 50.0)
    mc = f["month_change"]["robbery"]
    assert (mc["current"], mc["previous"], mc["pct"]) == (2, 1, 100.0)
    # financial year to date: Apr-Jun 2022 = 3 against Apr-Jun 2021 = 1
    fy = f["fytd_change"]["robbery"]
    assert (fy["current"], fy["previous"], fy["pct"]) == (3, 1, 200.0)
    # vehicle crime: one in 2022-06, none before (a rise from zero has no %)
    v = f["twelve_month_change"]["vehicle"]
    assert (v["current"], v["previous"], v["pct"]) == (1, 0, None)
    # the BCU and the MPS add Wandsworth's two robberies in 2022-05/06
    rob = f["changes"]["robbery"]
    assert (rob["bcu"]["twelve_months"]["current"],
            rob["bcu"]["twelve_months"]["previous"]) == (5, 2)
    assert rob["mps"]["month"]["current"] == 3
    assert f["bcu"] == {"code": "SW", "name": "South West BCU"}
    # rates from the fixture's population: 3 / 2,000 and 5 / 5,000 x 1,000
    assert f["rates_available"] is True
    assert f["rates"]["robbery"] == {"borough": 1.5, "bcu": 1.0, "mps": 1.0}
    assert f["population"] == {"borough": 2000, "bcu": 5000, "mps": 5000}
    assert "Test fixture" in f["population_source"]
    assert f["synthetic_share"] == {"robbery": 0.0, "vehicle": 0.0}
    assert pack.summary()[1] == ("Robbery: 12 months 3 vs 2 (+50.0%); FYTD 3 vs 1 "
                                 "(+200.0%); 1.50 per 1,000")
    fig = f["figures"]["robbery"]["borough"]["previous_twelve_months"]
    assert (fig["from"], fig["to"], fig["count"], fig["status"]) == (
        "2020-07", "2021-06", 2, "covered")


def test_zoo_stop_search_by_hand(pack_store):
    pack = crime_pack("Merton", "2022-06", families=("robbery",), store=pack_store)
    ss = pack.to_json()["stop_search"]
    by = {r["month"]: r for r in ss["levels"]["borough"]["by_month"]}
    assert by["2022-05"] == {"month": "2022-05", "searches": 2, "positive": 1,
                             "no_further_action": 1, "unknown": 0,
                             "positive_rate": 0.5}
    # the search without an outcome counts as a search, not in the rate
    assert (by["2022-06"]["searches"], by["2022-06"]["unknown"],
            by["2022-06"]["positive_rate"]) == (3, 1, 0.5)
    assert by["2022-04"] == {"month": "2022-04", "status": "no data"}
    assert ss["no_data_months"][-1] == "2022-04" and "2022-05" not in \
        ss["no_data_months"]
    t = ss["levels"]["borough"]["twelve_months"]
    # ten of the twelve months have no data: the total is not given, the rate is
    assert t["searches"] is None and t["searches_in_months_with_data"] == 5
    assert (t["positive"], t["months_with_data"]) == (2, 2)
    bcu = ss["levels"]["bcu"]["twelve_months"]
    assert bcu["positive"] == 4 and bcu["positive_rate"] == round(4 / 7, 4)


def _count_scans(monkeypatch) -> list:
    kinds = []
    real = Store.scan

    def counting(self, kind, *a, **kw):
        kinds.append(kind)
        return real(self, kind, *a, **kw)

    monkeypatch.setattr(Store, "scan", counting)
    return kinds


def test_one_scan_of_offences_and_one_of_stop_search(pack_store, monkeypatch):
    # the study's grid of the Met's area is cached per store generation (its own
    # scan of map points, once); the pack then reads offences once
    pack_study(["Robbery"], "2022-01", "2022-06", store=pack_store)
    kinds = _count_scans(monkeypatch)
    crime_pack("Merton", "2022-06", store=pack_store)
    assert kinds == ["offences", "stop_search"]


def test_a_given_study_is_counted_without_reading_offences(pack_store, monkeypatch):
    types = sorted({t for c in PACK_FAMILIES for t in crime_types_for(c)})
    study = pack_study(types, "2020-07", "2022-06", store=pack_store)
    assert study.cover == "any" and study.area.code == "MPS"
    kinds = _count_scans(monkeypatch)
    given = crime_pack("Merton", "2022-06", store=pack_store, study=study)
    assert kinds == ["stop_search"]
    read = crime_pack("Merton", "2022-06", store=pack_store)
    assert given.to_json() == read.to_json()
    assert given.to_json()["twelve_month_change"]["robbery"]["current"] == 3


@pytest.mark.parametrize("make, reason", [
    (lambda s, types: pack_study(types, "2022-01", "2022-06", store=s),
     "lacks the covered months 2020-07..2021-12"),
    (lambda s, types: pack_study(["Robbery"], "2020-07", "2022-06", store=s),
     "lacks Anti-social behaviour, .*, Vehicle crime"),
    (lambda s, types: Study.load("Merton", tuple(types), "2020-07", "2022-06",
                                 res=7, store=s, cover="any"),
     "its area is Merton, not the Met's"),
])
def test_a_study_that_lacks_what_the_pack_counts_is_refused(pack_store, make,
                                                             reason):
    types = sorted({t for c in PACK_FAMILIES for t in crime_types_for(c)})
    with pytest.raises(ParameterError, match=reason):
        crime_pack("Merton", "2022-06", store=pack_store,
                   study=make(pack_store, types))


def test_all_crime_lists_what_it_holds_and_gaps_are_not_zero(pack_store):
    pack = crime_pack("Merton", "2022-06", store=pack_store)
    doc = pack.to_json()
    assert tuple(doc["families"]) == PACK_FAMILIES
    a = doc["families"]["all"]
    # the zoo's files hold robbery and vehicle crime only: all crime says so
    assert a["types_held"] == ["Robbery", "Vehicle crime"]
    assert len(a["types_missing"]) == 11 and "Burglary" in a["types_missing"]
    assert a["months_with_data"] == "2020-07..2022-06"
    assert doc["twelve_month_change"]["all"]["current"] == 4  # 3 robbery + 1 vehicle
    # burglary has no file at all: n/a, never 0
    b = doc["figures"]["burglary"]["borough"]["twelve_months"]
    assert b["count"] is None and len(b["missing_months"]) == 12
    # the change needs both 12-month periods: all 24 months are missing
    assert doc["twelve_month_change"]["burglary"]["note"] == \
        "no data 2020-07…2022-06"
    assert doc["burglary"]["borough"]["latest_month"] is None
    assert doc["rates"]["burglary"]["borough"] is None


def test_zoo_pdf_prints_the_numbers(pack_store, tmp_path):
    pack = crime_pack("Merton", "2022-06", store=pack_store)
    pages = _text(write_crime_pack(pack, tmp_path / "pack.pdf"))
    assert len(pages) == 5
    assert "Merton crime pack: Jun 2022" in pages[0]
    assert "▲ 50.0%" in pages[0] and "1.50" in pages[0]
    assert "no data" in pages[0] and "n/a (no data)" not in pages[0]
    assert "Burglary: data for no months; no data 2020-07…2022-06" in pages[0]
    assert "holds 2 of the 13 types (Robbery, Vehicle crime)" in pages[0]
    assert "Open Government Licence v3.0" in pages[0]
    assert "South West BCU" in pages[1] and "MPS" in pages[1]
    assert pages[3].count("Burglary") >= 1 and "Stop and search" in pages[4]
    assert "50.0%" in pages[4] and "no data" in pages[4]
    assert not any("SEMI-SYNTHETIC" in p for p in pages)  # no synthetic rows


def test_zoo_without_population_says_rates_unavailable(report_env, tmp_path):
    _, store = report_env
    pack = crime_pack("Merton", "2022-06", families=("robbery",), store=store)
    doc = pack.to_json()
    assert doc["rates_available"] is False
    assert doc["per_1000"] == {"robbery": None}
    assert "fetch --what population" in doc["rates_note"]
    joined = " ".join(_text(write_crime_pack(pack, tmp_path / "pack.pdf")))
    assert "Rates per 1,000 residents are unavailable" in joined


def test_pack_rejects_what_is_not_a_met_borough(report_env):
    _, store = report_env
    with pytest.raises(ParameterError, match="needs to be a London borough"):
        crime_pack("Zoo One", "2022-06", store=store)
    with pytest.raises(ParameterError, match="does not cover 2030-01"):
        crime_pack("Merton", "2030-01", families=("robbery",), store=store)
    with pytest.raises(ParameterError, match="months need to be YYYY-MM"):
        crime_pack("Merton", "June", store=store)


def test_cli_pack_json(pack_store, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(pack_store.path))
    out = tmp_path / "p.pdf"
    res = CliRunner().invoke(app, ["pack", "--borough", "Merton", "--month",
                                   "2022-06", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["pdf"] == str(out) and out.is_file()
    assert doc["twelve_month_change"]["robbery"]["current"] == 3
    assert set(doc["twelve_month_change"]) == set(PACK_FAMILIES)
    bad = CliRunner().invoke(app, ["pack", "--borough", "Nowhere", "--json"])
    assert bad.exit_code == 2 and "error" in json.loads(bad.stdout)


def test_population_note_names_both_ways():
    note = population_note()
    assert "fetch --what population" in note and "area_code" in note


@pytest.mark.shared
def test_shared_merton_pack_equals_count_offences(shared_store, tmp_path):
    pack = crime_pack("Merton", "2022-12", store=shared_store)
    doc = pack.to_json()
    months = month_range("2021-01", "2022-12")
    checked = 0
    for crime in PACK_FAMILIES:
        for level, area in (("borough", "Merton"), ("bcu", "SW"), ("mps", "MPS")):
            res = count_offences(area, crime, "month", months[0], months[-1],
                                 store=shared_store).to_json()
            by = {r["key"]: r["count"] for r in res["rows"]}
            for w in WINDOWS:
                p = doc["periods"][w]
                keys = month_range(p["from"], p["to"])
                fig = doc["figures"][crime][level][w]
                gaps = [k for k in keys if by[k] == "missing"]
                assert fig["missing_months"] == gaps, (crime, level, w)
                assert fig["count"] == (None if gaps else sum(by[k] for k in keys))
                checked += 1
            if crime == "burglary":
                bg = doc["burglary"][level]
                assert bg["latest_month"] == by["2022-12"]
                assert bg["monthly"] == {k: by[k] for k in months}
                assert bg["monthly_average_12"] == pytest.approx(
                    sum(by[k] for k in months[12:]) / 12, abs=0.005)
    assert checked == len(PACK_FAMILIES) * len(LEVELS) * len(WINDOWS)
    # real robbery has no rows for 2021-02…2021-12: the previous 12 months are n/a
    assert doc["twelve_month_change"]["robbery"]["previous"] is None
    assert doc["twelve_month_change"]["robbery"]["note"] == \
        "no data 2021-02…2021-12"
    # all crime is every notifiable type, all held in 2022
    assert len(doc["families"]["all"]["types_held"]) == 13
    assert doc["families"]["all"]["months_with_data"] == "2022-01..2022-12"
    # no rate is unavailable: Census 2021 residents for the borough, BCU and MPS
    assert doc["population"]["borough"] == 215192
    assert all(doc["rates"][c][lv] is not None for c in PACK_FAMILIES
               for lv in LEVELS)
    # stop and search against the store, counted here by outcome text
    ss = shared_store.stop_search(area="Merton", start="2022-01", end="2022-12",
                                  columns=["month", "outcome"])
    got = {r["month"]: r for r in doc["stop_search"]["levels"]["borough"]["by_month"]}
    assert got["2022-01"]["status"] == "no data"
    for month, rows in ss.groupby("month"):
        nfa = int((rows["outcome"] == "A no further action disposal").sum())
        assert got[month]["searches"] == len(rows)
        assert got[month]["no_further_action"] == nfa
    # robbery, vehicle crime and burglary are real; ASB is semi-synthetic
    assert doc["synthetic_share"]["robbery"] == 0.0
    assert doc["synthetic_share"]["asb"] == 1.0
    pages = _text(write_crime_pack(pack, tmp_path / "merton.pdf"))
    assert len(pages) == 5
    assert all("SEMI-SYNTHETIC DATA" in p for p in pages[:3])
    assert not any("SEMI-SYNTHETIC DATA" in p for p in pages[3:])
    assert "unavailable" not in " ".join(pages)
    assert "Merton crime pack: Dec 2022" in pages[0]
    assert f"{doc['twelve_month_change']['all']['current']:,}" in pages[0]
    assert "Burglary" in pages[3] and "Stop and search" in pages[4]


def test_packs_of_several_boroughs_read_offences_once(pack_store, monkeypatch):
    alone = {b: crime_pack(b, "2022-06", store=pack_store).to_json()
             for b in ("Merton", "Wandsworth")}
    kinds = _count_scans(monkeypatch)
    packs = crime_packs(["Merton", "Wandsworth"], "2022-06", store=pack_store)
    assert kinds.count("offences") == 1
    assert [p.areas["borough"].name for p in packs] == ["Merton", "Wandsworth"]
    for p in packs:
        assert p.to_json() == alone[p.areas["borough"].name]
    with pytest.raises(ParameterError, match="at least one London borough"):
        crime_packs([], "2022-06", store=pack_store)


def test_cli_packs_a_bcu_into_a_folder(pack_store, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(pack_store.path))
    res = CliRunner().invoke(app, ["pack", "--bcu", "South West", "--month",
                                   "2022-06", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    names = [d["borough"]["name"] for d in doc["packs"]]
    # the zoo's South West BCU has two boroughs with wards
    assert sorted(names) == ["Merton", "Wandsworth"]
    assert doc["month"] == "2022-06"
    for d in doc["packs"]:
        assert d["pdf"].startswith(str(tmp_path)) and Path(d["pdf"]).is_file()
    merton = next(d for d in doc["packs"] if d["borough"]["name"] == "Merton")
    assert merton["twelve_month_change"]["robbery"]["current"] == 3
    bad = CliRunner().invoke(app, ["pack", "--bcu", "Merton", "--json"])
    assert bad.exit_code == 2
    assert "needs a Basic Command Unit" in json.loads(bad.stdout)["error"]
    # a borough named twice (in any case) is one pack, not the same PDF twice
    twice = CliRunner().invoke(app, [
        "pack", "--borough", "Merton", "--borough", " merton", "--borough",
        "Wandsworth", "--month", "2022-06", "--out", str(tmp_path / "t"), "--json"])
    assert twice.exit_code == 0, twice.output
    assert [d["borough"]["name"] for d in json.loads(twice.stdout)["packs"]] == [
        "Merton", "Wandsworth"]


def test_the_burglary_chart_shades_the_months_without_data(pack_store, tmp_path,
                                                           monkeypatch):
    """The bar chart's missing months are shaded and labelled 'no data', as the
    line charts' are (empty bars had read as zero)."""
    from hotspots.report import crimepack as cp

    shaded = []
    real = cp._shade_gaps
    monkeypatch.setattr(cp, "_shade_gaps", lambda ax, gaps: (shaded.append(
        (ax, list(gaps))), real(ax, gaps)))
    pack = crime_pack("Merton", "2022-06", store=pack_store)
    write_crime_pack(pack, tmp_path / "pack.pdf")
    want = [j for j, m in enumerate(pack.months)
            if m in set(pack.to_json()["families"]["burglary"]["no_data_months"])]
    assert want  # the zoo has no burglary: every month is a gap
    ax = next(ax for ax, gaps in shaded if ax.get_ylabel() == "burglaries a month")
    assert [g for a, g in shaded if a is ax] == [want]
    assert "no data" in [t.get_text() for t in ax.texts]
