"""Ingest: every quarantine reason, file forms, ledger balance, idempotence, joins."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hotspots.errors import DataError, DataNotFound
from hotspots.ingest import STREET_HEADER, discover, ingest
from hotspots.store import Store

from .conftest import csv_bytes, ss_row, street_row

GOOD = [
    street_row("a1", lon="-0.195", lat="51.405"),  # Zoo One
    street_row(
        "a2", lon="-0.185", lat="51.415", crime_type="Vehicle crime"
    ),  # Zoo Four
    street_row("", lon="-0.195", lat="51.415", crime_type="Anti-social behaviour"),
]


def _in(month, rows):
    """The same rows dated ``month`` (a file's rows are of its own month)."""
    return [[r[0], month, *r[2:]] for r in rows]


def _ingest(root, tmp_path, **kw):
    store = Store.open(tmp_path / "store")
    return ingest(root=root, store=store, force=True, **kw), store


def _quarantine(store) -> pd.DataFrame:
    return store.quarantine()


BAD_ROWS = {
    "bad_month": street_row("b1", month="2022/06"),
    "empty_month": street_row("b1", month=""),
    "missing_coordinates": street_row("b1", lon="", lat=""),
    "non_numeric_coordinates": street_row("b1", lon="west", lat="51.4"),
    "swapped_coordinates": street_row("b1", lon="51.405", lat="-0.195"),
    "outside_force_area": street_row("b1", lon="-2.5", lat="53.4"),  # Manchester
    "outside_wards_beyond_250m": street_row("b1", lon="-0.25", lat="51.405"),
    "unknown_crime_type": street_row("b1", crime_type="Jaywalking"),
}
EXPECTED_REASON = {
    "empty_month": "bad_month",
    "outside_wards_beyond_250m": "outside_force_area",
}


@pytest.mark.parametrize("case", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_each_bad_row_is_quarantined_and_good_rows_survive(
    case, zoo_root, write_street, tmp_path
):
    rows = [GOOD[0], BAD_ROWS[case], GOOD[1], GOOD[2]]
    path = write_street(rows)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.rows_in == 4
    assert res.accepted == 3
    assert res.quarantined == 1
    q = _quarantine(store)
    assert list(q["reason"]) == [EXPECTED_REASON.get(case, case)]
    assert list(q["line"]) == [3]  # header is line 1, the bad row is the 2nd data row
    assert q["source"].iloc[0] == f"crimes/{path.name}"
    kept = store.offences()
    assert sorted(kept["crime_id"].fillna("")) == ["", "a1", "a2"]


def test_duplicate_crime_id_within_a_month_keeps_the_first(
    zoo_root, write_street, tmp_path
):
    rows = [GOOD[0], street_row("a1", outcome="Court result unavailable"), GOOD[1]]
    write_street(rows)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.by_reason == {"duplicate_crime_id": 1}
    kept = store.offences()
    assert kept.loc[kept["crime_id"] == "a1", "outcome"].tolist() == [
        "Under investigation"
    ]
    assert _quarantine(store)["line"].tolist() == [3]


def test_same_crime_id_in_different_months_is_not_a_duplicate(
    zoo_root, write_street, tmp_path
):
    write_street([GOOD[0]], month="2022-06")
    write_street([street_row("a1", month="2022-07")], month="2022-07")
    res, _ = _ingest(zoo_root, tmp_path)
    assert res.quarantined == 0 and res.accepted == 2
    assert res.months == ["2022-06", "2022-07"]


def test_asb_rows_without_crime_id_are_never_duplicates(
    zoo_root, write_street, tmp_path
):
    asb = street_row("", crime_type="Anti-social behaviour")
    write_street([asb, asb, asb])
    res, _ = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3 and res.quarantined == 0


def test_wrong_column_count_row_is_quarantined_with_its_text(
    zoo_root, write_street, tmp_path
):
    raw = csv_bytes([GOOD[0]]) + b"short,row,only\n" + csv_bytes([GOOD[1]], header=None)
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.quarantined) == (3, 2, 1)
    q = _quarantine(store)
    assert q["reason"].tolist() == ["wrong_column_count"]
    assert q["line"].tolist() == [3]
    assert q["raw"].tolist() == ["short,row,only"]
    # the row after the bad one keeps its true line number
    kept = store.offences()
    assert kept.set_index("crime_id").loc["a2", "line"] == 4


def test_wrong_header_quarantines_the_whole_file(zoo_root, write_street, tmp_path):
    header = list(STREET_HEADER)
    header[4] = "Lon"
    write_street(GOOD, header=header)
    write_street(_in("2022-07", [GOOD[0]]), month="2022-07")
    res, store = _ingest(zoo_root, tmp_path)
    assert res.by_reason == {"bad_header": 3}
    assert res.accepted == 1
    assert any("bad_header" in w for w in res.warnings)
    q = _quarantine(store)
    assert q["line"].tolist() == [2, 3, 4]
    assert "Longitude" in q["detail"].iloc[0]


def test_missing_header_quarantines_the_whole_file(zoo_root, write_street, tmp_path):
    write_street(GOOD, header=None)
    res, _ = _ingest(zoo_root, tmp_path)
    assert res.by_reason == {"missing_header": 3}
    assert res.rows_in == 3 and res.accepted == 0


def test_empty_file_is_in_the_ledger(zoo_root, write_street, tmp_path):
    write_street(None, raw=b"")
    write_street(_in("2022-07", [GOOD[0]]), month="2022-07")
    res, store = _ingest(zoo_root, tmp_path)
    ledger = store.ledger()
    entry = ledger["files"]["crimes/2022-06-metropolitan-street.csv"]
    assert entry["file_error"] == "empty_file"
    assert entry["rows_in"] == 0
    assert res.accepted == 1


def test_corrupt_gzip_is_quarantined_by_name_and_the_rest_is_read(
    zoo_root, write_street, tmp_path
):
    bad = zoo_root / "crimes" / "2022-06-metropolitan-street.csv.gz"
    bad.write_bytes(b"not gzip at all")
    write_street(_in("2022-07", [GOOD[0]]), month="2022-07")
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 1 and res.months == ["2022-07"]
    entry = store.ledger()["files"]["crimes/2022-06-metropolitan-street.csv.gz"]
    assert (entry["status"], entry["file_error"]) == ("quarantined_file",
                                                      "unreadable_file")
    assert entry["rows_in"] == entry["quarantined"] == 1
    assert any(w.startswith("crimes/2022-06-metropolitan-street.csv.gz: "
                            "unreadable_file (cannot read") for w in res.warnings)
    q = _quarantine(store)
    assert q["reason"].tolist() == ["unreadable_file"] and q["line"].isna().all()


@pytest.mark.parametrize("form", ["csv", "gz", "zip"])
def test_every_file_form_gives_the_same_rows(form, zoo_root, write_street, tmp_path):
    write_street(GOOD, form=form)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3
    df = store.offences()
    assert sorted(df["crime_type"]) == [
        "Anti-social behaviour",
        "Robbery",
        "Vehicle crime",
    ]
    if form == "zip":  # only the Met member is read, not Kent's
        assert (
            df["source"].str.endswith("2022-06/2022-06-metropolitan-street.csv").all()
        )
        assert len(discover(zoo_root)) == 1


def test_ledger_balances_per_file(zoo_root, write_street, tmp_path):
    write_street([GOOD[0], BAD_ROWS["missing_coordinates"], GOOD[1]], month="2022-06")
    write_street(_in("2022-07", [GOOD[2], BAD_ROWS["unknown_crime_type"]]),
                 month="2022-07")
    res, store = _ingest(zoo_root, tmp_path)
    files = store.ledger()["files"]
    assert len(files) == 2
    for entry in files.values():
        assert entry["rows_in"] == entry["accepted"] + entry["quarantined"]
        assert entry["balanced"] is True
    assert res.rows_in == res.accepted + res.quarantined == 5


def test_reingest_is_idempotent(zoo_root, write_street, tmp_path):
    write_street(GOOD)
    store = Store.open(tmp_path / "store")
    first = ingest(root=zoo_root, store=store)
    df1 = store.offences()
    again = ingest(root=zoo_root, store=store)
    assert again.up_to_date is True
    forced = ingest(root=zoo_root, store=store, force=True)
    df2 = store.offences()
    assert first.accepted == again.accepted == forced.accepted == 3
    pd.testing.assert_frame_equal(df1, df2)


def test_changed_input_is_picked_up(zoo_root, write_street, tmp_path):
    write_street(GOOD[:1])
    store = Store.open(tmp_path / "store")
    assert ingest(root=zoo_root, store=store).accepted == 1
    import os
    import time

    path = write_street(GOOD)
    later = time.time() + 5
    os.utime(path, (later, later))
    res = ingest(root=zoo_root, store=store)
    assert res.up_to_date is False and res.accepted == 3


def test_point_on_a_shared_boundary_gets_the_lowest_ward_code(
    zoo_root, write_street, tmp_path
):
    # -0.19 is the edge between Zoo One (E05000001) and Zoo Three (E05000003);
    # (-0.19, 51.41) is the corner shared by all four wards.
    rows = [
        street_row("e1", lon="-0.19", lat="51.405"),
        street_row("e2", lon="-0.19", lat="51.41"),
    ]
    write_street(rows)
    _, store = _ingest(zoo_root, tmp_path)
    df = store.offences().set_index("crime_id")
    assert df.loc["e1", "ward_code"] == "E05000001"
    assert df.loc["e2", "ward_code"] == "E05000001"
    # the same points in the other order give the same wards
    write_street(rows[::-1])
    _, store2 = _ingest(zoo_root, tmp_path / "again")
    df2 = store2.offences().set_index("crime_id")
    assert df2.loc["e1", "ward_code"] == "E05000001"


def test_point_just_outside_every_ward_snaps_to_nearest_and_is_counted(
    zoo_root, write_street, tmp_path
):
    # 0.001 deg west of the zoo is ~70 m: within 250 m of Zoo One
    write_street([street_row("n1", lon="-0.201", lat="51.405"), GOOD[1]])
    res, store = _ingest(zoo_root, tmp_path)
    df = store.offences().set_index("crime_id")
    assert df.loc["n1", "ward_code"] == "E05000001"
    assert df.loc["n1", "ward_method"] == "nearest"
    assert res.outside_wards["snapped_to_nearest_ward"] == 1


def test_joined_columns_and_synthetic_flag(zoo_root, write_street, tmp_path):
    synth = street_row("s1", context="SYNTHETIC row: real police.uk map point")
    write_street([GOOD[0], synth])
    res, store = _ingest(zoo_root, tmp_path)
    df = store.offences().set_index("crime_id")
    assert df.loc["a1", "borough"] == "Merton" and df.loc["a1", "bcu"] == "SW"
    assert bool(df.loc["s1", "synthetic"]) is True
    assert bool(df.loc["a1", "synthetic"]) is False
    import h3

    assert df.loc["a1", "h3_9"] == h3.latlng_to_cell(51.405, -0.195, 9)
    assert h3.get_resolution(df.loc["a1", "h3_10"]) == 10
    assert res.synthetic_rows == 1


def test_stop_and_search_is_validated_and_joined(zoo_root, tmp_path):
    rows = [
        ss_row(),
        ss_row(date="yesterday"),
        ss_row(lat="", lon=""),
        ss_row(date="2022-06-30T23:30:00+00:00", outcome="Arrest"),
    ]
    path = zoo_root / "crimes" / "2022-06-metropolitan-stop-and-search.csv"
    from hotspots.ingest import STOP_SEARCH_HEADER

    path.write_bytes(csv_bytes(rows, STOP_SEARCH_HEADER))
    (zoo_root / "crimes" / "2022-06-metropolitan-street.csv").write_bytes(
        csv_bytes([GOOD[0]])
    )
    res, store = _ingest(zoo_root, tmp_path)
    assert res.stop_search["rows_in"] == 4
    assert res.stop_search["accepted"] == 2
    assert res.stop_search["by_reason"] == {"bad_datetime": 1, "missing_coordinates": 1}
    ss = store.stop_search()
    assert set(ss["ward_code"]) == {"E05000001"}
    # 23:30 UTC on 30 June is 00:30 on 1 July in London: local hour 0
    late = ss[ss["outcome"] == "Arrest"].iloc[0]
    assert late["hour"] == 0 and late["weekday"] == "Friday"


def test_no_files_is_a_clear_error(zoo_root, tmp_path):
    with pytest.raises(
        DataNotFound, match="no police.uk street or stop-and-search files"
    ):
        _ingest(zoo_root, tmp_path)


def test_line_numbers_count_quoted_newlines(zoo_root, write_street, tmp_path):
    raw = csv_bytes([street_row("q1", location="On or near\nTwo Lines"), GOOD[1]])
    write_street(None, raw=raw)
    _, store = _ingest(zoo_root, tmp_path)
    df = store.offences().set_index("crime_id")
    assert df.loc["q1", "location"] == "On or near\nTwo Lines"
    assert df["line"].to_dict() == {"q1": 2, "a2": 4}


# ---------------------------------------------------------------------------
# the shared data


@pytest.mark.shared
def test_shared_ingest_balances_and_joins_nearly_every_row(shared_store):
    ledger = shared_store.ledger()
    s = ledger["street"]
    assert s["rows_in"] == s["accepted"] + s["quarantined"]
    assert s["rows_in"] > 1_200_000
    for label, entry in ledger["files"].items():
        assert entry["rows_in"] == entry["accepted"] + entry["quarantined"], label
    assert s["outside_wards"]["share_with_ward"] >= 0.999
    months = s["months"]
    # real robbery and vehicle crime from 2018-02; City files to 2025-05
    assert months[0] == "2018-02" and months[-1] == "2025-05"
    assert "2021-06" in months  # burglary and ASB have it
    met = s["coverage"]["metropolitan"]
    assert met["Robbery"][0] == "2018-02" and met["Robbery"][-1] == "2022-12"
    assert "2021-06" not in met["Robbery"] and "2021-06" in met["Burglary"]
    city = s["coverage"]["city-of-london"]
    assert "2022-06" not in city["Robbery"] and "2022-07" in city["Robbery"]
    assert sorted(ledger["forces"]) == ["btp", "city-of-london", "metropolitan"]
    assert ledger["stop_search"]["accepted"] > 400_000


@pytest.mark.shared
def test_shared_hand_checked_offences(shared_store, shared_root):
    """A handful of real burglaries, checked against the raw file by hand."""
    import gzip

    path = (
        shared_root / "crimes" / "burglary_only" / "2022-06-metropolitan-street.csv.gz"
    )
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    df = shared_store.offences(start="2022-06", end="2022-06", crime="burglary")
    df = df[df["source"] == "crimes/burglary_only/2022-06-metropolitan-street.csv.gz"]
    for line_no in (2, 1000, 3000):
        fields = next(iter(__import__("csv").reader([lines[line_no - 1]])))
        row = df[df["line"] == line_no]
        assert len(row) == 1, line_no
        row = row.iloc[0]
        assert row["crime_id"] == fields[0]
        assert row["lon"] == float(fields[4]) and row["lat"] == float(fields[5])
        # the LSOA name starts with the borough the ward join found
        assert fields[8].startswith(row["borough"]), (fields[8], row["borough"])
    first = df[df["line"] == 2].iloc[0]
    assert first["borough"] == "Barking and Dagenham" and first["bcu"] == "EA"


@pytest.mark.shared
def test_shared_ingest_json_from_the_cli(shared_store, monkeypatch):
    from typer.testing import CliRunner

    from hotspots.cli import app

    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    result = CliRunner().invoke(app, ["ingest", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rows_in"] == doc["accepted"] + doc["quarantined"]
    assert doc["months"][0] == "2018-02" and doc["months"][-1] == "2025-05"
    assert len(doc["months"]) == 88


def test_other_boundaries_and_force_area(zoo_root, write_street, tmp_path):
    """Another force (or a national run) passes its own boundaries and box: no
    London ward file is needed, and the boundaries are part of the fingerprint."""
    from hotspots.areas import load_wards

    wards = load_wards(zoo_root)
    (zoo_root / "boundaries" / "london_wards_2022.gpkg").unlink()
    write_street([street_row("a", lon="-0.195", lat="51.405"),
                  street_row("b", lon="-0.185", lat="51.415")])
    with pytest.raises(DataNotFound, match="2022 ward boundaries"):
        ingest(root=zoo_root, store=Store.open(tmp_path / "s0"))
    # only the two western wards, and a box that leaves the eastern ones out
    west = wards[wards["borough"] == "Merton"]
    store = Store.open(tmp_path / "s1")
    r = ingest(root=zoo_root, store=store, wards=west, bbox=(-0.21, 51.39, -0.19,
                                                            51.43))
    assert (r.rows_in, r.accepted, r.quarantined) == (2, 1, 1)
    assert r.by_reason == {"outside_force_area": 1}
    assert "given in memory" in store.ledger()["wards_file"]
    assert store.offences(columns=["ward_name"])["ward_name"].tolist() == ["Zoo One"]
    # same inputs: up to date; other boundaries: rebuilt
    again = ingest(root=zoo_root, store=store, wards=west,
                   bbox=(-0.21, 51.39, -0.19, 51.43))
    assert again.up_to_date
    r2 = ingest(root=zoo_root, store=store, wards=wards,
                bbox=(-0.21, 51.39, -0.17, 51.43))
    assert not r2.up_to_date and r2.accepted == 2
