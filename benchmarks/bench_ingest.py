"""Ingest + join on the full data root vs a naive geopandas pipeline, same run.

Prints wall time and peak memory (max RSS of a fresh process) for

- ours:  ``hotspots.ingest.ingest`` (pyarrow read, validation with quarantine,
  unique-point ward join, H3 at three resolutions, GeoParquet store);
- naive: ``pandas.read_csv`` of every file, ``geopandas.sjoin`` of every row with
  the wards, H3 per row at three resolutions, one Parquet file — no validation.

and, on identical in-memory coordinates, the join stage alone: our unique-point join
(``locate_points`` + H3 per unique point) against ``sjoin`` + H3 per row.
Run: ``python benchmarks/bench_ingest.py`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap

OURS = """
import time, json, sys
from hotspots.ingest import ingest
from hotspots.store import Store
t = time.perf_counter()
r = ingest(store=Store.open(sys.argv[1]), force=True)
import resource
print(json.dumps({"seconds": time.perf_counter() - t, "rows": r.rows_in + r.stop_search["rows_in"],
                  "peak_mib": int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024}))
"""

NAIVE = """
import time, json, sys
import geopandas as gpd, h3, pandas as pd
from hotspots.areas import load_wards
from hotspots.config import data_root
from hotspots.ingest import discover
t = time.perf_counter()
rows = 0
out = []
wards = load_wards()
for kind in ("street", "stop_search"):
    files = [f for f in discover(data_root()) if f.kind == kind]
    df = pd.concat([pd.read_csv(f.path, low_memory=False) for f in files], ignore_index=True)
    rows += len(df)
    df = df.dropna(subset=["Longitude", "Latitude"])
    g = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["Longitude"], df["Latitude"]), crs=4326)
    j = gpd.sjoin(g, wards, how="left", predicate="intersects")
    j = j[~j.index.duplicated()]
    for res in (8, 9, 10):
        j[f"h3_{res}"] = [h3.latlng_to_cell(y, x, res) for x, y in zip(j["Longitude"], j["Latitude"])]
    j.drop(columns="geometry").to_parquet(sys.argv[1] + f"/{kind}.parquet")
import resource
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_mib": int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024}))
"""

JOIN_ONLY = """
import time, json
import geopandas as gpd, h3, numpy as np, pandas as pd
from hotspots.areas import load_wards, locate_points
from hotspots.store import Store
st = Store.open()
df = st.offences(columns=["lon", "lat"])
lon, lat = df["lon"].to_numpy(), df["lat"].to_numpy()
wards = load_wards()
t = time.perf_counter()
g = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
j = gpd.sjoin(g, wards, how="left", predicate="intersects")
for res in (8, 9, 10):
    _ = [h3.latlng_to_cell(y, x, res) for x, y in zip(lon, lat)]
naive = time.perf_counter() - t
t = time.perf_counter()
codes, uniq = pd.factorize(lon + 1j * lat)
loc = locate_points(uniq.real, uniq.imag, wards)
for res in (8, 9, 10):
    cells = np.array([h3.latlng_to_cell(y, x, res) for x, y in zip(uniq.real, uniq.imag)])[codes]
ours = time.perf_counter() - t
print(json.dumps({"naive": naive, "ours": ours, "rows": len(lon), "unique_points": len(uniq)}))
"""


def _run(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter and return the JSON it prints."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        naive = _run(NAIVE, b)
        ours = _run(OURS, a)
        join = _run(JOIN_ONLY)
    naive_mem, ours_mem = naive["peak_mib"], ours["peak_mib"]
    print("== ingest + join, full data root (fresh process each) ==")
    print(f"rows read:             {ours['rows']:,}")
    print(
        f"naive geopandas:       {naive['seconds']:7.2f} s   peak RSS {naive_mem:,.0f} MiB"
    )
    print(
        f"hotspots ingest:       {ours['seconds']:7.2f} s   peak RSS {ours_mem:,.0f} MiB"
        "  (incl. validation, quarantine, ledger, GeoParquet)"
    )
    print(f"ratio (naive / ours):  {naive['seconds'] / ours['seconds']:7.2f}x")
    print("== join stage alone (same coordinates in memory) ==")
    print(f"rows {join['rows']:,}, unique map points {join['unique_points']:,}")
    print(f"sjoin + H3 per row:    {join['naive']:7.2f} s")
    print(f"unique-point join:     {join['ours']:7.2f} s")
    print(f"ratio (naive / ours):  {join['naive'] / join['ours']:7.2f}x")


if __name__ == "__main__":
    sys.exit(main())
