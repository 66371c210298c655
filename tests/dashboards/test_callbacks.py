"""The app's callbacks, called directly on the zoo store."""

from __future__ import annotations

import csv
import json
import re

import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from dashboards import callbacks as cb
from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.plan.streets import apostrophe_s
from tests.dashboards.conftest import EVIL_LOCATION, EVIL_WARD

ALL = None  # months: filled per test from the context


def _months(ctx):
    return [0, len(ctx.months) - 1]


def _feats(layer) -> list[dict]:
    """GeoJSON features of a packed map layer (as the browser unpacks it)."""
    return cb.unpack_layer(layer)["features"]


def _view(ctx, role="analyst", family="robbery", level=90, area="Merton"):
    return cb.view_payload(ctx, role, area, family, _months(ctx), 9, level, ["fdr"])


def test_view_payload_analyst_matches_the_store(ctx):
    p = _view(ctx)
    assert _feats(p["hexes"]), p["status"]
    props = _feats(p["hexes"])[0]["properties"]
    assert set(props) == {"id", "bin", "tooltip"}
    # every offence of the area is in some cell: the analysis counts agree
    df = ctx.store.offences(area="Merton", crime="robbery")
    cells, meta = ctx.cache.analysis(ctx.area("Merton"), "robbery", ctx.months[0],
                                     ctx.months[-1], res=9, permutations=99)
    assert int(cells["offences"].sum()) == len(df)
    # ranked rows are the hot cells, strongest first
    bins = {f["properties"]["id"]: f["properties"]["bin"]
            for f in _feats(p["hexes"])}
    assert [r["rank"] for r in p["rows"]] == list(range(1, len(p["rows"]) + 1))
    assert all(bins[r["id"]] > 0 for r in p["rows"])
    assert p["banner"] and "SEMI-SYNTHETIC" in p["banner"]
    minx, miny, maxx, maxy = ctx.area("Merton").geometry.bounds
    assert p["bounds"] == [[miny, minx], [maxy, maxx]]


def test_view_payload_partner_has_no_small_or_exact_counts(ctx):
    p = _view(ctx, role="partner")
    for f in _feats(p["hexes"]):
        assert set(f["properties"]) == {"id", "bin", "tooltip"}
        m = re.search(r"offences: (.*)$", f["properties"]["tooltip"])
        label = m.group(1)
        assert label == "fewer than 5" or re.fullmatch(r"about \d+", label)
        if label.startswith("about"):
            n = int(label.split()[1])
            assert n >= 5 and n % 5 == 0
    for r in p["rows"]:
        assert "z" not in r and "p_fdr" not in r
    assert "withheld" in p["status"]


def test_confidence_level_filters_bins(ctx):
    lo = _feats(_view(ctx, level=90)["hexes"])
    hi = _feats(_view(ctx, level=99)["hexes"])
    b90 = {f["properties"]["id"]: f["properties"]["bin"] for f in lo}
    b99 = {f["properties"]["id"]: f["properties"]["bin"] for f in hi}
    assert set(b90) == set(b99)
    assert all(abs(b) in (0, 3) for b in b99.values())
    assert all(b99[k] in (0, b90[k]) for k in b90)


def test_bad_controls_give_a_status_not_an_exception(ctx):
    p = cb.view_payload(ctx, "analyst", "Merton", "arson", [0, 1], 9, 90, [])
    assert p["hexes"] == cb.EMPTY
    assert "'family' needs to be one of" in p["status"]
    with pytest.raises(ParameterError, match="'res' needs to be one of"):
        cb.parse_view(ctx, "Merton", "robbery", [0, 1], 11, 90, [])
    with pytest.raises(ParameterError, match="'months' needs two month indices"):
        cb.parse_view(ctx, "Merton", "robbery", None, 9, 90, [])
    # a negative index is not the last month (it had read as one)
    for months in ([-1, 2], [0, len(ctx.months)], ["a", 1]):
        with pytest.raises(ParameterError, match="'months' needs two month indices"):
            cb.parse_view(ctx, "Merton", "robbery", months, 9, 90, [])
        assert cb.period_text(ctx, months) == ""
    for res in (None, "abc", [9]):
        with pytest.raises(ParameterError, match="'res' needs to be one of"):
            cb.parse_view(ctx, "Merton", "robbery", [0, 1], res, 90, [])


def test_london_fine_resolution_is_capped_and_significant_only(ctx):
    v = cb.parse_view(ctx, "London", "robbery", [0, 3], 10, 95, ["fdr"])
    assert v.res == 9 and v.significant_only
    # London at r9 draws the cells with offences or a significant result, and
    # only significant cells carry hover text
    p = cb.view_payload(ctx, "analyst", "London", "robbery", _months(ctx), 9, 90,
                        [])
    cells, _ = ctx.cache.analysis(ctx.area("London"), "robbery", ctx.months[0],
                                  ctx.months[-1], res=9, correction="none",
                                  permutations=99)
    keep = cells[(cells["offences"] > 0) | (cells["bin"] != 0)]
    drawn = {f["properties"]["id"]: f["properties"] for f in _feats(p["hexes"])}
    assert set(drawn) == set(keep["h3"])
    assert all(("tooltip" in q) == (q["bin"] != 0) for q in drawn.values())
    assert any("too fine" in n for n in v.notes)
    assert cb.parse_view(ctx, "Merton", "robbery", [0, 3], 9, 95, []).correction \
        == "none"


def test_points_for_analysts_only_and_escaped(ctx):
    v = cb.parse_view(ctx, "Merton", "all", _months(ctx), 9, 90, [])
    pts, _ = cb.point_layer(ctx, "analyst", v)
    df = ctx.store.offences(area="Merton", crime="all")  # all crime: ASB apart
    assert sum(f["properties"]["n"] for f in pts["features"]) == len(df)
    tips = " ".join(f["properties"]["tooltip"] for f in pts["features"])
    assert "&lt;script&gt;" in tips and "<script" not in tips and "<img" not in tips
    assert cb.point_layer(ctx, "partner", v) == (cb.EMPTY, "")


def test_ward_tooltips_escape_names_and_labels_carry_text(ctx):
    p = _view(ctx, area="Merton")
    tips = [f["properties"]["tooltip"] for f in _feats(p["wards"])]
    assert any("Zoo &lt;b&gt;Two&lt;/b&gt; &amp; &quot;Co&quot;" in t for t in tips)
    assert not any("<b>Two</b>" in t for t in tips)
    # labels are set with textContent in the browser: the plain name travels
    labels = cb.label_layer(ctx, "Merton")["features"]
    wards = sorted(f["properties"]["label"] for f in labels
                   if f["properties"]["kind"] == "ward")
    assert wards == sorted(["Zoo One", EVIL_WARD])


