"""Ingest: every quarantine reason, file forms, ledger balance, idempotence, joins."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from hotspots.errors import DataNotFound
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
    assert q["detail"].iloc[0] == ("header does not match police.uk: missing "
                                   "['Longitude']; extra columns ['Lon']")


def test_header_in_another_case_or_spacing_is_the_police_uk_header(
        zoo_root, write_street, tmp_path):
    header = [c.lower() for c in STREET_HEADER]
    header[0] = " CRIME  id "
    write_street(GOOD, header=header)
    res, _ = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.quarantined) == (3, 3, 0)


@pytest.mark.parametrize(("change", "detail"), [
    (lambda h: [*h, "Notes"],
     "header does not match police.uk: extra columns ['Notes']"),
    (lambda h: [*h[:4], h[5], h[4], *h[6:]],
     "header columns in another order (Longitude, Latitude moved); police.uk's "
     "order is Crime ID, Month, Reported by"),
])
def test_a_header_with_extra_or_moved_columns_says_which(
        change, detail, zoo_root, write_street, tmp_path):
    write_street(GOOD, header=change(list(STREET_HEADER)))
    res, store = _ingest(zoo_root, tmp_path)
    assert res.by_reason == {"bad_header": 3} and res.accepted == 0
    assert _quarantine(store)["detail"].iloc[0].startswith(detail)


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
                            "unreadable_file (the gzip data is damaged, cut short "
                            "or followed by other bytes") for w in res.warnings)
    q = _quarantine(store)
    assert q["reason"].tolist() == ["unreadable_file"] and q["line"].isna().all()


@pytest.mark.parametrize("damage", ["truncated", "bad_crc", "trailing_bytes"])
def test_damaged_gzip_is_quarantined_whole(damage, zoo_root, write_street, tmp_path):
    """A gzip cut short, with a wrong checksum or with other bytes after it is
    refused as a file: none of its rows are kept (a half-read file would be a
    silent partial month), and the reason says what may be wrong."""
    import gzip

    body = gzip.compress(csv_bytes(_in("2022-06", GOOD), STREET_HEADER))
    if damage == "truncated":
        body = body[: len(body) // 2]
    elif damage == "bad_crc":  # the CRC-32 sits in the 8-byte trailer
        body = body[:-8] + bytes([body[-8] ^ 1]) + body[-7:]
    else:
        body += b"garbage after the end"
    (zoo_root / "crimes" / "2022-06-metropolitan-street.csv.gz").write_bytes(body)
    write_street(_in("2022-07", [GOOD[0]]), month="2022-07")
    res, store = _ingest(zoo_root, tmp_path)
    entry = store.ledger()["files"]["crimes/2022-06-metropolitan-street.csv.gz"]
    assert (entry["status"], entry["file_error"]) == ("quarantined_file",
                                                      "unreadable_file")
    assert entry["detail"].startswith("the gzip data is damaged, cut short or "
                                      "followed by other bytes (")
    assert res.accepted == 1 and res.months == ["2022-07"]


def test_concatenated_gzip_members_are_read_whole(zoo_root, tmp_path):
    """``cat a.gz b.gz`` is a valid gzip file: every member's rows are read."""
    import gzip

    first = csv_bytes(_in("2022-06", GOOD[:1]), STREET_HEADER)
    rest = csv_bytes(_in("2022-06", GOOD[1:]), STREET_HEADER).split(b"\n", 1)[1]
    body = gzip.compress(first) + gzip.compress(rest)
    (zoo_root / "crimes" / "2022-06-metropolitan-street.csv.gz").write_bytes(body)
    res, _store = _ingest(zoo_root, tmp_path)
    assert res.rows_in == len(GOOD)


def test_key_index_matches_a_dict():
    """The ingest's hash table (point keys, Crime IDs) against a Python dict,
    with keys that share their low bits so that probes run long and the table
    grows several times."""
    import numpy as np

    from hotspots.ingest import _IdSet, _KeyIndex

    rng = np.random.default_rng(5)
    idx, ref = _KeyIndex(capacity=8), {}
    for _ in range(20):
        keys = np.unique(np.concatenate([
            rng.integers(0, 2**63, 50, dtype=np.uint64),
            rng.integers(0, 40, 30, dtype=np.uint64) << np.uint64(32)]))  # clashes
        new = keys[idx.find(keys) < 0]
        assert sorted(new.tolist()) == sorted(k for k in keys.tolist()
                                              if k not in ref)
        vals = rng.integers(0, 10**9, len(new))
        idx.add(new, vals)
        ref.update(zip(new.tolist(), vals.tolist(), strict=True))
        probe = np.concatenate([keys, rng.integers(0, 2**63, 20, dtype=np.uint64)])
        assert idx.find(probe).tolist() == [ref.get(k, -1) for k in probe.tolist()]
    assert len(idx) == len(ref)
    ids, other = _IdSet(), _IdSet()
    ids.add(np.array([1, 2, 3], np.uint64))
    other.add(np.array([3, 4], np.uint64))
    ids.absorb(other)
    ids.absorb(other)  # again: nothing new
    assert len(ids) == 4
    assert ids.contains(np.array([0, 1, 4, 5], np.uint64)).tolist() == [
        False, True, True, False]


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


def test_another_forces_point_just_outside_london_is_not_snapped_in(
        zoo_root, write_street, put, tmp_path):
    """With every force read, Surrey's offence 70 m outside the wards is in
    Surrey, not a London ward: quarantined as outside, while the Met's (and
    British Transport Police's) point there is snapped in. Boundaries given for
    another area snap every force's points."""
    write_street([street_row("n1", lon="-0.201", lat="51.405")])
    for force, name in (("surrey", "Surrey Police"),
                        ("btp", "British Transport Police")):
        rows = [street_row(f"{force}1", lon="-0.201", lat="51.405"),
                street_row(f"{force}2", lon="-0.195", lat="51.405")]
        put(f"2022-06-{force}-street.csv", csv_bytes(rows).replace(
            b"Metropolitan Police Service", name.encode()))
    res, store = _ingest(zoo_root, tmp_path, forces="all")
    df = store.offences().set_index("crime_id")
    assert df.loc["n1", "ward_method"] == df.loc["btp1", "ward_method"] == "nearest"
    assert "surrey1" not in df.index and df.loc["surrey2", "ward_method"] == "within"
    q = store.quarantine()
    assert q.loc[q["source"].str.contains("surrey"), "reason"].tolist() == [
        "outside_force_area"]
    from hotspots.areas import load_wards

    given, store2 = _ingest(zoo_root, tmp_path / "given", forces="all",
                            wards=load_wards(zoo_root))
    assert store2.offences().set_index("crime_id").loc["surrey1",
                                                       "ward_method"] == "nearest"


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
        ss_row(date="2022-05-31T23:30:00+00:00", outcome="Arrest"),
        ss_row(date="2022-06-30T23:30:00+00:00"),  # 1 July in London
        ss_row(date="2022-08-15T10:00:00+00:00"),
    ]
    path = zoo_root / "crimes" / "2022-06-metropolitan-stop-and-search.csv"
    from hotspots.ingest import STOP_SEARCH_HEADER

    path.write_bytes(csv_bytes(rows, STOP_SEARCH_HEADER))
    (zoo_root / "crimes" / "2022-06-metropolitan-street.csv").write_bytes(
        csv_bytes([GOOD[0]])
    )
    res, store = _ingest(zoo_root, tmp_path)
    assert res.stop_search["rows_in"] == 6
    assert res.stop_search["accepted"] == 2
    # a search is filed under its month on London's clock, as police.uk does
    assert res.stop_search["by_reason"] == {"bad_datetime": 1, "missing_coordinates": 1,
                                            "month_mismatch": 2}
    ss = store.stop_search()
    assert set(ss["ward_code"]) == {"E05000001"}
    # 23:30 UTC on 31 May is 00:30 on 1 June in London: local hour 0
    late = ss[ss["outcome"] == "Arrest"].iloc[0]
    assert late["hour"] == 0 and late["weekday"] == "Wednesday"


def test_no_files_is_a_clear_error(zoo_root, tmp_path):
    with pytest.raises(
        DataNotFound, match="no police.uk street or stop-and-search files"
    ):
        _ingest(zoo_root, tmp_path)


def test_unknown_force_file_root_or_store_is_a_clear_error(zoo_root, write_street,
                                                           tmp_path):
    from hotspots.errors import StoreError

    write_street(GOOD)
    with pytest.raises(DataNotFound, match=r"no files of the forces selected "
                       r"\(bogus\) under .*; its files are of: metropolitan$"):
        ingest(root=zoo_root, store=Store.open(tmp_path / "s"), forces="bogus")
    # a slip beside a force that has files is refused too (its files had been
    # skipped without a word); London's forces may be named without files
    (zoo_root / "crimes" / "2022-06-surrey-street.csv").write_bytes(
        csv_bytes([GOOD[0]]).replace(b"Metropolitan Police Service", b"Surrey"))
    with pytest.raises(DataNotFound, match=r"no files of the force 'surey' under "
                       r".*; its files are of: metropolitan, surrey\. Did you mean "
                       r"'surrey'\?$"):
        ingest(root=zoo_root, store=Store.open(tmp_path / "s"),
               forces="metropolitan,surey")
    assert ingest(root=zoo_root, store=Store.open(tmp_path / "s"),
                  forces="metropolitan,btp").accepted == len(GOOD)
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    with pytest.raises(DataNotFound, match="is a file, not a folder"):
        ingest(root=a_file, store=Store.open(tmp_path / "s"))
    with pytest.raises(StoreError, match="is a file, not a folder"):
        ingest(root=zoo_root, store=Store.open(a_file))


def test_line_numbers_count_quoted_newlines(zoo_root, write_street, tmp_path):
    raw = csv_bytes([street_row("q1", location="On or near\nTwo Lines"), GOOD[1]])
    write_street(None, raw=raw)
    _, store = _ingest(zoo_root, tmp_path)
    df = store.offences().set_index("crime_id")
    assert df.loc["q1", "location"] == "On or near\nTwo Lines"
    assert df["line"].to_dict() == {"q1": 2, "a2": 4}


def _joiner_vs_locate_points(wards, lon, lat):
    import numpy as np

    from hotspots.areas import locate_points
    from hotspots.ingest import H3_RESOLUTIONS, Joiner

    j = Joiner(wards)
    ref = locate_points(lon, lat, wards)
    pos, ward, method, cells, text = j.lookup(lon, lat)
    codes = [None if w < 0 else j.wards["ward_code"].iloc[w] for w in ward]
    assert codes == [c if isinstance(c, str) else None for c in ref["ward_code"]]
    assert [Joiner.METHODS[m] for m in method] == ref["method"].tolist()
    # the cache gives the same answers the second time, and H3 ids match h3-py
    again = j.lookup(lon[::-1].copy(), lat[::-1].copy())
    assert np.array_equal(again[1], ward[::-1]) and np.array_equal(again[2],
                                                                   method[::-1])
    import h3

    for k, res in enumerate(H3_RESOLUTIONS):
        assert [h3.int_to_str(int(c)) for c in cells[pos, k]] == [
            t.decode() for t in text[pos, k]] == [
            h3.latlng_to_cell(y, x, res) for x, y in zip(lon, lat, strict=True)]


@pytest.mark.parametrize("detailed", [0, 10**9], ids=["polygons-query-points",
                                                     "points-query-polygons"])
def test_joiner_gives_locate_points_answers(zoo_root, monkeypatch, detailed):
    """The ingest's cached join is areas.locate_points' rule: boundaries to the
    lowest code, the nearest ward within 250 m, none beyond — whichever way the
    tree is queried (detailed polygons query a tree of the points)."""
    import numpy as np

    import hotspots.ingest as ingest_mod
    from hotspots.areas import load_wards

    monkeypatch.setattr(ingest_mod, "_DETAILED_COORDS", detailed)
    monkeypatch.setattr(ingest_mod, "_REVERSE_MIN_POINTS", 0)

    lon = np.array([-0.195, -0.185, -0.19, -0.19, -0.20, -0.201, -0.25, -2.5,
                    -0.18, -0.1795, -0.195])
    lat = np.array([51.405, 51.415, 51.405, 51.41, 51.40, 51.405, 51.405, 53.4,
                    51.42, 51.4205, 51.405])
    _joiner_vs_locate_points(load_wards(zoo_root), lon, lat)


