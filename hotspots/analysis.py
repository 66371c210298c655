"""Hot spot analysis: store → zero-filled H3 grid → Gi* → corrected bins, with an
audit trail.

``analyse`` is the one function the CLI, the app, the reports and the tasking stage
call. It reads the offences of an area, crime family and period from the store,
builds the zero-filled study grid, runs Gi* (:mod:`hotspots.stats.gistar`), applies
the multiple-testing correction and confidence bins
(:mod:`hotspots.stats.inference`), and returns the cells with a metadata record of
every choice and why (as ArcGIS's Optimized Hot Spot Analysis messages do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .areas import Area, resolve_area
from .config import crime_types_for
from .counts import covered_period
from .errors import ParameterError, check_choice
from .grid import (
    RESOLUTIONS,
    cell_area_km2,
    count_cells,
    distance_band_weights,
    grid_frame,
    ring_weights,
    study_cells,
)
from .months import month_range
from .provenance import run_header, synthetic_note
from .stats.gistar import gistar
from .stats.harm import harm_table
from .stats.inference import CORRECTIONS, adjust, confidence_bins, summarise_bins
from .store import Store, atomic_file

__all__ = [
    "DEFAULT_SEED",
    "WEIGHTS",
    "Analysis",
    "analyse",
    "analyse_many",
    "auto_permutations",
    "default_period",
    "local_engine",
]

DEFAULT_SEED = 20220505  # the May 2022 ward elections
WEIGHTS = ("count", "harm")
CELL_COLUMNS = (
    "h3",
    "count",
    "offences",
    "gistar",
    "z",
    "p_norm",
    "p_sim",
    "p_fdr",
    "bin",
    "neighbours",
    "geometry",
)


@dataclass(frozen=True)
class Analysis:
    """The result of one hot spot analysis: cells plus the audit trail."""

    area: Area
    crime: str
    start: str
    end: str
    cells: gpd.GeoDataFrame = field(repr=False)
    metadata: dict = field(repr=False)
    offences: pd.DataFrame = field(repr=False, compare=False)

    @property
    def bins(self) -> dict:
        return summarise_bins(self.cells["bin"].to_numpy())

    def hot_cells(self, level: int = 2) -> gpd.GeoDataFrame:
        """Cells in the hot bins at or above ``level`` (1: 90 %, 2: 95 %, 3: 99 %)."""
        return self.cells[self.cells["bin"] >= level]

    def to_json(self, output: str | None = None) -> dict:
        b = self.bins
        return {
            "area": self.area.to_dict(),
            "crime": self.crime,
            "from": self.start,
            "to": self.end,
            "cells": int(len(self.cells)),
            "offences": int(self.cells["offences"].sum()),
            "hot": b["hot"],
            "cold": b["cold"],
            "synthetic_share": self.metadata["data"]["synthetic_share"],
            "output": output,
            "metadata": self.metadata,
        }

    def name(self) -> str:
        m = self.metadata
        return (
            f"gistar__{self.area.slug}__{self.crime.replace(' ', '-').lower()}"
            f"{'-harm' if m['weight'] == 'harm' else ''}__{self.start}_{self.end}"
            f"__r{m['grid']['resolution']}"
        )

    def write(self, store: Store, geojson_dir: Path | None = None) -> dict:
        """Write the cells to the store (GeoParquet) and as GeoJSON; return paths."""
        path = store.write_table(self.name(), self.cells, self.metadata)
        gj_dir = Path(geojson_dir) if geojson_dir else store.path / "outputs"
        gj = gj_dir / f"{self.name()}.geojson"
        with atomic_file(gj, ".geojson") as tmp:
            tmp.write_text(self.cells.to_json(drop_id=True))
        return {"geoparquet": str(path), "geojson": str(gj)}


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
    weight: str = "count",
    harm_path: str | Path | None = None,
    store: Store | None = None,
    engine: Callable | None = None,
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
    engine : callable, optional
        Where Gi* runs (:func:`local_engine` by default; see
        :mod:`hotspots.distributed` for the Dask engine).
    permutations : int, optional
        Conditional permutations (0: analytic only). Default (None): 999, raised
        when needed so the multiple-testing correction can reach the 95 % level
        (see :func:`auto_permutations`); an explicit number is used as given.
    seed : int, optional
        Seed of the permutations.
    correction : {'fdr', 'bonferroni', 'none'}
    weight : {'count', 'harm'}
        Count offences, or sum their harm weights (:mod:`hotspots.stats.harm`).
    """
    check_choice("res", res, RESOLUTIONS)
    check_choice("correction", correction, CORRECTIONS)
    check_choice("weight", weight, WEIGHTS)
    store = store or Store.open()
    area = area if isinstance(area, Area) else resolve_area(area)
    types = crime_types_for(crime)
    start, end = default_period(store, crime, start, end, area=area)
    months = month_range(start, end)
    col = f"h3_{res}" if res in (8, 9, 10) else "h3_9"
    df = store.offences(
        area=area,
        crime=crime,
        start=start,
        end=end,
        columns=[
            "h3_8",
            "h3_9",
            "h3_10",
            "crime_type",
            "synthetic",
            "source",
            "location",
            "month",
            "lon",
            "lat",
            "ward_code",
        ],
    )
    if res == 7:
        import h3

        df["h3_7"] = [h3.cell_to_parent(c, 7) for c in df["h3_8"]]
        col = "h3_7"
    cells = study_cells(area.geometry, res, include=_offence_cells(store, area, res))
    table = harm_table(harm_path) if weight == "harm" else None
    w = table.of(df["crime_type"]) if table is not None else None
    y = count_cells(cells, df[col], w)
    n_off = count_cells(cells, df[col])
    if distance is not None:
        hood = {"type": "distance band", "metres": float(distance)}
    else:
        hood = {"type": "k-ring", "k": int(k)}
    if y.sum() <= 0:
        raise ParameterError(
            f"no {crime} offences in {area.name} between {start} and {end}: "
            "nothing to analyse"
        )
    requested = permutations
    permutations = (
        auto_permutations(len(cells), correction)
        if permutations is None
        else permutations
    )
    g = (engine or local_engine)(
        y, cells, k=k, distance=distance, permutations=permutations, seed=seed
    )
    p = g.p_sim if permutations else g.p_norm
    p_adj = adjust(p, correction)
    bins = confidence_bins(g.z, p_adj)
    frame = grid_frame(cells)
    out = gpd.GeoDataFrame(
        {
            "h3": frame["h3"],
            "count": y,
            "offences": n_off.astype(int),
            "gistar": g.gs,
            "z": g.z,
            "p_norm": g.p_norm,
            "p_sim": g.p_sim,
            "p_fdr": p_adj,
            "bin": bins,
            "neighbours": g.cardinality,
        },
        geometry=frame.geometry,
        crs=4326,
    )
    meta = _metadata(
        area,
        crime,
        types,
        months,
        res,
        hood,
        permutations,
        seed,
        correction,
        weight,
        table,
        df,
        y,
        g,
        requested,
    )
    return Analysis(area, crime, start, end, out, meta, df)