def test_ward_panel_counts_and_change(ctx):
    end = ctx.months[-1]
    d = cb.ward_panel(ctx, "analyst", "E05000001", "robbery", _months(ctx))
    df = ctx.store.offences(area="E05000001")
    p = pd.Period(end, freq="M")
    last = df[(df["month"] > str(p - 12)) & (df["month"] <= end)]
    prev = df[(df["month"] > str(p - 24)) & (df["month"] <= str(p - 12))]
    rows = {r["family"]: r for r in d["families"]}
    n_last = int((last["crime_type"] == "Robbery").sum())
    n_prev = int((prev["crime_type"] == "Robbery").sum())
    assert rows["robbery"]["last12"] == f"{n_last:,}"
    assert rows["robbery"]["previous12"] == f"{n_prev:,}"
    assert rows["robbery"]["change"] == f"{(n_last - n_prev) / n_prev:+.0%}"
    notifiable = last["crime_type"] != "Anti-social behaviour"
    assert rows["all"]["last12"] == f"{int(notifiable.sum()):,}"
    # the script Location is passed as plain text (React renders it as text)
    assert EVIL_LOCATION in [s["street"] for s in d["streets"]]
    assert d["banner"] and d["name"] == "Zoo One"
    assert cb.ward_panel(ctx, "analyst", None, "robbery", [0, 1]) is None


def test_ward_panel_partner_is_disclosure_controlled(ctx):
    d = cb.ward_panel(ctx, "partner", "E05000002", "asb", _months(ctx))
    assert d["name"] == EVIL_WARD
    rows = {r["family"]: r for r in d["families"]}
    for fam, r in rows.items():
        for k in ("last12", "previous12"):
            if fam == "burglary":  # the zoo has no burglary file: not zero
                assert r[k] == "missing"
            else:
                assert r[k] == "fewer than 5" or re.fullmatch(r"about \d+", r[k])
    assert rows["burglary"]["change"] == "n/a (months missing)"
    for s in d["streets"]:
        assert re.fullmatch(r"about \d+", s["count"])


def test_ward_at_a_click(ctx):
    assert cb.ward_at(ctx, {"latlng": {"lat": 51.405, "lng": -0.195}}) == "E05000001"
    assert cb.ward_at(ctx, {"latlng": [51.415, -0.185]}) == "E05000004"
    assert cb.ward_at(ctx, {"latlng": {"lat": 52.0, "lng": 0.5}}) is None
    assert cb.ward_at(ctx, {"nonsense": 1}) is None


def test_highlight_a_hex_row():
    cell = h3.latlng_to_cell(51.405, -0.195, 9)
    data, bounds = cb.highlight([{"id": cell, "_kind": "hex"}])
    ring = data["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 7
    (s, w), (n, e) = bounds
    assert s < 51.405 < n and w < -0.195 < e
    assert cb.highlight([]) == (cb.EMPTY, None)
    assert cb.highlight([{"id": "not-a-cell", "_kind": "hex"}]) == (cb.EMPTY, None)


def test_table_columns_by_role():
    a = [c["field"] for c in cb.table_columns("hotspots", "analyst")]
    p = [c["field"] for c in cb.table_columns("hotspots", "partner")]
    assert "z" in a and "z" not in p and "p_fdr" not in p
    with pytest.raises(ParameterError, match="'kind' needs to be one of"):
        cb.table_columns("streets", "analyst")


def test_tasking_is_for_analysts(ctx):
    out = cb.tasking_payload(ctx, "partner", "Merton", "robbery", [0, 3], 9, 90,
                             [], 100, 3, 150)
    assert out["zones"] == cb.EMPTY and out["sites"] == cb.EMPTY
    bad = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", [0, 3], 9, 90,
                             [], -5, 3, 150)
    assert "≥ 0" in bad["note"]


def test_exports(ctx):
    args = ("Merton", "robbery", _months(ctx), 9, 90, ["fdr"])
    text, name = cb.export_csv(ctx, "analyst", *args)
    header = text.splitlines()[0].split(",")
    assert {"h3", "offences", "z", "p_fdr", "bin", "synthetic_share"} <= set(header)
    assert name.endswith(".csv") and "partner" not in name
    ptext, pname = cb.export_csv(ctx, "partner", *args)
    pheader = ptext.splitlines()[0].split(",")
    assert "z" not in pheader and "offences" not in pheader and "gistar" not in pheader
    assert pname.endswith("_partner.csv")
    # the zoo's robbery is partly semi-synthetic: every row says so in words
    for t in (text, ptext):
        rows = list(csv.DictReader(t.splitlines()))
        assert rows and all(r["data"].startswith("SEMI-SYNTHETIC") for r in rows)
    gj, _ = cb.export_geojson(ctx, "partner", *args)
    doc = json.loads(gj)
    assert doc["metadata"]["includes_synthetic"] is True  # whether, not how much
    assert doc["metadata"]["disclosure"].startswith("Counts below 5")
    pdf, pdfname = cb.export_pdf(ctx, "analyst", *args)
    assert pdf[:5] == b"%PDF-" and pdfname.endswith(".pdf")


def test_area_options_resolve(ctx):
    opts = cb.area_options(ctx.wards())
    values = [o["value"] for o in opts]
    assert values[0] == "London" and "SW" in values and "Merton" in values
    for v in values:  # every option is an area the package accepts
        assert ctx.area(v).name


def test_precompute_fills_the_cache(ctx):
    from hotspots.cache import CACHE_DIR

    n = cb.precompute(ctx, ["Merton"])
    assert n == 2 * len(cb.FAMILIES)
    before = len(list((ctx.store.path / CACHE_DIR / "gistar").glob("*.parquet")))
    i, j = cb.default_months(ctx, "robbery")
    cb.view_payload(ctx, "analyst", "Merton", "asb", [i, j], 9, 95, [])
    after = len(list((ctx.store.path / CACHE_DIR / "gistar").glob("*.parquet")))
    assert after == before  # the view was served from the precomputed cache


def test_ward_panel_emerging_matches_the_package(ctx):
    import numpy as np
    import shapely

    from hotspots.spacetime import emerging_hotspots

    d = cb.ward_panel(ctx, "analyst", "E05000001", "all", _months(ctx))
    e = emerging_hotspots("Merton", "all", ctx.months[0], ctx.months[-1],
                          store=ctx.store)
    ward = ctx.wards().set_index("ward_code").geometry["E05000001"]
    centres = np.array([h3.cell_to_latlng(c) for c in e.cells["h3"]])
    inside = shapely.contains_xy(ward, centres[:, 1], centres[:, 0])
    cats = e.cells.loc[inside, "category"].value_counts()
    assert cats.sum() > 0
    for cat, n in cats.items():
        if cat == "no pattern detected":
            assert (f"no pattern in {n}" in d["emerging"]
                    or d["emerging"] == f"no pattern detected ({n} cells)")
        else:
            assert f"{cat} ({n} cell" in d["emerging"]
    short = cb.ward_panel(ctx, "analyst", "E05000001", "all", [3, 4])
    assert short["emerging"] == "needs at least 3 months"