def test_joiner_answers_alike_from_threads_and_across_cache_resets(zoo_root):
    """Threads looking up overlapping blocks at once, and a cache small enough to
    be emptied on the way, still give every point locate_points' ward and the
    H3 cells of h3-py."""
    from concurrent.futures import ThreadPoolExecutor

    import h3
    import numpy as np

    from hotspots.areas import load_wards, locate_points
    from hotspots.ingest import Joiner

    wards = load_wards(zoo_root)
    rng = np.random.default_rng(8)
    lon = np.round(-0.205 + rng.random(3000) * 0.03, 4)
    lat = np.round(51.398 + rng.random(3000) * 0.025, 4)
    ref = locate_points(lon, lat, wards)
    for max_points in (4_000_000, 700):
        j = Joiner(wards, max_points=max_points)
        blocks = [slice(a, a + 600) for a in range(0, 2400, 300)]  # overlapping

        def look(sl, j=j):
            pos, ward, _method, cells, text = j.lookup(lon[sl], lat[sl])
            return sl, ward.copy(), cells[pos, -1].copy(), text[pos, -1].copy()

        with ThreadPoolExecutor(4) as ex:
            done = list(ex.map(look, blocks * 2))
        for sl, ward, cell, txt in done:
            codes = [None if w < 0 else j.wards["ward_code"].iloc[w] for w in ward]
            want = [c if isinstance(c, str) else None
                    for c in ref["ward_code"].iloc[sl]]
            assert codes == want
            h = [h3.latlng_to_cell(y, x, 10) for x, y in zip(lon[sl], lat[sl],
                                                           strict=True)]
            assert [h3.int_to_str(int(c)) for c in cell] == h
            assert [t.decode() for t in txt] == h


@pytest.mark.shared
def test_joiner_gives_locate_points_answers_on_london(shared_root):
    import numpy as np

    from hotspots.areas import load_wards

    rng = np.random.default_rng(5)
    lon = np.round(rng.uniform(-0.52, 0.33, 4000), 4)
    lat = np.round(rng.uniform(51.28, 51.69, 4000), 4)
    _joiner_vs_locate_points(load_wards(shared_root), lon, lat)


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


@pytest.mark.shared
def test_shared_ledger_lists_every_file_with_encoding_force_months_reasons(
        shared_store, shared_root):
    import re

    led = shared_store.ledger()
    files, skipped = led["files"], led["skipped"]
    on_disk = sorted(p.relative_to(shared_root).as_posix()
                     for p in (shared_root / "crimes").rglob("*.csv.gz")
                     if re.search(r"-(street|stop-and-search)\.csv\.gz$", p.name))
    assert sorted(files) == on_disk and len(on_disk) == 261
    for label, e in files.items():
        assert e["status"] == "ingested" and e["file_error"] is None, label
        assert e["encoding"] in ("utf-8", "utf-8-sig", "cp1252", "latin-1"), label
        assert e["line_endings"] in ("LF", "CRLF"), label
        assert e["force"] in ("metropolitan", "city-of-london", "btp"), label
        assert e["months"] == [e["month"]] and label.split("/")[-1].startswith(
            e["month"]), label
        assert e["rows_in"] == e["accepted"] + sum(e["by_reason"].values()), label
        assert len(e["file_sha256"]) == 64
    # the City files keep their CRLF endings, as committed upstream (47 of 76)
    city = [e for e in files.values() if e["folder"] == "crimes/city_of_london"]
    assert sum(e["line_endings"] == "CRLF" for e in city) == 47
    # files not read are listed, with a reason
    assert skipped["crimes/reference/mps-borough-level-crime-2010-04_2022-02.csv.gz"][
        "reason"] == "not_police_uk"
    # months split by crime family across folders: both files read, listed together
    met = led["street"]["files_by_force_month"]["metropolitan"]
    assert met["2022-03"] == ["crimes/burglary_only/2022-03-metropolitan-street.csv.gz",
                              "crimes/real_2022/2022-03-metropolitan-street.csv.gz",
                              "crimes/synthetic/2022-03-metropolitan-street.csv.gz"]
    assert not led["street"]["duplicate_files"]
    by_force = shared_store.offences(columns=["force"], start="2022-06",
                                     end="2022-06")["force"].value_counts().to_dict()
    # 2022-06: a BTP file and no City of London Police file
    assert by_force["btp"] == files["crimes/real_2022/2022-06-btp-street.csv.gz"][
        "accepted"] > 100
    assert "city-of-london" not in by_force


@pytest.mark.shared
@pytest.mark.slow
def test_shared_counts_are_the_same_before_and_after_a_killed_ingest(
        shared_store, shared_root, tmp_path, monkeypatch):
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    from .conftest import cli_json

    copy = Store.open(tmp_path / "store")
    shutil.copytree(shared_store.path, copy.path, symlinks=True)
    args = ["counts", "--area", "London", "--crime", "burglary", "--by", "month"]
    before = cli_json(monkeypatch, copy, args)
    env = {**os.environ, "HOTSPOTS_DATA": str(shared_root),
           "HOTSPOTS_STORE": str(copy.path)}
    proc = subprocess.Popen([sys.executable, "-m", "hotspots", "ingest", "--rebuild"],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(
            (copy.path / "generations").glob(".staging-*/offences/month=*")):
        time.sleep(0.01)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert list((copy.path / "generations").glob(".staging-*"))  # killed mid-way
    after = cli_json(monkeypatch, copy, args)
    assert after == before
    assert sum(r["count"] for r in before["rows"] if r["count"] != "missing") > 200_000
    res = ingest(root=shared_root, store=copy)  # repairs; the inputs are unchanged
    assert res.up_to_date and any(r.startswith(".staging-") for r in res.repaired)
    assert cli_json(monkeypatch, copy, args) == before


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


# ---------------------------------------------------------------------------
# every file a user can have (issue 13, point 2)


def _entry(store, label):
    return store.ledger()["files"][label]


@pytest.mark.parametrize(
    ("encoding", "bom", "expected"),
    [("utf-8", False, "utf-8"), ("utf-8", True, "utf-8-sig"),
     ("cp1252", False, "cp1252")],
    ids=["utf8", "utf8-bom", "cp1252"])
def test_encodings_are_detected_and_recorded(encoding, bom, expected, zoo_root,
                                             write_street, tmp_path):
    rows = [street_row("e1", location="On or near Café £5 Road"), GOOD[1]]
    text = csv_bytes(rows).decode()
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted) == (2, 2)
    df = store.offences().set_index("crime_id")
    assert df.loc["e1", "location"] == "On or near Café £5 Road"
    entry = _entry(store, "crimes/2022-06-metropolitan-street.csv")
    assert entry["encoding"] == expected
    assert res.encodings == {expected: 1}


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_a_utf8_file_with_cp1252_lines_reads_each_line_right(zoo_root, write_street,
                                                             tmp_path, ending):
    """A UTF-8 file a spreadsheet appended cp1252 rows to: each line decoded in
    its own encoding, never "CafÃ©"; the ledger says both."""
    utf8 = csv_bytes([street_row("u1", location="On or near Café Road")])
    cp = csv_bytes([street_row("c1", location="On or near £5 Street")],
                   header=None).decode().encode("cp1252")
    raw = (utf8 + cp + utf8.split(b"\n", 1)[1].replace(b"u1", b"u2")).replace(
        b"\n", ending.encode())
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted) == (3, 3)
    df = store.offences().set_index("crime_id")
    assert df["location"].to_dict() == {"u1": "On or near Café Road",
                                        "c1": "On or near £5 Street",
                                        "u2": "On or near Café Road"}
    assert df["line"].to_dict() == {"u1": 2, "c1": 3, "u2": 4}
    assert _entry(store, "crimes/2022-06-metropolitan-street.csv")["encoding"] == \
        "utf-8 and cp1252"


def test_text_normaliser_gives_the_same_text_whatever_the_chunks():
    from hotspots._csv import TextNormaliser

    text = ("Crime ID,Location\r\nx,Café\r\ny,£5\rz,naïve\n" * 40).encode("cp1252")
    text = text.replace(b"na\xefve", "naïve".encode())  # a UTF-8 line among them
    whole = TextNormaliser("cp1252")
    expected = whole.feed(text) + whole.close()
    for size in (1, 2, 3, 7, 64):
        norm = TextNormaliser("cp1252")
        got = b"".join(norm.feed(text[i:i + size]) for i in range(0, len(text), size))
        assert got + norm.close() == expected, size
        assert (norm.found, norm.line_endings) == ("utf-8 and cp1252", "mixed")
    assert expected.decode().count("naïve") == 40
    assert expected.decode().count("Café") == 40 and b"\r" not in expected


def test_latin1_when_bytes_are_not_cp1252(zoo_root, write_street, tmp_path):
    # 0x81 is undefined in cp1252: only Latin-1 reads it
    raw = csv_bytes([street_row("l1", location="On or near X")]).replace(
        b"On or near X", b"On or near \x81\xe9")
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 1
    entry = _entry(store, "crimes/2022-06-metropolitan-street.csv")
    assert entry["encoding"] == "latin-1"
    assert store.offences()["location"].iloc[0] == "On or near \x81é"


def test_a_byte_cp1252_lacks_garbles_no_utf8_line(zoo_root, write_street,
                                                   tmp_path):
    """A UTF-8 file with one line holding 0x9d (no cp1252 character): that line
    is read as Latin-1, the others stay UTF-8 (the whole file had been read as
    Latin-1, every 'Café' stored as 'CafÃ©')."""
    rows = [street_row(f"u{i}", location="On or near Café Square") for i in range(3)]
    raw = csv_bytes(rows).replace(b"u2,2022-06", b"u2,2022-06").replace(
        "On or near Café Square\u0000".encode()[:0] + b",u2", b",u2")
    raw = raw.rsplit("Café".encode(), 1)
    raw = raw[0] + b"Caf\x9d" + raw[1]
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3
    loc = store.offences().set_index("crime_id")["location"].to_dict()
    assert loc == {"u0": "On or near Café Square", "u1": "On or near Café Square",
                   "u2": "On or near Caf\x9d Square"}
    assert _entry(store, "crimes/2022-06-metropolitan-street.csv")["encoding"] == \
        "utf-8 and latin-1"


def test_a_cp1252_line_longer_than_any_row_is_passed_on_not_carried():
    """A cp1252 file with a line of many chunks and no line break: the reader
    passes it on in pieces (it had joined the held part to each new chunk: time
    quadratic and memory linear in the line), the bytes unchanged."""
    from hotspots._csv import _CARRY_MAX, TextNormaliser

    norm = TextNormaliser("cp1252")
    head = "Crime ID,Location\nx,Café\n".encode("cp1252")
    out = [norm.feed(head)]
    chunk = b"y" * (1 << 20)
    held = []
    for _ in range(12):
        out.append(norm.feed(chunk))
        held.append(len(norm._line_carry))
    out.append(norm.close())
    assert max(held) <= _CARRY_MAX + len(chunk)
    assert b"".join(out) == "Crime ID,Location\nx,Café\n".encode() + chunk * 12


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_give_the_same_rows_and_lines(ending, zoo_root, write_street,
                                                   tmp_path):
    rows = [GOOD[0], BAD_ROWS["missing_coordinates"], GOOD[1], GOOD[2]]
    raw = csv_bytes(rows).replace(b"\n", ending.encode())
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.quarantined) == (4, 3, 1)
    assert _quarantine(store)["line"].tolist() == [3]
    assert sorted(store.offences()["line"]) == [2, 4, 5]
    name = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}[ending]
    entry = _entry(store, "crimes/2022-06-metropolitan-street.csv")
    assert entry["line_endings"] == name


