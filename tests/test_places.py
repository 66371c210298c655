"""Search: areas, police.uk streets, places named by streets, and a gazetteer."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from hotspots import places
from hotspots.areas import bng_xy
from hotspots.errors import ParameterError
from hotspots.ingest import ingest
from hotspots.places import search
from hotspots.store import Store

from .conftest import street_row

#: "Mitcham" streets in Zoo Two and Zoo Four; East Lane in Zoo Three.
ROWS = [
    ("On or near Mitcham Road", (-0.198, 51.412)),
    ("On or near Mitcham Road", (-0.197, 51.413)),
    ("On or near Mitcham Lane", (-0.192, 51.417)),
    ("On or near Mitcham Park", (-0.187, 51.414)),
    ("On or near East Lane", (-0.185, 51.405)),
    ("On or near East Lane", (-0.185, 51.405)),
    ("On or near Zoo Road", (-0.195, 51.405)),
]


@pytest.fixture
def env(zoo_root, write_street, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_CACHE", str(tmp_path / "cache"))
    write_street([street_row(f"c{i}", location=loc, lon=str(x), lat=str(y))
                  for i, (loc, (x, y)) in enumerate(ROWS)])
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    return zoo_root, store


def _inside(bounds, lon, lat) -> bool:
    w, s, e, n = bounds
    return w <= lon <= e and s <= lat <= n


def test_a_borough_a_ward_and_the_area_to_analyse(env):
    _, store = env
    r = search("Merton", store=store)
    assert r[0]["kind"] == "borough" and r[0]["area"] == "Merton"
    assert r[0]["label"] == "Merton (borough)"
    # the zoo's Merton is Zoo One and Zoo Two: -0.20…-0.19, 51.40…51.42
    assert r[0]["bounds"] == pytest.approx([-0.20, 51.40, -0.19, 51.42])
    w = search("zoo two", store=store)[0]
    assert (w["kind"], w["area"], w["label"]) == ("ward", "Zoo Two (Merton)",
                                                 "Zoo Two ward, Merton")
    # what --area takes as typed comes first, then the other matches
    kinds = [x["kind"] for x in search("Zoo", store=store)]
    assert kinds[:4] == ["ward"] * 4 and kinds[4:] == ["street"]
    assert search("Zoo One (Merton)", store=store)[0]["area"] == "Zoo One (Merton)"


def test_a_street_found_with_its_ward_and_a_box(env):
    _, store = env
    r = search("east la", store=store)
    assert [x["kind"] for x in r] == ["street"]
    assert r[0]["label"] == "East Lane (Zoo Three, Wandsworth)"
    assert r[0]["area"] == "Zoo Three (Wandsworth)"
    assert r[0]["centre"] == pytest.approx([-0.185, 51.405])
    assert _inside(r[0]["bounds"], -0.185, 51.405)
    # a one-point street is framed at least MIN_BOX_M (400 m) across
    x, y = bng_xy(r[0]["bounds"][::2], r[0]["bounds"][1::2])
    assert x[1] - x[0] >= places.MIN_BOX_M - 1 and y[1] - y[0] >= places.MIN_BOX_M - 1


def test_mitcham_with_no_gazetteer_is_named_by_its_streets(env):
    _, store = env
    r = search("Mitcham", store=store)
    top = r[0]
    assert top["kind"] == "place"
    assert top["label"] == ("Mitcham (named by police.uk streets: Mitcham Lane, "
                            "Mitcham Park, Mitcham Road)")
    # the middle of the three streets' medoids, worked by hand: about
    # (-0.1923, 51.4143), in Zoo Two
    assert top["area"] == "Zoo Two (Merton)"
    assert top["centre"] == pytest.approx([-0.19233, 51.41433], abs=2e-4)
    for _, (lon, lat) in ROWS[:4]:
        assert _inside(top["bounds"], lon, lat)
    streets = [x["label"] for x in r[1:]]
    assert streets == ["Mitcham Road (Zoo Two, Merton)",
                       "Mitcham Lane (Zoo Two, Merton)",
                       "Mitcham Park (Zoo Four, Wandsworth)"]


def test_no_place_from_a_word_that_starts_streets_everywhere(env, monkeypatch):
    _, store = env
    # with streets linked only within 50 m, the Mitcham streets are three groups of
    # one name each: no group of two or more streets, so no place
    monkeypatch.setattr(places, "STREET_LINK_M", 50.0)
    assert [x["kind"] for x in search("Mitcham", store=store)] == ["street"] * 3
    # and a name an area already has makes no place either ("Zoo" wards)
    assert "place" not in {x["kind"] for x in search("Zoo", store=store)}


def test_gazetteer_places_come_first(env):
    root, store = env
    x, y = bng_xy([-0.193, -0.185], [51.413, 51.405])
    gaz = gpd.GeoDataFrame(
        {"NAME1": ["Mitcham", "Zoo Junction"], "NAME2": [None, None],
         "LOCAL_TYPE": ["Town", "Railway Station"],
         "MBR_XMIN": [x[0] - 500, x[1]], "MBR_YMIN": [y[0] - 400, y[1]],
         "MBR_XMAX": [x[0] + 500, x[1]], "MBR_YMAX": [y[0] + 400, y[1]]},
        geometry=[shapely.Point(x[0], y[0]), shapely.Point(x[1], y[1])], crs=27700)
    path = root / places.PLACES_FILE
    path.parent.mkdir()
    gaz.to_file(path, layer="named_place")
    assert places.places_path() == path
    r = search("Mitcham", store=store)
    assert r[0]["kind"] == "place" and r[0]["label"] == "Mitcham (Town, Zoo Two " \
        "(Merton))"
    assert r[0]["area"] == "Zoo Two (Merton)"
    # the gazetteer's box (1 km × 800 m, padded 100 m each side), as degrees (a
    # box in degrees round a grid box is a little larger: the grid is turned)
    bx, by = bng_xy(r[0]["bounds"][::2], r[0]["bounds"][1::2])
    assert 1190 <= bx[1] - bx[0] <= 1300 and 990 <= by[1] - by[0] <= 1100
    # with a gazetteer, no place is made up from street names
    assert not any("named by police.uk streets" in x["label"] for x in r)
    assert search("junction", store=store)[0]["label"] == (
        "Zoo Junction (Railway Station, Zoo Three (Wandsworth))")


def test_limits_and_bad_input(env):
    _, store = env
    assert len(search("zoo", limit=2, store=store)) == 2
    assert search("z", store=store) == []
    assert search("nothing like this", store=store) == []
    with pytest.raises(ParameterError, match="'limit' needs to be a whole number"):
        search("zoo", limit=0, store=store)
    with pytest.raises(ParameterError, match="'text' needs to be a string"):
        search(None, store=store)


def test_without_a_store_areas_are_still_found(zoo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_CACHE", str(tmp_path / "cache"))
    r = search("Wandsworth", store=Store.open(tmp_path / "none"))
    assert [x["kind"] for x in r] == ["borough"]


@pytest.mark.shared
def test_shared_mitcham_finds_mitcham(shared_store):
    r = search("Mitcham", store=shared_store)
    top = r[0]
    assert top["kind"] == "place" and top["label"].startswith("Mitcham (")
    assert top["area"].endswith("(Merton)")
    # Mitcham's Fair Green, by the town centre
    assert _inside(top["bounds"], -0.166, 51.4027)
    assert any(x["kind"] == "street" and x["label"].startswith("Mitcham Road")
               for x in r)
    assert search("Figge's Marsh", store=shared_store)[0]["area"] == \
        "Figge's Marsh (Merton)"
