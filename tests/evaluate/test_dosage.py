"""Dosage delivered: patrol log validation, week splitting, delivered vs planned."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import geopandas as gpd
import h3
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from hotspots.errors import DataError, ParameterError
from hotspots.evaluate.dosage import (
    OUTSIDE,
    QUARANTINE_REASONS,
    dosage,
    dosage_report,
    load_plan,
    plan_minutes,
    read_patrol_log,
    split_by_week,
)

PLAN = {"Z01": 60, "Z02": 120, "Z03": 30}
# line 1 is the header; the comment says what each row tests
LOG = """zone,start,end,officer
Z01,2023-06-05 14:00,2023-06-05 14:25,PC1
Z01,2023-06-11 23:30,2023-06-12 00:45,PC1
Z02,05/06/2023 15:10,05/06/2023 15:40,PC2
Z02,2023-06-06T15:10:00+01:00,2023-06-06T15:30:00Z,PC2
Z01,2023-06-05 14:00,2023-06-05 14:25,PC1
Z03,2023-06-07 10:00,2023-06-07 09:00,PC3
,2023-06-07 10:00,2023-06-07 11:00,PC3
Z01,yesterday,2023-06-07 11:00,PC3
Z01,2023-06-07 10:00

Z09,2023-06-07 10:00,2023-06-07 10:30,PC4
Z01,2023-06-07 10:00,2023-06-08 10:30,PC4
Z01,2023-03-26 01:30,2023-03-26 02:30,PC4
"""
# rows: 2 ok (25 min, W23) · 3 ok, across Sunday midnight (30 W23 + 45 W24) ·
# 4 ok, UK day-first (30) · 5 ok, offsets (15:10 BST to 15:30 UTC = 80 min) ·
# 6 duplicate of 2 · 7 end before start · 8 no zone · 9 bad time · 10 two fields ·
# 11 blank (not a row) · 12 ok, zone outside the plan · 13 24.5 h · 14 a local
# time the spring clock change skips
EXPECTED_QUARANTINE = [
    (6, "duplicate"), (7, "end_not_after_start"), (8, "missing_zone"),
    (9, "bad_datetime"), (10, "wrong_column_count"), (13, "too_long"),
    (14, "bad_datetime"),
]


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "patrols-week23.csv"
    path.write_text(LOG, encoding="utf-8")
    return path


# -- validation and the ledger --------------------------------------------------------
def test_bad_rows_are_quarantined_with_file_line_and_reason(log_file):
    log = read_patrol_log(log_file, PLAN)
    led = log.ledger
    assert led["rows_in"] == 12 == led["accepted"] + led["quarantined"]
    assert (led["accepted"], led["quarantined"], led["blank_lines"]) == (5, 7, 1)
    q = log.quarantine
    assert list(zip(q["line"], q["reason"], strict=True)) == EXPECTED_QUARANTINE
    assert set(q["source"]) == {"patrols-week23.csv"}  # the file name, no folder
    assert set(q["reason"]) <= set(QUARANTINE_REASONS)
    assert led["by_reason"] == {"bad_datetime": 2, "duplicate": 1,
                                "end_not_after_start": 1, "missing_zone": 1,
                                "too_long": 1, "wrong_column_count": 1}
    assert "same visit as patrols-week23.csv line 2" in q["detail"].iloc[0]
    assert "clock change" in q.loc[q["line"] == 14, "detail"].iloc[0]
    assert q.loc[q["line"] == 10, "raw"].iloc[0] == "Z01,2023-06-07 10:00"
    v = log.visits
    assert v["line"].tolist() == [2, 3, 4, 5, 12]
    assert v["minutes"].tolist() == [25.0, 75.0, 30.0, 80.0, 30.0]
    assert v["in_plan"].tolist() == [True, True, True, True, False]
    assert str(v["start"].iloc[0].tz) == "Europe/London"


def test_several_files_share_one_ledger_and_duplicate_check(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("zone,start,end\nZ01,2023-06-05 14:00,2023-06-05 14:30\n")
    b.write_text("Zone,Start Time,End Time\nZ01,2023-06-05 14:00,2023-06-05 14:30\n"
                 "Z02,2023-06-05 15:00,2023-06-05 15:30\n")
    log = read_patrol_log([a, b], PLAN)
    assert log.ledger["files"] == [
        {"source": "a.csv", "rows_in": 1, "blank_lines": 0},
        {"source": "b.csv", "rows_in": 2, "blank_lines": 0}]
    assert log.ledger["rows_in"] == 3 and log.ledger["accepted"] == 2
    q = log.quarantine.iloc[0]
    assert (q["source"], q["line"], q["reason"]) == ("b.csv", 2, "duplicate")


@pytest.mark.parametrize(
    ("text", "message"),
    [("zone,when\nZ01,2023-06-05\n", "needs a header with 'zone' \\(or 'cell'\\)"),
     ("", "the patrol log is empty"),
     ("officer,start,end\nPC1,2023-06-05 14:00,2023-06-05 15:00\n",
      "needs a header with")],
    ids=["no-start-end", "empty", "no-zone"])
def test_unusable_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        read_patrol_log(path, PLAN)
    assert "bad.csv" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot read the patrol log"):
        read_patrol_log(tmp_path / "nope.csv", PLAN)


def test_cells_map_to_the_zones_that_hold_them():
    centre = h3.latlng_to_cell(51.41, -0.195, 9)
    ring = sorted(h3.grid_ring(centre, 1))
    far = h3.latlng_to_cell(51.5, -0.1, 9)
    plan = pd.DataFrame({"zone": ["Z01"], "cells": [[centre] + ring[:2]],
                         "hours_per_week": [2.0]})
    text = ("h3,start,end\n"
            f"{centre},2023-06-05 10:00,2023-06-05 10:20\n"
            f"{ring[1]},2023-06-05 11:00,2023-06-05 11:10\n"
            f"{far},2023-06-05 12:00,2023-06-05 12:30\n"
            "not-a-cell,2023-06-05 12:00,2023-06-05 12:30\n")
    log = read_patrol_log(io.StringIO(text), plan)
    assert log.visits["zone"].tolist() == ["Z01", "Z01", OUTSIDE]
    assert log.quarantine["reason"].tolist() == ["bad_cell"]
    res = dosage_report(log, plan)
    row = res.table.set_index("zone").loc["Z01"]
    assert (row["planned_minutes"], row["delivered_minutes"]) == (120.0, 30.0)
    assert res.metadata["unplanned_zones"] == [OUTSIDE]


# -- splitting at week boundaries -----------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [("2023-06-05 09:00", "2023-06-05 09:40", [("2023-W23", 40.0)]),
     ("2023-06-11 23:30", "2023-06-12 00:45", [("2023-W23", 30.0),
                                               ("2023-W24", 45.0)]),
     # the autumn clock change (01:00-02:00 happens twice): 00:30 to 03:30 local
     # on Sunday 29 October 2023 is 4 elapsed hours
     ("2023-10-29 00:30", "2023-10-29 03:30", [("2023-W43", 240.0)]),
     # across the new year: 1 January 2023 is a Sunday in ISO week 2022-W52
     ("2023-01-01 23:00", "2023-01-02 01:00", [("2022-W52", 60.0),
                                               ("2023-W01", 60.0)]),
     # a whole week and a bit
     ("2023-06-04 12:00", "2023-06-12 12:00", [("2023-W22", 720.0),
                                               ("2023-W23", 10080.0),
                                               ("2023-W24", 720.0)])],
    ids=["inside", "sunday-midnight", "clock-change", "new-year", "long"])
def test_split_by_week(start, end, expected):
    s = pd.Timestamp(start, tz="Europe/London")
    e = pd.Timestamp(end, tz="Europe/London")
    parts = split_by_week(s, e)
    assert parts == expected
    assert sum(m for _, m in parts) == (e - s).total_seconds() / 60


# -- delivered vs planned -----------------------------------------------------------
def test_delivered_vs_planned_by_hand(log_file):
    res = dosage(log_file, PLAN)
    t = res.table.set_index(["zone", "week"])
    assert res.metadata["weeks"] == ["2023-W23", "2023-W24"]
    # Z01: 25 + 30 in week 23, 45 in week 24 (the Sunday-midnight visit is split)
    assert t.loc[("Z01", "2023-W23"), "delivered_minutes"] == 55.0
    assert t.loc[("Z01", "2023-W24"), "delivered_minutes"] == 45.0
    assert t.loc[("Z01", "2023-W23"), "visits"] == 2
    assert t.loc[("Z01", "2023-W23"), "delivered_share"] == pytest.approx(55 / 60)
    assert t.loc[("Z02", "2023-W23"), "delivered_minutes"] == 110.0
    # planned zones nobody visited still get their rows, at zero
    assert t.loc[("Z03", "2023-W23"), "delivered_minutes"] == 0.0
    assert t.loc[("Z03", "2023-W24"), "shortfall_minutes"] == 30.0
    assert t.loc[("Z02", "2023-W24"), "delivered_share"] == 0.0
    assert t.loc[("Z01", "2023-W23"), "week_start"] == "2023-06-05"
    # the visit outside the plan is reported, not planned
    z9 = t.loc[("Z09", "2023-W23")]
    assert z9["delivered_minutes"] == 30.0 and not z9["in_plan"]
    assert pd.isna(z9["delivered_share"])
    m = res.metadata
    assert m["planned_minutes"] == 2 * (60 + 120 + 30)
    assert m["delivered_minutes"] == 55 + 45 + 110
    assert m["unplanned_zones"] == ["Z09"] and m["unplanned_minutes"] == 30.0
    z = res.zones.set_index("zone")
    assert z.loc["Z03", "weeks_below_half"] == 2
    assert z.loc["Z01", "delivered_minutes"] == 100.0
    # every accepted minute lands in exactly one zone-week
    assert res.table["delivered_minutes"].sum() == res.log.visits["minutes"].sum()


def test_officer_minutes_and_covered_minutes():
    text = ("zone,start,end,officer\n"
            "Z01,2023-06-05 10:00,2023-06-05 11:00,PC1\n"
            "Z01,2023-06-05 10:30,2023-06-05 11:30,PC2\n"
            "Z01,2023-06-05 12:00,2023-06-05 12:15,PC1\n")
    res = dosage(io.StringIO(text), {"Z01": 120})
    row = res.table.iloc[0]
    assert row["delivered_minutes"] == 135.0  # officer-minutes
    assert row["covered_minutes"] == 105.0  # 10:00-11:30 and 12:00-12:15


def test_report_weeks_can_be_given(log_file):
    res = dosage(log_file, PLAN, start="2023-05-29", end="2023-W25")
    assert res.metadata["weeks"] == ["2023-W22", "2023-W23", "2023-W24", "2023-W25"]
    t = res.table.set_index(["zone", "week"])
    assert t.loc[("Z02", "2023-W22"), "delivered_minutes"] == 0.0
    assert len(res.table) == 4 * 4  # 3 planned zones + Z09, 4 weeks
    assert res.metadata["minutes_outside_weeks"] == 0
    one = dosage(log_file, PLAN, start="2023-W24", end="2023-W24")
    assert one.metadata["weeks"] == ["2023-W24"]
    # the minutes of week 23 are accounted for, not lost
    assert one.metadata["minutes_outside_weeks"] == 25 + 30 + 30 + 80 + 30
    with pytest.raises(ParameterError, match="'start' needs to be a day"):
        dosage(log_file, PLAN, start="June")
    with pytest.raises(ParameterError, match="is after 'end'"):
        dosage(log_file, PLAN, start="2023-W30", end="2023-W20")


def test_json_is_strict_and_complete(log_file):
    doc = json.loads(json.dumps(dosage(log_file, PLAN).to_json(), allow_nan=False))
    assert doc["rows_in"] == doc["accepted"] + doc["quarantined"] == 12
    assert {r["reason"] for r in doc["quarantine"]} <= set(QUARANTINE_REASONS)
    assert {"zone", "week", "planned_minutes", "delivered_minutes"} <= set(
        doc["rows"][0])
    assert doc["summary"][0].startswith("Patrol log: 12 row(s) in, 5 accepted")


# -- plan shapes -------------------------------------------------------------------
def test_plan_shapes_agree(tmp_path):
    want = {"Z01": 90.0, "Z02": 30.0}
    frame = gpd.GeoDataFrame(
        {"zone": ["Z01", "Z02"], "cells": [["a"], ["b", "c"]],
         "hours_per_week": [1.5, 0.5]},
        geometry=[shapely.Point(0, 0)] * 2, crs=4326)
    plan_obj = SimpleNamespace(zones=frame)  # the shape of a PatrolPlan
    as_json = {"zones": [{"zone": "Z01", "hours_per_week": 1.5, "cells": ["a"]},
                         {"zone": "Z02", "hours_per_week": 0.5, "cells": ["b", "c"]}]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(as_json))
    plain = tmp_path / "minutes.json"
    plain.write_text(json.dumps({"Z01": 90, "Z02": 30}))
    # recommend --json: the zones as 'patrols', beside the area and the rest
    recommended = {"area": {"name": "Merton"}, "crime": "robbery",
                   "patrols": as_json["zones"], "cameras": []}
    for plan in (want, {"Z01": {"hours_per_week": 1.5},
                        "Z02": {"minutes_per_week": 30}},
                 frame, plan_obj, as_json, load_plan(path), load_plan(plain),
                 recommended):
        assert plan_minutes(plan).minutes == want
    assert plan_minutes(frame).cells == {"a": "Z01", "b": "Z02", "c": "Z02"}
    original = dict(want)
    plan_minutes(want)
    assert want == original


@pytest.mark.parametrize(
    ("plan", "message"),
    [({"Z01": -5}, "planned minutes for zone 'Z01' need to be a number ≥ 0"),
     ({"Z01": "lots"}, "need to be a number"),
     ({"Z01": {"officers": 2}}, "needs 'minutes_per_week' or 'hours_per_week'"),
     (pd.DataFrame({"zone": ["Z01"], "officers": [2]}),
      "needs the columns 'zone' and 'hours_per_week'"),
     (pd.DataFrame({"zone": ["Z01", "Z01"], "hours_per_week": [1, 2]}),
      "lists zone 'Z01' twice"),
     ([1, 2], "'plan' needs to be a mapping")],
    ids=["negative", "text", "no-minutes", "no-columns", "duplicate", "list"])
def test_bad_plans(plan, message):
    with pytest.raises(ParameterError, match=message):
        plan_minutes(plan)


def test_bad_plan_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="the plan is not valid JSON") as bad:
        load_plan(path)
    assert str(bad.value).startswith(f"{path}, line 1:")  # the whole path
    with pytest.raises(DataError, match="cannot read the plan") as missing:
        load_plan(tmp_path / "elsewhere" / "plan.json")
    assert str(missing.value).startswith(f"{tmp_path / 'elsewhere' / 'plan.json'}:")


# -- CLI -------------------------------------------------------------------------------
def test_cli_dosage(log_file, tmp_path):
    from hotspots.cli import app

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    qfile = tmp_path / "out" / "quarantine.csv"
    r = CliRunner().invoke(app, ["dosage", "--log", str(log_file), "--plan",
                                 str(plan), "--quarantine", str(qfile), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["rows_in"], doc["accepted"], doc["quarantined"]) == (12, 5, 7)
    q = pd.read_csv(qfile)
    assert list(zip(q["line"], q["reason"], strict=True)) == EXPECTED_QUARANTINE
    bad = tmp_path / "bad.csv"
    bad.write_text("when,where\n")
    r2 = CliRunner().invoke(app, ["dosage", "--log", str(bad), "--plan", str(plan),
                                  "--json"])
    assert r2.exit_code == 2
    assert "needs a header" in json.loads(r2.stdout)["error"]


def test_cli_quarantine_csv_cannot_run_as_a_formula(tmp_path):
    from hotspots.cli import app

    log = tmp_path / "log.csv"
    log.write_text("zone,start,end,officer\n=1+2,bad,2023-06-05 14:25,PC 1\n"
                   "@SUM(A1),2023-06-05 14:00,,PC 2\n")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    qfile = tmp_path / "q.csv"
    r = CliRunner().invoke(app, ["dosage", "--log", str(log), "--plan", str(plan),
                                 "--quarantine", str(qfile), "--json"])
    assert r.exit_code == 0, r.output
    raw = pd.read_csv(qfile)["raw"].tolist()
    assert raw == ["'=1+2,bad,2023-06-05 14:25,PC 1",
                   "'@SUM(A1),2023-06-05 14:00,,PC 2"]


@pytest.mark.parametrize("which", ["log", "plan"])
def test_inputs_over_the_input_cap_are_refused_before_they_are_read(
        which, log_file, tmp_path, monkeypatch):
    """An endless input (a device) or a huge one is one line, not the memory."""
    from hotspots.cli import app

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    args = {"log": str(log_file), "plan": str(plan), which: "/dev/zero"}
    monkeypatch.setenv("HOTSPOTS_MAX_INPUT_MB", "1")
    r = CliRunner().invoke(app, ["dosage", "--log", args["log"], "--plan",
                                 args["plan"], "--json"])
    assert r.exit_code == 2
    what = "the patrol log" if which == "log" else "the plan"
    assert json.loads(r.stdout)["error"] == (
        f"{what} (/dev/zero) is larger than the cap of 1 MB (HOTSPOTS_MAX_INPUT_MB).")
    monkeypatch.setenv("HOTSPOTS_MAX_INPUT_MB", "64")  # the files themselves fit
    assert CliRunner().invoke(app, ["dosage", "--log", str(log_file), "--plan",
                                    str(plan), "--json"]).exit_code == 0


def test_a_pipe_is_refused_not_waited_on(log_file, tmp_path):
    import os

    from hotspots.cli import app

    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    r = CliRunner().invoke(app, ["dosage", "--log", str(fifo), "--plan", str(plan),
                                 "--json"])
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"] == (
        f"the patrol log ({fifo}) is a pipe, not a file.")