def test_oversized_field_is_quarantined_with_a_reason(zoo_root, write_street,
                                                      tmp_path):
    from hotspots.ingest import Limits

    big = street_row("big", location="On or near " + "x" * 5000)
    write_street([GOOD[0], big, GOOD[1]])
    res, store = _ingest(zoo_root, tmp_path, limits=Limits(max_row_bytes=2000))
    assert (res.rows_in, res.accepted, res.by_reason) == (3, 2,
                                                          {"oversized_row": 1})
    q = _quarantine(store)
    assert q["line"].tolist() == [3]
    assert "rows are limited to 2,000" in q["detail"].iloc[0]
    assert len(q["raw"].iloc[0]) <= 1001  # a bounded excerpt, not the field


def test_a_200mb_field_in_a_small_zip_costs_no_gigabytes(zoo_root, tmp_path):
    """A zip of a few hundred KB expanding to one 200 MB field: refused whole by
    the unzip ratio cap (the next test); with that cap lifted, the row is
    quarantined as oversized and the ingest stays within a bounded memory."""
    import os
    import subprocess
    import sys
    import zipfile

    path = zoo_root / "crimes" / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("2022-06/2022-06-metropolitan-street.csv", "w") as fh:
        fh.write(csv_bytes([GOOD[0]]))
        fh.write(b"x1,2022-06,M,M,-0.195,51.405,")
        chunk = b"y" * (1 << 20)
        for _ in range(200):
            fh.write(chunk)
        fh.write(b",E01,Merton 001A,Robbery,,\n")
        fh.write(csv_bytes([GOOD[1]], header=None))
    assert path.stat().st_size < 1_000_000
    # VmHWM is this process's own peak; ru_maxrss would include the parent's
    # memory at fork (Linux folds the forked image's high-water mark into it)
    code = (
        "import json, sys\n"
        "from hotspots.ingest import ingest\n"
        "from hotspots.store import Store\n"
        "r = ingest(root=sys.argv[1], store=Store.open(sys.argv[2]))\n"
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
        "print(json.dumps({'by_reason': r.by_reason, 'accepted': r.accepted,\n"
        "  'peak_mib': int(hwm[0].split()[1]) / 1024}))\n"
    )
    env = {**os.environ, "HOTSPOTS_MAX_UNZIP_RATIO": "1000000"}
    out = subprocess.run([sys.executable, "-c", code, str(zoo_root),
                          str(tmp_path / "store")], capture_output=True, text=True,
                         check=True, timeout=300, env=env)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["by_reason"] == {"oversized_row": 1} and doc["accepted"] == 2
    assert doc["peak_mib"] < 700, doc  # the field alone would be 200 MiB, x copies


def test_decompressed_size_cap_refuses_a_file(zoo_root, write_street, put,
                                              tmp_path):
    import gzip
    import zipfile

    from hotspots.ingest import Limits

    write_street([GOOD[0]], month="2022-06")
    rows = _in("2022-07", [GOOD[0]] * 1)
    put("2022-07-metropolitan-street.csv.gz",
        gzip.compress(csv_bytes(rows) + b"\n" * 50_000))
    with zipfile.ZipFile(zoo_root / "crimes" / "2022-08.zip", "w",
                         zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("2022-08/2022-08-metropolitan-street.csv",
                    csv_bytes(_in("2022-08", [GOOD[0]])) + b"\n" * 50_000)
    res, store = _ingest(zoo_root, tmp_path, limits=Limits(max_file_bytes=20_000))
    assert res.accepted == 1 and res.months == ["2022-06"]
    gz = _entry(store, "crimes/2022-07-metropolitan-street.csv.gz")
    member = _entry(store, "crimes/2022-08.zip:2022-08/2022-08-metropolitan-street.csv")
    assert gz["file_error"] == member["file_error"] == "too_large"
    assert "20,000" in gz["detail"] and "20,000" in member["detail"]
    assert gz["status"] == "quarantined_file" and gz["rows_in"] == 1


def test_unzip_caps_refuse_a_member_or_gz_that_expands_too_much(
        zoo_root, write_street, put, tmp_path, monkeypatch):
    """A small zip member or .gz expanding far more than a police.uk file does
    (a zip bomb) is refused with the cap's name, before or while it is read;
    other files are read; an ordinary file passes the same caps."""
    import gzip
    import zipfile

    from hotspots.ingest import Limits

    write_street([GOOD[0]], month="2022-06")  # ordinary: a few times smaller
    padding = b"," + b"A" * (3 << 20) + b"\n"  # one 3 MiB field: ~3,000 times
    put("2022-07-metropolitan-street.csv.gz",
        gzip.compress(csv_bytes(_in("2022-07", [GOOD[0]])) + padding))
    with zipfile.ZipFile(zoo_root / "crimes" / "2022-08.zip", "w",
                         zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("2022-08/2022-08-metropolitan-street.csv",
                    csv_bytes(_in("2022-08", [GOOD[0]])) + padding)
    monkeypatch.setenv("HOTSPOTS_MAX_UNZIP_RATIO", "50")
    limits = Limits.from_env()
    assert (limits.max_unzip_ratio, limits.max_unzip_mb) == (50.0, 2048)
    res, store = _ingest(zoo_root, tmp_path, limits=limits)
    assert res.accepted == 1 and res.months == ["2022-06"]
    gz = _entry(store, "crimes/2022-07-metropolitan-street.csv.gz")
    member = _entry(store, "crimes/2022-08.zip:2022-08/2022-08-metropolitan-street.csv")
    for e in (gz, member):
        assert (e["status"], e["file_error"], e["rows_in"]) == (
            "quarantined_file", "too_large", 1)
        assert "HOTSPOTS_MAX_UNZIP_RATIO" in e["detail"] and "50 times" in e[
            "detail"], e["detail"]
    # the size cap, in MiB (an ordinary ratio)
    res2, store2 = _ingest(zoo_root, tmp_path / "b",
                           limits=Limits(max_unzip_mb=1, max_unzip_ratio=1e9))
    assert _entry(store2, "crimes/2022-07-metropolitan-street.csv.gz")[
        "file_error"] == "too_large"
    assert "HOTSPOTS_MAX_UNZIP_MB" in _entry(
        store2, "crimes/2022-07-metropolitan-street.csv.gz")["detail"]
    assert res2.accepted == 1
    # without the caps (the defaults, 100 times), the same files are read whole
    res3, _ = _ingest(zoo_root, tmp_path / "c", limits=Limits(max_unzip_ratio=1e9))
    assert res3.by_reason.get("too_large", 0) == 0
    assert res3.by_reason["oversized_row"] == 2


def test_a_folder_name_that_is_not_utf8_is_read_and_named_printably(
        zoo_root, write_street, tmp_path):
    """A folder named in another encoding (bytes Python keeps as surrogates) is
    read like any other; its label shows the odd byte as ``\\xe9``."""
    import os

    write_street([GOOD[0]], month="2022-06")
    folder = os.fsencode(zoo_root / "crimes") + b"/Donn\xe9es"
    os.mkdir(folder)
    with open(folder + b"/2022-07-metropolitan-street.csv", "wb") as fh:
        fh.write(csv_bytes(_in("2022-07", [GOOD[1]])))
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 2 and res.months == ["2022-06", "2022-07"]
    label = "crimes/Donn\\xe9es/2022-07-metropolitan-street.csv"
    assert _entry(store, label)["accepted"] == 1
    assert set(store.offences()["source"]) == {
        "crimes/2022-06-metropolitan-street.csv", label}
    again = ingest(root=zoo_root, store=store)
    assert again.up_to_date


def test_a_folder_with_a_colon_in_its_name_is_carried_over(zoo_root, put, tmp_path):
    """An archive member's label is ``archive:member``; a folder named with a
    colon is still a folder (its series, and its months carried over)."""
    put("back:up/2022-06-metropolitan-street.csv", csv_bytes([GOOD[0]]))
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    led = store.ledger()
    assert led["files"]["crimes/back:up/2022-06-metropolitan-street.csv"][
        "folder"] == "crimes/back:up"
    put("2022-07-metropolitan-street.csv", csv_bytes(_in("2022-07", [GOOD[1]])))
    again = ingest(root=zoo_root, store=store)
    assert again.reused == ["street|2022-06"]


def test_quarantined_text_is_an_excerpt_and_nul_bytes_are_shown(
        zoo_root, write_street, tmp_path):
    import csv as _csv

    long_row = ",".join(["x" * 500] * 8)  # 8 fields, 4,007 characters
    # past the first 8 KiB (where a NUL byte would make it a binary file)
    raw = csv_bytes([GOOD[2]] * 100) + long_row.encode() + b"\n" + b"a,b\x00\x00c\n"
    assert len(raw) > 8192 + 4096
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.by_reason == {"wrong_column_count": 1, "nul_byte": 1}
    q = _quarantine(store)
    assert q["raw"].iloc[0] == long_row[:1000] + "…"
    assert q["raw"].iloc[1] == "a,b\x00\x00c"  # the Parquet keeps the text
    with open(store.quarantine_path, newline="") as fh:
        rows = list(_csv.DictReader(fh))
    assert rows[1]["raw"] == "a,b\\x00\\x00c"


def test_a_zeroed_stretch_near_the_top_loses_only_its_rows(zoo_root, write_street,
                                                            tmp_path):
    """A zeroed disk sector (4 KiB of NULs) in row 11: those rows are quarantined
    as nul_byte and the other rows read (the whole file had been binary)."""
    rows = [street_row(f"z{i}") for i in range(40)]
    lines = csv_bytes(rows).split(b"\n")
    lines[11] = lines[11][:30] + b"\x00" * 4096 + lines[11][30:]
    lines.insert(20, b"\x00" * 200)  # a line of NULs alone
    write_street(None, raw=b"\n".join(lines))
    res, store = _ingest(zoo_root, tmp_path)
    assert res.by_reason == {"nul_byte": 2}
    assert res.accepted == 39 and res.rows_in == 41


@pytest.mark.parametrize("early", [True, False], ids=["row-3", "past-8-KiB"])
def test_a_nul_byte_in_a_row_quarantines_that_row_wherever_it_is(
        zoo_root, write_street, tmp_path, early):
    """A NUL in one row is that row's damage, the same near the top of a file
    (which had quarantined the whole file as binary) or far down (where it had
    been accepted into the store)."""
    bad = street_row("n1", location="On or\x00near X")
    rows = [GOOD[0], GOOD[1], bad, GOOD[0][:1] + ["2022-06"] + GOOD[0][2:]]
    if not early:
        rows = [street_row(f"f{i}") for i in range(200)] + rows
    write_street(rows, month="2022-06")
    res, store = _ingest(zoo_root, tmp_path)
    # the last row repeats the first's Crime ID
    assert res.by_reason == {"nul_byte": 1, "duplicate_crime_id": 1}
    assert res.rows_in == res.accepted + res.quarantined == len(rows)
    q = _quarantine(store)
    hit = q[q["reason"] == "nul_byte"]
    assert hit["raw"].str.contains("On or\x00near X").all() and len(hit) == 1
    assert not store.offences()["location"].str.contains("\x00").any()


def test_a_file_of_a_bad_header_alone_is_one_quarantined_unit(
        zoo_root, write_street, tmp_path):
    write_street([GOOD[0]], month="2022-06")
    write_street(None, raw=b"=bad,header\n", month="2022-07")
    res, store = _ingest(zoo_root, tmp_path)
    e = _entry(store, "crimes/2022-07-metropolitan-street.csv")
    assert (e["status"], e["rows_in"], e["by_reason"], e["balanced"]) == (
        "quarantined_file", 1, {"bad_header": 1}, True)
    q = _quarantine(store)
    assert (q["line"].tolist(), q["raw"].tolist()) == ([1], ["=bad,header"])
    assert res.rows_in == res.accepted + res.quarantined == 2


def test_an_archive_that_cannot_be_opened_is_warned_of(zoo_root, write_street, put,
                                                       tmp_path):
    import io
    import zipfile

    write_street([GOOD[0]], month="2022-06")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("2022-07/2022-07-metropolitan-street.csv",
                    csv_bytes(_in("2022-07", GOOD)) * 50)
    put("2022-07.zip", buf.getvalue()[: len(buf.getvalue()) // 2])  # cut short
    res, _ = _ingest(zoo_root, tmp_path)
    assert res.months == ["2022-06"]
    assert [w for w in res.warnings if w.startswith("crimes/2022-07.zip: ")] == [
        w for w in res.warnings if "unreadable_archive" in w and "not read" in w]
    assert any(w.startswith("crimes/2022-07.zip: unreadable_archive")
               for w in res.warnings)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "forked"])
def test_a_zip_of_many_members_is_opened_once_for_them(zoo_root, tmp_path,
                                                       monkeypatch, processes):
    """Each member opening its archive again read the archive's directory once a
    member: quadratic in the members (3,000 took minutes)."""
    import zipfile

    import hotspots._sources as sources

    opened = []

    class Counted(zipfile.ZipFile):
        def __init__(self, *a, **k):
            opened.append(a[0])
            super().__init__(*a, **k)

    months = [f"20{y}-{m:02d}" for y in (20, 21, 22) for m in range(1, 13)]
    with zipfile.ZipFile(zoo_root / "crimes" / "many.zip", "w") as zf:
        for i, month in enumerate(months * 3):
            zf.writestr(f"part{i:03d}/{month}-metropolitan-street.csv",
                        csv_bytes(_in(month, [street_row(f"r{i}")])))
    monkeypatch.setattr(sources.zipfile, "ZipFile", Counted)
    res, store = _ingest(zoo_root, tmp_path, processes=processes, workers=2)
    assert res.accepted == len(months) * 3 and res.months == months
    if not processes:  # (a forked worker's openings are not seen here)
        # discovery once, and the reading once (every member from one open archive)
        assert len(opened) == 2, len(opened)
    assert not sources._ARCHIVES  # closed when the ingest ends


def test_files_whose_names_print_alike_are_two_files(zoo_root, put, tmp_path):
    """A folder named like an archive member (``c.zip:2022-04``), and a name in
    another encoding beside the name it prints as: each file its own ledger entry,
    every row accounted for."""
    import os
    import zipfile

    put("c.zip:2022-04/2022-04-metropolitan-street.csv",
        csv_bytes(_in("2022-04", [GOOD[0]])))
    with zipfile.ZipFile(zoo_root / "crimes" / "c.zip", "w") as zf:
        zf.writestr("2022-04/2022-04-metropolitan-street.csv",
                    csv_bytes(_in("2022-04", [GOOD[1]])))
    put("Donn\\xe9es/2022-05-metropolitan-street.csv",
        csv_bytes(_in("2022-05", [GOOD[0]])))
    odd = os.fsencode(zoo_root / "crimes") + b"/Donn\xe9es"
    os.mkdir(odd)
    with open(odd + b"/2022-05-metropolitan-street.csv", "wb") as fh:
        fh.write(csv_bytes(_in("2022-05", [GOOD[1]])))
    res, store = _ingest(zoo_root, tmp_path)
    files = store.ledger()["files"]
    assert len(files) == 4 and res.accepted == 4 == len(store.offences())
    assert sum(e["rows_in"] for e in files.values()) == res.rows_in == 4
    assert sorted(files) == [
        "crimes/Donn\\xe9es [2]/2022-05-metropolitan-street.csv",
        "crimes/Donn\\xe9es/2022-05-metropolitan-street.csv",
        "crimes/c.zip:2022-04/2022-04-metropolitan-street.csv",
        "crimes/c.zip:2022-04/2022-04-metropolitan-street.csv [2]"]


def test_binary_file_named_csv_is_quarantined_alone(zoo_root, write_street, put,
                                                    tmp_path):
    write_street([GOOD[0]], month="2022-06")
    put("2022-07-metropolitan-street.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 1
    e = _entry(store, "crimes/2022-07-metropolitan-street.csv")
    assert (e["status"], e["file_error"], e["rows_in"], e["quarantined"]) == (
        "quarantined_file", "binary_file", 1, 1)
    assert any("2022-07-metropolitan-street.csv: binary_file" in w
               for w in res.warnings)
    # a file that could not be read covers nothing: July is missing, not zero
    assert store.ledger()["street"]["coverage"]["metropolitan"]["Robbery"] == [
        "2022-06"]


def test_unclosed_quote_does_not_swallow_the_rest(zoo_root, write_street, tmp_path):
    rows = [street_row(f"u{i}", outcome=f"o{i}") for i in range(6)]
    raw = csv_bytes(rows).replace(b",o2,", b',"o2 never closed,')
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.by_reason) == (6, 5,
                                                          {"unclosed_quote": 1})
    q = _quarantine(store)
    assert q["line"].tolist() == [4]  # the one line, not the rest of the file
    assert sorted(store.offences()["crime_id"]) == ["u0", "u1", "u3", "u4", "u5"]


@pytest.mark.parametrize("later", [b'near "The Mall"', b'Gardens"'],
                         ids=["quoted-word", "stray-quote"])
def test_unclosed_quote_is_not_closed_by_a_quote_rows_later(zoo_root, write_street,
                                                            tmp_path, later):
    """A quote opened on one line and a stray quote a few rows later in the same
    column seem to make one record of the lines between (a valid CSV record):
    it holds whole rows, so the first line is the unclosed quote and every later
    line is its own row."""
    rows = [street_row(f"u{i}", outcome=f"o{i}") for i in range(8)]
    raw = (csv_bytes(rows).replace(b",o2,", b',"o2 never closed,')
           .replace(b",o5,", b"," + later + b","))
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.by_reason) == (8, 7,
                                                          {"unclosed_quote": 1})
    assert _quarantine(store)["line"].tolist() == [4]
    out = store.offences().set_index("crime_id")["outcome"]
    assert out["u5"] == later.decode() and out["u3"] == "o3"


def test_unclosed_quotes_on_adjacent_lines_are_two_bad_rows(zoo_root, write_street,
                                                            tmp_path):
    """Two rows in a row opening a quote in one column: the second's opening
    quote seemed to close the first's, and the two lines read as one valid row
    (the first's values, the second's crime type; one offence lost, the ledger
    balanced). Each is an unclosed quote."""
    rows = [street_row(f"u{i}", outcome=f"o{i}") for i in range(6)]
    raw = (csv_bytes(rows).replace(b",o2,", b',"o2 never closed,')
           .replace(b",o3,", b',"o3 never closed,'))
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.by_reason) == (6, 4,
                                                          {"unclosed_quote": 2})
    assert _quarantine(store)["line"].tolist() == [4, 5]
    assert sorted(store.offences()["crime_id"]) == ["u0", "u1", "u4", "u5"]


