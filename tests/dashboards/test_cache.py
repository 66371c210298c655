"""The precompute cache: same answer as the package, on disk, keyed by the store."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest

from hotspots.analysis import analyse
from hotspots.cache import CACHE_DIR, ViewCache, warm


def test_analysis_is_cached_and_equal_to_the_package(zoo_env):
    folder = zoo_env.path / CACHE_DIR / "gistar"
    before = set(folder.glob("*.parquet")) if folder.is_dir() else set()
    cache = ViewCache(zoo_env)
    args = ("Merton", "robbery", "2022-03", "2024-01")
    cells, meta = cache.analysis(*args, res=8, permutations=99)
    ref = analyse(*args, res=8, permutations=99, store=zoo_env)
    pd.testing.assert_frame_equal(pd.DataFrame(cells.drop(columns="geometry")),
                                  pd.DataFrame(ref.cells.drop(columns="geometry")))
    assert len(set(folder.glob("*.parquet")) - before) == 1
    # a fresh cache (another process) reads the same frame back from disk
    again, meta2 = ViewCache(zoo_env).analysis(*args, res=8, permutations=99)
    assert isinstance(again, gpd.GeoDataFrame) and again.crs.to_epsg() == 4326
    assert again.geometry.geom_equals_exact(ref.cells.geometry, 1e-12).all()
    assert meta2["data"] == meta["data"]
    # memory: the same object comes back
    assert cache.analysis(*args, res=8, permutations=99)[0] is cells


def test_key_follows_params_and_store(zoo_env, tmp_path):
    cache = ViewCache(zoo_env)
    k1 = cache.key("gistar", {"res": 9})
    assert k1 == cache.key("gistar", {"res": 9}) != cache.key("gistar", {"res": 8})
    # a store with a different ledger fingerprint gives different keys
    other = type(zoo_env)(tmp_path / "copy")
    (other.path / "offences").mkdir(parents=True)
    ledger = json.loads(zoo_env.ledger_path.read_text())
    ledger["fingerprint"] = "something-else"
    other.ledger_path.write_text(json.dumps(ledger))
    assert ViewCache(other).key("gistar", {"res": 9}) != k1


def test_count_tables_match_the_store(zoo_env):
    cache = ViewCache(zoo_env)
    wm = cache.ward_month_counts()
    df = zoo_env.offences(columns=["ward_code", "synthetic"])
    assert int(wm["count"].sum()) == len(df)
    assert int(wm["synthetic"].sum()) == int(df["synthetic"].sum())
    sm = cache.street_month_counts()
    assert int(sm["count"].sum()) == len(df)


def test_memory_is_bounded(zoo_env):
    cache = ViewCache(zoo_env, memory_items=2)
    calls = []
    for i in range(3):
        cache.value("x", {"i": i}, lambda i=i: calls.append(i) or i)
    assert cache.value("x", {"i": 0}, lambda: calls.append("again") or 0) == 0
    assert calls == [0, 1, 2, "again"]


def test_warm_runs_each_combination(zoo_env):
    cache = ViewCache(zoo_env)
    n = warm(cache, ["Merton", "Wandsworth"], ["robbery"],
             [("2023-02", "2024-01")], resolutions=(9,))
    assert n == 2
    assert len(list((zoo_env.path / CACHE_DIR / "gistar").glob("*.parquet"))) >= 2


# -- the offences held in memory (the server's warm start) ----------------------------
HELD_READS = [
    {"area": "Merton", "crime": "robbery", "start": "2022-05", "end": "2023-04"},
    {"area": "London", "crime": "all"},
    {"area": "E05000002", "crime": ["Robbery", "Vehicle crime"], "end": "2023-01"},
    {"crime": "everything", "start": "2023-06"},
    {"area": "Wandsworth", "crime": "asb", "forces": ["metropolitan"]},
    {"area": "Merton", "crime": "robbery", "start": "2030-01"},  # no row
]


@pytest.mark.parametrize("kw", HELD_READS, ids=range(len(HELD_READS)))
def test_held_offences_read_as_the_store_does(zoo_env, kw, monkeypatch):
    from hotspots.study import OFFENCE_FIELDS

    cols = ["month", *OFFENCE_FIELDS[1:], "force"]
    want = zoo_env.offences(columns=cols, **kw)
    cache = ViewCache(zoo_env, disk=False)
    cache.hold_offences()
    reader = cache.reader()
    # the held table answers without touching the store's files
    monkeypatch.setattr(type(zoo_env), "scan", lambda *a, **k: 1 / 0)
    got = reader.offences(columns=cols, **kw)
    pd.testing.assert_frame_equal(got, want)
    assert (len(got) == 0) == (kw.get("start") == "2030-01")


def test_held_offences_pass_other_columns_to_the_store(zoo_env):
    cache = ViewCache(zoo_env, disk=False)
    table = cache.hold_offences()
    assert table.holds(["month", "h3_9"]) and not table.holds(["crime_id"])
    assert not table.holds(None)  # every column: the store's files
    got = cache.reader().offences(area="Merton", columns=["crime_id", "month"])
    pd.testing.assert_frame_equal(
        got, zoo_env.offences(area="Merton", columns=["crime_id", "month"]))


def test_held_offences_follow_a_new_generation(zoo_env):
    import dataclasses

    cache = ViewCache(zoo_env, disk=False)
    old = cache.hold_offences()
    assert cache.reader().table is old  # kept while the generation stands
    old.store = dataclasses.replace(old.store, generation="g999999")  # published
    assert cache.reader().table is not old
    assert cache.reader().table.store.generation == zoo_env.current_generation()


def test_count_tables_from_memory_equal_the_store_scan(zoo_env):
    scan = ViewCache(zoo_env, disk=False)
    held = ViewCache(zoo_env, disk=False)
    held.hold_offences()
    pd.testing.assert_frame_equal(held.ward_month_counts(), scan.ward_month_counts())
    pd.testing.assert_frame_equal(held.street_month_counts(),
                                  scan.street_month_counts())


def test_a_study_from_memory_equals_one_from_the_files(zoo_env):
    import numpy as np

    from hotspots.study import Study

    cache = ViewCache(zoo_env, disk=False)
    info = cache.prepare()
    assert info["offences_rows"] == len(zoo_env.offences(columns=["month"]))
    st = cache.study("Merton", "vehicle", "2022-06", "2023-09", res=8)
    ref = Study.load("Merton", "vehicle", "2022-06", "2023-09", res=8, store=zoo_env)
    assert st.months == ref.months and st.missing == ref.missing
    assert np.array_equal(st.grid.ids, ref.grid.ids)
    assert np.array_equal(st.counts, ref.counts)
    pd.testing.assert_frame_equal(st.offences, ref.offences)
    assert st.audit() == ref.audit()
