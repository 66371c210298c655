"""Ward priority ranking: hand-worked zoo scores, the minimum bases, the "NA" round
trip, formulas neutralised, every ward once, CSV/PDF/CLI."""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from hotspots.analysis import analyse
from hotspots.areas import load_wards
from hotspots.cli import app
from hotspots.counts import count_offences
from hotspots.report.ranking import (
    COLUMNS,
    READ_CSV_HINT,
    WardRanking,
    neutralise_formulas,
    rank_wards,
    score_wards,
    write_ranking_pdf,
)

#: Zoo residents: Merton's two wards hold all its 10,000 (Zoo Two's 3,000 are
#: below the minimum base); Wandsworth's 9,000 are all in Zoo Three, so Zoo Four
#: has none (as 20 City wards have none).
ZOO_POPULATION = (
    "area_code,area_name,population,year,source\n"
    "E09000024,Merton,10000,2021,Zoo census\n"
    "E09000032,Wandsworth,9000,2021,Zoo census\n"
    "E05000001,Zoo One,7000,2021,Zoo census best-fit\n"
    "E05000002,Zoo Two,3000,2021,Zoo census best-fit\n"
    "E05000003,Zoo Three,9000,2021,Zoo census best-fit\n"
)


@pytest.fixture
def zoo_rank(report_env):
    root, store = report_env
    (root / "population").mkdir()
    (root / "population" / "zoo.csv").write_text(ZOO_POPULATION)
    return rank_wards("robbery", "2021-07", "2022-06", store=store), store


def test_every_zoo_ward_once_with_hand_worked_components(zoo_rank):
    rk, store = zoo_rank
    t = rk.table.set_index("ward_name")
    assert list(rk.table.columns) == list(COLUMNS)
    assert sorted(t.index) == ["Zoo Four", "Zoo One", "Zoo Three", "Zoo Two"]
    # robbery weighs 365 days: Zoo One 2 now and 2 before, Zoo Two 1 now, Zoo Three
    # (Wandsworth) 2 now, Zoo Four none
    assert t["offences"].to_dict() == {"Zoo One": 2, "Zoo Two": 1, "Zoo Three": 2,
                                       "Zoo Four": 0}
    assert t["harm"].to_dict() == {"Zoo One": 730.0, "Zoo Two": 365.0,
                                   "Zoo Three": 730.0, "Zoo Four": 0.0}
    # percentile ranks of harm, ties averaged: 0 -> 1/4, 365 -> 2/4, 730 -> 3.5/4
    assert t["volume_score"].to_dict() == {"Zoo One": 0.875, "Zoo Two": 0.5,
                                           "Zoo Three": 0.875, "Zoo Four": 0.25}
    # rates: 2 / 7,000 and 2 / 9,000 x 1,000; Zoo Two is below the minimum base,
    # Zoo Four has no residents
    assert t.loc["Zoo One", "per_1000"] == 0.29
    assert t.loc["Zoo Three", "per_1000"] == 0.22
    assert t["population_status"].to_dict() == {
        "Zoo One": "best-fit", "Zoo Two": "small base", "Zoo Three": "best-fit",
        "Zoo Four": "no residents"}
    assert t.loc["Zoo One", "rate_score"] == 1.0
    assert t.loc["Zoo Three", "rate_score"] == 0.5
    assert math.isnan(t.loc["Zoo Two", "rate_score"])
    # trend: log((N + 20) / (N_prev + 20)) ranked among wards with offences:
    # One log(22/22) < Two log(21/20) < Three log(22/20); Four has none
    assert t["trend_score"].to_dict() == {"Zoo One": round(1 / 3, 4),
                                          "Zoo Two": round(2 / 3, 4),
                                          "Zoo Three": 1.0, "Zoo Four": 0.0}
    assert t["change"].to_dict() == {"Zoo One": 0, "Zoo Two": 1, "Zoo Three": 2,
                                     "Zoo Four": 0}
    assert t["change_pct"].isna().all()  # nobody had 20 offences before
    # hot spot share from the same London-wide analysis, recomputed here
    an = analyse("London", "robbery", "2021-07", "2022-06", store=store)
    hot = set(an.cells.loc[an.cells["bin"] >= 2, "h3"])
    off = store.offences(crime="robbery", start="2021-07", end="2022-06")
    share = off.assign(h=off["h3_9"].isin(hot)).groupby("ward_name")["h"].mean()
    for ward, s in share.items():
        assert t.loc[ward, "hot_share"] == pytest.approx(s, abs=1e-4)
    assert (t["hot_share"] == 0).all()  # 5 robberies make no significant hot spot
    # scores by hand (no hot cells): One 35 + 21.875 + 5; Three 17.5 + 21.875 + 15;
    # Two and Four have no rate, so their weights are over 0.65
    assert t["score"].to_dict() == pytest.approx(
        {"Zoo One": 61.875, "Zoo Three": 54.375, "Zoo Two": 22.5 / 0.65,
         "Zoo Four": 6.25 / 0.65}, abs=0.006)
    assert rk.table["ward_name"].tolist() == ["Zoo One", "Zoo Three", "Zoo Two",
                                              "Zoo Four"]
    assert rk.table["london_rank"].tolist() == [1, 2, 3, 4]


