"""The zero-filled H3 study grid of an area, its counts and its neighbours.

A Gi* on only the cells that had offences is a known mistake: the empty cells are the
background the hot cells stand out from. So the study grid is every H3 cell whose
centre lies in the area, plus any cell that holds one of the area's offences (a snap
point on the edge), and every cell keeps its zero.

Neighbours are H3 k-rings (k = 1 by default: the six cells around a cell) or a
distance band between cell centres, as a binary sparse matrix with a zero diagonal
(Gi* adds the cell itself).

Every step is vectorised over Arrow arrays with h3ronpy (polyfill, rings, centres,
areas, polygons), so a London grid at resolution 10 (116,000 cells) is built in a
fraction of a second; h3-py stays the reference in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from ._files import CACHE_READ_ERRORS, keep_cache_file
from .errors import ParameterError, check_choice
from .limits import H3_MEAN_AREA_M2, check_cells, check_distance, check_ring

__all__ = [
    "RESOLUTIONS",
    "Grid",
    "cell_area_km2",
    "cell_bytes",
    "cell_ids",
    "cell_polygons",
    "cell_strings",
    "count_cells",
    "distance_band_weights",
    "grid_frame",
    "ring_weights",
    "study_cells",
]

RESOLUTIONS = (7, 8, 9, 10)


def _check_res(res: int) -> None:
    check_choice("res", res, RESOLUTIONS)


def _h3r():
    import h3ronpy

    return h3ronpy


def cell_ids(cells) -> np.ndarray:
    """H3 cells (strings or integers) as ``uint64`` ids.

    Examples
    --------
    >>> int(cell_ids(["8a194ad30807fff"])[0]) == 0x8a194ad30807fff
    True
    """
    arr = np.asarray(cells)
    if arr.dtype.kind == "u":
        return arr.astype(np.uint64)
    if arr.dtype.kind == "i":
        return arr.astype(np.uint64)
    if not len(arr):
        return np.empty(0, np.uint64)
    ids = _parse_hex(arr)
    if ids is not None:
        return ids
    try:
        parsed = _h3r().cells_parse(pa.array(arr.astype(str), pa.string()))
    except ValueError:
        import h3

        bad = [str(c) for c in arr.astype(str) if not h3.is_valid_cell(str(c))]
        raise ParameterError(
            f"{len(bad)} of the cells given are not H3 cell ids: "
            f"{', '.join(bad[:5])}{'…' if len(bad) > 5 else ''}") from None
    return np.asarray(pa.array(parsed), dtype=np.uint64)


#: ASCII code -> hex digit value (255: not a hex digit)
_HEX_VALUE = np.full(256, 255, np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX_VALUE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX_VALUE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_SHIFTS = np.arange(56, -1, -4, dtype=np.uint64)  # 15 hex digits, high first


def _parse_hex(arr: np.ndarray) -> np.ndarray | None:
    """H3 cell strings as ids, when every one is 15 hex digits of a cell (mode 1);
    None otherwise (the caller asks h3ronpy, which names what is wrong). The
    text form of a cell is its id in hex, so no H3 library is loaded for it."""
    try:
        raw = np.asarray(arr, dtype="S16")
    except (UnicodeEncodeError, ValueError, TypeError):
        return None
    if raw.dtype.itemsize != 16:
        return None
    chars = raw.view(np.uint8).reshape(len(raw), 16)
    if chars[:, 15].any():  # longer than 15 characters
        return None
    digits = _HEX_VALUE[chars[:, :15]]
    if (digits == 255).any():  # not hex, or shorter than 15 characters
        return None
    ids = (digits.astype(np.uint64) << _SHIFTS).sum(axis=1, dtype=np.uint64)
    if np.any((ids >> np.uint64(59)) != 1):  # high bit 0, mode 1 (a cell)
        return None
    return ids


def cell_bytes(ids) -> np.ndarray:
    """``uint64`` H3 cell ids as 15-byte lower-case hex text (``S15``), in numpy.

    Examples
    --------
    >>> cell_bytes([0x8a194ad30807fff]).tolist()
    [b'8a194ad30807fff']
    """
    ids = np.asarray(ids, dtype=np.uint64)
    if not len(ids):
        return np.empty(0, dtype="S15")
    digits = (ids[:, None] >> _SHIFTS) & np.uint64(0xF)
    return _HEX_DIGITS[digits].view("S15").ravel()


def cell_strings(ids) -> np.ndarray:
    """``uint64`` H3 ids as lower-case hex strings (object array).

    Examples
    --------
    >>> cell_strings([0x8a194ad30807fff]).tolist()
    ['8a194ad30807fff']
    """
    return cell_bytes(ids).astype(str).astype(object)


def _polyfill(geometry, res: int) -> np.ndarray:
    """Cells whose centres lie in ``geometry`` (lon/lat), as sorted uint64 ids."""
    from h3ronpy.vector import geometry_to_cells

    if geometry is None or geometry.is_empty:
        return np.empty(0, np.uint64)
    out = geometry_to_cells(geometry, res)
    return np.unique(np.asarray(pa.array(out), dtype=np.uint64))


def _read_wkb(path, n: int) -> pa.Array | None:
    import pyarrow.ipc as ipc

    try:
        with pa.memory_map(str(path)) as src:
            arr = ipc.open_file(src).read_all().column(0).combine_chunks()
    except (OSError, pa.ArrowInvalid):
        return None
    return arr if len(arr) == n else None


def _write_wkb(path, arr: pa.Array) -> None:
    import pyarrow.ipc as ipc

    def write(tmp):
        table = pa.table({"wkb": arr})
        with pa.OSFile(tmp, "wb") as sink, ipc.new_file(sink, table.schema) as w:
            w.write_table(table)

    keep_cache_file(path, write)


def _read_ring(path, n: int):
    try:
        with np.load(path) as f:
            ring = Neighbours(f["indptr"], f["indices"])
        if ring.n != n:
            return None
        ring.check()  # indices in range, indptr in order
    except CACHE_READ_ERRORS:
        return None
    return ring


def _write_ring(path, W) -> None:
    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, indptr=W.indptr, indices=W.indices)

    keep_cache_file(path, write)


@dataclass(frozen=True)
class Neighbours:
    """Binary neighbours in compressed-row form: the cells ``indices[indptr[i]:
    indptr[i + 1]]`` neighbour cell *i* (zero diagonal, sorted within each row).

    What Gi* needs of a k-ring, held as two arrays so the analysis path does not
    import scipy; :meth:`sparse` gives the scipy matrix the other statistics use.
    """

    indptr: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        """The number of cells."""
        return len(self.indptr) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def check(self) -> None:
        """Raise ValueError unless the arrays are a valid ``n × n`` CSR pattern
        (:func:`hotspots.stats.gistar.check_neighbour_index`)."""
        from .stats.gistar import check_neighbour_index

        if len(self.indptr) < 1:
            raise ValueError("not a valid neighbour index")
        check_neighbour_index(self.indptr, self.indices, self.n)

    def sparse(self):
        """The scipy CSR matrix (ones where cells neighbour)."""
        import scipy.sparse as sp

        return sp.csr_matrix((np.ones(self.nnz), self.indices, self.indptr),
                             shape=self.shape)


@dataclass(frozen=True)
class Grid:
    """An H3 study grid: sorted cells and what the analyses need of them.

    Build one with :meth:`Grid.of` (area outline plus cells that must be in it) or
    :meth:`Grid.from_cells`. Arrays are computed on first use and kept.

    Attributes
    ----------
    res : int
        H3 resolution.
    ids : ndarray of uint64
        The cells, sorted (numeric order equals the order of their hex strings).
    """

    res: int
    ids: np.ndarray = field(repr=False)
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, geometry, res: int = 9, include: Sequence = ()) -> Grid:
        """Cells centred in ``geometry`` plus the cells ``include`` (ids or strings).

        An area smaller than one cell gets the cell of a point inside it.
        """
        _check_res(res)
        ids = _polyfill(geometry, res)
        extra = cell_ids(include) if len(include) else np.empty(0, np.uint64)
        ids = np.union1d(ids, extra).astype(np.uint64)
        check_cells(len(ids))
        if not len(ids) and geometry is not None and not geometry.is_empty:
            p = geometry.representative_point()
            ids = cell_ids([_latlng_cell(p.y, p.x, res)])
        return cls(res, ids)

    @classmethod
    def from_cells(cls, cells, res: int | None = None) -> Grid:
        """A grid of exactly ``cells`` (strings or ids), sorted and unique."""
        ids = np.unique(cell_ids(cells))
        if res is None:
            if not len(ids):
                raise ParameterError("an empty grid needs its 'res'.")
            res = int((int(ids[0]) >> 52) & 0xF)
        _check_res(res)
        return cls(res, ids)

    def __len__(self) -> int:
        return len(self.ids)

    # -- per-cell arrays -----------------------------------------------------------
    @cached_property
    def cells(self) -> np.ndarray:
        """The cells as H3 strings (object array), in grid order."""
        return cell_strings(self.ids)

    @cached_property
    def _centres(self) -> tuple[np.ndarray, np.ndarray]:
        from h3ronpy.vector import cells_to_coordinates

        rb = cells_to_coordinates(pa.array(self.ids, pa.uint64()))
        tbl = pa.record_batch(rb)
        return (np.asarray(tbl.column("lng"), dtype="float64"),
                np.asarray(tbl.column("lat"), dtype="float64"))

    @property
    def lon(self) -> np.ndarray:
        """Longitude of each cell centre."""
        return self._centres[0]

    @property
    def lat(self) -> np.ndarray:
        """Latitude of each cell centre."""
        return self._centres[1]

    @cached_property
    def area_m2(self) -> np.ndarray:
        """Each cell's area in m² (pentagon-adjacent cells differ slightly)."""
        out = _h3r().cells_area_m2(pa.array(self.ids, pa.uint64()))
        return np.asarray(pa.array(out), dtype="float64")

    def wkb(self) -> pa.Array:
        """Cell polygons as WKB (lon/lat), an Arrow binary array.

        Made once per grid; a grid from the store's cache
        (:func:`hotspots.study.area_grid`) keeps them beside its cells, so a
        fresh process maps a cached grid without rebuilding its polygons.
        """
        def make():
            from h3ronpy.vector import cells_to_wkb_polygons

            return pa.array(cells_to_wkb_polygons(pa.array(self.ids, pa.uint64())))

        return self._kept("wkb", "wkb.arrow", make, _read_wkb, _write_wkb)

    def _kept(self, key, suffix: str, make, read, write):
        """``make()`` once per grid; with :meth:`keep_at`, read from (or written
        to) the file ``stem.suffix`` as well."""
        if key not in self._memo:
            stem = self._memo.get("keep_at")
            path = f"{stem}.{suffix}" if stem is not None else None
            value = read(path, len(self.ids)) if path is not None else None
            if value is None:
                value = make()
                if path is not None:
                    write(path, value)
            self._memo[key] = value
        return self._memo[key]

    def keep_at(self, stem) -> Grid:
        """Keep this grid's polygons and k-ring neighbours in files named
        ``stem.*`` (read from there when present: the store's grid cache)."""
        self._memo["keep_at"] = str(stem)
        return self

    def polygons(self) -> np.ndarray:
        """Cell polygons as shapely geometries (lon/lat)."""
        import shapely

        return shapely.from_wkb(np.asarray(self.wkb().to_pylist(), dtype=object))

    def frame(self):
        """A GeoDataFrame ``h3, geometry`` (EPSG:4326) of the cells."""
        import geopandas as gpd

        return gpd.GeoDataFrame({"h3": self.cells}, geometry=self.polygons(),
                                crs=4326)

    # -- lookups and neighbours ----------------------------------------------------
    def index_of(self, cells) -> np.ndarray:
        """Grid positions of ``cells`` (strings or ids); −1 for cells not in it."""
        ids = cell_ids(cells)
        pos = np.searchsorted(self.ids, ids)
        pos = np.minimum(pos, max(len(self.ids) - 1, 0))
        ok = len(self.ids) > 0
        hit = (self.ids[pos] == ids) if ok else np.zeros(len(ids), bool)
        return np.where(hit, pos, -1).astype(np.int64)

    def counts(self, cells, weights=None) -> np.ndarray:
        """Zero-filled counts (or summed ``weights``) of offences per cell."""
        pos = self.index_of(cells)
        ok = pos >= 0
        w = (np.ones(len(pos)) if weights is None
             else np.asarray(weights, dtype="float64"))
        return np.bincount(pos[ok], weights=w[ok],
                           minlength=len(self.ids)).astype("float64")

    def neighbours(self, k: int = 1) -> Neighbours:
        """The k-ring neighbours among the grid cells, as :class:`Neighbours`.

        Cells outside the grid are not neighbours, so edge cells have fewer.
        Computed once per ``k`` and kept (treat it as read-only).
        """
        key = ("ring", int(k) if isinstance(k, int | np.integer) else k)
        return self._kept(key, f"ring{key[1]}.npz", lambda: _ring(self.ids, k),
                          _read_ring, _write_ring)

    def weights(self, k: int = 1):
        """Binary k-ring contiguity among the grid cells (zero diagonal, scipy
        csr): :meth:`neighbours` as a matrix, made once per ``k`` and kept."""
        key = ("weights", int(k) if isinstance(k, int | np.integer) else k)
        if key not in self._memo:
            self._memo[key] = self.neighbours(k).sparse()
        return self._memo[key]

    def distance_weights(self, metres: float):
        """Binary distance band: cells with centres within ``metres``."""
        return _band(self.lon, self.lat, metres, self.res)