def test_good_rows_between_bad_lines_are_read_as_one_block():
    """Every other line broken: the good rows of a chunk are one block, not a
    block a row (a file of 25,000 broken lines took 267 s and 1.25 GB), each
    record exactly its line, the bad lines after it in order."""
    from hotspots._csv import Block, RecordScanner

    lines = [(f'u{i},2022-06,M,M,-0.19,51.4,"near {i},E1,N,Robbery,,' if i % 2
              else f"u{i},2022-06,M,M,-0.19,51.4,near {i},E1,N,Robbery,,")
             for i in range(40)]
    text = ("\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]) + "\n").encode()
    out = RecordScanner(12).feed(text, final=True)
    blocks = [p for p in out if isinstance(p, Block)]
    bad = [p for p in out if not isinstance(p, Block)]
    assert len(blocks) == 1 and isinstance(out[0], Block)
    good = [i for i in range(40) if i % 2 == 0]
    line_of = [i + 1 + (i >= 10) for i in range(40)]  # a blank line after the 10th
    assert blocks[0].lines.tolist() == [line_of[i] for i in good]
    assert [blocks[0].record(k).decode().rstrip("\n") for k in range(blocks[0].n)
            ] == [lines[i] for i in good]
    assert [b.line for b in bad] == [line_of[i] for i in range(40) if i % 2]
    assert {b.reason for b in bad} == {"unclosed_quote"}


def test_unclosed_quote_on_the_last_line(zoo_root, write_street, tmp_path):
    raw = csv_bytes([GOOD[0], GOOD[1]]) + b'c9,2022-06,M,M,"-0.195,51.405'
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.by_reason) == (3, 2,
                                                          {"unclosed_quote": 1})
    assert _quarantine(store)["line"].tolist() == [4]


@pytest.mark.parametrize("end", [b"\n", b""], ids=["line-break", "none"])
def test_unclosed_quote_in_the_last_field_of_the_last_line(zoo_root, write_street,
                                                           tmp_path, end):
    """Python's csv module would read ``…,"oops`` as 12 fields: the open quote
    makes it an unclosed_quote all the same, in the last field as in others."""
    raw = csv_bytes([GOOD[0], GOOD[1]]) + csv_bytes(
        [street_row("c9", context="x")], header=None).replace(b",x\n", b',"oops') + end
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.by_reason) == (3, 2,
                                                          {"unclosed_quote": 1})
    assert _quarantine(store)["line"].tolist() == [4]


@pytest.mark.parametrize("text", ['On or near 5" Road', 'On or near "The Mall"',
                                  'On or near "The" "Mall"'],
                         ids=["one", "a-pair", "two-pairs"])
def test_quotes_inside_an_unquoted_value_are_text(zoo_root, write_street, tmp_path,
                                                  text):
    """A quote opens a field only at its start (as pyarrow and Python's csv read
    it): a quoted word inside a value is text, not an unclosed quote."""
    rows = [GOOD[0], GOOD[1], street_row("q3", outcome="after")]
    raw = csv_bytes(rows).replace(b"On or near Zoo Road", text.encode(), 1)
    write_street(None, raw=raw)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3 and not res.by_reason
    assert text in set(store.offences()["location"])


