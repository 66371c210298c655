"""National-scale ingest: the Dask path on 1 and 2 workers vs the single process.

What it builds (a temporary folder, removed at the end unless ``--keep``):

- **Synthetic police.uk street files for England and Wales**: the 43 territorial
  forces, one ``YYYY-MM/YYYY-MM-<force>-street.csv.gz`` per force and month, with
  the police.uk header and column forms (64-hex Crime IDs, empty for ASB; 6-decimal
  coordinates; ``On or near …`` locations; LSOA code and name; outcome categories;
  empty Context; 0.5 % of rows with no location, which real files also have). Rows
  sit on the real Met map points (from the shared data root): each force gets a
  subset of them, weighted by how often the shared Met files use each point (real
  burglary rows, semi-synthetic robbery, vehicle and ASB rows on real points: the
  Met's hot-spot concentration), scaled to the force's size and moved to the
  force's centre. Volumes follow force populations; crime types follow the national
  police.uk mix; about 500,000 rows per month, as England and Wales record.
  Locations and LSOA strings are the Met ones (the ingest does not check them);
  points are not clipped to the coast. The data are synthetic: none of it is an
  offence anywhere.
- **A national boundary set**: ``hotspots`` joins points to London's 2022 wards
  and quarantines anything outside London (``outside_force_area``). A national
  run passes its own boundaries and bounding box (``ingest_dask(wards=…,
  bbox=…)``), so the benchmark builds a synthetic one: ~2 x 2.2 km squares over
  every occupied part of England and Wales (of the order of the real wards),
  each labelled with the force that owns most of its points. Every row therefore
  goes through the same validation, unique-point ward join, H3 (res 8, 9, 10)
  and GeoParquet write as a London ingest; rows with no location are quarantined.

What it measures, each in a fresh process (data generation is not timed):

- ``hotspots.distributed.ingest_dask`` on a ``LocalCluster`` with 1 and with 2
  workers (1 thread each, ``--memory-limit`` per worker): rows/s end to end
  (ledger, quarantine and store included), peak memory per worker (the worker
  process's high-water mark, and the highest RSS seen by polling) and the driver's
  peak. Worker memory is a month's working set plus the ledger counts each
  partition hands back (a few hundred groups per month, not a row per offence);
  the driver sums them. The benchmark still fits ``fixed + bytes/row`` for the
  workers (from the 1- and 2-worker runs: each holds its share of the rows) and
  for the driver, so any growth with the rows would show;
- the single-process path (``hotspots.ingest.ingest`` itself, streaming, with the
  same national boundaries and box) on two smaller slices of the months: rows/s,
  peak RSS, and from the two peaks the memory per row. From the two fits it
  extrapolates what the full data set would need in one process (and the largest
  that fits in this machine's RAM, when memory grows with the rows at all), and
  the limit of the Dask path (two workers and the driver in the same RAM; the
  driver alone when the workers run elsewhere).

Run: ``python benchmarks/bench_scale.py`` (20 million rows, 40 months; about
20 minutes on 2 cores), ``--quick`` (2 million rows), ``--rows N``,
``--months M``, ``--json FILE``; ``make bench`` runs the quick mode (set
``BENCH_SCALE=full`` for the full size).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: (slug, "Falls within" name, centre lon, centre lat, population in millions):
#: the 43 territorial forces of England and Wales (approximate centres).
FORCES: tuple[tuple[str, str, float, float, float], ...] = (
    ("avon-and-somerset", "Avon and Somerset Constabulary", -2.59, 51.45, 1.75),
    ("bedfordshire", "Bedfordshire Police", -0.47, 52.14, 0.70),
    ("cambridgeshire", "Cambridgeshire Constabulary", 0.12, 52.21, 0.90),
    ("cheshire", "Cheshire Constabulary", -2.52, 53.19, 1.07),
    ("city-of-london", "City of London Police", -0.092, 51.515, 0.05),
    ("cleveland", "Cleveland Police", -1.23, 54.57, 0.57),
    ("cumbria", "Cumbria Constabulary", -2.93, 54.89, 0.50),
    ("derbyshire", "Derbyshire Constabulary", -1.48, 52.92, 1.05),
    ("devon-and-cornwall", "Devon & Cornwall Police", -3.53, 50.72, 1.80),
    ("dorset", "Dorset Police", -1.88, 50.72, 0.78),
    ("durham", "Durham Constabulary", -1.57, 54.78, 0.65),
    ("dyfed-powys", "Dyfed-Powys Police", -4.31, 51.86, 0.52),
    ("essex", "Essex Police", 0.47, 51.74, 1.85),
    ("gloucestershire", "Gloucestershire Constabulary", -2.24, 51.86, 0.64),
    ("greater-manchester", "Greater Manchester Police", -2.24, 53.48, 2.87),
    ("gwent", "Gwent Police", -3.00, 51.59, 0.60),
    ("hampshire", "Hampshire Constabulary", -1.31, 50.91, 2.00),
    ("hertfordshire", "Hertfordshire Constabulary", -0.21, 51.80, 1.20),
    ("humberside", "Humberside Police", -0.33, 53.74, 0.93),
    ("kent", "Kent Police", 0.52, 51.27, 1.87),
    ("lancashire", "Lancashire Constabulary", -2.70, 53.76, 1.53),
    ("leicestershire", "Leicestershire Police", -1.13, 52.64, 1.10),
    ("lincolnshire", "Lincolnshire Police", -0.54, 53.23, 0.77),
    ("merseyside", "Merseyside Police", -2.98, 53.41, 1.43),
    ("metropolitan", "Metropolitan Police Service", -0.12, 51.50, 8.90),
    ("norfolk", "Norfolk Constabulary", 1.30, 52.63, 0.92),
    ("north-wales", "North Wales Police", -3.73, 53.29, 0.70),
    ("north-yorkshire", "North Yorkshire Police", -1.08, 53.96, 0.83),
    ("northamptonshire", "Northamptonshire Police", -0.89, 52.24, 0.79),
    ("northumbria", "Northumbria Police", -1.61, 54.97, 1.46),
    ("nottinghamshire", "Nottinghamshire Police", -1.15, 52.95, 1.16),
    ("south-wales", "South Wales Police", -3.18, 51.48, 1.33),
    ("south-yorkshire", "South Yorkshire Police", -1.47, 53.38, 1.41),
    ("staffordshire", "Staffordshire Police", -2.18, 53.00, 1.13),
    ("suffolk", "Suffolk Constabulary", 1.15, 52.06, 0.76),
    ("surrey", "Surrey Police", -0.57, 51.24, 1.20),
    ("sussex", "Sussex Police", -0.14, 50.83, 1.71),
    ("thames-valley", "Thames Valley Police", -1.26, 51.75, 2.42),
    ("warwickshire", "Warwickshire Police", -1.52, 52.28, 0.60),
    ("west-mercia", "West Mercia Police", -2.22, 52.19, 1.30),
    ("west-midlands", "West Midlands Police", -1.90, 52.48, 2.92),
    ("west-yorkshire", "West Yorkshire Police", -1.55, 53.80, 2.35),
    ("wiltshire", "Wiltshire Police", -1.80, 51.35, 0.73),
)
#: National police.uk mix of crime types (approximate shares, England and Wales).
TYPE_MIX: dict[str, float] = {
    "Violence and sexual offences": 0.33,
    "Anti-social behaviour": 0.17,
    "Public order": 0.09,
    "Criminal damage and arson": 0.08,
    "Other theft": 0.07,
    "Shoplifting": 0.065,
    "Vehicle crime": 0.05,
    "Burglary": 0.04,
    "Drugs": 0.03,
    "Other crime": 0.02,
    "Theft from the person": 0.015,
    "Bicycle theft": 0.01,
    "Robbery": 0.01,
    "Possession of weapons": 0.01,
}
#: England and Wales, generously (lon0, lat0, lon1, lat1).
EW_BBOX = (-6.5, 49.8, 2.0, 56.0)
ROWS_PER_MONTH = 500_000
NO_LOCATION_SHARE = 0.005
HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context\n"
)
_CELL = (0.03, 0.02)  # synthetic ward squares, degrees (lon, lat)
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_MIB = 1024 * 1024


def _log(msg: str, end: str = "\n") -> None:
    print(msg, end=end, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# the real Met structure


def _met_pool(root: Path) -> dict:
    """Unique real Met map points with their strings, use counts and outcomes."""
    from hotspots.ingest import discover

    files = [f for f in discover(root) if f.kind == "street"]
    if not files:
        raise SystemExit(f"no Met street files under the data root {root.name}")
    opts = pacsv.ConvertOptions(column_types={
        c: pa.string() for c in ("Crime ID", "Longitude", "Latitude", "Location",
                                 "LSOA code", "LSOA name", "Last outcome category",
                                 "Context")})
    cols = ["Longitude", "Latitude", "Location", "LSOA code", "LSOA name",
            "Last outcome category"]
    t = pa.concat_tables([
        pacsv.read_csv(pa.py_buffer(f.read_bytes()), convert_options=opts).select(cols)
        for f in files])
    df = t.to_pandas()
    outcomes = df["Last outcome category"].fillna("")
    outcomes = outcomes[outcomes != ""].value_counts(normalize=True)
    df = df[(df["Longitude"] != "") & (df["Latitude"] != "")]
    pts = df.groupby(["Longitude", "Latitude"], sort=True).agg(
        n=("Location", "size"), location=("Location", "first"),
        lsoa_code=("LSOA code", "first"), lsoa_name=("LSOA name", "first"),
    ).reset_index()
    lon = pts["Longitude"].astype(float).to_numpy()
    lat = pts["Latitude"].astype(float).to_numpy()
    clean = {c: pts[c].fillna("").str.replace(r'[,"\r\n]', " ", regex=True).to_numpy(
        object) for c in ("location", "lsoa_code", "lsoa_name")}
    return {"dlon": lon - lon.mean(), "dlat": lat - lat.mean(), "lat0": lat.mean(),
            "n": pts["n"].to_numpy(float), **clean,
            "outcomes": (outcomes.index.to_numpy(object), outcomes.to_numpy()),
            "rows": t.num_rows, "files": len(files)}


def _national_points(pool: dict, rng: np.random.Generator) -> list[dict]:
    """Each force's map points: a subset of the Met pool, scaled and moved."""
    n_pool = len(pool["n"])
    met_pop = next(f[4] for f in FORCES if f[0] == "metropolitan")
    out = []
    for slug, name, lon0, lat0, pop in FORCES:
        m = int(min(n_pool, max(2000, round(n_pool * pop / met_pop))))
        idx = np.sort(rng.choice(n_pool, m, replace=False)) if m < n_pool else (
            np.arange(n_pool))
        scale = math.sqrt(m / n_pool)
        stretch = math.cos(math.radians(pool["lat0"])) / math.cos(math.radians(lat0))
        lon = np.round(lon0 + pool["dlon"][idx] * scale * stretch, 6)
        lat = np.round(lat0 + pool["dlat"][idx] * scale, 6)
        w = pool["n"][idx]
        out.append({
            "slug": slug, "name": name, "pop": pop, "lon": lon, "lat": lat,
            "p": w / w.sum(),
            "lon_s": pa.array(np.char.mod("%.6f", lon).astype(object), pa.string()),
            "lat_s": pa.array(np.char.mod("%.6f", lat).astype(object), pa.string()),
            **{c: pa.array(pool[c][idx], pa.string())
               for c in ("location", "lsoa_code", "lsoa_name")},
        })
    return out


