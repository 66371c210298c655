"""Printed ward maps: pages, contents, counts and rates, and what a map must show
(every camera site and zone label inside the frame and not covered), on the zoo and
the shared data."""

from __future__ import annotations

import dataclasses
import json
import re

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pypdf import PdfReader
from typer.testing import CliRunner

from hotspots.analysis import analyse
from hotspots.areas import bng_xy, resolve_area
from hotspots.cli import app
from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.report import _pdf, wardmaps
from hotspots.report.wardmaps import MAP_FAMILIES, context_area, ward_maps

#: A ward population file for the zoo: Zoo One 5,000, Zoo Two 8,000 residents.
WARD_POPULATION = (
    "area_code,area_name,population,year,source\n"
    "E05000001,Zoo One,5000,2021,Test fixture\n"
    "E05000002,Zoo Two,8000,2021,Test fixture\n"
    "E09000024,Merton,13000,2021,Test fixture\n"
)


def _pages(path) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in PdfReader(path).pages]


# -- what a map must show: a check on the drawn artists ---------------------------
def covering(ax, xy, zorder) -> list:
    """Artists drawn after (above) ``zorder`` whose drawn shape holds the display
    point ``xy``."""
    from matplotlib.axis import Axis
    from matplotlib.backend_bases import MouseEvent
    from matplotlib.spines import Spine
    from matplotlib.text import Text

    fig = ax.figure
    r = fig.canvas.get_renderer()
    ev = MouseEvent("motion_notify_event", fig.canvas, *xy)
    out = []
    for a in ax.get_children():
        if (a is ax.patch or isinstance(a, Spine | Axis) or not a.get_visible()
                or a.get_zorder() <= zorder):
            continue
        if isinstance(a, Text):
            if a.get_text() and a.get_window_extent(r).contains(*xy):
                out.append(a)
        elif a.contains(ev)[0]:
            out.append(a)
    return out


