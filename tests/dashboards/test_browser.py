"""The app in headless Chromium (the zoo store, no tiles, loopback only).

Analyst: the map draws hexagons, names and the semi-synthetic banner; switching
the crime family re-renders with a loading overlay; picking a table row
highlights it; a police.uk Location holding a script tag shows as text; the area
box finds "Mitcham" and the map moves there; the zones table follows the plan on
the map when the officer-hours change twice; zones stay above the hexagons after
an area switch; no request is made for the offence points while their layer is
off; the page fits 1366x768 and 1920x1080 without scrolling. Partner: no point
layer anywhere and no count of 1-4 on the page.
"""

from __future__ import annotations

import json
import os
import time

import pytest

pytest.importorskip("selenium")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from dashboards import ids  # noqa: E402
from tests.dashboards.conftest import MITCHAM_STREETS, PASSWORDS  # noqa: E402

pytestmark = pytest.mark.browser
WAIT = 30
#: Where the phone test saves what it saw ($HOTSPOTS_PHONE_SHOT), for a person.
PHONE_SHOT = os.environ.get("HOTSPOTS_PHONE_SHOT")
#: Hexagons drawn (they are on a canvas: counted through Leaflet's map).
HEXES_JS = ("const m = window.hotspots && window.hotspots.map; if (!m) return 0;"
            "let n = 0; m.eachLayer(l => { if (l.feature && l.options.pane === "
            "'hexes') n++; }); return n;")
#: Click (as a mouse would, at its pixel) the first hexagon with bin > 0.
CLICK_HEX_JS = """
const m = window.hotspots.map; let hit = null;
m.eachLayer(l => { if (!hit && l.feature && l.options.pane === 'hexes'
                       && l.feature.properties.bin > 0) hit = l; });
if (!hit) return false;
const p = m.latLngToContainerPoint(hit.getCenter());
const r = m.getContainer().getBoundingClientRect();
const x = r.left + p.x, y = r.top + p.y;
const el = document.elementFromPoint(x, y);
for (const t of ['mousedown', 'mouseup', 'click']) {
  el.dispatchEvent(new MouseEvent(t, {bubbles: true, clientX: x, clientY: y}));
}
return true;
"""
#: Records the output of every callback request the page sends (window.__sent).
RECORD_FETCH = """
if (!window.__sent) {
  window.__sent = [];
  const orig = window.fetch;
  window.fetch = function (url, opts) {
    try {
      if (String(url).includes('_dash-update-component') && opts && opts.body) {
        window.__sent.push(JSON.parse(opts.body).output);
      }
    } catch (e) {}
    return orig.apply(this, arguments);
  };
}
"""


def _login(browser, base, user):
    browser.delete_all_cookies()
    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(PASSWORDS[user][1])
    browser.find_element(By.ID, "login-button").click()
    WebDriverWait(browser, WAIT).until(
        ec.text_to_be_present_in_element((By.ID, ids.ROLE), PASSWORDS[user][0]))


def _hexes(browser) -> int:
    return browser.execute_script(HEXES_JS)


def _count(browser, css) -> int:
    return browser.execute_script(
        "return document.querySelectorAll(arguments[0]).length", css)


def _status(browser) -> str:
    return browser.find_element(By.ID, ids.STATUS).text


def _idle(browser) -> bool:
    return browser.execute_script(
        "return !document.querySelector('.hs-busy.hs-on, .hs-planning.hs-on') && "
        "!document.querySelector('[data-dash-is-loading=\"true\"]')")


def _steady(browser, read, hold: float = 1.0):
    """``read(browser)`` once the page has been idle, and the value the same and
    not empty, for ``hold`` seconds (a plan asked for after the map is drawn
    starts a moment after the view's own work ends)."""
    last, since = None, 0.0

    def steady(b):
        nonlocal last, since
        value = read(b) if _idle(b) else None
        if not value or value != last:
            last, since = value, time.monotonic()
            return False
        return value if time.monotonic() - since >= hold else False

    return WebDriverWait(browser, WAIT, poll_frequency=0.2).until(steady)