def _national_wards(forces: list[dict]):
    """Square 'wards' over every occupied part of England and Wales."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    lon = np.concatenate([f["lon"] for f in forces])
    lat = np.concatenate([f["lat"] for f in forces])
    owner = np.concatenate([np.full(len(f["lon"]), i) for i, f in enumerate(forces)])
    ix = np.floor((lon - EW_BBOX[0]) / _CELL[0]).astype(int)
    iy = np.floor((lat - EW_BBOX[1]) / _CELL[1]).astype(int)
    cells = pd.DataFrame({"ix": ix, "iy": iy, "owner": owner})
    top = (cells.groupby(["ix", "iy"])["owner"].agg(lambda s: s.value_counts().idxmax())
           .reset_index())
    x0 = EW_BBOX[0] + top["ix"].to_numpy() * _CELL[0]
    y0 = EW_BBOX[1] + top["iy"].to_numpy() * _CELL[1]
    geom = shapely.box(x0, y0, x0 + _CELL[0], y0 + _CELL[1])
    codes = [f"X{a:04d}{b:04d}" for a, b in zip(top["ix"], top["iy"], strict=True)]
    frc = [forces[i] for i in top["owner"]]
    g = gpd.GeoDataFrame({
        "WD22CD": codes,
        "WD22NM": [f"Square {a}-{b}" for a, b in zip(top["ix"], top["iy"],
                                                     strict=True)],
        "LAD22CD": [f["slug"] for f in frc],
        "LAD22NM": [f["name"] for f in frc],
    }, geometry=geom, crs=4326)
    return g.sort_values("WD22CD").reset_index(drop=True)


def _read_national_wards(path: str):
    import geopandas as gpd

    g = gpd.read_file(path).rename(columns={
        "WD22CD": "ward_code", "WD22NM": "ward_name", "LAD22CD": "borough_code",
        "LAD22NM": "borough"})
    g["bcu"] = g["borough_code"]
    return g.sort_values("ward_code").reset_index(drop=True)


# ---------------------------------------------------------------------------
# generation


def _months(n: int, start: tuple[int, int] = (2021, 1)) -> list[str]:
    y, m = start
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _hex_ids(rng: np.random.Generator, has_id: np.ndarray) -> pa.Array:
    """64-hex Crime IDs where ``has_id``, empty strings elsewhere."""
    k = int(has_id.sum())
    raw = np.frombuffer(rng.bytes(32 * k), np.uint8)
    nib = np.empty(64 * k, np.uint8)
    nib[0::2] = raw >> 4
    nib[1::2] = raw & 15
    offsets = np.zeros(len(has_id) + 1, np.int64)
    np.cumsum(np.where(has_id, 64, 0), out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        len(has_id), pa.py_buffer(offsets), pa.py_buffer(_HEX[nib].tobytes()))


def _file_rows(force: dict, month: str, n: int, rng: np.random.Generator,
               outcomes) -> pa.Table:
    types = np.array(list(TYPE_MIX), dtype=object)
    mix = np.array(list(TYPE_MIX.values()))
    t_idx = rng.choice(len(types), n, p=mix / mix.sum())
    asb = types[t_idx] == "Anti-social behaviour"
    p_idx = pa.array(rng.choice(len(force["p"]), n, p=force["p"]), pa.int64())
    no_loc = pa.array(rng.random(n) < NO_LOCATION_SHARE)
    empty = pa.scalar("", pa.string())

    def pick(col, missing=empty):
        return pc.if_else(no_loc, missing, force[col].take(p_idx))

    out_names, out_p = outcomes
    outcome = np.where(asb, "", out_names[rng.choice(len(out_names), n, p=out_p)])
    fname = pa.repeat(pa.scalar(force["name"]), n)
    return pa.table({
        "Crime ID": _hex_ids(rng, ~asb).cast(pa.string()),
        "Month": pa.repeat(pa.scalar(month), n),
        "Reported by": fname,
        "Falls within": fname,
        "Longitude": pick("lon_s"),
        "Latitude": pick("lat_s"),
        "Location": pick("location", pa.scalar("No Location")),
        "LSOA code": pick("lsoa_code"),
        "LSOA name": pick("lsoa_name"),
        "Crime type": pa.array(types[t_idx], pa.string()),
        "Last outcome category": pa.array(outcome.astype(object), pa.string()),
        "Context": pa.repeat(empty, n),
    })


def generate(folder: Path, rows: int, months: int, seed: int) -> dict:
    """Write the synthetic national data root; return what was made."""
    from hotspots.config import data_root

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    pool = _met_pool(data_root())
    forces = _national_points(pool, rng)
    wards = _national_wards(forces)
    (folder / "boundaries").mkdir(parents=True)
    # ingest_dask needs a boundary file of this name even when given ``wards``
    wards.to_file(folder / "boundaries" / "london_wards_2022.gpkg", driver="GPKG")
    pops = np.array([f["pop"] for f in forces])
    counts = rng.multinomial(rows, np.repeat(pops / pops.sum(), months) / months)
    counts = counts.reshape(len(forces), months)
    written = 0
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    month_names = _months(months)
    for j, month in enumerate(month_names):
        (folder / "crimes" / month).mkdir(parents=True)
        for i, force in enumerate(forces):
            n = int(counts[i, j])
            table = _file_rows(force, month, n, rng, pool["outcomes"])
            buf = pa.BufferOutputStream()
            pacsv.write_csv(table, buf, opts)
            body = HEADER.encode() + buf.getvalue().to_pybytes()
            path = folder / "crimes" / month / f"{month}-{force['slug']}-street.csv.gz"
            path.write_bytes(gzip.compress(body, compresslevel=1, mtime=0))
            written += n
        _log(f"\r  generated {month} ({j + 1}/{months}): {written:,} rows", end="")
    _log("")
    size = sum(p.stat().st_size for p in (folder / "crimes").rglob("*.gz"))
    return {"rows": int(counts.sum()), "months": month_names, "forces": len(forces),
            "files": len(forces) * months, "bytes_gz": size,
            "unique_points": int(sum(len(f["lon"]) for f in forces)),
            "wards": len(wards), "pool_points": len(pool["n"]),
            "pool_rows": pool["rows"], "rows_per_month": counts.sum(0).tolist(),
            "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------
# measurements (each in a fresh process)


def _hwm_mib() -> float:
    """This process's peak RSS (VmHWM) in MiB, or the current RSS off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss / _MIB


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / _MIB


