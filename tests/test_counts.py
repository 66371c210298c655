"""Counts by month, ward and borough after the joins."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from hotspots.areas import resolve_area
from hotspots.cli import app
from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.ingest import ingest
from hotspots.months import month_range
from hotspots.store import Store

from .conftest import csv_bytes, street_row


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
    with pytest.raises(ParameterError, match="'crime' needs to be one of") as e:
        count_offences("Merton", "jaywalking", store=zoo_store)
    assert "Did you mean" not in str(e.value)
    # a misspelt family gets a suggestion, as a misspelt area does
    with pytest.raises(ParameterError, match=r"'robbry' was given instead\. Did "
                                             r"you mean: robbery\?$"):
        count_offences("Merton", "robbry", store=zoo_store)


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
    # the zoo has robbery files for 2022-06 and 2022-08 only: 2022-07 is a gap in
    # the data, not a month without robbery
    assert [row["count"] for row in doc["rows"]] == [1, "missing", 1]
    assert doc["missing_months"] == ["2022-07"]
    # the table a person reads says the same: missing, never 0
    text = CliRunner().invoke(
        app, ["counts", "--area", "Merton", "--crime", "robbery", "--by", "month"])
    assert text.exit_code == 0, text.output
    months = {ln.split("│")[1].strip(): ln.split("│")[2].strip()
              for ln in text.stdout.splitlines() if ln.startswith("│ 2022")}
    assert months == {"2022-06": "1", "2022-07": "missing", "2022-08": "1"}
    assert "missing months (no data, not zero; left out of the total): 2022-07" in \
        text.stdout
    bad = CliRunner().invoke(app, ["counts", "--area", "Nowhere", "--json"])
    assert bad.exit_code == 2
    assert "Nowhere" in json.loads(bad.stdout)["error"]


def _recorded(shared_root, major: str, boroughs=None) -> dict[str, int]:
    """The Met's recorded crime per month (London Datastore), summed over boroughs."""
    import pandas as pd

    frames = [pd.read_csv(p) for p in
              sorted((shared_root / "crimes" / "reference").glob("mps-*.csv.gz"))]
    out: dict[str, int] = {}
    for f in frames:
        f = f[f["MajorText"] == major]
        if boroughs is not None:
            f = f[f["LookUp_BoroughName"].isin(boroughs)]
        for col in f.columns[3:]:
            out[f"{col[:4]}-{col[4:]}"] = int(f[col].sum())
    return out


