"""Ingest: rows a second, the ratio against a naive pipeline, and memory per row.

Two data sets, each measured in this run (every path in a fresh process):

- the **shared data root** (real and semi-synthetic London files: street and
  stop-and-search rows);
- a **synthetic England and Wales** set from ``bench_scale.py`` (43 forces, police.uk
  street files, joined to a national grid of ~2 km squares instead of London's
  wards). Its size is ``--ew-rows`` (2 million by default, ``0`` to skip).

Paths:

- naive: ``pandas.read_csv`` of every file, ``geopandas.sjoin`` of every row with
  the boundaries, H3 per row at three resolutions, one Parquet file — no
  validation, no quarantine, no ledger;
- ours: ``hotspots.ingest.ingest`` (streaming read, validation with quarantine and
  ledger, one join per map point, H3 at three resolutions, a new store generation
  published atomically), on all the files and on about half of them; months in
  forked worker processes (the default for inputs this size), whose CPU time and
  memory are counted: peak = the parent's + each worker at the largest worker's
  peak (pages shared with the parent counted again, so an upper bound);
- a new month: a store of every month but the last, then ``ingest`` of all the
  files without ``--rebuild`` — the monthly routine, where the unchanged months
  are carried over (printed apart: the 5x goal is about a full ingest).

Printed per data set: rows read, seconds, rows a second, the ratio of ours to
naive in rows a second (for the full run, naive seconds / ours; wall clock and CPU
seconds, both from this run), peak memory (the process's
high-water mark), and bytes a row — ``(peak - memory after imports) / rows`` and
the marginal bytes a row between the half and the full run (the slope of peak
memory against rows: what grows with the data, the rest being a fixed overhead).

Run: ``python benchmarks/bench_ingest.py`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
_MIB = 1024 * 1024

_PROBE = """
import json, os, resource, sys, time
def _mib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
"""

OURS = _PROBE + """
from pathlib import Path
from hotspots.ingest import ingest
from hotspots.store import Store
spec = json.loads(sys.argv[1])
kw = {}
if spec.get("wards"):
    sys.path.insert(0, spec["bench_dir"])
    from bench_scale import EW_BBOX, _read_national_wards
    kw = {"wards": _read_national_wards(spec["wards"]), "bbox": EW_BBOX,
          "forces": None}
base, cpu0, t = _mib("VmRSS"), _cpu(), time.perf_counter()
r = ingest(root=spec["root"], store=Store.open(spec["store"]),
           force=spec.get("rebuild", True), **kw)
seconds = time.perf_counter() - t
engine = Store.open(spec["store"]).ledger()["engine"]
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
forked = engine.get("engine") == "processes"
# with forked workers: the parent's peak plus each worker at the largest
# worker's peak (their pages shared with the parent counted again: an upper bound)
peak = _mib("VmHWM") + (engine["workers"] * kids.ru_maxrss / 1024 if forked else 0)
print(json.dumps({"seconds": seconds,
                  "cpu": _cpu() - cpu0 + kids.ru_utime + kids.ru_stime,
                  "rows": r.rows_in + (r.stop_search["rows_in"] or 0),
                  "accepted": r.accepted + (r.stop_search["accepted"] or 0),
                  "files": len(r.files), "base_mib": base, "peak_mib": peak,
                  "groups": r.groups, "reused": len(r.reused),
                  "engine": engine}))
"""

NAIVE = _PROBE + """
from pathlib import Path
import geopandas as gpd, h3, pandas as pd
from hotspots.areas import load_wards
from hotspots.ingest import discover
spec = json.loads(sys.argv[1])
if spec.get("wards"):
    sys.path.insert(0, spec["bench_dir"])
    from bench_scale import _read_national_wards
    wards, forces = _read_national_wards(spec["wards"]), None
else:
    wards, forces = load_wards(Path(spec["root"])), ("metropolitan",
                                                      "city-of-london", "btp")
