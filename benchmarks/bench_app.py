"""The Dash app on the real store: browser re-render time and a loopback load test.

1. Browser (headless Debian Chromium through chromedriver): log in as an analyst,
   then change a filter (crime family, confidence) and time, in the page, from the
   click until every Dash callback has answered and the map has painted (two
   animation frames after the last update). Measured for a borough (Merton, H3
   r9) and London-wide (r8), cold (first visit: the analysis runs) and warm (the
   view precomputed in the store cache). The anchor is the cold render of the
   same views in the same run; the target is a warm borough re-render ≤ 500 ms.
2. Load: ``CLIENTS`` concurrent clients (threads, each its own session) on
   127.0.0.1 log in, then each sends ``ROUNDS`` filter changes (the map view and
   the point layer callbacks, as the browser does) with a per-request timeout
   and an overall time limit. Prints p50 / p95 / max latency and errors; the
   target is p95 ≤ 1 s with no errors at 20 clients.

The server is ``dashboards.app.run`` (waitress, 8 threads) in a subprocess bound to
127.0.0.1 only. Run: ``python benchmarks/bench_app.py [--clients 20 --rounds 10]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

HOST = "127.0.0.1"  # loopback only, always
USERS = {"bench-analyst": ("analyst", "bench-analyst-password"),
         "bench-partner": ("partner", "bench-partner-password")}
WALL_LIMIT_S = 180.0
REQUEST_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    from hotspots.access import User, hash_password

    users = tmp / "users.txt"
    users.write_text("\n".join(User(n, r, hash_password(p, rounds=4)).line()
                               for n, (r, p) in USERS.items()) + "\n")
    port = _free_port()
    code = ("from dashboards.app import run; "
            f"run(host={HOST!r}, port={port}, threads=8, users={str(users)!r}, "
            "tiles='none')")
    proc = subprocess.Popen([sys.executable, "-c", code],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/login", timeout=1).status_code == 200:
                return proc, base
        except requests.ConnectionError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the app did not start: " + proc.stderr.read().decode()[-2000:])


def _session(base: str, user: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/login", timeout=REQUEST_TIMEOUT_S).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = s.post(base + "/login", data={"username": user, "password": USERS[user][1],
                                      "csrf": token, "next": "/"},
               timeout=REQUEST_TIMEOUT_S, allow_redirects=False)
    if r.status_code != 302:
        raise SystemExit(f"log-in failed for {user}: {r.status_code}")
    return s


# -- the callbacks as the browser calls them -------------------------------------------
def _callback_bodies(s: requests.Session, base: str, months: list[str]):
    deps = s.get(base + "/_dash-dependencies", timeout=REQUEST_TIMEOUT_S).json()

    def find(fragment):
        return next(d for d in deps if fragment in d["output"])

    view, points = find("layer-hexes.data"), find("layer-points.data")

    def outputs(d):
        parts = d["output"].strip(".").split("...") if d["output"].startswith("..") \
            else [d["output"]]
        outs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]}
                for p in parts]
        return outs if d["output"].startswith("..") else outs[0]

    i0, i1 = months.index("2023-02"), months.index("2024-01")

    def bodies(area, family, res, level):
        vals = {"area": area, "family": family, "months": [i0, i1], "res": res,
                "level": level, "fdr": ["fdr"]}
        ins = [{"id": k, "property": "value", "value": v} for k, v in vals.items()]
        return [{"output": d["output"], "outputs": outputs(d), "inputs": ins,
                 "state": [], "changedPropIds": ["family.value"]}
                for d in (view, points)]

    return bodies


def load_test(base: str, months: list[str], clients: int, rounds: int) -> dict:
    views = [("Merton", f, 9, lv) for f in ("robbery", "vehicle", "asb", "all")
             for lv in (90, 95)] + [("London", "robbery", 8, 95),
                                    ("London", "all", 8, 95)]
    sessions = [_session(base, "bench-analyst") for _ in range(clients)]
    bodies = _callback_bodies(sessions[0], base, months)
    for v in views:  # precompute: what the store cache holds before people come
        for b in bodies(*v):
            sessions[0].post(base + "/_dash-update-component", json=b,
                             timeout=120).raise_for_status()
    lat, errors, lock = [], [], threading.Lock()
    stop_at = time.monotonic() + WALL_LIMIT_S
    start = threading.Barrier(clients)

    def client(i: int):
        s = sessions[i]
        start.wait()
        for r in range(rounds):
            if time.monotonic() > stop_at:
                return
            for b in bodies(*views[(i + r) % len(views)]):
                t = time.perf_counter()
                try:
                    resp = s.post(base + "/_dash-update-component", json=b,
                                  timeout=REQUEST_TIMEOUT_S)
                    ok = resp.status_code == 200
                    _ = resp.content
                except requests.RequestException as exc:
                    ok, resp = False, exc
                dt = time.perf_counter() - t
                with lock:
                    lat.append(dt)
                    if not ok:
                        errors.append(str(getattr(resp, "status_code", resp)))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - t0
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
    return {"clients": clients, "requests": len(lat), "errors": len(errors),
            "p50_s": round(q[49], 3), "p95_s": round(q[94], 3),
            "max_s": round(lat[-1], 3), "wall_s": round(wall, 2),
            "req_per_s": round(len(lat) / wall, 1)}


# -- the browser ----------------------------------------------------------------------
RENDER_JS = """
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const label = document.getElementById('months-label');
const before = label.textContent;
const t0 = performance.now();
document.querySelector(selector).click();
function busy() {
  return document.querySelector('[data-dash-is-loading="true"]') !== null;
}
function check() {
  if (performance.now() - t0 > 60000) { done(-1); return; }
  if (label.textContent !== before && !busy()) {
    requestAnimationFrame(() => requestAnimationFrame(
      () => done(performance.now() - t0)));
  } else { setTimeout(check, 5); }
}
check();
"""


def browser_timings(base: str, rounds: int = 3) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.dashboards.conftest import make_driver

    drv = make_driver()
    drv.set_script_timeout(90)
    out: dict[str, list[float]] = {}
    try:
        drv.get(base + "/login")
        drv.find_element("id", "username").send_keys("bench-analyst")
        drv.find_element("id", "password").send_keys(USERS["bench-analyst"][1])
        drv.find_element("id", "login-button").click()
        _wait_idle(drv)

        def change(selector):
            return drv.execute_async_script(RENDER_JS, selector)

        def pick_area(value):
            _select_area(drv, value)
            _wait_idle(drv)

        for area, res in (("Merton", None), ("London", 8)):
            if area != "Merton":
                pick_area(area)
                change(f"#res input[value='{res}']")
            fams = ["vehicle", "asb", "all", "robbery"]
            cold = [change(f"#family input[value='{f}']") for f in fams]
            warm = []
            for _ in range(rounds):
                warm += [change(f"#family input[value='{f}']") for f in fams]
                warm.append(change("#level input[value='90']"))
                warm.append(change("#level input[value='95']"))
            out[f"{area} cold"] = cold
            out[f"{area} warm"] = warm
    finally:
        drv.quit()
    return out


def _wait_idle(drv, timeout=90):
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    while time.monotonic() < deadline:
        busy = drv.execute_script(
            "return document.getElementById('status') === null || "
            "document.querySelector('[data-dash-is-loading=\"true\"]') !== null || "
            "document.getElementById('status').textContent === ''")
        if not busy:
            return
        time.sleep(0.1)
    raise SystemExit("the page did not settle")


def _select_area(drv, value, search=None):
    """Open the area dropdown (Dash 4, virtualised), search, click ``value``."""
    from selenium.webdriver.common.by import By

    pick = ("const i = [...document.querySelectorAll('.dash-dropdown-option input')]"
            ".find(x => x.value === arguments[0]);"
            "if (!i) return false; i.closest('label').click(); return true;")
    drv.find_element(By.ID, "area").click()
    time.sleep(0.3)
    drv.find_element(By.CSS_SELECTOR, ".dash-dropdown-search").send_keys(
        search or value)
    for _ in range(20):
        time.sleep(0.2)
        if drv.execute_script(pick, value):
            return
    raise SystemExit(f"could not choose the area {value!r}")


def _summary(xs):
    xs = [x for x in xs if x >= 0]
    if not xs:
        return "no data"
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return (f"median {statistics.median(xs):6.0f} ms  p95 {p95:6.0f} ms  "
            f"max {xs[-1]:6.0f} ms  (n={len(xs)})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--browser-rounds", type=int, default=3)
    ap.add_argument("--skip-browser", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.clients <= 50 or not 1 <= args.rounds <= 50:
        raise SystemExit("--clients and --rounds are bounded to 1..50")
    from hotspots.store import Store

    store = Store.open()
    if not store.exists():
        print("no store: run 'hotspots ingest' first")
        return 0
    months = store.months()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = _start_server(Path(tmp))
        try:
            if not args.skip_browser:
                import shutil

                if shutil.which("chromium") and shutil.which("chromedriver"):
                    results["browser_ms"] = browser_timings(base, args.browser_rounds)
                else:
                    print("chromium/chromedriver absent: browser timing skipped")
            results["load"] = load_test(base, months, args.clients, args.rounds)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print("\n== browser re-render after a filter change (click → all callbacks "
          "answered → painted)")
    for name, xs in results.get("browser_ms", {}).items():
        print(f"  {name:14s} {_summary(xs)}")
    b = results.get("browser_ms", {})
    if b.get("Merton warm") and b.get("Merton cold"):
        ratio = statistics.median(b["Merton cold"]) / statistics.median(
            b["Merton warm"])
        print(f"  anchor: cold (uncached) / warm (cached) borough render = "
              f"{ratio:.1f}x; target warm borough p95 ≤ 500 ms")
    ld = results["load"]
    print(f"\n== load test on {HOST}: {ld['clients']} concurrent clients, "
          f"{ld['requests']} callback requests in {ld['wall_s']} s "
          f"({ld['req_per_s']} req/s)")
    print(f"  p50 {ld['p50_s']} s  p95 {ld['p95_s']} s  max {ld['max_s']} s  "
          f"errors {ld['errors']}   (target p95 ≤ 1 s, no errors)")
    print(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
