"""Ward-level view: Gi* on the 2022 wards (queen contiguity), plus rates and ranks.

A neighbourhood team thinks in wards, not hexagons. Wards differ in size, so the
view gives counts, offences per km² and the rank of each, and Gi* on the counts
with queen contiguity (libpysal ``Graph.build_contiguity``) among the area's wards
and the ring of wards around them (so wards on the area's edge keep their real
neighbours). With few wards (a borough has ~20), permutation p-values are coarse:
the ranks and rates are the main reading, Gi* the check.

The counts come from one :class:`~hotspots.study.Study` of the area and its
neighbouring wards (one read of the store).
"""

from __future__ import annotations

import numpy as np

from .areas import Area, load_wards, resolve_area, with_neighbours
from .config import DEFAULT_SEED
from .errors import ParameterError
from .stats.gistar import gistar
from .stats.inference import adjust, confidence_bins
from .study import Study

__all__ = ["ward_view"]


def ward_view(
    area: Area | str,
    crime: str,
    start: str,
    end: str,
    *,
    permutations: int = 9999,
    seed: int | None = DEFAULT_SEED,
    correction: str = "fdr",
    store=None,
):
    """Counts, rates, ranks and Gi* for the 2022 wards of ``area``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``ward_code, ward_name, borough, count, per_km2, rank, gistar, z, p_sim,
        p_fdr, bin, in_area, geometry``, one row per ward of the area and of the
        ring around it, sorted by rank within the area.
    """
    import geopandas as gpd
    from libpysal.graph import Graph

    area = area if isinstance(area, Area) else resolve_area(area)
    wards = load_wards()
    context = with_neighbours(area, wards)
    ring = wards[wards["ward_code"].isin(context.ward_codes)]
    ring = ring.sort_values("ward_code").reset_index(drop=True)
    if len(ring) < 4:
        raise ParameterError(f"{area.name}: too few wards for a ward-level Gi*")
    study = Study.load(context, crime, start, end, store=store)
    counts = study.offences["ward_code"].value_counts()
    y = ring["ward_code"].map(counts).fillna(0).to_numpy(dtype="float64")
    graph = Graph.build_contiguity(ring.set_index("ward_code"), rook=False)
    W = graph.sparse.tocsr()
    W.setdiag(0)
    W.eliminate_zeros()
    W.data[:] = 1.0
    g = gistar(y, W, permutations=permutations, seed=seed)
    p_adj = adjust(g.p_sim, correction)
    out = ring[["ward_code", "ward_name", "borough", "area_km2", "geometry"]].copy()
    out["count"] = y.astype(int)
    out["per_km2"] = y / out["area_km2"].to_numpy()
    out["gistar"] = g.gs
    out["z"] = g.z
    out["p_sim"] = g.p_sim
    out["p_fdr"] = p_adj
    out["bin"] = confidence_bins(g.z, p_adj)
    out["in_area"] = out["ward_code"].isin(area.ward_codes)
    inside = out[out["in_area"]]
    out["rank"] = np.nan
    out.loc[inside.index, "rank"] = inside["count"].rank(ascending=False, method="min")
    out = out.sort_values(["in_area", "rank"], ascending=[False, True])
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=4326)