@pytest.mark.parametrize("name", [
    "2022-06-metropolitan-street.CSV",
    "2022-06-Metropolitan-Street.csv",
    "2022-06-metropolitan-street.csv.GZ",
    "2022-06.ZIP",
    "2022-06-metropolitan-street (1).csv",
])
def test_names_in_any_case_and_copies_are_read(name, zoo_root, put, tmp_path):
    import gzip
    import zipfile

    data = csv_bytes(GOOD)
    if name.lower().endswith(".gz"):
        data = gzip.compress(data)
    if name.lower().endswith(".zip"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("2022-06/2022-06-METROPOLITAN-street.csv", data)
        data = buf.getvalue()
    put(name, data)
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3 and not res.skipped
    (entry,) = store.ledger()["files"].values()
    assert (entry["force"], entry["month"], entry["months"]) == (
        "metropolitan", "2022-06", ["2022-06"])


def test_nested_zip_is_read(zoo_root, put, tmp_path):
    import zipfile

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("2022-06/2022-06-metropolitan-street.csv", csv_bytes(GOOD))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as zf:
        zf.writestr("archive/2022-06.zip", inner.getvalue())
    put("all.zip", outer.getvalue())
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3
    assert list(store.ledger()["files"]) == [
        "crimes/all.zip:archive/2022-06.zip:2022-06/2022-06-metropolitan-street.csv"]


@pytest.mark.parametrize("same", [False, True], ids=["different", "identical"])
def test_zip_members_of_one_name_are_each_read(zoo_root, put, tmp_path, same):
    """A zip can hold two members of one name (zipfile warns, and opening by name
    gives the last): each is read under a label of its own; identical ones once."""
    import warnings
    import zipfile

    second = GOOD if same else [street_row("b1", lon="-0.195", lat="51.405")]
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name"
        zf.writestr("2022-06-metropolitan-street.csv", csv_bytes(GOOD))
        zf.writestr("2022-06-metropolitan-street.csv", csv_bytes(second))
    put("x.zip", buf.getvalue())
    res, store = _ingest(zoo_root, tmp_path)
    files = store.ledger()["files"]
    first, again = "crimes/x.zip:2022-06-metropolitan-street.csv", \
        "crimes/x.zip:2022-06-metropolitan-street.csv [2]"
    assert list(files) == [first, again]
    assert files[first]["rows_in"] == 3 and files[first]["accepted"] == 3
    if same:
        assert files[again]["status"] == "duplicate_file"
        assert files[again]["duplicate_of"] == first
    else:
        assert files[again]["accepted"] == 1
    assert res.accepted == (3 if same else 4) == len(store.offences())
    assert "2022-06" in store.ledger()["street"]["coverage"]["metropolitan"]["Robbery"]


def test_macos_metadata_files_are_skipped_on_disk_and_in_zips(zoo_root, put,
                                                               tmp_path):
    """A Mac leaves ``._name`` beside each file it copies (and ``__MACOSX/`` in
    zips): listed as macOS metadata, never read as police.uk data."""
    import zipfile

    apple = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 64
    put("2022-06-metropolitan-street.csv", csv_bytes(GOOD))
    put("._2022-06-metropolitan-street.csv", apple)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("__MACOSX/._2022-07-metropolitan-street.csv", apple)
        zf.writestr("d/._2022-07-metropolitan-street.csv", apple)
    put("m.zip", buf.getvalue())
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3 and not res.warnings
    assert list(store.ledger()["files"]) == ["crimes/2022-06-metropolitan-street.csv"]
    skipped = store.ledger()["skipped"]
    for label in ("crimes/._2022-06-metropolitan-street.csv",
                  "crimes/m.zip:__MACOSX/._2022-07-metropolitan-street.csv",
                  "crimes/m.zip:d/._2022-07-metropolitan-street.csv"):
        assert skipped[label]["reason"] == "macos_metadata", label


def test_symlinked_folder_is_followed_once_and_a_loop_refused(zoo_root, tmp_path):
    import os

    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    (elsewhere / "2022-06-metropolitan-street.csv").write_bytes(csv_bytes(GOOD))
    os.symlink(elsewhere, zoo_root / "crimes" / "linked")
    os.symlink(zoo_root / "crimes", zoo_root / "crimes" / "linked" / "back")
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3
    assert list(store.ledger()["files"]) == [
        "crimes/linked/2022-06-metropolitan-street.csv"]
    skipped = store.ledger()["skipped"]
    assert skipped["crimes/linked/back"]["reason"] == "symlink_loop"


def test_a_pipe_or_a_device_named_like_a_file_is_listed_not_read(zoo_root, tmp_path):
    """A FIFO named as a police.uk file was passed over without a word, and a link
    to /dev/zero called a link that points nowhere: each is listed as not a
    file (and never opened: a FIFO would hang the ingest)."""
    import os

    crimes = zoo_root / "crimes"
    (crimes / "2022-06-metropolitan-street.csv").write_bytes(csv_bytes(GOOD))
    os.mkfifo(crimes / "2022-07-metropolitan-street.csv")
    os.symlink("/dev/zero", crimes / "2022-08-metropolitan-street.csv")
    os.symlink(tmp_path / "nowhere", crimes / "2022-09-metropolitan-street.csv")
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3
    skipped = store.ledger()["skipped"]
    assert {k: v["reason"] for k, v in skipped.items()} == {
        "crimes/2022-07-metropolitan-street.csv": "not_a_file",
        "crimes/2022-08-metropolitan-street.csv": "not_a_file",
        "crimes/2022-09-metropolitan-street.csv": "broken_symlink"}
    assert skipped["crimes/2022-07-metropolitan-street.csv"]["detail"] == \
        "a named pipe (FIFO), not a regular file"
    assert skipped["crimes/2022-08-metropolitan-street.csv"]["detail"].startswith(
        "a character device")
    assert "crimes/2022-07-metropolitan-street.csv: not_a_file (a named pipe " \
           "(FIFO), not a regular file); not read" in res.warnings
    assert "crimes/2022-09-metropolitan-street.csv: broken_symlink (the link " \
           "points nowhere); not read" in res.warnings


def test_a_second_link_to_a_folder_is_read_once_and_not_called_a_loop(
        zoo_root, tmp_path):
    import os

    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    (elsewhere / "2022-06-metropolitan-street.csv").write_bytes(csv_bytes(GOOD))
    os.symlink(elsewhere, zoo_root / "crimes" / "a")
    os.symlink(elsewhere, zoo_root / "crimes" / "b")
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3
    assert list(store.ledger()["files"]) == ["crimes/a/2022-06-metropolitan-street.csv"]
    second = store.ledger()["skipped"]["crimes/b"]
    assert second["reason"] == "folder_read_already"
    assert "'crimes/a'" in second["detail"]


def test_same_file_twice_is_ingested_once_whatever_the_crime_ids(
        zoo_root, put, tmp_path):
    """The same month as a csv and inside a zip, and a (1) copy: rows without a
    Crime ID (ASB, the real robbery files) are not counted twice."""
    import zipfile

    rows = [street_row("", crime_type="Anti-social behaviour")] * 3 + [GOOD[0]]
    data = csv_bytes(rows)
    put("2022-06-metropolitan-street.csv", data)
    put("2022-06-metropolitan-street (1).csv", data)
    with zipfile.ZipFile(zoo_root / "crimes" / "2022-06.zip", "w") as zf:
        zf.writestr("2022-06/2022-06-metropolitan-street.csv", data)
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.quarantined) == (4, 4, 0)
    led = store.ledger()
    dups = led["street"]["duplicate_files"]
    assert set(dups) == {"crimes/2022-06-metropolitan-street (1).csv",
                         "crimes/2022-06.zip:2022-06/2022-06-metropolitan-street.csv"}
    assert set(dups.values()) == {"crimes/2022-06-metropolitan-street.csv"}
    for label in dups:
        assert led["files"][label]["status"] == "duplicate_file"
        assert led["files"][label]["rows_in"] == 0
    assert any("duplicate_file" in w for w in res.warnings)


def test_the_same_text_saved_again_is_a_duplicate_file(zoo_root, put, tmp_path):
    """A copy saved with a byte-order mark and CRLF line breaks (a spreadsheet's
    "save as"), one in cp1252 without a last line break, in other folders: the
    same text, read once; the rows without a Crime ID are not counted again."""
    rows = [street_row("", crime_type="Anti-social behaviour",
                       location="On or near Café Street")] * 3 + [GOOD[0]]
    data = csv_bytes(rows)
    put("2022-06-metropolitan-street.csv", data)
    put("saved/2022-06-metropolitan-street (1).csv",
        b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))
    put("old/2022-06-metropolitan-street.csv",
        data.decode().encode("cp1252").rstrip(b"\n"))
    put("blank/2022-06-metropolitan-street.csv", data + b"\n\r\n\n")
    res, store = _ingest(zoo_root, tmp_path)
    assert (res.rows_in, res.accepted, res.quarantined) == (4, 4, 0)
    led = store.ledger()
    assert led["street"]["duplicate_files"] == {
        "crimes/blank/2022-06-metropolitan-street.csv":
            "crimes/2022-06-metropolitan-street.csv",
        "crimes/old/2022-06-metropolitan-street.csv":
            "crimes/2022-06-metropolitan-street.csv",
        "crimes/saved/2022-06-metropolitan-street (1).csv":
            "crimes/2022-06-metropolitan-street.csv"}
    assert led["files"]["crimes/old/2022-06-metropolitan-street.csv"][
        "encoding"] == "cp1252"
    assert (store.offences()["crime_type"] == "Anti-social behaviour").sum() == 3
    # a copy whose text differs (an outcome updated) is another file: read, its
    # repeated Crime IDs quarantined, and a warning that it looks like a version
    other = rows[:3] + [street_row("a1", outcome="Court result unavailable")]
    put("later/2022-06-metropolitan-street.csv", csv_bytes(other))
    res, store = _ingest(zoo_root, tmp_path / "b")
    assert (res.accepted, res.by_reason) == (7, {"duplicate_crime_id": 1})
    assert not any("Crime IDs already read" in w for w in res.warnings)
    only_ids = [GOOD[0], GOOD[1]]
    put("2022-07-metropolitan-street.csv", csv_bytes(_in("2022-07", only_ids)))
    put("later/2022-07-metropolitan-street.csv", csv_bytes(
        _in("2022-07", [street_row("a1", outcome="Court result unavailable"),
                        *only_ids[1:], rows[0]])))
    res, store = _ingest(zoo_root, tmp_path / "c")
    assert res.by_reason == {"duplicate_crime_id": 3}
    assert [w for w in res.warnings if "Crime IDs already read" in w] == [
        "crimes/later/2022-07-metropolitan-street.csv: 2 of its 3 rows have Crime "
        "IDs already read this month: if it is another version of a file already "
        "read, remove one (its rows without a Crime ID were counted again)"]


def test_another_version_of_a_file_without_crime_ids_is_warned_of(zoo_root, put,
                                                                  tmp_path):
    """police.uk rows without Crime IDs (as in the real 2022 files) cannot be
    told apart: a copy with a row taken out is read (its rows count again), and
    said to repeat the other file's rows; a file of other rows is not."""
    rows = [street_row("", crime_type=t, lon=f"-0.19{i % 9}")
            for i, t in enumerate(["Anti-social behaviour", "Robbery", "Drugs"] * 5)]
    put("2022-06-metropolitan-street.csv", csv_bytes(rows))
    put("2022-06-metropolitan-street (1).csv", csv_bytes(rows[:7] + rows[8:]))
    put("other/2022-06-metropolitan-street.csv", csv_bytes(
        [street_row("", crime_type="Burglary", lon=f"-0.18{i}") for i in range(4)]))
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 15 + 14 + 4 and not res.duplicates
    led = store.ledger()["files"]
    assert led["crimes/2022-06-metropolitan-street (1).csv"]["repeated_rows"] == 1.0
    assert led["crimes/other/2022-06-metropolitan-street.csv"]["repeated_rows"] == 0.0
    assert led["crimes/2022-06-metropolitan-street.csv"]["repeated_rows"] == 0.0
    assert [w for w in res.warnings if "repeat rows" in w] == [
        "crimes/2022-06-metropolitan-street (1).csv: 100% of the rows compared "
        "repeat rows of another file of the same force and month: if it is another "
        "version of that file, remove one (its rows were counted twice)"]
    # the same rows saved with every field quoted, a byte-order mark and CRLF (a
    # spreadsheet's re-save): the same rows, so read once (they had been counted
    # twice, with the warning alone)
    quoted = "\r\n".join(",".join(f'"{v}"' for v in r) for r in rows).encode()
    put("quoted/2022-06-metropolitan-street.csv", b"\xef\xbb\xbf" + csv_bytes(
        []).replace(b"\n", b"\r\n") + quoted + b"\r\n")
    res, store = _ingest(zoo_root, tmp_path / "q")
    assert res.accepted == 15 + 14 + 4
    e = store.ledger()["files"]["crimes/quoted/2022-06-metropolitan-street.csv"]
    assert (e["status"], e["duplicate_of"], e["detail"]) == (
        "duplicate_file", "crimes/2022-06-metropolitan-street.csv",
        "the same rows as crimes/2022-06-metropolitan-street.csv, quoted otherwise; "
        "read once")
    assert "crimes/quoted/2022-06-metropolitan-street.csv: duplicate_file (the same " \
           "rows as crimes/2022-06-metropolitan-street.csv, quoted otherwise; read " \
           "once)" in res.warnings
    # but a file whose only difference is a quote inside a value is its own
    # rows (a hash of the text with every quote set aside had called it the same)
    other = [list(r) for r in rows]
    other[3][6] = 'On or near "Zoo" Road'
    put("quoted/2022-06-metropolitan-street.csv", b"\xef\xbb\xbf" + csv_bytes(
        other).replace(b"\n", b"\r\n"))
    res, store = _ingest(zoo_root, tmp_path / "q2")
    e = store.ledger()["files"]["crimes/quoted/2022-06-metropolitan-street.csv"]
    assert e["status"] == "ingested" and res.accepted == 15 + 14 + 4 + 15