def _settle(browser):
    wait = WebDriverWait(browser, WAIT)
    wait.until(lambda b: "cells;" in _status(b) or "no cell" in _status(b))
    wait.until(_idle)


def _select_area(browser, text, value_starts):
    """Type ``text`` in the area box and pick the first option whose value starts
    with ``value_starts``."""
    browser.find_element(By.ID, ids.AREA).click()
    box = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, ".dash-dropdown-search")))
    box.send_keys(text)
    pick = ("const i = [...document.querySelectorAll('.dash-dropdown-option input')]"
            ".find(x => x.value.startsWith(arguments[0]));"
            "if (!i) return false; i.closest('label').click(); return true;")
    WebDriverWait(browser, WAIT).until(lambda b: b.execute_script(pick, value_starts))


def test_analyst_smoke_path(live_app, browser):
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    _settle(browser)
    wait.until(lambda b: _hexes(b) > 20)
    banner = browser.find_element(By.ID, ids.BANNER)
    assert banner.is_displayed() and "SEMI-SYNTHETIC" in banner.text
    control = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers")
    assert ids.OVERLAY_POINTS in control.get_attribute("textContent")
    # ward names are drawn as labels (as text, not HTML)
    labels = browser.execute_script(
        "return [...document.querySelectorAll('.hs-label-ward span')]"
        ".map(s => s.textContent)")
    assert "Zoo One" in labels and 'Zoo <b>Two</b> & "Co"' in labels
    # no tiles configured: no attribution, and no image requested at all
    assert not browser.execute_script(
        "return performance.getEntriesByType('resource').some(e => "
        "e.initiatorType === 'img')")
    assert "OpenStreetMap" not in browser.find_element(By.ID, ids.MAP).text
    # switch family: the loading overlay shows, then title and layer follow
    browser.execute_script(
        "window.__busySeen = false;"
        "new MutationObserver(() => { if (document.querySelector('.hs-busy.hs-on'))"
        " window.__busySeen = true; }).observe(document.getElementById(arguments[0]),"
        " {attributes: true});", ids.BUSY)
    browser.find_element(
        By.CSS_SELECTOR, f"#{ids.FAMILY} input[value='vehicle']").click()
    wait.until(lambda b: "Vehicle crime" in b.find_element(
        By.ID, ids.MONTHS_LABEL).text)
    assert browser.execute_script("return window.__busySeen")
    _settle(browser)
    # pick a table row (90 %, no FDR, so the zoo has hot cells): it is highlighted
    browser.find_element(By.CSS_SELECTOR, f"#{ids.LEVEL} input[value='90']").click()
    browser.find_element(By.CSS_SELECTOR, f"#{ids.FDR} input").click()
    wait.until(lambda b: "90 % confidence)" in b.find_element(
        By.ID, ids.MONTHS_LABEL).text)
    # the hot-spot table names the ward and the busiest street of each cell
    wait.until(lambda b: "Zoo" in b.find_element(By.ID, ids.TABLE).text)
    row = wait.until(ec.element_to_be_clickable(
        (By.CSS_SELECTOR, f"#{ids.TABLE} .ag-center-cols-container .ag-row")))
    row.click()
    wait.until(lambda b: b.execute_script(
        "return [...document.querySelectorAll('.leaflet-highlight-pane path')]"
        ".some(p => p.getAttribute('stroke') === '#00e5ff')"))
    # a Location with a script tag renders as text in the ward panel (click a
    # hexagon in Zoo One's hot corner; retry while the map is still flying)
    for _ in range(10):
        browser.execute_script(CLICK_HEX_JS)
        try:
            WebDriverWait(browser, 3).until(
                ec.presence_of_element_located((By.ID, "ward-streets")))
            break
        except TimeoutException:
            continue
    ward = wait.until(ec.presence_of_element_located((By.ID, "ward-streets")))
    wait.until(lambda b: "<script>" in b.find_element(By.ID, "ward-streets").text)
    assert "<img src=x" in ward.text
    assert browser.execute_script("return window.__xss === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "#ward-streets script")


def test_analyst_picks_a_camera_site(live_app, browser):
    """Tasking: NOMAD sites are listed, and picking one highlights it on the map."""
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    _settle(browser)
    browser.find_element(
        By.CSS_SELECTOR, f"#{ids.TABLE_KIND} input[value='sites']").click()
    wait.until(lambda b: "Location" in b.find_element(By.ID, ids.TABLE).text)
    rows = wait.until(lambda b: b.find_elements(
        By.CSS_SELECTOR, f"#{ids.TABLE} .ag-center-cols-container .ag-row"))
    assert 1 <= len(rows) <= 4  # the default of 4 cameras (fewer if few places)
    assert "C1.1" in browser.find_element(By.ID, ids.TABLE).text
    rows[0].click()
    wait.until(lambda b: b.execute_script(
        "return [...document.querySelectorAll('.leaflet-highlight-pane path')]"
        ".some(p => p.getAttribute('stroke') === '#00e5ff')"))


def test_search_mitcham_moves_the_map_there(live_app, browser):
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    _settle(browser)
    _select_area(browser, "Mitcham", "@")
    wait.until(lambda b: "Mitcham" in b.find_element(By.ID, ids.MONTHS_LABEL).text)
    _settle(browser)
    lats = [lat for _, _, lat in MITCHAM_STREETS]
    lons = [lon for _, lon, _ in MITCHAM_STREETS]

    def there(b):
        # the streets' labels are on screen, inside the map's box
        box = b.find_element(By.ID, ids.MAP).rect
        pts = b.execute_script(
            "return [...document.querySelectorAll('.hs-label-street')]"
            ".filter(e => e.textContent.startsWith('Mitcham'))"
            ".map(e => { const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })")
        return len(pts) == 3 and all(
            box["x"] < x < box["x"] + box["width"]
            and box["y"] < y < box["y"] + box["height"] for x, y in pts)

    # (labels only show from zoom 14: the map has zoomed in on them, too)
    wait.until(there)
    assert max(lats) - min(lats) < 0.01 and max(lons) - min(lons) < 0.01


def _zone_rows(browser):
    return browser.execute_script(
        "return [...document.querySelectorAll("
        "'#ranked-table .ag-center-cols-container .ag-row')]"
        ".map(r => r.querySelector('[col-id=\"id\"]').textContent)"
        ".sort()")


def test_zones_table_follows_the_plan_and_zones_stay_on_top(live_app, browser,
                                                           zoo_app_env):
    from dashboards import callbacks as cb
    from hotspots.areas import _read_wards

    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    _settle(browser)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.LEVEL} input[value='90']").click()
    browser.find_element(By.CSS_SELECTOR, f"#{ids.FDR} input").click()
    _settle(browser)
    browser.find_element(
        By.CSS_SELECTOR, f"#{ids.TABLE_KIND} input[value='zones']").click()
    hours = browser.find_element(By.ID, ids.HOURS)
    for h in ("400", "20"):  # change the budget twice
        hours.clear()
        hours.send_keys(h + "\n")
        time.sleep(0.2)
    wait.until(_idle)
    # what the plan is for 20 h, computed directly on the same store
    _, store = zoo_app_env
    _read_wards.cache_clear()
    ctx = cb.AppContext.open(store, permutations=99)
    months = browser.execute_script(
        "return document.getElementById(arguments[0]).textContent", ids.PERIOD)
    assert months
    i = ctx.months.index(months.split(" to ")[0])
    j = ctx.months.index(months.split(" to ")[1].split(" ")[0])
    plan = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", [i, j], 9, 90,
                              [], 20, 4, 100)
    want = sorted(r["id"] for r in plan["rows"]["zones"])
    assert want, plan["note"]
    try:
        wait.until(lambda b: _zone_rows(b) == want)
    except TimeoutException:
        raise AssertionError((_zone_rows(browser), want, plan["note"])) from None
    n_zone_paths = _count(browser, ".leaflet-zones-pane path")
    assert n_zone_paths == len(plan["zones"]["features"])
    assert "plan uses" in browser.find_element(By.ID, ids.TASKING_NOTE).text
    # switch area and back: the zones are still drawn above the hexagons
    _select_area(browser, "Zoo One", "E05000001")
    _settle(browser)
    _select_area(browser, "Merton", "Merton")
    _settle(browser)
    wait.until(lambda b: _count(b, ".leaflet-zones-pane path") > 0)
    on_top = browser.execute_script(
        "const p = document.querySelector('.leaflet-zones-pane path');"
        "const r = p.getBoundingClientRect();"
        "const pts = [[r.left + r.width / 2, r.top + r.height / 2]];"
        "return pts.map(([x, y]) => document.elementFromPoint(x, y))"
        ".map(e => e && e.closest('.leaflet-pane') && "
        "e.closest('.leaflet-pane').className);")
    assert all("zones" in (c or "") or "sites" in (c or "") or "labels" in (c or "")
               or "highlight" in (c or "") for c in on_top), on_top
    z = browser.execute_script(
        "const z = n => +getComputedStyle(document.querySelector("
        "'.leaflet-' + n + '-pane')).zIndex; return [z('hexes'), z('zones'),"
        " z('sites')];")
    assert z[0] < z[1] < z[2]


