"""Printed ward maps: pages, contents and counts, on the zoo and the shared data."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pypdf import PdfReader
from typer.testing import CliRunner

from hotspots.areas import resolve_area
from hotspots.cli import app
from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.report.wardmaps import MAP_FAMILIES, context_area, ward_maps


def _pages(path) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in PdfReader(path).pages]


@pytest.fixture
def zoo_maps(report_env, tmp_path):
    _, store = report_env
    zones = gpd.GeoDataFrame({"zone": [1]}, geometry=[shapely.box(
        -0.199, 51.401, -0.191, 51.409)], crs=4326)
    sites = gpd.GeoDataFrame({"site": [1]}, geometry=[shapely.Point(-0.195, 51.405)],
                             crs=4326)
    return ward_maps("Merton", tmp_path / "maps", "robbery", "2021-07", "2022-06",
                     zones=zones, sites=sites, store=store), store


def test_one_pdf_per_ward_and_a_booklet(zoo_maps):
    wm, _ = zoo_maps
    assert wm.wards == ("Zoo One", "Zoo Two")
    assert [p.rsplit("/", 1)[-1] for p in wm.pdfs] == ["zoo-one-E05000001.pdf",
                                                       "zoo-two-E05000002.pdf"]
    assert [len(PdfReader(p).pages) for p in wm.pdfs] == [2, 2]
    book = _pages(wm.booklet)
    assert len(book) == 5  # a cover with the borough map and index, then 2 a ward
    assert "Merton ward maps: robbery hot spots" in book[0]
    assert "1. Zoo One: pages 2–3" in book[0] and "2. Zoo Two: pages 4–5" in book[0]
    # the booklet's pages are the wards' pages (up to the time stamp)
    single = _pages(wm.pdfs[1])
    for a, b in zip(book[3:], single, strict=True):
        assert a.split("Produced by")[0] == b.split("Produced by")[0]
    doc = wm.to_json()
    assert doc["pdfs"] == list(wm.pdfs) and doc["from"] == "2021-07"
    assert doc["synthetic_share"] == 0.0


def test_map_page_has_what_a_printed_map_needs(zoo_maps):
    wm, _ = zoo_maps
    one = _pages(wm.pdfs[0])
    page = one[0]
    assert "Zoo One ward (Merton): robbery hot spots" in page
    assert "Jul 2021 to Jun 2022" in page  # the period
    for label in ("Hot spot, 95 % confidence", "Not significant",
                  "Cold spot, 99 % confidence", "Neighbouring wards",
                  "Surge patrol zone", "Camera site", " N "):
        assert label in page
    assert "Zoo Two" in page and "Zoo Three" in page  # neighbours named
    assert re.search(r"\b0 \d+ k?m\b", page)  # the scale bar
    assert "Open Government Licence v3.0" in page
    assert "Contains OS data © Crown copyright and database right" in page
    assert "ONS Open Geography Portal" in page
    # top streets, numbered (ties by name), a $ printed as a dollar (no mathtext)
    assert "1. On or near $ Street: 1 2. On or near Zoo Road: 1" in page
    assert "SEMI-SYNTHETIC" not in " ".join(one)


def test_counts_page_equals_count_offences(zoo_maps):
    wm, store = zoo_maps
    c = wm.counts.set_index(["ward_code", "crime"])
    for code in ("E05000001", "E05000002"):
        for fam in MAP_FAMILIES:
            cur = count_offences(code, fam, "month", "2021-07", "2022-06", store=store)
            assert c.loc[(code, fam), "current"] == cur.total
    # Zoo One robbery: r3, r4 (2022-06) against r0 (2020-07) and r1 (2021-06)
    assert c.loc[("E05000001", "robbery"), "previous"] == 2
    # vehicle crime is covered only in 2022-06: the previous 12 months are unknown
    assert c.loc[("E05000001", "vehicle"), "previous"] is pd.NA
    page = _pages(wm.pdfs[0])[1]
    assert "Zoo One ward (Merton): offences and top streets" in page
    assert "Robbery 2 2 no change" in page
    assert "Vehicle crime 1 n/a n/a" in page


def test_context_area_adds_touching_wards(report_env):
    area = context_area(resolve_area("Zoo One"))
    # the 2 x 2 zoo: every other ward touches Zoo One (Zoo Four at a corner)
    assert area.ward_codes == ("E05000001", "E05000002", "E05000003", "E05000004")
    assert area.kind == "ward" and "neighbouring" in area.name


def test_rejects_areas_larger_than_a_borough(report_env, tmp_path):
    _, store = report_env
    with pytest.raises(ParameterError, match="needs to be a London borough or a 20"):
        ward_maps("SW", tmp_path, store=store)


def test_cli_maps_json(report_env, tmp_path):
    res = CliRunner().invoke(app, ["maps", "--borough", "Zoo Two", "--out",
                                   str(tmp_path / "m"), "--from", "2021-07", "--to",
                                   "2022-06", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["pdfs"]) == 1 and doc["pdfs"][0].endswith("zoo-two-E05000002.pdf")


@pytest.mark.shared
def test_shared_ward_map(shared_store, tmp_path):
    wm = ward_maps("Abbey (Merton)", tmp_path, "robbery", "2022-01", "2022-12",
                   store=shared_store)
    pages = _pages(wm.pdfs[0])
    assert len(pages) == 2
    assert "Abbey ward (Merton): robbery hot spots" in pages[0]
    assert "Jan 2022 to Dec 2022" in pages[0]
    # the hot spots are real robbery; the counts page includes semi-synthetic ASB
    assert "SEMI-SYNTHETIC" not in pages[0]
    assert "SEMI-SYNTHETIC DATA — not real police records" in pages[1]
    c = wm.counts.set_index("crime")
    for fam in MAP_FAMILIES:
        n = count_offences("E05013810", fam, "month", "2022-01", "2022-12",
                           store=shared_store).total
        assert c.loc[fam, "current"] == n
    all_crime = int(c.loc["all", "current"])
    assert f"All crime {all_crime:,}" in pages[1]


@pytest.mark.shared
def test_cli_maps_with_surge_zones_and_cameras(shared_store, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    res = CliRunner().invoke(app, ["maps", "--borough", "Abbey (Merton)", "--crime",
                                   "robbery", "--from", "2022-01", "--to", "2022-12",
                                   "--officer-hours", "60", "--cameras", "4",
                                   "--out", str(tmp_path / "m"), "--json"])
    assert res.exit_code == 0, res.output
    page = _pages(json.loads(res.stdout)["pdfs"][0])[0]
    # the Merton plan's first zone and camera sites reach into Abbey ward
    assert "Surge patrol zone" in page and "Camera site" in page
    assert "Z01" in page