@pytest.mark.shared
def test_shared_merton_robbery_by_month(shared_store, shared_root, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    res = count_offences("Merton", "robbery", "month", store=shared_store)
    doc = res.to_json()
    assert doc["rows"][0]["key"] == "2018-02" and doc["rows"][-1]["key"] == "2022-12"
    # real robbery has no rows for 2021-02…2021-12: a gap, not eleven zeros
    gap = [f"2021-{m:02d}" for m in range(2, 13)]
    assert doc["missing_months"] == gap
    assert {r["key"]: r["count"] for r in doc["rows"] if r["key"] in gap} == \
        dict.fromkeys(gap, "missing")
    assert res.synthetic_share == 0.0  # real rows
    # police.uk runs a few per cent below the Met's recorded robbery, year by year
    rec = _recorded(shared_root, "Robbery", ["Merton"])
    t = res.table.set_index("key")["count"]
    for year in ("2019", "2020", "2022"):
        ours = t.loc[f"{year}-03":f"{year}-12"].sum()
        theirs = sum(rec[f"{year}-{m:02d}"] for m in range(3, 13))
        assert 0.85 < ours / theirs < 1.05, (year, ours, theirs)
    by_ward = count_offences("Merton", "robbery", "ward", store=shared_store)
    assert len(by_ward.table) == 20
    assert by_ward.table["count"].sum() == res.total


@pytest.mark.shared
def test_shared_london_partial_month_is_marked_in_the_table(shared_store,
                                                            monkeypatch):
    """2021-02 London robbery: the City's file only (the Met's is missing)."""
    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    doc = count_offences("London", "robbery", "month", start="2021-01", end="2021-02",
                         store=shared_store).to_json()
    feb = doc["rows"][1]
    assert feb["status"] == "partial" and feb["missing_forces"] == ["metropolitan"]
    text = CliRunner().invoke(app, ["counts", "--crime", "robbery", "--from",
                                    "2021-01", "--to", "2021-02"])
    assert text.exit_code == 0, text.output
    assert f"│ 2021-02 │ {feb['count']:,} partial (no file of metropolitan) │" in \
        text.stdout


@pytest.mark.shared
def test_shared_london_robbery_2022_matches_recorded_crime(shared_store, shared_root):
    """The real-data issue's check: London robbery per month in 2022 within 10 % of
    the Met's recorded robbery; the City's missing 2022-06 is reported as partial."""
    res = count_offences("London", "robbery", "month", "2022-01", "2022-12",
                         store=shared_store).to_json()
    rec = _recorded(shared_root, "Robbery")
    for row in res["rows"]:
        assert 0.90 <= row["count"] / rec[row["key"]] <= 1.10, row
    june = next(r for r in res["rows"] if r["key"] == "2022-06")
    assert june["status"] == "partial" and june["missing_forces"] == ["city-of-london"]
    # in 2021-02…2021-12 only the City's files have robbery: partial, not zero
    gap = count_offences("London", "robbery", "month", "2021-01", "2022-01",
                         store=shared_store).to_json()
    partial = [r for r in gap["rows"] if r.get("status") == "partial"]
    assert [r["key"] for r in partial] == [f"2021-{m:02d}" for m in range(2, 13)]
    assert all(r["missing_forces"] == ["metropolitan"] for r in partial)
    assert gap["missing_months"] == []


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

    covered = covered_months(shared_store, "robbery", "Merton")
    assert covered_period(shared_store, "robbery", area="Merton") == covered
    assert len(covered) == 36 + 12 and "2021-06" not in covered
    # a period across the gap keeps only the covered months
    across = covered_period(shared_store, "robbery", "2020-12", "2022-02",
                            area="Merton")
    assert across == ["2020-12", "2021-01", "2022-01", "2022-02"]
    # beyond the coverage: clipped, unless strict
    assert covered_period(shared_store, "robbery", "2022-11", "2023-03",
                          area="Merton")[-1] == "2022-12"
    with pytest.raises(ParameterError, match="2023-03 is not covered"):
        covered_period(shared_store, "robbery", "2022-11", "2023-03", strict=True,
                       area="Merton")
    # London includes the City, whose police published no file for 2022-06
    assert "2022-06" not in covered_months(shared_store, "robbery", "London")
    assert "2022-06" in covered
    # all crime (notifiable, ASB apart) is covered only where every type is: 2022
    assert covered_months(shared_store, "all", "Merton") == \
        [f"2022-{m:02d}" for m in range(1, 13)]
    with pytest.raises(ParameterError, match="nothing in 2030-01..2030-02"):
        covered_period(shared_store, "robbery", "2030-01", "2030-02", area="Merton")


def test_a_store_covering_none_of_the_period_has_every_month_missing(
        zoo_root, write_street, tmp_path):
    """The only file's only row is quarantined (no month covered): counts for
    any period are missing, not zero, by month and by ward alike."""
    write_street([street_row("x1", lon="")], month="2022-01")
    store = Store.open(tmp_path / "store")
    assert ingest(root=zoo_root, store=store).accepted == 0
    months = count_offences("Merton", "robbery", "month", "2022-01", "2022-03",
                            store=store)
    assert months.to_json()["missing_months"] == ["2022-01", "2022-02", "2022-03"]
    assert [r["count"] for r in months.to_json()["rows"]] == ["missing"] * 3
    wards = count_offences("Merton", "robbery", "ward", "2022-01", "2022-03",
                           store=store)
    assert wards.missing == ("2022-01", "2022-02", "2022-03")
    # each ward's count too: no data is not 0 offences
    assert {r["count"] for r in wards.to_json()["rows"]} == {"missing"}
    with pytest.raises(ParameterError, match="no month of 'robbery' data in the "
                       "store covers Merton: nothing to count"):
        count_offences("Merton", "robbery", "ward", store=store)
    # covered months only among them: a zoo month with a file is not missing
    write_street([street_row("c1", month="2022-02")], month="2022-02")
    ingest(root=zoo_root, store=store)
    months = count_offences("Merton", "robbery", "month", "2022-01", "2022-03",
                            store=store)
    assert months.missing == ("2022-01", "2022-03")


@pytest.mark.shared
def test_london_by_borough_says_which_months_only_some_forces_cover(shared_store):
    """London robbery 2021-01…2022-12 by borough: the City's force has the months
    the Met's robbery files lack (and the Met has the City's missing 2022-06), so
    those months are partial, and a table by borough or ward says so as the
    table by month does."""
    by_month = count_offences("London", "robbery", "month", "2021-01", "2022-12",
                              store=shared_store)
    marked = tuple(by_month.table.loc[by_month.table["status"] == "partial", "key"])
    expected = (*(f"2021-{m:02d}" for m in range(2, 13)), "2022-06")
    assert marked == expected
    for by in ("borough", "ward"):
        res = count_offences("London", "robbery", by, "2021-01", "2022-12",
                             store=shared_store)
        assert res.partial == expected and res.missing == ()
        assert res.to_json()["partial_months"] == list(expected)
    merton = count_offences("Merton", "robbery", "ward", "2021-01", "2022-12",
                            store=shared_store)  # the Met alone: missing, not partial
    assert merton.missing == expected[:-1] and merton.partial == ()


class _LedgerOnly:
    """A store seen only through its ledger's coverage."""

    def __init__(self, coverage: dict):
        self._cov = coverage

    def ledger(self) -> dict:
        return {"street": {"coverage": self._cov}}

    def pinned(self) -> _LedgerOnly:  # one generation: itself
        return self


@pytest.mark.shared
def test_no_covered_month_says_which_force_lacks_files(shared_root, monkeypatch):
    """A store of the Met's files only: London (the City's police included) has
    no covered month; the error names the force without files, what the other
    covers and the area that is covered, instead of 'holds no offences'."""
    from hotspots.counts import covered_period

    monkeypatch.setenv("HOTSPOTS_DATA", str(shared_root))
    met_only = _LedgerOnly({"metropolitan": {"Burglary": ["2024-01", "2024-02"]}})
    with pytest.raises(ParameterError) as e:
        covered_period(met_only, "burglary", area="London")
    msg = str(e.value)
    assert "city-of-london has no file" in msg
    assert "metropolitan covers 2024-01..2024-02" in msg and "area MPS" in msg
    assert covered_period(met_only, "burglary", area="MPS") == ["2024-01", "2024-02"]
    with pytest.raises(ParameterError, match="holds no 'burglary' offences for "
                                             "City of London"):
        covered_period(met_only, "burglary", area="City of London")
    with pytest.raises(ParameterError, match="holds no 'robbery' offences"):
        covered_period(met_only, "robbery", area="London")


def test_rows_of_a_missing_month_count_toward_no_total(zoo_root, write_street, put,
                                                       tmp_path, monkeypatch):
    """A British Transport Police file for a month the Met has no file for: the
    month is missing (listed, even with no period given), and its rows count
    toward no total, by month, ward or borough (they had been added to every
    total while the month read as missing or was not listed at all)."""
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    write_street([street_row("r1"), street_row("r2")], month="2022-06")
    btp = [street_row(f"b{i}", month="2022-07") for i in range(3)]
    put("2022-07-btp-street.csv", csv_bytes(btp).replace(
        b"Metropolitan Police Service", b"British Transport Police"))
    store = Store.open(tmp_path / "store")
    assert ingest(root=zoo_root, store=store).accepted == 5
    months = count_offences("Merton", "robbery", "month", store=store)
    assert months.missing == ("2022-07",)
    assert months.to_json()["rows"][1] == {"key": "2022-07", "label": "2022-07",
                                           "count": "missing"}
    assert months.total == 2
    for by in ("ward", "borough", "crime_type"):
        res = count_offences("Merton", "robbery", by, "2022-06", "2022-07",
                             store=store)
        assert res.total == 2 == int(res.table["count"].sum()), by


@pytest.mark.shared
def test_one_total_whatever_the_grouping(shared_store):
    """London robbery 2022 (no City file for 2022-06): the same total by month,
    ward, borough, BCU, crime type and cell, and each table's lines add up to it
    — the City's offences on a line of their own by BCU (they are in none). The
    Met's and British Transport Police's rows in the City in 2022-06 count toward
    nothing (they had been counted by month and BCU, not by ward)."""
    from hotspots.counts import BY, NO_BCU

    totals = {}
    for by in BY:
        res = count_offences("London", "robbery", by, "2022-01", "2022-12",
                             store=shared_store)
        counts = pd.to_numeric(res.table["count"], errors="coerce")
        assert res.total == int(counts.sum()), by
        totals[by] = res.total
        if by == "bcu":
            city = count_offences("City of London", "robbery", "month", "2022-01",
                                  "2022-12", store=shared_store).total
            assert res.table.set_index("key").at[NO_BCU, "count"] == city > 0
    assert len(set(totals.values())) == 1, totals
    june = count_offences("London", "robbery", "month", "2022-06", "2022-06",
                          store=shared_store)
    met = count_offences("MPS", "robbery", "month", "2022-06", "2022-06",
                         store=shared_store)
    assert june.total == met.total  # the City's police filed nothing that month


@pytest.mark.shared
def test_a_london_table_says_which_wards_lack_their_own_forces_months(shared_store):
    """London robbery by ward for 2022-06, when the City of London Police filed
    nothing: the City's 25 wards had read 0; they are missing, the Met's counted,
    and the total is the wards' sum. Over 2022-05…06 the City is partial."""
    june = count_offences("London", "robbery", "ward", "2022-06", "2022-06",
                          store=shared_store)
    rows = june.to_json()["rows"]
    city = set(resolve_area("City of London").ward_codes)
    assert {r["count"] for r in rows if r["key"] in city} == {"missing"}
    assert all(isinstance(r["count"], int) for r in rows if r["key"] not in city)
    assert june.total == sum(r["count"] for r in rows if r["key"] not in city) > 0
    two = count_offences("London", "robbery", "borough", "2022-05", "2022-06",
                         store=shared_store).to_json()
    row = next(r for r in two["rows"] if r["key"] == "City of London")
    assert row["status"] == "partial" and row["missing_forces"] == ["city-of-london"]
    assert two["total"] == sum(r["count"] for r in two["rows"])
