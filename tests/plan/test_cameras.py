"""NOMAD camera sites: MCLP (spopt) against brute force and greedy."""

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from hotspots.analysis import analyse
from hotspots.areas import load_wards, resolve_area
from hotspots.errors import ParameterError
from hotspots.plan.cameras import (
    council_cctv,
    greedy_cover,
    mclp_cover,
    site_cameras,
)
from tests.conftest import cli_json

# metres per degree near Wimbledon (for building offences at known distances)
M_LAT = 111_250.0
M_LON = 69_600.0
LON0, LAT0 = -0.195, 51.415


def offences_at(points: list[tuple[float, float, int]], month="2023-06"):
    """Offences at (east m, north m, n) offsets from a Wimbledon origin."""
    rows = []
    for i, (ex, ny, n) in enumerate(points):
        lon, lat = round(LON0 + ex / M_LON, 6), round(LAT0 + ny / M_LAT, 6)
        rows += [{"lon": lon, "lat": lat,
                  "location": f"On or near Street {i}", "crime_type": "Robbery",
                  "month": month, "synthetic": False}] * n
    return pd.DataFrame(rows)


def covered(d, w, chosen, radius):
    if not len(chosen):
        return 0.0
    return float(w[(d[:, chosen] <= radius).any(axis=1)].sum())


def brute(d, w, k, radius):
    return max(covered(d, w, list(c), radius)
               for c in itertools.combinations(range(d.shape[1]), k))


def test_mclp_beats_the_greedy_trap():
    # demand a' a | b b' on a line; M sees a and b, L sees a' and a, R sees b and b'
    xs_d = np.array([-150.0, 0.0, 180.0, 330.0])
    w = np.array([2.5, 3.0, 3.0, 2.5])
    xs_c = np.array([-75.0, 90.0, 255.0])  # L, M, R
    d = np.abs(xs_d[:, None] - xs_c[None, :])
    cover = [np.flatnonzero(d[:, j] <= 100) for j in range(3)]
    g = greedy_cover(cover, w, 2)
    m = mclp_cover(cover, w, 2)
    assert g[0] == 1 and covered(d, w, g, 100) == pytest.approx(8.5)
    assert m == [0, 2] and covered(d, w, m, 100) == pytest.approx(11.0)


def spopt_mclp(d, w, radius, k):
    """The library reference: spopt's MCLP on the dense distance matrix."""
    import pulp
    from spopt.locate import MCLP

    m = MCLP.from_cost_matrix(d, w, service_radius=radius, p_facilities=k)
    m = m.solve(pulp.PULP_CBC_CMD(msg=False))
    return [j for j, v in enumerate(m.fac_vars) if v.value() > 0.5]


def test_mclp_matches_spopt_and_brute_force_on_random_instances():
    rng = np.random.default_rng(11)
    for _ in range(12):
        nd, nc = int(rng.integers(4, 12)), int(rng.integers(3, 8))
        k = int(rng.integers(1, min(nc, 3) + 1))
        dem = rng.uniform(0, 500, (nd, 2))
        cand = rng.uniform(0, 500, (nc, 2))
        d = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
        w = rng.integers(1, 10, nd).astype(float)
        cover = [np.flatnonzero(d[:, j] <= 150) for j in range(nc)]
        chosen = mclp_cover(cover, w, k)
        assert len(chosen) == k
        best = brute(d, w, k, 150)
        assert covered(d, w, chosen, 150) == pytest.approx(best)
        assert covered(d, w, spopt_mclp(d, w, 150, k), 150) == pytest.approx(best)
        assert covered(d, w, greedy_cover(cover, w, k), 150) <= best + 1e-9


def test_mclp_matches_spopt_on_a_larger_instance():
    rng = np.random.default_rng(5)
    dem = rng.uniform(0, 2000, (300, 2))
    cand = dem[rng.choice(300, 60, replace=False)]
    d = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    w = rng.poisson(2.0, 300).astype(float)
    cover = [np.flatnonzero(d[:, j] <= 200) for j in range(60)]
    ours = covered(d, w, mclp_cover(cover, w, 5), 200)
    assert ours == pytest.approx(covered(d, w, spopt_mclp(d, w, 200, 5), 200))
    assert ours >= covered(d, w, greedy_cover(cover, w, 5), 200)