def _latlng_cell(lat: float, lng: float, res: int) -> str:
    import h3

    return h3.latlng_to_cell(lat, lng, res)


def _ring(ids: np.ndarray, k: int) -> Neighbours:
    """k-ring neighbours of sorted ``ids`` among themselves (refused above the
    work and memory caps before anything is built: :mod:`hotspots.limits`)."""
    check_ring(k, len(ids))
    k = int(k)
    n = len(ids)
    if not n:
        return Neighbours(np.zeros(1, np.int64), np.zeros(0, np.int64))
    disks = _h3r().grid_disk(pa.array(ids, pa.uint64()), k, flatten=False)
    disks = pa.array(disks)
    offsets = np.asarray(disks.offsets)
    nbr = np.asarray(disks.flatten(), dtype=np.uint64)
    rows = np.repeat(np.arange(n), np.diff(offsets))
    pos = np.searchsorted(ids, nbr)
    pos = np.minimum(pos, n - 1)
    keep = (ids[pos] == nbr) & (pos != rows)
    # the disks come row by row: the kept pairs are a CSR pattern as they are,
    # sorted within each row by (row, column)
    rows, cols = rows[keep], pos[keep]
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return Neighbours(indptr, cols[order].astype(np.int64))


def _band(lon, lat, metres, res: int | None = None):
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    if not (isinstance(metres, int | float | np.floating) and np.isfinite(metres)
            and metres > 0):
        raise ParameterError(f"'metres' needs to be > 0. {metres!r} was given instead.")
    if res is not None:
        check_distance(float(metres), res, len(lon))
    from .areas import bng_xy

    x, y = bng_xy(lon, lat)
    xy = np.column_stack([x, y])
    pairs = cKDTree(xy).query_pairs(float(metres), output_type="ndarray")
    n = len(xy)
    i = np.r_[pairs[:, 0], pairs[:, 1]]
    j = np.r_[pairs[:, 1], pairs[:, 0]]
    return sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))


