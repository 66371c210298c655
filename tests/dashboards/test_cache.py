"""The precompute cache: same answer as the package, on disk, keyed by the store."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd

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