def _cpu_s() -> float:
    """CPU seconds (user + system, all threads) this process has used."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _slice_root(root: Path, months: list[str], into: Path) -> Path:
    """A data root holding only ``months`` (symbolic links to their folders)."""
    into.mkdir(parents=True, exist_ok=True)
    (into / "boundaries").symlink_to(root / "boundaries")
    (into / "crimes").mkdir()
    for m in months:
        (into / "crimes" / m).symlink_to(root / "crimes" / m)
    return into


def _measure_single(spec: dict) -> dict:
    """``hotspots.ingest.ingest`` (one process, streaming) with the national
    boundaries and box, on a slice of the months."""
    from hotspots.ingest import ingest
    from hotspots.store import Store

    root = _slice_root(Path(spec["root"]), spec["months"],
                       Path(spec["store"] + "-root"))
    wards = _read_national_wards(spec["wards"])
    base, cpu0, load0 = _rss_mib(), _cpu_s(), os.getloadavg()[0]
    t0 = time.perf_counter()
    res = ingest(root=root, store=Store.open(spec["store"]), forces=None,
                 force=True, wards=wards, bbox=EW_BBOX)
    secs = time.perf_counter() - t0
    shutil.rmtree(root, ignore_errors=True)
    return {"rows": res.rows_in, "accepted": res.accepted,
            "quarantined": res.quarantined, "by_reason": res.by_reason,
            "seconds": secs, "cpu_s": _cpu_s() - cpu0, "baseline_mib": base,
            "peak_mib": _hwm_mib(), "load": [load0, os.getloadavg()[0]]}


def _probe(dask_worker=None) -> tuple[float, float]:
    """A worker's RSS and the task results it holds (dask's managed memory), MiB."""
    return _rss_mib(), dask_worker.state.nbytes / _MIB


class _Poller(threading.Thread):
    """Polls every worker's RSS and held results until stopped."""

    def __init__(self, client, every: float = 0.25):
        super().__init__(daemon=True)
        self.client, self.every = client, every
        self.peak: dict[str, float] = {}
        self.held: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                now = self.client.run(_probe)
            except Exception:  # noqa: BLE001  (a worker restarting; poll again)
                now = {}
            for addr, (rss, held) in now.items():
                self.peak[addr] = max(self.peak.get(addr, 0.0), rss)
                self.held[addr] = max(self.held.get(addr, 0.0), held)
            self.stop.wait(self.every)


