"""Hot spot analysis: a study → Gi* → corrected bins, with an audit trail.

``analyse`` is the one function the CLI, the app, the reports and the tasking stage
call. It takes a :class:`~hotspots.study.Study` (the offences of an area, crime and
period on the zero-filled H3 grid, read once from the store), runs Gi* on the
study's totals (:mod:`hotspots.stats.gistar`), applies the multiple-testing
correction and confidence bins (:mod:`hotspots.stats.inference`), and returns the
cells with a metadata record of every choice and why (as ArcGIS's Optimized Hot Spot
Analysis messages do).

Two kinds of inference are offered. ``permutation`` (default) is the conditional
randomisation test: a cell's own count is held fixed and its neighbours are drawn
from the rest, so it asks "are this cell's *neighbours* unusually busy?". A single
very busy cell among quiet neighbours is therefore not a Gi* hot spot under it,
however many offences it holds (a busy micro-place; the surge plan still picks it
from the forecast). ``analytic`` is the normal-theory z of ArcGIS's Hot Spot
Analysis, which treats the cell and its neighbours together and calls such a cell
hot.

Writing: the cells go to the store as GeoParquet (WKB polygons straight from the
grid, no per-row Python); GeoJSON is written only when asked for, through GDAL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .areas import Area
from .config import DEFAULT_SEED
from .errors import NoOffences, check_choice
from .grid import RESOLUTIONS, cell_area_km2
from .provenance import run_header
from .stats.gistar import gistar
from .stats.inference import (
    CORRECTIONS,
    LEVELS,
    adjust,
    confidence_bins,
    summarise_bins,
)
from .store import Store
from .study import WEIGHTS, Study

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_SEED",
    "INFERENCES",
    "WEIGHTS",
    "Analysis",
    "analyse",
    "analyse_many",
    "analyse_study",
    "auto_permutations",
    "default_period",
    "local_engine",
]

INFERENCES = ("permutation", "analytic")
CELL_COLUMNS = ("h3", "count", "offences", "gistar", "z", "p_norm", "p_sim",
                "p_fdr", "bin", "neighbours")


@dataclass(frozen=True)
class Analysis:
    """The result of one hot spot analysis: per-cell statistics and the audit trail.

    ``columns`` holds one array per statistic, one value per grid cell
    (:data:`CELL_COLUMNS`, in grid order); :attr:`table` is the same as a
    DataFrame and :attr:`cells` as a GeoDataFrame with the cell polygons, each
    built on first use; ``study`` is what it was computed from.
    """

    study: Study = field(repr=False)
    columns: Mapping[str, np.ndarray] = field(repr=False)
    metadata: dict = field(repr=False)

    @classmethod
    def from_table(cls, study: Study, table: pd.DataFrame, metadata: dict
                   ) -> Analysis:
        """An analysis of per-cell rows already computed (e.g. from a cache)."""
        return cls(study, {c: table[c].to_numpy() for c in table.columns}, metadata)

    @cached_property
    def table(self) -> pd.DataFrame:
        """:attr:`columns` as a DataFrame (made once; do not modify)."""
        import pandas as pd

        return pd.DataFrame(dict(self.columns))

    @property
    def area(self) -> Area:
        return self.study.area

    @property
    def crime(self) -> str:
        return self.study.crime

    @property
    def start(self) -> str:
        return self.study.months[0]

    @property
    def end(self) -> str:
        return self.study.months[-1]

    @property
    def offences(self) -> pd.DataFrame:
        """The offence rows analysed (the study's)."""
        return self.study.offences

    @cached_property
    def cells(self):
        """The cells as a GeoDataFrame (EPSG:4326) with their polygons."""
        import geopandas as gpd

        return gpd.GeoDataFrame(self.table.copy(), geometry=self.study.grid.polygons(),
                                crs=4326)

    @property
    def bins(self) -> dict:
        return summarise_bins(np.asarray(self.columns["bin"]))

    def hot_cells(self, level: int = 2):
        """Cells in the hot bins at or above ``level`` (1: 90 %, 2: 95 %, 3: 99 %)."""
        return self.cells[self.cells["bin"] >= level]

    def to_json(self, output: str | None = None) -> dict:
        b = self.bins
        return {
            "area": self.area.to_dict(),
            "crime": self.crime,
            "from": self.start,
            "to": self.end,
            "cells": int(len(self.columns["h3"])),
            "offences": int(np.sum(self.columns["offences"])),
            "hot": b["hot"],
            "cold": b["cold"],
            "synthetic_share": self.metadata["data"]["synthetic_share"],
            "output": output,
            "metadata": self.metadata,
        }

    def summary(self) -> list[str]:
        """Human lines: what was analysed and what was found."""
        m = self.metadata
        b = self.bins
        lines = [
            f"{self.crime} in {self.area.name}, {self.start} to {self.end}: "
            f"{m['data']['offences']:,} offences on {len(self.columns['h3']):,} H3 res "
            f"{m['grid']['resolution']} cells.",
            f"Hot spots: {b['hot']['99']} cells at 99 %, {b['hot']['95']} at 95 %, "
            f"{b['hot']['90']} at 90 %; cold spots: {b['cold']['95']} at 95 %.",
            "Inference: analytic (normal-theory z)." if m["inference"] == "analytic"
            else f"Inference: {m['permutations']:,} conditional permutations "
                 f"(seed {m['seed']}).",
        ]
        if m["period"].get("missing_months"):
            lines.append("Months with no data (left out, not zero): "
                         + ", ".join(m["period"]["missing_months"]) + ".")
        lines += [w for w in m["why"] if w.startswith("SEMI-SYNTHETIC")]
        return lines

    def name(self) -> str:
        m = self.metadata
        return (
            f"gistar__{self.area.slug}__{self.crime.replace(' ', '-').lower()}"
            f"{'-harm' if m['weight'] == 'harm' else ''}__{self.start}_{self.end}"
            f"__r{m['grid']['resolution']}"
        )

    def write(self, store: Store, geojson_dir: Path | str | None = None,
              out_dir: Path | str | None = None) -> dict:
        """Write the cells as GeoParquet to the store's tables (or ``out_dir``);
        also GeoJSON into ``geojson_dir`` when given. Returns the paths written."""
        from .geoio import write_geojson, write_geoparquet

        wkb = self.study.grid.wkb()
        path = store.table_path(self.name(), out_dir)
        write_geoparquet(path, self.columns, wkb, self.metadata)
        out = {"geoparquet": str(path)}
        if geojson_dir is not None:
            gj = Path(geojson_dir) / f"{self.name()}.geojson"
            write_geojson(gj, self.columns, wkb, metadata=self.metadata)
            out["geojson"] = str(gj)
        return out


def default_period(
    store: Store,
    crime: str,
    start: str | None = None,
    end: str | None = None,
    months: int = 12,
    area: Area | str | None = None,
) -> tuple[str, str]:
    """The period to analyse: the last ``months`` months the data covers for
    ``crime`` in ``area`` (gaps skipped), unless given."""
    if start and end:
        return start, end
    from .counts import covered_period

    covered = covered_period(store, crime, area=area)
    if end:
        before = [m for m in covered if m <= end] or [end]
        return before[-months] if len(before) >= months else before[0], end
    if start:
        return start, covered[-1]
    return covered[-months] if len(covered) >= months else covered[0], covered[-1]


def analyse(
    area: Area | str,
    crime: str = "robbery",
    start: str | None = None,
    end: str | None = None,
    *,
    res: int = 9,
    k: int = 1,
    distance: float | None = None,
    permutations: int | None = None,
    seed: int | None = DEFAULT_SEED,
    correction: str = "fdr",
    inference: str = "permutation",
    weight: str = "count",
    harm_path: str | Path | None = None,
    store: Store | None = None,
    engine: Callable | None = None,
    fields: tuple[str, ...] | None = None,
) -> Analysis:
    """Gi* hot and cold spots of ``crime`` in ``area`` on the zero-filled H3 grid.

    Parameters
    ----------
    area : Area or str
        London, a BCU, a borough or a 2022 ward.
    crime : str
        A family (robbery, vehicle, asb, burglary, all) or a police.uk type.
    start, end : str, optional
        Inclusive ``YYYY-MM``; default the last 12 months the data covers.
    res : int
        H3 resolution (8, 9 or 10; 7 for London-wide overviews).
    k : int
        Neighbourhood: the k-ring around each cell (ignored with ``distance``).
    distance : float, optional
        Distance band in metres between cell centres instead of a k-ring.
    permutations : int, optional
        Conditional permutations. Default (None): added until no cell's call at
        99, 95 or 90 % is within Monte-Carlo error of its threshold, with exact
        p-values for cells that sit on it (:mod:`hotspots.stats.stability`), so
        the hot spots do not depend on the seed; an explicit number is used as
        given, and 0 means analytic inference.
    seed : int, optional
        Seed of the permutations.
    correction : {'fdr', 'bonferroni', 'none'}
    inference : {'permutation', 'analytic'}
        Conditional permutation p-values, or the normal-theory z (ArcGIS).
    weight : {'count', 'harm'}
        Count offences, or sum their harm weights (:mod:`hotspots.stats.harm`).
    engine : callable, optional
        Where Gi* runs (:func:`local_engine` by default; see
        :mod:`hotspots.distributed` for the Dask engine).
    fields : tuple of str, optional
        Offence columns the study keeps (default all of
        :data:`hotspots.study.OFFENCE_FIELDS`; a layer-only run reads fewer).
    """
    check_choice("res", res, RESOLUTIONS)
    store = store or Store.open()
    start, end = default_period(store, crime, start, end, area=area)
    study = Study.load(area, crime, start, end, res=res, weight=weight,
                       harm_path=harm_path, store=store,
                       **({"fields": fields} if fields is not None else {}))
    return analyse_study(study, k=k, distance=distance, permutations=permutations,
                         seed=seed, correction=correction, inference=inference,
                         engine=engine)


def analyse_study(
    study: Study,
    *,
    k: int = 1,
    distance: float | None = None,
    permutations: int | None = None,
    seed: int | None = DEFAULT_SEED,
    correction: str = "fdr",
    inference: str = "permutation",
    engine: Callable | None = None,
) -> Analysis:
    """Gi* on a study's totals over its months (see :func:`analyse`)."""
    check_choice("correction", correction, CORRECTIONS)
    check_choice("inference", inference, INFERENCES)
    y = study.total()
    if y.sum() <= 0:
        raise NoOffences(
            f"no {study.crime} offences in {study.area.name} between "
            f"{study.months[0]} and {study.months[-1]}: nothing to analyse")
    requested = permutations
    stable = None
    if inference == "analytic" or permutations == 0:  # no permutations: analytic
        inference, permutations = "analytic", 0
    elif permutations is None and engine is None:
        stable = _stable(y, study.grid, k, distance, seed, correction)
        permutations = stable.permutations
    elif permutations is None:
        permutations = auto_permutations(len(y), correction)
    if stable is not None:
        g, p = stable.gi, stable.p
    else:
        g = (engine or local_engine)(y, study.grid, k=k, distance=distance,
                                     permutations=permutations, seed=seed)
        p = g.p_sim if permutations else g.p_norm
    p_adj = adjust(p, correction)
    table = {
        "h3": study.grid.cells,
        "count": y,
        "offences": study.counts.sum(axis=1).astype(int),
        "gistar": g.gs,
        "z": g.z,
        "p_norm": g.p_norm,
        "p_sim": p if permutations else g.p_sim,
        "p_fdr": p_adj,
        "bin": confidence_bins(g.z, p_adj),
        "neighbours": g.cardinality,
    }
    if stable is not None:
        table["stable"] = stable.stable
        table["margin"] = stable.margin
        table["exact_p"] = stable.exact
    run = _Run(k=k, distance=distance, permutations=permutations,
               requested=requested, seed=seed, correction=correction,
               inference=inference, exact_null=bool(g.exact_null),
               mean_neighbours=float(np.mean(g.cardinality)),
               stability=stable.to_dict() if stable is not None else None,
               stability_lines=tuple(stable.summary()) if stable is not None else ())
    return Analysis(study, table, _metadata(study, run, y))


def _stable(y, grid, k, distance, seed, correction):
    """Gi* with permutations added until the 99/95/90 % calls are seed-free."""
    from .stats.stability import stable_gistar

    W = grid.distance_weights(distance) if distance is not None else grid.weights(k)
    return stable_gistar(y, W, alpha=LEVELS, correction=correction, seed=seed)


def local_engine(y, grid, *, k=1, distance=None, permutations=999, seed=None):
    """Gi* over the whole grid in this process (the default engine).

    An engine takes the zero-filled values and the study grid (a
    :class:`~hotspots.grid.Grid`, or a sequence of cells) and the neighbourhood,
    and returns a :class:`~hotspots.stats.gistar.GiStar` for every cell in order;
    :mod:`hotspots.distributed` provides one that partitions the grid over a Dask
    cluster and gives the same answer.
    """
    from .grid import Grid, distance_band_weights, ring_weights

    if isinstance(grid, Grid):
        W = grid.distance_weights(distance) if distance is not None else \
            grid.neighbours(k)
    else:
        W = distance_band_weights(grid, distance) if distance is not None else \
            ring_weights(grid, k)
    return gistar(y, W, permutations=permutations, seed=seed)


def analyse_many(area, crimes, start=None, end=None, **kw) -> dict[str, Analysis]:
    """Run :func:`analyse` for several crime families side by side."""
    from .areas import resolve_area

    area = area if isinstance(area, Area) else resolve_area(area)
    return {c: analyse(area, c, start, end, **kw) for c in crimes}


def auto_permutations(
    n_cells: int,
    correction: str = "fdr",
    alpha: float = 0.05,
    base: int = 999,
    cap: int = 99_999,
) -> int:
    """Permutations needed for a corrected test over ``n_cells`` to reach ``alpha``.

    A permutation p-value cannot be smaller than 2 / (P + 1) (two-sided), while
    Benjamini–Hochberg needs the strongest cell at p ≤ alpha / n_cells and
    Bonferroni every cell at that. So P + 1 ≥ 2 n / alpha, rounded up to a number
    ending in 9s (1999, 4999, 9999, 19999 …), at least ``base``, at most ``cap``.

    Examples
    --------
    >>> auto_permutations(20), auto_permutations(407), auto_permutations(116_000)
    (999, 19999, 99999)
    >>> auto_permutations(407, "none")
    999
    """
    if correction == "none":
        return base
    need = int(np.ceil(2 * n_cells / alpha))
    for step in (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000):
        if step >= need:
            return int(min(max(base, step - 1), cap))
    return cap


@dataclass(frozen=True)
class _Run:
    """How Gi* was run: what the audit trail reports beside the study."""

    k: int
    distance: float | None
    permutations: int
    requested: int | None
    seed: int | None
    correction: str
    inference: str
    exact_null: bool
    mean_neighbours: float
    stability: dict | None = None
    stability_lines: tuple = ()

    def neighbourhood(self) -> dict:
        if self.distance is not None:
            hood = {"type": "distance band", "metres": float(self.distance)}
        else:
            hood = {"type": "k-ring", "k": int(self.k)}
        return {**hood, "mean_neighbours": self.mean_neighbours,
                "self_included": True}


def _metadata(study: Study, run: _Run, y: np.ndarray) -> dict:
    audit = study.audit()
    n = len(y)
    res = study.res
    hood = run.neighbourhood()
    kinds = ", ".join(study.types) if len(study.types) < 4 else "all types"
    if hood["type"] == "k-ring":
        hood_text = f"each cell and the cells within {hood['k']} ring(s) of it"
    else:
        hood_text = f"cells whose centres are within {hood['metres']:.0f} m"
    months = study.months
    why = [
        f"Study area: {study.area.name} ({len(study.area.ward_codes)} 2022 wards).",
        f"Grid: H3 resolution {res} (about {cell_area_km2(res):.3f} km² a cell), "
        f"{n:,} cells, zero-filled — {int((y == 0).sum()):,} cells had no offences "
        "and are kept, because a hot spot is only hot against its background.",
        f"Period: {months[0]} to {months[-1]} ({len(months)} months with data), "
        f"{study.n_offences:,} {study.crime} offences ({kinds}).",
        f"Neighbourhood: {hood_text} (mean {run.mean_neighbours:.1f} neighbours; edge "
        "cells have fewer).",
    ]
    if study.missing:
        why.append(
            f"Months with no data for every force of the area, left out (not read "
            f"as zero): {', '.join(study.missing)}.")
    if run.inference == "analytic":
        why.append("Inference: analytic (normal-theory) z-scores, as ArcGIS Hot Spot "
                   "Analysis; a busy cell counts towards its own score.")
    else:
        p = run.permutations
        why.append(
            f"Inference: {p:,} conditional permutations (seed {run.seed}); the "
            f"smallest attainable p-value is {2 / (p + 1):.1e}. Ties in the null are "
            "counted in each tail, so empty cells in empty neighbourhoods are never "
            "called cold spots.")
        if run.stability is not None:
            why.extend(run.stability_lines)
        elif run.requested is None and p > 999:
            why.append(
                f"Permutations raised from 999 to {p:,}: with {n:,} cells the "
                f"correction needs p-values down to {0.05 / n:.1e}, and {p:,} "
                f"permutations resolve {2 / (p + 1):.1e}.")
    why.append({
        "fdr": "Correction: Benjamini–Hochberg false discovery rate across all cells "
        "(many cells are tested at once).",
        "bonferroni": "Correction: Bonferroni (family-wise; very conservative).",
        "none": "Correction: none — expect false positives at the stated levels.",
    }[run.correction])
    if study.weight == "harm":
        why.append(f"Weighted by harm: {study.harm.source}.")
    if note := audit.get("synthetic_note"):
        why.append(note)
    audit["grid"]["cell_area_km2"] = cell_area_km2(res)
    return {
        **run_header(),
        **audit,
        "neighbourhood": hood,
        "statistic": "Getis-Ord Gi* (binary weights, self included)",
        "inference": run.inference,
        "permutations": run.permutations,
        "permutations_requested": run.requested,
        "seed": run.seed,
        "tie_rule": "each tail counts its ties; two-sided p = min(1, 2 x one-sided)",
        "exact_null": run.exact_null,
        "stability": run.stability,
        "correction": run.correction,
        "why": why,
    }