base, cpu0, t = _mib("VmRSS"), _cpu(), time.perf_counter()
rows = 0
for kind in ("street", "stop_search"):
    files = [f for f in discover(spec["root"], forces) if f.kind == kind]
    if not files:
        continue
    df = pd.concat([pd.read_csv(f.path, low_memory=False) for f in files],
                   ignore_index=True)
    rows += len(df)
    df = df.dropna(subset=["Longitude", "Latitude"])
    g = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["Longitude"],
                                                         df["Latitude"]), crs=4326)
    j = gpd.sjoin(g, wards, how="left", predicate="intersects")
    j = j[~j.index.duplicated()]
    for res in (8, 9, 10):
        j[f"h3_{res}"] = [h3.latlng_to_cell(y, x, res)
                          for x, y in zip(j["Longitude"], j["Latitude"])]
    j.drop(columns="geometry").to_parquet(spec["out"] + f"/{kind}.parquet")
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": _cpu() - cpu0,
                  "rows": rows, "base_mib": base, "peak_mib": _mib("VmHWM")}))
"""


def _run(code: str, spec: dict) -> dict:
    """Run ``code`` in a fresh interpreter; return the JSON it prints."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code),
                           json.dumps(spec)], capture_output=True, text=True,
                          cwd=HERE.parent)
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _half_root(root: Path, into: Path, months: set | None = None) -> Path:
    """A data root of symbolic links to every other police.uk file of ``root``
    (or to the files of ``months``): about half the rows, same folders."""
    from hotspots.ingest import discover

    files = sorted(discover(root, None), key=lambda f: f.label)
    pick = ([f for f in files if f.month in months] if months
            else files[::2])
    into.mkdir(parents=True)
    (into / "boundaries").symlink_to(root / "boundaries")
    for f in pick:
        target = into / f.label
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(f.path)
    return into


def _measure(root: Path, work: Path, wards: str | None = None,
             half_months: set | None = None) -> dict:
    spec = {"root": str(root), "wards": wards, "bench_dir": str(HERE)}
    out = work / "naive"
    out.mkdir()
    naive = _run(NAIVE, {**spec, "out": str(out)})
    shutil.rmtree(out, ignore_errors=True)
    half = _half_root(root, work / "half", half_months)
    ours_half = _run(OURS, {**spec, "root": str(half), "store": str(work / "s1")})
    shutil.rmtree(work / "s1", ignore_errors=True)
    ours = _run(OURS, {**spec, "store": str(work / "s2")})
    shutil.rmtree(work / "s2", ignore_errors=True)
    # the monthly routine: a store of every month but the last, then the full
    # root again without --rebuild (the other months are carried over)
    from hotspots.ingest import discover

    months = sorted({f.month for f in discover(root, None)})
    before = _half_root(root, work / "before", set(months[:-1]))
    _run(OURS, {**spec, "root": str(before), "store": str(work / "s3")})
    new_month = _run(OURS, {**spec, "store": str(work / "s3"), "rebuild": False})
    new_month["month"] = months[-1]
    shutil.rmtree(work / "s3", ignore_errors=True)
    return {"naive": naive, "ours_half": ours_half, "ours": ours,
            "new_month": new_month}


