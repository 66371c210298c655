"""Ward priority ranking: hand-worked zoo scores, every ward once, CSV/PDF/CLI."""

from __future__ import annotations

import json
import math
from importlib import resources

import pandas as pd
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from hotspots.analysis import analyse
from hotspots.areas import load_wards
from hotspots.cli import app
from hotspots.counts import count_offences
from hotspots.report.ranking import COLUMNS, WEIGHTS, rank_wards, write_ranking_pdf


@pytest.fixture
def zoo_rank(report_env):
    _, store = report_env
    return rank_wards("robbery", "2021-07", "2022-06", store=store), store


def test_every_zoo_ward_once_with_hand_worked_components(zoo_rank):
    rk, store = zoo_rank
    t = rk.table.set_index("ward_name")
    assert list(rk.table.columns) == list(COLUMNS)
    assert sorted(t.index) == ["Zoo Four", "Zoo One", "Zoo Three", "Zoo Two"]
    assert sorted(rk.table["london_rank"]) == [1, 2, 3, 4]
    # robbery weighs 365 days: Zoo One 2 now and 2 before, Zoo Two 1 now, Zoo Three
    # (Wandsworth) 2 now, Zoo Four none
    assert t["harm"].to_dict() == {"Zoo One": 730.0, "Zoo Two": 365.0,
                                   "Zoo Three": 730.0, "Zoo Four": 0.0}
    assert t.loc["Zoo One", "harm_previous"] == 730.0
    # percentile ranks of harm, ties averaged: 0 -> 1/4, 365 -> 2/4, 730 -> 3.5/4
    assert t["volume_score"].to_dict() == {"Zoo One": 0.875, "Zoo Two": 0.5,
                                           "Zoo Three": 0.875, "Zoo Four": 0.25}
    # trend: log((H + k) / (H_prev + k)), k = median previous harm = 0 -> 1;
    # ranked among wards with offences: One 0 < Two log 366 < Three log 731
    assert t["trend_score"].to_dict() == {"Zoo One": round(1 / 3, 4),
                                          "Zoo Two": round(2 / 3, 4),
                                          "Zoo Three": 1.0, "Zoo Four": 0.0}
    assert t.loc["Zoo One", "harm_change_pct"] == 0.0
    assert math.isnan(t.loc["Zoo Two", "harm_change_pct"])
    # hot spot share from the same London-wide analysis, recomputed here
    an = analyse("London", "robbery", "2021-07", "2022-06", store=store)
    hot = set(an.cells.loc[an.cells["bin"] >= 2, "h3"])
    off = store.offences(crime="robbery", start="2021-07", end="2022-06")
    share = off.assign(h=off["h3_9"].isin(hot)).groupby("ward_name")["h"].mean()
    for ward, s in share.items():
        assert t.loc[ward, "hot_share"] == pytest.approx(s, abs=1e-4)
    expect = 100 * (WEIGHTS["volume"] * t["volume_score"]
                    + WEIGHTS["trend"] * t["trend_score"]
                    + WEIGHTS["hotspot"] * t["hotspot_score"])
    assert (t["score"] - expect).abs().max() < 0.01
    assert rk.table["score"].is_monotonic_decreasing


def test_reasons_say_why(zoo_rank):
    rk, _ = zoo_rank
    r = rk.table.set_index("ward_name")["reasons"]
    assert r["Zoo One"].startswith("harm 730 days from 2 offences (top ")
    assert "harm unchanged" in r["Zoo One"]
    assert "new: no harm in the previous 12 months" in r["Zoo Two"]
    assert r["Zoo Four"] == "no offences in the 12 months"


def test_borough_ranks_and_area_filter(zoo_rank):
    rk, _ = zoo_rank
    m = rk.for_area("Merton").table
    assert set(m["ward_name"]) == {"Zoo One", "Zoo Two"}
    assert sorted(m["borough_rank"]) == [1, 2]
    # London-wide ranks are kept when filtering
    full = rk.table.set_index("ward_code")["london_rank"]
    assert (m.set_index("ward_code")["london_rank"] == full[m["ward_code"]]).all()
    assert len(rk.top(1)) == 2  # one per borough


def test_harm_table_override_and_unknown_trend(report_env, tmp_path):
    _, store = report_env
    text = resources.files("hotspots").joinpath("data/harm_weights.toml").read_text()
    path = tmp_path / "harm.toml"
    path.write_text(text.replace('"Robbery" = 365', '"Robbery" = 10'))
    rk = rank_wards("robbery", "2021-07", "2022-06", harm_path=path, store=store)
    assert rk.table.set_index("ward_name").loc["Zoo One", "harm"] == 20.0
    # vehicle crime is covered only in 2022-06: the trend is unknown, neutral 0.5
    vk = rank_wards("vehicle", "2021-07", "2022-06", store=store)
    assert (vk.table["trend_score"] == 0.5).all()
    one = vk.table.set_index("ward_name").loc["Zoo One", "reasons"]
    assert "trend unknown" in one


def test_pdf_and_cli(report_env, tmp_path):
    res = CliRunner().invoke(app, [
        "rank", "--crime", "robbery", "--from", "2021-07", "--to", "2022-06",
        "--out", str(tmp_path / "r.csv"), "--pdf", str(tmp_path / "r.pdf"),
        "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["wards"] == 4 and doc["top"][0]["london_rank"] == 1
    csv = pd.read_csv(doc["csv"])
    assert csv["ward_code"].is_unique and len(csv) == 4
    text = " ".join(" ".join(p.extract_text().split())
                    for p in PdfReader(doc["pdf"]).pages)
    assert "Ward priority ranking: London, robbery" in text
    assert "Zoo One" in text and "Score = 100 × (0.5 × harm volume" in text
    one = CliRunner().invoke(app, [
        "rank", "--borough", "Wandsworth", "--crime", "robbery", "--to", "2022-06",
        "--out", str(tmp_path / "w.csv"), "--json"])
    assert json.loads(one.stdout)["wards"] == 2


@pytest.mark.shared
def test_shared_ranking_covers_every_london_ward_once(shared_store, tmp_path):
    rk = rank_wards("all", permutations=999, store=shared_store)
    codes = load_wards()["ward_code"]
    assert len(rk.table) == len(codes) == 704
    assert rk.table["ward_code"].is_unique
    assert set(rk.table["ward_code"]) == set(codes)
    assert sorted(rk.table["london_rank"]) == list(range(1, 705))
    met = rk.table[rk.table["bcu"].notna()]
    total = count_offences("London", "all", "month", rk.start, rk.end,
                           store=shared_store).total
    assert met["offences"].sum() == total
    assert rk.metadata["synthetic_share"] > 0
    pages = PdfReader(write_ranking_pdf(rk, tmp_path / "rank.pdf")).pages
    assert len(pages) == 5  # top 30, then 33 boroughs x 3 wards over 4 pages
    assert all("SEMI-SYNTHETIC DATA" in p.extract_text() for p in pages)
