"""Shared fixtures: a zoo of tiny wards and police.uk files, and the shared data.

The zoo is four 0.01° square wards in a 2 × 2 block near Wimbledon — two in
"Merton" (west), two in "Wandsworth" (east) — small enough to check by hand::

    lat 51.42 +---------+---------+
              | W2 (Me) | W4 (Wa) |
    lat 51.41 +---------+---------+
              | W1 (Me) | W3 (Wa) |
    lat 51.40 +---------+---------+
           -0.20      -0.19      -0.18   lon
"""

from __future__ import annotations

import os
import tempfile

# each test process keeps its caches (boundaries read once, outlines) to itself
os.environ.setdefault("HOTSPOTS_CACHE", tempfile.mkdtemp(prefix="hotspots-cache-"))

import csv
import fcntl
import gzip
import io
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from hotspots.config import data_root as _default_data_root
from hotspots.ingest import STREET_HEADER

ZOO_WARDS = [
    # code, name, borough code, borough, (lon0, lat0)
    ("E05000001", "Zoo One", "E09000024", "Merton", (-0.20, 51.40)),
    ("E05000002", "Zoo Two", "E09000024", "Merton", (-0.20, 51.41)),
    ("E05000003", "Zoo Three", "E09000032", "Wandsworth", (-0.19, 51.40)),
    ("E05000004", "Zoo Four", "E09000032", "Wandsworth", (-0.19, 51.41)),
]
MET = "Metropolitan Police Service"


def street_row(
    crime_id="c1",
    month="2022-06",
    lon="-0.195",
    lat="51.405",
    location="On or near Zoo Road",
    crime_type="Robbery",
    outcome="Under investigation",
    context="",
):
    """One police.uk street row (all fields as text)."""
    return [
        crime_id,
        month,
        MET,
        MET,
        lon,
        lat,
        location,
        "E01000001",
        "Merton 001A",
        crime_type,
        outcome,
        context,
    ]


def ss_row(
    date="2022-06-10T12:00:00+00:00",
    lat="51.405",
    lon="-0.195",
    outcome="A no further action disposal",
    obj="Controlled drugs",
):
    return [
        "Person search",
        date,
        "False",
        "",
        lat,
        lon,
        "Male",
        "18-24",
        "White - English",
        "White",
        "Misuse of Drugs Act 1971 (section 23)",
        obj,
        outcome,
        "False",
        "False",
    ]


def csv_bytes(rows, header=STREET_HEADER) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header is not None:
        w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


@pytest.fixture
def zoo_root(tmp_path) -> Path:
    """A data root with the zoo wards and an empty ``crimes/`` folder."""
    root = tmp_path / "data"
    (root / "boundaries").mkdir(parents=True)
    (root / "crimes").mkdir()
    rows = []
    for code, name, lad, lad_name, (x, y) in ZOO_WARDS:
        rows.append(
            {
                "WD22CD": code,
                "WD22NM": name,
                "LAD22CD": lad,
                "LAD22NM": lad_name,
                "geometry": shapely.MultiPolygon(
                    [shapely.box(x, y, x + 0.01, y + 0.01)]
                ),
            }
        )
    gdf = gpd.GeoDataFrame(rows, crs=4326)
    gdf.to_file(
        root / "boundaries" / "london_wards_2022.gpkg", layer="london_wards_2022"
    )
    return root


@pytest.fixture
def write_street(zoo_root):
    """Write street rows as a police.uk file in the zoo root; returns its path."""

    def _write(rows, month="2022-06", form="csv", header=STREET_HEADER, raw=None):
        data = raw if raw is not None else csv_bytes(rows, header)
        name = f"{month}-metropolitan-street.csv"
        folder = zoo_root / "crimes"
        if form == "csv":
            path = folder / name
            path.write_bytes(data)
        elif form == "gz":
            path = folder / (name + ".gz")
            path.write_bytes(gzip.compress(data))
        elif form == "zip":
            path = folder / f"{month}.zip"
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr(f"{month}/{name}", data)
                zf.writestr(
                    f"{month}/{month}-kent-street.csv", csv_bytes([street_row()])
                )
        else:
            raise ValueError(form)
        return path

    return _write


@pytest.fixture
def put(zoo_root):
    """Write bytes to a path under the zoo root's ``crimes/``; returns the path."""

    def _put(rel: str, data: bytes) -> Path:
        path = zoo_root / "crimes" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return _put


def month_rows(month: str, n: int, seed: int = 0, asb_share: float = 0.3,
               prefix: str = "") -> list[list[str]]:
    """``n`` valid street rows of ``month`` on random points of the zoo.

    Crime IDs are unique (``<prefix><month>-<i>``), empty for ASB rows.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    lon = -0.20 + rng.random(n) * 0.02
    lat = 51.40 + rng.random(n) * 0.02
    types = np.where(rng.random(n) < asb_share, "Anti-social behaviour",
                     rng.choice(["Robbery", "Vehicle crime", "Burglary"], n))
    return [street_row("" if t == "Anti-social behaviour" else f"{prefix}{month}-{i}",
                       month=month, lon=f"{x:.6f}", lat=f"{y:.6f}", crime_type=t)
            for i, (x, y, t) in enumerate(zip(lon, lat, types, strict=True))]


@pytest.fixture(scope="session")
def shared_root() -> Path:
    """The shared data root; tests using it skip when it is absent."""
    root = _default_data_root()
    if not (root / "boundaries" / "london_wards_2022.gpkg").is_file():
        pytest.skip("shared data root not present")
    return root


@pytest.fixture(scope="session")
def shared_store(shared_root, tmp_path_factory):
    """The shared data ingested once per test run (and reused while unchanged).

    Kept under ``.pytest_cache/shared_store`` in the checkout; ingest's input
    fingerprint rebuilds it whenever the data or the code version changes. A lock
    makes parallel test workers wait for one ingest.
    """
    from hotspots.ingest import ingest
    from hotspots.store import Store

    base = Path(__file__).resolve().parents[1] / ".pytest_cache"
    base.mkdir(exist_ok=True)
    store = Store.open(base / "shared_store")
    with open(base / "shared_store.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ingest(root=shared_root, store=store)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return store


def cli_json(monkeypatch, store, args, code=0) -> dict:
    """Run ``hotspots <args> --json`` on ``store``; the exit code must be ``code``.

    Returns the one JSON document the command printed.
    """
    import json

    from typer.testing import CliRunner

    from hotspots.cli import app

    monkeypatch.setenv("HOTSPOTS_STORE", str(store.path))
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == code, r.output
    return json.loads(r.stdout.splitlines()[0] if code else r.stdout)