@pytest.mark.shared
def test_ward_panel_streets_leave_out_months_without_data(shared_store):
    """A City ward's robbery streets over 2022 leave out 2022-06, which the City
    of London Police filed nothing for (the Met's and British Transport Police's
    rows in the City that month had been listed, beside a count of n/a)."""
    from hotspots.plan.streets import street_name

    ctx = cb.AppContext.open(shared_store)
    months = list(ctx.months)
    ij = [months.index("2022-01"), months.index("2022-12")]
    df = shared_store.offences(area="City of London", crime="robbery",
                               start="2022-01", end="2022-12",
                               columns=["ward_code", "location", "month"])
    june = df[df["month"] == "2022-06"]
    assert len(june), "no rows in the City in 2022-06 to leave out"
    code = june["ward_code"].value_counts().index[0]
    mine = df[(df["ward_code"] == code) & (df["month"] != "2022-06")]
    want = mine["location"].map(street_name).value_counts()
    panel = cb.ward_panel(ctx, "analyst", code, "robbery", ij)
    got = {r["street"]: int(r["count"].replace(",", "")) for r in panel["streets"]}
    assert got == {k: int(want[k]) for k in got}
    assert sum(got.values()) == int(want.head(len(got)).sum())


@pytest.mark.shared
def test_tasking_layers_on_the_shared_data(shared_store):
    ctx = cb.AppContext.open(shared_store)
    months = list(ctx.months)
    ij = [months.index("2022-01"), months.index("2022-12")]
    out = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", ij, 9, 95,
                             ["fdr"], 60, 4, 100)
    assert "patrols:" not in out["note"] and "cameras:" not in out["note"]
    zones, sites = out["rows"]["zones"], out["rows"]["sites"]
    assert out["note"].startswith(f"plan uses {out['budget']['used']:.1f} of 60 ")
    assert zones and sum(z["hours"] for z in zones) <= 60
    assert [s["rank"] for s in sites] == [1, 2, 3, 4]
    assert len(out["sites"]["features"]) == 4
    assert all(f["properties"]["radius"] == 100 for f in out["sites"]["features"])
    # a picked zone or site row highlights on the map
    for row in (zones[0], sites[0]):
        layer, bounds = cb.highlight([row])
        assert layer["features"] and bounds[0][0] < bounds[1][0]
        # drawn as an outline: a site's point is ringed
        assert layer["features"][0]["geometry"]["type"] in ("Polygon",
                                                            "MultiPolygon")
    # the same request again is served from the cache (no second solve)
    again = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", ij, 9, 95,
                               ["fdr"], 60, 4, 100)
    assert again is out
    # London-wide tasking is refused with a reason, not a hang
    london = cb.tasking_payload(ctx, "analyst", "London", "robbery", ij, 8, 95,
                                ["fdr"], 60, 4, 100)
    assert "BCU, borough or ward" in london["note"]
    # the ward panel: 2021's robbery months are missing, not zero
    panel = cb.ward_panel(ctx, "analyst", "E05013810", "robbery", ij)
    rob = {r["family"]: r for r in panel["families"]}["robbery"]
    assert rob["previous12"] == "n/a (1/12 months with data)"  # no part-year count
    assert "months" not in rob["last12"]  # 2022: every Met month is there
    assert rob["change"] == "n/a (months missing)"
    # a budget larger than the hot zones need: the rest is explained, not silent
    for hours in (120, 400):
        big = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", ij, 9, 95,
                                 ["fdr"], hours, 4, 100)
        if big["budget"]["unused"] > 0.05 * hours:
            assert big["budget"]["why"] and big["budget"]["why"] in big["note"]
    zero = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", ij, 9, 95,
                              ["fdr"], 0, 0, 100)
    assert "budget must be > 0" in zero["note"] and zero["rows"]["sites"] == []


# -- search, labels, tiles ----------------------------------------------------------
def test_search_finds_a_place_named_by_its_streets(ctx):
    from tests.dashboards.conftest import MITCHAM_STREETS

    opts = cb.search_options(ctx, "Mitcham")
    assert opts, "Mitcham found nothing"
    pick = cb.parse_pick(opts[0]["value"])
    assert pick.kind == "place" and "Mitcham" in pick.label
    # the view analyses the borough the place lies in, and frames the place
    assert pick.area == "Wandsworth"
    (s, w), (n, e) = pick.bounds
    for _, lon, lat in MITCHAM_STREETS:
        assert s <= lat <= n and w <= lon <= e
    p = cb.view_payload(ctx, "analyst", opts[0]["value"], "robbery", _months(ctx),
                        9, 90, [])
    assert p["bounds"] == pick.bounds and "Mitcham" in p["title"]
    assert p["title"].startswith("Wandsworth:")
    # the chosen value keeps its option while the user types something else
    again = cb.search_options(ctx, "zz", current=opts[0]["value"])
    assert opts[0]["value"] in [o["value"] for o in again]
    # areas are found by name too, as plain area values
    assert "Merton" in [o["value"] for o in cb.search_options(ctx, "Mert")]


def test_pick_values_round_trip_and_reject_junk():
    v = cb.encode_pick("street", "A <b> Road", "Merton", [-0.2, 51.4, -0.19, 51.41])
    p = cb.parse_pick(v)
    assert (p.kind, p.label, p.area) == ("street", "A <b> Road", "Merton")
    assert p.bounds == [[51.4, -0.2], [51.41, -0.19]]
    assert cb.parse_pick("Merton") == cb.Pick("Merton")
    with pytest.raises(ParameterError, match="'area' needs to be an area or a "
                                             "search result"):
        cb.parse_pick("@not json")


def test_street_labels_come_from_the_map_points(ctx):
    feats = cb.label_layer(ctx, "Wandsworth")["features"]
    streets = {f["properties"]["label"] for f in feats
               if f["properties"]["kind"] == "street"}
    assert {"Mitcham Lane", "Mitcham Road", "Mitcham Park"} <= streets
    # at most STREET_LABELS_PER_WARD a ward, ranked from 1
    ranks = [f["properties"]["rank"] for f in feats
             if f["properties"]["kind"] == "street"]
    assert min(ranks) == 1 and max(ranks) <= cb.STREET_LABELS_PER_WARD


