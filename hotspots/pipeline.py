"""The main job: every stage in order for one area, as ``make demo`` runs it.

Each stage is a public function of its own module; this only calls them in order,
collects where their outputs went, and writes a ``summary.json`` beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .analysis import analyse_many
from .areas import resolve_area
from .counts import count_offences
from .evaluate.backtest import backtest
from .ingest import ingest
from .plan.cameras import site_cameras
from .plan.patrols import plan_patrols
from .report.crimepack import crime_pack, write_crime_pack
from .report.ranking import rank_wards, write_ranking_pdf
from .report.wardmaps import ward_maps
from .store import Store, atomic_file, write_json_atomic

__all__ = ["run_main_job"]


def run_main_job(
    area: str = "Merton",
    out: Path | str = "out/demo",
    store: Store | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> dict:
    """Ingest the data root, then run the stages for ``area``; returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = store or Store.open()
    the_area = resolve_area(area)
    log("ingest: reading, validating and joining every police.uk file")
    res = ingest(store=store, progress=progress)
    summary: dict = {
        "area": the_area.to_dict(),
        "store": str(store.path),
        "ingest": res.to_json(),
        "outputs": {},
    }
    for crime in ("robbery", "vehicle", "asb", "burglary"):
        c = count_offences(the_area, crime, "month", store=store)
        summary.setdefault("counts", {})[crime] = {
            "total": c.total,
            "synthetic_share": c.synthetic_share,
            "months": len(c.table),
        }
    log("analyse: Gi* hot spots for robbery, vehicle crime and ASB, last 12 months")
    fams = analyse_many(the_area, ("robbery", "vehicle", "asb"), store=store)
    for crime, an in fams.items():
        paths = an.write(store, geojson_dir=out)
        summary.setdefault("hotspots", {})[crime] = {
            "from": an.start,
            "to": an.end,
            "cells": len(an.cells),
            **an.bins,
            "synthetic_share": an.metadata["data"]["synthetic_share"],
        }
        summary["outputs"][f"gistar_{crime}"] = paths["geojson"]
    log("recommend: robbery surge plan (60 officer-hours a week) and 4 NOMAD cameras")
    plan, cams = _tasking(fams["robbery"], out, store, summary, progress)
    if the_area.kind in ("borough", "ward"):
        log("report: the borough crime pack and a printed map of every ward")
        _reports(the_area, fams["robbery"], plan, cams, out, store, summary, progress)
    log("report: the London-wide ward priority ranking")
    ranking = rank_wards("all", store=store)
    summary["outputs"]["ward_ranking_csv"] = str(
        ranking.write_csv(out / "ward_ranking.csv"))
    summary["outputs"]["ward_ranking_pdf"] = str(
        write_ranking_pdf(ranking, out / "ward_ranking.pdf"))
    summary["outputs"]["summary"] = str(
        write_json_atomic(out / "summary.json", summary)
    )
    return summary


def _tasking(an, out: Path, store: Store, summary: dict, progress) -> None:
    """Surge plan, camera sites and the backtest of one family's analysis."""
    plan = plan_patrols(an, officer_hours=60)
    cams = site_cameras(an, cameras=4)
    doc = {"patrols": plan.records(), "cameras": cams.records(),
           "patrol_metadata": plan.metadata, "camera_metadata": cams.metadata}
    summary["outputs"]["recommend_robbery"] = str(
        write_json_atomic(out / "recommend_robbery.json", doc))
    for name, frame in (("surge_zones", plan.zones), ("camera_sites", cams.sites)):
        path = out / f"{name}_robbery.geojson"
        flat = frame.copy()
        for col in flat.columns:
            if col != "geometry" and flat[col].map(lambda v: isinstance(v, list)).any():
                flat[col] = flat[col].map("; ".join)
        with atomic_file(path, ".geojson") as tmp:
            tmp.write_text(flat.to_json(drop_id=True))
        summary["outputs"][f"{name}_robbery"] = str(path)
    bt = backtest(an.area, an.crime, store=store,
                  progress=(lambda d, t: progress("backtest", d, t))
                  if progress else None)
    summary["outputs"]["backtest_robbery"] = str(
        write_json_atomic(out / "backtest_robbery.json", bt.to_json()))
    summary["tasking"] = {
        "zones": len(plan.zones), "hours_per_week": plan.hours,
        "covered_share": plan.metadata["covered_share"],
        "cameras": int((cams.sites["round"] == 1).sum()),
        "backtest_pai": {m: v["pai"] for m, v in bt.overall["methods"].items()},
        "synthetic_share": plan.metadata.get("synthetic_share", 0.0),
    }
    return plan, cams


def _reports(area, an, plan, cams, out: Path, store: Store, summary: dict,
             progress) -> None:
    """The crime pack of the area's borough and ward maps with the tasking layers."""
    borough = area.boroughs[0]
    pack = crime_pack(borough, store=store)
    path = write_crime_pack(pack, out / f"crime_pack_{pack.month}.pdf")
    summary["outputs"]["crime_pack"] = str(path)
    summary["crime_pack"] = dict(pack.to_json()["twelve_month_change"])
    # the maps draw the same analysis the surge plan was made from
    wm = ward_maps(area, out / "ward_maps", an.crime, an.start, an.end,
                   res=an.metadata["grid"]["resolution"], analysis=an,
                   zones=plan.zones,
                   sites=cams.sites[cams.sites["round"] == 1], store=store,
                   progress=progress)
    summary["outputs"]["ward_maps"] = str(out / "ward_maps")
    summary["outputs"]["ward_booklet"] = str(wm.booklet)