def test_reasons_say_why(zoo_rank):
    rk, _ = zoo_rank
    r = rk.table.set_index("ward_name")["reasons"]
    assert r["Zoo One"].startswith("2 offences, harm 730 days (top ")
    assert "0.3 offences per 1,000 residents" in r["Zoo One"]
    assert "unchanged (2 → 2; fewer than 20 before, too few for a %)" in r["Zoo One"]
    assert "none in the previous 12 months" in r["Zoo Two"]
    assert "3,000 residents: too few for a rate" in r["Zoo Two"]
    assert r["Zoo Four"] == "no offences in the 12 months"


def _table(rows):
    """A hand-made per-ward table for :func:`score_wards`."""
    cols = ["ward", "offences", "offences_previous", "harm", "hot_share",
            "population", "trend_known"]
    return pd.DataFrame(rows, columns=cols).set_index("ward")


def test_minimum_population_base_keeps_tiny_wards_off_the_top():
    t = _table([("Tiny", 5, 5, 5.0, 0.0, 50, True),
                ("Big", 300, 300, 300.0, 0.0, 10_000, True),
                ("Mid", 80, 80, 80.0, 0.0, 8_000, True),
                ("Quiet", 12, 12, 12.0, 0.0, 12_000, True)])
    s = score_wards(t, min_population=4000)
    # Tiny's 100 per 1,000 (5 over 50 residents) is not a rate at all
    assert math.isnan(s.loc["Tiny", "per_1000"])
    assert math.isnan(s.loc["Tiny", "rate_score"])
    assert s.loc["Big", "per_1000"] == 30.0 and s.loc["Big", "rate_score"] == 1.0
    assert s["score"].idxmax() == "Big"
    # without a base, Tiny's rate would top the rates and beat Mid overall
    raw = score_wards(t, min_population=0)
    assert raw.loc["Tiny", "rate_score"] == 1.0
    assert raw.loc["Tiny", "score"] > raw.loc["Mid", "score"]
    assert s.loc["Tiny", "score"] < s.loc["Mid", "score"]


def test_trend_base_keeps_small_counts_from_huge_percentages():
    t = _table([("Spike", 5, 1, 5.0, 0.0, 9_000, True),       # +400 %
                ("Rise", 150, 100, 150.0, 0.0, 9_000, True),   # +50 %
                ("Flat", 60, 60, 60.0, 0.0, 9_000, True),
                ("Unknown", 40, 0, 40.0, 0.0, 9_000, False)])
    s = score_wards(t, min_trend_base=20)
    # shrunk: Spike log(25/21) = 0.17 < Rise log(170/120) = 0.35
    assert s.loc["Rise", "trend_score"] == 1.0
    assert s.loc["Spike", "trend_score"] < s.loc["Rise", "trend_score"]
    assert math.isnan(s.loc["Spike", "change_pct"]) and s.loc["Spike", "change"] == 4
    assert s.loc["Rise", "change_pct"] == 50.0
    assert math.isnan(s.loc["Unknown", "trend_score"])
    # an unshrunk ratio would have put Spike first
    raw = score_wards(t, min_trend_base=0)
    assert raw.loc["Spike", "trend_score"] == 1.0


