"""The ``hotspots`` command line: thin adapters over the package.

Every command prints a short human summary, or with ``--json`` exactly one JSON
document on stdout (progress and logs go to stderr). Errors print one line naming
what is wrong and exit with status 2 (``{"error": …}`` on stdout with ``--json``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import HotspotsError

app = typer.Typer(
    name="hotspots",
    help="Where crime concentrates in London, and where to send patrols and cameras.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AreaOpt = Annotated[
    str,
    typer.Option("--area", help="London, a BCU (SW), a borough or a 2022 ward."),
]
CrimeOpt = Annotated[
    str,
    typer.Option("--crime", help="robbery, vehicle, asb, all, or a police.uk type."),
]
FromOpt = Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM.")]
DaskOpt = Annotated[bool, typer.Option("--dask", help="Run on a Dask cluster.")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address (default: LocalCluster)."),
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="LocalCluster workers.")]


@contextmanager
def dask_client(use: bool, scheduler: str | None, workers: int):
    """A Dask client when asked for (``--dask`` or ``--scheduler``), else None."""
    if not (use or scheduler):
        yield None
        return
    from .distributed import cluster

    with cluster(scheduler=scheduler, workers=workers) as client:
        err.print(f"[dim]dask: {client.scheduler.address}[/]")
        yield client
ToOpt = Annotated[str | None, typer.Option("--to", help="Last month, YYYY-MM.")]


def emit(payload: dict, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``payload`` as JSON, or call ``human`` to print a summary."""
    if as_json:
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
    else:
        human()


@contextmanager
def handled(as_json: bool):
    """Turn a :class:`HotspotsError` into one clear line and exit status 2."""
    try:
        yield
    except HotspotsError as exc:
        if as_json:
            sys.stdout.write(
                json.dumps({"error": str(exc), "type": type(exc).__name__}) + "\n"
            )
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(2) from None


@contextmanager
def progress_bar():
    """A rich progress bar on stderr; yields a ``progress(stage, done, total)``."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@app.command()
def fetch(
    what: Annotated[str, typer.Option(
        help="wards, crimes, all, or population (ONS mid-year estimates for the "
             "crime pack's rates)")] = "all",
    months: Annotated[
        list[str] | None, typer.Option("--month", help="YYYY-MM; repeat")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Download even when a data root exists.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Download official data (ONS wards, data.police.uk archives) into the cache."""
    from .fetch import fetch as do_fetch

    with handled(as_json), progress_bar() as prog:
        res = do_fetch(what=what, months=months or [], force=force, progress=prog)
    emit(
        res,
        as_json,
        lambda: out.print(
            f"data root: {res['data_root']}\n"
            + (
                "a data root exists; nothing downloaded (use --force)"
                if res.get("skipped")
                else f"{len(res['files'])} file(s) fetched"
            )
        ),
    )