def test_a_file_none_of_whose_rows_is_accepted_covers_nothing(
        zoo_root, write_street, tmp_path):
    """Every Month written as a spreadsheet's date: the month is missing (not
    zero), and a warning says why."""
    write_street([GOOD[0]], month="2022-06")
    write_street([[*GOOD[0][:1], "Jul-22", *GOOD[0][2:]]] * 2, month="2022-07")
    write_street(_in("2022-08", [GOOD[1], GOOD[1]]) + [
        [*GOOD[0][:1], "Aug-22", *GOOD[0][2:]]] * 3, month="2022-08")
    res, store = _ingest(zoo_root, tmp_path)
    cover = store.ledger()["street"]["coverage"]["metropolitan"]
    assert cover["Robbery"] == ["2022-06", "2022-08"]
    assert "crimes/2022-07-metropolitan-street.csv: 2 of its 2 rows quarantined " \
           "(mostly bad_month, 2); none accepted, so its month is not covered by " \
           "it" in res.warnings
    # a header alone: a month without offences, said in a warning
    write_street([], month="2022-09")
    res, store = _ingest(zoo_root, tmp_path / "b")
    cover = store.ledger()["street"]["coverage"]["metropolitan"]
    assert cover["Robbery"] == ["2022-06", "2022-08", "2022-09"]
    assert "crimes/2022-09-metropolitan-street.csv: a header and no rows, read as " \
           "a month without offences (a download cut short?)" in res.warnings
    # most rows quarantined, some accepted: warned, still covered
    assert "crimes/2022-08-metropolitan-street.csv: 4 of its 5 rows quarantined " \
           "(mostly bad_month, 3)" in res.warnings


def test_different_files_for_one_force_and_month_are_all_read(zoo_root, put,
                                                              tmp_path):
    """As the shared data splits some months by crime family across folders."""
    burglary = [street_row("b1", crime_type="Burglary")]
    others = [street_row("", crime_type="Robbery"), street_row("", crime_type="Drugs")]
    put("burglary_only/2022-03-metropolitan-street.csv", csv_bytes(_in("2022-03",
                                                                       burglary)))
    put("real_2022/2022-03-metropolitan-street.csv", csv_bytes(_in("2022-03",
                                                                   others)))
    res, store = _ingest(zoo_root, tmp_path)
    assert res.accepted == 3 and not res.duplicates
    listed = store.ledger()["street"]["files_by_force_month"]["metropolitan"]
    assert listed["2022-03"] == ["crimes/burglary_only/2022-03-metropolitan-street.csv",
                                 "crimes/real_2022/2022-03-metropolitan-street.csv"]


def test_a_file_named_for_an_impossible_month_is_skipped(zoo_root, write_street,
                                                         tmp_path):
    """Before police.uk's first month, or after this one: listed, not read (its
    month would otherwise stretch every window and coverage table)."""
    from datetime import UTC, datetime

    write_street([GOOD[0]], month="2022-06")
    for month in ("2099-12", "1899-01", "2010-11"):
        write_street(_in(month, [GOOD[1]]), month=month)
    now = datetime.now(UTC).strftime("%Y-%m")
    write_street(_in(now, [GOOD[1]]), month=now)  # this month is possible
    write_street(_in("2010-12", [GOOD[1]]), month="2010-12")
    res, store = _ingest(zoo_root, tmp_path)
    assert res.months == ["2010-12", "2022-06", now]
    skipped = store.ledger()["skipped"]
    for month in ("2099-12", "1899-01", "2010-11"):
        entry = skipped[f"crimes/{month}-metropolitan-street.csv"]
        assert entry["reason"] == "month_out_of_range"
        assert month in entry["detail"] and "2010-12" in entry["detail"]


def test_a_file_for_next_month_is_read_once_its_month_comes(
        zoo_root, write_street, tmp_path, monkeypatch):
    import hotspots._sources as sources

    write_street([GOOD[0]], month="2022-06")
    write_street(_in("2022-08", [GOOD[1]]), month="2022-08")
    monkeypatch.setattr(sources, "_this_month", lambda: "2022-07")
    store = Store.open(tmp_path / "store")
    first = ingest(root=zoo_root, store=store)
    assert first.months == ["2022-06"]
    assert ingest(root=zoo_root, store=store).up_to_date
    monkeypatch.setattr(sources, "_this_month", lambda: "2022-08")
    later = ingest(root=zoo_root, store=store)
    assert not later.up_to_date and later.months == ["2022-06", "2022-08"]


def test_row_month_must_match_the_file_month(zoo_root, write_street, tmp_path):
    rows = _in("2023-01", [GOOD[0], GOOD[1]]) + [street_row("far", month="2099-12")]
    write_street(rows, month="2023-01")
    res, store = _ingest(zoo_root, tmp_path)
    assert res.by_reason == {"month_mismatch": 1}
    assert res.months == ["2023-01"] and store.months() == ["2023-01"]
    assert _quarantine(store)["line"].tolist() == [4]


def test_files_not_read_are_listed_with_a_reason(zoo_root, write_street, put,
                                                 tmp_path):
    write_street(GOOD)
    put("2022-06-kent-street.csv", csv_bytes(GOOD))
    put("2022-06-metropolitan-outcomes.csv", b"Crime ID,Month\n")
    put("notes.csv", b"a,b\n")
    res, store = _ingest(zoo_root, tmp_path)
    skipped = store.ledger()["skipped"]
    assert {k: v["reason"] for k, v in skipped.items()} == {
        "crimes/2022-06-kent-street.csv": "force_not_selected",
        "crimes/2022-06-metropolitan-outcomes.csv": "outcomes_file",
        "crimes/notes.csv": "not_police_uk",
    }
    assert "'kent' is not among the forces selected" in skipped[
        "crimes/2022-06-kent-street.csv"]["detail"]
    assert res.to_json()["skipped_by_reason"] == {
        "force_not_selected": 1, "outcomes_file": 1, "not_police_uk": 1}


# ---------------------------------------------------------------------------
# every force (issue 13, point 3)


def test_every_force_keeps_its_columns_and_gets_a_force_column(zoo_root, put,
                                                               tmp_path):
    kent = [[*street_row(f"k{i}")[:2], "Kent Police", "Kent Police",
             *street_row()[4:]] for i in range(2)]
    put("2022-06-kent-street.csv", csv_bytes(kent))
    put("2022-06-metropolitan-street.csv", csv_bytes(GOOD))
    res, store = _ingest(zoo_root, tmp_path, forces=None)
    assert res.accepted == 5 and res.forces == ["kent", "metropolitan"]
    df = store.offences()
    assert df.groupby("force").size().to_dict() == {"kent": 2, "metropolitan": 3}
    k = store.offences(forces=["kent"])
    assert set(k["reported_by"]) == set(k["falls_within"]) == {"Kent Police"}
    assert sorted(k["crime_id"]) == ["k0", "k1"]
    cov = store.coverage()
    assert set(cov["force"]) == {"kent", "metropolitan"}
    assert cov[(cov["force"] == "kent") & (cov["crime_type"] == "Robbery")][
        "rows"].tolist() == [2]


def test_forces_select_from_the_cli(zoo_root, put, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from hotspots.cli import app

    put("2022-06-kent-street.csv", csv_bytes(GOOD))
    put("2022-06-metropolitan-street.csv", csv_bytes(GOOD))
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))
    r = CliRunner().invoke(app, ["ingest", "--forces", "kent,city-of-london",
                                 "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["forces"] == ["city-of-london", "kent"]
    assert doc["accepted"] == 3 and doc["skipped_by_reason"] == {
        "force_not_selected": 1}


def test_plain_cli_ingest_without_stop_and_search_files(zoo_root, write_street,
                                                        tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from hotspots.cli import app

    write_street(GOOD)
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))
    r = CliRunner().invoke(app, ["ingest"])
    assert r.exit_code == 0, r.output
    assert "accepted" in r.stdout and "generation g000001" in r.stdout


def test_plain_cli_ingest_prints_warnings_with_names_as_they_are(
        zoo_root, write_street, put, tmp_path, monkeypatch):
    """A warning's prefix is styled, never printed as markup, and a folder
    named like markup is printed as it is."""
    from typer.testing import CliRunner

    from hotspots.cli import app

    write_street(GOOD)
    put("[bold]x[/]/2022-06-metropolitan-street.csv", b"\x89PNG\r\n\x1a\n\x00" * 9)
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))
    r = CliRunner().invoke(app, ["ingest"])
    assert r.exit_code == 0, r.output
    assert "warning: crimes/[bold]x[/]/2022-06-metropolitan-street.csv: " \
           "binary_file" in r.stderr, r.stderr
    assert "[yellow]" not in r.stderr


def test_quarantine_csv_neutralises_formulas(zoo_root, write_street, tmp_path):
    import csv as _csv

    evil = [street_row("=1+2", crime_type="Jaywalking"),
            street_row("@SUM(A1)", lon="")]
    write_street([GOOD[0], *evil])
    _, store = _ingest(zoo_root, tmp_path)
    with open(store.quarantine_path, newline="") as fh:
        rows = list(_csv.DictReader(fh))
    assert [r["raw"][:9] for r in rows] == ["'=1+2,202", "'@SUM(A1)"]
    assert [r["reason"] for r in rows] == ["unknown_crime_type",
                                           "missing_coordinates"]
    # the Parquet quarantine keeps the text as it was
    assert _quarantine(store)["raw"].str[:4].tolist() == ["=1+2", "@SUM"]


def test_ledger_entry_of_a_file(zoo_root, write_street, tmp_path):
    write_street([GOOD[0], BAD_ROWS["missing_coordinates"], GOOD[1]], form="gz")
    _, store = _ingest(zoo_root, tmp_path)
    e = _entry(store, "crimes/2022-06-metropolitan-street.csv.gz")
    assert {k: e[k] for k in ("kind", "force", "month", "months", "status",
                              "encoding", "line_endings", "rows_in", "accepted",
                              "quarantined", "by_reason", "crime_types",
                              "balanced")} == {
        "kind": "street", "force": "metropolitan", "month": "2022-06",
        "months": ["2022-06"], "status": "ingested", "encoding": "utf-8",
        "line_endings": "LF", "rows_in": 3, "accepted": 2, "quarantined": 1,
        "by_reason": {"missing_coordinates": 1},
        "crime_types": {"Robbery": 1, "Vehicle crime": 1}, "balanced": True}
    assert len(e["file_sha256"]) == 64


def _months_with_faults(write_street):
    for m, extra in (("2022-06", street_row("x", lon="")),
                     ("2022-07", street_row("=HYPERLINK(1)", lon="")),
                     ("2022-08", street_row("z", lat="abc"))):
        write_street(_in(m, GOOD) + _in(m, [extra]), month=m)


def test_forked_workers_write_the_same_store_as_threads(zoo_root, write_street,
                                                        tmp_path):
    """The process engine (the default for big inputs) and the thread engine give
    the same offences, quarantine (Parquet and spreadsheet CSV) and ledger."""
    _months_with_faults(write_street)
    stores = {}
    for name, processes in (("threads", False), ("processes", True)):
        stores[name] = Store.open(tmp_path / name)
        ingest(root=zoo_root, store=stores[name], workers=2, processes=processes)
    a, b = stores["threads"], stores["processes"]
    pd.testing.assert_frame_equal(a.offences(), b.offences())
    pd.testing.assert_frame_equal(a.quarantine(), b.quarantine())
    csv_a, csv_b = ((s.path / "generations" / s.ledger()["generation"]
                     / "quarantine.csv").read_text() for s in (a, b))
    assert csv_a == csv_b and "\"'=HYPERLINK(1)," in csv_a  # neutralised
    assert len(csv_a.splitlines()) == 1 + len(a.quarantine())
    la, lb = a.ledger(), b.ledger()
    assert la["files"] == lb["files"] and la["street"] == lb["street"]
    assert (la["engine"]["engine"], lb["engine"]["engine"]) == ("threads",
                                                                "processes")