def check_visible(fig) -> dict:
    """Every camera site and zone label of the map inside its frame and covered by
    nothing drawn above it; zone labels clear of ward names. Returns what was
    checked."""
    from matplotlib.text import Text

    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    checked = {"cameras": 0, "zone_labels": 0}
    for ax in fig.axes:
        frame = ax.get_window_extent(r)
        texts = [a for a in ax.get_children() if isinstance(a, Text)]
        wards = [t.get_window_extent(r) for t in texts if t.get_gid() == "ward-name"]
        for coll in ax.collections:
            if coll.get_gid() != "camera-site":
                continue
            for xy in ax.transData.transform(coll.get_offsets()):
                assert frame.contains(*xy), "a camera site outside the frame"
                assert covering(ax, xy, coll.get_zorder()) == [], \
                    "a camera site is covered"
                checked["cameras"] += 1
        for t in texts:
            if t.get_gid() != "zone-label":
                continue
            bb = t.get_window_extent(r)
            assert (frame.x0 <= bb.x0 and bb.x1 <= frame.x1 and frame.y0 <= bb.y0
                    and bb.y1 <= frame.y1), f"zone label {t.get_text()} leaves frame"
            centre = ((bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2)
            assert covering(ax, centre, t.get_zorder()) == [], \
                f"zone label {t.get_text()} is covered"
            assert not any(bb.overlaps(w) for w in wards), \
                f"zone label {t.get_text()} over a ward name"
            checked["zone_labels"] += 1
    return checked


# -- the zoo ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def zoo_maps(tmp_path_factory):
    """The zoo's Merton booklet, with a zone, a camera and ward populations: printed
    once for the tests that only read it (``report_env``'s steps, module-wide)."""
    from hotspots.ingest import ingest
    from hotspots.store import Store
    from tests.conftest import ZOO_WARDS, csv_bytes, street_row
    from tests.report.conftest import ZOO_ROWS

    tmp = tmp_path_factory.mktemp("zoo_maps")
    root = tmp / "data"
    (root / "boundaries").mkdir(parents=True)
    (root / "crimes").mkdir()
    (root / "population").mkdir()
    (root / "population" / "wards.csv").write_text(WARD_POPULATION)
    gpd.GeoDataFrame(
        [{"WD22CD": c, "WD22NM": n, "LAD22CD": lad, "LAD22NM": b,
          "geometry": shapely.MultiPolygon([shapely.box(x, y, x + 0.01, y + 0.01)])}
         for c, n, lad, b, (x, y) in ZOO_WARDS], crs=4326,
    ).to_file(root / "boundaries" / "london_wards_2022.gpkg",
              layer="london_wards_2022")
    for p in pd.period_range("2020-07", "2022-06", freq="M"):
        month = str(p)
        (root / "crimes" / f"{month}-metropolitan-street.csv").write_bytes(
            csv_bytes([street_row(i, month=month, crime_type=t, location=loc, **pt)
                       for i, t, pt, loc in ZOO_ROWS.get(month, [])]))
    zones = gpd.GeoDataFrame({"zone": [1]}, geometry=[shapely.box(
        -0.199, 51.401, -0.191, 51.409)], crs=4326)
    sites = gpd.GeoDataFrame({"site": [1]}, geometry=[shapely.Point(-0.195, 51.405)],
                             crs=4326)
    env = {"HOTSPOTS_DATA": str(root), "HOTSPOTS_CACHE": str(tmp / "cache"),
           "HOTSPOTS_STORE": str(tmp / "store")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        store = Store.open(tmp / "store")
        ingest(root=root, store=store)
        wm = ward_maps("Merton", tmp / "maps", "robbery", "2021-07", "2022-06",
                       zones=zones, sites=sites, store=store)
    return wm, store, env


@pytest.fixture
def zoo(zoo_maps, monkeypatch):
    """The zoo booklet, with the zoo's environment set for this test only."""
    wm, store, env = zoo_maps
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return wm, store


def test_one_pdf_per_ward_and_a_booklet_numbered(zoo):
    wm, _ = zoo
    assert wm.wards == ("Zoo One", "Zoo Two")
    assert [p.rsplit("/", 1)[-1] for p in wm.pdfs] == ["zoo-one-E05000001.pdf",
                                                       "zoo-two-E05000002.pdf"]
    book = _pages(wm.booklet)
    assert len(book) == 5  # a cover with the borough map and index, then 2 a ward
    assert "Merton ward maps: robbery hot spots" in book[0]
    assert "1. Zoo One: pages 2–3" in book[0] and "2. Zoo Two: pages 4–5" in book[0]
    # "page N of M" on every page: the booklet's, cover included, and each ward's
    for k, page in enumerate(book, start=1):
        assert f"Merton ward maps, page {k} of 5" in page
    for path, name in zip(wm.pdfs, wm.wards, strict=True):
        single = _pages(path)
        assert [f"{name}, page {k} of 2" in p for k, p in enumerate(single, 1)] == \
            [True, True]
    # the booklet's pages are the wards' pages (up to time stamp and page label)
    label = re.compile(r"(Merton ward maps|Zoo Two), page \d of \d")
    for a, b in zip(book[3:], _pages(wm.pdfs[1]), strict=True):
        assert label.sub("", a.split("Produced by")[0]) == \
            label.sub("", b.split("Produced by")[0])
    doc = wm.to_json()
    assert doc["pdfs"] == list(wm.pdfs) and doc["from"] == "2021-07"
    assert doc["synthetic_share"] == 0.0


def test_map_page_has_what_a_printed_map_needs(zoo):
    wm, _ = zoo
    one = _pages(wm.pdfs[0])
    page = one[0]
    assert "Zoo One ward (Merton): robbery hot spots" in page
    assert "Jul 2021 to Jun 2022" in page  # the period
    for label in ("Hot spot, 95 % confidence", "Not significant",
                  "Cold spot, 99 % confidence", "Neighbouring wards",
                  "Hot or cold cell outside the ward (hatched)",
                  "Street names (police.uk map points)",
                  "Surge patrol zone", "Camera site", " N "):
        assert label in page
    assert "Zoo Two" in page and "Zoo Three" in page  # neighbours named
    # a street of the neighbouring ward, named from its police.uk map point
    assert "East Lane" in page
    assert re.search(r"\b0 \d+ k?m\b", page)  # the scale bar
    assert "Open Government Licence v3.0" in page
    assert "Contains OS data © Crown copyright and database right" in page
    assert "ONS Open Geography Portal" in page
    # top streets, numbered (ties by name), a $ printed as a dollar (no mathtext)
    assert "1. On or near $ Street: 1 2. On or near Zoo Road: 1" in page
    # the note naming the analysis drawn
    assert re.search(r"Analysis drawn: Getis-Ord Gi\* of robbery, Jul 2021 to Jun "
                     r"2022, on H3 resolution 9 cells \(about 0\.105 km² a cell\), "
                     r"[\d,]+ conditional permutations \(seed 20220505\), "
                     r"Benjamini–Hochberg false discovery rate; study area Merton "
                     r"and neighbouring wards\.", page)
    assert "one London-wide analysis" in page
    assert "SEMI-SYNTHETIC" not in " ".join(one)


def test_counts_page_with_rates_per_1000(zoo):
    wm, store = zoo
    c = wm.counts.set_index(["ward_code", "crime"])
    for code in ("E05000001", "E05000002"):
        for fam in MAP_FAMILIES:
            cur = count_offences(code, fam, "month", "2021-07", "2022-06", store=store)
            if cur.missing or cur.partial:  # no count of part of a year
                assert c.loc[(code, fam), "current"] is pd.NA
            else:
                assert c.loc[(code, fam), "current"] == cur.total
    # Zoo One robbery: r3, r4 (2022-06) against r0 (2020-07) and r1 (2021-06)
    assert c.loc[("E05000001", "robbery"), "previous"] == 2
    page = _pages(wm.pdfs[0])[1]
    assert "Zoo One ward (Merton): offences and top streets" in page
    # Zoo One: 2 robberies for 5,000 residents = 0.4 per 1,000; Merton: 3 (r2 in
    # Zoo Two, r3, r4) for 13,000 = 0.23, printed 0.2
    assert "Robbery 2 2 no change 3 66.7% 0.4 0.2" in page
    assert "Ward per 1,000 residents" in page and "Borough per 1,000 residents" in page
    assert "Residents: ward 5,000; borough 13,000" in page
    assert "best-fit" in page  # the ward populations' caveat


def test_rates_without_a_population_file(report_env, tmp_path):
    _, store = report_env
    wm = ward_maps("Zoo One", tmp_path / "m", "robbery", "2021-07", "2022-06",
                   store=store)
    page = _pages(wm.pdfs[0])[1]
    assert "Robbery 2 2 no change 2 100.0% n/a n/a" in page
    assert "no population file" in page


def _hot_plan(store, **layers):
    """The Zoo One plan with hand-set bins: cells in the ward 95 % hot, cells
    outside it alternately 99 % hot and 90 % hot."""
    an = analyse(context_area(resolve_area("Zoo One")), "robbery", "2021-07",
                 "2022-06", store=store)
    ward = resolve_area("Zoo One").geometry
    inside = an.cells.to_crs(27700).centroid.to_crs(4326).within(ward).to_numpy()
    table = an.table.copy()
    table["bin"] = [2 if i else (3 if k % 2 else 1) for k, i in enumerate(inside)]
    an = type(an).from_table(an.study, table, an.metadata)
    return wardmaps._plan("Zoo One", "robbery", None, None, res=9, analysis=an,
                          store=store, progress=None, **layers), inside


def _ward_row(plan):
    return next(plan.mine.itertuples(index=False))


def test_cells_outside_the_ward_are_hatched_not_faded(report_env):
    _, store = report_env
    plan, inside = _hot_plan(store, zones=None, sites=None)
    fig, _ = wardmaps._map_page(plan, _ward_row(plan), "period", 1, 1)
    ax = fig.axes[0]
    solid, hatched = set(), set()
    import matplotlib.colors as mc

    for coll in ax.collections:
        if coll.get_hatch():
            assert [mc.to_hex(f) for f in coll.get_facecolors()] == \
                ["#ffffff"] * len(coll.get_facecolors())
            hatched |= {mc.to_hex(e) for e in coll.get_edgecolors()}
        elif coll.get_zorder() == _pdf.Z["cells"]:
            solid |= {mc.to_hex(f) for f in coll.get_facecolors()}
            assert coll.get_alpha() == 0.9
    # only the ward's own bin is a solid fill; the 99 % and 90 % cells outside are
    # hatched in their own colours
    assert solid == {_pdf.BIN_COLOURS[2]}
    assert hatched == {_pdf.BIN_COLOURS[3], _pdf.BIN_COLOURS[1]}
    assert (~inside).sum() >= 2
    _pdf.plt.close(fig)


def test_camera_sites_and_zone_labels_inside_and_visible(report_env):
    _, store = report_env
    # a camera on the numbered streets' own point (both top streets are there), one
    # in the ward's corner under the scale bar; a zone reaching far out of the map
    # (its middle off the page) and one over the neighbouring ward's name
    sites = gpd.GeoDataFrame({"site": ["C1.1", "C1.2"]}, geometry=[
        shapely.Point(-0.195, 51.405), shapely.Point(-0.1995, 51.4003)], crs=4326)
    zones = gpd.GeoDataFrame({"zone": ["Z01", "Z02"]}, geometry=[
        shapely.box(-0.199, 51.401, -0.150, 51.403),
        shapely.box(-0.199, 51.4101, -0.191, 51.4112)], crs=4326)
    plan, _ = _hot_plan(store, zones=zones, sites=sites)
    fig, _ = wardmaps._map_page(plan, _ward_row(plan), "period", 1, 1)
    assert check_visible(fig) == {"cameras": 2, "zone_labels": 2}
    ax = fig.axes[0]
    # the zone reaching out of the map is labelled on the map
    z1 = next(t for t in ax.texts if t.get_gid() == "zone-label"
              and t.get_text() == "Z01")
    assert z1.get_text() == "Z01"
    # the numbered street markers are visible too: off the camera, not under it
    markers = [t for t in ax.texts if t.get_gid() == "street-number"]
    assert sorted(t.get_text() for t in markers) == ["1", "2"]
    r = fig.canvas.get_renderer()
    for t in markers:
        bb = t.get_window_extent(r)
        assert covering(ax, ((bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2),
                        t.get_zorder()) == []
    _pdf.plt.close(fig)


def test_road_names_from_os_open_roads_when_fetched(report_env, tmp_path):
    root, store = report_env
    x, y = bng_xy([-0.199, -0.191], [51.4065, 51.4065])
    roads = gpd.GeoDataFrame(
        {"name_1": ["Zoo Avenue"], "road_classification": ["A Road"]},
        geometry=[shapely.LineString([(x[0], y[0]), (x[1], y[1])])], crs=27700)
    (root / "roads").mkdir()
    roads.to_file(root / "roads" / "os_open_roads_london.gpkg", layer="road_link")
    wm = ward_maps("Zoo One", tmp_path / "m", "robbery", "2021-07", "2022-06",
                   store=store)
    page = _pages(wm.pdfs[0])[0]
    assert "Zoo Avenue" in page and "A road" in page
    assert "Roads: OS Open Roads. Contains OS data © Crown copyright" in page
    assert "East Lane" not in page  # the police.uk names are not used then


def test_context_area_adds_touching_wards(report_env):
    area = context_area(resolve_area("Zoo One"))
    # the 2 x 2 zoo: every other ward touches Zoo One (Zoo Four at a corner)
    assert area.ward_codes == ("E05000001", "E05000002", "E05000003", "E05000004")
    assert area.kind == "ward" and "neighbouring" in area.name


def test_rejects_areas_larger_than_a_borough(report_env, tmp_path):
    _, store = report_env
    with pytest.raises(ParameterError, match="needs to be a London borough or a 20"):
        ward_maps("SW", tmp_path, store=store)


def test_cli_maps_json_with_zones_and_cameras(report_env, tmp_path):
    res = CliRunner().invoke(app, ["maps", "--borough", "Zoo One", "--out",
                                   str(tmp_path / "m"), "--from", "2021-07", "--to",
                                   "2022-06", "--officer-hours", "20", "--cameras",
                                   "1", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["pdfs"]) == 1 and doc["pdfs"][0].endswith("zoo-one-E05000001.pdf")
    page = _pages(doc["pdfs"][0])[0]
    assert "Camera site" in page, page
    # --cameras 0: no camera sites drawn (as the brief takes it), not an error
    res = CliRunner().invoke(app, ["maps", "--borough", "Zoo One", "--out",
                                   str(tmp_path / "n"), "--from", "2021-07", "--to",
                                   "2022-06", "--officer-hours", "20", "--cameras",
                                   "0", "--json"])
    assert res.exit_code == 0, res.output
    page = _pages(json.loads(res.stdout)["pdfs"][0])[0]
    assert "Camera site" not in page


# -- the shared data ----------------------------------------------------------------
@pytest.fixture(scope="module")
def merton_2022(shared_store):
    """Merton's robbery analysis of 2022, its surge zones (60 h) and 4 cameras."""
    from hotspots.plan.cameras import site_cameras
    from hotspots.plan.patrols import plan_patrols

    an = analyse("Merton", "robbery", "2022-01", "2022-12", store=shared_store)
    return (an, plan_patrols(an, officer_hours=60).zones,
            site_cameras(an, cameras=4, rotations=1).sites)


@pytest.mark.shared
def test_shared_ward_map(shared_store, shared_root, merton_2022, tmp_path):
    an, zones, sites = merton_2022
    wm = ward_maps("Abbey (Merton)", tmp_path, "robbery", analysis=an, zones=zones,
                   sites=sites, store=shared_store)
    pages = _pages(wm.pdfs[0])
    assert len(pages) == 2
    assert "Abbey ward (Merton): robbery hot spots" in pages[0]
    assert "Jan 2022 to Dec 2022" in pages[0]
    assert ("Analysis drawn: Getis-Ord Gi* of robbery, Jan 2022 to Dec 2022, on H3 "
            "resolution 9 cells") in pages[0] and "study area Merton." in pages[0]
    # the hot spots are real robbery; the counts page includes semi-synthetic ASB
    assert "SEMI-SYNTHETIC" not in pages[0]
    assert "SEMI-SYNTHETIC DATA — not real police records" in pages[1]
    c = wm.counts.set_index("crime")
    for fam in MAP_FAMILIES:
        n = count_offences("E05013810", fam, "month", "2022-01", "2022-12",
                           store=shared_store).total
        assert c.loc[fam, "current"] == n
    # robbery's previous 12 months (2021) are mostly missing (2021-02…2021-12):
    # unknown, never a made-up zero
    assert c.loc["robbery", "previous"] is pd.NA
    robbery = int(c.loc["robbery", "current"])
    # the rate from the Census 2021 ward file, read here directly
    pop = pd.read_csv(shared_root / "population" /
                      "london_wards_2022_census2021_population.csv")
    residents = int(pop.loc[pop["area_code"] == "E05013810", "population"].iloc[0])
    rate = f"{1000 * robbery / residents:.1f}"
    assert re.search(rf"Robbery {robbery:,} n/a † n/a [\d,]+ [\d.]+% {rate} ",
                     pages[1]), pages[1][:600]
    assert "† No data (missing, not zero) for robbery 2021-02..2021-12" in pages[1]
    assert f"Residents: ward {residents:,}" in pages[1]
    all_crime = int(c.loc["all", "current"])
    assert f"All crime {all_crime:,}" in pages[1]


@pytest.mark.shared
def test_shared_ward_map_across_a_gap_counts_no_part_of_a_year(shared_store,
                                                               tmp_path):
    """Vehicle crime mid-2020 to mid-2022 across the 2021 gap: no 12-month count
    from 6 months, the gap named on both pages; the all-crime streets hold no
    (semi-synthetic) asb."""
    wm = ward_maps("Figge's Marsh", tmp_path, "vehicle", "2020-06", "2022-06",
                   res=9, store=shared_store)
    assert wm.to_json()["missing_months"] == [f"2021-{m:02d}" for m in range(2, 13)]
    c = wm.counts.set_index("crime")
    for fam in ("robbery", "vehicle", "all"):  # 2021-07…12 missing
        assert c.loc[fam, "current"] is pd.NA and \
            "2021-07..2021-12" in c.loc[fam, "missing_current"]
    assert c.loc["asb", "current"] == count_offences(
        "E05013814", "asb", "month", "2021-07", "2022-06", store=shared_store).total
    one, two = _pages(wm.pdfs[0])
    assert "Jun 2020 to Jun 2022 (no data 2021-02..2021-12)" in one
    assert "Robbery n/a † n/a † n/a n/a †" in two
    assert "vehicle crime 2021-07..2021-12" in two
    # the streets of all crime: 2022-01…06 (covered), notifiable types only
    street_rows = shared_store.offences(area="Figge's Marsh", crime="all",
                                        start="2022-01", end="2022-06")
    from hotspots.plan.streets import top_streets

    top = top_streets(street_rows, n=5)
    assert "Top streets: all crime, to Jun 2022 (no data 2021-07..2021-12)" in two
    first = top.iloc[0]
    assert f"1 {first['street']} {first['offences']}" in two, two[-900:]


@pytest.mark.shared
def test_shared_own_cameras_show_in_abbey_and_wimbledon_town(shared_store,
                                                             merton_2022):
    an, zones, sites = merton_2022
    for name in ("Abbey (Merton)", "Wimbledon Town & Dundonald (Merton)"):
        plan = wardmaps._plan(name, "robbery", None, None, res=9, zones=zones,
                              sites=sites, analysis=an, store=shared_store,
                              progress=None)
        ward = _ward_row(plan)
        # and a camera on the ward's busiest numbered street, the worst case
        top = wardmaps._ward_streets(plan, ward).dropna()
        extra = gpd.GeoDataFrame(geometry=gpd.points_from_xy(top["x"][:1],
                                                             top["y"][:1]),
                                 crs=27700).to_crs(4326)
        plan = dataclasses.replace(plan, sites=pd.concat(
            [plan.sites, extra.to_crs(27700)], ignore_index=True))
        fig, _ = wardmaps._map_page(plan, ward, "period", 1, 1)
        own = sites[sites["ward"] == ward.ward_name]
        checked = check_visible(fig)
        assert checked["cameras"] >= len(own) + 1
        assert sum(t.get_gid() == "street-name" for t in fig.axes[0].texts) >= 8
        _pdf.plt.close(fig)


@pytest.mark.shared
def test_shared_ward_without_residents_is_said_so(shared_store, tmp_path):
    """Bishopsgate (City) has no row in the ward population file: the page says
    the file gives it no residents, not that there is no population file."""
    wm = ward_maps("Bishopsgate", tmp_path, "robbery", "2022-01", "2022-12", res=9,
                   store=shared_store)
    page = _pages(wm.pdfs[0])[1]
    assert "the population file gives no residents for this ward" in page
    assert "no population file in the data root" not in page