@pytest.mark.parametrize(
    ("value", "url", "attribution"),
    [("none", None, None), ("", None, None),
     ("osm", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "OpenStreetMap"),
     ("os:KEY1", "https://api.os.uk/maps/raster/v1/zxy/Light_3857/{z}/{x}/{y}.png"
                 "?key=KEY1", "Crown copyright"),
     ("http://tiles.internal/{z}/{x}/{y}.png", "http://tiles.internal/{z}/{x}/{y}"
                                               ".png", "Base map")],
    ids=["none", "empty", "osm", "os", "internal"])
def test_tiles(value, url, attribution, monkeypatch):
    from dashboards.app import resolve_tiles

    monkeypatch.delenv("HOTSPOTS_TILES_ATTRIBUTION", raising=False)
    spec = resolve_tiles(value)
    if url is None:
        assert spec is None
    else:
        assert spec["url"] == url and attribution in spec["attribution"]


def test_tiles_default_is_none_and_bad_values_say_so(monkeypatch):
    from dashboards.app import resolve_tiles

    monkeypatch.delenv("HOTSPOTS_TILES", raising=False)
    assert resolve_tiles(None) is None
    monkeypatch.setenv("HOTSPOTS_TILES", "osm")
    assert "openstreetmap" in resolve_tiles(None)["url"]
    with pytest.raises(ParameterError, match="'tiles' needs to be none, osm"):
        resolve_tiles("tiles.example/map.png")
    monkeypatch.delenv("HOTSPOTS_OS_KEY", raising=False)
    with pytest.raises(ParameterError, match="OS Maps API needs a key"):
        resolve_tiles("os")


# -- the hot-spot table and empty views -----------------------------------------------
def test_hot_rows_name_ward_and_busiest_street(ctx):
    args = ("Merton", "robbery", _months(ctx), 9, 90, [])
    p = cb.view_payload(ctx, "analyst", *args)
    rows = cb.hot_rows(ctx, "analyst", *args, p["rows"])
    assert rows and len(rows) == len(p["rows"])
    df = ctx.store.offences(area="Zoo One", crime="robbery",
                            columns=["h3_9", "location"])
    df = pd.concat([df, ctx.store.offences(area="E05000002", crime="robbery",
                                           columns=["h3_9", "location"])])
    wards = ctx.wards().set_index("ward_code")
    for r in rows:
        lat, lng = h3.cell_to_latlng(r["id"])
        pt = shapely.Point(lng, lat)
        inside = [n for n, g in zip(wards["ward_name"], wards.geometry, strict=True)
                  if g.covers(pt)]
        # the ward holding the cell's centre, else the nearest (an edge cell)
        nearest = wards["ward_name"].iloc[int(np.argmin(wards.distance(pt)))]
        assert r["ward"] in (inside or [nearest])
        mine = df[df["h3_9"] == r["id"]]["location"].str.replace("On or near ", "")
        if len(mine):  # the busiest, as people write it ("King's", not "King'S")
            top = mine.map(apostrophe_s).value_counts()
            assert top[r["street"]] == top.max()
        else:
            assert r["street"] == ""
    assert "King's Road" in {r["street"] for r in rows}


def test_a_view_with_no_hot_cell_says_why(ctx):
    p = cb.view_payload(ctx, "analyst", "E05000002", "asb", [0, 1], 9, 99, ["fdr"])
    assert p["summary"]["hot"] == 0
    assert "99 % with FDR: no cell reaches it in Zoo" in p["status"]
    assert "try" in p["status"]


def test_no_hot_reason_by_hand():
    from types import SimpleNamespace as Ns

    area = Ns(name="Merton")
    cells = pd.DataFrame({"bin": [0, 0, -1], "z": [2.5, 0.1, -1.0],
                          "p_sim": [0.01, 0.8, 0.2]})
    v = Ns(level=2, correction="fdr", area=area)
    assert cb.no_hot_reason(cells, v) == ("95 % with FDR: no cell reaches it in "
                                          "Merton; try without FDR or a longer "
                                          "period.")
    v = Ns(level=1, correction="none", area=area)
    assert cb.no_hot_reason(cells.assign(z=0.0), v).endswith(
        "try a longer period, a coarser resolution or a wider area.")


# -- tasking: tables follow the plan, budget explained, plan exports -------------
def test_zone_rows_follow_the_plan_on_the_map(ctx):
    args = ("Merton", "robbery", _months(ctx), 9, 90, [])
    seen = {}
    for hours in (400, 30, 400):  # change the budget twice, then back
        t = cb.tasking_payload(ctx, "analyst", *args, hours, 2, 100)
        rows, feats = t["rows"]["zones"], t["zones"]["features"]
        assert [r["id"] for r in rows] == [f["properties"]["id"] for f in feats]
        assert rows and all(r["why"] for r in rows)
        assert sum(r["hours"] for r in rows) <= hours + 1e-9
        used = t["budget"]["used"]
        assert abs(used - sum(r["hours"] for r in rows)) < 0.11
        assert t["note"].startswith(f"plan uses {used:.1f} of {hours:g}")
        seen.setdefault(hours, []).append([r["id"] for r in rows])
    assert seen[400][0] == seen[400][1]
    # at 400 h this small area leaves hours unspent, and the note says why
    big = cb.tasking_payload(ctx, "analyst", *args, 400, 2, 100)
    assert big["budget"]["unused"] > 0 and big["budget"]["why"]
    assert ": " in big["note"]


def test_plan_exports_hold_zones_sites_rationale_and_budget(ctx):
    import csv
    import io

    args = ("Merton", "robbery", _months(ctx), 9, 90, [], 60, 2, 100)
    t = cb.tasking_payload(ctx, "analyst", *args)
    text, name = cb.export_plan_csv(ctx, "analyst", *args)
    rows = list(csv.DictReader(io.StringIO(text)))
    kinds = [r["kind"] for r in rows]
    assert kinds == (["zone"] * len(t["rows"]["zones"])
                     + ["site"] * len(t["rows"]["sites"]) + ["budget"])
    assert all(r["rationale"] for r in rows)
    assert rows[-1]["rationale"] == t["note"]
    assert float(rows[0]["budget_hours"]) == 60 and name.startswith("hotspots_plan_")
    gj, _ = cb.export_plan_geojson(ctx, "analyst", *args)
    doc = json.loads(gj)
    assert [f["properties"]["kind"] for f in doc["features"]] == kinds[:-1]
    assert doc["metadata"]["budget"]["budget"] == 60
    assert {f["geometry"]["type"] for f in doc["features"]} <= {
        "Polygon", "MultiPolygon", "Point"}
    with pytest.raises(ParameterError, match="for analysts"):
        cb.export_plan_csv(ctx, "partner", *args)