def _ranking_with(rows) -> WardRanking:
    t = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in t:
            t[c] = 0
    return WardRanking("robbery", "2022-01", "2022-12", t[list(COLUMNS)], {})


def test_bcu_na_survives_and_formulas_are_neutralised(tmp_path):
    rk = _ranking_with([
        {"ward_code": "E05013600", "ward_name": "Bowes", "borough": "Enfield",
         "bcu": "NA", "bcu_name": "North Area", "change": -3, "reasons": "ok"},
        {"ward_code": "E05009288", "ward_name": "Aldersgate",
         "borough": "City of London", "bcu": None, "bcu_name": None, "change": 1,
         "reasons": "City of London Police area"},
        {"ward_code": "E05013810", "ward_name": "=HYPERLINK(\"http://x\")",
         "borough": "Merton", "bcu": "SW", "bcu_name": "South West", "change": 0,
         "reasons": "+1 new; @home -x"},
    ])
    path = rk.write_csv(tmp_path / "r.csv")
    plain = pd.read_csv(path)  # default options
    assert plain["bcu_name"].tolist()[0] == "North Area"  # the name always survives
    assert pd.isna(plain["bcu_name"].iloc[1])  # the City has no BCU
    careful = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert careful["bcu"].tolist()[0] == "NA"  # READ_CSV_HINT keeps the code
    assert pd.isna(careful["bcu"].iloc[1])
    assert "keep_default_na=False" in READ_CSV_HINT
    assert careful["ward_name"].iloc[2] == "'=HYPERLINK(\"http://x\")"
    assert careful["reasons"].iloc[2] == "'+1 new; @home -x"
    assert careful["change"].tolist() == [-3, 1, 0]  # numbers are left alone
    assert neutralise_formulas(pd.DataFrame({"a": ["@x", "-y", "z"]}))[
        "a"].tolist() == ["'@x", "'-y", "z"]


def test_borough_ranks_and_area_filter(zoo_rank):
    rk, _ = zoo_rank
    m = rk.for_area("Merton").table
    assert set(m["ward_name"]) == {"Zoo One", "Zoo Two"}
    assert sorted(m["borough_rank"]) == [1, 2]
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
    # the zoo's files start in 2020-07: for 2020-07…2021-06 the previous 12 months
    # have no files, so the trend is unknown (left out), never a rise from zero
    vk = rank_wards("robbery", "2020-07", "2021-06", store=store)
    assert vk.table["trend_score"].isna().all()
    assert not vk.table["trend_known"].any()


