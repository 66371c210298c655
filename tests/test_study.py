"""The Study's choice of months: every type covered, or any type covered."""

from __future__ import annotations

import numpy as np
import pytest

from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.months import month_range
from hotspots.study import Study


@pytest.mark.shared
def test_any_type_cover_keeps_months_one_family_lacks(shared_store):
    # the shared data holds Met robbery up to 2021-01 and again in 2022, burglary
    # throughout 2021: together, 'every' keeps 2021-01 alone, 'any' the year
    crimes = ("robbery", "burglary")
    every = Study.load("Merton", crimes, "2021-01", "2021-12", res=8,
                       store=shared_store, fields=("month", "crime_type"))
    assert every.months == ("2021-01",) and every.cover == "every"
    # the months asked for and left out are said, at the end of the period too
    assert every.missing == tuple(month_range("2021-02", "2021-12"))
    assert every.audit()["period"]["missing_months"] == list(every.missing)
    anyt = Study.load("Merton", crimes, "2021-01", "2021-12", res=8,
                      store=shared_store, fields=("month", "crime_type"),
                      cover="any")
    assert anyt.months == tuple(month_range("2021-01", "2021-12"))
    assert anyt.missing == () and anyt.audit()["period"]["cover"] == "any"
    assert anyt.label().startswith("robbery + burglary, Merton")
    # each month holds what counts finds for each family, nothing read as zero
    for crime in crimes:
        want = count_offences("Merton", crime, "month", "2021-01", "2021-12",
                              store=shared_store)
        got = anyt.offences.loc[anyt.offences["crime_type"].str.lower() == crime]
        per = got.groupby("month").size().reindex(anyt.months, fill_value=0)
        assert per.to_numpy().tolist() == want.table["count"].tolist()
    assert np.array_equal(anyt.counts.sum(axis=0),
                          anyt.offences.groupby("month").size().to_numpy())


def test_cover_is_checked():
    with pytest.raises(ParameterError, match="cover"):
        Study.load("Merton", "robbery", res=9, cover="some")


@pytest.mark.parametrize("damage", [0, 2], ids=["empty", "cut-short"])
def test_a_damaged_grid_cache_is_made_again(zoo_root, write_street, tmp_path,
                                            monkeypatch, damage):
    """An emptied or cut-short grid cache file (a power loss after its rename)
    made every later run an internal error (EOFError, BadZipFile): it is a miss,
    and the grid is made again."""
    from hotspots.areas import resolve_area
    from hotspots.ingest import ingest
    from hotspots.store import Store
    from hotspots.study import area_grid

    from .conftest import street_row

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    write_street([street_row("r1"), street_row("r2", lon="-0.185")])
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    merton = resolve_area("Merton")
    made = area_grid(merton, 9, store)
    made.neighbours(1)  # kept beside the cells
    files = sorted((tmp_path / "store").rglob("*.npy")) + sorted(
        (tmp_path / "store").rglob("*.ring1.npz"))
    assert len(files) == 2
    for f in files:  # nothing, or the first half
        f.write_bytes(f.read_bytes()[:len(f.read_bytes()) // damage if damage else 0])
    again = area_grid(merton, 9, store)
    assert np.array_equal(again.ids, made.ids)
    assert np.array_equal(again.neighbours(1).indices, made.neighbours(1).indices)


def test_a_harm_table_weighing_the_crime_at_nothing_says_so(zoo_root, write_street,
                                                           tmp_path, monkeypatch):
    """Robbery weighted 0 by the harm table: said, not 'no robbery offences'."""
    from hotspots.config import CRIME_TYPES
    from hotspots.ingest import ingest
    from hotspots.store import Store

    from .conftest import street_row

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    write_street([street_row("r1"), street_row("r2", lon="-0.185")])
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    table = tmp_path / "harm.toml"
    table.write_text("[weights]\n" + "\n".join(
        f'"{t}" = {0 if t == "Robbery" else 1}' for t in CRIME_TYPES))
    with pytest.raises(ParameterError, match="gives every type of robbery weight 0"):
        Study.load("Merton", "robbery", weight="harm", harm_path=str(table),
                   store=store)