def local_engine(y, cells, *, k=1, distance=None, permutations=999, seed=None):
    """Gi* over the whole grid in this process (the default engine).

    An engine takes the zero-filled values and cells of the study grid and the
    neighbourhood, and returns a :class:`~hotspots.stats.gistar.GiStar` for every
    cell in order; :mod:`hotspots.distributed` provides one that partitions the
    grid over a Dask cluster and gives the same answer.
    """
    if distance is not None:
        W = distance_band_weights(cells, distance)
    else:
        W = ring_weights(cells, k)
    return gistar(y, W, permutations=permutations, seed=seed)


def _offence_cells(store: Store, area: Area, res: int) -> np.ndarray:
    """Cells holding any offence of the area (every type and month), so the grid of
    an area and resolution is the same whatever the crime or period."""
    col = "h3_8" if res == 7 else f"h3_{res}"
    cells = store.offences(area=area, columns=[col])[col].unique()
    if res == 7:
        import h3

        cells = np.unique([h3.cell_to_parent(c, 7) for c in cells])
    return cells


def analyse_many(area, crimes, start=None, end=None, **kw) -> dict[str, Analysis]:
    """Run :func:`analyse` for several crime families side by side."""
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


def _metadata(
    area,
    crime,
    types,
    months,
    res,
    hood,
    permutations,
    seed,
    correction,
    weight,
    table,
    df,
    y,
    g,
    requested=None,
) -> dict:
    n = len(y)
    sources = sorted(df["source"].unique().tolist()) if len(df) else []
    synth = float(df["synthetic"].mean()) if len(df) else 0.0
    km2 = cell_area_km2(res) if res else None
    mean_k = float(np.mean(g.cardinality))
    kinds = ", ".join(types) if len(types) < 4 else "all types"
    if hood["type"] == "k-ring":
        hood_text = f"each cell and the cells within {hood['k']} ring(s) of it"
    else:
        hood_text = f"cells whose centres are within {hood['metres']:.0f} m"
    why = [
        f"Study area: {area.name} ({len(area.ward_codes)} 2022 wards).",
        f"Grid: H3 resolution {res} (about {km2:.3f} km² a cell), {n:,} cells, "
        f"zero-filled — {int((y == 0).sum()):,} cells had no offences and are kept, "
        "because a hot spot is only hot against its background.",
        f"Period: {months[0]} to {months[-1]} ({len(months)} months), "
        f"{int(len(df)):,} {crime} offences ({kinds}).",
        f"Neighbourhood: {hood_text} (mean {mean_k:.1f} neighbours; edge cells have "
        "fewer).",
    ]
    if permutations:
        why.append(
            f"Inference: {permutations:,} conditional permutations (seed {seed}); the "
            f"smallest attainable p-value is {2 / (permutations + 1):.1e}. Ties in the "
            "null are counted in each tail, so empty cells in empty neighbourhoods are "
            "never called cold spots."
        )
    else:
        why.append("Inference: analytic z-scores only (no permutations).")
    if requested is None and permutations > 999:
        why.append(
            f"Permutations raised from 999 to {permutations:,}: with {n:,} cells the "
            f"correction needs p-values down to {0.05 / n:.1e}, and {permutations:,} "
            f"permutations resolve {2 / (permutations + 1):.1e}."
        )
    why.append({
        "fdr": "Correction: Benjamini–Hochberg false discovery rate across all cells "
        "(many cells are tested at once).",
        "bonferroni": "Correction: Bonferroni (family-wise; very conservative).",
        "none": "Correction: none — expect false positives at the stated levels.",
    }[correction])
    if weight == "harm":
        why.append(f"Weighted by harm: {table.source}.")
    if note := synthetic_note(synth):
        why.append(note)
    return {
        **run_header(),
        "area": area.to_dict(),
        "crime": crime,
        "crime_types": list(types),
        "period": {"from": months[0], "to": months[-1], "months": len(months)},
        "grid": {
            "system": "H3",
            "resolution": res,
            "cells": n,
            "empty_cells": int((y == 0).sum()),
            "cell_area_km2": km2,
        },
        "neighbourhood": {**hood, "mean_neighbours": mean_k, "self_included": True},
        "statistic": "Getis-Ord Gi* (binary weights, self included)",
        "permutations": permutations,
        "permutations_requested": requested,
        "seed": seed,
        "tie_rule": "each tail counts its ties; two-sided p = min(1, 2 x one-sided)",
        "exact_null": bool(g.exact_null),
        "correction": correction,
        "weight": weight,
        "harm_table": table.to_dict() if table is not None else None,
        "data": {
            "offences": int(len(df)),
            "synthetic_share": round(synth, 4),
            "files": sources,
        },
        "why": why,
    }