def test_points_are_sent_only_while_their_layer_is_on(live_app, browser):
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    _settle(browser)
    browser.execute_script(RECORD_FETCH)
    browser.find_element(
        By.CSS_SELECTOR, f"#{ids.FAMILY} input[value='all']").click()
    _settle(browser)
    sent = browser.execute_script("return window.__sent")
    assert any(ids.VIEW_DATA in s for s in sent), sent
    assert not any(ids.POINTS in s for s in sent), sent
    # switch the layer on: now they come, and draw
    browser.execute_script(
        "const l = [...document.querySelectorAll("
        "'.leaflet-control-layers-overlays label')]"
        ".find(x => x.textContent.includes(arguments[0]));"
        "l.querySelector('input').click();", ids.OVERLAY_POINTS)
    wait.until(lambda b: any(ids.POINTS in s for s in b.execute_script(
        "return window.__sent")))
    wait.until(lambda b: _count(b, ".leaflet-points-pane path") > 10)


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["1366", "1920"])
def test_page_fits_without_scrolling(live_app, browser, size):
    _login(browser, live_app, "ana")
    browser.set_window_size(*size)
    try:
        _settle(browser)
        dims = browser.execute_script(
            "const d = document.documentElement; return [d.scrollHeight,"
            " d.clientHeight, d.scrollWidth, d.clientWidth,"
            " document.getElementById('map').getBoundingClientRect().height,"
            " document.querySelector('.hs-table').getBoundingClientRect().height];")
        assert dims[0] <= dims[1] and dims[2] <= dims[3], dims
        assert dims[4] > 200 and dims[5] > 120, dims
        # the legend folds away
        browser.find_element(By.CSS_SELECTOR, f"#{ids.LEGEND} summary").click()
        assert browser.find_element(By.ID, ids.LEGEND).get_attribute("open") is None
    finally:
        browser.set_window_size(1400, 1000)


