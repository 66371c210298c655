"""The main job: every stage in order for one area, as ``make demo`` runs it.

Each stage is a public function of its own module; this only calls them in order,
collects where their outputs went, and writes a ``summary.json`` beside them.

On the shared data the job leads with the real families: robbery and vehicle
crime over their latest real year (2022), burglary over its latest 12 months; ASB
is analysed too and every output using it says it is semi-synthetic. The surge
plan, camera sites, brief, backtest and ward maps are for robbery.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .analysis import analyse
from .areas import resolve_area
from .counts import count_offences
from .evaluate.backtest import backtest
from .geoio import write_geojson
from .ingest import ingest
from .plan.tasking import recommend
from .provenance import run_header
from .report.brief import write_brief
from .report.crimepack import crime_pack, write_crime_pack
from .report.ranking import rank_wards, write_ranking_pdf
from .report.wardmaps import ward_maps
from .store import Store, write_json_atomic

__all__ = ["FAMILIES", "MainJob", "run_main_job"]

#: The families the main job analyses, real ones first.
FAMILIES = ("robbery", "vehicle", "burglary", "asb")
#: The family the tasking outputs are made for.
TASKING = "robbery"


class MainJob(dict):
    """The main job's summary (a plain dict, saved as ``summary.json``)."""

    def summary(self) -> list[str]:
        """Human lines: what was read, what was found, where the outputs are."""
        ing = self["ingest"]
        lines = [f"hotspots main job: {self['area']['name']}",
                 f"ingested {ing['accepted']:,} of {ing['rows_in']:,} street rows "
                 f"({ing['quarantined']:,} quarantined), months "
                 f"{ing['months'][0]}..{ing['months'][-1]}"]
        for crime, c in self["counts"].items():
            gap = (f"; no data for {len(c['missing_months'])} months"
                   if c["missing_months"] else "")
            label = " (SEMI-SYNTHETIC)" if c["synthetic_share"] > 0 else " (real)"
            lines.append(f"  {crime}: {c['total']:,} offences{label}{gap}")
        for crime, h in self["hotspots"].items():
            label = " (SEMI-SYNTHETIC)" if h["synthetic_share"] > 0 else ""
            lines.append(f"  {crime} hot spots {h['from']}..{h['to']}: "
                         f"{h['hot']['95']} cells at 95 %+{label}")
        if t := self.get("tasking"):
            lines.append(
                f"  {TASKING} surge for {t['forecast_month']}: {t['zones']} zones, "
                f"{t['hours_per_week']:.0f} of {t['officer_hours']:g} officer-hours "
                f"a week, {t['cameras']} NOMAD sites")
            b = t["backtest"]
            lines.append(
                f"  backtest ({b['months']} months, 2 % of the area): plan pooled "
                f"PAI {b['pooled_pai']['plan']:.1f} against the best naive "
                f"{b['best_naive_pai']:.1f}; plan at least as good in "
                f"{b['win_rate_vs_best_naive']:.0%} of months")
        lines.append("outputs:")
        lines += [f"  {name}: {path}" for name, path in self["outputs"].items()]
        return lines


