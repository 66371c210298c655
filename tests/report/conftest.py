"""Fixtures of the report tests: a zoo store with hand-checkable counts, and a
small population file."""

from __future__ import annotations

import pandas as pd
import pytest

from hotspots.ingest import ingest
from hotspots.store import Store
from tests.conftest import street_row

#: Zoo points: W1 (Zoo One, Merton) and W3 (Zoo Three, Wandsworth).
MERTON = {"lon": "-0.195", "lat": "51.405"}
MERTON_2 = {"lon": "-0.195", "lat": "51.415"}
WANDSWORTH = {"lon": "-0.185", "lat": "51.405"}

#: month -> [(id, crime type, point, location)] — the counts the tests work out by
#: hand: Merton robbery 2020-07: 1, 2021-06: 1, 2022-05: 1, 2022-06: 2;
#: Wandsworth robbery 2022-05: 1, 2022-06: 1; Merton vehicle crime 2022-06: 1.
ZOO_ROWS = {
    "2020-07": [("r0", "Robbery", MERTON, "On or near Zoo Road")],
    "2021-06": [("r1", "Robbery", MERTON, "On or near Zoo Road")],
    "2022-05": [("r2", "Robbery", MERTON_2, "On or near High Street"),
                ("w1", "Robbery", WANDSWORTH, "On or near East Lane")],
    "2022-06": [("r3", "Robbery", MERTON, "On or near Zoo Road"),
                ("r4", "Robbery", MERTON, "On or near $ Street"),
                ("v1", "Vehicle crime", MERTON, "On or near Zoo Road"),
                ("w2", "Robbery", WANDSWORTH, "On or near East Lane")],
}

POPULATION_CSV = (
    "area_code,area_name,population,year,source\n"
    "E09000024,Merton,2000,2022,Test fixture\n"
    "E09000032,Wandsworth,3000,2022,Test fixture\n"
)


@pytest.fixture
def report_env(zoo_root, write_street, tmp_path, monkeypatch):
    """The zoo data root (with ``ZOO_ROWS``) ingested; env points at both."""
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))
    # one police.uk file a month, as a download has: months without rows still
    # have their (empty) file, so they are covered zeros, not gaps
    for p in pd.period_range("2020-07", "2022-06", freq="M"):
        month = str(p)
        write_street([street_row(i, month=month, crime_type=t, location=loc, **pt)
                      for i, t, pt, loc in ZOO_ROWS.get(month, [])], month=month)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    return zoo_root, store


@pytest.fixture
def with_population(report_env):
    """A population CSV in the zoo data root."""
    root, _ = report_env
    (root / "population").mkdir()
    (root / "population" / "boroughs.csv").write_text(POPULATION_CSV)
    return root / "population" / "boroughs.csv"