def test_pdf_and_cli(report_env, tmp_path):
    res = CliRunner().invoke(app, [
        "rank", "--crime", "robbery", "--from", "2021-07", "--to", "2022-06",
        "--out", str(tmp_path / "r.csv"), "--pdf", str(tmp_path / "r.pdf"),
        "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["wards"] == 4 and doc["top"][0]["london_rank"] == 1
    assert "best-fit" in doc["ward_population_caveat"]
    csv = pd.read_csv(doc["csv"])
    assert csv["ward_code"].is_unique and len(csv) == 4
    text = " ".join(" ".join(p.extract_text().split())
                    for p in PdfReader(doc["pdf"]).pages)
    assert "Ward priority ranking: London, robbery" in text
    assert "Zoo One" in text and "Score = 100 × (0.35 × harm per 1,000" in text
    assert text.count("Ward residents: Census 2021 usual residents") == 1
    one = CliRunner().invoke(app, [
        "rank", "--borough", "Wandsworth", "--crime", "robbery", "--to", "2022-06",
        "--out", str(tmp_path / "w.csv"), "--json"])
    assert json.loads(one.stdout)["wards"] == 2


def _reason_lines_fit(pdf_path) -> bool:
    """Every word of the printed page lies inside the page."""
    from pypdf import PdfReader

    ok = True
    for page in PdfReader(pdf_path).pages:
        width = float(page.mediabox.width)

        def visit(text, cm, tm, font, size, _w=width):
            nonlocal ok
            x = cm[4] + tm[4] * cm[0]
            if text.strip() and x + 0.4 * size * len(text) > _w + 1:
                ok = False

        page.extract_text(visitor_text=visit)
    return ok


def test_long_reasons_wrap_inside_the_page(report_env, tmp_path):
    rk = _ranking_with([{
        "london_rank": 1, "borough_rank": 1, "ward_code": "E05013810",
        "ward_name": "A very long ward name indeed for wrapping", "borough": "Merton",
        "bcu": "SW", "bcu_name": "South West", "offences": 900,
        "offences_previous": 5, "volume_score": 0.99, "rate_score": 0.99,
        "hot_share": 0.5, "trend_known": True, "change": 895, "change_pct": np.nan,
        "per_1000": 80.0, "population_status": "best-fit", "score": 99.0,
        "months_missing": "2022-01..2022-03, 2022-05, 2022-07..2022-09", "harm": 1.0,
    }])
    pdf = write_ranking_pdf(rk, tmp_path / "long.pdf")
    text = " ".join(PdfReader(pdf).pages[0].extract_text().split())
    assert "no data 2022-01…2022-03" in text and "up 895" in text
    assert _reason_lines_fit(pdf)


def test_one_borough_pdf_lists_every_ward(tmp_path):
    rows = [{"london_rank": i, "borough_rank": i, "ward_code": f"E0500{i:04d}",
             "ward_name": f"Ward number {i}", "borough": "Merton", "bcu": "SW",
             "bcu_name": "South West", "offences": 10, "trend_known": False,
             "change": np.nan, "change_pct": np.nan, "per_1000": 1.0,
             "population_status": "best-fit", "score": 50.0 - i,
             "months_missing": "", "volume_score": 0.5, "rate_score": 0.5}
            for i in range(1, 31)]
    pdf = write_ranking_pdf(_ranking_with(rows), tmp_path / "m.pdf")
    pages = PdfReader(pdf).pages
    text = " ".join(p.extract_text() for p in pages)
    assert len(pages) == 2
    assert all(f"Ward number {i} " in text + " " for i in range(1, 31))


@pytest.mark.shared
def test_shared_ranking_covers_every_london_ward_once(shared_store, tmp_path):
    rk = rank_wards("all", permutations=999, store=shared_store)
    codes = load_wards()["ward_code"]
    assert len(rk.table) == len(codes) == 704
    assert rk.table["ward_code"].is_unique
    assert set(rk.table["ward_code"]) == set(codes)
    assert sorted(rk.table["london_rank"]) == list(range(1, 705))
    met = rk.table[rk.table["bcu"].notna()]
    total = count_offences("MPS", "all", "month", rk.start, rk.end,
                           store=shared_store).total
    assert met["offences"].sum() == total
    city = rk.table[rk.table["borough"] == "City of London"]
    assert (city["population_status"] == "no residents").sum() == 20
    assert city["per_1000"].isna().all()
    assert (city["months_missing"] == "2022-06").all()  # no City file for 2022-06
    assert (met["population_status"] == "best-fit").all()
    # no percentage on a small base; the top 10 all have a rate
    small = rk.table["offences_previous"] < 20
    assert rk.table.loc[small, "change_pct"].isna().all()
    assert rk.table.head(10)["per_1000"].notna().all()
    # Enfield and Haringey (BCU "NA") keep their BCU through a default read
    path = rk.write_csv(tmp_path / "rank.csv")
    back = pd.read_csv(path)
    na = back["borough"].isin(["Enfield", "Haringey"])
    assert na.sum() == 46 and (back.loc[na, "bcu_name"] == "North Area").all()
    pages = PdfReader(write_ranking_pdf(rk, tmp_path / "rank.pdf")).pages
    assert len(pages) == 7  # the top wards, then 33 boroughs x 3 wards over 6 pages
    assert _reason_lines_fit(tmp_path / "rank.pdf")


@pytest.mark.shared
def test_a_partly_covered_year_has_no_count_and_no_trend(shared_store):
    """Merton robbery 2022 against 2021 (data for 2021-01 only): no previous
    count from one month; the City's 2022 (no 2022-06) against its full 2021:
    no trend from 11 months against 12."""
    from hotspots.report.ranking import rank_wards

    rk = rank_wards("robbery", "2022-01", "2022-12", permutations=99,
                    store=shared_store)
    t = rk.table.set_index("ward_name")
    figges = t.loc["Figge's Marsh"]
    assert not figges["trend_known"] and pd.isna(figges["offences_previous"])
    assert pd.isna(figges["harm_previous"]) and pd.isna(figges["change_pct"])
    city = t[t["borough"] == "City of London"]
    assert (city["months_missing"] == "2022-06").all()
    assert not city["trend_known"].any() and city["offences_previous"].isna().all()
    assert "trend unknown (the data does not cover both 12-month periods)" in \
        city["reasons"].iloc[0]
    # each ward's offences are those counts gives it: in the City, none of the
    # Met's or British Transport Police's rows of 2022-06 (no City file then)
    from hotspots.counts import count_offences

    by_ward = count_offences("London", "robbery", "ward", "2022-01", "2022-12",
                             store=shared_store).table.set_index("key")["count"]
    got = rk.table.set_index("ward_code")["offences"]
    assert got.to_dict() == by_ward.reindex(got.index).to_dict()


@pytest.mark.shared
def test_ranking_without_a_forces_files_says_what_to_add(shared_root, monkeypatch):
    """Every London ward is ranked: with no City of London Police files the error
    says so and what to add, not that the store holds no offences."""
    from hotspots.errors import ParameterError
    from hotspots.report.ranking import rank_wards
    from tests.test_counts import _LedgerOnly

    monkeypatch.setenv("HOTSPOTS_DATA", str(shared_root))
    met_only = _LedgerOnly({"metropolitan": {"Burglary": ["2024-01", "2024-02"]}})
    with pytest.raises(ParameterError) as e:
        rank_wards("burglary", store=met_only)
    assert "every London ward is ranked" in str(e.value)
    assert "city-of-london has no file" in str(e.value)
    assert "run 'hotspots ingest'" in str(e.value)
    assert "MPS" not in str(e.value)  # rank has no --area to take it


def test_a_ranking_reads_one_generation(report_env, monkeypatch):
    """A generation without the last month, published while the ranking runs
    (between its hot spot analysis and its coverage), is not mixed in: the
    ranking is the one of the generation it began on (its reads had each looked
    up the newest generation), or the run says the store changed."""
    from hotspots.errors import StoreError
    from hotspots.ingest import ingest
    from hotspots.report import ranking

    root, store = report_env
    before = rank_wards("robbery", "2021-07", "2022-06", store=store).table
    real = ranking.analyse

    def and_publish(*a, **kw):
        out = real(*a, **kw)
        for f in (root / "crimes").glob("2022-06-*"):
            f.unlink()
        ingest(root=root, store=store)
        return out

    monkeypatch.setattr(ranking, "analyse", and_publish)
    try:
        during = rank_wards("robbery", "2021-07", "2022-06", store=store).table
    except StoreError as exc:
        assert "changed while this was reading it" in str(exc)
    else:
        pd.testing.assert_frame_equal(during, before)