# -- disclosure: no count of 1-4 anywhere a partner can reach ---------------------
_PHRASE = re.compile(
    r"(?<![\d.,£])\b([1-4])\b(?![\d.,%])\s+(?:[a-z-]+\s+){0,2}?"
    r"(offences?|crimes?|robber(?:y|ies)|incidents?)\b"
    r"|offences?\s*[:=]\s*([1-4])\b(?![\d.,%])", re.I)
_COUNT_KEY = re.compile(r"count|offence|total|crimes|^n$|covered|last12|previous12",
                        re.I)


def small_counts(obj, path="") -> list[str]:
    """Where a count of 1-4 shows in ``obj`` (JSON-like or text): numeric values
    under count-like keys (also as strings) and phrases like "3 robbery
    offences" or "offences: 2" in any string."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if _COUNT_KEY.search(str(k)) and not isinstance(v, bool | dict | list):
                try:
                    x = float(str(v).replace(",", ""))
                except ValueError:
                    x = None
                if x is not None and 1 <= x <= 4:
                    found.append(f"{path}.{k}={v!r}")
            found += small_counts(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += small_counts(v, f"{path}[{i}]")
    elif isinstance(obj, str):
        found += [f"{path}: {m.group(0)!r}" for m in _PHRASE.finditer(obj)]
    return found


def _pdf_text(data: bytes, tmp_path) -> str:
    import shutil
    import subprocess

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout


def test_small_counts_finds_what_it_should():
    assert small_counts({"count": 3}) == [".count=3"]
    assert small_counts("Cricket Green: 3 robbery offences in 2022")
    assert small_counts("offences: 2")
    assert not small_counts({"count": 5, "bin": 3, "rank": 2, "text": "99 %"})
    assert not small_counts("offences: fewer than 5; 4.5 neighbours; about 10")


def test_partner_view_and_exports_hold_no_small_count(ctx, tmp_path):
    import csv
    import io

    args = ("Merton", "asb", [0, 2], 9, 90, [])
    # the analyst's view of the same data does hold small counts: the check bites
    assert small_counts(cb.export_geojson(ctx, "analyst", *args)[0] and json.loads(
        cb.export_geojson(ctx, "analyst", *args)[0]))
    p = cb.view_payload(ctx, "partner", *args)
    assert not small_counts(p), small_counts(p)[:5]
    assert not small_counts(cb.hot_rows(ctx, "partner", *args, p["rows"]))
    panel = cb.ward_panel(ctx, "partner", "E05000002", "asb", [0, 2])
    assert not small_counts(panel)
    doc = json.loads(cb.export_geojson(ctx, "partner", *args)[0])
    assert not small_counts(doc), small_counts(doc)[:5]
    assert doc["metadata"]["offences"].startswith("about ")
    text, _ = cb.export_csv(ctx, "partner", *args)
    table = list(csv.DictReader(io.StringIO(text)))
    assert table and not small_counts(table), small_counts(table)[:5]
    pdf, _ = cb.export_pdf(ctx, "partner", *args)
    assert not small_counts(_pdf_text(pdf, tmp_path))


def test_brief_pdf_holds_every_zone_and_site(ctx, tmp_path):
    if not cb.brief_available():
        pytest.skip("the tasking brief writer is not installed")
    args = ("Merton", "robbery", _months(ctx), 9, 90, [], 60, 2, 100)
    t = cb.tasking_payload(ctx, "analyst", *args)
    pdf, name = cb.export_brief(ctx, "analyst", *args)
    assert pdf[:5] == b"%PDF-" and name.startswith("hotspots_brief_")
    text = _pdf_text(pdf, tmp_path)
    assert t["rows"]["zones"] and t["rows"]["sites"]
    for r in t["rows"]["zones"] + t["rows"]["sites"]:
        assert r["id"] in text, r["id"]
    with pytest.raises(ParameterError, match="for analysts"):
        cb.export_brief(ctx, "partner", *args)


def test_partner_cannot_tell_no_offences_from_a_few(ctx):
    """Zoo Two robbery: 1 offence in the first month, none in the fifth. A partner
    gets the same words and no cells for both (the status had said 'no robbery
    offences' for one and counted cells for the other); an analyst still sees
    the cells of the one offence."""
    one = cb.view_payload(ctx, "partner", "E05000002", "robbery", [0, 0], 9, 90, [])
    none = cb.view_payload(ctx, "partner", "E05000002", "robbery", [4, 4], 9, 90, [])
    assert one["status"] == none["status"]
    assert "Fewer than 5 robbery offences" in one["status"]
    assert one["hexes"] == none["hexes"] == cb.EMPTY
    assert one["rows"] == none["rows"] == []
    # nor by the hot-spot table or the exports, asked directly (a crafted request):
    # the table had listed the one offence's cells, the CSV their centres
    for months in ([0, 0], [4, 4]):
        view = ("E05000002", "robbery", months, 9, 90, [])
        assert cb.hot_rows(ctx, "partner", *view, [{"id": "x"}]) == []
        for export in (cb.export_csv, cb.export_geojson, cb.export_pdf):
            with pytest.raises(ParameterError) as exc:
                export(ctx, "partner", *view)
            assert str(exc.value) == one["status"].split(" (disclosure")[0] + \
                " (disclosure control)."
    assert "h3" in cb.export_csv(ctx, "analyst", "E05000002", "robbery", [0, 0], 9,
                                 90, [])[0]


@pytest.mark.parametrize("family", ["robbery", "asb"])
def test_partner_cannot_tell_none_from_a_few_where_the_analysis_fails(ctx, family):
    """Zoo Two at r7 (too few cells for Gi*) and r9: a month of none and a month
    of 1-4 offences read alike — status and banner — whether the analysis ran
    or failed (its error, and the view's own semi-synthetic banner, had told
    them apart)."""
    by = {}
    for i, m in enumerate(ctx.months):
        n = len(ctx.store.offences(area="E05000002", crime=family, start=m, end=m,
                                   columns=["month"]))
        by.setdefault(min(n, 5), i)
    assert 0 in by and any(k in by for k in (1, 2, 3, 4)), by
    few = next(by[k] for k in (1, 2, 3, 4) if k in by)
    for res in (7, 9):
        none = cb.view_payload(ctx, "partner", "E05000002", family,
                               [by[0], by[0]], res, 90, [])
        some = cb.view_payload(ctx, "partner", "E05000002", family, [few, few],
                               res, 90, [])
        assert none["status"] == some["status"], res
        assert "Fewer than 5" in some["status"]
        assert none["banner"] == some["banner"]


def test_a_partners_table_names_no_street_of_a_few_offences(ctx):
    """Merton robbery at r10: the analyst's table names each hot cell's busiest
    street; a partner's names only those with 5 or more offences there (it had
    named streets of 1 or 2)."""
    args = ("Merton", "robbery", _months(ctx), 10, 90, [])
    off = ctx.store.offences(area="Merton", crime="robbery",
                             columns=["h3_10", "location"])
    off["street"] = off["location"].str.replace("On or near ", "").map(apostrophe_s)
    n = off.groupby(["h3_10", "street"]).size()
    rows = {}
    for role in ("analyst", "partner"):
        p = cb.view_payload(ctx, role, *args)
        rows[role] = {r["id"]: r["street"]
                      for r in cb.hot_rows(ctx, role, *args, p["rows"])}
    few = [c for c, st in rows["analyst"].items() if st and n[(c, st)] < 5]
    assert few, "no hot cell whose busiest street has fewer than 5 offences"
    for c, st in rows["partner"].items():
        assert not st or n[(c, st)] >= 5, (c, st)
    assert all(rows["partner"].get(c, "") == "" for c in few)


def test_a_partners_table_lists_no_hot_cell_of_a_few_offences(zoo_env):
    """Zoo Two robbery in its eighth month has a hot cell; with the threshold
    above that view's offences, the partner's map shows none, and the hot-spot
    table asked directly listed it (with its ward) all the same."""
    from hotspots.report.share import DisclosureRule

    view = ("E05000002", "robbery", [7, 7], 9, 90, [])
    plain = cb.AppContext.open(zoo_env, permutations=99)
    offences = cb.hex_layer(plain, "partner", cb.parse_view(plain, *view))[2][
        "offences"]
    ctx = cb.AppContext.open(zoo_env, DisclosureRule(threshold=max(5, offences + 1)),
                             permutations=99)
    assert cb.hot_rows(ctx, "analyst", *view, [{"id": "x"}])  # a hot cell
    assert cb.view_payload(ctx, "partner", *view)["rows"] == []
    assert cb.hot_rows(ctx, "partner", *view, [{"id": "x"}]) == []
    analyst = cb.view_payload(ctx, "analyst", "E05000002", "robbery", [0, 0], 9, 90,
                              [])
    assert _feats(analyst["hexes"]) and "cells" in analyst["status"]
    assert "no robbery offences" in cb.view_payload(
        ctx, "analyst", "E05000002", "robbery", [4, 4], 9, 90, [])["status"]


def test_partner_semi_synthetic_label_gives_no_share(ctx):
    """A share of a few offences tells their number: the partner's banner and
    exports say the view includes semi-synthetic data, not how much."""
    args = ("Merton", "asb", [0, 2], 9, 90, [])
    analyst = cb.view_payload(ctx, "analyst", *args)["banner"]
    partner = cb.view_payload(ctx, "partner", *args)["banner"]
    assert "%" in analyst and "%" not in partner
    assert "some or all of the offences in this view are synthetic" in partner
    doc = json.loads(cb.export_geojson(ctx, "partner", *args)[0])
    assert doc["metadata"]["synthetic_share"] is None
    assert doc["metadata"]["includes_synthetic"] is True
    assert all("synthetic_share" not in f["properties"] for f in doc["features"])
    assert "%" not in cb.ward_panel(ctx, "partner", "E05000002", "asb", [0, 2])[
        "banner"]


def test_partner_merged_cells_are_drawn(zoo_env):
    from hotspots.report.share import DisclosureRule

    ctx = cb.AppContext.open(zoo_env, DisclosureRule(method="merge"),
                             permutations=99)
    p = cb.view_payload(ctx, "partner", "Merton", "asb", [0, 2], 9, 90, [])
    res = {h3.get_resolution(f["properties"]["id"]) for f in _feats(p["hexes"])}
    assert res == {8, 9}  # sub-threshold siblings merged into their parent
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon")
               for f in _feats(p["hexes"]))
    assert not small_counts(p)


# -- packed layers, the warm start, the plan and the prefetch -------------------------
def test_packed_hexagons_unpack_to_the_cells_outlines(ctx):
    p = _view(ctx)
    assert "features" not in p["hexes"] and p["hexes"]["p"] == cb.PRECISION
    feats = _feats(p["hexes"])
    assert len(feats) == p["summary"]["drawn"] == p["summary"]["cells"]
    for f in feats:
        ring = f["geometry"]["coordinates"][0]
        want = [[round(lng, 5), round(lat, 5)]
                for lat, lng in h3.cell_to_boundary(f["properties"]["id"])]
        assert ring == [*want, want[0]]
    # ward outlines: the wards themselves, to the precision sent
    wards = ctx.wards().set_index("ward_code")
    for f in _feats(p["wards"]):
        got = shapely.geometry.shape(f["geometry"])
        ward = wards.geometry[f["properties"]["id"]]
        assert got.hausdorff_distance(ward) < 1e-5


def test_packing_keeps_holes_and_parts():
    square = shapely.box(0, 0, 1, 1).difference(shapely.box(0.25, 0.25, 0.5, 0.5))
    two = shapely.MultiPolygon([shapely.box(2, 0, 3, 1), shapely.box(4, 0, 5, 2)])
    tri = shapely.Polygon([(0, 0), (1, 0), (0, 1)])
    packed = {**cb._pack_geometry([square, two, tri], 2),
              "props": {"id": ["a", "b", "c"], "tip": ["x", None, "z"]}}
    assert packed["np"] == [1, 2, 1] and packed["nr"] == [2, 1, 1, 1]
    assert packed["nc"] == [4, 4, 4, 4, 3]
    feats = cb.unpack_layer(packed)["features"]
    assert [f["geometry"]["type"] for f in feats] == ["Polygon", "MultiPolygon",
                                                     "Polygon"]
    for f, g in zip(feats, (square, two, tri), strict=True):
        assert shapely.geometry.shape(f["geometry"]).equals(g)
    assert feats[1]["properties"] == {"id": "b"}  # None: no property at all


def test_a_warm_start_gives_the_same_views(zoo_env):
    cold = cb.AppContext.open(zoo_env, permutations=99)
    warm = cb.AppContext.open(zoo_env, permutations=99)
    info = cb.warm_start(warm)
    assert info["offences_rows"] > 0
    args = ("Merton", "all", _months(cold), 9, 90, [])
    for role in ("analyst", "partner"):
        a = cb.view_payload(cold, role, *args)
        b = cb.view_payload(warm, role, *args)
        assert a == b
        assert cb.hot_rows(cold, role, *args, a["rows"]) == cb.hot_rows(
            warm, role, *args, b["rows"])
    v = cb.parse_view(cold, *args)
    assert cb.point_layer(cold, "analyst", v) == cb.point_layer(warm, "analyst", v)
    assert cb.ward_panel(cold, "analyst", "E05000001", "all", args[2]) == \
        cb.ward_panel(warm, "analyst", "E05000001", "all", args[2])


def test_ward_counts_are_the_view_s_offences(ctx):
    p = _view(ctx, family="all")
    df = ctx.store.offences(area="Merton", crime="all", columns=["ward_code"])
    want = df["ward_code"].value_counts()
    for f in _feats(p["wards"]):
        n = int(re.search(r"All crime offences: ([\d,]+)$",
                          f["properties"]["tooltip"])
                .group(1).replace(",", ""))
        assert n == want.get(f["properties"]["id"], 0)


@pytest.mark.shared
def test_ward_tooltips_say_no_data_for_a_period_without_data(shared_store):
    """Merton robbery 2021-06…2021-11 (no file covers it): the wards say no data,
    not 0 (analyst) or 'fewer than 5' (partner); the harm-weighted view's wards
    say they count offences."""
    ctx = cb.AppContext.open(shared_store, permutations=99)
    gap = [ctx.months.index("2021-06"), ctx.months.index("2021-11")]
    for role in ("analyst", "partner"):
        p = cb.view_payload(ctx, role, "Merton", "robbery", gap, 9, 90, ["fdr"])
        tips = [f["properties"]["tooltip"] for f in _feats(p["wards"])]
        assert len(tips) == 20
        assert all(t.endswith("Robbery offences: no data for this period")
                   for t in tips), tips[:2]
    year = [ctx.months.index("2022-01"), ctx.months.index("2022-12")]
    p = cb.view_payload(ctx, "analyst", "Merton", "harm", year, 9, 90, ["fdr"])
    assert all(re.search(r"All crime offences: [\d,]+$", f["properties"]["tooltip"])
               for f in _feats(p["wards"]))


def test_the_plan_does_not_depend_on_the_correction(ctx):
    args = ("Merton", "robbery", _months(ctx), 9, 90)
    with_fdr = cb.tasking_payload(ctx, "analyst", *args, ["fdr"], 60, 2, 100)
    without = cb.tasking_payload(ctx, "analyst", *args, [], 60, 2, 100)
    assert without is with_fdr  # one plan computed, not two


def test_prefetch_makes_the_other_correction_warm(ctx, monkeypatch):
    args = ("Merton", "vehicle", _months(ctx), 9, 95)
    cb.prefetch(ctx, "analyst", *args, ["fdr"])

    def cold(*a, **k):
        raise AssertionError("the FDR-off view was not computed ahead")

    monkeypatch.setattr(cb, "_result", cold)
    p = cb.view_payload(ctx, "analyst", *args, [])
    assert "FDR" not in p["title"] and _feats(p["hexes"])
    with pytest.raises(AssertionError, match="not computed ahead"):
        cb.view_payload(ctx, "analyst", "Merton", "asb", _months(ctx), 9, 95, [])


@pytest.mark.shared
def test_ward_panel_rates_per_1000_residents(shared_store):
    """Rates from the Census 2021 ward residents (best-fit), the caveat printed;
    a City ward without residents says so instead of a rate."""
    from hotspots.population import WARD_CAVEAT, ward_population

    ctx = cb.AppContext.open(shared_store)
    months = list(ctx.months)
    ij = [months.index("2022-01"), months.index("2022-12")]
    abbey = "E05013810"
    d = cb.ward_panel(ctx, "analyst", abbey, "robbery", ij)
    pop = ward_population().set_index("ward_code").loc[abbey, "population"]
    last = count_offences(abbey, "burglary", "month", "2022-01", "2022-12",
                          store=shared_store).total
    row = next(r for r in d["families"] if r["family"] == "burglary")
    assert row["per1000"] == f"{1000 * last / pop:.2f}"
    assert d["residents"] == f"{pop:,}" and d["rates_note"] == WARD_CAVEAT
    city = ward_population().query("status == 'no residents'")["ward_code"].iloc[0]
    c = cb.ward_panel(ctx, "analyst", city, "robbery", ij)
    assert {r["per1000"] for r in c["families"]} == {"n/a"}
    assert "no residents" in c["rates_note"]


@pytest.mark.shared
def test_a_partner_rate_is_worked_from_the_rounded_count(shared_store):
    """rate × residents gives back only the rounded count a partner is shown."""
    from hotspots.population import ward_population
    from hotspots.report.share import DisclosureRule

    ctx = cb.AppContext.open(shared_store)
    months = list(ctx.months)
    ij = [months.index("2022-01"), months.index("2022-12")]
    ward = "E05013814"  # Figge's Marsh
    pop = ward_population().set_index("ward_code").loc[ward, "population"]
    exact = count_offences(ward, "robbery", "month", "2022-01", "2022-12",
                           store=shared_store).total
    shown = DisclosureRule().shown(exact)
    assert shown is not None and shown != exact  # else the case proves nothing
    analyst = cb.ward_panel(ctx, "analyst", ward, "robbery", ij)
    partner = cb.ward_panel(ctx, "partner", ward, "robbery", ij)
    row = {r["family"]: r for r in partner["families"]}["robbery"]
    assert row["per1000"] == f"{1000 * shown / pop:.2f}"
    assert round(float(row["per1000"]) * pop / 1000) == shown
    assert {r["family"]: r for r in analyst["families"]}["robbery"]["per1000"] \
        == f"{1000 * exact / pop:.2f}"


def test_hot_rows_are_the_views_own_whatever_the_browser_names(ctx):
    """A crafted table request naming other cells (a partner probing which
    withheld cells have offences) gets the view's own rows back, and a partner's
    withheld cells no street."""
    args = ("Merton", "robbery", _months(ctx), 10, 90, [])
    offences = ctx.store.offences(area="Merton", crime="robbery", columns=["h3_10"])
    busy = sorted(set(offences["h3_10"]))
    assert busy
    crafted = [{"id": c, "rank": 1, "_kind": "hex"} for c in busy]
    for role in ("partner", "analyst"):
        own = cb.view_payload(ctx, role, *args)["rows"]
        got = cb.hot_rows(ctx, role, *args, crafted)
        assert [r["id"] for r in got] == [r["id"] for r in own]
    partner = cb.hot_rows(ctx, "partner", *args, [{"id": "x"}])
    withheld = [r for r in partner if r["offences"].startswith("fewer than")]
    assert withheld and all(r["street"] == "" for r in withheld), withheld


def test_one_bin_palette_for_print_partner_file_and_app():
    """The PDFs, the partner file and the app's hexagons colour bins alike."""
    from dashboards import ids
    from dashboards.layout import _map
    from hotspots.report import _pdf, share
    from hotspots.stats.inference import BIN_COLOURS

    assert _pdf.BIN_COLOURS is BIN_COLOURS and share.BIN_COLOURS is BIN_COLOURS
    assert cb.legend_items()[0][0] == BIN_COLOURS[3]
    found = []

    def walk(node):
        if getattr(node, "id", None) == ids.HEXES:
            found.append(node.hideout["colours"])
        kids = getattr(node, "children", None)
        for child in kids if isinstance(kids, list | tuple) else [kids]:
            if child is not None and not isinstance(child, str):
                walk(child)

    walk(_map("analyst", None))
    assert found == [{str(b): c for b, c in BIN_COLOURS.items()}]


