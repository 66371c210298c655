"""The Study: one area, crime (or harm), period, resolution and forces, read once.

Every analysis in hotspots starts from the same question — *which offences, where,
when, on which grid* — so the answer lives in one immutable object that reads the
store once and hands out arrays:

* the **zero-filled H3 grid** of the area (:class:`hotspots.grid.Grid`): every cell
  centred in the area plus every cell that holds one of the area's offences of any
  type or month, so an area and resolution have one grid whatever the crime;
* a **cell × month cube** of offence counts (and of harm-weighted sums);
* the **offence rows** (cell position, month, type, location, point, ward, source);
* the **months**: only those every territorial force of the area covers for the
  crime (:mod:`hotspots.coverage`). A month with no file is *missing*, not a row of
  zeros, and a study that spans a gap says so in :attr:`Study.missing`. A summary
  over several crimes that says per type which months it has (the crime pack)
  loads with ``cover="any"`` instead.

Statistics take the study's arrays; nothing in :mod:`hotspots.stats` reads the
store. A backtest loads all history once and slices windows with
:meth:`Study.window` (no new read); the app caches results keyed on the store's
fingerprint.

Examples
--------
>>> st = Study.load("Merton", "robbery", "2022-01", "2022-12", res=9)  # doctest: +SKIP
>>> st.counts.shape                                                   # doctest: +SKIP
(424, 12)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ._arrow import bools, numbers, numpy_of, strings, texts
from ._files import CACHE_READ_ERRORS
from .areas import Area, resolve_area
from .config import crime_types_for
from .coverage import Coverage, area_forces
from .errors import ParameterError, check_choice
from .grid import RESOLUTIONS, Grid, cell_ids
from .months import describe_months, month_range
from .provenance import synthetic_note

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COUNT_FIELDS", "COVER", "OFFENCE_FIELDS", "WEIGHTS", "Study", "area_grid",
           "map_points"]

WEIGHTS = ("count", "harm")
#: Which months a study keeps: those every force covers for every type of its
#: crime (``"every"``, what a statistic over one crime needs), or those any force
#: covers for any of its types (``"any"``, for a summary that says per type and
#: force which months it has, as the crime pack does).
COVER = ("every", "any")
#: Columns of :attr:`Study.offences` (plus ``cell``, the grid position).
OFFENCE_FIELDS = ("month", "crime_type", "location", "lon", "lat", "ward_code",
                  "synthetic", "source", "h3_8", "h3_9", "h3_10")
#: The fewest columns a study needs for its counts and audit (a hot spot layer
#: that will not list streets or points reads only these).
COUNT_FIELDS = ("month", "crime_type", "synthetic", "source")
_GRID_CACHE = "cache/grids"


def _h3_column(res: int) -> str:
    """The stored H3 column a resolution is read from (7 is derived from 8)."""
    return "h3_8" if res == 7 else f"h3_{res}"


def _ids_at(cells, res: int) -> np.ndarray:
    """uint64 cell ids of stored H3 strings at ``res`` (parents for res 7)."""
    cells = np.asarray(cells)
    ids = cell_ids(cells if cells.dtype.kind == "S" else cells.astype(object))
    if res == 7 and len(ids):
        import h3ronpy

        ids = np.asarray(pa.array(h3ronpy.change_resolution(
            pa.array(ids, pa.uint64()), 7)), dtype=np.uint64)
    return ids


def _crime_name(crime) -> str:
    """A crime, or several, as text (``robbery``; ``Robbery + Burglary``)."""
    return crime if isinstance(crime, str) else " + ".join(crime)


def _fingerprint(store) -> str:
    return store.fingerprint()[:16]


def area_grid(area: Area, res: int, store) -> Grid:
    """The study grid of ``area`` at ``res``, cached in the store per generation.

    The cells holding the area's offences come from the store's map points (one
    row per distinct ward and H3 cells, built once per store generation with one
    scan); the grid is then kept under the store's ``cache/grids`` keyed by the
    store fingerprint, so a re-ingest rebuilds it.
    """
    check_choice("res", res, RESOLUTIONS)
    key = hashlib.sha1(
        f"{area.kind}|{area.code}|{','.join(area.ward_codes)}".encode()
    ).hexdigest()[:12]
    path = Path(store.path) / _GRID_CACHE / f"{key}-r{res}-{_fingerprint(store)}.npy"
    stem = path.with_suffix("")  # polygons and neighbours are kept beside it
    if path.is_file():
        try:
            return Grid(res, np.load(path)).keep_at(stem)
        except CACHE_READ_ERRORS:
            pass  # a damaged cache file is rebuilt below
    points = map_points(store)
    col = _h3_column(res)
    held = points.loc[points["ward_code"].isin(area.ward_codes), col]
    include = np.unique(_ids_at(held.dropna().unique(), res))
    grid = Grid.of(area.geometry, res, include)
    _save_ids(path, grid.ids)
    return grid.keep_at(stem)


_POINT_COLUMNS = ("ward_code", "h3_8", "h3_9", "h3_10")


def map_points(store) -> pd.DataFrame:
    """Distinct ``ward_code, h3_8, h3_9, h3_10`` of every stored offence, cached."""
    path = Path(store.path) / _GRID_CACHE / f"points-{_fingerprint(store)}.parquet"
    if path.is_file():
        try:
            import pandas as pd

            return pd.read_parquet(path)
        except CACHE_READ_ERRORS:
            pass
    points = store.distinct_offences(_POINT_COLUMNS)
    from .store import atomic_file

    try:
        with atomic_file(path, ".parquet") as tmp:
            points.to_parquet(tmp, index=False)
    except OSError:
        pass  # a read-only store still analyses
    return points


def _in_months(rows: pa.Table, months) -> pa.Table:
    """The rows of ``rows`` dated in ``months`` (Arrow, order kept)."""
    import pyarrow.compute as pc

    if not rows.num_rows:
        return rows
    return rows.filter(pc.is_in(rows.column("month").cast(pa.string()),
                                value_set=strings(months)))


def _month_index(month: pa.ChunkedArray, months) -> np.ndarray:
    """Each row's position in ``months`` (every row's month is one of them)."""
    import pyarrow.compute as pc

    if not len(month):
        return np.zeros(0, np.int64)
    return numpy_of(pc.index_in(month.cast(pa.string()),
                                value_set=strings(months))).astype(np.int64)


def _save_ids(path: Path, ids: np.ndarray) -> None:
    from .store import atomic_file

    try:
        with atomic_file(path, ".npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, ids)
    except OSError:
        pass  # a read-only store still analyses; it only cannot keep the grid


@dataclass(frozen=True)
class Study:
    """Offences of one area, crime and period on one H3 grid, read once.

    Build with :meth:`Study.load`; slice with :meth:`window`. Arrays are shared
    with slices, never modified.

    Attributes
    ----------
    area : Area
    crime : str or tuple of str
        The family or police.uk type asked for (or several).
    types : tuple of str
        The police.uk types it stands for.
    res : int
        H3 resolution of the grid.
    weight : {'count', 'harm'}
    forces : tuple of str
        Territorial forces of the area (police.uk slugs).
    months : tuple of str
        Covered months loaded, sorted; gaps are left out.
    missing : tuple of str
        Months between the first and last that are not covered (by the study's
        ``cover`` rule).
    cover : {'every', 'any'}
        Whether ``months`` are those every force covers for every type, or those
        any force covers for any type (:data:`COVER`).
    grid : Grid
    counts : ndarray, shape (n_cells, n_months)
        Offences per cell and month, zero-filled.
    values : ndarray, shape (n_cells, n_months)
        ``counts``, or harm-weighted sums when ``weight == "harm"``.
    rows : pyarrow.Table
        One row per offence: :data:`OFFENCE_FIELDS` and ``cell`` (grid position).
        :attr:`offences` is the same as a DataFrame, made on first use (an
        analysis that needs only the counts never imports pandas).
    harm : HarmTable or None
    """

    area: Area
    crime: str
    types: tuple
    res: int
    weight: str
    forces: tuple
    months: tuple
    missing: tuple
    grid: Grid = field(repr=False)
    counts: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    rows: pa.Table = field(repr=False)
    harm: object = field(default=None, repr=False)
    fingerprint: str = ""
    cover: str = "every"

    # -- building ------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        area: Area | str,
        crime: str = "robbery",
        start: str | None = None,
        end: str | None = None,
        *,
        res: int = 9,
        weight: str = "count",
        harm_path: str | Path | None = None,
        store=None,
        fields: tuple[str, ...] = OFFENCE_FIELDS,
        cover: str = "every",
    ) -> Study:
        """Read the store once for ``crime`` in ``area`` from ``start`` to ``end``.

        Parameters
        ----------
        area : Area or str
            London, a BCU, a borough or a 2022 ward.
        crime : str or sequence of str
            A family (robbery, vehicle, asb, burglary, all) or a police.uk type,
            or several.
        start, end : str, optional
            Inclusive ``YYYY-MM``; default every month the data covers.
        res : int
            H3 resolution (7, 8, 9, 10).
        weight : {'count', 'harm'}
            ``values`` holds counts, or harm-weighted sums
            (:mod:`hotspots.stats.harm`).
        harm_path : path, optional
            A harm table overriding the default.
        store : Store, optional
        fields : tuple of str
            Offence columns to keep (default :data:`OFFENCE_FIELDS`;
            :data:`COUNT_FIELDS` for counts alone). The grid's H3 column is
            always read.
        cover : {'every', 'any'}
            ``"every"`` keeps the months every force of the area covers for every
            type of ``crime``; ``"any"`` those any force covers for any type (a
            caller that reports coverage per type and force, like the crime pack).

        Raises
        ------
        ParameterError
            When the data covers no month of the period for this crime and area.
        """
        from .store import Store

        check_choice("res", res, RESOLUTIONS)
        check_choice("weight", weight, WEIGHTS)
        check_choice("cover", cover, COVER)
        # one generation for every read below, whatever an ingest publishes meanwhile
        store = (store or Store.open()).pinned()
        area = area if isinstance(area, Area) else resolve_area(area)
        types = crime_types_for(crime)
        forces = area_forces(area)
        coverage = Coverage.of(store)
        covered = (coverage.months(crime, forces) if cover == "every"
                   else coverage.any_months(crime, forces, any_type=True))
        name = _crime_name(crime)
        if not covered:
            raise ParameterError(
                f"no {name} offences in the store cover {area.name}")
        span = month_range(start or covered[0], end or covered[-1])
        have = set(covered)
        months = tuple(m for m in span if m in have)
        if not months:
            raise ParameterError(
                f"{name} data for {area.name} covers {describe_months(covered)}; "
                f"nothing in {span[0]}..{span[-1]}.")
        # every month of the period asked for without data, at its ends too
        missing = tuple(m for m in span if m not in have)
        grid = area_grid(area, res, store)
        cols = list(dict.fromkeys([*COUNT_FIELDS, *fields, _h3_column(res)]))
        rows = store.scan("offences", cols, area=area, crime=crime,
                          start=months[0], end=months[-1])
        rows = _in_months(rows, months)
        table = None
        if weight == "harm":
            from .stats.harm import harm_table

            table = harm_table(harm_path)
            if not any(table.weights.get(t, 0) for t in types):
                raise ParameterError(
                    f"the harm table ({table.path}) gives every type of {name} "
                    "weight 0: there is no harm to weigh (give them weights, or "
                    "count offences)")
        return cls._build(area, crime, types, res, weight, forces, months, missing,
                          grid, rows, table, _fingerprint(store), cover)

    @classmethod
    def from_offences(cls, area: Area | str, offences: pd.DataFrame, *,
                      crime: str = "robbery", res: int = 9, months=None,
                      weight: str = "count", harm=None, grid: Grid | None = None
                      ) -> Study:
        """A study of given offence rows (tests, other boundaries, what-ifs).

        ``offences`` needs ``month``, ``crime_type`` and ``h3_<res>`` (``h3_8``
        for res 7); the other :data:`OFFENCE_FIELDS` are filled when absent.
        ``months`` defaults to the first to last month of the rows.
        """
        check_choice("res", res, RESOLUTIONS)
        check_choice("weight", weight, WEIGHTS)
        area = area if isinstance(area, Area) else resolve_area(area)
        rows = offences.copy()
        for col in OFFENCE_FIELDS:
            if col not in rows.columns:
                rows[col] = False if col == "synthetic" else None
        if months is None:
            if not len(rows):
                raise ParameterError("a study of no offences needs its 'months'.")
            months = month_range(rows["month"].min(), rows["month"].max())
        months = tuple(months)
        rows = rows[rows["month"].isin(set(months))].reset_index(drop=True)
        if grid is None:
            grid = Grid.of(area.geometry, res,
                           _ids_at(rows[_h3_column(res)].dropna().unique(), res))
        rows = pa.Table.from_pandas(rows, preserve_index=False)
        full = month_range(months[0], months[-1])
        missing = tuple(m for m in full if m not in set(months))
        return cls._build(area, crime, crime_types_for(crime), res, weight,
                          area_forces(area), months, missing, grid, rows, harm, "")

    @classmethod
    def _build(cls, area, crime, types, res, weight, forces, months, missing, grid,
               rows: pa.Table, table, fingerprint, cover="every") -> Study:
        import pyarrow.compute as pc

        h3 = rows.column(_h3_column(res))
        ok = bools(pc.is_valid(h3))
        cell = np.full(rows.num_rows, -1, np.int64)
        if ok.any():
            cell[ok] = grid.index_of(_ids_at(texts(h3.filter(numbers(ok))), res))
        keep = cell >= 0  # outside the grid: none
        rows = rows.filter(numbers(keep)).append_column("cell", numbers(cell[keep]))
        t = _month_index(rows.column("month"), months)
        n, T = len(grid), len(months)
        flat = cell[keep] * T + t
        counts = np.bincount(flat, minlength=n * T).astype("float64").reshape(n, T)
        if weight == "harm":
            w = (table.of(rows.column("crime_type").to_pylist()) if rows.num_rows
                 else np.zeros(0))
            values = np.bincount(flat, weights=w, minlength=n * T).reshape(n, T)
        else:
            values = counts
        crime = crime if isinstance(crime, str) else tuple(crime)
        return cls(area, crime, tuple(types), int(res), weight, tuple(forces),
                   tuple(months), tuple(missing), grid, counts, values, rows, table,
                   fingerprint, cover)

    @cached_property
    def offences(self) -> pd.DataFrame:
        """:attr:`rows` as a DataFrame (made once, on first use; do not modify)."""
        from .store import rows_frame

        return rows_frame(self.rows)

    # -- slicing and summaries -----------------------------------------------------
    def window(self, start: str | None = None, end: str | None = None) -> Study:
        """The same study over the covered months from ``start`` to ``end``."""
        lo = start or self.months[0]
        hi = end or self.months[-1]
        keep = [i for i, m in enumerate(self.months) if lo <= m <= hi]
        if not keep:
            raise ParameterError(
                f"the study covers {describe_months(self.months)}; nothing in "
                f"{lo}..{hi}.")
        months = tuple(self.months[i] for i in keep)
        span = set(month_range(months[0], months[-1]))
        return Study(
            self.area, self.crime, self.types, self.res, self.weight, self.forces,
            months, tuple(m for m in self.missing if m in span), self.grid,
            self.counts[:, keep], self.values[:, keep],
            _in_months(self.rows, months), self.harm, self.fingerprint, self.cover)

    def total(self, months=None) -> np.ndarray:
        """``values`` summed over ``months`` (default all) per cell."""
        if months is None:
            return self.values.sum(axis=1)
        idx = [self.months.index(m) for m in months]
        return self.values[:, idx].sum(axis=1)

    @property
    def n_offences(self) -> int:
        return int(self.rows.num_rows)

    @property
    def synthetic_share(self) -> float:
        """Share of the study's offence rows that are semi-synthetic."""
        if not self.rows.num_rows:
            return 0.0
        import pyarrow.compute as pc

        s = self.rows.column("synthetic").cast(pa.bool_())  # sum skips nulls
        return float(pc.sum(s).as_py() or 0) / self.rows.num_rows

    def label(self) -> str:
        """``robbery, Merton, 2022-01..2022-12`` for titles and logs."""
        return (f"{_crime_name(self.crime)}, {self.area.name}, "
                f"{describe_months(self.months)}")

    def audit(self) -> dict:
        """What the study is, for an output's metadata (JSON-ready)."""
        files = sorted({f for f in self.rows.column("source").unique().to_pylist()
                        if f is not None})
        share = round(self.synthetic_share, 4)
        out = {
            "area": self.area.to_dict(),
            "crime": self.crime if isinstance(self.crime, str) else list(self.crime),
            "crime_types": list(self.types),
            "forces": list(self.forces),
            "period": {"from": self.months[0], "to": self.months[-1],
                       "months": len(self.months), "cover": self.cover,
                       "missing_months": list(self.missing)},
            "grid": {"system": "H3", "resolution": self.res,
                     "cells": len(self.grid),
                     "empty_cells": int((self.counts.sum(axis=1) == 0).sum())},
            "weight": self.weight,
            "harm_table": self.harm.to_dict() if self.harm is not None else None,
            "data": {"offences": self.n_offences, "synthetic_share": share,
                     "files": files},
            "store_fingerprint": self.fingerprint,
        }
        if note := synthetic_note(share):
            out["synthetic_note"] = note
        return out
