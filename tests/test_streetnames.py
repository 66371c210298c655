"""The offline street-name layer: points, streets, medoids, cache, and OS roads."""

from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from hotspots import streetnames as sn
from hotspots.areas import bng_xy
from hotspots.errors import ParameterError
from hotspots.ingest import ingest
from hotspots.store import Store

from .conftest import street_row

#: (lon, lat) of the test points; W1 is Zoo One (-0.20…-0.19, 51.40…51.41).
WEST, MID, EAST = (-0.1990, 51.4050), (-0.1985, 51.4052), (-0.1980, 51.4050)
FAR_1, FAR_2 = (-0.1850, 51.4150), (-0.1845, 51.4150)  # Zoo Four, ~1.5 km away
SHOP_1, SHOP_2 = (-0.1950, 51.4080), (-0.1950, 51.4170)  # about 1 km apart


def _row(i, at, location, context="", month="2022-06"):
    return street_row(f"c{i}", lon=str(at[0]), lat=str(at[1]), location=location,
                      context=context, month=month)


ROWS = [
    _row(1, WEST, "On or near Long Road"), _row(2, WEST, "On or near Long Road"),
    _row(3, MID, "On or near Long Road"),
    _row(4, MID, "On or near Long Road", context="SYNTHETIC test row"),
    _row(5, EAST, "On or near Long Road"),
    _row(6, FAR_1, "On or near Long Road"), _row(7, FAR_2, "On or near Long Road"),
    _row(8, SHOP_1, "On or near Supermarket"),
    _row(9, SHOP_2, "On or near Supermarket"),
    _row(10, (-0.196, 51.401), "On or near"),
    _row(11, (-0.1965, 51.4020), "On or near Queen'S Road"),
]


@pytest.fixture
def layer_env(zoo_root, write_street, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_CACHE", str(tmp_path / "cache"))
    write_street(ROWS, month="2022-06")
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    return zoo_root, store


@pytest.mark.parametrize(("location", "name"), [
    ("On or near Queen'S Road", "Queen's Road"),
    ("On or near St John'S Road", "St John's Road"),
    ("On or near Supermarket", "Supermarket"),
    ("On or near ", None), ("", None), (None, None), (float("nan"), None),
])
def test_pretty_name(location, name):
    assert sn.pretty_name(location) == name


def test_points_named_grouped_and_counted(layer_env):
    _, store = layer_env
    pts = sn.street_points(store)
    # the nameless point is dropped; the rest kept, one row per (name, point)
    assert sorted(pts["name"].unique()) == ["Long Road", "Queen's Road",
                                            "Supermarket"]
    assert len(pts) == 8
    kinds = dict(zip(pts["name"], pts["kind"], strict=False))
    assert kinds == {"Long Road": "street", "Queen's Road": "street",
                     "Supermarket": "place"}
    # the synthetic row keeps its (real) point but is not counted
    mid = pts[(pts["lon"] == MID[0]) & (pts["lat"] == MID[1])]
    assert mid["offences"].tolist() == [1]
    # two Long Roads 1.5 km apart are two streets; two supermarkets two places
    assert pts.loc[pts["name"] == "Long Road", "group"].nunique() == 2
    assert pts.loc[pts["name"] == "Supermarket", "group"].nunique() == 2


def test_labels_at_the_medoid_with_counts_and_extent(layer_env):
    _, store = layer_env
    labels = sn.street_labels(store=store)
    assert set(labels["kind"]) == {"street"}
    long = labels[labels["name"] == "Long Road"].reset_index(drop=True)
    assert long["points"].tolist() == [3, 2]  # busiest first: 4 offences, then 2
    assert long["offences"].tolist() == [4, 2]
    # the medoid by brute force: the point with the least summed distance
    xs, ys = bng_xy([WEST[0], MID[0], EAST[0]], [WEST[1], MID[1], EAST[1]])
    sums = [sum(math.hypot(xs[i] - xs[j], ys[i] - ys[j]) for j in range(3))
            for i in range(3)]
    best = sums.index(min(sums))
    assert best == 1  # the middle point, worked by hand
    assert long.loc[0, "x"] == pytest.approx(xs[best])
    assert long.loc[0, "y"] == pytest.approx(ys[best])
    assert (long.loc[0, "lon"], long.loc[0, "lat"]) == pytest.approx(MID)
    assert long.loc[0, "minx"] == pytest.approx(min(xs))
    assert long.loc[0, "maxx"] == pytest.approx(max(xs))
    assert long.loc[0, "ward_code"] == "E05000001"
    places = sn.street_labels(kinds=("place",), store=store)
    assert places["name"].tolist() == ["Supermarket", "Supermarket"]


def test_labels_of_a_box_and_an_area(layer_env):
    _, store = layer_env
    xs, ys = bng_xy([MID[0], EAST[0]], [MID[1], EAST[1]])
    # a map box holding only the eastern point: the street is labelled there,
    # although the medoid of the whole street (the middle point) is off the map
    box = (xs[0] + 1, min(ys) - 50, xs[1] + 50, max(ys) + 50)
    got = sn.street_labels(bounds=box, store=store)
    assert got["name"].tolist() == ["Long Road"]
    assert got.loc[0, "points"] == 1 and got.loc[0, "offences"] == 1
    assert (got.loc[0, "x"], got.loc[0, "y"]) == pytest.approx((xs[1], ys[1]))
    four = sn.street_labels("Zoo Four", store=store)
    assert four["name"].tolist() == ["Long Road"]
    assert four.loc[0, "points"] == 2
    with pytest.raises(ParameterError, match="'kinds' needs to hold 'street' or"):
        sn.street_labels(kinds=("road",), store=store)


def test_cached_per_store_fingerprint(layer_env, write_street):
    root, store = layer_env
    first = sn.street_points(store)
    assert sn.street_points(store) is first  # memory
    assert list((store.path / "cache" / "streetnames").glob("*.parquet"))  # disk
    write_street([_row(20, (-0.1970, 51.4030), "On or near New Street",
                       month="2022-07")], month="2022-07")
    ingest(root=root, store=store)  # new inputs: a new fingerprint
    assert "New Street" in set(sn.street_labels(store=store)["name"])
    assert "New Street" not in set(first["name"])


def test_roads_file_read_for_a_box(zoo_root, monkeypatch, tmp_path):
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_CACHE", str(tmp_path / "cache"))
    assert sn.roads_path() is None and sn.load_roads((0, 0, 1, 1)) is None
    x, y = bng_xy([-0.199, -0.191], [51.405, 51.405])
    roads = gpd.GeoDataFrame(
        {"name_1": ["Zoo Avenue", None], "road_classification": ["A Road",
                                                                  "Unclassified"]},
        geometry=[shapely.LineString([(x[0], y[0]), (x[1], y[1])]),
                  shapely.LineString([(x[0], y[0] + 300), (x[1], y[1] + 300)])],
        crs=27700)
    path = zoo_root / sn.ROADS_FILE
    path.parent.mkdir()
    roads.to_file(path, layer="road_link")
    assert sn.roads_path() == path
    got = sn.load_roads((x[0] - 10, y[0] - 10, x[1] + 10, y[0] + 10))
    assert got["name"].tolist() == ["Zoo Avenue"]
    assert got["road_class"].tolist() == ["A Road"]
    both = sn.load_roads((x[0], y[0] - 10, x[1], y[0] + 400))
    assert sorted(both["road_class"]) == ["A Road", "Unclassified"]
    assert both.crs.to_epsg() == 27700
    assert pd.isna(both.loc[both["road_class"] == "Unclassified", "name"]).all()