def clusters():
    """Three clusters of offences 600 m apart, 9, 6 and 4 offences."""
    return offences_at([(0, 0, 5), (30, 20, 4), (600, 0, 3), (620, 10, 3),
                        (0, 600, 4)])


def test_site_cameras_picks_the_clusters_in_order():
    plan = site_cameras(clusters(), cameras=2, rotations=2, start="2024-02-05",
                        wards=load_wards())
    s = plan.sites
    assert s["round"].tolist() == [1, 1, 2]  # round 2 has one cluster left
    assert "only 1 site still see" in plan.metadata["rounds"][1]["note"]
    assert s["covered_offences"].tolist() == [9, 6, 4]
    assert s["share"].sum() == pytest.approx(1.0)
    assert s["site"].tolist() == ["C1.1", "C1.2", "C2.1"]
    assert s["deploy_from"].tolist() == ["2024-02-05", "2024-02-05", "2024-03-04"]
    assert s["deploy_to"].iloc[0] == "2024-03-03"
    assert s["location"].iloc[0] == "On or near Street 0"
    assert s["ward"].iloc[0] is not None  # a real 2022 ward near Wimbledon
    for r in plan.metadata["rounds"]:
        if "method" in r:
            assert r["mclp_coverage"] >= r["greedy_coverage"] - 1e-9
    assert "Camera C1.1 (2024-02-05 to 2024-03-03)" in s["rationale"].iloc[0]


def test_the_radius_decides_what_a_site_sees():
    plan = site_cameras(clusters(), cameras=1, rotations=1, radius_m=20,
                        wards=load_wards())
    assert plan.sites["covered_offences"].tolist() == [5]
    wide = site_cameras(clusters(), cameras=1, rotations=1, radius_m=700,
                        wards=load_wards())
    assert wide.sites["covered_offences"].tolist() == [19]


def test_existing_cctv_is_excluded():
    cctv = gpd.GeoDataFrame(geometry=[shapely.Point(LON0, LAT0)], crs=4326)
    plan = site_cameras(clusters(), cameras=1, rotations=1, cctv=cctv,
                        wards=load_wards())
    assert plan.metadata["excluded_by_cctv"]["offences"] == 9
    assert plan.sites["covered_offences"].tolist() == [6]
    # a polygon view shed works too
    shed = gpd.GeoDataFrame(geometry=[shapely.Point(LON0, LAT0).buffer(0.002)],
                            crs=4326)
    plan = site_cameras(clusters(), cameras=1, rotations=1, cctv=shed,
                        wards=load_wards())
    assert plan.metadata["excluded_by_cctv"]["offences"] == 9


def _council_root(tmp_path, points, name="merton-council-cctv.geojson"):
    """A data root holding one council CCTV layer of camera points."""
    root = tmp_path / "data"
    (root / "cctv").mkdir(parents=True)
    gpd.GeoDataFrame(
        {"Camera_Number": [701 + i for i in range(len(points))],
         "Location": [f"Camera street {i}" for i in range(len(points))]},
        geometry=[shapely.Point(x, y) for x, y in points], crs=4326,
    ).to_file(root / "cctv" / name, driver="GeoJSON")
    (root / "cctv" / "README.txt").write_text("not a layer")
    return root


def test_council_cctv_layer_is_read_and_named(tmp_path):
    root = _council_root(tmp_path, [(LON0, LAT0), (LON0 + 0.001, LAT0)])
    c = council_cctv(root)
    assert c.layers == ({"council": "Merton",
                         "path": "cctv/merton-council-cctv.geojson", "cameras": 2},)
    assert c.cameras["camera"].tolist() == ["701", "702"]
    assert c.cameras["location"].iloc[1] == "Camera street 1"
    assert council_cctv(tmp_path / "nowhere") is None


