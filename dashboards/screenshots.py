"""Screenshots of the analyst and partner views for the README.

``python -m dashboards.screenshots docs/screenshots`` (``make screenshots``) serves
the app on 127.0.0.1 with two throw-away accounts, opens it in headless Debian
Chromium and writes ``analyst.png`` and ``partner.png``. It uses the store
(``hotspots ingest`` first) and draws no base-map tiles, so nothing is fetched:
the ward and street names on the map come from the police.uk map points.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path

__all__ = ["main", "take_screenshots"]

AREA_FAMILY = ("Merton", "all")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-dev-shm-usage", "--window-size=1440,900")


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        raise SystemExit("chromium and chromedriver are needed: make system")
    opts = Options()
    opts.binary_location = browser
    for f in FLAGS:
        opts.add_argument(f)
    return webdriver.Chrome(service=Service(driver), options=opts)


def _settle(drv, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    while time.monotonic() < deadline:
        if drv.execute_script(
                "const s = document.getElementById('status');"
                "return s !== null && s.textContent !== '' && "
                "!document.querySelector('.hs-busy.hs-on, .hs-planning.hs-on') && "
                "document.querySelector('[data-dash-is-loading=\"true\"]') === null"):
            time.sleep(1.2)  # map fly-to animation
            return
        time.sleep(0.2)
    raise SystemExit("the page did not settle")


def _login(drv, base: str, user: str, password: str) -> None:
    drv.delete_all_cookies()
    drv.get(base + "/login")
    drv.find_element("id", "username").send_keys(user)
    drv.find_element("id", "password").send_keys(password)
    drv.find_element("id", "login-button").click()
    _settle(drv)


def _show(drv) -> None:
    """Choose the family, open a ward panel by clicking a hot cell, then zoom to
    the top hot spot (a table row) so the street names show."""
    fam = AREA_FAMILY[1]
    drv.execute_script(f"document.querySelector(\"#family input[value='{fam}']\")"
                       ".click()")
    _settle(drv)
    drv.execute_script(  # the hexagons are on a canvas: click at a hot one's pixel
        "const m = window.hotspots.map; let hit = null;"
        "m.eachLayer(l => { if (!hit && l.feature && l.options.pane === 'hexes'"
        " && l.feature.properties.bin > 0) hit = l; });"
        "if (hit) { const p = m.latLngToContainerPoint(hit.getCenter());"
        "const r = m.getContainer().getBoundingClientRect();"
        "const x = r.left + p.x, y = r.top + p.y;"
        "const el = document.elementFromPoint(x, y);"
        "for (const t of ['mousedown', 'mouseup', 'click']) {"
        "el.dispatchEvent(new MouseEvent(t, {bubbles: true, clientX: x,"
        " clientY: y})); } }")
    _settle(drv)
    drv.execute_script(
        "const r = document.querySelector("
        "'#ranked-table .ag-center-cols-container .ag-row .ag-cell');"
        "if (r) { r.click(); }")
    _settle(drv)
    # zoom out one step from the cell: a few streets around it, labelled
    drv.execute_script(
        "const b = document.querySelector('.leaflet-control-zoom-out');"
        "if (b) { b.click(); }")
    time.sleep(1.5)


def take_screenshots(out: Path | str, store=None) -> list[Path]:
    """Write ``analyst.png`` and ``partner.png`` into ``out``; returns the paths."""
    from werkzeug.serving import make_server

    from hotspots.access import Users

    from .app import create_app

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pw = {"analyst": secrets.token_urlsafe(16), "partner": secrets.token_urlsafe(16)}
    users = Users.from_mapping({"analyst": ("analyst", pw["analyst"]),
                                "partner": ("partner", pw["partner"])})
    app = create_app(store=store, users=users, tiles="none")
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    paths = []
    drv = _driver()
    try:
        for role in ("analyst", "partner"):
            _login(drv, base, role, pw[role])
            _show(drv)
            path = out / f"{role}.png"
            drv.save_screenshot(str(path))
            paths.append(path)
    finally:
        drv.quit()
        server.shutdown()
        thread.join(timeout=10)
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else "docs/screenshots"
    if not re.match(r"^[\w./-]+$", out):
        raise SystemExit(f"bad output folder {out!r}")
    for p in take_screenshots(out):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