def _report(title: str, m: dict) -> dict:
    print(f"== {title} ==")
    naive, half, ours = m["naive"], m["ours_half"], m["ours"]
    for name, r in (("naive", naive), ("half", half), ("ours", ours)):
        if "error" in r:
            print(f"{name}: failed: {r['error'][:300]}")
    if any("error" in r for r in (naive, ours)):
        return m
    print(f"{'path':<34}{'rows':>12}{'seconds':>9}{'CPU s':>8}{'rows/s':>11}"
          f"{'ratio':>8}{'peak MiB':>10}{'bytes/row':>11}")
    for name, r in (("naive read_csv + sjoin + H3/row", naive),
                    ("hotspots ingest, half the files", half),
                    ("hotspots ingest", ours)):
        if "error" in r:
            continue
        per_row = (r["peak_mib"] - r["base_mib"]) * _MIB / max(1, r["rows"])
        # rows a second against the naive pipeline's (on all the files): the
        # half run reads fewer rows, so its seconds alone are not comparable
        ratio = (r["rows"] / r["seconds"]) / (naive["rows"] / naive["seconds"])
        print(f"{name:<34}{r['rows']:>12,}{r['seconds']:>9.2f}{r['cpu']:>8.1f}"
              f"{r['rows'] / r['seconds']:>11,.0f}{ratio:>7.2f}x"
              f"{r['peak_mib']:>10,.0f}{per_row:>11,.0f}")
    m["ratio_wall"] = naive["seconds"] / ours["seconds"]
    m["ratio_cpu"] = naive["cpu"] / ours["cpu"]
    m["rows_per_s"] = ours["rows"] / ours["seconds"]
    m["bytes_per_row"] = (ours["peak_mib"] - ours["base_mib"]) * _MIB / ours["rows"]
    print(f"ratio naive / ours: {m['ratio_wall']:.2f}x wall clock, "
          f"{m['ratio_cpu']:.2f}x CPU seconds (goal: 5x)")
    nm = m.get("new_month", {})
    if "error" not in nm and nm:
        m["new_month_seconds"] = nm["seconds"]
        print(f"a new month ({nm['month']}) over a store of the others, no "
              f"--rebuild: {nm['seconds']:.2f} s, {nm['groups'] - nm['reused']} of "
              f"{nm['groups']} (kind, month) groups read, the rest carried over; "
              f"{ours['seconds'] / nm['seconds']:.1f}x faster than our full "
              f"ingest, {naive['seconds'] / nm['seconds']:.1f}x the naive pipeline "
              "(which reads everything again; not counted toward the 5x goal)")
    elif nm:
        print(f"new month: failed: {nm['error'][:300]}")
    if "error" not in half and ours["rows"] > half["rows"]:
        slope = ((ours["peak_mib"] - half["peak_mib"]) * _MIB
                 / (ours["rows"] - half["rows"]))
        fixed = ours["peak_mib"] - slope * ours["rows"] / _MIB
        m["marginal_bytes_per_row"] = slope
        print(f"memory: {m['bytes_per_row']:,.0f} bytes a row above the "
              f"{ours['base_mib']:,.0f} MiB after imports; marginal "
              f"{slope:,.0f} bytes a row between {half['rows']:,} and "
              f"{ours['rows']:,} rows, + {fixed:,.0f} MiB fixed (goal: <= 300 "
              "bytes a row)")
    print(f"naive peak: {naive['peak_mib']:,.0f} MiB = "
          f"{(naive['peak_mib'] - naive['base_mib']) * _MIB / naive['rows']:,.0f} "
          "bytes a row")
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ew-rows", type=int, default=2_000_000,
                    help="rows of the synthetic England and Wales set (0: skip)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from hotspots.config import data_root

    print(f"machine: {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f} (shared: timings move with it; the ratios "
          "are measured in the same run)")
    out = {}
    with tempfile.TemporaryDirectory(prefix="hotspots-bench-ingest-") as tmp:
        work = Path(tmp) / "shared"
        work.mkdir()
        out["shared"] = _report(
            "shared data root: street + stop-and-search files, London wards",
            _measure(data_root(), work))
        if args.ew_rows:
            import bench_scale

            ew = Path(tmp) / "ew"
            months = max(2, round(args.ew_rows / bench_scale.ROWS_PER_MONTH))
            gen = bench_scale.generate(ew / "data", args.ew_rows, months, 20260101)
            wards = str(ew / "data" / "boundaries" / "london_wards_2022.gpkg")
            half = set(gen["months"][: max(1, months // 2)])
            print()
            out["ew"] = _report(
                f"synthetic England and Wales: {gen['rows']:,} street rows, "
                f"{gen['forces']} forces, {months} months, national ~2 km squares "
                "(SYNTHETIC data)",
                _measure(ew / "data", ew, wards=wards, half_months=half))
    print(f"load average now {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