def test_council_cctv_is_excluded_by_default_and_reported(tmp_path, monkeypatch):
    wards, merton = load_wards(), resolve_area("Merton")
    # one council camera on the 9-offence cluster (Merton, near Wimbledon)
    monkeypatch.setenv("HOTSPOTS_DATA", str(_council_root(tmp_path, [(LON0, LAT0)])))
    plan = site_cameras(clusters(), cameras=1, rotations=1, wards=wards)
    m = plan.metadata["council_cctv"]
    assert plan.sites["covered_offences"].tolist() == [6]  # the next cluster
    assert plan.metadata["excluded_by_cctv"]["offences"] == 9
    assert (m["used"], m["cameras"], m["watching_offences"]) == (True, 1, 1)
    assert (m["offences_watched"], m["share_watched"]) == (9, round(9 / 19, 4))
    assert m["within_area"] is None  # offences alone do not say the area
    note = plan.cctv_summary()[0]
    assert note.startswith("Council CCTV excluded: 1 Merton council camera;")
    assert "already watch 9 of the 19 (47.4 %)" in note
    assert "that no CCTV already watches" in plan.sites["rationale"].iloc[0]
    # with the area: which cameras stand in it
    inside = site_cameras(clusters(), cameras=1, rotations=1, wards=wards,
                          area=merton)
    assert inside.metadata["council_cctv"]["within_area"] == 1
    assert inside.metadata["council_cctv"]["cameras_within_area"] == [
        {"council": "Merton", "camera": "701", "location": "Camera street 0"}]
    # switched off: the cluster is back
    off = site_cameras(clusters(), cameras=1, rotations=1, wards=wards,
                       council_cctv=False)
    assert off.sites["covered_offences"].tolist() == [9]
    assert off.metadata["excluded_by_cctv"]["offences"] == 0
    # a council camera 2 km away watches nothing: not used, no note
    far = council_cctv(_council_root(tmp_path / "far", [(LON0 + 0.03, LAT0)]))
    plan = site_cameras(clusters(), cameras=1, rotations=1, wards=wards,
                        council_cctv=far)
    assert plan.metadata["council_cctv"]["used"] is False
    assert plan.cctv_summary() == []
    assert plan.sites["covered_offences"].tolist() == [9]


def test_own_and_council_layers_add_up(tmp_path):
    council = council_cctv(_council_root(tmp_path, [(LON0, LAT0)]))
    own = gpd.GeoDataFrame(geometry=[shapely.Point(LON0 + 600 / M_LON, LAT0)],
                           crs=4326)
    plan = site_cameras(clusters(), cameras=1, rotations=1, cctv=own,
                        council_cctv=council, wards=load_wards())
    assert plan.metadata["excluded_by_cctv"]["offences"] == 15  # 9 + 6
    assert plan.metadata["own_cctv"]["offences_watched"] == 6
    assert plan.sites["covered_offences"].tolist() == [4]
    assert len(plan.cctv_summary()) == 2


def test_a_custom_harm_table_reaches_the_camera_demand(tmp_path):
    """issue 15: the analysis' own harm table, not the shipped one, weighs demand."""
    from importlib import resources

    import h3

    from hotspots.analysis import analyse_study
    from hotspots.stats.harm import harm_table
    from hotspots.study import Study

    off = offences_at([(0, 0, 3), (800, 0, 2)])
    off.loc[off.index[:3], "crime_type"] = "Other theft"  # shipped: 1 vs 365 days
    off["h3_9"] = [h3.latlng_to_cell(la, lo, 9) for la, lo in
                   zip(off["lat"], off["lon"], strict=True)]
    text = resources.files("hotspots").joinpath("data/harm_weights.toml").read_text()
    path = tmp_path / "harm.toml"
    path.write_text(text.replace('"Robbery" = 365', '"Robbery" = 1'))
    study = Study.from_offences("Merton", off, weight="harm", harm=harm_table(path))
    an = analyse_study(study, inference="analytic")
    plan = site_cameras(an, cameras=1, rotations=1, wards=load_wards(),
                        council_cctv=False)
    # robbery now weighs 1 day: three other thefts outweigh two robberies
    assert plan.sites["covered_offences"].tolist() == [3]
    assert plan.metadata["harm_table"]["weights"]["Robbery"] == 1
    # and harm_path overrides it again
    plan = site_cameras(off, cameras=1, rotations=1, weight="harm",
                        harm_path=path, wards=load_wards(), council_cctv=False)
    assert plan.sites["covered_offences"].tolist() == [3]