# -- functional forms (for callers that hold cell strings) ------------------------
def study_cells(geometry, res: int = 9, include: Sequence[str] = ()) -> np.ndarray:
    """The sorted H3 cells (strings) of the study grid for an area outline.

    Examples
    --------
    >>> import shapely
    >>> cells = study_cells(shapely.box(-0.20, 51.40, -0.19, 51.41), res=9)
    >>> len(cells) > 5, cells[0] < cells[-1]
    (True, True)
    """
    return Grid.of(geometry, res, include).cells


def cell_polygons(cells: Sequence[str]) -> np.ndarray:
    """Shapely polygons (lon/lat) of H3 cells, in the order given."""
    import shapely
    from h3ronpy.vector import cells_to_wkb_polygons

    wkb = pa.array(cells_to_wkb_polygons(pa.array(cell_ids(cells), pa.uint64())))
    return shapely.from_wkb(np.asarray(wkb.to_pylist(), dtype=object))


def grid_frame(cells: Sequence[str]):
    """A GeoDataFrame ``h3, geometry`` (EPSG:4326) of the cells, in order."""
    import geopandas as gpd

    return gpd.GeoDataFrame({"h3": list(cells)}, geometry=cell_polygons(cells),
                            crs=4326)


def cell_area_km2(res: int) -> float:
    """Average H3 hexagon area at a resolution (km²).

    >>> round(cell_area_km2(9), 4)
    0.1053
    """
    _check_res(res)
    return H3_MEAN_AREA_M2[res] / 1e6


