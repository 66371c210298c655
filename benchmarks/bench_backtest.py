"""The surge-plan backtest as a user runs it: South West BCU burglary, H3 res 10.

A fresh ``hotspots backtest --area SW --crime burglary --res 10 --area-share 0.02``
process is timed from start to finish (Python start-up, imports, one read of the
store, the forecasts for every test month, the knapsack, five baselines, the
bootstrap and five tie-break seeds), with its peak memory. The anchor, measured in
the same run, is what the earlier design spent on reading alone: it read the store
once per month (the training window, then the test month again), so one
month-window read of the same offences is timed and multiplied by the number of
test months.

Also printed: the backtest's own table (months, months with a plan, pooled PAI per
method, win rate against the best naive baseline, the 90 % interval of the pooled
PAI ratio) — the figures issue 17's "Done when" asks for.

Run: ``python benchmarks/bench_backtest.py [--area SW] [--crime burglary]
[--res 10] [--area-share 0.02]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time

_PEAK = ('int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]'
         '.split()[1]) / 1024')

RUN = """
import json, sys, time
t0 = time.perf_counter()
from hotspots.evaluate.backtest import backtest
r = backtest({area!r}, {crime!r}, res={res}, area_share={share})
doc = r.to_json()
sys.stdout.write(json.dumps({{"seconds": time.perf_counter() - t0,
    "peak_mb": {peak}, "summary": doc["summary"], "lines": r.summary(),
    "months": [m["month"] for m in doc["months"]]}}))
"""

ANCHOR = """
import json, sys, time
from hotspots.study import Study
from hotspots.counts import covered_months
from hotspots.store import Store
from hotspots.areas import resolve_area
store = Store.open()
area = resolve_area({area!r})
Study.load(area, {crime!r}, res={res}, store=store, fields=("month",))  # grid cache
months = covered_months(store, {crime!r}, area)
t = time.perf_counter()
st = Study.load(area, {crime!r}, months[-13], months[-2], res={res}, store=store,
                fields=("month", "lon", "lat", "crime_type"))
Study.load(area, {crime!r}, months[-1], months[-1], res={res}, store=store,
           fields=("month",))
sys.stdout.write(json.dumps({{"seconds": time.perf_counter() - t,
                              "tests": len(months) - 12}}))
"""


def _run(code: str) -> dict:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    doc["wall"] = time.perf_counter() - t
    return doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--area", default="SW")
    ap.add_argument("--crime", default="burglary")
    ap.add_argument("--res", type=int, default=10)
    ap.add_argument("--area-share", type=float, default=0.02)
    a = ap.parse_args()
    kw = {"area": a.area, "crime": a.crime, "res": a.res, "share": a.area_share}
    anchor = _run(ANCHOR.format(**kw))
    run = _run(RUN.format(peak=_PEAK, **kw))
    reads = anchor["seconds"] * anchor["tests"]
    s = run["summary"]
    print(f"== backtest {a.crime} in {a.area}, H3 res {a.res}, "
          f"{100 * a.area_share:g} % of the area, every covered month ==")
    print(f"fresh process, end to end: {run['wall']:.1f} s (inside: "
          f"{run['seconds']:.1f} s), peak memory {run['peak_mb']:.0f} MB")
    print(f"anchor: the earlier design's reads alone (one month's x "
          f"{anchor['tests']} test months) = {reads:.1f} s; the whole backtest, "
          f"one read included, = {run['wall'] / reads:.1f}x that")
    for line in run["lines"]:
        print("  " + line)
    print(f"done-when: plan in {s['months_with_plan']}/{s['months']} months; "
          f"plan >= best naive in {100 * s['win_rate_vs_best_naive']:.0f} % "
          f"(target >= 70 %); ratio {s['ratio']:.3f}, 90 % interval "
          f"{s['ratio_ci90'][0]:.3f}-{s['ratio_ci90'][1]:.3f} (target above 1.00)")


if __name__ == "__main__":
    main()