def test_harm_weighting_changes_the_choice():
    off = offences_at([(0, 0, 3), (800, 0, 2)])
    off.loc[off.index[:3], "crime_type"] = "Other theft"  # harm 1 each; robbery 365
    by_count = site_cameras(off, cameras=1, rotations=1, weight="count",
                            wards=load_wards())
    by_harm = site_cameras(off, cameras=1, rotations=1, weight="harm",
                           wards=load_wards())
    assert by_count.sites["covered_offences"].tolist() == [3]
    assert by_harm.sites["covered_offences"].tolist() == [2]


@pytest.mark.parametrize("kwargs, match", [
    ({"cameras": 0}, "cameras must be a whole number ≥ 1"),
    ({"cameras": 2.5}, "cameras must be a whole number"),
    ({"cameras": 6}, "6 cameras asked for but only 5 candidate sites"),
    ({"cameras": 1, "radius_m": 0}, "radius_m must be > 0"),
    ({"cameras": 1, "candidates": "lamp posts"}, "candidates"),
    ({"cameras": 1, "weeks": 0}, "weeks and rotations"),
    ({"cameras": 1, "start": "next Monday"}, "start must be a date"),
    ({"cameras": 1, "council_cctv": "yes"}, "'council_cctv' needs to be True"),
    ({"cameras": 1, "cctv_radius_m": -5}, "cctv_radius_m must be > 0"),
])
def test_bad_requests_are_clear_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        site_cameras(clusters(), **kwargs)


@pytest.mark.shared
def test_merton_robbery_four_cameras(shared_store):
    an = analyse("Merton", "robbery", "2022-01", "2022-12", store=shared_store)
    plan = site_cameras(an, cameras=4, rotations=2)
    s = plan.sites
    assert (s["round"] == 1).sum() == 4 and (s["round"] == 2).sum() == 4
    assert s[["lon", "lat"]].drop_duplicates().shape[0] == 8  # no site reused
    for r in plan.metadata["rounds"]:
        assert r["method"] == "MCLP"
        assert r["mclp_coverage"] >= r["greedy_coverage"]
    # coverage recomputed from scratch: offences within 100 m of round-1 sites
    off = an.offences
    pts = gpd.GeoSeries(gpd.points_from_xy(off["lon"], off["lat"]), crs=4326
                        ).to_crs(27700)
    sites = s[s["round"] == 1].to_crs(27700).geometry
    seen = np.zeros(len(off), bool)
    for g in sites:
        seen |= (pts.distance(g) <= 100).to_numpy()
    assert s.loc[s["round"] == 1, "covered_offences"].sum() == seen.sum()
    assert plan.metadata["rounds"][0]["mclp_coverage"] == seen.sum()
    merton_wards = set(load_wards().query("borough == 'Merton'")["ward_name"])
    assert set(s["ward"]) <= merton_wards
    assert plan.metadata["synthetic_share"] == 0.0  # real robbery