def _measure_dask(spec: dict) -> dict:
    from distributed import get_task_stream

    from hotspots.distributed import cluster, ingest_dask
    from hotspots.store import Store

    wards = _read_national_wards(spec["wards"])
    slugs = tuple(f[0] for f in FORCES)
    n = spec["workers"]
    with cluster(workers=n, threads_per_worker=1, processes=True,
                 memory_limit=spec["memory_limit"]) as client:
        client.wait_for_workers(n)
        start_rss, start_cpu = client.run(_rss_mib), client.run(_cpu_s)
        driver_base, driver_cpu, load0 = _rss_mib(), _cpu_s(), os.getloadavg()[0]
        poller = _Poller(client)
        poller.start()
        t0 = time.perf_counter()
        with get_task_stream(client) as ts:
            res = ingest_dask(spec["root"], Store.open(spec["store"]), client=client,
                              forces=slugs, force=True, wards=wards, bbox=EW_BBOX)
        secs = time.perf_counter() - t0
        t_end = time.time()
        poller.stop.set()
        poller.join()
        hwm, cpu = client.run(_hwm_mib), client.run(_cpu_s)
        limit = {a: w.get("memory_limit") for a, w in
                 client.scheduler_info()["workers"].items()}
    spans = [(ss["start"], ss["stop"]) for task in ts.data
             for ss in task.get("startstops", ()) if ss.get("action") == "compute"]
    last = max((b for _a, b in spans), default=t_end)
    workers = {
        addr: {"peak_hwm_mib": hwm.get(addr), "peak_polled_mib": poller.peak.get(addr),
               "start_mib": start_rss.get(addr), "held_mib": poller.held.get(addr),
               "cpu_s": (cpu.get(addr) or 0.0) - (start_cpu.get(addr) or 0.0),
               "memory_limit_mib": (limit.get(addr) or 0) / _MIB}
        for addr in sorted(set(hwm) | set(poller.peak))
    }
    return {"rows": res.rows_in, "accepted": res.accepted,
            "quarantined": res.quarantined, "by_reason": res.by_reason,
            "seconds": secs, "workers": workers, "restarted": sorted(
                set(poller.peak) - set(start_rss)),
            "driver_baseline_mib": driver_base, "driver_peak_mib": _hwm_mib(),
            "driver_cpu_s": _cpu_s() - driver_cpu,
            "task_seconds": sum(b - a for a, b in spans),
            "after_last_task_s": t_end - last, "partitions": len(spans),
            "load": [load0, os.getloadavg()[0]], "outside_wards": res.outside_wards}