def count_cells(cells: Sequence[str], cell_ids_: Sequence[str],
                weights: Sequence[float] | None = None) -> np.ndarray:
    """Zero-filled counts (or summed weights) of offences per grid cell.

    Offences whose cell is not in ``cells`` are ignored; the caller decides the
    grid (see :func:`study_cells`, whose ``include`` keeps every offence).
    """
    import pandas as pd

    index = pd.Index(cells)
    pos = index.get_indexer(pd.Index(cell_ids_))
    ok = pos >= 0
    w = np.ones(len(pos)) if weights is None else np.asarray(weights, dtype="float64")
    return np.bincount(pos[ok], weights=w[ok], minlength=len(index)).astype("float64")


def ring_weights(cells: Sequence[str], k: int = 1):
    """Binary k-ring contiguity among ``cells`` (zero diagonal), in the order given.

    Examples
    --------
    >>> import h3
    >>> c = h3.latlng_to_cell(51.4, -0.2, 9)
    >>> cells = sorted(h3.grid_disk(c, 1))
    >>> W = ring_weights(cells)
    >>> int(W[cells.index(c)].sum()), int(W.diagonal().sum())
    (6, 0)
    """
    ids = cell_ids(list(cells))
    order = np.argsort(ids, kind="stable")
    W = _ring(ids[order], k).sparse()
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    return W[inv][:, inv].tocsr()


def distance_band_weights(cells: Sequence[str], metres: float):
    """Binary distance band: cells with centres within ``metres`` (zero diagonal)."""
    ids = cell_ids(list(cells))
    from h3ronpy.vector import cells_to_coordinates

    tbl = pa.record_batch(cells_to_coordinates(pa.array(ids, pa.uint64())))
    return _band(np.asarray(tbl.column("lng")), np.asarray(tbl.column("lat")), metres)
