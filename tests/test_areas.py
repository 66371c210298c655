"""Areas: resolving --area values, and the ward join on points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspots.areas import load_boroughs, load_wards, locate_points, resolve_area
from hotspots.errors import AreaNotFound, ParameterError


@pytest.fixture
def zoo(zoo_root, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    return zoo_root


@pytest.mark.parametrize(
    ("text", "kind", "n_wards"),
    [
        ("London", "london", 4),
        ("SW", "bcu", 4),
        ("South West", "bcu", 4),
        ("south west bcu", "bcu", 4),
        ("Merton", "borough", 2),
        ("merton", "borough", 2),
        ("Wands", "borough", 2),
        ("E05000003", "ward", 1),
        ("Zoo Two", "ward", 1),
        ("zoo two, merton", "ward", 1),
        ("Zoo Two (Merton)", "ward", 1),
    ],
    ids=lambda v: str(v),
)
def test_resolve_area_kinds(zoo, text, kind, n_wards):
    area = resolve_area(text)
    assert area.kind == kind
    assert len(area.ward_codes) == n_wards


def test_area_geometry_is_the_union_of_its_wards(zoo):
    area = resolve_area("Merton")
    minx, miny, maxx, maxy = area.geometry.bounds
    assert (minx, maxx) == pytest.approx((-0.20, -0.19))
    assert (miny, maxy) == pytest.approx((51.40, 51.42))
    assert area.boroughs == ("Merton",)
    assert area.slug == "borough-merton"


def test_unknown_area_suggests_close_names(zoo):
    with pytest.raises(
        AreaNotFound, match=r"'Mertn' was given instead\. Did you mean: Merton"
    ):
        resolve_area("Mertn")


def test_empty_area_is_a_parameter_error(zoo):
    with pytest.raises(ParameterError, match="'area' needs a non-empty name"):
        resolve_area("  ")


def test_locate_points_is_order_independent_and_one_ward_each(zoo):
    wards = load_wards()
    lon = np.array([-0.195, -0.19, -0.19, -0.185, -0.30])
    lat = np.array([51.405, 51.405, 51.41, 51.415, 51.405])
    a = locate_points(lon, lat, wards)
    b = locate_points(lon[::-1], lat[::-1], wards).iloc[::-1].reset_index(drop=True)
    assert a["ward_code"].tolist() == b["ward_code"].tolist()
    assert a["ward_code"].tolist()[:4] == [
        "E05000001",
        "E05000001",
        "E05000001",
        "E05000004",
    ]
    assert a["method"].tolist() == ["within"] * 4 + ["outside"]
    assert pd.isna(a["ward_code"].iloc[4])


def test_load_boroughs_dissolves_wards(zoo):
    b = load_boroughs().set_index("borough")
    assert b.loc["Merton", "n_wards"] == 2
    assert b.loc["Wandsworth", "bcu"] == "SW"


@pytest.mark.shared
def test_shared_merton_has_its_twenty_named_wards(shared_root):
    area = resolve_area("Merton")
    assert len(area.ward_codes) == 20
    wards = load_wards().set_index("ward_code").loc[list(area.ward_codes)]
    assert "Figge's Marsh" in set(wards["ward_name"])
    assert wards["ward_name"].notna().all()


@pytest.mark.shared
def test_shared_ambiguous_ward_name_lists_the_boroughs(shared_root):
    with pytest.raises(
        AreaNotFound, match="Abbey, Barking and Dagenham; Abbey, Merton"
    ):
        resolve_area("Abbey")
    assert resolve_area("Abbey, Merton").code == "E05013810"


@pytest.mark.shared
def test_shared_london_includes_the_city_and_mps_does_not(shared_root):
    london = resolve_area("London")
    assert len(london.ward_codes) == 704
    assert "City of London" in london.boroughs
    mps = resolve_area("MPS")
    assert len(mps.ward_codes) == 704 - 25 and "City of London" not in mps.boroughs
    assert len(resolve_area("SW").boroughs) == 4


def _fresh_process():
    """Forget what this process has read (as a new process would)."""
    from hotspots import areas

    areas._read_wards.cache_clear()
    areas._ward_attrs.cache_clear()
    areas._resolve.cache_clear()


def test_boundary_cache_gives_what_the_geopackage_gives(zoo, tmp_path,
                                                        monkeypatch):
    """A fresh process reads the wards and area outlines from the boundary cache:
    the same table and the same outlines as parsing the GeoPackage; a damaged
    cache file is parsed afresh; a changed boundary file is not served stale."""
    import shapely

    from hotspots import areas

    monkeypatch.setenv("HOTSPOTS_CACHE", str(tmp_path / "cache"))
    _fresh_process()
    path = str(areas.wards_path())
    parsed = areas._parse_wards(path)
    first = resolve_area("London")  # parses and fills the cache
    folder = areas._boundary_cache(path)
    assert (folder / "wards.parquet").is_file()
    assert (folder / "outline-london-LONDON.wkb").is_file()
    _fresh_process()
    cached = load_wards()
    pd.testing.assert_frame_equal(cached, parsed)
    assert cached.crs == parsed.crs
    again = resolve_area("London")
    assert again.ward_codes == first.ward_codes
    assert shapely.equals_exact(again.geometry, first.geometry, 0)
    # damaged: parsed again, same answers
    (folder / "wards.parquet").write_bytes(b"not parquet")
    (folder / "outline-london-LONDON.wkb").write_bytes(b"junk")
    _fresh_process()
    pd.testing.assert_frame_equal(load_wards(), parsed)
    assert shapely.equals_exact(resolve_area("London").geometry, first.geometry, 0)
    assert areas.ward_areas_km2(first.ward_codes) == pytest.approx(
        parsed["area_km2"].sum())
    # a changed boundary file has a cache of its own, even one edited in place
    # keeping its size and modification time (the cache had been keyed on them,
    # and served the old wards under the new file's fingerprint)
    import os

    st = os.stat(path)
    with open(path, "rb") as f:
        raw = f.read()
    assert b"Zoo Two" in raw
    with open(path, "r+b") as f:
        f.write(raw.replace(b"Zoo Two", b"Zoo Twx"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (
        st.st_size, st.st_mtime_ns)
    assert areas._boundary_cache(path) != folder
    _fresh_process()
    assert "Zoo Twx" in set(load_wards()["ward_name"])


@pytest.mark.shared
@pytest.mark.parametrize("text", [
    "Ham, Petersham & Richmond Riverside",
    "ham, petersham and richmond riverside, Richmond upon Thames",
    "Ham, Petersham & Richmond Riverside (Richmond upon Thames)",
])
def test_a_ward_name_holding_a_comma_resolves(shared_root, monkeypatch, text):
    """Some 2022 ward names hold a comma: the whole name is tried first, then
    'name, borough' split at the last comma (it had split at the first and
    suggested the very name given)."""
    monkeypatch.setenv("HOTSPOTS_DATA", str(shared_root))
    a = resolve_area(text)
    assert (a.kind, a.code) == ("ward", "E05013777")
    assert resolve_area("Abbey, Merton").code == "E05013810"