@app.command()
def ingest(
    rebuild: Annotated[
        bool, typer.Option("--rebuild", "--force",
                           help="Rebuild even if the inputs are unchanged.")
    ] = False,
    forces: Annotated[
        str | None, typer.Option(
            "--forces", help="police.uk forces to read, comma-separated "
            "(metropolitan,city-of-london,btp by default; 'all' for every force).")
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to wait for another "
                            "ingest of the same store to finish.")
    ] = 600.0,
    use_dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Read every police.uk file in the data root, validate, join, write the store.

    The new store is published as a whole when complete: a killed or failed run
    leaves the previous one in place.
    """
    from .config import LONDON_FORCES
    from .ingest import ingest as do_ingest

    chosen = forces.split(",") if forces else LONDON_FORCES
    with handled(as_json), progress_bar() as prog, \
            dask_client(use_dask, scheduler, workers) as client:
        if client is None:
            res = do_ingest(force=rebuild, progress=prog, forces=chosen,
                            lock_timeout=wait)
        else:
            from .distributed import ingest_dask

            res = ingest_dask(client=client, force=rebuild, forces=chosen,
                              lock_timeout=wait)

    def human() -> None:
        t = Table(title="ingest" + (" (store up to date)" if res.up_to_date else ""))
        t.add_column("")
        t.add_column("street", justify="right")
        t.add_column("stop and search", justify="right")
        ss = res.stop_search
        for label, a, b in (
            ("rows in", res.rows_in, ss.get("rows_in")),
            ("accepted", res.accepted, ss.get("accepted")),
            ("quarantined", res.quarantined, ss.get("quarantined")),
        ):
            t.add_row(label, f"{a or 0:,}", f"{b or 0:,}")
        out.print(t)
        for line in res.summary()[2:]:
            out.print(line, highlight=False)
        ow = res.outside_wards
        if ow and ow.get("share_with_ward") is not None:
            out.print(
                f"share of rows with coordinates given a 2022 ward: "
                f"{ow['share_with_ward']:.4%} ({ow['outside_london_wards']:,} outside "
                f"London wards, {ow['snapped_to_nearest_ward']:,} snapped to the "
                "nearest ward within 250 m)"
            )
        if res.synthetic_rows:
            out.print(
                f"[bold yellow]SEMI-SYNTHETIC:[/] {res.synthetic_rows:,} accepted rows "
                "are marked synthetic in Context; every output using them says so."
            )
        for w in res.warnings[:20]:
            err.print(f"[yellow]warning:[/] {w}", highlight=False, markup=False)
        if len(res.warnings) > 20:
            err.print(f"[yellow]warning:[/] … and {len(res.warnings) - 20} more "
                      "(see the ledger)")
        if res.skipped:
            why = ", ".join(f"{n} {r}" for r, n in sorted(
                res.to_json()["skipped_by_reason"].items()))
            err.print(f"skipped files (listed in the ledger): {why}",
                      highlight=False)
        gen = f", generation {res.generation}" if res.generation else ""
        out.print(f"store: {res.store}{gen} (quarantine: quarantine.csv, ledger: "
                  "ledger.json)", highlight=False)

    emit(res.to_json(), as_json, human)


@app.command()
def counts(
    area: AreaOpt = "London",
    crime: CrimeOpt = "all",
    by: Annotated[
        str, typer.Option(help="month, ward, borough, bcu, crime_type")
    ] = "month",
    start: FromOpt = None,
    end: ToOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Offence counts after the joins, by month, ward or borough."""
    from .counts import count_offences

    with handled(as_json):
        res = count_offences(area=area, crime=crime, by=by, start=start, end=end)

    def human() -> None:
        t = Table(title=f"{res.crime} in {res.area.name} by {res.by}")
        t.add_column(by)
        t.add_column("count", justify="right")
        for r in res.table.itertuples(index=False):
            t.add_row(str(r.label), f"{r.count:,}")
        t.add_row("total", f"{res.total:,}")
        out.print(t)
        if res.synthetic_share:
            out.print(
                f"[bold yellow]SEMI-SYNTHETIC:[/] {res.synthetic_share:.0%} of these "
                "rows are synthetic offences on real map points."
            )

    emit(res.to_json(), as_json, human)


