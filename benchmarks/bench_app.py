"""The Dash app as a user feels it: headless Chromium and the server on this machine.

Measured in one run, on the real store (``hotspots ingest`` first):

1. **Browser** (Debian Chromium through chromedriver, 1366x768): log in as an
   analyst, then time in the page, from the click to the map drawn (the map's
   title shows the new view, no loading overlay, the hexagons painted: two
   animation frames after the last update):

   - a **cold borough** view at H3 r9 (an area not seen yet: the analysis runs);
   - a **cold London** view at r9;
   - **warm filter changes** (confidence level, FDR, a crime family already seen:
     the analysis is cached, the layer is rebuilt or served from memory);
   - the **loading overlay delay**: click to the overlay shown;
   - **bytes per view change** with the offence-point layer off (every callback
     response body summed) and whether any request for the points was made;
     then the same with the layer on, for comparison.

   The server starts with the on-disk analysis cache off (memory only), so
   "cold" is cold whatever earlier runs left in the store: a cold view is the
   first of its area after the server started (the shared tables the server
   builds at start are warm: offences in memory, count tables, outlines; the
   view cache is empty). Also timed: the server's start (launch to the log-in
   page answering) and the **first view ever** (the log-in click to the first
   map drawn, the page loading with it). With ``--screenshots DIR`` the page is
   saved after each cold view, to look at.

2. **Anchor, same run**: the core alone (``ViewCache.analysis`` → Gi* on the
   same grid and months) in this process for the same cold views, so the app's
   own share of a cold view is printed as a ratio: once **after a warm start**
   (:meth:`ViewCache.prepare`, then the page's first view, as the server does)
   and once **first ever** (a fresh cache reading the store's files).

3. **Load**: ``CLIENTS`` concurrent clients (threads, each its own session) on
   127.0.0.1 log in, then each sends ``ROUNDS`` view changes with a per-request
   timeout and an overall time limit. Prints p50 / p95 / max latency and errors.

Targets (issue 15): cold borough r9 ≤ 1 s, cold London r9 ≤ 2 s, warm change
≤ 300 ms, no layer's data sent while the layer is off.

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HOST = "127.0.0.1"  # loopback only, always
USERS = {"bench-analyst": ("analyst", "bench-analyst-password"),
         "bench-partner": ("partner", "bench-partner-password")}
WALL_LIMIT_S = 180.0
REQUEST_TIMEOUT_S = 30.0
COLD_BOROUGH = ("Wandsworth", "Wandsworth")  # (text typed, option value)
PERIOD = ("2022-01", "2022-12")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _start_server(tmp: Path) -> tuple[subprocess.Popen, str, float]:
    from hotspots.access import User, hash_password

    users = tmp / "users.txt"
    users.write_text("\n".join(User(n, r, hash_password(p, rounds=4)).line()
                               for n, (r, p) in USERS.items()) + "\n")
    port = _free_port()
    code = ("from dashboards.app import run; "
            f"run(host={HOST!r}, port={port}, threads=8, users={str(users)!r}, "
            "tiles='none', disk_cache=False)")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", code],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/login", timeout=1).status_code == 200:
                return proc, base, time.monotonic() - t0
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


# -- the anchor: the core alone, same views, same run ---------------------------------
def core_timings(months: list[str]) -> dict:
    """The core's cold views: first ever (a fresh cache reading the store's
    files) and after a warm start (the shared tables built, then the page's
    first view, as the server does), in ms."""
    from hotspots.cache import ViewCache
    from hotspots.store import Store

    def views(cache):
        out = {}
        for name, area in (("borough", COLD_BOROUGH[1]), ("London", "London")):
            t = time.perf_counter()
            cache.analysis(area, "robbery", *PERIOD, res=9, correction="fdr")
            out[name] = round(1000 * (time.perf_counter() - t))
        return out

    first = views(ViewCache(Store.open(), disk=False))
    cache = ViewCache(Store.open(), disk=False)
    cache.prepare()
    cache.analysis("Merton", "robbery", *PERIOD, res=9, correction="fdr")
    return {**views(cache), "first_ever": first}


# -- the load test: view changes as the browser sends them ----------------------------
def _callback_bodies(s: requests.Session, base: str, months: list[str]):
    deps = s.get(base + "/_dash-dependencies", timeout=REQUEST_TIMEOUT_S).json()
    view = next(d for d in deps if d["output"] == "view-data.data")
    i0, i1 = months.index(PERIOD[0]), months.index(PERIOD[1])

    def bodies(area, family, res, level):
        vals = {"area": area, "family": family, "months": [i0, i1], "res": res,
                "level": level, "fdr": ["fdr"]}
        ins = [{"id": k, "property": "value", "value": v} for k, v in vals.items()]
        return [{"output": view["output"],
                 "outputs": {"id": "view-data", "property": "data"},
                 "inputs": ins, "state": [], "changedPropIds": ["family.value"]}]

    return bodies


def load_test(base: str, months: list[str], clients: int, rounds: int) -> dict:
    views = [("Merton", f, 9, lv) for f in ("robbery", "vehicle", "asb", "all")
             for lv in (90, 95)] + [("London", "robbery", 9, 95)]
    sessions = [_session(base, "bench-analyst") for _ in range(clients)]
    bodies = _callback_bodies(sessions[0], base, months)
    for v in views:  # what the cache holds before people come
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
#: Records every callback request's output and response size (window.__net).
RECORD = """
if (!window.__net) {
  window.__net = [];
  const orig = window.fetch;
  window.fetch = async function (url, opts) {
    const res = await orig.apply(this, arguments);
    try {
      if (String(url).includes('_dash-update-component')) {
        const out = JSON.parse(opts.body).output;
        const n = (await res.clone().arrayBuffer()).byteLength;
        window.__net.push([out, n, performance.now()]);
      }
    } catch (e) {}
    return res;
  };
}
window.__net.length = 0;
"""
#: Runs an action (a JS function body) and times it to the map drawn: the title
#: holds ``want`` and has changed, no overlay, hexagon count stable for 2 frames.
RENDER_JS = """
const [action, want, done] = [arguments[0], arguments[1],
                              arguments[arguments.length - 1]];
