"""The zero-filled H3 study grid of an area, its counts and its neighbours.

A Gi* on only the cells that had offences is a known mistake: the empty cells are the
background the hot cells stand out from. So the study grid is every H3 cell whose
centre lies in the area, plus any cell that holds one of the area's offences (a snap
point on the edge), and every cell keeps its zero.

Neighbours are H3 k-rings (k = 1 by default: the six cells around a cell) or a
distance band between cell centres, as a binary sparse matrix with a zero diagonal
(Gi* adds the cell itself).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from .errors import ParameterError, check_choice

__all__ = [
    "RESOLUTIONS",
    "cell_area_km2",
    "cell_polygons",
    "count_cells",
    "distance_band_weights",
    "grid_frame",
    "ring_weights",
    "study_cells",
]

RESOLUTIONS = (7, 8, 9, 10)


def _check_res(res: int) -> None:
    check_choice("res", res, RESOLUTIONS)


def study_cells(geometry, res: int = 9, include: Sequence[str] = ()) -> np.ndarray:
    """The sorted H3 cells of the study grid for an area outline (EPSG:4326).

    Parameters
    ----------
    geometry : shapely geometry
        The area (Polygon or MultiPolygon, lon/lat).
    res : int
        H3 resolution (9: ~0.1 km² cells, 10: ~0.015 km², 8: ~0.74 km²).
    include : sequence of str
        Cells that must be in the grid (cells holding the area's offences).

    Examples
    --------
    >>> import shapely
    >>> cells = study_cells(shapely.box(-0.20, 51.40, -0.19, 51.41), res=9)
    >>> len(cells) > 5, cells[0] < cells[-1]
    (True, True)
    """
    _check_res(res)
    cells: set[str] = set()
    geoms = getattr(geometry, "geoms", [geometry])
    for g in geoms:
        if g.is_empty:
            continue
        cells.update(h3.geo_to_cells(g, res))
    cells.update(include)
    if not cells:
        # an area smaller than one cell: take the cell of its centre
        c = geometry.representative_point()
        cells.add(h3.latlng_to_cell(c.y, c.x, res))
    return np.array(sorted(cells), dtype=object)


def cell_polygons(cells: Sequence[str]) -> np.ndarray:
    """Shapely polygons (lon/lat) of H3 cells."""
    rings = [h3.cell_to_boundary(c) for c in cells]
    return shapely.polygons([[(lng, lat) for lat, lng in r] for r in rings])


def grid_frame(cells: Sequence[str]) -> gpd.GeoDataFrame:
    """A GeoDataFrame ``h3, geometry`` (EPSG:4326) of the cells."""
    return gpd.GeoDataFrame(
        {"h3": list(cells)}, geometry=cell_polygons(cells), crs=4326
    )


def cell_area_km2(res: int) -> float:
    """Average H3 cell area at a resolution."""
    return float(h3.average_hexagon_area(res, unit="km^2"))


def count_cells(
    cells: Sequence[str],
    cell_ids: Sequence[str],
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Zero-filled counts (or summed weights) of offences per grid cell.

    Offences whose cell is not in ``cells`` are ignored; the caller decides the
    grid (see :func:`study_cells`, whose ``include`` keeps every offence).
    """
    index = pd.Index(cells)
    pos = index.get_indexer(pd.Index(cell_ids))
    ok = pos >= 0
    w = np.ones(len(pos)) if weights is None else np.asarray(weights, dtype="float64")
    return np.bincount(pos[ok], weights=w[ok], minlength=len(index)).astype("float64")


def ring_weights(cells: Sequence[str], k: int = 1) -> sp.csr_matrix:
    """Binary k-ring contiguity among the grid cells (zero diagonal).

    Cells outside the grid are not neighbours, so edge cells have fewer.

    Examples
    --------
    >>> c = h3.latlng_to_cell(51.4, -0.2, 9)
    >>> cells = sorted(h3.grid_disk(c, 1))
    >>> W = ring_weights(cells)
    >>> int(W[cells.index(c)].sum()), int(W.diagonal().sum())
    (6, 0)
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ParameterError(
            f"'k' needs to be a whole number ≥ 1. {k!r} was given instead."
        )
    cells = list(cells)
    index = pd.Index(cells)
    rows, nbrs = [], []
    for i, c in enumerate(cells):
        ring = h3.grid_disk(c, k)
        rows.extend([i] * len(ring))
        nbrs.extend(ring)
    cols = index.get_indexer(pd.Index(nbrs))
    rows = np.asarray(rows)
    keep = (cols >= 0) & (cols != rows)
    n = len(cells)
    data = np.ones(int(keep.sum()))
    return sp.csr_matrix((data, (rows[keep], cols[keep])), shape=(n, n))


def distance_band_weights(cells: Sequence[str], metres: float) -> sp.csr_matrix:
    """Binary distance band: cells with centres within ``metres`` (zero diagonal)."""
    from scipy.spatial import cKDTree

    if not metres > 0:
        raise ParameterError(f"'metres' needs to be > 0. {metres!r} was given instead.")
    latlng = np.array([h3.cell_to_latlng(c) for c in cells])
    pts = gpd.GeoSeries(shapely.points(latlng[:, 1], latlng[:, 0]), crs=4326).to_crs(
        27700
    )
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    pairs = cKDTree(xy).query_pairs(metres, output_type="ndarray")
    n = len(xy)
    i = np.r_[pairs[:, 0], pairs[:, 1]]
    j = np.r_[pairs[:, 1], pairs[:, 0]]
    return sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
