"""The tasking brief: PDF pages, CSV and GeoJSON of zones and sites, the budget, the
labels read from the plan, disclosure, and the map (labels inside and visible)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pypdf import PdfReader

from hotspots.errors import ParameterError
from hotspots.report import _pdf
from hotspots.report import brief as brief_mod
from hotspots.report.brief import SITE_COLUMNS, ZONE_COLUMNS, write_brief
from hotspots.report.share import DisclosureRule
from tests.report.test_wardmaps import check_visible

DOSAGE = {"minutes_per_visit": 15.0, "visits_per_day": 4.0, "days_per_week": 7.0,
          "officers": 1}


def _pages(path) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in PdfReader(path).pages]


def make_plan(**zone_fields) -> SimpleNamespace:
    """A patrol plan as plan_patrols returns it: one zone of 2 cells in Zoo One,
    14 of 30 hours used, the cheapest cell left costing 21 h."""
    fields = {
        "rank": [1], "zone": ["Z01"], "cells": [["a", "b"]], "n_cells": [2],
        "forecast": [3.26], "offences": [3], "hours_per_week": [14.0],
        "visits_per_week": [56.0], "label": ["in a 95 % hot spot"],
        "cell_labels": [["in a 95 % hot spot", "next to a 95 % hot spot"]],
        "confidence": ["Hot spot, 95 % confidence"], "max_bin": [2],
        "wards": [["Zoo One"]], "trend": ["no clear trend"],
        "streets": [["On or near Zoo Road (2)", "On or near $ Street (1)"]],
        "rationale": ['=HYPERLINK("http://x") zone 1: 3 robbery offences'],
    }
    fields.update(zone_fields)
    fields = {k: v for k, v in fields.items() if v is not None}
    zones = gpd.GeoDataFrame(fields, geometry=[shapely.box(-0.199, 51.401, -0.191,
                                                           51.409)], crs=4326)
    candidates = pd.DataFrame({"h3": ["a", "b", "c"],
                               "hours_per_week": [7.0, 7.0, 21.0],
                               "selected": [True, True, False]})
    meta = {"officer_hours": 30.0, "stopped": "budget", "min_forecast": 0.5,
            "notes": ["14 of 30 h used: the cells left cost more than the hours "
                      "left"],
            "dosage": DOSAGE, "forecast": {"unit": "offences next month"},
            "analysis": {"crime": "robbery", "area": {"name": "Merton"},
                         "period": {"from": "2021-07", "to": "2022-06"}},
            "synthetic_share": 0.0, "method": "exact 0/1 knapsack"}
    return SimpleNamespace(zones=zones, candidates=candidates, metadata=meta)


def make_cameras() -> SimpleNamespace:
    sites = gpd.GeoDataFrame(
        {"rank": [1, 1], "round": [1, 2], "site": ["C1.1", "C2.1"],
         "location": ["-1+2 On or near Zoo Road", "On or near East Lane"],
         "ward": ["Zoo One", "Zoo Three"], "covered_offences": [3, 6],
         "deploy_from": ["2022-07-04", "2022-08-01"],
         "deploy_to": ["2022-07-31", "2022-08-28"],
         "rationale": ["Camera C1.1 sees 3.", "Camera C2.1 sees 6."]},
        geometry=[shapely.Point(-0.195, 51.405), shapely.Point(-0.185, 51.405)],
        crs=4326)
    return SimpleNamespace(sites=sites, metadata={
        "cameras": 1, "radius_m": 100.0, "weeks": 4, "rotations": 2,
        "rounds": [{"round": 1}, {"round": 2}], "method": "MCLP"})


@pytest.fixture
def written(report_env, tmp_path):
    _, store = report_env
    return write_brief(make_plan(), make_cameras(), tmp_path / "b.pdf", store=store)


def test_pdf_pages_hold_every_zone_and_site(written):
    pages = _pages(written.pdf)
    n = len(pages)
    assert n == 4  # map and budget; zones; camera sites; method
    for k, page in enumerate(pages, start=1):
        assert f"Tasking brief: robbery in Merton, page {k} of {n}" in page
        assert "Open Government Licence v3.0" in page
    one = pages[0]
    assert "Map: Jul 2021 to Jun 2022 · 30 officer-hours a week · 1 camera" in one
    assert ("16.0 of the 30 officer-hours are not planned: the cells left each cost "
            "more than the hours left (the cheapest costs 21.0 h a week).") in one
    assert "Note: 14 of 30 h used" not in one  # the plan's note is not repeated
    for name in ("Z01", "C1.1", "C2.1", "Street names (police.uk map points)"):
        assert name in one
    zones = pages[1]
    assert ("Z01: 2 cells, 1 in a 95 % hot spot, 1 next to a 95 % hot spot — "
            "Zoo One") in zones
    assert "Forecast: 3.3 offences next month." in zones
    assert "Offences in the last 12 months with data: 3." in zones
    assert "Visits: 56.0 visits a week. Officer-hours: 14.0 a week." in zones
    assert "Streets: On or near Zoo Road (2); On or near $ Street (1)." in zones
    assert 'Why: =HYPERLINK("http://x") zone 1' in zones
    cams = pages[2]
    assert "C2.1: On or near East Lane — Zoo Three" in cams
    assert ("Deploy: 2022-08-01 to 2022-08-28 (round 2). Sees: 6 robbery offences "
            "within 100 m that no earlier site sees.") in cams
    assert "How this plan was made" in pages[3]
    assert "Dosage: 15-minute visits, 4 a day" in pages[3]


def test_the_brief_says_what_months_each_part_rests_on(report_env, tmp_path):
    """The map is the last 12 months; the forecast and the zone labels reach
    further back (and across a gap): page one and the method page say so."""
    _, store = report_env
    plan = make_plan()
    plan.metadata.update(
        forecast={"unit": "offences next month", "history": ["2018-02", "2022-06"],
                  "history_months": 42, "chosen_by": "rolling validation"},
        evidence={"window": ["2019-02", "2022-06"], "months": 30},
        study={"period": {"missing_months": [f"2021-{m:02d}"
                                             for m in range(2, 13)]}})
    pages = _pages(write_brief(plan, make_cameras(), tmp_path / "b.pdf",
                               store=store).pdf)
    assert ("Map: Jul 2021 to Jun 2022 · forecast from Feb 2018 · zone labels from "
            "Feb 2019 (no data 2021-02..2021-12) · 30 officer-hours a week") in pages[0]
    method = pages[-1]
    assert ("Forecast of next month: from Feb 2018 to Jun 2022 (42 months with data; "
            "no data 2021-02..2021-12: left out, not read as zero); rolling "
            "validation.") in method
    assert ("Zone labels and confidence: Gi* over the last 30 months with data, "
            "Feb 2019 to Jun 2022") in method
    assert "Offences in a zone: its last 12 months with data" in method


def test_page_one_lists_the_camera_sites_that_fit_and_says_how_many_more(
        report_env, tmp_path):
    """Ten zones and twenty camera sites: page one lists the sites that fit above
    the map's legend, and the legend above the footer; it says how many more
    follow; the detail pages hold all twenty."""
    _, store = report_env
    cams = make_cameras()
    one = cams.sites.iloc[[0]]
    many = pd.concat([one.assign(site=f"C1.{k}", rank=k) for k in range(1, 21)],
                     ignore_index=True)
    cams.sites = gpd.GeoDataFrame(many, geometry="geometry", crs=4326)
    plan = make_plan()  # ten zones above them, as a busy BCU's plan has
    plan.zones = gpd.GeoDataFrame(pd.concat(
        [plan.zones.assign(zone=f"Z{k:02d}", rank=k) for k in range(1, 11)],
        ignore_index=True), geometry="geometry", crs=4326)
    path = write_brief(plan, cams, tmp_path / "b.pdf", store=store).pdf
    page = PdfReader(path).pages[0]
    right = 0.6 * float(page.mediabox.width)  # the tables' side of the page
    ys = {}

    def visit(text, cm, tm, *_):
        x, y = cm[4] + tm[4], cm[5] + tm[5]
        if text.strip() and (x > right or text.startswith(("Crime data", "Map"))):
            ys.setdefault(text.strip(), y)

    page.extract_text(visitor_text=visit)
    listed = [k for k in range(1, 21) if f"C1.{k}" in ys]
    assert 1 <= len(listed) < 20
    assert f"and {20 - len(listed)} more (next pages)" in ys
    footer = max(y for t, y in ys.items() if t.startswith("Crime data"))
    legend = ys["Map"]  # the legend's title, under the tables
    assert min(ys[f"C1.{k}"] for k in listed) > legend > footer + 40
    assert all(f"C1.{k}" in " ".join(_pages(path)[1:]) for k in range(1, 21))


def test_csv_and_geojson_of_zones_and_sites(written):
    f = written.files
    with open(f["zones_csv"], newline="") as fh:
        zones = list(csv.reader(fh))
    assert tuple(zones[0]) == ZONE_COLUMNS
    z = dict(zip(zones[0], zones[1], strict=True))
    assert z["zone"] == "Z01" and z["hours_per_week"] == "14.0"
    assert z["label"] == "1 in a 95 % hot spot, 1 next to a 95 % hot spot"
    assert z["forecast"] == "3.26" and z["visits_per_week"] == "56.0"
    assert z["wards"] == "Zoo One"
    assert z["rationale"].startswith("'=HYPERLINK(")  # never a formula
    assert z["lon"].startswith("-0.19")  # a negative number stays a number
    with open(f["sites_csv"], newline="") as fh:
        sites = list(csv.DictReader(fh))
    assert list(sites[0]) == list(SITE_COLUMNS)
    assert [s["site"] for s in sites] == ["C1.1", "C2.1"]
    assert sites[0]["location"] == "'-1+2 On or near Zoo Road"
    assert sites[0]["lon"] == "-0.195" and sites[1]["covered_offences"] == "6"
    gz = json.loads(Path(f["zones_geojson"]).read_text())
    assert [g["geometry"]["type"] for g in gz["features"]] == ["Polygon"]
    assert gz["features"][0]["properties"]["zone"] == "Z01"
    gs = json.loads(Path(f["sites_geojson"]).read_text())
    assert [g["geometry"]["coordinates"] for g in gs["features"]] == [
        [-0.195, 51.405], [-0.185, 51.405]]
    # what the rows are, and what produced the files
    assert z["data"] == sites[0]["data"] == brief_mod.REAL_DATA
    for doc in (gz, gs):
        m = doc["metadata"]
        assert (m["tool"], m["crime"], m["area"]) == ("hotspots", "robbery", "Merton")
        assert m["officer_hours"] == 30.0 and m["data"] == brief_mod.REAL_DATA
    doc = written.to_json()
    assert set(doc) == {"pdf", "period", "missing_months", "zones", "sites", "files",
                        "budget"}
    json.dumps(doc, allow_nan=False)
    assert doc["budget"]["hours_used"] == 14.0 and doc["budget"]["hours_left"] == 16.0


def test_labels_and_visits_fall_back_when_the_plan_has_none(report_env, tmp_path):
    _, store = report_env
    plan = make_plan(cell_labels=None, label=None, confidence=None, max_bin=[3],
                     visits_per_week=None, forecast=None)
    b = write_brief(plan, None, tmp_path / "b.pdf", store=store)
    z = b.zones.iloc[0]
    assert z["label"] == "Gi* hot spot, 99 % confidence"
    assert z["visits"] == ("4 a day to each of its 2 cells, 7 days a week: 56 visits "
                           "a week of 15 minutes")
    assert z["forecast_text"] == "n/a"
    assert len(b.sites) == 0 and len(_pages(b.pdf)) == 3  # no camera page


def test_whole_budget_and_nothing_left(report_env, tmp_path):
    _, store = report_env
    plan = make_plan(hours_per_week=[30.0])
    b = write_brief(plan, None, tmp_path / "b.pdf", store=store)
    assert b.budget["why_not_used"] == [
        "The whole budget of 30 officer-hours is planned."]
    plan = make_plan()
    plan.metadata["stopped"] = "min_forecast"
    b = write_brief(plan, None, tmp_path / "c.pdf", store=store)
    assert b.budget["why_not_used"][0] == (
        "16.0 of the 30 officer-hours are not planned: no other zone of touching "
        "cells is forecast at least 0.5 offences a month (the minimum a zone "
        "needs).")


def test_partner_brief_prints_no_count_below_five(report_env, tmp_path):
    _, store = report_env
    b = write_brief(make_plan(), make_cameras(), tmp_path / "p.pdf", store=store,
                    disclosure=DisclosureRule())
    small = re.compile(r"(?<![\d.,])[1-4] (robbery )?offences|\([1-4]\)")
    for page in _pages(b.pdf):
        assert not small.search(page), small.search(page)
    for name in ("zones_csv", "sites_csv"):
        with open(b.files[name], newline="") as fh:
            for row in csv.DictReader(fh):
                for col in ("offences", "covered_offences", "forecast"):
                    if row.get(col):
                        assert float(row[col]) >= 5, (col, row[col])
                for v in row.values():
                    assert not small.search(v), v
    for name in ("zones_geojson", "sites_geojson"):
        for feat in json.loads(Path(b.files[name]).read_text())["features"]:
            for v in feat["properties"].values():
                assert not (isinstance(v, str) and small.search(v)), v
    z = b.zones.iloc[0]
    assert z["offences_text"] == "fewer than 5" and z["offences"] is None
    assert z["forecast_text"] == "fewer than 5 offences next month"
    assert z["streets"] == "On or near Zoo Road; On or near $ Street"
    # 6 is shown rounded to 5, the partner rule's rounding
    seen = b.sites["covered_offences"]
    assert seen.isna().tolist() == [True, False] and seen.iloc[1] == 5
    assert b.sites["sees"].iloc[0].startswith("fewer than 5 robbery offences")


def test_map_labels_inside_the_frame_and_visible(report_env):
    _, store = report_env
    c = brief_mod._contents(make_plan(), make_cameras(), None, None, None, store)
    fig = c.pages[0][0]
    assert check_visible(fig) == {"cameras": 2, "zone_labels": 1}
    labels = sorted(t.get_text() for t in fig.axes[0].texts
                    if t.get_gid() == "camera-label")
    assert labels == ["C1.1", "C2.1"]
    for f, _ in c.pages:
        _pdf.plt.close(f)


def test_rejects_what_is_not_a_plan(report_env, tmp_path):
    with pytest.raises(ParameterError, match="'plan' needs to be a patrol plan"):
        write_brief(None, None, tmp_path / "x.pdf")
    with pytest.raises(ParameterError, match="'cameras' needs to be a whole number"):
        brief_mod.brief("Merton", cameras=-1, out_dir=tmp_path)


@pytest.mark.shared
def test_shared_cli_brief(shared_store, tmp_path, monkeypatch):
    from tests.conftest import cli_json

    doc = cli_json(monkeypatch, shared_store, [
        "brief", "--area", "Merton", "--crime", "robbery", "--from", "2022-01",
        "--to", "2022-12", "--officer-hours", "60", "--cameras", "4",
        "--rotations", "1", "--out", str(tmp_path)])
    assert set(doc) >= {"pdf", "zones", "sites"}
    assert doc["zones"] and len(doc["sites"]) == 4
    text = " ".join(_pages(doc["pdf"]))
    for z in doc["zones"]:
        assert f"{z['zone']}: " in text
    for s in doc["sites"]:
        assert f"{s['site']}: " in text
    with open(doc["files"]["zones_csv"], newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(doc["zones"])
    used = sum(z["hours_per_week"] for z in doc["zones"])
    assert used <= 60 + 1e-6
    assert doc["budget"]["hours_used"] == pytest.approx(used, abs=0.01)
    assert doc["missing_months"] == [] and doc["period"] == "Jan 2022 to Dec 2022"
    # across the 2021 gap the JSON names the months the map leaves out
    gap = cli_json(monkeypatch, shared_store, [
        "brief", "--area", "Merton", "--crime", "robbery", "--from", "2021-01",
        "--to", "2022-06", "--officer-hours", "60", "--cameras", "1",
        "--rotations", "1", "--out", str(tmp_path / "gap")])
    assert gap["missing_months"] == [f"2021-{m:02d}" for m in range(2, 13)]
    assert gap["period"] == "Jan 2021 to Jun 2022 (no data 2021-02..2021-12)"


def test_detail_headings_wrap_inside_the_page(report_env):
    """A zone over many wards with long names: its bold heading wraps onto a
    second line instead of running off the page."""
    from types import SimpleNamespace as Ns

    wards = ", ".join(["Wimbledon Town & Dundonald", "Lavender Fields",
                       "Longthornton", "Figge's Marsh", "Cricket Green"] * 2)
    zone = Ns(zone="Z01", cells=36, label="29 busy micro-place (forecast only), 6 "
              "next to a 95 % hot spot, 1 in a 95 % hot spot", wards=wards,
              forecast_text="4.7 offences next month", offences_text="78",
              confidence="Hot spot, 95 %", trend="rising", visits="129.0 visits a "
              "week", hours_per_week=32.3, streets="On or near X (7)",
              rationale="why " * 80)
    pages = brief_mod._detail_pages("Tasking brief", "Surge zones",
                                    [brief_mod._zone_block(zone)])
    fig = pages[0][0]
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    texts = [t for t in fig.texts if t.get_text().strip()]
    assert any(wards.split(", ")[-1] in t.get_text() for t in texts)
    for t in texts:
        box = t.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width, t.get_text()[:60]
    for f, _ in pages:
        _pdf.plt.close(f)


def test_semi_synthetic_rows_say_so_in_every_file(report_env, tmp_path):
    _, store = report_env
    plan = make_plan()
    plan.metadata["synthetic_share"] = 1.0
    plan.metadata["analysis"]["crime"] = "asb"
    b = write_brief(plan, make_cameras(), tmp_path / "b.pdf", store=store)
    for name in ("zones", "sites"):
        text = Path(b.files[f"{name}_csv"]).read_text()
        rows = list(csv.DictReader(text.splitlines()))
        assert rows and all(r["data"].startswith("SEMI-SYNTHETIC DATA") for r in rows)
        doc = json.loads(Path(b.files[f"{name}_geojson"]).read_text())
        assert doc["metadata"]["data"].startswith("SEMI-SYNTHETIC DATA")
        assert doc["metadata"]["synthetic_share"] == 1.0
