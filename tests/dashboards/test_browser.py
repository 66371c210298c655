"""The app in headless Chromium: one smoke path per view.

Analyst: log in, the map draws hexagons and the semi-synthetic banner, switching
the crime family re-renders, picking a table row highlights it on the map, and a
police.uk Location holding a script tag shows as text. Partner: log in and find
no offence-point layer anywhere (not in the page, not in the layer control).
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("selenium")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from dashboards import ids  # noqa: E402
from tests.dashboards.conftest import PASSWORDS  # noqa: E402

pytestmark = pytest.mark.browser
WAIT = 30


def _login(browser, base, user):
    browser.delete_all_cookies()
    browser.get(base + "/login")
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(PASSWORDS[user][1])
    browser.find_element(By.ID, "login-button").click()
    WebDriverWait(browser, WAIT).until(
        ec.text_to_be_present_in_element((By.ID, ids.ROLE), PASSWORDS[user][0]))


def _hex_paths(browser) -> int:
    return browser.execute_script(
        "return document.querySelectorAll('.leaflet-overlay-pane path').length")


def _status(browser) -> str:
    return browser.find_element(By.ID, ids.STATUS).text


def test_analyst_smoke_path(live_app, browser):
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "ana")
    # load: hexagons and wards drawn, status and banner shown
    wait.until(lambda b: "cells;" in _status(b))
    wait.until(lambda b: _hex_paths(b) > 20)
    banner = browser.find_element(By.ID, ids.BANNER)
    assert banner.is_displayed() and "SEMI-SYNTHETIC" in banner.text
    assert "Offence points" in browser.find_element(
        By.CSS_SELECTOR, ".leaflet-control-layers").text
    # switch family: the title under the slider and the layer follow
    browser.find_element(
        By.CSS_SELECTOR, f"#{ids.FAMILY} input[value='vehicle']").click()
    wait.until(lambda b: "Vehicle crime" in b.find_element(
        By.ID, ids.MONTHS_LABEL).text)
    wait.until(lambda b: "cells;" in _status(b))
    # pick a table row (90 %, no FDR, so the zoo has hot cells): it is highlighted
    browser.find_element(By.CSS_SELECTOR, f"#{ids.LEVEL} input[value='90']").click()
    browser.find_element(By.CSS_SELECTOR, f"#{ids.FDR} input").click()
    wait.until(lambda b: "90 % confidence)" in b.find_element(
        By.ID, ids.MONTHS_LABEL).text)
    row = wait.until(ec.element_to_be_clickable(
        (By.CSS_SELECTOR, f"#{ids.TABLE} .ag-center-cols-container .ag-row")))
    row.click()
    wait.until(lambda b: b.execute_script(
        "return [...document.querySelectorAll('.leaflet-overlay-pane path')]"
        ".some(p => p.getAttribute('stroke') === '#00e5ff')"))
    # a Location with a script tag renders as text in the ward panel
    # (click the highlighted cell's centre: it lies in a zoo ward; retry while the
    # map is still flying to it)
    for _ in range(10):
        browser.execute_script(
            "const p = [...document.querySelectorAll('.leaflet-overlay-pane path')]"
            ".find(x => x.getAttribute('stroke') === '#00e5ff');"
            "const r = p.getBoundingClientRect();"
            "p.dispatchEvent(new MouseEvent('click', {bubbles: true,"
            "clientX: r.left + r.width / 2, clientY: r.top + r.height / 2}));")
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
    wait.until(lambda b: "cells;" in _status(b))
    browser.find_element(
        By.CSS_SELECTOR, f"#{ids.TABLE_KIND} input[value='sites']").click()
    wait.until(lambda b: "Location" in b.find_element(By.ID, ids.TABLE).text)
    rows = wait.until(lambda b: b.find_elements(
        By.CSS_SELECTOR, f"#{ids.TABLE} .ag-center-cols-container .ag-row"))
    assert 1 <= len(rows) <= 4  # the default of 4 cameras (fewer if few places)
    assert "C1.1" in browser.find_element(By.ID, ids.TABLE).text
    rows[0].click()
    wait.until(lambda b: b.execute_script(
        "return [...document.querySelectorAll('.leaflet-overlay-pane path')]"
        ".some(p => p.getAttribute('stroke') === '#00e5ff')"))


def test_partner_has_no_point_layer(live_app, browser):
    wait = WebDriverWait(browser, WAIT)
    _login(browser, live_app, "pat")
    wait.until(lambda b: "withheld" in _status(b))
    wait.until(lambda b: _hex_paths(b) > 20)
    control = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers").text
    assert "Hot spots" in control
    assert "Offence points" not in control and "Surge zones" not in control
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