def run_main_job(
    area: str = "Merton",
    out: Path | str = "out/demo",
    store: Store | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> MainJob:
    """Ingest the data root, then run the stages for ``area``; returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = store or Store.open()
    the_area = resolve_area(area)
    log("ingest: reading, validating and joining every police.uk file")
    res = ingest(store=store, progress=progress)
    summary = MainJob(area=the_area.to_dict(), store=str(store.path),
                      ingest=res.to_json(), outputs={}, counts={}, hotspots={})
    for crime in FAMILIES:
        c = count_offences(the_area, crime, "month", store=store)
        summary["counts"][crime] = {
            "total": c.total, "synthetic_share": c.synthetic_share,
            "months": int((c.table["status"] != "missing").sum()),
            "missing_months": list(c.missing)}
    log("analyse: Gi* hot spots, each family over its latest 12 months of data")
    analyses = {}
    for crime in FAMILIES:
        an = analyse(the_area, crime, store=store)
        analyses[crime] = an
        paths = an.write(store, geojson_dir=out)
        summary["hotspots"][crime] = {
            "from": an.start, "to": an.end, "cells": len(an.table), **an.bins,
            "synthetic_share": an.metadata["data"]["synthetic_share"]}
        summary["outputs"][f"gistar_{crime}"] = paths["geojson"]
    if the_area.kind == "london":
        log("tasking: skipped (surges are planned for a BCU, borough or ward)")
    else:
        log(f"tasking: {TASKING} surge plan (60 officer-hours a week), 4 NOMAD "
            "cameras, the brief and the backtest")
        task = _tasking(the_area, out, store, summary, progress)
        if the_area.kind in ("borough", "ward"):
            log("report: the borough crime pack and a printed map of every ward")
            _reports(the_area, task, out, store, summary, progress)
    log("report: the London-wide ward priority ranking")
    ranking = rank_wards("all", store=store)
    summary["outputs"]["ward_ranking_csv"] = str(
        ranking.write_csv(out / "ward_ranking.csv"))
    summary["outputs"]["ward_ranking_pdf"] = str(
        write_ranking_pdf(ranking, out / "ward_ranking.pdf"))
    summary["outputs"]["summary"] = str(out / "summary.json")
    write_json_atomic(out / "summary.json", dict(summary))
    return summary


def _tasking(area, out: Path, store: Store, summary: MainJob, progress):
    """The surge plan, camera sites, brief and backtest of the tasking family."""
    task = recommend(area, TASKING, officer_hours=60, cameras=4, store=store)
    summary["outputs"][f"recommend_{TASKING}"] = str(
        write_json_atomic(out / f"recommend_{TASKING}.json", task.to_json()))
    brief = write_brief(task.plan, task.cameras, out / f"brief_{TASKING}.pdf",
                        analysis=task.analysis, store=store)
    summary["outputs"][f"brief_{TASKING}"] = str(brief.pdf)
    for name, frame, meta in (("surge_zones", task.plan.zones, task.plan.metadata),
                              ("camera_sites", task.cameras.sites,
                               task.cameras.metadata)):
        path = out / f"{name}_{TASKING}.geojson"
        flat = frame.drop(columns="geometry").copy()
        for col in flat.columns:
            if flat[col].map(lambda v: isinstance(v, list | tuple)).any():
                flat[col] = flat[col].map(lambda v: "; ".join(map(str, v))
                                          if isinstance(v, list | tuple) else v)
        write_geojson(path, flat, _wkb(frame), metadata={
            **run_header(), "area": task.analysis.area.name, "crime": TASKING,
            "synthetic_share": task.synthetic_share, name: meta})
        summary["outputs"][f"{name}_{TASKING}"] = str(path)
    bt = backtest(area, TASKING, store=store,
                  progress=(lambda d, t: progress("backtest", d, t))
                  if progress else None)
    doc = bt.to_json()
    summary["outputs"][f"backtest_{TASKING}"] = str(
        write_json_atomic(out / f"backtest_{TASKING}.json", doc))
    s = doc["summary"]
    naive = {m: v for m, v in s["pooled_pai"].items()
             if m in ("last12", "last_month", "all_history") and v is not None}
    summary["tasking"] = {
        "forecast_month": task.plan.metadata["forecast"].get("target"),
        "zones": len(task.plan.zones), "hours_per_week": task.plan.hours,
        "officer_hours": task.officer_hours,
        "cameras": int((task.cameras.sites["round"] == 1).sum()),
        "synthetic_share": task.synthetic_share,
        "backtest": {"months": s["months"], "pooled_pai": s["pooled_pai"],
                     "best_naive_pai": max(naive.values()) if naive else None,
                     "win_rate_vs_best_naive": s["win_rate_vs_best_naive"],
                     "ratio_ci90": s["ratio_ci90"]},
    }
    return task


def _wkb(frame):
    import pyarrow as pa

    return pa.array(frame.geometry.to_wkb(), pa.binary())


def _reports(area, task, out: Path, store: Store, summary: MainJob,
             progress) -> None:
    """The crime pack of the area's borough and ward maps with the tasking layers."""
    borough = area.boroughs[0]
    pack = crime_pack(borough, store=store)
    path = write_crime_pack(pack, out / f"crime_pack_{pack.month}.pdf")
    summary["outputs"]["crime_pack"] = str(path)
    summary["crime_pack"] = {"month": pack.month,
                             **dict(pack.to_json()["twelve_month_change"])}
    # the maps draw the analysis the camera sites came from, with the surge zones
    an = task.analysis
    wm = ward_maps(area, out / "ward_maps", an.crime, an.start, an.end,
                   res=an.metadata["grid"]["resolution"], analysis=an,
                   zones=task.plan.zones,
                   sites=task.cameras.sites[task.cameras.sites["round"] == 1],
                   store=store, progress=progress)
    summary["outputs"]["ward_maps"] = str(out / "ward_maps")
    summary["outputs"]["ward_booklet"] = str(wm.booklet)