def test_a_failing_forked_worker_leaves_the_old_generation(zoo_root, write_street,
                                                           tmp_path, monkeypatch):
    """A full disk inside a worker process: a clear error, the store as it was,
    no staging left behind."""
    import errno

    import pyarrow.parquet as pq

    from hotspots.errors import StoreError

    write_street(_in("2022-06", GOOD), month="2022-06")
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    before = store.offences()
    _months_with_faults(write_street)

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)  # forked with it
    with pytest.raises(StoreError, match="^disk full"):
        ingest(root=zoo_root, store=store, workers=2, processes=True)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.offences(), before)
    assert [p.name for p in (store.path / "generations").iterdir()] == ["g000001"]


def test_stop_search_times_agree_with_pandas_across_clock_changes():
    """Arrow's fast path (every value with an offset) and pandas' ISO 8601 path
    give the same UTC instants and London hours and days, either side of the
    2022 clock changes."""
    import pyarrow as pa

    from hotspots.ingest import _london_clock, _when

    text = ["2022-03-27T00:59:00+00:00", "2022-03-27T01:00:00+00:00",
            "2022-10-30T00:30:00+00:00", "2022-10-30T01:30:00+00:00",
            "2022-06-30T23:30:00+01:00", "2022-12-31T23:59:59.5+00:00"]
    fast = _when(pa.array(text))
    slow = _when(pa.array(text + ["not a date"]))  # one bad value: pandas' path
    assert slow.null_count == 1 and fast.null_count == 0
    assert fast.to_pylist() == slow.to_pylist()[:-1]
    month, hour, day = _london_clock(fast)
    ref = pd.Series(pd.to_datetime(text, utc=True, format="ISO8601")
                    ).dt.tz_convert("Europe/London")
    assert hour.to_pylist() == ref.dt.hour.tolist() == [0, 2, 1, 1, 23, 23]
    assert day.to_pylist() == ref.dt.day_name().tolist()
    assert month.tolist() == (ref.dt.year * 100 + ref.dt.month).tolist()


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "forked"])
def test_offences_are_written_in_row_groups_by_crime_type(zoo_root, write_street,
                                                          tmp_path, monkeypatch,
                                                          processes):
    """A month's offences are stored type by type, in row groups a reader of one
    crime type can skip (min/max statistics), and every stored row keeps its own
    source line: reordering moves whole rows."""
    import numpy as np
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    import hotspots.ingest as ingest_module

    from .conftest import month_rows

    monkeypatch.setattr(ingest_module, "TYPE_GROUP_ROWS", 40)
    rows = month_rows("2022-06", 400, seed=5)
    rows.insert(7, BAD_ROWS["missing_coordinates"])  # a quarantined row in between
    write_street(rows)
    res, store = _ingest(zoo_root, tmp_path, processes=processes)
    assert res.accepted == 400
    off = store.offences(columns=["crime_id", "crime_type", "lon", "line"])
    # every stored row is the source row of its line (header is line 1)
    src = {i + 2: r for i, r in enumerate(rows)}
    for cid, ctype, lon, line in off.itertuples(index=False):
        r = src[line]
        assert (r[0], r[9], float(r[4])) == (cid if isinstance(cid, str) else "",
                                             ctype, lon)
    # the file: crime types in name order, each row group one range of them
    (path,) = (store.root() / "offences").glob("month=2022-06/*.parquet")
    meta = pq.ParquetFile(path).metadata
    col = meta.schema.names.index("crime_type")
    ranges = [(meta.row_group(g).column(col).statistics.min,
               meta.row_group(g).column(col).statistics.max)
              for g in range(meta.num_row_groups)]
    assert meta.num_row_groups >= 3
    assert all(a <= b for a, b in ranges)
    assert all(ranges[g][1] < ranges[g + 1][0] for g in range(len(ranges) - 1))
    stored = pq.read_table(path, columns=["crime_type"])["crime_type"].to_pylist()
    assert stored == sorted(stored)
    # a reader of robbery alone opens only the groups that can hold it
    (frag,) = ds.dataset(path, format="parquet").get_fragments()
    groups = frag.split_by_row_group(ds.field("crime_type") == "Robbery")
    kept = sum(g.row_groups[0].num_rows for g in groups)
    robbery = sum(r[9] == "Robbery" for r in rows if r[4])
    assert len(groups) < meta.num_row_groups and robbery <= kept < 400
    # and each group's dictionaries hold only values its own rows use
    pf = pq.ParquetFile(path, read_dictionary=["h3_10"])
    for g in range(meta.num_row_groups):
        h3 = pf.read_row_group(g, columns=["h3_10"])["h3_10"].combine_chunks()
        assert len(h3.dictionary) == len(np.unique(h3.indices.to_numpy()))


# ---------------------------------------------------------------------------
# a re-ingest carries unchanged months over


def _store_contents(store: Store) -> tuple:
    """What readers see, independent of part names: offences and quarantine in
    source order, the quarantine CSV's lines, coverage, and the ledger's files."""
    off = store.offences().sort_values(["source", "line"]).reset_index(drop=True)
    q = store.quarantine().sort_values(["source", "line", "reason"]).reset_index(
        drop=True)
    csv = sorted((store.root() / "quarantine.csv").read_text().splitlines())
    led = store.ledger()
    return off, q, csv, store.coverage(), led["files"], led["street"]


def _assert_same_store(a: Store, b: Store) -> None:
    for x, y in zip(_store_contents(a), _store_contents(b), strict=True):
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y)
        else:
            assert x == y


def _months_read(monkeypatch) -> list:
    """Record the (kind, month) groups an ingest reads (thread engine)."""
    import hotspots.ingest as ingest_module

    seen = []
    real = ingest_module.ingest_group

    def spy(kind, month, files, plan, joiner):
        seen.append((kind, month))
        return real(kind, month, files, plan, joiner)

    monkeypatch.setattr(ingest_module, "ingest_group", spy)
    return seen


def test_a_new_month_is_read_alone_and_the_store_equals_a_rebuild(
        zoo_root, write_street, tmp_path, monkeypatch):
    """The monthly routine: a new police.uk month arrives; only it is read, the
    other months are carried over from the current generation (their Parquet
    parts linked, their quarantined rows and ledger entries copied), and the
    store is what a full rebuild gives, quarantine CSV and coverage included."""
    import os

    _months_with_faults(write_street)  # 2022-06..08, each with a quarantined row
    store = Store.open(tmp_path / "store")
    first = ingest(root=zoo_root, store=store, processes=False)
    assert first.reused == [] and first.groups == 3
    old_root = store.root()
    write_street(_in("2022-09", GOOD + [BAD_ROWS["unknown_crime_type"]]),
                 month="2022-09")
    seen = _months_read(monkeypatch)
    res = ingest(root=zoo_root, store=store, processes=False)
    assert seen == [("street", "2022-09")]
    assert res.reused == ["street|2022-06", "street|2022-07", "street|2022-08"]
    assert res.groups == 4 and res.accepted == 4 * len(GOOD)
    assert res.by_reason == {"missing_coordinates": 2, "non_numeric_coordinates": 1,
                             "unknown_crime_type": 1}
    assert any("carried over unchanged" in line for line in res.summary())
    assert store.ledger()["reused"] == res.reused
    # carried parts are the same files (links), not copies re-written
    (part,) = (store.root() / "offences" / "month=2022-07").glob("*.parquet")
    (was,) = (old_root / "offences" / "month=2022-07").glob("*.parquet")
    assert os.stat(part).st_ino == os.stat(was).st_ino
    rebuilt = Store.open(tmp_path / "rebuilt")
    ingest(root=zoo_root, store=rebuilt, force=True)
    _assert_same_store(store, rebuilt)
    assert "'=HYPERLINK(1)" in (store.root() / "quarantine.csv").read_text()


def test_a_changed_or_removed_file_rereads_only_its_month(zoo_root, write_street,
                                                         tmp_path, monkeypatch):
    _months_with_faults(write_street)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    write_street(_in("2022-07", GOOD[:1]), month="2022-07")  # changed content
    (zoo_root / "crimes" / "2022-08-metropolitan-street.csv").unlink()  # removed
    seen = _months_read(monkeypatch)
    res = ingest(root=zoo_root, store=store)
    assert seen == [("street", "2022-07")] and res.reused == ["street|2022-06"]
    assert sorted(store.offences()["month"].unique()) == ["2022-06", "2022-07"]
    assert (store.offences()["month"] == "2022-07").sum() == 1
    rebuilt = Store.open(tmp_path / "rebuilt")
    ingest(root=zoo_root, store=rebuilt, force=True)
    _assert_same_store(store, rebuilt)


def test_rebuild_other_limits_or_a_damaged_part_read_again(zoo_root, write_street,
                                                         tmp_path, monkeypatch):
    """Nothing is carried over by ``--rebuild``, when what shapes every month
    changes (limits here; code, boundaries and forces alike), or from a part
    the current generation has lost."""
    from hotspots.ingest import Limits

    _months_with_faults(write_street)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    seen = _months_read(monkeypatch)
    assert ingest(root=zoo_root, store=store, force=True).reused == []
    assert len(seen) == 3
    seen.clear()
    res = ingest(root=zoo_root, store=store, limits=Limits(max_row_bytes=100_000))
    assert res.reused == [] and len(seen) == 3 and not res.up_to_date
    for part in (store.root() / "offences" / "month=2022-06").glob("*.parquet"):
        part.unlink()
    write_street(_in("2022-09", GOOD), month="2022-09")
    seen.clear()
    res = ingest(root=zoo_root, store=store, limits=Limits(max_row_bytes=100_000))
    assert sorted(seen) == [("street", "2022-06"), ("street", "2022-09")]
    assert res.reused == ["street|2022-07", "street|2022-08"]
    assert (store.offences()["month"] == "2022-06").sum() == len(GOOD)


@pytest.mark.shared
@pytest.mark.slow
def test_shared_month_added_back_is_read_alone_and_equals_the_full_store(
        shared_store, shared_root, tmp_path, monkeypatch):
    """On the shared data: a root without one month (every file of 2022-06)
    ingested over the full store carries every other month over and drops that
    one; the full root then reads back only that month, and the store equals
    the one a full ingest wrote."""
    import shutil

    files = discover(shared_root, None)
    root = tmp_path / "root"
    (root / "boundaries").parent.mkdir(parents=True)
    (root / "boundaries").symlink_to(shared_root / "boundaries")
    for sf in files:
        if sf.month != "2022-06":
            (root / sf.label).parent.mkdir(parents=True, exist_ok=True)
            (root / sf.label).symlink_to(sf.path)
    store = Store.open(tmp_path / "store")
    shutil.copytree(shared_store.path, store.path, symlinks=True)
    seen = _months_read(monkeypatch)  # (the spy sees groups read in threads)
    less = ingest(root=root, store=store, processes=False)
    june = {(sf.kind, sf.month) for sf in files if sf.month == "2022-06"}
    assert seen == [] and less.groups == len(less.reused) > 100
    assert not (store.offences(columns=["month"])["month"] == "2022-06").any()
    back = ingest(root=shared_root, store=store, processes=False)
    assert sorted(seen) == sorted(june) and len(back.reused) == less.groups
    _assert_same_store(store, shared_store)


def test_a_changed_archive_rereads_its_members_months(zoo_root, write_street,
                                                      tmp_path, monkeypatch):
    """A month inside a zip is carried over only while the archive's content
    hash is the one the store was written from."""
    write_street(GOOD, month="2022-06", form="zip")
    write_street(_in("2022-07", GOOD), month="2022-07")
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    write_street(GOOD[:1], month="2022-06", form="zip")
    seen = _months_read(monkeypatch)
    res = ingest(root=zoo_root, store=store)
    assert seen == [("street", "2022-06")] and res.reused == ["street|2022-07"]
    assert (store.offences()["month"] == "2022-06").sum() == 1