@pytest.mark.shared
def test_ward_panel_names_streets_before_the_unnamed_points(shared_store):
    ctx = cb.AppContext.open(shared_store)
    months = list(ctx.months)
    ij = [months.index("2022-01"), months.index("2022-12")]
    streets = [s["street"] for s in cb.ward_panel(ctx, "analyst", "E05013813",
                                                  "all", ij)["streets"]]
    # Cricket Green's busiest "street" is its unnamed points (246 offences); with
    # ten named streets to show, the unnamed ones come after them, off the list
    assert "On or near (no street name)" not in streets and len(streets) == 10


@pytest.mark.parametrize("role", ["analyst", "partner"])
def test_a_view_over_a_gap_in_the_data_says_so(zoo_root, write_street, tmp_path,
                                                monkeypatch, role):
    """Robbery files for 2022-06 and 2022-08 only: a view of the three months
    says 2022-07 is left out, not read as zero."""
    from hotspots.areas import _read_wards
    from hotspots.ingest import ingest
    from hotspots.store import Store
    from tests.conftest import street_row

    for month in ("2022-06", "2022-08"):
        write_street([street_row(f"r{month}{i}", month=month, crime_type="Robbery")
                      for i in range(3)], month=month)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    _read_wards.cache_clear()
    gap = cb.AppContext.open(store, permutations=99)
    months = list(gap.months)
    ij = [months.index("2022-06"), months.index("2022-08")]
    p = cb.view_payload(gap, role, "Merton", "robbery", ij, 9, 90, [])
    assert p["summary"]["missing_months"] == ["2022-07"]
    assert p["status"].endswith(
        "No data for 2022-07: those months are left out, not read as zero.")
    one = [months.index("2022-06")] * 2
    q = cb.view_payload(gap, role, "Merton", "robbery", one, 9, 90, [])
    assert "No data for" not in q["status"]
    _read_wards.cache_clear()


