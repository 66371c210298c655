"""Counts by month, ward and borough after the joins."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hotspots.cli import app
from hotspots.counts import count_offences, month_range
from hotspots.errors import ParameterError
from hotspots.ingest import ingest
from hotspots.store import Store

from .conftest import street_row


@pytest.fixture
def zoo_store(zoo_root, write_street, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    write_street(
        [
            street_row("r1"),
            street_row("r2", lon="-0.185", lat="51.415"),
            street_row("v1", crime_type="Vehicle crime"),
        ],
        month="2022-06",
    )
    write_street([street_row("r3", month="2022-08")], month="2022-08")
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    return store


def test_counts_by_month_fill_gaps_with_zero(zoo_store):
    res = count_offences("Merton", "robbery", "month", store=zoo_store)
    assert res.table["key"].tolist() == ["2022-06", "2022-07", "2022-08"]
    assert res.table["count"].tolist() == [1, 0, 1]
    assert res.total == 2


def test_counts_by_ward_list_every_ward(zoo_store):
    res = count_offences("London", "all", "ward", store=zoo_store)
    assert dict(zip(res.table["label"], res.table["count"], strict=True)) == {
        "Zoo Four": 1,
        "Zoo One": 3,
        "Zoo Three": 0,
        "Zoo Two": 0,
    }


def test_counts_by_borough_and_month_bounds(zoo_store):
    res = count_offences("SW", "robbery", "borough", start="2022-07", store=zoo_store)
    assert dict(zip(res.table["key"], res.table["count"], strict=True)) == {
        "Merton": 1,
        "Wandsworth": 0,
    }


def test_bad_by_is_rejected(zoo_store):
    with pytest.raises(ParameterError, match="'by' needs to be one of"):
        count_offences("Merton", "robbery", "street", store=zoo_store)


def test_bad_crime_is_rejected(zoo_store):
    with pytest.raises(ParameterError, match="'crime' needs to be one of"):
        count_offences("Merton", "jaywalking", store=zoo_store)


def test_month_range_rejects_reversed_bounds():
    with pytest.raises(ParameterError, match="after"):
        month_range("2023-02", "2023-01")


def test_cli_counts_json_and_error(zoo_store, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(zoo_store.path))
    r = CliRunner().invoke(
        app,
        ["counts", "--area", "Merton", "--crime", "robbery", "--by", "month", "--json"],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [row["count"] for row in doc["rows"]] == [1, 0, 1]
    bad = CliRunner().invoke(app, ["counts", "--area", "Nowhere", "--json"])
    assert bad.exit_code == 2
    assert "Nowhere" in json.loads(bad.stdout)["error"]


@pytest.mark.shared
def test_shared_merton_robbery_by_month(shared_store, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    res = count_offences("Merton", "robbery", "month", store=shared_store)
    assert res.table["key"].iloc[0] == "2021-01"
    assert res.table["key"].iloc[-1] == "2024-01"
    # robbery rows are semi-synthetic: the label must come through
    assert res.synthetic_share == 1.0
    # FY 2022-23 vs FY 2021-22: the real rise (+52 % recorded) survives in the rows
    t = res.table.set_index("key")["count"]
    fy21 = t.loc["2021-04":"2022-03"].sum()
    fy22 = t.loc["2022-04":"2023-03"].sum()
    assert 300 < fy21 < 360 and 470 < fy22 < 540
    by_ward = count_offences("Merton", "robbery", "ward", store=shared_store)
    assert len(by_ward.table) == 20
    assert by_ward.table["count"].sum() == res.total


@pytest.mark.shared
def test_shared_burglary_counts_match_the_raw_files(shared_store, shared_root):
    """Merton burglary rows per month vs the raw file's LSOA-name prefix count."""
    import csv
    import gzip

    path = (
        shared_root / "crimes" / "burglary_only" / "2023-01-metropolitan-street.csv.gz"
    )
    with gzip.open(path, "rt") as fh:
        rows = list(csv.DictReader(fh))
    ids = {r["Crime ID"] for r in rows if r["LSOA name"].startswith("Merton")}
    res = count_offences(
        "Merton",
        "burglary",
        "month",
        start="2023-01",
        end="2023-01",
        store=shared_store,
    )
    # crimes by LSOA name vs by ward polygon: equal within a few boundary points
    assert abs(res.total - len(ids)) <= 3


@pytest.mark.shared
def test_covered_period_defaults_and_strict(shared_store):
    from hotspots.counts import covered_months, covered_period
    from hotspots.errors import ParameterError

    covered = covered_months(shared_store, "robbery")
    assert covered_period(shared_store, "robbery") == covered
    assert covered_period(shared_store, "robbery", "2023-11")[-1] == covered[-1]
    # beyond the coverage: allowed, unless strict
    assert covered_period(shared_store, "robbery", "2023-12", "2024-03")[-1] == \
        "2024-03"
    with pytest.raises(ParameterError, match="2024-03 is outside"):
        covered_period(shared_store, "robbery", "2023-12", "2024-03", strict=True)
    with pytest.raises(ParameterError, match="holds no 'Bicycle theft'"):
        covered_period(shared_store, "Bicycle theft")