def _run(spec: dict) -> dict:
    """Run one measurement in a fresh interpreter; return its JSON."""
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--measure", json.dumps(spec)],
            capture_output=True, text=True, timeout=spec.get("timeout"),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no answer within {spec.get('timeout')} s"}
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()[-5:] if proc.stderr else ["failed"]
        return {"error": " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# report


def _fit(a: dict, b: dict) -> tuple[float, float]:
    """Bytes per row and fixed MiB from two single-process peaks."""
    slope = (b["peak_mib"] - a["peak_mib"]) * _MIB / max(1, b["rows"] - a["rows"])
    fixed = b["peak_mib"] - slope * b["rows"] / _MIB
    return slope, fixed


def _worker_peak(w: dict) -> float:
    return max(w.get("peak_hwm_mib") or 0.0, w.get("peak_polled_mib") or 0.0)


def _dask_fit(runs: dict, rows: int, ram_mib: float) -> dict | None:
    """Worker memory = fixed + bytes/row x its share; driver = fixed + bytes/row."""
    good = {n: r for n, r in runs.items() if "error" not in r}
    if len(good) < 2:
        return None
    share = {n: rows / n for n in good}
    peak = {n: float(np.mean([_worker_peak(w) for w in r["workers"].values()]))
            for n, r in good.items()}
    lo, hi = min(good), max(good)
    w_slope = (peak[lo] - peak[hi]) * _MIB / (share[lo] - share[hi])
    w_fixed = peak[lo] - w_slope * share[lo] / _MIB
    d_slope = float(np.mean([(r["driver_peak_mib"] - r["driver_baseline_mib"]) * _MIB
                             / r["rows"] for r in good.values()]))
    d_fixed = float(np.mean([r["driver_baseline_mib"] for r in good.values()]))
    per_row = max(1.0, w_slope + d_slope)
    limit = (ram_mib - hi * w_fixed - d_fixed) * _MIB / per_row
    return {"workers": hi, "worker_bytes_per_row": w_slope,
            "worker_fixed_mib": w_fixed, "driver_bytes_per_row": d_slope,
            "driver_fixed_mib": d_fixed,
            "held_mib": max(w.get("held_mib") or 0.0 for r in good.values()
                            for w in r["workers"].values()),
            "peak_mib_by_workers": {n: round(peak[n]) for n in sorted(good)},
            "driver_peak_mib": max(r["driver_peak_mib"] for r in good.values()),
            "limit_rows": limit,
            "driver_limit_rows": (ram_mib - d_fixed) * _MIB / max(1.0, d_slope)}


def _report(gen: dict, singles: list[dict], runs: dict, ram_mib: float,
            args) -> dict:
    rows = gen["rows"]
    print(f"== national ingest on Dask vs one process "
          f"(synthetic England and Wales, {gen['forces']} forces) ==")
    print(f"data: {rows:,} rows in {gen['files']:,} street files "
          f"({gen['months'][0]}…{gen['months'][-1]}, {len(gen['months'])} months, "
          f"{gen['bytes_gz'] / _MIB:,.0f} MiB gzipped), {gen['unique_points']:,} map "
          f"points, {gen['wards']:,} synthetic wards")
    print(f"      resampled from {gen['pool_points']:,} real Met map points "
          f"({gen['pool_rows']:,} real rows); generated in {gen['seconds']:.0f} s "
          "(not timed). SYNTHETIC data: no row is a real offence.")
    print("path: read .csv.gz, validate + quarantine, unique-point join to the "
          "national squares, H3 8/9/10, GeoParquet store, ledger")
    print(f"machine: {os.cpu_count()} cores, {ram_mib / 1024:,.1f} GiB RAM; worker "
          f"memory limit {args.memory_limit}")
    out: dict = {"data": gen, "single": singles, "dask": runs,
                 "ram_mib": ram_mib, "memory_limit": args.memory_limit}
    print(f"\n{'path':<24}{'rows':>12}{'seconds':>9}{'rows/s':>10}{'ratio':>7}"
          f"{'CPU s':>8}{'rows/CPU s':>11}{'peak MiB per worker':>22}{'driver':>8}")
    anchor, anchor_name = None, "dask"
    for n, r in sorted(runs.items()):
        if "error" in r:
            print(f"{f'dask, {n} worker(s)':<24}failed: {r['error'][:100]}")
            continue
        rps = r["rows"] / r["seconds"]
        if anchor is None:
            anchor, anchor_name = rps, f"dask on {n} worker{'s' if n > 1 else ''}"
        cpu = sum(w["cpu_s"] for w in r["workers"].values()) + r["driver_cpu_s"]
        peaks = " / ".join(f"{_worker_peak(w):,.0f}" for w in r["workers"].values())
        print(f"{f'dask, {n} worker(s)':<24}{r['rows']:>12,}{r['seconds']:>9.1f}"
              f"{rps:>10,.0f}{rps / anchor:>6.2f}x{cpu:>8.0f}{r['rows'] / cpu:>11,.0f}"
              f"{peaks:>22}{r['driver_peak_mib']:>8,.0f}")
        if r.get("restarted"):
            print(f"  (worker(s) restarted during the run: {r['restarted']})")
    for s in singles:
        if "error" in s:
            print(f"{'single process':<24}failed: {s['error'][:100]}")
            continue
        rps = s["rows"] / s["seconds"]
        ratio = f"{rps / anchor:>6.2f}x" if anchor else f"{'':>7}"
        print(f"{'single process (slice)':<24}{s['rows']:>12,}{s['seconds']:>9.1f}"
              f"{rps:>10,.0f}{ratio}{s['cpu_s']:>8.0f}{s['rows'] / s['cpu_s']:>11,.0f}"
              f"{s['peak_mib']:>22,.0f}")
    for n, r in sorted(runs.items()):
        if "error" not in r:
            print(f"dask {n}: {r['partitions']} month partitions, "
                  f"{r['task_seconds']:.0f} s of task time; the driver's ledger, "
                  f"quarantine and store swap after the last task: "
                  f"{r['after_last_task_s']:.1f} s; load average "
                  f"{r['load'][0]:.1f} -> {r['load'][1]:.1f}")
    loads = [x for s in singles if "error" not in s for x in s["load"]]
    if loads:
        print(f"single: load average {min(loads):.1f}…{max(loads):.1f} (the machine is "
              "shared: other processes compete for the 2 cores)")
    print(f"ratio: rows/s against {anchor_name} (the anchor, same run; the "
          "single-process slices are smaller); CPU s: workers + driver, or the "
          "whole single process")
    ok = [s for s in singles if "error" not in s]
    ram_gib = ram_mib / 1024
    if len(ok) == 2 and ok[1]["rows"] > ok[0]["rows"]:
        slope, fixed = _fit(ok[0], ok[1])
        limit_rows = (ram_mib - fixed) * _MIB / slope if slope > 0 else float("inf")
        need = (fixed + max(0.0, slope) * rows / _MIB) / 1024
        print(f"\nsingle process (streaming): {slope:,.0f} bytes/row at peak (slope "
              f"between the two slices) + {fixed:,.0f} MiB fixed")
        if slope > 0:
            print(f"  -> the largest ingest that fits in {ram_gib:,.1f} GiB RAM: "
                  f"~{limit_rows / 1e6:,.0f} million rows "
                  f"(~{limit_rows / (12 * ROWS_PER_MONTH):,.0f} years of England "
                  "and Wales)")
        else:
            print("  -> peak memory does not grow with the rows: no row limit "
                  "from memory")
        print(f"  -> these {rows / 1e6:,.1f} million rows: ~{need:,.2f} GiB in one "
              "process (extrapolated, not run)")
        out["single_fit"] = {"bytes_per_row": slope, "fixed_mib": fixed,
                             "limit_rows": limit_rows if math.isfinite(limit_rows)
                             else None, "need_gib": need}
        dfit = _dask_fit(runs, rows, ram_mib)
        if dfit:
            out["dask_fit"] = dfit
            w = dfit["workers"]
            print(f"dask: per worker {dfit['worker_fixed_mib']:,.0f} MiB (a month's "
                  f"working set) + {dfit['worker_bytes_per_row']:,.0f} bytes per row "
                  "of its share, of which dask counts up to "
                  f"{dfit['held_mib']:,.0f} MiB as held task results (each "
                  "partition's ledger counts and quarantined rows); driver "
                  f"{dfit['driver_bytes_per_row']:,.0f} bytes per row (it sums "
                  "those counts for the ledger)")
            vs = (f", {dfit['limit_rows'] / limit_rows:.1f}x the single-process "
                  "limit" if math.isfinite(limit_rows) else "")
            print(f"  -> with {w} workers and the driver in {ram_gib:,.1f} GiB RAM: "
                  f"~{dfit['limit_rows'] / 1e6:,.1f} million rows{vs}")
            print(f"  -> workers on other machines: the driver alone caps it at "
                  f"~{dfit['driver_limit_rows'] / 1e6:,.0f} million rows in "
                  f"{ram_gib:,.1f} GiB")
            by = " / ".join(f"{v:,} MiB ({n} worker{'s' if n > 1 else ''})"
                            for n, v in dfit["peak_mib_by_workers"].items())
            print(f"  -> at these {rows / 1e6:,.1f} million rows: {by} per worker "
                  f"and {dfit['driver_peak_mib']:,.0f} MiB in the driver, against "
                  f"~{need:,.1f} GiB in one process")
    if 1 in runs and 2 in runs and "error" not in runs[1] and "error" not in runs[2]:
        sp = runs[1]["seconds"] / runs[2]["seconds"]
        print(f"2-worker speed-up over 1 worker: {sp:.2f}x wall clock on "
              f"{os.cpu_count()} cores shared with other processes (see the load "
              "averages; the CPU seconds show the work itself does not grow), the "
              "driver's ledger step after the last task is serial")
    ow = next((r.get("outside_wards") for r in runs.values() if "error" not in r),
              None)
    if ow:
        print(f"joins: {ow.get('rows_with_valid_coordinates', 0):,} rows with "
              f"coordinates, {ow.get('outside_london_wards', 0):,} outside every "
              "square, the rest in one; rows with no location are quarantined")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--quick", action="store_true", help="2 million rows")
    ap.add_argument("--months", type=int, default=None,
                    help=f"default: rows / {ROWS_PER_MONTH:,}")
    ap.add_argument("--single-rows", type=int, default=4_000_000,
                    help="rows in the larger single-process slice")
    ap.add_argument("--memory-limit", default="8GiB", help="per Dask worker")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds allowed for each measurement")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--workdir", default=None,
                    help="where to write the data (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the workdir")
    ap.add_argument("--json", default=None, help="also write the summary here")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        spec = json.loads(args.measure)
        fn = _measure_dask if spec["kind"] == "dask" else _measure_single
        print(json.dumps(fn(spec)))
        return 0
    import psutil

    rows = 2_000_000 if args.quick else args.rows
    months = args.months or max(2, round(rows / ROWS_PER_MONTH))
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=work))
    else:
        work = Path(tempfile.mkdtemp(prefix="hotspots-bench-scale-"))
    root = work / "data"
    wards = str(root / "boundaries" / "london_wards_2022.gpkg")
    try:
        _log(f"generating {rows:,} rows over {months} months x {len(FORCES)} forces")
        gen = generate(root, rows, months, args.seed)
        ram_mib = psutil.virtual_memory().total / _MIB
        per_month = np.array(gen["rows_per_month"])
        k2 = int(min(months, max(2, np.searchsorted(np.cumsum(per_month),
                                                    args.single_rows) + 1)))
        k1 = max(1, k2 // 2)
        singles = []
        for k in (k1, k2):
            _log(f"single process on {k} month(s)")
            singles.append(_run({"kind": "single", "root": str(root), "wards": wards,
                                 "months": gen["months"][:k], "timeout": args.timeout,
                                 "store": str(work / f"store-single-{k}")}))
            shutil.rmtree(work / f"store-single-{k}", ignore_errors=True)
        runs = {}
        for n in (int(x) for x in args.workers.split(",")):
            _log(f"dask on {n} worker(s)")
            runs[n] = _run({"kind": "dask", "root": str(root), "wards": wards,
                            "workers": n, "memory_limit": args.memory_limit,
                            "timeout": args.timeout,
                            "store": str(work / f"store-dask-{n}")})
            shutil.rmtree(work / f"store-dask-{n}", ignore_errors=True)
        summary = _report(gen, singles, runs, ram_mib, args)
    finally:
        if args.keep:
            _log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(summary, default=str)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