def test_a_phone_shows_the_map_first_and_scrolls(live_app, browser):
    """At a phone's width the page is one scrolling column: the map first, as
    wide as the screen and most of its height, with hexagons drawn; no text
    wider than the screen."""
    _login(browser, live_app, "pat")
    browser.set_window_size(390, 844)
    try:
        _settle(browser)
        WebDriverWait(browser, WAIT).until(lambda b: _hexes(b) > 5)
        m = browser.execute_script(
            "const r = document.getElementById('map').getBoundingClientRect();"
            "const d = document.documentElement;"
            "return [r.width, r.height, r.top, d.clientWidth, d.scrollWidth,"
            " d.scrollHeight, d.clientHeight];")
        width, height, top, client_w, scroll_w, scroll_h, client_h = m
        assert width >= 0.9 * client_w and height >= 0.5 * client_h, m
        assert top < 0.4 * client_h, m  # the map comes first
        assert scroll_w <= client_w, m  # nothing runs off to the side
        assert scroll_h > client_h  # the rest is below, reached by scrolling
        if PHONE_SHOT:
            browser.save_screenshot(PHONE_SHOT)
    finally:
        browser.set_window_size(1400, 1000)


def test_partner_has_no_point_layer_and_no_small_count(live_app, browser):
    from tests.dashboards.test_callbacks import small_counts

    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "pat")
    wait.until(lambda b: "withheld" in _status(b))
    wait.until(lambda b: _hexes(b) > 20)
    control = browser.find_element(
        By.CSS_SELECTOR, ".leaflet-control-layers").get_attribute("textContent")
    assert "Hot spots" in control
    assert ids.OVERLAY_POINTS not in control and "Surge zones" not in control
    # the page the partner's browser holds has no point layer at all
    layout = browser.execute_script(
        "const r = new XMLHttpRequest(); r.open('GET', '/_dash-layout', false);"
        "r.send(); return r.responseText;")
    assert ids.POINTS not in layout and ids.HOURS not in layout
    json.loads(layout)
    assert not browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-pane *")
    assert browser.find_element(By.ID, ids.BANNER).is_displayed()

    def headers(b):
        return [h.text for h in b.find_elements(
            By.CSS_SELECTOR, f"#{ids.TABLE} .ag-header-cell-text")]

    wait.until(lambda b: "Offences" in headers(b))
    assert "z" not in headers(browser) and "p" not in headers(browser)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert not small_counts(text), small_counts(text)