const label = document.getElementById('months-label');
const before = label.textContent;
let busyAt = -1;
const obs = new MutationObserver(() => {
  if (busyAt < 0 && document.querySelector('.hs-busy.hs-on'))
    busyAt = performance.now() - t0;
});
obs.observe(document.getElementById('map-busy'), {attributes: true});
const t0 = performance.now();
window.__t0 = t0;
(new Function(action))();
function paths() {  // hexagons drawn (on a canvas: counted through Leaflet)
  const m = window.hotspots && window.hotspots.map; if (!m) return 0;
  let n = 0; m.eachLayer(l => { if (l.feature && l.options.pane === 'hexes') n++; });
  return n;
}
function check() {
  const dt = performance.now() - t0;
  if (dt > 90000) { obs.disconnect(); done([-1, busyAt]); return; }
  const ready = label.textContent !== before && label.textContent.includes(want)
    && !document.querySelector('.hs-busy.hs-on')
    && !document.querySelector('[data-dash-is-loading="true"]');
  if (ready) {
    const n = paths();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      if (paths() === n) { obs.disconnect();
                           done([performance.now() - t0, busyAt]); }
      else { setTimeout(check, 5); }
    }));
  } else { setTimeout(check, 5); }
}
check();
"""
#: After the log-in click: ms from the page's navigation start (the log-in
#: form's submission) to the first map drawn.
FIRST_JS = """
const done = arguments[arguments.length - 1];
function paths() {
  const m = window.hotspots && window.hotspots.map; if (!m) return 0;
  let n = 0; m.eachLayer(l => { if (l.feature && l.options.pane === 'hexes') n++; });
  return n;
}
function check() {
  if (performance.now() > 120000) { done(-1); return; }
  const label = document.getElementById('months-label');
  const ready = label && label.textContent !== '' && paths() > 0
    && !document.querySelector('.hs-busy.hs-on');
  if (ready) {
    const n = paths();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      if (paths() === n) { done(performance.now()); } else { setTimeout(check, 5); }
    }));
  } else { setTimeout(check, 5); }
}
check();
"""
PICK_OPTION = ("const i = [...document.querySelectorAll('.dash-dropdown-option input')]"
               ".find(x => x.value === arguments[0]);"
               "if (!i) return false; window.__pickLabel = i.closest('label');"
               "return true;")


def browser_timings(base: str, rounds: int = 3, shots: Path | None = None) -> dict:
    from selenium.webdriver.common.by import By

    from tests.dashboards.conftest import make_driver

    drv = make_driver()
    drv.set_window_size(1366, 768)
    drv.set_script_timeout(120)
    out: dict = {"ms": {}, "busy_ms": [], "bytes": {}, "answer_ms": {}}

    def timed(action, want, key):
        drv.execute_script(RECORD)
        ms, busy = drv.execute_async_script(RENDER_JS, action, want)
        out["ms"].setdefault(key, []).append(round(ms))
        if busy >= 0:
            out["busy_ms"].append(round(busy))
        net = drv.execute_script("return window.__net")
        t0 = drv.execute_script("return window.__t0")
        got = [e[2] - t0 for e in net if "view-data" in e[0]]
        if got and ms > 0:  # the map's answer received: the rest is the browser
            out["answer_ms"].setdefault(key, []).append(round(max(got)))
        return net

    def click(css):
        return f"document.querySelector(\"{css}\").click();"

    def choose_area(text, value):
        """Open the box, type, find the option; the timed action is its click."""
        for _ in range(200):  # the box is loaded on its own, after the map
            if drv.execute_script("return !!document.getElementById('area')"):
                break
            time.sleep(0.05)
        drv.find_element(By.ID, "area").click()
        time.sleep(0.3)
        drv.find_element(By.CSS_SELECTOR, ".dash-dropdown-search").send_keys(text)
        for _ in range(50):
            time.sleep(0.1)
            if drv.execute_script(PICK_OPTION, value):
                return "window.__pickLabel.click();"
        raise SystemExit(f"could not find the area {value!r}")

    try:
        drv.get(base + "/login")
        drv.find_element("id", "username").send_keys("bench-analyst")
        drv.find_element("id", "password").send_keys(USERS["bench-analyst"][1])
        drv.find_element("id", "login-button").click()
        for _ in range(100):  # the page after the log-in
            time.sleep(0.05)
            if drv.execute_script("return !!document.getElementById('map');"):
                break
        first = drv.execute_async_script(FIRST_JS)
        out["ms"]["first view ever (page load)"] = [round(first)]
        _wait_idle(drv)
        shot(drv, shots, "first-view")
        # cold views: a borough not seen yet, then London, both at r9
        net = timed(choose_area(*COLD_BOROUGH), COLD_BOROUGH[0], "cold borough r9")
        out["bytes"]["cold borough, points off"] = _net(net)
        _wait_idle(drv)
        shot(drv, shots, "cold-borough")
        net = timed(choose_area("London", "London"), "London", "cold London r9")
        out["bytes"]["cold London, points off"] = _net(net)
        _wait_idle(drv)
        shot(drv, shots, "cold-london")
        # back to the borough (its analysis cached), then warm changes
        timed(choose_area(*COLD_BOROUGH), COLD_BOROUGH[0], "area revisit")
        _wait_idle(drv)
        for _ in range(rounds):
            for lv in ("90", "99", "95"):
                net = timed(click(f"#level input[value='{lv}']"), f"{lv} %",
                            "warm: confidence level")
                out["bytes"].setdefault("warm change, points off", []).append(
                    _net(net))
            timed(click("#fdr input"), "confidence)", "warm: FDR off")
            timed(click("#fdr input"), "FDR)", "warm: FDR on")
        fams = [("vehicle", "Vehicle crime"), ("robbery", "Robbery")]
        for f, title in fams:  # first visit of vehicle: cold; then warm
            timed(click(f"#family input[value='{f}']"), title, "family (first)")
        for _ in range(rounds):
            for f, title in fams:
                timed(click(f"#family input[value='{f}']"), title,
                      "warm: family seen")
        # the point layer on: what a view change costs then
        drv.execute_script(
            "const l = [...document.querySelectorAll("
            "'.leaflet-control-layers-overlays label')]"
            ".find(x => x.textContent.includes('Offence points'));"
            "l.querySelector('input').click();")
        _wait_idle(drv)
        net = timed(click("#level input[value='90']"), "90 %", "warm, points on")
        time.sleep(1.0)
        net = drv.execute_script("return window.__net")
        out["bytes"]["warm change, points on"] = _net(net)
    finally:
        drv.quit()
    return out


def shot(drv, folder: Path | None, name: str) -> None:
    """Save the page as ``folder/name.png`` (after the map's fly-to settles)."""
    if folder is not None:
        time.sleep(1.2)
        folder.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(folder / f"{name}.png"))


