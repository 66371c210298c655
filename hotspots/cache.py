"""A precompute cache in the store for interactive views (the Dash app).

A filter change in the app must re-render in well under a second, so the heavy
work — a Gi* analysis, the ward-by-month and street-by-month counts — is computed
once and kept:

* on disk under ``<store>/cache/<kind>/<key>.parquet`` (GeoParquet for frames
  with geometry; the metadata dict in the Parquet schema metadata), written
  atomically, so every server process and restart reuses it;
* in memory, a bounded least-recently-used map, so a repeated view costs a
  dictionary look-up.

A server can also hold the store's offences in memory (:meth:`ViewCache.prepare`,
:class:`OffenceTable`: the columns a study reads, dictionary-encoded, about 120 MB
for two million offences, read in a few seconds): a new view's study is then a
filter of arrays (~10 ms for a borough's year) instead of a scan of the store's
files (~0.3 s), and the count tables are built from it without another scan.

The key is a SHA-256 of the kind, the parameters, the package version and the
store's ledger fingerprint: a new ingest (different inputs) gives new keys, so a
stale result is never served. Concurrent requests for the same key wait for one
computation instead of repeating it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__
from .areas import Area, resolve_area
from .config import crime_types_for
from .store import Store, atomic_file, rows_frame

__all__ = ["CACHE_DIR", "HELD_COLUMNS", "OffenceTable", "ViewCache", "warm"]

#: Folder of the on-disk cache inside the store.
CACHE_DIR = "cache"
_META_KEY = b"hotspots"
T = TypeVar("T")
#: Offence columns an :class:`OffenceTable` holds (those a study reads, and the
#: force); a read asking for any other column goes to the store's files.
HELD_COLUMNS = ("month", "crime_type", "location", "lon", "lat", "ward_code",
                "synthetic", "source", "force", "h3_8", "h3_9", "h3_10")


class OffenceTable:
    """The offences of one store generation, held in memory for fast filters.

    Text columns are kept as integer codes into a dictionary (a month, type, ward
    or H3 cell is stored once), so a filter is a few array look-ups and a read
    of a borough's year of robbery takes milliseconds instead of a scan of the
    store's files. :meth:`offences` answers exactly as
    :meth:`hotspots.store.Store.offences` does (same rows, order and dtypes) for
    the columns held.

    Parameters
    ----------
    store : Store
        The store; its current generation is read (once, here).
    columns : sequence of str
        Columns to hold (those the store has; default :data:`HELD_COLUMNS`).
    """

    def __init__(self, store: Store, columns: Sequence[str] = HELD_COLUMNS):
        self.store = store.pinned()
        self.has = frozenset(self.store.columns("offences"))
        self.columns = tuple(c for c in columns if c in self.has)
        table = self.store.scan("offences", list(self.columns))
        self.n = table.num_rows
        self._codes: dict[str, np.ndarray] = {}
        self._words: dict[str, pa.Array] = {}
        self._plain: dict[str, pa.Array] = {}
        for c in self.columns:
            col = table[c]
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                enc = pc.dictionary_encode(col.combine_chunks())
                codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                self._codes[c] = codes.astype(np.int32, copy=False)
                self._words[c] = enc.dictionary.cast(pa.string())
            else:
                self._plain[c] = col.combine_chunks()
        # the store's files are read month by month, so rows come in month order:
        # a period is then a slice of rows (``_month_rows``), not a mask
        self._month_rows = None
        if "month" in self._codes and self.n:
            months = np.asarray(self._words["month"].to_pylist(), dtype=object)
            order = np.argsort(months, kind="stable")
            rank = np.empty(len(months), dtype=np.int64)
            rank[order] = np.arange(len(months))
            codes = self._codes["month"]
            r = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
            if (r >= 0).all() and (np.diff(r) >= 0).all():
                self._month_rows = (months[order].tolist(),
                                    np.searchsorted(r, np.arange(len(months) + 1)))

    @property
    def nbytes(self) -> int:
        """Bytes held (codes, dictionaries and plain columns)."""
        return int(sum(a.nbytes for a in self._codes.values())
                   + sum(a.nbytes for a in self._words.values())
                   + sum(a.nbytes for a in self._plain.values()))

    def holds(self, columns: Sequence[str] | None) -> bool:
        """Whether a read of ``columns`` can be answered from memory."""
        return columns is not None and all(
            c in self.columns or c not in self.has for c in columns)

    def _allowed(self, column: str, keep: Callable[[np.ndarray], np.ndarray],
                 rows: slice) -> np.ndarray:
        """Row mask over ``rows``: whose ``column`` value passes ``keep`` (nulls
        never)."""
        words = np.asarray(self._words[column].to_pylist(), dtype=object)
        ok = np.append(keep(words) if len(words) else np.zeros(0, bool), False)
        return ok[self._codes[column][rows]]

    def rows(self, area=None, crime="everything", start=None, end=None,
             forces=None) -> np.ndarray | None:
        """Positions of the rows :meth:`Store.offences`'s filters keep (None:
        every row), in store order."""
        parts = []
        rows = slice(0, self.n)
        if (start is not None or end is not None) and self._month_rows:
            months, bounds = self._month_rows
            lo = 0 if start is None else int(np.searchsorted(months, start, "left"))
            hi = (len(months) if end is None
                  else int(np.searchsorted(months, end, "right")))
            rows = slice(int(bounds[lo]), int(bounds[max(hi, lo)]))
        elif start is not None or end is not None:
            lo, hi = start, end
            parts.append(self._allowed("month", lambda m: np.array(
                [(lo is None or x >= lo) and (hi is None or x <= hi) for x in m],
                dtype=bool), rows))
        parts += self._filters(area, crime, forces, rows)
        if not parts:
            return None if rows == slice(0, self.n) else np.arange(rows.start,
                                                                    rows.stop)
        out = parts[0]
        for p in parts[1:]:
            out = out & p
        return rows.start + np.flatnonzero(out)

    def _filters(self, area, crime, forces, rows: slice) -> list[np.ndarray]:
        parts = []
        if crime is not None:
            types = crime_types_for(crime)
            if set(types) != set(crime_types_for("everything")):
                parts.append(self._allowed(
                    "crime_type", lambda t: np.isin(t, list(types)), rows))
        if forces is not None:
            fs = [str(f) for f in forces]
            parts.append(self._allowed("force", lambda f: np.isin(f, fs), rows))
        if area is not None:
            area = area if isinstance(area, Area) else resolve_area(area)
            if area.code == "LONDON":  # every ward, the City's included
                parts.append(self._codes["ward_code"][rows] >= 0)
            else:
                codes = list(area.ward_codes)
                parts.append(self._allowed("ward_code", lambda w: np.isin(w, codes),
                                           rows))
        return parts

    def arrow(self, area=None, crime="everything", start=None, end=None,
              columns: Sequence[str] | None = None, forces=None) -> pa.Table:
        """The rows and columns :meth:`Store.scan` gives (columns held only)."""
        if not self.holds(columns):
            raise ValueError(f"columns not held in memory: {columns!r}")
        idx = self.rows(area, crime, start, end, forces)
        cols = [c for c in columns if c in self.has]
        arrays = []
        for c in cols:
            if c in self._codes:
                codes = self._codes[c] if idx is None else self._codes[c][idx]
                arrays.append(self._words[c].take(pa.array(codes, mask=codes < 0)))
            else:
                arrays.append(self._plain[c] if idx is None
                              else self._plain[c].take(pa.array(idx)))
        return pa.table(arrays, names=cols)

    def offences(self, area=None, crime="everything", start=None, end=None,
                 columns: Sequence[str] | None = None, forces=None) -> pd.DataFrame:
        """The rows and columns :meth:`Store.offences` gives (columns held only)."""
        return rows_frame(self.arrow(area, crime, start, end, columns, forces))

    def counts(self, keys: Sequence[str], fill: dict | None = None,
               total: str | None = None) -> pd.DataFrame:
        """Rows per distinct ``keys`` (as ``groupby(keys).size()``, null keys
        dropped, sorted by key), with the sum of the boolean ``total`` column.

        ``fill`` maps a key column to the value its nulls count as (as
        ``fillna`` before grouping).
        """
        fill = fill or {}
        ranks, words, sizes = [], [], []
        valid = np.ones(self.n, dtype=bool)
        for k in keys:
            w = np.asarray(self._words[k].to_pylist(), dtype=object)
            codes = self._codes[k]
            if k in fill:
                hit = np.flatnonzero(w == fill[k])
                if not len(hit):
                    w = np.append(w, fill[k])
                    hit = [len(w) - 1]
                codes = np.where(codes < 0, hit[0], codes)
            order = np.argsort(w, kind="stable")  # rank = sorted position
            rank = np.empty(len(w), dtype=np.int64)
            rank[order] = np.arange(len(w))
            valid &= codes >= 0
            ranks.append(np.where(codes >= 0, rank[np.maximum(codes, 0)], 0))
            words.append(w[order])
            sizes.append(max(len(w), 1))
        key = np.zeros(self.n, dtype=np.int64)
        for r, size in zip(ranks, sizes, strict=True):
            key = key * size + r
        key = key[valid]
        uniq, inv = np.unique(key, return_inverse=True)
        out = {}
        rest = uniq.copy()
        for k, w, size in reversed(list(zip(keys, words, sizes, strict=True))):
            out[k] = w[rest % size]
            rest //= size
        frame = pd.DataFrame({k: pd.array(out[k].tolist(), dtype="str")
                              for k in keys})
        frame["count"] = np.bincount(inv, minlength=len(uniq)).astype("int64")
        if total is not None:
            t = self._plain[total].fill_null(False).cast(pa.float64()).to_numpy()[valid]
            frame[total] = np.bincount(inv, weights=t,
                                       minlength=len(uniq)).astype("int64")
        return frame


@dataclasses.dataclass(frozen=True)
class _HeldStore(Store):
    """A store handle whose offence reads come from an :class:`OffenceTable`
    (pinned to its generation); reads of other columns go to the files."""

    table: OffenceTable | None = dataclasses.field(default=None, compare=False,
                                                   repr=False)

    def pinned(self) -> Store:
        return self

    def scan(self, kind, columns=None, *, start=None, end=None, crime=None,
             forces=None, area=None, joined=False) -> pa.Table:
        if (kind != "offences" or joined or self.table is None
                or not self.table.holds(columns)
                or (forces is not None and "force" not in self.table.columns)):
            return super().scan(kind, columns, start=start, end=end, crime=crime,
                                forces=forces, area=area, joined=joined)
        return self.table.arrow(area, crime or "everything", start, end, columns,
                                forces)


class ViewCache:
    """Cached analyses and count tables of one store.

    Parameters
    ----------
    store : Store
        The store to read offences from and to keep the cache in.
    memory_items : int
        How many results to keep in memory (least recently used dropped first).
    disk : bool
        Also keep frames on disk under ``<store>/cache``.

    Notes
    -----
    Cached objects are shared between callers: treat what you get as read-only
    (take a ``.copy()`` before changing it).
    """

    def __init__(self, store: Store, memory_items: int = 256, disk: bool = True):
        self.store = store
        self.memory_items = int(memory_items)
        self.disk = bool(disk)
        self._mem: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._fp: tuple[Path, float, str] | None = None
        self._held: OffenceTable | None = None
        self._hold = False
        self._held_lock = threading.Lock()

    # -- keys ------------------------------------------------------------------
    def fingerprint(self) -> str:
        """The store's ledger fingerprint (re-read when the ledger changes)."""
        path = self.store.ledger_path
        mtime = path.stat().st_mtime
        if self._fp is None or self._fp[:2] != (path, mtime):
            ledger = self.store.ledger()
            fp = ledger.get("fingerprint") or hashlib.sha256(
                json.dumps(ledger, sort_keys=True, default=str).encode()).hexdigest()
            self._fp = (path, mtime, str(fp))
        return self._fp[2]

    # -- offences in memory ------------------------------------------------------
    def hold_offences(self) -> OffenceTable:
        """Keep the store's offences in memory from now on (reloaded when an
        ingest publishes a new generation); returns the table."""
        self._hold = True
        return self._table()

    def _table(self) -> OffenceTable:
        gen = self.store.current_generation()
        with self._held_lock:
            if self._held is None or self._held.store.generation != gen:
                self._held = None  # let the old generation go before reading
                self._held = OffenceTable(self.store)
            return self._held

    def reader(self) -> Store:
        """The store to read offences from: the in-memory table when held
        (:meth:`hold_offences`), else the store itself."""
        if not self._hold:
            return self.store
        t = self._table()
        return _HeldStore(t.store.path, t.store.generation, t)

    def prepare(self) -> dict:
        """What a server builds once at start: the offences in memory, the map
        points every grid comes from, the ward and street count tables.

        Returns seconds per step and the bytes the offences take in memory.
        """
        from .study import map_points

        out: dict = {}
        t = time.perf_counter()
        table = self.hold_offences()
        out["offences_s"] = round(time.perf_counter() - t, 2)
        out["offences_rows"] = table.n
        out["offences_mb"] = round(table.nbytes / 1e6, 1)
        for name, step in (("map_points_s", lambda: map_points(self.reader())),
                           ("ward_month_s", self.ward_month_counts),
                           ("street_month_s", self.street_month_counts)):
            t = time.perf_counter()
            step()
            out[name] = round(time.perf_counter() - t, 2)
        return out

    def key(self, kind: str, params: dict) -> str:
        """The cache key of ``kind`` with ``params`` on the current store."""
        blob = json.dumps(
            {"kind": kind, "params": params, "store": self.fingerprint(),
             "version": __version__},
            sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def path(self, kind: str, key: str) -> Path:
        return self.store.path / CACHE_DIR / kind / f"{key}.parquet"

    # -- generic ---------------------------------------------------------------
    def value(self, kind: str, params: dict, compute: Callable[[], T]) -> T:
        """A memory-cached value (anything; not written to disk)."""
        key = self.key(kind, params)
        return self._get(key, compute)

    def frame(self, kind: str, params: dict,
              compute: Callable[[], tuple[pd.DataFrame, dict]]
              ) -> tuple[pd.DataFrame, dict]:
        """A ``(frame, metadata)`` cached in memory and on disk."""
        key = self.key(kind, params)

        def load_or_compute():
            path = self.path(kind, key)
            if self.disk and path.is_file():
                try:
                    return _read(path)
                except (OSError, pa.ArrowException, ValueError):
                    path.unlink(missing_ok=True)  # a damaged file: recompute
            frame, meta = compute()
            if self.disk:
                _write(path, frame, meta)
            return frame, meta

        return self._get(key, load_or_compute)

    def _get(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                return self._mem[key]
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            with self._lock:
                if key in self._mem:
                    return self._mem[key]
            val = make()
            with self._lock:
                self._mem[key] = val
                self._mem.move_to_end(key)
                while len(self._mem) > self.memory_items:
                    self._mem.popitem(last=False)
                self._key_locks.pop(key, None)
            return val

    def clear(self, disk: bool = False) -> None:
        """Forget the memory cache (and the disk cache with ``disk=True``)."""
        with self._lock:
            self._mem.clear()
        if disk:
            import shutil

            shutil.rmtree(self.store.path / CACHE_DIR, ignore_errors=True)

    # -- the views the app needs ---------------------------------------------
    def study(self, area: Area | str, crime: str, start: str | None = None,
              end: str | None = None, *, res: int = 9, weight: str = "count"):
        """The :class:`~hotspots.study.Study` of a view, kept in memory."""
        from .study import Study

        area = area if isinstance(area, Area) else resolve_area(area)
        params = {"area": [area.kind, area.code], "crime": crime, "start": start,
                  "end": end, "res": res, "weight": weight}
        return self.value("study", params, lambda: Study.load(
            area, crime, start, end, res=res, weight=weight, store=self.reader()))

    def result(self, area: Area | str, crime: str, start: str, end: str, *,
               res: int = 9, correction: str = "fdr", weight: str = "count",
               permutations: int | None = None, seed: int | None = None):
        """The :class:`~hotspots.analysis.Analysis` of a view, cached.

        The per-cell statistics are kept on disk (the costly part: Gi* with as
        many permutations as the correction needs); a hit rebuilds the analysis
        around the view's study (one store read, kept in memory).
        """
        from .analysis import Analysis, analyse_study
        from .config import DEFAULT_SEED

        area = area if isinstance(area, Area) else resolve_area(area)
        seed = DEFAULT_SEED if seed is None else seed
        params = {"area": [area.kind, area.code], "crime": crime, "start": start,
                  "end": end, "res": res, "correction": correction,
                  "weight": weight, "permutations": permutations, "seed": seed}

        def make():
            study = self.study(area, crime, start, end, res=res, weight=weight)

            def compute():
                a = analyse_study(study, permutations=permutations, seed=seed,
                                  correction=correction)
                return a.table, a.metadata

            table, meta = self.frame("gistar", params, compute)
            return Analysis.from_table(study, table, meta)

        return self.value("analysis", params, make)

    def analysis(self, area: Area | str, crime: str, start: str, end: str, *,
                 res: int = 9, correction: str = "fdr", weight: str = "count",
                 permutations: int | None = None, seed: int | None = None
                 ) -> tuple[gpd.GeoDataFrame, dict]:
        """``(cells, metadata)`` of :meth:`result` (the cells with polygons)."""
        a = self.result(area, crime, start, end, res=res, correction=correction,
                        weight=weight, permutations=permutations, seed=seed)
        return a.cells, a.metadata

    def emerging(self, area: Area | str, crime: str, start: str, end: str, *,
                 res: int = 9) -> tuple[gpd.GeoDataFrame, dict]:
        """Cells and metadata of :func:`hotspots.spacetime.emerging_hotspots`."""
        from .spacetime import emerging_hotspots

        area = area if isinstance(area, Area) else resolve_area(area)
        params = {"area": [area.kind, area.code], "crime": crime, "start": start,
                  "end": end, "res": res}

        def compute():
            e = emerging_hotspots(area, crime, start, end, res=res,
                                  store=self.reader())
            return e.cells, e.metadata

        return self.frame("emerging", params, compute)

    def ward_month_counts(self) -> pd.DataFrame:
        """Offences by ``ward_code, month, crime_type`` with ``count, synthetic``.

        ``synthetic`` is the number of those offences whose row is synthetic.
        """
        def compute():
            if self._hold:
                out = self._table().counts(["ward_code", "month", "crime_type"],
                                           total="synthetic")
                return out, {"kind": "ward_month_counts"}
            df = self.store.offences(columns=["ward_code", "month", "crime_type",
                                              "synthetic"])
            df = df[df["ward_code"].notna()]
            out = (df.groupby(["ward_code", "month", "crime_type"], observed=True)
                   ["synthetic"].agg(["size", "sum"]).reset_index()
                   .rename(columns={"size": "count", "sum": "synthetic"}))
            out["synthetic"] = out["synthetic"].astype("int64")
            return out, {"kind": "ward_month_counts"}

        return self.frame("ward_month", {}, compute)[0]

    def street_month_counts(self) -> pd.DataFrame:
        """Offences by ``ward_code, location, month, crime_type`` with ``count``."""
        def compute():
            if self._hold:
                out = self._table().counts(
                    ["ward_code", "location", "month", "crime_type"],
                    fill={"location": ""})
                return out, {"kind": "street_month_counts"}
            df = self.store.offences(columns=["ward_code", "location", "month",
                                              "crime_type"])
            df = df[df["ward_code"].notna()]
            df["location"] = df["location"].fillna("")
            out = (df.groupby(["ward_code", "location", "month", "crime_type"],
                              observed=True).size().rename("count").reset_index())
            return out, {"kind": "street_month_counts"}

        return self.frame("street_month", {}, compute)[0]


def warm(cache: ViewCache, areas: Iterable[Area | str], crimes: Sequence[str],
         periods: Sequence[tuple[str, str]], resolutions: Sequence[int] = (9,),
         corrections: Sequence[str] = ("fdr",), permutations: int | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> int:
    """Precompute analyses for every combination given; returns how many ran.

    Combinations with no offences are skipped (they raise in the analysis).
    """
    from .errors import ParameterError
    from .study import map_points

    areas = [a if isinstance(a, Area) else resolve_area(a) for a in areas]
    map_points(cache.store)  # every area's grid comes from the store's map points
    jobs = [(a, c, p, r, k) for a in areas for c in crimes for p in periods
            for r in resolutions for k in corrections]
    cache.ward_month_counts()
    cache.street_month_counts()
    done = 0
    for i, (a, c, (s, e), r, k) in enumerate(jobs, 1):
        weight = "harm" if c == "harm" else "count"
        crime = "all" if c == "harm" else c
        try:
            cache.analysis(a, crime, s, e, res=r, correction=k, weight=weight,
                           permutations=permutations)
            done += 1
        except ParameterError:
            pass
        if progress:
            progress("precompute", i, len(jobs))
    return done


def _write(path: Path, frame: pd.DataFrame, meta: dict) -> None:
    geo = None
    if isinstance(frame, gpd.GeoDataFrame):
        geo = {"column": frame.geometry.name,
               "crs": frame.crs.to_string() if frame.crs else None}
        table = pa.table(frame.to_arrow(index=False, geometry_encoding="WKB"))
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[_META_KEY] = json.dumps({"meta": meta, "geo": geo}, default=str).encode()
    table = table.replace_schema_metadata(md)
    with atomic_file(path, ".parquet") as tmp:
        pq.write_table(table, tmp)


def _read(path: Path) -> tuple[pd.DataFrame, dict]:
    table = pq.read_table(path)
    info = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    df = table.to_pandas()
    geo = info.get("geo")
    if geo:
        col = geo["column"]
        df[col] = gpd.GeoSeries.from_wkb(df[col], crs=geo["crs"])
        df = gpd.GeoDataFrame(df, geometry=col, crs=geo["crs"])
    return df, info.get("meta", {})
