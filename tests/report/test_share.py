"""Disclosure control of the partner view, and the shareable HTML map."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import h3
import numpy as np
import pytest
from typer.testing import CliRunner

from hotspots.errors import ParameterError
from hotspots.grid import cell_polygons
from hotspots.report.share import (
    PARTNER_COLUMNS,
    DisclosureRule,
    at_level,
    partner_cells,
    partner_counts,
    share_view,
    write_share_html,
)
from tests.dashboards.conftest import zoo_app_env, zoo_env  # noqa: F401 (fixtures)


def _cells(offences, bins, siblings=False):
    """Hand-made cells: siblings share one res-8 parent when asked."""
    if siblings:
        parent = h3.latlng_to_cell(51.405, -0.195, 8)
        ids = sorted(h3.cell_to_children(parent, 9))[: len(offences)]
    else:
        ids = sorted(h3.grid_disk(h3.latlng_to_cell(51.405, -0.195, 9), 3))
        ids = ids[:: max(1, len(ids) // len(offences))][: len(offences)]
    return gpd.GeoDataFrame(
        {"h3": ids, "count": np.array(offences, float), "offences": offences,
         "z": np.linspace(-1, 3, len(ids)), "p_sim": 0.01, "p_fdr": 0.02,
         "gistar": 0.1, "bin": bins},
        geometry=cell_polygons(ids), crs=4326)


@pytest.mark.parametrize(
    ("rule", "n", "shown"),
    [(DisclosureRule(), 4, None), (DisclosureRule(), 5, 5), (DisclosureRule(), 7, 5),
     (DisclosureRule(), 8, 10), (DisclosureRule(rounding=1), 7, 7),
     (DisclosureRule(threshold=10, rounding=1), 9, None)],
    ids=["below", "at", "rounds-down", "rounds-up", "exact", "threshold-10"])
def test_rule_shown(rule, n, shown):
    assert rule.shown(n) == shown


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"threshold": 0}, "'threshold' needs to be a whole number ≥ 5"),
     ({"threshold": 4}, r"≥ 5 \(partner outputs never show a count below 5\)"),
     ({"rounding": 2.5}, "'rounding' needs to be a whole number ≥ 1"),
     ({"method": "blur"}, "'method' needs to be one of")],
    ids=["threshold", "threshold-4", "rounding", "method"])
def test_rule_rejects_bad_values(kw, message):
    with pytest.raises(ParameterError, match=message):
        DisclosureRule(**kw)


def test_partner_cells_suppress_by_hand():
    cells = _cells([0, 3, 5, 12], [0, 1, 2, -1])
    layer = partner_cells(cells)
    f = layer.frame.set_index("h3").loc[cells["h3"]]
    assert tuple(layer.frame.columns) == PARTNER_COLUMNS
    assert f["count"].tolist()[2:] == [5, 10]
    assert f["count"].isna().tolist() == [True, True, False, False]
    assert f["count_label"].tolist() == ["fewer than 5", "fewer than 5", "about 5",
                                         "about 10"]
    assert f["bin"].tolist() == [0, 1, 2, -1]
    assert layer.suppressed_cells == 2 and layer.merged_cells == 0
    # nothing that could give the counts back
    for col in ("offences", "z", "p_sim", "p_fdr", "gistar"):
        assert col not in layer.frame.columns
    # the level hides weaker bins
    assert partner_cells(cells, level=2).frame.set_index("h3").loc[
        cells["h3"], "bin"].tolist() == [0, 0, 2, 0]


def test_partner_cells_merge_siblings_by_hand():
    cells = _cells([3, 3, 1, 20], [1, 2, 0, 3], siblings=True)
    lone = _cells([2], [0])
    both = gpd.GeoDataFrame(
        __import__("pandas").concat([cells, lone], ignore_index=True), crs=4326)
    layer = partner_cells(both, DisclosureRule(method="merge"))
    f = layer.frame
    merged = f[f["cells"] > 1]
    assert len(merged) == 1
    m = merged.iloc[0]
    # 3 + 3 + 1 = 7 offences in 3 sibling cells -> shown as about 5, least bin 0
    assert m["cells"] == 3 and m["count"] == 5 and m["bin"] == 0
    assert m["h3"] == h3.cell_to_parent(cells["h3"].iloc[0], 8)
    assert layer.merged_cells == 3
    # the lone small cell (no sibling to merge with) is still withheld
    assert layer.suppressed_cells == 1
    assert f.loc[f["h3"] == lone["h3"].iloc[0], "count"].isna().all()
    assert f["cells"].sum() == len(both)


def test_partner_counts_table():
    import pandas as pd

    t = pd.DataFrame({"key": list("abc"), "count": [0, 4, 23]})
    out = partner_counts(t)
    assert out["count"].isna().tolist() == [True, True, False]
    assert out["count"].iloc[2] == 25 and out["suppressed"].tolist() == [True, True,
                                                                          False]
    assert t["count"].tolist() == [0, 4, 23]  # the caller's table is untouched


def test_at_level():
    assert at_level([-3, -2, -1, 0, 1, 2, 3], 3).tolist() == [-3, 0, 0, 0, 0, 0, 3]
    with pytest.raises(ParameterError, match="'level' needs to be one of"):
        at_level([0], 4)


def test_share_view_and_html(zoo_env, tmp_path):  # noqa: F811
    view = share_view("Merton", "all", "2022-02", "2024-01", level=1,
                      store=zoo_env)
    doc = view.to_json("x.html")
    assert doc["output"] == "x.html" and doc["suppressed_cells"] >= 0
    assert doc["suppressed_cells"] == int(view.cells["suppressed"].sum())
    shown = view.cells["count"].dropna()
    assert (shown >= 5).all() and (shown % 5 == 0).all()
    assert view.synthetic_share > 0
    path = write_share_html(view, tmp_path / "merton.html", tiles=None)
    text = path.read_text()
    assert "SEMI-SYNTHETIC" in text
    # the ward name reaches the tooltip HTML escaped (folium then JSON-escapes it)
    assert "Zoo \\u0026lt;b\\u0026gt;Two" in text
    assert "<b>Two</b>" not in text and "\\u003cb\\u003eTwo" not in text
    assert "window.__xss" not in text  # no street names or points at all
    assert "Under investigation" not in text and "id1" not in re.findall(
        r'"h3": "([^"]+)"', text)
    with pytest.raises(ParameterError, match="'out' needs to end in .html"):
        write_share_html(view, tmp_path / "merton.pdf")


def test_cli_share_json(zoo_env, tmp_path, monkeypatch):  # noqa: F811
    from hotspots.cli import app

    monkeypatch.setenv("HOTSPOTS_STORE", str(zoo_env.path))
    out = tmp_path / "share.html"
    res = CliRunner().invoke(app, ["share", "--area", "Merton", "--crime", "robbery",
                                   "--from", "2022-02", "--to", "2024-01",
                                   "--out", str(out), "--tiles", "none", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["output"] == str(out) and out.is_file()
    assert isinstance(doc["suppressed_cells"], int)
    bad = CliRunner().invoke(app, ["share", "--area", "Merton", "--level", "80",
                                   "--out", str(out), "--json"])
    assert bad.exit_code == 2 and "'level' needs to be one of" in bad.stdout
    small = CliRunner().invoke(app, ["share", "--area", "Merton", "--threshold", "1",
                                     "--rounding", "1", "--out", str(out), "--json"])
    assert small.exit_code == 2
    assert "'--threshold' needs to be a whole number ≥ 5" in json.loads(
        small.stdout)["error"]


def test_share_file_is_self_contained(zoo_env, tmp_path):  # noqa: F811
    view = share_view("Merton", "all", "2022-02", "2024-01", level=1,
                      store=zoo_env)
    text = write_share_html(view, tmp_path / "m.html", store=zoo_env).read_text()
    # no script, stylesheet or image is loaded from anywhere: all inline
    assert not re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']?"
                          r"(?:https?:)?//", text)
    assert "<link" not in text
    assert "L.map(" in text and "leaflet-container" in text  # Leaflet JS and CSS
    # ward and street names travel as escaped text (labels)
    data = json.loads(re.search(r'id="share-data">(.*?)</script>', text,
                                re.S).group(1))
    kinds = {x["k"] for x in data["labels"]}
    assert kinds == {"ward", "street"}
    assert "Zoo &lt;b&gt;Two&lt;/b&gt; &amp; &quot;Co&quot;" in [
        x["t"] for x in data["labels"]]
    assert data["tiles"] is None
    with pytest.raises(ParameterError, match="'tiles' needs to be none, osm"):
        write_share_html(view, tmp_path / "x.html", tiles="nonsense")


def test_partner_share_holds_no_small_count(zoo_env, tmp_path):  # noqa: F811
    from tests.dashboards.test_callbacks import small_counts

    # a view of fewer than 5 offences: nothing to share (its hot cells would
    # show where the few were), as the app shows partners nothing for it
    with pytest.raises(ParameterError, match="fewer than 5 asb offences in Zoo "
                                             ".*: nothing to share"):
        share_view("E05000002", "asb", "2022-02", "2022-04", level=1, store=zoo_env)
    view = share_view("Merton", "asb", "2022-02", "2022-04", level=1, store=zoo_env)
    text = write_share_html(view, tmp_path / "m.html", store=zoo_env).read_text()
    data = json.loads(re.search(r'id="share-data">(.*?)</script>', text,
                                re.S).group(1))
    assert not small_counts(data), small_counts(data)[:5]
    assert not small_counts(view.to_json("m.html"))
    head = re.search(r'<div id="head".*?</div>', text, re.S).group(0)
    assert not small_counts(head)


@pytest.mark.browser
def test_share_map_draws_with_the_network_blocked(zoo_env, tmp_path):  # noqa: F811
    import time

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from tests.dashboards.conftest import CHROME_FLAGS, chrome_paths

    if chrome_paths() is None:
        pytest.skip("chromium and chromedriver are not installed (make system)")
    view = share_view("Merton", "all", "2022-02", "2024-01", level=1,
                      store=zoo_env)
    path = write_share_html(view, tmp_path / "m.html", store=zoo_env)
    browser, driver = chrome_paths()
    opts = Options()
    opts.binary_location = browser
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        drv.execute_cdp_cmd("Network.enable", {})
        drv.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http*", "ws*"]})
        drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": 0,
            "uploadThroughput": 0})
        drv.get(path.as_uri())
        for _ in range(100):
            if drv.execute_script("return document.body.dataset.mapReady === '1'"):
                break
            time.sleep(0.1)
        n = drv.execute_script(
            "return document.querySelectorAll('.leaflet-overlay-pane path').length")
        assert n > 20  # hexagons and ward outlines drawn
        labels = drv.execute_script(
            "return [...document.querySelectorAll('.lab-ward span')]"
            ".map(s => s.textContent)")
        assert 'Zoo <b>Two</b> & "Co"' in labels
        assert drv.execute_script("return window.__xss === undefined")
        urls = [json.loads(e["message"])["message"].get("params", {})
                .get("request", {}).get("url", "") for e in drv.get_log("performance")]
        left = [u for u in urls if u and not u.startswith(("file:", "data:",
                                                           "about:", "blob:"))]
        assert left == []
        assert drv.execute_script(
            "return performance.getEntriesByType('resource').length") == 0
    finally:
        drv.quit()


@pytest.mark.shared
def test_default_period_is_the_areas_own_not_londons(shared_root, tmp_path):
    """A store of the Met's files alone covers Merton but not London (the City's
    wards need the City of London Police): the partner map and the ward maps
    take the period Merton is covered for, as analyse does."""
    from hotspots.ingest import ingest
    from hotspots.report.wardmaps import ward_maps
    from hotspots.store import Store

    root = tmp_path / "data"
    (root / "crimes").mkdir(parents=True)
    (root / "boundaries").symlink_to(shared_root / "boundaries")
    for month in ("2022-11", "2022-12"):
        name = f"{month}-metropolitan-street.csv.gz"
        (root / "crimes" / name).symlink_to(shared_root / "crimes" / "real_2022" / name)
    store = Store.open(tmp_path / "store")
    ingest(root=root, store=store, forces=("metropolitan",), workers=1)
    view = share_view("Merton", "robbery", store=store)
    assert (view.start, view.end) == ("2022-11", "2022-12")
    assert len(view.cells) > 0
    wm = ward_maps("Figge's Marsh", tmp_path / "maps", "robbery", store=store)
    assert (wm.start, wm.end) == ("2022-11", "2022-12")


@pytest.mark.shared
def test_ward_counts_are_of_the_hot_spots_months(shared_store, tmp_path):
    """London robbery 2022 (no City file for 2022-06): the hot spots leave
    2022-06 out, and so do the wards' counts (they had counted the Met's rows of
    that month, beside hot spots without it), and the page and the JSON name it."""
    view = share_view("London", "robbery", "2022-01", "2022-12", res=8,
                      store=shared_store)
    assert view.to_json()["missing_months"] == ["2022-06"]
    off = shared_store.offences(area="London", crime="robbery", start="2022-01",
                                end="2022-12", columns=["ward_code", "month"])
    want = off[off["month"] != "2022-06"].groupby("ward_code").size()
    rule = DisclosureRule()
    got = view.wards.set_index("ward_code")["count_label"]
    assert {c: got[c] for c in want.index} == {
        c: rule.label(int(n)) for c, n in want.items()}
    write_share_html(view, tmp_path / "share.html")
    assert ("London: robbery hot spots, 2022-01 to 2022-12 (without 2022-06: not "
            "every police force") in (tmp_path / "share.html").read_text()