def _net(entries) -> dict:
    total = sum(e[1] for e in entries)
    by = {}
    for e in entries:
        by[e[0]] = by.get(e[0], 0) + e[1]
    return {"total": total, "points_requests": sum(
        1 for e in entries if "layer-points" in e[0]), "by_output": by}


def _wait_idle(drv, timeout=120):
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    while time.monotonic() < deadline:
        busy = drv.execute_script(
            "return document.getElementById('status') === null || "
            "document.querySelector('.hs-busy.hs-on, .hs-planning.hs-on') !== null ||"
            "document.querySelector('[data-dash-is-loading=\"true\"]') !== null || "
            "document.getElementById('status').textContent === ''")
        if not busy:
            return
        time.sleep(0.1)
    raise SystemExit("the page did not settle")


def _summary(xs):
    xs = sorted(x for x in xs if x >= 0)
    if not xs:
        return "no data"
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return (f"median {statistics.median(xs):6.0f} ms  p95 {p95:6.0f} ms  "
            f"max {xs[-1]:6.0f} ms  (n={len(xs)})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--browser-rounds", type=int, default=3)
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--screenshots", type=Path, default=None,
                    help="save the page after each cold view into this folder")
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
    results["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, started = _start_server(Path(tmp))
        results["server_start_s"] = round(started, 1)
        try:
            if not args.skip_browser:
                import shutil

                if shutil.which("chromium") and shutil.which("chromedriver"):
                    results["browser"] = browser_timings(base, args.browser_rounds,
                                                         args.screenshots)
                else:
                    print("chromium/chromedriver absent: browser timing skipped")
            results["core_ms"] = core_timings(months)
            if not args.skip_load:
                results["load"] = load_test(base, months, args.clients, args.rounds)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    b = results.get("browser", {})
    print(f"\nload average (1, 5, 15 min): before {results['load_average_before']}, "
          f"after {results['load_average_after']} (2 cores)")
    print(f"server start (launch to the log-in page; shared tables built): "
          f"{results['server_start_s']} s")
    print("\n== click to map drawn, headless Chromium 1366x768, server on this "
          "machine (cache: memory only)")
    for name, xs in b.get("ms", {}).items():
        print(f"  {name:24s} {_summary(xs)}")
        got = b.get("answer_ms", {}).get(name)
        if got:
            print(f"  {'':24s} (answer received: {_summary(got)})")
    if b.get("busy_ms"):
        print(f"  {'loading overlay shown':24s} {_summary(b['busy_ms'])}  "
              "(target ≤ 100 ms)")
    core = results["core_ms"]
    ms = b.get("ms", {})
    for key, name in (("cold borough r9", "borough"), ("cold London r9", "London")):
        if ms.get(key) and ms[key][0] > 0:
            print(f"  anchor: {key} {ms[key][0]} ms vs the core alone after a warm "
                  f"start {core[name]} ms (same view, this run): app share "
                  f"{ms[key][0] - core[name]} ms, ratio {ms[key][0] / core[name]:.2f}")
    print(f"  the core alone, first ever (fresh cache, store files): borough "
          f"{core['first_ever']['borough']} ms, London "
          f"{core['first_ever']['London']} ms")
    print("  targets: cold borough r9 ≤ 1000 ms, cold London r9 ≤ 2000 ms, "
          "warm change ≤ 300 ms")
    print("\n== bytes received per view change (all callback responses)")
    for name, v in b.get("bytes", {}).items():
        vs = v if isinstance(v, list) else [v]
        tot = statistics.median(x["total"] for x in vs)
        pts = sum(x["points_requests"] for x in vs)
        print(f"  {name:28s} {tot / 1024:8.1f} KiB  point-layer requests: {pts}")
    if "load" in results:
        ld = results["load"]
        print(f"\n== load test on {HOST}: {ld['clients']} concurrent clients, "
              f"{ld['requests']} view requests in {ld['wall_s']} s "
              f"({ld['req_per_s']} req/s)")
        print(f"  p50 {ld['p50_s']} s  p95 {ld['p95_s']} s  max {ld['max_s']} s  "
              f"errors {ld['errors']}   (target p95 ≤ 1 s, no errors)")
    print(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