@app.command()
def crosswalk(
    method: Annotated[str, typer.Option(help="area or points")] = "area",
    borough: Annotated[str | None, typer.Option(help="Only this borough.")] = None,
    out_file: Annotated[
        str | None, typer.Option("--out", help="Write CSV here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Old (2018) to new (2022) ward crosswalk, area- or offence-point-weighted."""
    from .crosswalk import ward_crosswalk, write_crosswalk

    with handled(as_json):
        cw = ward_crosswalk(method=method, borough=borough)
        path = write_crosswalk(cw, out_file) if out_file else None
    payload = {
        "method": method,
        "rows": len(cw),
        "output": str(path) if path else None,
        "pairs": cw.head(2000).to_dict(orient="records"),
    }

    def human() -> None:
        out.print(cw.head(40).to_string(index=False))
        out.print(
            f"{len(cw)} old→new ward pairs" + (f"; written to {path}" if path else "")
        )

    emit(payload, as_json, human)


def _crimes(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(c.strip() for c in v.split(",") if c.strip())
    return list(dict.fromkeys(out))


@app.command()
def analyse(
    area: AreaOpt = "Merton",
    crime: Annotated[
        list[str],
        typer.Option("--crime", help="Family or type; repeat or comma-separate."),
    ] = ["robbery"],  # noqa: B006 - typer needs a literal default
    start: FromOpt = None,
    end: ToOpt = None,
    res: Annotated[int, typer.Option(help="H3 resolution: 8, 9 or 10.")] = 9,
    k: Annotated[int, typer.Option(help="Neighbours: k-ring size.")] = 1,
    distance: Annotated[
        float | None, typer.Option(help="Distance band in metres instead of k-ring.")
    ] = None,
    permutations: Annotated[
        int | None,
        typer.Option(help="Conditional permutations (default 999, raised as the "
                     "correction needs)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = 20220505,
    correction: Annotated[str, typer.Option(help="fdr, bonferroni or none.")] = "fdr",
    harm: Annotated[bool, typer.Option(help="Weight offences by harm.")] = False,
    harm_table: Annotated[
        str | None, typer.Option(help="TOML harm table overriding the default.")
    ] = None,
    wards: Annotated[bool, typer.Option(help="Also the ward-level view.")] = False,
    use_dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Gi* hot and cold spots on the zero-filled H3 grid (several families at once)."""
    from .analysis import analyse_many
    from .stats.wards import ward_view
    from .store import Store

    store = Store.open()
    with handled(as_json), dask_client(use_dask, scheduler, workers) as client:
        engine = None
        if client is not None:
            from .distributed import gistar_engine

            engine = gistar_engine(client)
        results = analyse_many(
            area, _crimes(crime), start, end, res=res, k=k, distance=distance,
            permutations=permutations, seed=seed, correction=correction,
            weight="harm" if harm else "count", harm_path=harm_table, store=store,
            engine=engine)
        docs = {}
        for c, an in results.items():
            paths = an.write(store)
            doc = an.to_json(paths["geoparquet"])
            doc["geojson"] = paths["geojson"]
            if wards:
                wv = ward_view(an.area, c, an.start, an.end, store=store)
                doc["wards"] = wv.drop(columns="geometry").to_dict(orient="records")
            docs[c] = doc
    first = next(iter(docs.values()))
    payload = {**first, "families": docs}

    def human() -> None:
        for c, doc in docs.items():
            an = results[c]
            out.print(
                f"[bold]{c}[/] in {doc['area']['name']}, {doc['from']}…{doc['to']}: "
                f"{doc['offences']:,} offences, {doc['cells']:,} cells"
            )
            h, cl = doc["hot"], doc["cold"]
            out.print(f"  hot spots  99%: {h['99']}  95%: {h['95']}  90%: {h['90']}")
            out.print(f"  cold spots 99%: {cl['99']}  95%: {cl['95']}  90%: {cl['90']}")
            for line in an.metadata["why"]:
                style = "bold yellow" if line.startswith("SEMI") else "dim"
                out.print(f"  [{style}]{line}[/]", highlight=False)
            out.print(f"  output: {doc['output']}\n  geojson: {doc['geojson']}")

    emit(payload, as_json, human)


@app.command()
def emerging(
    area: AreaOpt = "Merton",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    res: Annotated[int, typer.Option(help="H3 resolution: 8, 9 or 10.")] = 9,
    k: Annotated[int, typer.Option(help="Spatial neighbours: k-ring size.")] = 1,
    time_window: Annotated[int, typer.Option(help="Previous months in the "
                                             "neighbourhood.")] = 1,
    permutations: Annotated[int | None, typer.Option(help="Conditional "
                                                     "permutations.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = 20220505,
    use_dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Emerging hot spots: space-time Gi* per month, Mann-Kendall trend, 17 classes."""
    from .stats.emerging import emerging_hotspots
    from .store import Store

    store = Store.open()
    with handled(as_json), dask_client(use_dask, scheduler, workers) as client:
        engine_for = None
        if client is not None:
            from .distributed import emerging_engine

            engine_for = emerging_engine(client)
        res_ = emerging_hotspots(area, crime, start, end, res=res, k=k,
                                 time_window=time_window, permutations=permutations,
                                 seed=seed, store=store, engine_for=engine_for)
        name = (f"emerging__{res_.metadata['area']['kind']}-"
                f"{res_.metadata['area']['code']}__{crime}__{res_.months[0]}_"
                f"{res_.months[-1]}__r{res}")
        path = store.write_table(name, res_.cells, res_.metadata)
    doc = res_.to_json(str(path))

    def human() -> None:
        out.print(f"[bold]emerging {crime} hot spots[/], {res_.months[0]}…"
                  f"{res_.months[-1]} ({len(res_.months)} months), "
                  f"{len(res_.cells):,} cells")
        for cat, n in doc["categories"].items():
            out.print(f"  {cat:<24} {n:>6,}")
        for line in res_.metadata["why"]:
            style = "bold yellow" if line.startswith("SEMI") else "dim"
            out.print(f"  [{style}]{line}[/]", highlight=False)
        out.print(f"  output: {path}")

    emit(doc, as_json, human)


def _synthetic_line(share: float) -> None:
    if share and share > 0:
        out.print(f"  [bold yellow]SEMI-SYNTHETIC DATA: {100 * share:.0f} % of the "
                  "offences are not real police records.[/]")


@app.command()
def recommend(
    area: AreaOpt = "Merton",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    officer_hours: Annotated[float, typer.Option(
        "--officer-hours", help="Officer-hours a week for the surge.")] = 60.0,
    cameras: Annotated[int, typer.Option(help="NOMAD cameras to site.")] = 4,
    radius: Annotated[float, typer.Option(
        "--radius", help="Camera coverage radius in metres.")] = 100.0,
    candidates: Annotated[str, typer.Option(
        help="Camera candidates: points (police.uk map points) or cells.")] = "points",
    rotations: Annotated[int, typer.Option(help="Camera site lists (rounds).")] = 3,
    weeks: Annotated[int, typer.Option(help="Weeks per camera deployment.")] = 4,
    cctv: Annotated[str | None, typer.Option(
        help="Existing council CCTV layer (any file GeoPandas reads).")] = None,
    minutes: Annotated[float, typer.Option(help="Minutes per patrol visit.")] = 15.0,
    visits: Annotated[float, typer.Option(help="Visits per cell per day.")] = 4.0,
    days: Annotated[float, typer.Option(help="Patrol days per week.")] = 7.0,
    level: Annotated[int, typer.Option(help="Lowest hot bin: 1 (90 %), 2 (95 %), "
                                       "3 (99 %).")] = 2,
    res: Annotated[int, typer.Option(help="H3 resolution: 8, 9 or 10.")] = 9,
    harm: Annotated[bool, typer.Option(help="Weight offences by harm.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = 20220505,
    as_json: JsonOpt = False,
) -> None:
    """Surge patrol zones under an officer-hour budget, NOMAD camera sites, streets."""
    from .analysis import analyse
    from .plan.cameras import site_cameras
    from .plan.patrols import Dosage, plan_patrols
    from .store import Store

    store = Store.open()
    with handled(as_json):
        layer = None
        if cctv:
            import geopandas as gpd

            try:
                layer = gpd.read_file(cctv)
            except Exception as exc:  # noqa: BLE001 - any reader error, one message
                raise HotspotsError(f"{cctv}: cannot read the CCTV layer ({exc})"
                                    ) from None
        an = analyse(area, crime, start, end, res=res, seed=seed, store=store,
                     weight="harm" if harm else "count")
        plan = plan_patrols(an, officer_hours=officer_hours, level=level,
                            dosage=Dosage(minutes, visits, days))
        cams = site_cameras(an, cameras=cameras, radius_m=radius,
                            candidates=candidates, cctv=layer, weeks=weeks,
                            rotations=rotations)
    share = an.metadata["data"]["synthetic_share"]
    payload = {
        "area": an.area.to_dict(), "crime": crime, "from": an.start, "to": an.end,
        "synthetic_share": share,
        "patrols": plan.records(), "cameras": cams.records(),
        "patrol_metadata": plan.metadata, "camera_metadata": cams.metadata,
        "analysis": an.metadata,
    }

    def human() -> None:
        out.print(f"[bold]surge plan: {crime} in {an.area.name}, {an.start}…{an.end}"
                  f"[/] ({officer_hours:g} officer-hours a week)")
        _synthetic_line(share)
        for note in plan.metadata["notes"]:
            out.print(f"  [yellow]{note}[/]", highlight=False)
        for z in plan.records():
            out.print(f"  {z['rationale']}", highlight=False)
        out.print(f"  total: {plan.hours:.1f} h a week, covering "
                  f"{100 * plan.metadata['covered_share']:.1f} % of the offences")
        out.print(f"[bold]NOMAD cameras[/] ({cameras} per round, {radius:g} m, "
                  f"{weeks} weeks a round)")
        for r in cams.metadata["rounds"]:
            if "method" in r:
                out.print(f"  round {r['round']}: {r['method']}, covers "
                          f"{r.get('mclp_coverage') or r['greedy_coverage']:g} "
                          f"(greedy {r['greedy_coverage']:g})", highlight=False)
        for site in cams.records():
            out.print(f"  {site['rationale']}", highlight=False)

    emit(payload, as_json, human)


@app.command()
def backtest(
    area: AreaOpt = "Merton",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    train: Annotated[int, typer.Option(help="Training months before each test "
                                       "month.")] = 12,
    officer_hours: Annotated[float, typer.Option(
        "--officer-hours", help="The plan's officer-hours a week.")] = 60.0,
    bandwidth: Annotated[float, typer.Option(
        help="Kernel density bandwidth in metres.")] = 300.0,
    res: Annotated[int, typer.Option(help="H3 resolution: 8, 9 or 10.")] = 9,
    seed: Annotated[int, typer.Option(help="Seed.")] = 20220505,
    as_json: JsonOpt = False,
) -> None:
    """Rolling-origin backtest: hit rate and PAI of the plan vs simple baselines."""
    from .evaluate.backtest import backtest as run_backtest
    from .store import Store

    store = Store.open()
    with handled(as_json), progress_bar() as prog:
        res_ = run_backtest(area, crime, start, end, train=train,
                            officer_hours=officer_hours, bandwidth_m=bandwidth,
                            res=res, seed=seed, store=store,
                            progress=lambda d, t: prog("backtest months", d, t))
    doc = res_.to_json()

    def human() -> None:
        m = res_.metadata
        out.print(f"[bold]backtest: {crime} in {m['area']['name']}[/], test months "
                  f"{m['test_months'][0]}…{m['test_months'][1]} ({m['n_tests']}), "
                  f"{m['train_months']} months' training each")
        _synthetic_line(m["synthetic_share"])
        table = Table("method", "hit rate", "PAI", "mean monthly PAI", "months best")
        for name in res_.overall["ranking_by_pai"]:
            v = res_.overall["methods"][name]
            table.add_row(name, f"{100 * v['hit_rate']:.1f} %", f"{v['pai']:.2f}",
                          f"{v['mean_monthly_pai']:.2f}", str(v["months_best"]))
        out.print(table)
        if res_.overall["months_without_plan"]:
            out.print(f"  {res_.overall['months_without_plan']} months had no hot "
                      "cells to plan on (not scored).")

    emit(doc, as_json, human)


@app.command()
def demo(
    area: AreaOpt = "Merton",
    out_dir: Annotated[str, typer.Option("--out", help="Output folder.")] = "out/demo",
    as_json: JsonOpt = False,
) -> None:
    """Run the main job for an area on the data root and say where the outputs are."""
    from .pipeline import run_main_job

    with handled(as_json), progress_bar() as prog:
        summary = run_main_job(
            area=area,
            out=out_dir,
            progress=prog,
            log=lambda m: err.print(f"[dim]{m}[/]"),
        )

    def human() -> None:
        ing = summary["ingest"]
        out.print(f"[bold]hotspots main job: {summary['area']['name']}[/]")
        out.print(
            f"ingested {ing['accepted']:,} of {ing['rows_in']:,} street rows "
            f"({ing['quarantined']:,} quarantined), months {ing['months'][0]}…"
            f"{ing['months'][-1]}"
        )
        for crime, c in summary.get("counts", {}).items():
            label = " [yellow](semi-synthetic)[/]" if c["synthetic_share"] > 0 else ""
            out.print(
                f"  {crime}: {c['total']:,} offences over {c['months']} months{label}"
            )
        for crime, h in summary.get("hotspots", {}).items():
            out.print(f"  {crime} hot spots {h['from']}…{h['to']}: "
                      f"{h['hot']['95']} cells at 95 %+, {h['cold']['95']} cold")
        if t := summary.get("tasking"):
            out.print(f"  robbery surge: {t['zones']} zones, {t['hours_per_week']:.0f} "
                      f"officer-hours a week, {100 * t['covered_share']:.1f} % of "
                      f"offences; {t['cameras']} NOMAD sites; backtest PAI "
                      + ", ".join(f"{m} {v:.1f}" for m, v in t["backtest_pai"].items()
                                  if v is not None)
                      + (" [yellow](semi-synthetic)[/]"
                         if t["synthetic_share"] else ""))
        out.print("[bold]outputs:[/]")
        for name, path in summary["outputs"].items():
            out.print(f"  {name}: {path}")

    emit(summary, as_json, human)


@app.command()
def share(
    area: AreaOpt = "London",
    crime: CrimeOpt = "all",
    start: FromOpt = None,
    end: ToOpt = None,
    out_file: Annotated[str, typer.Option("--out", help="The .html file to write.")
                        ] = "share.html",
    res: Annotated[int, typer.Option(help="H3 resolution (7-10).")] = 9,
    level: Annotated[int, typer.Option(help="Confidence shown: 90, 95 or 99.")] = 95,
    threshold: Annotated[int, typer.Option(help="Smallest count shown.")] = 5,
    rounding: Annotated[int, typer.Option(help="Round counts to this.")] = 5,
    method: Annotated[str, typer.Option(help="suppress or merge")] = "suppress",
    harm: Annotated[bool, typer.Option("--harm", help="Harm-weighted.")] = False,
    tiles: Annotated[str, typer.Option(
        help="Base map: a folium tile name, a {z}/{x}/{y} URL, or none.")
    ] = "OpenStreetMap",
    as_json: JsonOpt = False,
) -> None:
    """Write the disclosure-controlled partner map as one self-contained HTML file."""
    from .errors import ParameterError
    from .report.share import DisclosureRule, share_view, write_share_html

    with handled(as_json):
        levels = {90: 1, 95: 2, 99: 3}
        if level not in levels:
            raise ParameterError(f"'level' needs to be one of (90, 95, 99). {level!r} "
                                 "was given instead.")
        rule = DisclosureRule(threshold=threshold, rounding=rounding, method=method)
        view = share_view(area, crime, start, end, res=res, level=levels[level],
                          weight="harm" if harm else "count", rule=rule)
        path = write_share_html(view, out_file, tiles=tiles)
    doc = view.to_json(str(path))

    def human() -> None:
        out.print(f"partner map of {view.area.name} ({view.crime}, {view.start}…"
                  f"{view.end}): {path}")
        out.print(f"  {doc['hot_cells']} hot and {doc['cold_cells']} cold cells; "
                  f"counts withheld in {doc['suppressed_cells']} cells")
        if view.synthetic_share:
            out.print(f"[bold yellow]SEMI-SYNTHETIC:[/] {view.synthetic_share:.0%} "
                      "of these offences are synthetic; the map says so.")

    emit(doc, as_json, human)


@app.command()
def pack(
    borough: Annotated[str, typer.Option(help="A London borough (Met area).")
                       ] = "Merton",
    month: Annotated[str | None, typer.Option(
        help="Pack month YYYY-MM (default: the last month every crime covers).")
    ] = None,
    out_file: Annotated[str | None, typer.Option(
        "--out", help="PDF to write (default out/packs/<borough>-<month>.pdf).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Borough crime pack: this year vs last, 12-month change, BCU and London, PDF."""
    from .report.crimepack import crime_pack, write_crime_pack

    with handled(as_json), progress_bar() as prog:
        prog("crime pack", 0, 2)
        cp = crime_pack(borough, month)
        prog("crime pack", 1, 2)
        slug = cp.areas["borough"].slug.removeprefix("borough-")
        path = write_crime_pack(cp, out_file or f"out/packs/{slug}-{cp.month}.pdf")
        prog("crime pack", 2, 2)
    doc = cp.to_json(str(path))

    def human() -> None:
        out.print(f"[bold]{cp.areas['borough'].name} crime pack[/], {cp.month}: {path}")
        for c, d in doc["twelve_month_change"].items():
            pct = "n/a" if d["pct"] is None else f"{d['pct']:+.1f}%"
            out.print(f"  {c:<8} 12 months {d['current'] or 0:>7,} vs "
                      f"{d['previous'] or 0:>7,} ({pct})")
        if doc["rates_note"]:
            out.print(f"[yellow]{doc['rates_note']}[/]", highlight=False)
        if any(doc["synthetic_share"].values()):
            out.print("[bold yellow]SEMI-SYNTHETIC:[/] some offences counted are "
                      "synthetic; every page of the PDF says so.")

    emit(doc, as_json, human)


def _tasking_layers(area, crime, start, end, res, officer_hours, cameras):
    """The borough's analysis, surge zones and camera sites for the printed maps.

    The maps then draw the analysis the plan was made from, so a zone always sits
    on hexagons the map shows as hot.
    """
    if officer_hours is None and cameras is None:
        return None, None, None
    from .analysis import analyse
    from .areas import resolve_area
    from .plan.cameras import site_cameras
    from .plan.patrols import plan_patrols
    from .report._pdf import report_period
    from .store import Store

    store = Store.open()
    start, end = report_period(store, crime, start, end)
    an = analyse(resolve_area(area).boroughs[0], crime, start, end, res=res,
                 store=store)
    zones = (plan_patrols(an, officer_hours=officer_hours).zones
             if officer_hours is not None else None)
    sites = (site_cameras(an, cameras=cameras, rotations=1).sites
             if cameras is not None else None)
    return an, zones, sites


@app.command()
def maps(
    borough: Annotated[str, typer.Option(help="A London borough (or one 2022 ward).")
                       ] = "Merton",
    out_dir: Annotated[str, typer.Option("--out", help="Folder for the PDFs.")
                       ] = "out/maps",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    res: Annotated[int, typer.Option(help="H3 resolution: 8, 9 or 10.")] = 9,
    officer_hours: Annotated[float | None, typer.Option(
        "--officer-hours", help="Also draw the borough's surge zones for this "
                                "weekly budget.")] = None,
    cameras: Annotated[int | None, typer.Option(
        help="Also draw this many NOMAD camera sites.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Printable ward maps: one A4 PDF per 2022 ward plus a booklet per borough."""
    from .report.wardmaps import ward_maps

    with handled(as_json), progress_bar() as prog:
        an, zones, sites = _tasking_layers(borough, crime, start, end, res,
                                           officer_hours, cameras)
        wm = ward_maps(borough, out_dir, crime, start, end, res=res, zones=zones,
                       sites=sites, analysis=an, progress=prog)
    doc = wm.to_json()

    def human() -> None:
        out.print(f"[bold]{len(wm.pdfs)} ward map(s)[/] of {wm.area.name}, {crime}, "
                  f"{wm.start}…{wm.end}, in {out_dir}")
        out.print(f"  booklet: {wm.booklet}")
        if wm.synthetic_share:
            out.print(f"[bold yellow]SEMI-SYNTHETIC:[/] {wm.synthetic_share:.0%} of "
                      "the offences mapped are synthetic; every page says so.")

    emit(doc, as_json, human)


@app.command()
def rank(
    borough: Annotated[str | None, typer.Option(
        help="Only this borough's wards (ranks stay London-wide).")] = None,
    crime: CrimeOpt = "all",
    start: FromOpt = None,
    end: ToOpt = None,
    out_file: Annotated[str, typer.Option("--out", help="CSV to write.")
                        ] = "out/ward_ranking.csv",
    pdf: Annotated[str | None, typer.Option("--pdf", help="Also write this PDF.")
                   ] = None,
    permutations: Annotated[int | None, typer.Option(
        help="Permutations of the London-wide Gi* (default: chosen for FDR).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ward priority ranking: every London ward on harm, trend and hot spot share."""
    from .report.ranking import rank_wards, write_ranking_pdf

    with handled(as_json), progress_bar() as prog:
        prog("ranking wards", 0, 2)
        rk = rank_wards(crime, start, end, permutations=permutations)
        if borough:
            rk = rk.for_area(borough)
        prog("ranking wards", 1, 2)
        csv_path = rk.write_csv(out_file)
        pdf_path = write_ranking_pdf(rk, pdf) if pdf else None
        prog("ranking wards", 2, 2)
    doc = rk.to_json(str(csv_path), str(pdf_path) if pdf_path else None)

    def human() -> None:
        t = Table(title=f"ward priority, {crime}, {rk.start}…{rk.end} (top 10)")
        for c in ("rank", "ward", "borough", "score", "reasons"):
            t.add_column(c)
        for r in rk.table.head(10).itertuples(index=False):
            t.add_row(str(r.london_rank), r.ward_name, r.borough, f"{r.score:.1f}",
                      r.reasons)
        out.print(t)
        out.print(f"{len(rk.table)} wards written to {csv_path}"
                  + (f"; PDF {pdf_path}" if pdf_path else ""))

    emit(doc, as_json, human)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8050,
    users: Annotated[str | None, typer.Option(
        help="User file (name:role:bcrypt-hash lines); default "
             "$HOTSPOTS_USERS_FILE, $HOTSPOTS_USERS or the config folder.")] = None,
    tiles: Annotated[str | None, typer.Option(
        help="Tile URL template ({z}/{x}/{y}) or none; default $HOTSPOTS_TILES "
             "or OpenStreetMap.")] = None,
    threads: Annotated[int, typer.Option(help="Server threads.")] = 8,
    precompute: Annotated[list[str] | None, typer.Option(
        "--precompute", help="Area whose default views to compute before serving; "
                             "repeat.")] = None,
) -> None:
    """Start the Dash map (analyst and partner views, log-in required)."""
    from .access import load_users

    with handled(False):
        accounts = load_users(users)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] binding to {host}: the app is reachable from "
                  "other machines; put it behind TLS.")
    err.print(f"hotspots app on http://{host}:{port} ({len(accounts)} account(s))")
    from dashboards.app import run

    with handled(False):
        run(host=host, port=port, threads=threads, users=accounts, tiles=tiles,
            precompute=tuple(precompute or ()))


@app.command()
def adduser(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="analyst or partner")] = "partner",
    users: Annotated[str | None, typer.Option(
        help="User file (default $HOTSPOTS_USERS_FILE or the config folder).")
    ] = None,
    password: Annotated[str, typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True,
        help="Asked for when not given.")] = "",
) -> None:
    """Add or replace an app account (the password is stored as a bcrypt hash)."""
    from .access import add_user, default_users_path

    with handled(False):
        path = add_user(users or default_users_path(), name, role, password)
    out.print(f"{name} ({role}) saved in {path}")


def _split_list(text: str | None) -> list[str]:
    """``a,b`` or ``a;b`` (use ``;`` when a name holds a comma) as a list."""
    if not text:
        return []
    sep = ";" if ";" in text else ","
    return [x.strip() for x in text.split(sep) if x.strip()]


@app.command()
def impact(
    area: AreaOpt = "London",
    crime: CrimeOpt = "all",
    wards: Annotated[str | None, typer.Option(
        help="Surge wards, comma-separated (';' if a name has a comma).")] = None,
    cells: Annotated[str | None, typer.Option(
        help="Surge H3 cells, comma-separated.")] = None,
    start: Annotated[str, typer.Option(help="First surge month, YYYY-MM.")] = "",
    length: Annotated[int, typer.Option(help="Surge months.")] = 3,
    pre_months: Annotated[int, typer.Option(help="Months before the surge.")] = 12,
    buffer: Annotated[int, typer.Option(help="Buffer rings (0: none).")] = 1,
    controls: Annotated[int | None, typer.Option(
        help="Control cells (default 3 per treated cell).")] = None,
    family: Annotated[str, typer.Option(help="poisson or negbin")] = "poisson",
    res: Annotated[int, typer.Option(help="H3 resolution.")] = 9,
    seed: Annotated[int, typer.Option(help="Matching seed.")] = 20220505,
    as_json: JsonOpt = False,
) -> None:
    """Impact of a surge vs matched control cells (DiD), with displacement (WDQ)."""
    from .errors import ParameterError
    from .evaluate.impact import impact as do_impact

    with handled(as_json):
        if not start:
            raise ParameterError("'--start' (first surge month, YYYY-MM) is needed")
        res_ = do_impact(
            area, crime, start, length, cells=_split_list(cells),
            wards=_split_list(wards), res=res, pre_months=pre_months,
            buffer_k=buffer, n_controls=controls, seed=seed, family=family)

    def human() -> None:
        for line in res_.summary():
            out.print(line, highlight=False, markup=False)

    emit(res_.to_json(), as_json, human)


@app.command()
def stopsearch(
    area: AreaOpt = "London",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    level: Annotated[int, typer.Option(
        help="Hot spot level: 1 = 90 %, 2 = 95 %, 3 = 99 %.")] = 2,
    hot_from: Annotated[str | None, typer.Option(
        "--hot-from", help="Hot spot period start (default --from).")] = None,
    hot_to: Annotated[str | None, typer.Option(
        "--hot-to", help="Hot spot period end (default --to).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Share of stop and search in hot spots; find rates inside vs outside."""
    from .evaluate.stopsearch import stop_search_precision

    with handled(as_json):
        res_ = stop_search_precision(area, crime, start, end, level=level,
                                     hot_from=hot_from, hot_to=hot_to)

    def human() -> None:
        t = Table(title=f"Stop and search in {crime} hot spots")
        for c in ("borough", "month", "searches", "in hot", "find in", "find out",
                  "p"):
            t.add_column(c, justify="left" if c in ("borough", "month") else "right")
        for r in res_.table.itertuples(index=False):
            t.add_row(
                r.borough, r.month, f"{r.searches:,}",
                f"{r.in_hot:,} ({100 * r.share_in_hot:.0f} %)",
                "-" if r.rate_in != r.rate_in or r.rate_in is None
                else f"{100 * r.rate_in:.0f} %",
                "-" if r.rate_out != r.rate_out or r.rate_out is None
                else f"{100 * r.rate_out:.0f} %",
                "-" if r.p_value != r.p_value or r.p_value is None
                else f"{r.p_value:.2g}")
        out.print(t)
        for line in res_.summary():
            out.print(line, highlight=False, markup=False)

    emit(res_.to_json(), as_json, human)


@app.command()
def dosage(
    log: Annotated[list[str], typer.Option(
        "--log", help="Patrol log CSV (zone or cell, start, end); repeatable.")],
    plan: Annotated[str, typer.Option(
        "--plan", help="Plan JSON: zone -> minutes a week, or a patrol plan.")],
    start: Annotated[str | None, typer.Option(
        "--from", help="First day or ISO week (YYYY-MM-DD or YYYY-Www).")] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Last day or ISO week.")] = None,
    max_hours: Annotated[float, typer.Option(
        help="Longest believable visit (hours).")] = 12.0,
    quarantine: Annotated[str | None, typer.Option(
        "--quarantine", help="Write the quarantined rows to this CSV.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Dosage delivered: patrol minutes per zone and ISO week vs the plan."""
    from .evaluate.dosage import dosage as do_dosage
    from .store import atomic_file

    with handled(as_json):
        res_ = do_dosage(log, plan, start=start, end=end, max_hours=max_hours)
        if quarantine:
            with atomic_file(quarantine, ".csv") as tmp:
                res_.log.quarantine.to_csv(tmp, index=False)
    payload = res_.to_json() | {"quarantine_file": quarantine}

    def human() -> None:
        t = Table(title="Dosage delivered vs planned (minutes)")
        for c in ("zone", "week", "planned", "delivered", "share", "visits"):
            t.add_column(c, justify="left" if c in ("zone", "week") else "right")
        for r in res_.table.itertuples(index=False):
            share = r.delivered_share
            t.add_row(str(r.zone), r.week, f"{r.planned_minutes:.0f}",
                      f"{r.delivered_minutes:.0f}",
                      "-" if share != share else f"{100 * share:.0f} %",
                      str(r.visits))
        out.print(t)
        for line in res_.summary():
            out.print(line, highlight=False, markup=False)

    emit(payload, as_json, human)


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
