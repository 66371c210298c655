"""Emerging hot spots of a study: the monthly cube through space-time Gi*.

The numeric core (space-time neighbours, Gi* per bin, Mann–Kendall trends and the
17 ArcGIS Pro categories) is :mod:`hotspots.stats.emerging`; this stage takes a
:class:`~hotspots.study.Study` (read once from the store), checks that its months
run without a gap (a space-time lag across a missing month would compare months
that are not neighbours), and returns the categories per cell with an audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .areas import Area
from .config import DEFAULT_SEED
from .counts import covered_period
from .errors import ParameterError
from .months import describe_months, latest_run, month_range
from .provenance import run_header
from .stats.emerging import CATEGORIES, emerging_cube
from .study import Study

__all__ = ["Emerging", "emerging_hotspots", "emerging_study"]


@dataclass(frozen=True)
class Emerging:
    """Per-cell emerging hot spot categories plus the audit trail."""

    study: Study = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    cube_z: np.ndarray = field(repr=False)
    cube_bins: np.ndarray = field(repr=False)
    metadata: dict = field(repr=False)

    @property
    def months(self) -> tuple:
        return self.study.months

    @cached_property
    def cells(self):
        """The cells as a GeoDataFrame with their polygons (EPSG:4326)."""
        import geopandas as gpd

        return gpd.GeoDataFrame(self.table.copy(), geometry=self.study.grid.polygons(),
                                crs=4326)

    def categories(self) -> dict:
        counts = self.table["category"].value_counts()
        return {c: int(counts.get(c, 0)) for c in CATEGORIES if counts.get(c, 0)}

    def to_json(self, output: str | None = None) -> dict:
        return {"categories": self.categories(), "cells": int(len(self.table)),
                "months": list(self.months), "output": output,
                "synthetic_share": self.metadata["data"]["synthetic_share"],
                "metadata": self.metadata}

    def summary(self) -> list[str]:
        cats = self.categories()
        lines = [f"Emerging hot spots, {self.study.label()}: "
                 f"{len(self.table):,} cells."]
        lines += [f"  {name}: {n:,}" for name, n in cats.items()]
        lines += [w for w in self.metadata["why"] if w.startswith("SEMI-SYNTHETIC")]
        return lines


def emerging_hotspots(area: Area | str, crime: str, start: str | None = None,
                      end: str | None = None, *, res: int = 9, store=None,
                      **kw) -> Emerging:
    """Emerging hot spot categories for ``crime`` in ``area`` (monthly cube).

    By default the latest run of months the data covers without a gap; an explicit
    period across a gap is refused. Other keywords go to :func:`emerging_study`.
    """
    from .store import Store

    store = store or Store.open()
    if start is None and end is None:
        months = latest_run(covered_period(store, crime, area=area))
        start, end = months[0], months[-1]
    study = Study.load(area, crime, start, end, res=res, store=store)
    return emerging_study(study, **kw)


def emerging_study(study: Study, *, k: int = 1, time_window: int = 1,
                   permutations: int | None = None, seed: int | None = DEFAULT_SEED,
                   correction: str = "fdr", alpha: float = 0.10,
                   trend_alpha: float = 0.05, engine_for=None) -> Emerging:
    """Emerging hot spots of a study (k-ring ``k``, ``time_window`` months back).

    Defaults: one previous month in the neighbourhood, 90 % confidence bins with
    FDR per month, Mann–Kendall at 5 %, as many permutations as the correction
    needs.
    """
    from .analysis import auto_permutations

    months = study.months
    if study.missing or list(months) != month_range(months[0], months[-1]):
        raise ParameterError(
            f"emerging hot spots need consecutive months; the data has no "
            f"{study.crime} for {describe_months(list(study.missing))} in "
            f"{study.area.name}. Choose a period without gaps.")
    cube = study.counts
    if cube.sum() == 0:
        raise ParameterError(
            f"no {study.crime} offences in {study.area.name} "
            f"{months[0]}…{months[-1]}")
    grid = study.grid
    if permutations is None:
        permutations = auto_permutations(len(grid), correction, alpha=alpha)
    engine = engine_for(grid, k) if engine_for is not None else None
    core = emerging_cube(cube, grid.weights(k), time_window=time_window,
                         permutations=permutations, seed=seed, correction=correction,
                         alpha=alpha, trend_alpha=trend_alpha, engine=engine)
    table = pd.DataFrame({
        "h3": grid.cells,
        "category": core["category"],
        "offences": cube.sum(axis=1).astype(int),
        "hot_months": core["hot"].sum(axis=1),
        "cold_months": core["cold"].sum(axis=1),
        "final_z": core["z"][:, -1],
        "trend_tau": core["tau"],
        "trend_z": core["trend_z"],
        "trend_p": core["trend_p"],
    })
    audit = study.audit()
    meta = {
        **run_header(),
        **audit,
        "neighbourhood": {"type": "k-ring", "k": k, "time_window": time_window},
        "permutations": permutations, "seed": seed, "correction": correction,
        "alpha": alpha, "trend_alpha": trend_alpha,
        "exact_null": bool(core["exact_null"]),
        "why": [
            f"Cube: {len(grid):,} cells × {len(months)} months of {study.crime} in "
            f"{study.area.name}; empty bins kept.",
            f"Space-time neighbours: the {k}-ring this month and the cell and its ring "
            f"in the previous {time_window} month(s).",
            f"Significant bins: 90 % confidence after {correction.upper()} per month; "
            f"{permutations:,} conditional permutations (seed {seed}).",
            f"Trend: Mann–Kendall on each cell's Gi* z-scores, significant at "
            f"{trend_alpha:.0%}.",
        ] + ([audit["synthetic_note"]] if "synthetic_note" in audit else []),
    }
    bins = np.where(core["hot"], 1, np.where(core["cold"], -1, 0))
    return Emerging(study, table, core["z"], bins, meta)
