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
from .ingest import ingest
from .store import Store, write_json_atomic

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
    summary["outputs"]["summary"] = str(
        write_json_atomic(out / "summary.json", summary)
    )
    return summary
