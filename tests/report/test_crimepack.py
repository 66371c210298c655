"""The borough crime pack: hand-worked zoo figures, the PDF, and agreement with
``count_offences`` on the shared data."""

from __future__ import annotations

import json

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from hotspots.cli import app
from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.report.crimepack import crime_pack, population_note, write_crime_pack


def _text(path) -> list[str]:
    return [p.extract_text() for p in PdfReader(path).pages]


def test_zoo_figures_by_hand(report_env, with_population):
    _, store = report_env
    pack = crime_pack("Merton", "2022-06", families=("robbery", "vehicle"),
                      store=store)
    f = pack.to_json()
    # robbery, Merton: 2022-05 + 2022-06 = 1 + 2; previous 12: 2020-07 + 2021-06
    assert f["twelve_month_change"]["robbery"] == {"current": 3, "previous": 2,
                                                  "pct": 50.0}
    assert f["month_change"]["robbery"] == {"current": 2, "previous": 1,
                                           "pct": 100.0}
    # vehicle crime: one in 2022-06, none before (a rise from zero has no %)
    assert f["twelve_month_change"]["vehicle"] == {"current": 1, "previous": 0,
                                                  "pct": None}
    assert f["month_change"]["vehicle"]["current"] == 1
    assert f["month_change"]["vehicle"]["previous"] == 0
    y = f["years"]["robbery"]
    assert y["this_year"]["2022-05"] == 1 and y["this_year"]["2022-06"] == 2
    assert y["this_year"]["2022-01"] == 0 and y["this_year"]["2022-07"] is None
    assert (y["this_year_to_date"], y["last_year_same_months"],
            y["last_year_total"]) == (3, 1, 1)
    comp = f["comparison"]["robbery"]
    # the BCU (and London) add Wandsworth's two robberies in 2022-05/06
    assert comp["bcu"]["area"] == "South West BCU"
    assert (comp["bcu"]["current"], comp["bcu"]["previous"]) == (5, 2)
    assert comp["london"]["current"] == 5
    # rates from the fixture's population file: 3 / 2,000 and 5 / 5,000 × 1,000
    assert f["rates_available"] is True
    assert comp["borough"]["per_1000"] == 1.5
    assert comp["bcu"]["population"] == 5000 and comp["bcu"]["per_1000"] == 1.0
    assert f["per_1000"]["robbery"] == 1.5
    assert "Test fixture" in f["population_source"]
    assert f["synthetic_share"] == {"robbery": 0.0, "vehicle": 0.0}


def test_zoo_without_population_says_rates_unavailable(report_env, tmp_path):
    _, store = report_env
    pack = crime_pack("Merton", "2022-06", families=("robbery",), store=store)
    doc = pack.to_json()
    assert doc["rates_available"] is False
    assert doc["per_1000"] == {"robbery": None}
    assert "fetch --what population" in doc["rates_note"]
    pdf = write_crime_pack(pack, tmp_path / "pack.pdf")
    pages = _text(pdf)
    assert len(pages) == 3
    joined = " ".join(" ".join(pages).split())
    assert "Rates per 1,000 residents are unavailable" in joined
    assert "SEMI-SYNTHETIC" not in joined  # no synthetic rows in the zoo


def test_zoo_pdf_prints_the_numbers(report_env, with_population, tmp_path):
    _, store = report_env
    pack = crime_pack("Merton", "2022-06", families=("robbery", "vehicle"),
                      store=store)
    pages = _text(write_crime_pack(pack, tmp_path / "pack.pdf"))
    assert "Merton crime pack: Jun 2022" in pages[0]
    assert "▲ 50.0%" in pages[0] and "1.50" in pages[0]
    assert "Open Government Licence v3.0" in pages[0]
    assert "Contains OS data © Crown copyright" in " ".join(pages[0].split())
    assert "South West BCU" in pages[2] and "London (Met)" in pages[2]


def test_pack_rejects_what_is_not_a_met_borough(report_env):
    _, store = report_env
    with pytest.raises(ParameterError, match="needs to be a London borough"):
        crime_pack("Zoo One", "2022-06", store=store)
    with pytest.raises(ParameterError, match="does not cover 2030-01"):
        crime_pack("Merton", "2030-01", families=("robbery",), store=store)
    with pytest.raises(ParameterError, match="months need to be YYYY-MM"):
        crime_pack("Merton", "June", store=store)


def test_cli_pack_json(report_env, with_population, tmp_path):
    out = tmp_path / "p.pdf"
    res = CliRunner().invoke(app, ["pack", "--borough", "Merton", "--month",
                                   "2022-06", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["pdf"] == str(out) and out.is_file()
    assert doc["twelve_month_change"]["robbery"]["current"] == 3
    assert set(doc["twelve_month_change"]) == {"robbery", "vehicle", "asb", "all"}
    bad = CliRunner().invoke(app, ["pack", "--borough", "Nowhere", "--json"])
    assert bad.exit_code == 2 and "error" in json.loads(bad.stdout)


def test_population_note_names_both_ways():
    note = population_note()
    assert "fetch --what population" in note and "area_code" in note


@pytest.mark.shared
def test_shared_merton_pack_equals_count_offences(shared_store, tmp_path):
    pack = crime_pack("Merton", "2022-12", store=shared_store, population=None)
    doc = pack.to_json()
    for crime in ("robbery", "vehicle", "asb", "all"):
        cur = count_offences("Merton", crime, "month", "2022-01", "2022-12",
                             store=shared_store)
        tw = doc["twelve_month_change"][crime]
        assert tw["current"] == cur.total
        dec = cur.table.set_index("key")["count"]
        assert doc["month_change"][crime]["current"] == dec["2022-12"]
        assert doc["month_change"][crime]["previous"] == dec["2022-11"]
        assert doc["years"][crime]["this_year"] == dec.to_dict()
        for level, area in (("bcu", "SW"), ("london", "MPS")):
            c = count_offences(area, crime, "month", "2022-01", "2022-12",
                               store=shared_store)
            assert doc["comparison"][crime][level]["current"] == c.total
    # 2021-02…2021-12 has no real robbery: the previous 12 months are unknown
    assert doc["twelve_month_change"]["robbery"]["previous"] is None
    prev_asb = count_offences("Merton", "asb", "month", "2021-01", "2021-12",
                              store=shared_store).total
    assert doc["twelve_month_change"]["asb"]["previous"] == prev_asb
    # robbery and vehicle crime are real; ASB is semi-synthetic
    assert doc["synthetic_share"]["robbery"] == 0.0
    assert doc["synthetic_share"]["asb"] == 1.0
    pdf = write_crime_pack(pack, tmp_path / "merton.pdf")
    pages = _text(pdf)
    assert len(pages) == 3
    assert all("SEMI-SYNTHETIC DATA" in p for p in pages)
    assert "Merton crime pack: Dec 2022" in pages[0]
    total = doc["twelve_month_change"]["all"]["current"]
    assert f"{total:,}" in pages[0]
    assert f"{doc['comparison']['robbery']['london']['current']:,}" in pages[2]