@pytest.mark.parametrize("role", ["analyst", "partner"])
def test_every_family_row_of_the_ward_panel_says_if_it_is_semi_synthetic(ctx, role):
    """The banner follows the family chosen; each row says so for its own."""
    from dashboards.app import ward_panel_children

    d = cb.ward_panel(ctx, role, "E05000001", "robbery", _months(ctx))
    rows = {r["family"]: r for r in d["families"]}
    assert rows["asb"]["synthetic"] and not rows["burglary"]["synthetic"]
    text = json.dumps(ward_panel_children(d),
                      default=lambda c: c.to_plotly_json())  # what is drawn
    assert "asb (semi-synthetic)" in text and "burglary (semi-synthetic)" not in text


def test_partner_street_labels_and_search_mark_no_few_offences(zoo_env):
    """A street label sits on its map points, and a searched street's box is drawn
    around them: a partner gets labels only for streets of at least the threshold
    of offences, and a searched street framed by its ward. (The zoo's streets all
    have 5 or more: the threshold is raised to the median street's.)"""
    from hotspots.report.share import DisclosureRule
    from hotspots.streetnames import street_labels

    lab = street_labels("Merton", store=zoo_env)
    ctx = cb.AppContext.open(zoo_env, DisclosureRule(
        threshold=int(lab["offences"].median())), permutations=99)

    def streets(role):
        return {f["properties"]["label"] for f in
                cb.label_layer(ctx, "Merton", role)["features"]
                if f["properties"]["kind"] == "street"}

    names = lab["name"].str.replace(r"^On or near\s*", "", regex=True)
    few = set(names[lab["offences"] < ctx.rule.threshold])
    assert streets("analyst") & few  # the analyst's labels include such streets
    assert streets("partner") and not streets("partner") & few
    street = next(o for o in cb.search_options(ctx, "Mitcham", None)
                  if cb.parse_pick(o["value"]).kind == "street")
    mine = next(o for o in cb.search_options(ctx, "Mitcham", None, role="partner")
                if o["label"] == street["label"])
    (s, w), (n, e) = cb.parse_pick(mine["value"]).bounds
    ward = ctx.wards()[ctx.wards().contains(shapely.Point((w + e) / 2, (s + n) / 2))]
    assert len(ward) == 1
    assert [[s, w], [n, e]] == cb._norm_bounds(
        [[ward.total_bounds[1], ward.total_bounds[0]],
         [ward.total_bounds[3], ward.total_bounds[2]]])
    assert cb.parse_pick(mine["value"]).bounds != cb.parse_pick(street["value"]).bounds
    # a place named by its streets is framed by its ward too (its box had been
    # drawn around its streets' points), and streets below the threshold are
    # not offered at all
    place = next(o for o in cb.search_options(ctx, "Mitcham", None)
                 if cb.parse_pick(o["value"]).kind == "place")
    framed = next(o for o in cb.search_options(ctx, "Mitcham", None, role="partner")
                  if cb.parse_pick(o["value"]).kind == "place")
    assert framed["label"] == place["label"]
    assert cb.parse_pick(framed["value"]).bounds != cb.parse_pick(place["value"]).bounds
    from hotspots import places

    counts = {r["label"]: r["offences"] for r in places.search("Road", store=zoo_env)
              if r["kind"] == "street"}
    ctx = cb.AppContext.open(zoo_env, DisclosureRule(
        threshold=sorted(counts.values())[len(counts) // 2]), permutations=99)
    few = {label for label, n in counts.items() if n < ctx.rule.threshold}

    def offered(role):
        return {cb.parse_pick(o["value"]).label
                for o in cb.search_options(ctx, "Road", None, role=role)
                if cb.parse_pick(o["value"]).kind == "street"}

    assert offered("analyst") & few and offered("partner")
    assert not offered("partner") & few
    assert all("_offences" not in o for role in ("analyst", "partner")
               for o in cb.search_options(ctx, "Road", None, role=role))
