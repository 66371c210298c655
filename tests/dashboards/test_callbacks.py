"""The app's callbacks, called directly on the zoo store."""

from __future__ import annotations

import json
import re

import h3
import pandas as pd
import pytest

from dashboards import callbacks as cb
from hotspots.errors import ParameterError
from tests.dashboards.conftest import EVIL_LOCATION, EVIL_WARD

ALL = None  # months: filled per test from the context


def _months(ctx):
    return [0, len(ctx.months) - 1]


def _view(ctx, role="analyst", family="robbery", level=90, area="Merton"):
    return cb.view_payload(ctx, role, area, family, _months(ctx), 9, level, ["fdr"])


def test_view_payload_analyst_matches_the_store(ctx):
    p = _view(ctx)
    assert p["hexes"]["features"], p["status"]
    props = p["hexes"]["features"][0]["properties"]
    assert set(props) == {"id", "bin", "tooltip"}
    # every offence of the area is in some cell: the analysis counts agree
    df = ctx.store.offences(area="Merton", crime="robbery")
    cells, meta = ctx.cache.analysis(ctx.area("Merton"), "robbery", ctx.months[0],
                                     ctx.months[-1], res=9, permutations=99)
    assert int(cells["offences"].sum()) == len(df)
    # ranked rows are the hot cells, strongest first
    bins = {f["properties"]["id"]: f["properties"]["bin"]
            for f in p["hexes"]["features"]}
    assert [r["rank"] for r in p["rows"]] == list(range(1, len(p["rows"]) + 1))
    assert all(bins[r["id"]] > 0 for r in p["rows"])
    assert p["banner"] and "SEMI-SYNTHETIC" in p["banner"]
    minx, miny, maxx, maxy = ctx.area("Merton").geometry.bounds
    assert p["bounds"] == [[miny, minx], [maxy, maxx]]


def test_view_payload_partner_has_no_small_or_exact_counts(ctx):
    p = _view(ctx, role="partner")
    for f in p["hexes"]["features"]:
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
    lo = _view(ctx, level=90)["hexes"]["features"]
    hi = _view(ctx, level=99)["hexes"]["features"]
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


def test_london_fine_resolution_is_capped_and_significant_only(ctx):
    v = cb.parse_view(ctx, "London", "robbery", [0, 3], 10, 95, ["fdr"])
    assert v.res == 9 and v.significant_only
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


def test_ward_tooltips_escape_names(ctx):
    p = _view(ctx, area="Merton")
    tips = [f["properties"]["tooltip"] for f in p["wards"]["features"]]
    names = [f["properties"]["name"] for f in p["wards"]["features"]]
    assert any("Zoo &lt;b&gt;Two&lt;/b&gt; &amp; &quot;Co&quot;" in t for t in tips)
    assert not any("<b>Two</b>" in t for t in tips)
    assert "Zoo &lt;b&gt;Two&lt;/b&gt; &amp; &quot;Co&quot;" in names


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
    for r in d["families"]:
        for k in ("last12", "previous12"):
            assert r[k] == "fewer than 5" or re.fullmatch(r"about \d+", r[k])
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
    gj, _ = cb.export_geojson(ctx, "partner", *args)
    doc = json.loads(gj)
    assert doc["metadata"]["synthetic_share"] > 0
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

    from hotspots.stats.emerging import emerging_hotspots

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
def test_tasking_layers_on_the_shared_data(shared_store):
    ctx = cb.AppContext.open(shared_store)
    months = list(ctx.months)
    ij = [months.index("2022-01"), months.index("2022-12")]
    out = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", ij, 9, 95,
                             ["fdr"], 60, 4, 100)
    assert out["note"] == ""
    zones, sites = out["rows"]["zones"], out["rows"]["sites"]
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
    zero = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", ij, 9, 95,
                              ["fdr"], 0, 0, 100)
    assert "budget must be > 0" in zero["note"] and zero["rows"]["sites"] == []
