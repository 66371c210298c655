"""A precompute cache in the store for interactive views (the Dash app).

A filter change in the app must re-render in well under a second, so the heavy
work — a Gi* analysis, the ward-by-month and street-by-month counts — is computed
once and kept:

* on disk under ``<store>/cache/<kind>/<key>.parquet`` (GeoParquet for frames
  with geometry; the metadata dict in the Parquet schema metadata), written
  atomically, so every server process and restart reuses it;
* in memory, a bounded least-recently-used map, so a repeated view costs a
  dictionary look-up.

The key is a SHA-256 of the kind, the parameters, the package version and the
store's ledger fingerprint: a new ingest (different inputs) gives new keys, so a
stale result is never served. Concurrent requests for the same key wait for one
computation instead of repeating it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .areas import Area, resolve_area
from .store import Store, atomic_file

__all__ = ["CACHE_DIR", "ViewCache", "warm"]

#: Folder of the on-disk cache inside the store.
CACHE_DIR = "cache"
_META_KEY = b"hotspots"
T = TypeVar("T")


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
        self._fp: tuple[float, str] | None = None

    # -- keys ------------------------------------------------------------------
    def fingerprint(self) -> str:
        """The store's ledger fingerprint (re-read when the ledger changes)."""
        mtime = self.store.ledger_path.stat().st_mtime
        if self._fp is None or self._fp[0] != mtime:
            ledger = self.store.ledger()
            fp = ledger.get("fingerprint") or hashlib.sha256(
                json.dumps(ledger, sort_keys=True, default=str).encode()).hexdigest()
            self._fp = (mtime, str(fp))
        return self._fp[1]

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
            area, crime, start, end, res=res, weight=weight, store=self.store))

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
            return Analysis(study, table, meta)

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
            e = emerging_hotspots(area, crime, start, end, res=res, store=self.store)
            return e.cells, e.metadata

        return self.frame("emerging", params, compute)

    def ward_month_counts(self) -> pd.DataFrame:
        """Offences by ``ward_code, month, crime_type`` with ``count, synthetic``.

        ``synthetic`` is the number of those offences whose row is synthetic.
        """
        def compute():
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