def test_a_folder_of_other_files_is_refused_as_a_store_and_kept(zoo_root, tmp_path,
                                                                write_street):
    """HOTSPOTS_STORE pointed at a folder of the user's own (files named like an
    older store's among them): refused, and nothing in it removed."""
    from hotspots.errors import StoreError

    write_street([street_row("c1")])
    mine = tmp_path / "mine"
    (mine / "offences").mkdir(parents=True)
    (mine / "offences" / "notes.txt").write_text("notes")
    (mine / "ledger.json").write_text('{"mine": 1}')
    (mine / "quarantine.csv").write_text("a,b\n")
    before = sorted(p.relative_to(mine) for p in mine.rglob("*"))
    with pytest.raises(StoreError, match=r"holds files a store does not \("
                                         r"ledger\.json, offences, quarantine\.csv\)"):
        ingest(root=zoo_root, store=Store.open(mine), force=True)
    assert sorted(p.relative_to(mine) for p in mine.rglob("*")) == before
    # names a store uses, holding the user's own things, are refused too
    for name, make in [
            ("gens", lambda f: (f / "generations" / "mywork").mkdir(parents=True)),
            ("gfile", lambda f: (f / "generations").mkdir() or
             (f / "generations" / "g000001").write_text("mine")),
            ("empty-gens", lambda f: (f / "generations").mkdir() or
             (f / "photo.jpg").write_text("x")),
            ("pointer", lambda f: (f / "CURRENT").write_text("shopping list"))]:
        folder = tmp_path / name
        folder.mkdir()
        make(folder)
        before = sorted((p.relative_to(folder), p.is_file() and p.read_text())
                        for p in folder.rglob("*"))
        with pytest.raises(StoreError, match="holds files a store does not"):
            ingest(root=zoo_root, store=Store.open(folder), force=True)
        assert sorted((p.relative_to(folder), p.is_file() and p.read_text())
                      for p in folder.rglob("*")) == before, name
    # an empty folder, and then the store made in it, are fine
    (tmp_path / "empty").mkdir()
    for _ in range(2):
        assert ingest(root=zoo_root, store=Store.open(tmp_path / "empty")).accepted == 1
    # a store whose generations were deleted keeps its pointer, which names one:
    # still a store (readers said to run ingest, which had refused it)
    import shutil

    shutil.rmtree(tmp_path / "empty" / "generations")
    with pytest.raises(StoreError, match="CURRENT names generation g000001, which "
                                         "is missing"):
        Store.open(tmp_path / "empty").offences()
    res = ingest(root=zoo_root, store=Store.open(tmp_path / "empty"))
    assert res.accepted == 1 and len(Store.open(tmp_path / "empty").offences()) == 1


@pytest.mark.parametrize("when", ["while_read", "before_read", "store_current",
                                  "carried_month", "zip"])
def test_a_file_changed_during_the_ingest_is_an_error_and_the_store_is_kept(
        zoo_root, tmp_path, write_street, monkeypatch, when):
    """A file rewritten while the ingest runs (a copy or download under way;
    or while it waited for the lock, after its hash was taken; a month carried
    over; an archive, which looks unreadable while it is written): the ingest
    fails with the file named and the store keeps its previous generation; the
    next ingest reads the file as it now is (never 'up to date' with rows of
    one version under the hash of another)."""
    import zipfile

    import hotspots.ingest as ing
    from hotspots.errors import DataError

    form = "zip" if when == "zip" else "csv"
    path = write_street([street_row("c1")], form=form)
    store = Store.open(tmp_path / "store")
    assert ingest(root=zoo_root, store=store).accepted == 1
    first = store.ledger()["generation"]
    if when == "carried_month":  # a new month to read while the old one changes
        write_street([street_row("n1", month="2022-07")], month="2022-07")
    grown = csv_bytes([street_row(f"c{i}") for i in range(1, 4)])
    real = ing.ingest_group if when in ("while_read", "carried_month") \
        else ing.plan_ingest

    def changing(*a, **kw):
        out = real(*a, **kw)
        if form == "zip":  # rewritten: new content under the same name
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr("2022-06/2022-06-metropolitan-street.csv", grown)
        else:
            path.write_bytes(grown)  # after its rows were read / its hash taken
        return out

    monkeypatch.setattr(ing, real.__name__, changing)
    with pytest.raises(DataError, match="changed while the ingest ran") as exc:
        ingest(root=zoo_root, store=store, force=when != "store_current")
    assert str(exc.value).startswith(f"crimes/{path.name}")
    assert store.ledger()["generation"] == first
    assert len(store.offences()) == 1
    monkeypatch.undo()
    res = ingest(root=zoo_root, store=store)
    assert not res.up_to_date
    assert len(store.offences(start="2022-06", end="2022-06")) == 3
    assert ingest(root=zoo_root, store=store).up_to_date


def test_a_link_into_the_store_is_not_read(zoo_root, tmp_path, write_street):
    """A data root holding a link to the store: the store's own files are not
    read as data (their change made every ingest a new generation)."""
    import os

    write_street([street_row("c1")])
    store = Store.open(tmp_path / "store")
    assert ingest(root=zoo_root, store=store).accepted == 1
    links = {"store_link": store.path, "gens_link": store.path / "generations",
             "current_link": store.path / "CURRENT"}
    for name, target in links.items():
        os.symlink(target, zoo_root / "crimes" / name)
    assert ingest(root=zoo_root, store=store).up_to_date
    assert ingest(root=zoo_root, store=store, force=True).accepted == 1
    skipped = store.ledger()["skipped"]
    for name in links:
        assert skipped[f"crimes/{name}"]["reason"] == "store_folder"
        assert not any(k.startswith(f"crimes/{name}/") for k in skipped)
    assert ingest(root=zoo_root, store=store).up_to_date
    # a store kept inside the data root itself (not through a link) alike
    inner = Store.open(zoo_root / "crimes" / "inner_store")
    assert ingest(root=zoo_root, store=inner).accepted == 1
    ingest(root=zoo_root, store=inner, force=True)
    assert inner.ledger()["skipped"]["crimes/inner_store"]["reason"] == "store_folder"
    assert ingest(root=zoo_root, store=inner).up_to_date


def test_month_folders_of_a_download_are_one_series(zoo_root, put, tmp_path):
    """A police.uk download unpacks into month folders: a month where a type has
    no rows is zero for that type (its folder is part of the download), as the
    same files in one folder or one zip give; a burglary-only folder beside it
    still covers burglary only."""
    put("dl/2022-06/2022-06-metropolitan-street.csv", csv_bytes(_in("2022-06", GOOD)))
    put("dl/2022-07/2022-07-metropolitan-street.csv",
        csv_bytes(_in("2022-07", [GOOD[1]])))  # vehicle crime only
    put("dl/2022-08/2022-08-metropolitan-street.csv", csv_bytes(_in("2022-08", GOOD)))
    put("burglary/2022-09-metropolitan-street.csv", csv_bytes(_in("2022-09", [
        street_row("b9", month="2022-09", crime_type="Burglary")])))
    _res, store = _ingest(zoo_root, tmp_path)
    cover = store.ledger()["street"]["coverage"]["metropolitan"]
    assert cover["Robbery"] == ["2022-06", "2022-07", "2022-08"]
    assert cover["Burglary"] == ["2022-09"]
    files = store.ledger()["files"]
    assert files["crimes/dl/2022-07/2022-07-metropolitan-street.csv"]["folder"] == \
        "crimes/dl"
    from hotspots.counts import count_offences

    counts = count_offences("London", "robbery", "month", "2022-06", "2022-08",
                            store=store)
    assert counts.table["count"].tolist() == [1, 0, 1] and not counts.missing


def test_each_archive_is_a_series_of_its_own(zoo_root, put, tmp_path):
    """A burglary-only zip beside a full one in the same folder covers burglary
    only: robbery in its months is missing, not zero (as with the same files in
    two folders). Month archives (``2022-06.zip``) are one download with their
    folder, as month folders are."""
    import zipfile

    def archive(rel, members):
        path = zoo_root / "crimes" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as z:
            for name, rows in members.items():
                z.writestr(name, csv_bytes(rows))

    archive("full.zip", {f"{m}/{m}-metropolitan-street.csv": _in(m, GOOD)
                         for m in ("2022-01", "2022-02")})
    archive("burglary-only.zip", {
        f"{m}/{m}-metropolitan-street.csv": [
            street_row(f"b{m}", month=m, crime_type="Burglary")]
        for m in ("2022-03", "2022-04")})
    archive("dl/2022-05.zip", {"2022-05/2022-05-metropolitan-street.csv":
                               _in("2022-05", GOOD)})
    archive("dl/2022-06.zip", {"2022-06/2022-06-metropolitan-street.csv":
                               _in("2022-06", [GOOD[1]])})  # vehicle crime only
    _res, store = _ingest(zoo_root, tmp_path)
    files = store.ledger()["files"]
    assert {e["folder"] for e in files.values()} == {
        "crimes/full.zip", "crimes/burglary-only.zip", "crimes/dl"}
    cover = store.ledger()["street"]["coverage"]["metropolitan"]
    assert cover["Robbery"] == ["2022-01", "2022-02", "2022-05", "2022-06"]
    assert cover["Burglary"] == ["2022-03", "2022-04"]
    from hotspots.counts import count_offences

    counts = count_offences("London", "robbery", "month", "2022-01", "2022-06",
                            store=store)
    assert counts.missing == ("2022-03", "2022-04")
    t = counts.table  # the City's files are absent: other months are partial
    assert t["status"].tolist() == ["partial", "partial", "missing", "missing",
                                    "partial", "partial"]
    assert t["count"].tolist() == [1, 1, 0, 0, 1, 0]  # 2022-06: covered, none


def test_a_header_alone_in_its_folder_covers_its_month_with_no_offences(
        zoo_root, put, tmp_path):
    """A City of London file of a month without offences, alone in its folder:
    the month is covered, with no offences (as its warning says), not missing."""
    put("met/2022-01-metropolitan-street.csv", csv_bytes(_in("2022-01", GOOD)))
    put("city/2022-01-city-of-london-street.csv", csv_bytes([]))
    res, store = _ingest(zoo_root, tmp_path)
    assert any("a header and no rows, read as a month without offences" in w
               for w in res.warnings)
    cover = store.ledger()["street"]["coverage"]["city-of-london"]
    assert cover["Robbery"] == cover["Burglary"] == ["2022-01"]
    from hotspots.counts import count_offences

    counts = count_offences("London", "robbery", "month", "2022-01", "2022-01",
                            store=store)
    assert not counts.missing and counts.table["status"].tolist() == ["covered"]


def test_a_one_family_file_beside_full_ones_is_warned_of(zoo_root, put, tmp_path):
    """A burglary-only download put in the folder of full ones: the folder's
    series covers every type, so its month reads as zero robbery; a warning says
    so and what to do. A full file with a type missing in its month is not
    warned of."""
    types = ["Robbery", "Burglary", "Drugs", "Vehicle crime", "Shoplifting"]
    full = [street_row(f"f{i}", month="2022-06", crime_type=types[i % 5])
            for i in range(120)]
    most = [street_row(f"m{i}", month="2022-07", crime_type=types[i % 4])
            for i in range(120)]
    burglary = [street_row(f"b{i}", month="2022-08", crime_type="Burglary")
                for i in range(120)]
    put("2022-06-metropolitan-street.csv", csv_bytes(full))
    put("2022-07-metropolitan-street.csv", csv_bytes(most))
    put("2022-08-metropolitan-street.csv", csv_bytes(burglary))
    res, _ = _ingest(zoo_root, tmp_path)
    said = [w for w in res.warnings if "crime types of its folder" in w]
    assert said == [
        "crimes/2022-08-metropolitan-street.csv: holds 1 of the 5 crime types of its "
        "folder's files (not Drugs, Robbery, Shoplifting…): if it is a download of "
        "some types only, put it in a folder or archive of its own, beside this one "
        "(a month folder counts as the folder above it); here, its month reads as "
        "zero, not missing, for the types it lacks"]