@pytest.mark.shared
def test_cli_recommend_json(shared_store, monkeypatch):
    """The issue's request: 60 officer-hours and 4 NOMAD cameras in Merton."""
    doc = cli_json(monkeypatch, shared_store, [
        "recommend", "--area", "Merton", "--crime", "robbery", "--officer-hours",
        "60", "--cameras", "4", "--rotations", "1"])
    assert doc["patrols"] and sum(z["hours_per_week"] for z in doc["patrols"]) <= 60
    assert len(doc["cameras"]) == 4
    assert all(c["covered_offences"] > 0 for c in doc["cameras"])
    rnd = doc["camera_metadata"]["rounds"][0]
    assert rnd["mclp_coverage"] >= rnd["greedy_coverage"]
    assert doc["synthetic_share"] == 0.0  # real robbery
    for args, match in ((["--officer-hours", "0"], "> 0"),
                        (["--cameras", "100000"], "'--cameras' is at most 200"),
                        (["--area", "Narnia"], "Narnia")):
        err = cli_json(monkeypatch, shared_store, ["recommend", *args], code=2)
        assert match in err["error"]


@pytest.mark.shared
def test_kensington_and_chelsea_council_cameras_are_excluded(shared_store,
                                                              monkeypatch):
    """The issue's done-when: recommend in K&C reports the council cameras."""
    doc = cli_json(monkeypatch, shared_store, [
        "recommend", "--area", "Kensington and Chelsea", "--crime", "robbery",
        "--cameras", "4", "--rotations", "1"])
    m = doc["camera_metadata"]["council_cctv"]
    assert m["used"] is True and m["councils"] == ["Kensington and Chelsea"]
    assert m["cameras"] == 79  # cctv/PROVENANCE.md
    assert 70 <= m["within_area"] <= 79
    assert m["offences_watched"] == doc["camera_metadata"]["excluded_by_cctv"][
        "offences"] > 0
    assert m["note"].startswith("Council CCTV excluded: 79 Kensington and Chelsea")
    # recomputed here: offences within 100 m of a council camera
    an = analyse("Kensington and Chelsea", "robbery", doc["from"], doc["to"],
                 store=shared_store)
    cams = council_cctv().cameras.to_crs(27700)
    off = an.offences
    pts = gpd.GeoSeries(gpd.points_from_xy(off["lon"], off["lat"]), crs=4326
                        ).to_crs(27700)
    near = np.zeros(len(off), bool)
    for g in cams.geometry:
        near |= (pts.distance(g) <= 100).to_numpy()
    assert m["offences_watched"] == int(near.sum())
    # no chosen site stands within 100 m of a council camera
    sites = gpd.GeoSeries(gpd.points_from_xy([c["lon"] for c in doc["cameras"]],
                                             [c["lat"] for c in doc["cameras"]]),
                          crs=4326).to_crs(27700)
    assert all(cams.distance(s).min() > 100 for s in sites)
    off_doc = cli_json(monkeypatch, shared_store, [
        "recommend", "--area", "Kensington and Chelsea", "--crime", "robbery",
        "--cameras", "4", "--rotations", "1", "--no-council-cctv"])
    assert off_doc["camera_metadata"]["excluded_by_cctv"]["offences"] == 0
    assert off_doc["camera_metadata"]["council_cctv"]["used"] is False


def test_a_site_is_named_after_a_street_not_a_missing_name():
    """Three offences at a point with no recovered Location and one on a named
    street 40 m away: the site sees all four and is named after the street."""
    off = offences_at([(0, 0, 3), (40, 0, 1)])
    off.loc[:2, "location"] = "On or near "
    plan = site_cameras(off, cameras=1, rotations=1, council_cctv=False,
                        start="2024-02-05")
    site = plan.sites.iloc[0]
    assert site["covered_offences"] == 4
    assert site["location"] == "On or near Street 1"


def test_a_site_seeing_only_unnamed_points_takes_the_nearest_named_one():
    """Offences at an unnamed point, and a named street 200 m east (out of the
    100 m view): the site is 'near' that street, with the distance."""
    off = offences_at([(0, 0, 5), (200, 0, 1)])
    off.loc[:4, "location"] = ""
    plan = site_cameras(off, cameras=1, rotations=1, council_cctv=False,
                        start="2024-02-05")
    site = plan.sites.iloc[0]
    assert site["covered_offences"] == 5
    assert site["location"] == "near Street 1, 200 m"
