"""Fixtures of the app tests: a small zoo store, accounts, a live server, a browser.

The zoo store is the four zoo wards (one renamed with HTML in it) with a few
hundred robbery, vehicle and ASB offences over 24 months, some marked
semi-synthetic, a street whose police.uk Location is a script tag (the app must
show it as text), and three "Mitcham" streets in Zoo Four for the search box.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from hotspots.access import Users
from tests.conftest import ZOO_WARDS, csv_bytes, street_row

EVIL_LOCATION = ('On or near <script>window.__xss=1</script>'
                 '<img src=x onerror="window.__xss=2">')
EVIL_WARD = 'Zoo <b>Two</b> & "Co"'
#: Streets of the zoo's "Mitcham" (in Zoo Four, Wandsworth): name, lon, lat.
MITCHAM_STREETS = (("Mitcham Lane", -0.1835, 51.4180),
                   ("Mitcham Road", -0.1825, 51.4172),
                   ("Mitcham Park", -0.1842, 51.4186))
PASSWORDS = {"ana": ("analyst", "analyst-password-1"),
             "pat": ("partner", "partner-password-1")}
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--disable-dev-shm-usage", "--window-size=1400,1000")


def _months(n=24, start="2022-02"):
    import pandas as pd

    return [str(p) for p in pd.period_range(start, periods=n, freq="M")]


def build_zoo(root: Path) -> None:
    """Write the zoo wards and police.uk street files under ``root``."""
    (root / "boundaries").mkdir(parents=True)
    (root / "crimes").mkdir()
    rows = []
    for code, name, lad, lad_name, (x, y) in ZOO_WARDS:
        rows.append({"WD22CD": code,
                     "WD22NM": EVIL_WARD if code == "E05000002" else name,
                     "LAD22CD": lad, "LAD22NM": lad_name,
                     "geometry": shapely.MultiPolygon(
                         [shapely.box(x, y, x + 0.01, y + 0.01)])})
    gpd.GeoDataFrame(rows, crs=4326).to_file(
        root / "boundaries" / "london_wards_2022.gpkg", layer="london_wards_2022")
    rng = np.random.default_rng(7)
    types = ["Robbery", "Vehicle crime", "Anti-social behaviour"]
    n = 0
    for month in _months():
        out = []
        # a hot corner in Zoo One (south-west), background elsewhere
        for _ in range(40):
            if rng.random() < 0.5:
                lon, lat = -0.199 + rng.random() * 0.006, 51.401 + rng.random() * 0.006
            else:
                lon, lat = -0.2 + rng.random() * 0.02, 51.40 + rng.random() * 0.02
            t = types[int(rng.integers(3))]
            n += 1
            # police.uk's "King'S Road" (a capital after the apostrophe) among them
            loc = EVIL_LOCATION if rng.random() < 0.3 else (
                "On or near King'S Road" if n % 7 == 3 else f"On or near Road {n % 7}")
            ctx = "SYNTHETIC row" if t != "Robbery" or rng.random() < 0.5 else ""
            out.append(street_row(
                crime_id="" if t == "Anti-social behaviour" else f"id{n}",
                month=month, lon=f"{lon:.6f}", lat=f"{lat:.6f}", location=loc,
                crime_type=t, context=ctx,
                outcome="" if t == "Anti-social behaviour" else "Under investigation"))
        # Mitcham: two named streets side by side in Zoo Four (Wandsworth), so
        # the area box can find a place the zoo's areas are not called
        for street, lon, lat in MITCHAM_STREETS:
            n += 1
            out.append(street_row(
                crime_id=f"m{n}", month=month, lon=f"{lon:.6f}", lat=f"{lat:.6f}",
                location=f"On or near {street}", crime_type="Vehicle crime",
                context="", outcome="Under investigation"))
        (root / "crimes" / f"{month}-metropolitan-street.csv").write_bytes(
            csv_bytes(out))


@pytest.fixture(scope="session")
def zoo_app_env(tmp_path_factory):
    """``(data_root, store)`` of the zoo, ingested once per session."""
    from hotspots.ingest import ingest
    from hotspots.store import Store

    base = tmp_path_factory.mktemp("zooapp")
    root = base / "data"
    build_zoo(root)
    store = Store.open(base / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOTSPOTS_DATA", str(root))
        mp.delenv("HOTSPOTS_STORE", raising=False)
        ingest(root=root, store=store)
    return root, store


@pytest.fixture
def zoo_env(zoo_app_env, monkeypatch):
    """The zoo data root in ``HOTSPOTS_DATA`` for one test; yields the store."""
    root, store = zoo_app_env
    monkeypatch.setenv("HOTSPOTS_DATA", str(root))
    from hotspots.areas import _read_wards

    _read_wards.cache_clear()
    yield store
    _read_wards.cache_clear()


@pytest.fixture(scope="session")
def users() -> Users:
    return Users.from_mapping(PASSWORDS)


@pytest.fixture
def ctx(zoo_env):
    from dashboards.callbacks import AppContext

    return AppContext.open(zoo_env, permutations=99)


# -- live server and browser (browser tests) ------------------------------------------
@pytest.fixture(scope="module")
def live_app(zoo_app_env, users):
    """The app on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    from dashboards.app import create_app
    from hotspots.areas import _read_wards

    root, store = zoo_app_env
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOTSPOTS_DATA", str(root))
        _read_wards.cache_clear()
        app = create_app(store=store, users=users, tiles="none", permutations=99)
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(timeout=10)
            _read_wards.cache_clear()


def chrome_paths() -> tuple[str, str] | None:
    """The system Chromium and chromedriver, or None when absent."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def make_driver():
    """A headless Chromium driven by the system chromedriver (nothing downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    browser, driver = chrome_paths()
    opts = Options()
    opts.binary_location = browser
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts)


@pytest.fixture(scope="module")
def browser():
    if chrome_paths() is None:
        pytest.skip("chromium and chromedriver are not installed (make system)")
    drv = make_driver()
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