def test_log_out_button_ends_the_session(live_app, browser):
    """The header's button logs out (a POST); the page then asks to log in and
    the map's data is refused."""
    _login(browser, live_app, "pat")
    browser.find_element(By.CSS_SELECTOR, ".hs-logout").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url.endswith("/login"))
    status = browser.execute_script(
        "const r = new XMLHttpRequest(); r.open('GET', '/_dash-layout', false);"
        "r.send(); return r.status;")
    assert status == 401


def test_brief_downloads_with_every_zone_and_site(live_app, browser, tmp_path):
    from dashboards import callbacks as cb
    from tests.dashboards.test_callbacks import _pdf_text

    if not cb.brief_available():
        pytest.skip("the tasking brief writer is not installed")
    wait = WebDriverWait(browser, WAIT)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {
        "behavior": "allow", "downloadPath": str(tmp_path)})
    _login(browser, live_app, "ana")
    _settle(browser)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.LEVEL} input[value='90']").click()
    browser.find_element(By.CSS_SELECTOR, f"#{ids.FDR} input").click()
    wait.until(lambda b: "90 % confidence)" in b.find_element(
        By.ID, ids.MONTHS_LABEL).text)
    want = []
    for kind in ("zones", "sites"):
        browser.find_element(
            By.CSS_SELECTOR, f"#{ids.TABLE_KIND} input[value='{kind}']").click()
        want += _steady(browser, _zone_rows)
    browser.find_element(By.ID, ids.DL_BRIEF).click()
    wait.until(lambda b: list(tmp_path.glob("*.pdf")))
    pdf = next(tmp_path.glob("*.pdf"))
    text = _pdf_text(pdf.read_bytes(), tmp_path)
    assert want and all(i in text for i in want), (want, text[:500])


def test_the_browser_unpacks_layers_as_python_does(live_app, browser):
    import shapely

    from dashboards import callbacks as cb

    _login(browser, live_app, "ana")
    _settle(browser)
    shapes = [shapely.box(0, 0, 1, 1).difference(shapely.box(0.2, 0.2, 0.4, 0.4)),
              shapely.MultiPolygon([shapely.box(-0.2, 51.4, -0.19, 51.41),
                                    shapely.box(-0.18, 51.4, -0.17, 51.42)])]
    packed = {**cb._pack_geometry(shapes, 5),
              "props": {"id": ["a", "b"], "tooltip": ["<b>x</b>", None]}}
    got = browser.execute_script("return window.hotspots.unpack(arguments[0])",
                                 packed)
    want = cb.unpack_layer(packed)
    assert [f["properties"] for f in got["features"]] == [
        f["properties"] for f in want["features"]]
    for g, w in zip(got["features"], want["features"], strict=True):
        assert g["geometry"]["type"] == w["geometry"]["type"]
        assert _flat(g["geometry"]["coordinates"]) == pytest.approx(
            _flat(w["geometry"]["coordinates"]), abs=1e-9)


def _flat(coords) -> list[float]:
    """Every number of nested coordinate lists, in order."""
    text = json.dumps(coords).replace("[", " ").replace("]", " ").replace(",", " ")
    return [float(x) for x in text.split()]


#: Records each callback request's output and the map's title when it is sent.
RECORD_TITLES = """
window.__sentAt = [];
if (!window.__titled) {
  window.__titled = true;
  const orig = window.fetch;
  window.fetch = function (url, opts) {
    try {
      if (String(url).includes('_dash-update-component') && opts && opts.body) {
        window.__sentAt.push([JSON.parse(opts.body).output,
                              document.getElementById('months-label').textContent]);
      }
    } catch (e) {}
    return orig.apply(this, arguments);
  };
}
"""


def test_table_names_and_plan_follow_the_drawn_map(live_app, browser):
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    _settle(browser)
    browser.execute_script(RECORD_TITLES)
    browser.find_element(
        By.CSS_SELECTOR, f"#{ids.FAMILY} input[value='asb']").click()
    # the new view's plan is asked for (the old view's status and an idle page
    # can both be seen before the click's first request goes out)
    wait.until(lambda b: any(ids.TASK_DATA in out and "Anti-social" in title
                             for out, title in b.execute_script(
                                 "return window.__sentAt")))
    _settle(browser)
    sent = browser.execute_script("return window.__sentAt")
    after = [(out, title) for out, title in sent
             if ids.TASK_DATA in out or ids.TABLE in out]
    assert any(ids.TASK_DATA in out for out, _ in after), sent
    # asked for only once the map shows the new view (its title is set with it)
    assert all("Anti-social behaviour" in title for _, title in after), sent
    wait.until(lambda b: _hexes(b) > 20)


def test_search_asks_once_typing_pauses(live_app, browser):
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    _settle(browser)
    browser.execute_script("window.__sent = undefined;" + RECORD_FETCH)

    def searches(b):
        return sum("area.options" in s for s in b.execute_script(
            "return window.__sent"))

    def typed(text):
        browser.find_element(By.ID, ids.AREA).click()
        box = wait.until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, ".dash-dropdown-search")))
        box.send_keys(text)  # one keystroke after another

    # a pick made before typing pauses: no search at all
    typed("Zoo One")
    pick = ("const i = [...document.querySelectorAll('.dash-dropdown-option input')]"
            ".find(x => x.value === 'E05000001');"
            "if (!i) return false; i.closest('label').click(); return true;")
    for _ in range(100):  # as soon as the option shows (a quick user)
        if browser.execute_script(pick):
            break
        time.sleep(0.01)
    wait.until(lambda b: "Zoo One" in b.find_element(By.ID, ids.MONTHS_LABEL).text)
    time.sleep(0.8)
    assert searches(browser) == 0
    # typing, then a pause: one search, for the whole text
    typed("Mitcham")
    wait.until(lambda b: b.execute_script(
        "return [...document.querySelectorAll('.dash-dropdown-option input')]"
        ".some(x => x.value.startsWith('@'))"))
    assert searches(browser) == 1
