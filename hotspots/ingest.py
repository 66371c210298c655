"""Ingest: police.uk street-level and stop-and-search files into the store.

Reads every file form a user gets from data.police.uk — plain ``.csv``, ``.csv.gz``,
the monthly ``.zip`` archive and zips inside zips, whatever the case of the name —
for every force, validates each row, joins unique map points to the wards,
boroughs, BCUs and H3 cells, and writes a new store generation that is published
as a whole (:mod:`hotspots.store`).

**Streaming, bounded memory.** Each file is read in chunks of a few MiB
(:mod:`hotspots._csv`), parsed with pyarrow (numbers as numbers, repeated text as
dictionaries), validated and joined chunk by chunk, and written to its month's
Parquet partition once the file has been read whole (up to 64 MiB held; a bigger
file writes a part of its own), so a file dropped half-way leaves nothing. Map
points are joined once: a cache of the points seen (about 100 bytes a point,
emptied past 4 million points), not of the rows. Memory is a fixed working set
per worker plus 8 bytes per Crime ID of the month being read and the point cache,
whatever the number of rows. Work is split by (kind, month) — the unit the Dask
path (:func:`hotspots.distributed.ingest_dask`) distributes too, running the same
:func:`ingest_group` — so both paths give the same store and ledger.

**Every row accounted for.** Every row read is accepted or quarantined with a
reason, so for every file ``rows_in == accepted + quarantined`` (the ledger proves
it). Row reasons:

=========================== ====================================================
``bad_header``              first line is not the police.uk header (whole file)
``missing_header``          the file starts with data, not the header (whole file)
``wrong_column_count``      a row with more or fewer fields than the header
``unclosed_quote``          a quote opened on a line and never closed (that line;
                            reading resumes on the next)
``oversized_row``           a row longer than ``max_row_bytes`` (an excerpt kept)
``bad_month``               Month missing or not ``YYYY-MM``
``month_mismatch``          Month is not the month in the file's name (stop and
                            search: the Date, on London's clock)
``missing_coordinates``     Longitude or Latitude empty
``non_numeric_coordinates`` Longitude or Latitude not a number
``swapped_coordinates``     latitude in the Longitude column and vice versa
``outside_force_area``      outside the force area (more than 250 m from any ward)
``unknown_crime_type``      Crime type not one of the police.uk categories
``duplicate_crime_id``      a Crime ID seen already in the same month (first kept)
``bad_datetime``            stop and search: Date missing or not ISO 8601
=========================== ====================================================

**Every file accounted for.** A file that cannot be read at all is quarantined as
one unit with a reason (``binary_file``, ``unreadable_file`` — a corrupt gzip or
zip —, ``too_large`` — past the decompressed-size cap); an empty file is listed
with ``file_error: empty_file``; the same content arriving twice (a csv and the
same file in a zip, a ``(1)`` copy, the same text saved again with a byte-order
mark, other line breaks, another encoding or a spreadsheet's quotes around every
field) is read once and the other listed as ``duplicate_file``; files not read
(other forces, outcomes files, names that are not police.uk's, symlink loops) are
listed under ``skipped`` with the reason. One
bad file never stops the others. Each file's encoding (UTF-8, UTF-8 with BOM,
cp1252, Latin-1), line endings, size and SHA-256 are in the ledger.

The store depends on the inputs' *content* (SHA-256 of every file's bytes), the
boundaries, the forces selected, the limits and the code: :meth:`Store.fingerprint`.
Re-ingesting unchanged inputs does nothing (``up_to_date``). When some inputs
changed, only the (kind, month) groups whose files changed are read again: a
group whose files (names and content hashes) and context (code, boundaries,
forces, limits: :func:`context_digest`) are those the current generation was
written from is carried over into the new generation — its Parquet parts
hard-linked, its quarantined rows and ledger entries copied — so a new police.uk
month reads one month, and the store is the one a full rebuild (``force``)
writes. The ledger lists each group's key and parts (``groups``) and what was
carried over (``reused``).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas._libs.hashtable import Int64HashTable

from . import __version__
from . import limits as _caps
from . import store as _store
from ._arrow import fixed_strings, string_hashes
from ._csv import (
    ENCODINGS,
    MAX_LINES_PER_ROW,
    MAX_ROW_BYTES,
    BadRecord,
    Block,
    FileProblem,
    RecordScanner,
    Restart,
    TextNormaliser,
    excerpt,
    looks_binary,
    parse_record,
)
from ._sources import (
    MAX_FILE_BYTES,
    Discovery,
    SourceFile,
    discover_files,
    hash_file,
    read_chunks,
    signature,
)
from .areas import load_wards, wards_path
from .config import CRIME_TYPES, LONDON_FORCES, SYNTHETIC_MARK, data_root
from .errors import DataError, DataNotFound, StoreError
from .grid import cell_bytes
from .provenance import FORMULA_STARTS
from .store import (
    OFFENCE_COLUMNS,
    STOP_SEARCH_COLUMNS,
    Generation,
    Store,
    store_error,
)

__all__ = [
    "FILE_REASONS",
    "H3_RESOLUTIONS",
    "LONDON_BBOX",
    "REASONS",
    "STOP_SEARCH_HEADER",
    "STREET_HEADER",
    "IngestPlan",
    "IngestResult",
    "Joiner",
    "Limits",
    "SourceFile",
    "boundaries_digest",
    "discover",
    "file_coverage",
    "context_digest",
    "fingerprint",
    "ingest",
    "ingest_group",
    "plan_ingest",
    "run_ingest",
    "wkb_points",
]

STREET_HEADER: tuple[str, ...] = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
STOP_SEARCH_HEADER: tuple[str, ...] = (
    "Type",
    "Date",
    "Part of a policing operation",
    "Policing operation",
    "Latitude",
    "Longitude",
    "Gender",
    "Age range",
    "Self-defined ethnicity",
    "Officer-defined ethnicity",
    "Legislation",
    "Object of search",
    "Outcome",
    "Outcome linked to object of search",
    "Removal of more than just outer clothing",
)
#: Reasons a row is quarantined.
REASONS: tuple[str, ...] = (
    "bad_header",
    "missing_header",
    "wrong_column_count",
    "unclosed_quote",
    "oversized_row",
    "nul_byte",
    "bad_month",
    "month_mismatch",
    "missing_coordinates",
    "non_numeric_coordinates",
    "swapped_coordinates",
    "outside_force_area",
    "unknown_crime_type",
    "duplicate_crime_id",
    "bad_datetime",
)
#: Reasons a whole file is not ingested (quarantined as one unit, or listed).
FILE_REASONS: tuple[str, ...] = (
    "binary_file",
    "unreadable_file",
    "too_large",
    "empty_file",
    "duplicate_file",
)
H3_RESOLUTIONS: tuple[int, ...] = (8, 9, 10)
#: Generous London bounding box (lon_min, lat_min, lon_max, lat_max); the exact test
#: is the ward join.
LONDON_BBOX = (-0.56, 51.27, 0.34, 51.70)
SCHEMA_VERSION = 3
_MONTH_RE = r"^\d{4}-(0[1-9]|1[0-2])$"
_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_CODE_FILES = ("ingest.py", "_csv.py", "_sources.py", "store.py", "areas.py")


@dataclass(frozen=True)
class Limits:
    """What one file or row may hold before it is refused.

    ``max_file_bytes``: decompressed bytes of one file or zip member;
    ``max_row_bytes``: bytes of one row; ``max_lines_per_row``: lines a quoted
    value may span; ``max_unzip_mb`` and ``max_unzip_ratio``: what one
    compressed file (a zip member or a ``.gz``) may expand to, in MiB and in
    times its compressed size (:func:`hotspots.limits.check_archive_member`;
    :meth:`from_env` takes them from ``HOTSPOTS_MAX_UNZIP_MB`` and
    ``HOTSPOTS_MAX_UNZIP_RATIO``).
    """

    max_file_bytes: int = MAX_FILE_BYTES
    max_row_bytes: int = MAX_ROW_BYTES
    max_lines_per_row: int = MAX_LINES_PER_ROW
    max_unzip_mb: int = 2_048
    max_unzip_ratio: float = 100.0

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, with the unzip caps the environment sets."""
        caps = _caps.Limits.from_env()
        return cls(max_unzip_mb=caps.max_unzip_mb,
                   max_unzip_ratio=caps.max_unzip_ratio)

    def unzip_caps(self) -> _caps.Limits:
        """The caps :func:`hotspots.limits.check_archive_member` compares with."""
        return _caps.Limits(max_unzip_mb=self.max_unzip_mb,
                            max_unzip_ratio=self.max_unzip_ratio)


# ---------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did: totals, per-file ledger and where the store is."""

    store: Path
    rows_in: int
    accepted: int
    quarantined: int
    by_reason: dict
    months: list
    files: list
    stop_search: dict
    outside_wards: dict
    synthetic_rows: int
    up_to_date: bool = False
    seconds: float = 0.0
    warnings: list = field(default_factory=list)
    generation: str | None = None
    fingerprint: str | None = None
    skipped: dict = field(default_factory=dict)
    duplicates: dict = field(default_factory=dict)
    encodings: dict = field(default_factory=dict)
    forces: list = field(default_factory=list)
    repaired: list = field(default_factory=list)
    #: ``kind|month`` groups carried over unchanged from the previous generation
    reused: list = field(default_factory=list)
    #: ``kind|month`` groups of the store
    groups: int = 0

    def to_json(self) -> dict:
        return {
            "store": str(self.store),
            "generation": self.generation,
            "fingerprint": self.fingerprint,
            "rows_in": self.rows_in,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "by_reason": self.by_reason,
            "months": self.months,
            "synthetic_rows": self.synthetic_rows,
            "outside_wards": self.outside_wards,
            "stop_search": self.stop_search,
            "files": len(self.files),
            "forces": self.forces,
            "encodings": self.encodings,
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(Counter(v["reason"] for v in
                                              self.skipped.values())),
            "duplicate_files": self.duplicates,
            "repaired": self.repaired,
            "groups": self.groups,
            "reused": self.reused,
            "up_to_date": self.up_to_date,
            "seconds": round(self.seconds, 2),
            "warnings": self.warnings,
        }

    def summary(self) -> list[str]:
        """Human lines for the CLI."""
        ss = self.stop_search
        lines = [
            f"street rows: {self.rows_in:,} read, {self.accepted:,} accepted, "
            f"{self.quarantined:,} quarantined",
            f"stop and search: {ss.get('rows_in') or 0:,} read, "
            f"{ss.get('accepted') or 0:,} accepted, {ss.get('quarantined') or 0:,} "
            "quarantined",
        ]
        lines += [f"  quarantined street rows, {r}: {n:,}"
                  for r, n in self.by_reason.items()]
        lines.append(f"months: {self.months[0]}…{self.months[-1]} ({len(self.months)})"
                     if self.months else "months: none")
        lines.append(f"files: {len(self.files):,} read ("
                     + ", ".join(f"{n} {e}" for e, n in sorted(self.encodings.items()))
                     + f"), {len(self.skipped):,} skipped, "
                     f"{len(self.duplicates):,} duplicates")
        if self.reused and not self.up_to_date:
            lines.append(f"re-read {self.groups - len(self.reused):,} of "
                         f"{self.groups:,} (kind, month) groups; the other "
                         f"{len(self.reused):,} had the same files and were "
                         "carried over unchanged ('--rebuild' reads everything)")
        return lines


# ---------------------------------------------------------------------------
# discovery and fingerprint


def discover(root: Path | str, forces: Iterable[str] | None = LONDON_FORCES
             ) -> list[SourceFile]:
    """Every police.uk street and stop-and-search file under ``root``, sorted.

    ``forces``: police.uk slugs to keep (default the forces that police London;
    None keeps every force's). See :func:`plan_ingest` for what is skipped.
    """
    found = discover_files(Path(root), forces)
    try:
        return found.files
    finally:
        found.cleanup()


def boundaries_digest(wards) -> str:
    """A digest of boundaries given in memory (codes and geometry)."""
    h = hashlib.sha256()
    h.update("|".join(map(str, wards["ward_code"])).encode())
    for wkb in wards.geometry.to_wkb():
        h.update(wkb)
    return h.hexdigest()


def boundaries_for(root: Path, wards=None) -> tuple[Path | str, object]:
    """``(the boundary file, or the digest of boundaries given, wards or None)``."""
    if wards is None:
        return wards_path(root), None
    return boundaries_digest(wards), wards


def context_digest(wards: Path | str, forces, bbox, limits: Limits) -> str:
    """What every part of the store depends on besides its own input files: the
    code that shapes the store, the boundaries, the forces and the limits. A
    (kind, month) written under the same context from the same files is the same
    (what lets a re-ingest carry unchanged months over)."""
    h = hashlib.sha256()
    h.update(f"v{SCHEMA_VERSION}|{__version__}".encode())
    here = Path(__file__).parent
    for name in _CODE_FILES:
        h.update((here / name).read_bytes())
    if isinstance(wards, Path):
        h.update(f"boundaries|{hash_file(wards)}".encode())
    else:
        h.update(f"boundaries|{wards}".encode())
    h.update(json.dumps({"forces": sorted(forces) if forces else "all",
                         "bbox": list(bbox), "limits": limits.__dict__}).encode())
    return h.hexdigest()


def fingerprint(found: Discovery, wards: Path | str, forces, bbox,
                limits: Limits, context: str | None = None) -> str:
    """What the store depends on: the content of every input file (SHA-256 of its
    bytes, never its size or time), the boundaries, the forces, the limits and
    the code that shapes the store."""
    h = hashlib.sha256((context or context_digest(wards, forces, bbox, limits)
                        ).encode())
    for label, path in found.physical:
        if label not in found.hashes:
            found.signatures[label] = signature(path)  # before: a change while
            found.hashes[label] = hash_file(path)  # hashing shows after reading
        digest = found.hashes[label]
        h.update(f"{label}|{digest}\n".encode())
    # which of them are read (a file named for next month is read once it comes)
    for sf in found.files:
        h.update(f"read|{sf.label}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------
# joins


#: Ward polygons with at least this many vertices on average are "detailed": a
#: block of points is then joined by querying a tree of the points with each
#: polygon, prepared once (London's 2022 wards average 35 vertices, and are
#: joined twice as fast so; a national grid of squares has five, and is joined
#: faster the other way round).
_DETAILED_COORDS = 16
_REVERSE_MIN_POINTS = 256


class Joiner:
    """Ward, borough, BCU and H3 cells of map points, each point joined once.

    police.uk rows share anonymous map points, so the join is per point, and a
    cache of the points seen (not of the rows) keeps each point's ward and cells
    for the rest of the ingest. The ward rule is
    :func:`hotspots.areas.locate_points`' (on a shared boundary the lowest ward
    code; outside every ward, the nearest within 250 m, else none), with the
    boundary trees built once. Thread-safe.

    Parameters
    ----------
    wards : GeoDataFrame
        ``ward_code, ward_name, borough_code, borough, bcu, geometry`` (EPSG:4326).
    max_points : int
        The cache is emptied when it would hold more points than this.
    snap_forces : tuple of str, optional
        The forces whose points outside every ward are snapped to the nearest
        (None: every force's). For London's wards, London's forces: another
        force's point just outside London is in that force's own area, not a
        London ward (:meth:`snaps`).
    """

    METHODS = ("within", "nearest", "outside")
    WARD_COLUMNS = ("ward_code", "ward_name", "borough_code", "borough", "bcu")

    def __init__(self, wards, max_points: int = 4_000_000,
                 snap_forces: tuple[str, ...] | None = None):
        import shapely
        from pyproj import Transformer

        from .areas import BNG, MAX_SNAP_M

        self.wards = wards.sort_values("ward_code", kind="stable").reset_index(
            drop=True)
        self.max_points = int(max_points)
        self.snap_m = MAX_SNAP_M
        self.snap_forces = None if snap_forces is None else frozenset(snap_forces)
        self._geoms = np.asarray(self.wards.geometry.values)
        self._tree = shapely.STRtree(self._geoms)
        self._detailed = bool(len(self._geoms)) and float(np.mean(
            shapely.get_num_coordinates(self._geoms))) >= _DETAILED_COORDS
        self._bng = Transformer.from_crs(4326, BNG, always_xy=True)
        self._tree_bng = shapely.STRtree(
            np.asarray(self.wards.to_crs(BNG).geometry.values))
        # per ward column: the distinct values, and each ward's code among them
        # (-1 where the ward has none, e.g. the City's BCU)
        self.dictionaries, self.codes = {}, {}
        for col in self.WARD_COLUMNS:
            values = [_str_or_none(v) for v in self.wards[col]]
            distinct = sorted({v for v in values if v is not None})
            pos = {v: i for i, v in enumerate(distinct)}
            self.dictionaries[col] = pa.array(distinct, pa.string())
            self.codes[col] = np.array([pos.get(v, -1) if v is not None else -1
                                        for v in values], np.int32)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._resets = getattr(self, "_resets", -1) + 1
        self._index = _KeyIndex()  # point key -> where the point is stored
        self._n = 0
        self._grow(1024)

    def _grow(self, capacity: int) -> None:
        def grown(arr, shape):
            out = np.empty(shape, arr.dtype) if arr is not None else None
            if arr is not None:
                out[:self._n] = arr[:self._n]
            return out

        k = len(H3_RESOLUTIONS)
        if self._n == 0:
            self._lon = np.empty(capacity, np.float64)
            self._lat = np.empty(capacity, np.float64)
            self._ward = np.empty(capacity, np.int32)
            self._method = np.empty(capacity, np.int8)
            self._h3 = np.empty((capacity, k), np.uint64)  # H3 cell ids
            self._h3s = np.empty((capacity, k), "S15")  # and as text
            return
        self._lon = grown(self._lon, capacity)
        self._lat = grown(self._lat, capacity)
        self._ward = grown(self._ward, capacity)
        self._method = grown(self._method, capacity)
        self._h3 = grown(self._h3, (capacity, k))
        self._h3s = grown(self._h3s, (capacity, k))

    def __len__(self) -> int:
        return self._n

    def snaps(self, force: str) -> bool:
        """Whether ``force``'s points outside every ward go to the nearest."""
        return self.snap_forces is None or force in self.snap_forces

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray,
                                                                np.ndarray]:
        """``(ward position or -1, method code)`` of each point (no cache)."""
        import shapely

        pts = shapely.points(lon, lat)
        best = np.full(len(lon), -1, np.int64)
        if self._detailed and len(pts) >= _REVERSE_MIN_POINTS:
            # detailed wards query a tree of the points: each polygon is prepared
            # once and tested against its candidate points (London's wards: twice
            # as fast as each point querying the tree of wards)
            wi, pi = shapely.STRtree(pts).query(self._geoms, predicate="intersects")
        else:  # simple polygons (a grid of squares) or few points
            pi, wi = self._tree.query(pts, predicate="intersects")
        if len(pi):
            order = np.lexsort((wi, pi))
            pi_s, wi_s = pi[order], wi[order]
            first = np.r_[True, pi_s[1:] != pi_s[:-1]]
            best[pi_s[first]] = wi_s[first]
        method = np.where(best >= 0, 0, 2).astype(np.int8)
        miss = np.flatnonzero(best < 0)
        if len(miss):
            x, y = self._bng.transform(lon[miss], lat[miss])
            idx, dist = self._tree_bng.query_nearest(
                shapely.points(x, y), max_distance=self.snap_m, return_distance=True,
                all_matches=True)
            if len(idx[0]):
                order = np.lexsort((idx[1], dist, idx[0]))
                a, b = idx[0][order], idx[1][order]
                first = np.r_[True, a[1:] != a[:-1]]
                best[miss[a[first]]] = b[first]
                method[miss[a[first]]] = 1
        return best.astype(np.int32), method

    def lookup(self, lon: np.ndarray, lat: np.ndarray):
        """Per point: ``(cache position, ward position or -1, method code)``
        — method 0 within, 1 nearest, 2 outside — and the cache's tables of H3
        cell ids (uint64 and text, one column per resolution) the positions
        index. Points not seen before are joined (outside the lock, so threads
        join in parallel) and cached."""
        inv, uniq = pd.factorize(lon + 1j * lat)  # each point of the block once
        ux, uy = np.ascontiguousarray(uniq.real), np.ascontiguousarray(uniq.imag)
        key = _point_keys(ux, uy)
        with self._lock:
            pos = self._find(key, ux, uy)
            miss = np.flatnonzero(pos < 0)
            if not len(miss):
                return self._rows(pos[inv])
            seen = self._n, self._resets
        new = self._join_new(ux[miss], uy[miss])
        with self._lock:
            if self._n + len(key) > self.max_points:
                self._reset()
            if (self._n, self._resets) == seen:  # nothing added meanwhile
                pos[miss] = self._store(key[miss], ux[miss], uy[miss], new)
                return self._rows(pos[inv])
            pos = self._find(key, ux, uy)  # again: another thread may have added
            todo = np.flatnonzero(pos < 0)  # some meanwhile, or emptied the cache
            at = np.searchsorted(miss, todo)
            if len(todo) and not np.array_equal(
                    miss[np.minimum(at, len(miss) - 1)], todo):
                at = None  # after a reset: join these here (rare)
            if len(todo):
                pos[todo] = self._store(key[todo], ux[todo], uy[todo],
                                        None if at is None else
                                        tuple(v[at] for v in new))
            return self._rows(pos[inv])

    def _rows(self, pos: np.ndarray) -> tuple:
        return pos, self._ward[pos], self._method[pos], self._h3, self._h3s

    def _find(self, key, ux, uy) -> np.ndarray:
        """Cache positions of distinct points (-1 where not cached)."""
        pos = self._index.find(key)
        found = np.flatnonzero(pos >= 0)
        at = pos[found]
        same = (self._lon[at] == ux[found]) & (self._lat[at] == uy[found])
        pos[found[~same]] = -1  # another point with the same key
        return pos

    def _join_new(self, ux, uy) -> tuple:
        """``(ward, method, H3 cell per resolution, the same as text)`` of
        distinct points."""
        ward, method = self.locate(ux, uy)
        cells = _cells(ux, uy)
        return ward, method, cells, cell_bytes(cells.ravel()).reshape(cells.shape)

    def _store(self, key, ux, uy, joined: tuple | None) -> np.ndarray:
        """Store distinct new points (joined now unless ``joined`` is given);
        their positions."""
        ward, method, h3, h3s = (joined if joined is not None
                                 else self._join_new(ux, uy))
        n0, n1 = self._n, self._n + len(ux)
        if n1 > len(self._lon):
            self._grow(max(n1, 2 * len(self._lon)))
        self._lon[n0:n1], self._lat[n0:n1] = ux, uy
        self._ward[n0:n1], self._method[n0:n1] = ward, method
        self._h3[n0:n1], self._h3s[n0:n1] = h3, h3s
        self._n = n1
        # index them by key (a key already indexed is a hash collision: the point
        # is stored but not indexed, and joined again when seen again)
        first = _first_seen(pd.factorize(key)[0])
        fresh = first[self._index.find(key[first]) < 0]
        self._index.add(key[fresh], n0 + fresh)
        return n0 + np.arange(len(ux))


class _KeyIndex:
    """uint64 key -> int64 value: pandas' compiled hash table (khash, the one
    behind ``pd.factorize`` and index look-ups), grown as keys are added; each
    call is vectorised over its keys. The Python dict is the reference in the
    tests."""

    def __init__(self, capacity: int = 1 << 12):
        self._table = Int64HashTable(capacity)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Values of ``keys`` (-1 where absent)."""
        keys = np.ascontiguousarray(keys, np.uint64)
        return np.asarray(self._table.lookup(keys.view(np.int64)), np.int64)

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Add distinct keys not present yet."""
        keys = np.ascontiguousarray(keys, np.uint64)
        if len(keys):
            self._table.map_keys_to_values(
                keys.view(np.int64), np.ascontiguousarray(values, np.int64))
            self._n += len(keys)


def _point_keys(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """A 64-bit key per point from the exact bits of its coordinates."""
    a = lon.astype(np.float64).view(np.uint64)
    b = lat.astype(np.float64).view(np.uint64)
    with np.errstate(over="ignore"):
        k = a * np.uint64(0x9E3779B97F4A7C15)
        k ^= (b + np.uint64(0x632BE59BD9B4E019)) * np.uint64(0xBF58476D1CE4E5B9)
        k ^= k >> np.uint64(31)
    return k


def _cells(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """H3 cells of points at each of :data:`H3_RESOLUTIONS` (one column each).

    Each resolution is computed from the coordinates: the cell holding a point
    at one resolution is not always the parent of the cell holding it at a finer
    one (H3 children do not tile their parent exactly).
    """
    from h3ronpy.vector import coordinates_to_cells

    return np.stack([pa.array(coordinates_to_cells(lat, lon, r)).to_numpy()
                     for r in H3_RESOLUTIONS], axis=1).astype(np.uint64)


def _str_or_none(v):
    return None if v is None or v != v else str(v)


_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def wkb_points(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """Little-endian WKB points (what shapely writes), built without shapely."""
    n = len(lon)
    rec = np.empty(n, _WKB)
    rec["order"], rec["type"], rec["x"], rec["y"] = 1, 1, lon, lat
    offsets = np.arange(n + 1, dtype=np.int32) * _WKB.itemsize
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(rec.tobytes())])


# ---------------------------------------------------------------------------
# validation of one block


_CODES = ("", "bad_month", "month_mismatch", "missing_coordinates",
          "non_numeric_coordinates", "swapped_coordinates", "outside_force_area",
          "unknown_crime_type", "duplicate_crime_id", "bad_datetime")
_C = {name: i for i, name in enumerate(_CODES)}
_REASON_TEXT = {
    "bad_month": "Month missing or not YYYY-MM",
    "month_mismatch": "Month is not the month the file is for",
    "missing_coordinates": "Longitude or Latitude is empty",
    "non_numeric_coordinates": "Longitude or Latitude is not a number",
    "swapped_coordinates": "latitude and longitude appear swapped",
    "outside_force_area": "point is outside the force area (no boundary within "
    "250 m)",
    "unknown_crime_type": "Crime type is not a police.uk category",
    "duplicate_crime_id": "Crime ID already seen in this month (first row kept)",
    "bad_datetime": "Date is missing or not ISO 8601",
    "nul_byte": "the row holds a NUL byte (binary data, not text)",
}
_STREET_NAMES = [
    "crime_id", "month", "reported_by", "falls_within", "lon_raw", "lat_raw",
    "location", "lsoa_code", "lsoa_name", "crime_type", "outcome", "context",
]
_SS_NAMES = [
    "type", "date", "part_of_operation", "operation", "lat_raw", "lon_raw", "gender",
    "age_range", "self_defined_ethnicity", "officer_defined_ethnicity",
    "legislation", "object_of_search", "outcome", "outcome_linked",
    "outer_clothing_removed",
]
_GEO = json.dumps({"version": "1.0.0", "primary_column": "geometry",
                   "columns": {"geometry": {"encoding": "WKB",
                                            "geometry_types": ["Point"]}}}).encode()
_S = pa.string()
_D = pa.dictionary(pa.int32(), pa.string())
_F = pa.float64()
#: Columns written dictionary-encoded (read back as plain strings): repeated values.
_DICT_COLUMNS = frozenset((
    "ward_code", "ward_name", "borough_code", "borough", "bcu", "ward_method", "h3_8",
    "h3_9", "h3_10", "force", "source", "reported_by", "falls_within", "location",
    "lsoa_code", "lsoa_name", "crime_type", "outcome", "context", "type", "weekday",
    "operation", "gender", "age_range", "self_defined_ethnicity",
    "officer_defined_ethnicity", "legislation", "object_of_search"))
#: How pyarrow parses each column: numbers as numbers, repeated text as
#: dictionaries (a block whose numbers do not parse is read again as text).
_PARSE_TYPES = {
    "street": {"crime_id": _S, "lon_raw": _F, "lat_raw": _F},
    "stop_search": {"date": _S, "lon_raw": _F, "lat_raw": _F},
}


def _schema(columns, types: dict) -> pa.Schema:
    return pa.schema(
        [(c, _D if c in _DICT_COLUMNS else types.get(c, _S))
         for c in columns if c != "month"] + [("geometry", pa.binary())])


OFFENCE_SCHEMA = _schema(OFFENCE_COLUMNS, {
    "lon": pa.float64(), "lat": pa.float64(), "synthetic": pa.bool_(),
    "line": pa.int64()})
STOP_SEARCH_SCHEMA = _schema(STOP_SEARCH_COLUMNS, {
    "lon": pa.float64(), "lat": pa.float64(), "line": pa.int64(),
    "datetime": pa.timestamp("us", tz="UTC"), "hour": pa.int8(),
    "part_of_operation": pa.bool_(), "outcome_linked": pa.bool_(),
    "outer_clothing_removed": pa.bool_()})
QUARANTINE_SCHEMA = pa.schema([("kind", _S), ("source", _S), ("line", pa.int64()),
                               ("reason", _S), ("detail", _S), ("raw", _S)])


def _np(arr) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _trim(col):
    return pc.utf8_trim_whitespace(col)


def _null_if_empty(col):
    a = _one(col)
    if pa.types.is_dictionary(a.type):
        empty = pc.equal(a.dictionary, "").take(a.indices)
        idx = pc.if_else(empty, pa.scalar(None, a.indices.type), a.indices)
        return pa.DictionaryArray.from_arrays(idx, a.dictionary)
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, _S), a)


def _set(reason: np.ndarray, mask, code: str) -> None:
    """Give rows their first failing reason only."""
    reason[np.asarray(mask, bool) & (reason == 0)] = _C[code]


def _all(mask) -> bool:
    return bool(pc.all(mask).as_py())


def _one(col) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _values(col, fn) -> pa.Array:
    """``fn`` of a text column; on a dictionary, of its distinct values only."""
    a = _one(col)
    if pa.types.is_dictionary(a.type):
        return fn(a.dictionary).take(a.indices)
    return fn(a)


def _text(col) -> pa.Array:
    a = _one(col)
    return a.dictionary_decode() if pa.types.is_dictionary(a.type) else a


def _as_dict(col) -> pa.Array:
    a = _one(col)
    return a if pa.types.is_dictionary(a.type) else pc.dictionary_encode(a)


def _tally(col) -> dict:
    """Occurrences of each value of a (dictionary) column."""
    a = _as_dict(col)
    n = np.bincount(_np(a.indices), minlength=len(a.dictionary))
    return {v: int(c) for v, c in zip(a.dictionary.to_pylist(), n, strict=True)
            if c}


def _coords(t: pa.Table, reason: np.ndarray, bbox) -> tuple[np.ndarray, np.ndarray]:
    if pa.types.is_floating(t["lon_raw"].type):  # parsed as numbers by pyarrow
        lon_a, lat_a = _one(t["lon_raw"]), _one(t["lat_raw"])
        lon = _np(lon_a).astype("float64")
        lat = _np(lat_a).astype("float64")
        empty = _np(pc.or_(pc.is_null(lon_a), pc.is_null(lat_a)))
        with np.errstate(invalid="ignore"):
            nonnum = ~empty & ~(np.isfinite(lon) & np.isfinite(lat))  # nan, inf
    else:  # some value is not a number: text rules
        lon_s, lat_s = _trim(_text(t["lon_raw"])), _trim(_text(t["lat_raw"]))
        empty = _np(pc.or_(pc.equal(lon_s, ""), pc.equal(lat_s, "")))
        isnum = pc.and_(pc.match_substring_regex(lon_s, _NUMBER_RE),
                        pc.match_substring_regex(lat_s, _NUMBER_RE))
        null = pa.scalar(None, _S)
        lon = _np(pc.cast(pc.if_else(isnum, lon_s, null), _F)).astype("float64")
        lat = _np(pc.cast(pc.if_else(isnum, lat_s, null), _F)).astype("float64")
        nonnum = ~empty & ~_np(isnum)
    x0, y0, x1, y1 = bbox
    with np.errstate(invalid="ignore"):
        in_box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
        swapped = ~in_box & (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
    outside = ~empty & ~nonnum & ~in_box & ~swapped
    _set(reason, empty, "missing_coordinates")
    _set(reason, nonnum, "non_numeric_coordinates")
    _set(reason, swapped, "swapped_coordinates")
    _set(reason, outside, "outside_force_area")
    return lon, lat


def _join(lon, lat, reason, joiner: Joiner, force: str):
    """Join the rows still accepted; rows outside every ward (snapped to the
    nearest only for a force the boundaries are the area of) are quarantined."""
    ok = np.flatnonzero(reason == 0)
    joined = joiner.lookup(lon[ok], lat[ok])
    out = joined[2] == 2 if joiner.snaps(force) else joined[2] != 0
    reason[ok[out]] = _C["outside_force_area"]
    return ok, joined


def _dict(indices: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    """A dictionary array; a negative index is a null."""
    indices = np.asarray(indices, np.int32)
    missing = indices < 0
    idx = pa.array(indices, pa.int32(), mask=missing if missing.any() else None)
    return pa.DictionaryArray.from_arrays(idx, dictionary)


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return _dict(np.zeros(n, np.int32), pa.array([value], _S))


_METHOD_DICT = pa.array(Joiner.METHODS, _S)


def _joined_columns(joiner: Joiner, keep_in_ok: np.ndarray, joined) -> dict:
    """Ward, borough, BCU, method and H3 columns of the accepted rows."""
    pos, ward, method = (a[keep_in_ok] for a in joined[:3])
    h3_table, h3_text = joined[3], joined[4]
    out = {c: _dict(joiner.codes[c][ward], joiner.dictionaries[c])
           for c in Joiner.WARD_COLUMNS}
    out["ward_method"] = _dict(method, _METHOD_DICT)
    local, used = pd.factorize(pos)
    for k, res in enumerate(H3_RESOLUTIONS):  # distinct values, so Parquet keeps
        codes, _cells = pd.factorize(h3_table[used, k])  # the dictionary
        out[f"h3_{res}"] = _dict(codes[local],
                                 fixed_strings(h3_text[used[_first_seen(codes)], k]))
    return out


def _first_seen(codes: np.ndarray) -> np.ndarray:
    """Where each code first occurs, for codes numbered in order of appearance
    (``pd.factorize``'s): a new code is always one more than every code before.

    >>> _first_seen(np.array([0, 1, 0, 2, 1, 3])).tolist()
    [0, 1, 3, 5]
    """
    return np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)


class _IdSet:
    """A set of 64-bit Crime ID hashes (a :class:`_KeyIndex` without values,
    and the keys in the order added)."""

    def __init__(self):
        self._index = _KeyIndex()
        self._keys: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._index)

    def add(self, keys: np.ndarray) -> None:
        """Add distinct keys not in the set yet."""
        self._index.add(keys, np.zeros(len(keys), np.int64))
        self._keys.append(keys)

    def absorb(self, other: _IdSet) -> None:
        if other._keys:  # distinct within ``other``
            keys = np.concatenate(other._keys)
            self.add(keys[self._index.find(keys) < 0])

    def contains(self, keys: np.ndarray) -> np.ndarray:
        return self._index.find(keys) >= 0


def _accepted(t: pa.Table, acc: np.ndarray, columns) -> pa.Table:
    sub = t.select(columns)
    if len(acc) == t.num_rows and (not len(acc) or (
            acc[0] == 0 and np.all(acc[1:] > acc[:-1]))):
        return sub
    return sub.take(pa.array(acc))


def _by_type(acc: np.ndarray, types: pa.DictionaryArray) -> np.ndarray:
    """The accepted rows ordered by crime type name (stable), so that each type
    is a run in its file and the store writes row groups readers can skip."""
    codes = _np(types.indices)[acc]
    if not len(codes) or np.all(codes == codes[0]):
        return acc
    rank = np.argsort(np.argsort(np.asarray(types.dictionary.to_pylist(), object),
                                 kind="stable"))
    return acc[np.argsort(rank[codes], kind="stable")]


def _street(t: pa.Table, sf: SourceFile, bbox, joiner: Joiner, ids: _IdSet,
            file_ids: _IdSet) -> tuple[np.ndarray, np.ndarray | None, dict | None]:
    """Validate, join and shape one block of street rows: each row's reason
    code (0 accepted), the accepted rows in the order of the columns (by crime
    type, :func:`_by_type`) and the columns."""
    n = t.num_rows
    reason = np.zeros(n, np.int8)
    same = _values(t["month"], lambda v: pc.equal(v, sf.month))
    if not _all(same):
        month = _trim(_text(t["month"]))
        _set(reason, ~_np(pc.match_substring_regex(month, _MONTH_RE)), "bad_month")
        _set(reason, _np(pc.not_equal(month, sf.month)), "month_mismatch")
    lon, lat = _coords(t, reason, bbox)
    types = t["crime_type"]
    known = _values(types, lambda v: pc.is_in(v, value_set=_TYPE_SET))
    if not _all(known):
        types = _trim(_text(types))
        known = pc.is_in(types, value_set=_TYPE_SET)
        _set(reason, ~_np(known), "unknown_crime_type")
    ok, joined = _join(lon, lat, reason, joiner, sf.force)
    cid = _text(t["crime_id"])
    cand = np.flatnonzero((reason == 0) & _np(pc.not_equal(cid, "")))
    if len(cand):
        keys = string_hashes(_trim(cid.take(pa.array(cand))))
        dup = np.ones(len(keys), bool)
        dup[_first_seen(pd.factorize(keys)[0])] = False  # repeats in the block
        dup |= ids.contains(keys) | file_ids.contains(keys)
        reason[cand[dup]] = _C["duplicate_crime_id"]
        file_ids.add(keys[~dup])  # the month's set takes them if the file is kept
    acc = np.flatnonzero(reason == 0)
    if not len(acc):
        return reason, None, None
    types = _as_dict(types)
    acc = _by_type(acc, types)
    t = t.set_column(t.schema.get_field_index("crime_type"), "crime_type", types)
    a = _accepted(t, acc, ["crime_id", "reported_by", "falls_within", "location",
                           "lsoa_code", "lsoa_name", "crime_type", "outcome",
                           "context"])
    keep_in_ok = np.searchsorted(ok, acc)
    cols = {
        "crime_id": _null_if_empty(_trim(_text(a["crime_id"]))),
        "reported_by": a["reported_by"],
        "falls_within": a["falls_within"],
        "lon": pa.array(lon[acc]),
        "lat": pa.array(lat[acc]),
        "location": a["location"],
        "lsoa_code": a["lsoa_code"],
        "lsoa_name": a["lsoa_name"],
        "crime_type": a["crime_type"],
        "outcome": _null_if_empty(a["outcome"]),
        "context": _null_if_empty(a["context"]),
        "synthetic": _values(a["context"],
                             lambda v: pc.match_substring(v, SYNTHETIC_MARK)),
        **_joined_columns(joiner, keep_in_ok, joined),
        "force": _constant(sf.force, len(acc)),
        "geometry": wkb_points(lon[acc], lat[acc]),
    }
    return reason, acc, cols


_TYPE_SET = pa.array(CRIME_TYPES)
#: Columns of (nearly) unique values: not worth a dictionary in Parquet.
_PLAIN_COLUMNS = frozenset(("crime_id", "geometry", "lon", "lat", "line", "datetime",
                            "raw"))


def _bool(col):
    def read(v):
        low = pc.utf8_lower(_trim(v))
        return pc.if_else(pc.equal(low, "true"), True,
                          pc.if_else(pc.equal(low, "false"), False,
                                     pa.scalar(None, pa.bool_())))

    return _values(col, read)


_UTC_US = pa.timestamp("us", tz="UTC")
_WEEKDAYS = pa.array(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                      "Saturday", "Sunday"])


def _when(text: pa.Array) -> pa.Array:
    """ISO 8601 date-times as UTC timestamps (null where not one).

    Arrow parses a column whose every value carries a zone offset (police.uk's
    form); any other column goes through pandas' ISO 8601 rules (a value without
    an offset is UTC).
    """
    try:
        return text.cast(_UTC_US)
    except pa.ArrowInvalid:
        when = pd.to_datetime(pd.Series(_np(text)), utc=True, errors="coerce",
                              format="ISO8601")
        return pa.array(when, _UTC_US)


def _london_clock(when: pa.Array) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """``(year * 100 + month, hour (int8), day name)`` of UTC timestamps on
    London's clock (a null: month 0). police.uk files a search made at 23:30 UTC
    on 31 May, in summer time, under June."""
    try:
        local = when.cast(pa.timestamp("us", tz="Europe/London"))
        ym = pc.add(pc.multiply(pc.year(local), 100), pc.month(local))
        return (_np(ym.fill_null(0)), pc.hour(local).cast(pa.int8()),
                _WEEKDAYS.take(pc.day_of_week(local)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # no time-zone database
        local = pd.Series(when.to_pandas()).dt.tz_convert("Europe/London")
        ym = (local.dt.year * 100 + local.dt.month).fillna(0).to_numpy(np.int64)
        return (ym, pa.array(local.dt.hour.fillna(0).astype("int8").to_numpy(),
                             pa.int8()),
                pa.array(local.dt.day_name().fillna("").astype(object), _S))


def _stop_search(t: pa.Table, sf: SourceFile, bbox, joiner: Joiner, ids, file_ids
                 ) -> tuple[np.ndarray, np.ndarray | None, dict | None]:
    """Validate, join and shape one block of stop-and-search rows (returns what
    :func:`_street` does; rows keep their file order)."""
    n = t.num_rows
    reason = np.zeros(n, np.int8)
    when = _when(_trim(_text(t["date"])))
    _set(reason, _np(when.is_null()), "bad_datetime")
    month, hour, weekday = _london_clock(when)
    _set(reason, month != int(sf.month[:4]) * 100 + int(sf.month[5:]),
         "month_mismatch")
    lon, lat = _coords(t, reason, bbox)
    ok, joined = _join(lon, lat, reason, joiner, sf.force)
    acc = np.flatnonzero(reason == 0)
    if not len(acc):
        return reason, None, None
    a = _accepted(t, acc, [c for c in _SS_NAMES if c not in ("lat_raw", "lon_raw",
                                                             "date")])
    keep_in_ok = np.searchsorted(ok, acc)
    keep = pa.array(acc)
    cols = {
        "type": a["type"],
        "datetime": when.take(keep),
        "hour": hour.take(keep),
        "weekday": weekday.take(keep),
        "part_of_operation": _bool(a["part_of_operation"]),
        "operation": _null_if_empty(a["operation"]),
        "lon": pa.array(lon[acc]),
        "lat": pa.array(lat[acc]),
        **{c: a[c] for c in (
            "gender", "age_range", "self_defined_ethnicity",
            "officer_defined_ethnicity", "legislation", "object_of_search",
            "outcome")},
        "outcome_linked": _bool(a["outcome_linked"]),
        "outer_clothing_removed": _bool(a["outer_clothing_removed"]),
        **_joined_columns(joiner, keep_in_ok, joined),
        "force": _constant(sf.force, len(acc)),
        "geometry": wkb_points(lon[acc], lat[acc]),
    }
    return reason, acc, cols


_KINDS = {
    "street": ("offences", STREET_HEADER, _STREET_NAMES, OFFENCE_SCHEMA, _street),
    "stop_search": ("stop_search", STOP_SEARCH_HEADER, _SS_NAMES, STOP_SEARCH_SCHEMA,
                    _stop_search),
}


# ---------------------------------------------------------------------------
# one file


@dataclass
class _Plan:
    """What every group of an ingest shares (picklable, for Dask)."""

    staging: str
    bbox: tuple
    limits: Limits
    seqs: dict  # label -> position in the sorted file list
    cancel: object = None  # threading.Event in one process

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


class _Cancelled(Exception):
    pass


def _writer(plan: _Plan, rel: str, schema: pa.Schema) -> pq.ParquetWriter:
    path = Path(plan.staging) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    _store._io_point("write", path)
    w = pq.ParquetWriter(path, schema, compression="snappy",
                         write_statistics=[n for n in ("crime_type",)
                                           if n in schema.names],
                         store_schema=False,
                         use_dictionary=[n for n in schema.names
                                         if n not in _PLAIN_COLUMNS])
    if "geometry" in schema.names:
        w.add_key_value_metadata({"geo": _GEO.decode()})
    return w


#: Rows of a file (its first) compared with the files read before for the same
#: force and month, to tell another version of one of them (see
#: :func:`_file_warnings`).
ROW_SAMPLE = 2000

#: A row group of offences holds at least this many rows unless its month has fewer;
#: past it, a new group starts where the crime type changes (see _write_rows).
TYPE_GROUP_ROWS = 16384


def _write_rows(writer: pq.ParquetWriter, tables: list[pa.Table]) -> None:
    """Write blocks of rows as one unit; offences in row groups by crime type.

    Each block comes sorted by crime type name (:func:`_by_type`). The rows of
    all blocks are written type by type, a new row group starting at a type
    boundary once the current one holds :data:`TYPE_GROUP_ROWS` rows; with the
    crime type's min/max statistics in the file, a reader of one family skips
    the other types' groups (a year of London robbery reads a fifth of the
    rows). Slices are zero-copy; nothing is sorted again here.
    """
    table = _one_dictionary(tables)
    if "crime_type" not in table.schema.names or not table.num_rows:
        writer.write_table(table)
        return
    runs = []  # (type name, global offset, length), block order kept within a type
    at = 0
    for chunk in table.column("crime_type").chunks:
        codes = _np(chunk.indices)
        names = chunk.dictionary.to_pylist()
        cut = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1, len(codes)]
        runs += [(names[codes[a]], at + a, b - a)
                 for a, b in zip(cut[:-1], cut[1:], strict=True)]
        at += len(codes)
    runs.sort(key=lambda r: r[0])
    group, held = [], 0
    for i, (name, off, n) in enumerate(runs):
        group.append(table.slice(off, n))
        held += n
        last = i + 1 == len(runs)
        if last or (held >= TYPE_GROUP_ROWS and runs[i + 1][0] != name):
            part = pa.concat_tables(group)
            if held < table.num_rows:  # a part: its own values only in each dictionary
                part = _compact(part)
            writer.write_table(part, row_group_size=1 << 30)
            group, held = [], 0


def _compact(table: pa.Table) -> pa.Table:
    """``table`` with each large dictionary cut to the values its rows use.

    Parquet writes a column's whole dictionary in every row group; a group of a
    few types would otherwise carry every location and cell of the month.
    """
    out = {}
    for name, col in zip(table.schema.names, table.columns, strict=True):
        if (not pa.types.is_dictionary(col.type) or not col.num_chunks
                or 8 * len(col.chunk(0).dictionary) < table.num_rows):
            out[name] = col
            continue
        values = col.chunk(0).dictionary  # one dictionary (_one_dictionary)
        ix = pa.chunked_array([c.indices for c in col.chunks]).combine_chunks()
        used = np.zeros(len(values), bool)
        used[_np(ix.fill_null(0))] = True
        remap = pa.array(np.cumsum(used, dtype=np.int32) - 1)
        out[name] = pa.DictionaryArray.from_arrays(remap.take(ix),
                                                   values.filter(pa.array(used)))
    return pa.table(out, schema=table.schema)


def _one_dictionary(tables: list[pa.Table]) -> pa.Table:
    """Blocks as one table whose dictionary columns share one dictionary each.

    Each parsed block has dictionaries of its own; Parquet keeps dictionary
    encoding only while a column chunk's dictionary stays the same, so writing
    the blocks as they are falls back to plain pages (about 1.7 times the bytes,
    2.5 times the time to write).
    """
    return pa.concat_tables(tables).unify_dictionaries()


_Q_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def _csv_twin(rel: str) -> str:
    return rel[: -len(".parquet")] + ".csv"


class _QuarantinePart:
    """A part of the quarantine: Parquet, and the same rows as spreadsheet-safe
    CSV without a header (written by the worker, so the ledger step only
    concatenates bytes)."""

    def __init__(self, plan: _Plan, rel: str):
        self._pq = _writer(plan, rel, QUARANTINE_SCHEMA)
        self._csv = open(Path(plan.staging) / _csv_twin(rel), "wb")  # noqa: SIM115

    def write_table(self, table: pa.Table) -> None:
        self._pq.write_table(table)
        pacsv.write_csv(_neutralised(table), self._csv, _Q_CSV)

    def close(self) -> None:
        try:
            self._pq.close()
        finally:
            self._csv.close()


class _GroupOut:
    """The Parquet parts of one (kind, month): accepted rows in the month's
    partition, quarantined rows for the quarantine. Files are added whole
    (:meth:`_FileOut.keep`), so a file dropped half-way leaves nothing."""

    #: rows a file keeps in memory before writing a part of its own
    SPILL_BYTES = 64 << 20

    def __init__(self, plan: _Plan, kind: str, month: str, seq: int):
        self.plan, self.kind = plan, kind
        folder, _h, _n, self.schema, _f = _KINDS[kind]
        self.rel_data = f"{folder}/month={month}/{seq:05d}.parquet"
        self.rel_q = f".quarantine/{kind}-{seq:05d}.parquet"
        self._data = self._q = None
        self.parts: list[str] = []

    def write_data(self, tables: list[pa.Table]) -> None:
        if not tables:
            return
        if self._data is None:
            self._data = _writer(self.plan, self.rel_data, self.schema)
            self.parts.append(self.rel_data)
        _store._io_point("write", self.rel_data)
        _write_rows(self._data, tables)

    def write_quarantine(self, table: pa.Table | None) -> None:
        if table is None or not table.num_rows:
            return
        if self._q is None:
            self._q = _QuarantinePart(self.plan, self.rel_q)
            self.parts.append(self.rel_q)
        _store._io_point("write", self.rel_q)
        self._q.write_table(table)

    def close(self) -> list[str]:
        """Close the parts (the data part fsynced); their paths in the staging."""
        if self._data is not None:
            self._data.close()
            _store.fsync_path(Path(self.plan.staging) / self.rel_data)
        if self._q is not None:
            self._q.close()
        self._data = self._q = None
        return self.parts

    def discard(self) -> None:
        for w in (self._data, self._q):
            if w is not None:
                with contextlib.suppress(OSError):
                    w.close()
        self._data = self._q = None
        for rel in self.parts:
            (Path(self.plan.staging) / rel).unlink(missing_ok=True)
            (Path(self.plan.staging) / _csv_twin(rel)).unlink(missing_ok=True)


class _FileOut:
    """What one file adds to its group, held back until the file is read whole;
    past :attr:`_GroupOut.SPILL_BYTES` a file writes parts of its own."""

    def __init__(self, group: _GroupOut, sf: SourceFile):
        self.group, self.sf, self.plan = group, sf, group.plan
        seq = self.plan.seqs[sf.label]
        folder = _KINDS[sf.kind][0]
        self.rel_data = f"{folder}/month={sf.month}/{seq:05d}-{sf.force}.parquet"
        self.rel_q = f".quarantine/{sf.kind}-{seq:05d}-own.parquet"
        self._tables: list[pa.Table] = []
        self._q: list[tuple] = []
        self._held = 0
        self._data_w = self._q_w = None

    def write(self, cols: dict) -> None:
        schema = self.group.schema
        table = pa.table({f.name: _as_dict(cols[f.name])
                          if pa.types.is_dictionary(f.type) else cols[f.name]
                          for f in schema}, schema=schema)
        if self._data_w is None:
            self._tables.append(table)
            self._held += table.nbytes
            if self._held > _GroupOut.SPILL_BYTES:  # a big file: a part of its own
                self._data_w = _writer(self.plan, self.rel_data, schema)
                tables, self._tables = self._tables, []
                _store._io_point("write", self.rel_data)
                _write_rows(self._data_w, tables)
                self._held = 0
        else:
            _store._io_point("write", self.rel_data)
            _write_rows(self._data_w, [table])

    def quarantine(self, rows: list[tuple]) -> None:
        if not rows:
            return
        self._q.extend(rows)
        if len(self._q) >= 65536:
            if self._q_w is None:
                self._q_w = _QuarantinePart(self.plan, self.rel_q)
            _store._io_point("write", self.rel_q)
            self._q_w.write_table(self._q_table())
            self._q = []

    def _q_table(self) -> pa.Table | None:
        rows = self._q
        if not rows:
            return None
        n = len(rows)
        return pa.table({
            "kind": pa.repeat(pa.scalar(self.sf.kind, _S), n),
            "source": pa.repeat(pa.scalar(self.sf.label, _S), n),
            "line": pa.array([r[0] for r in rows], pa.int64()),
            "reason": pa.array([r[1] for r in rows], _S),
            "detail": pa.array([r[2] for r in rows], _S),
            "raw": pa.array([excerpt(r[3]) for r in rows], _S),
        }, schema=QUARANTINE_SCHEMA)

    def keep(self) -> list[str]:
        """Add the file to its group; the parts of its own it wrote."""
        own = []
        if self._data_w is not None:
            if self._tables:
                _write_rows(self._data_w, self._tables)
            self._data_w.close()
            _store.fsync_path(Path(self.plan.staging) / self.rel_data)
            own.append(self.rel_data)
        else:
            self.group.write_data(self._tables)
        if self._q_w is not None:
            if self._q:
                self._q_w.write_table(self._q_table())
            self._q_w.close()
            own.append(self.rel_q)
        else:
            self.group.write_quarantine(self._q_table())
        self._tables, self._q, self._data_w, self._q_w = [], [], None, None
        return own

    def discard(self) -> None:
        for w in (self._data_w, self._q_w):
            if w is not None:
                with contextlib.suppress(OSError):
                    w.close()
        for rel in (self.rel_data, self.rel_q, _csv_twin(self.rel_q)):
            (Path(self.plan.staging) / rel).unlink(missing_ok=True)
        self._tables, self._q, self._data_w, self._q_w = [], [], None, None


class _TwoHashes:
    """SHA-256 of a file's text as read, and of the same text with every quote
    set aside: a cheap sign of a spreadsheet's re-save with every field quoted,
    which :func:`_same_rows` then confirms (a quote inside a value counts)."""

    def __init__(self):
        self._text, self._rows = hashlib.sha256(), hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._text.update(data)
        self._rows.update(data.replace(b'"', b"") if b'"' in data else data)

    def hexdigests(self) -> tuple[str, str]:
        return self._text.hexdigest(), self._rows.hexdigest()


def _field_text(data: bytes) -> bytes:
    r"""Text with the quotes that open and close fields set aside, an empty quoted
    field as empty and an escaped quote (``""``) as one: the values as read.

    >>> _field_text(b'"a","On or near ""X"" Rd","",b\n'), _field_text(b'a,X,,b\n')
    (b'a,On or near "X" Rd,,b\n', b'a,X,,b\n')
    """
    if b'"' not in data:
        return data
    data = data.replace(b'""', b"\x01")
    for _ in range(2):  # ,"", → ,, (twice: runs of empty fields overlap)
        data = data.replace(b",\x01,", b",,")
    data = data.replace(b"\n\x01,", b"\n,").replace(b",\x01\n", b",\n")
    data = (data.replace(b',"', b",").replace(b'",', b",").replace(b'\n"', b"\n")
            .replace(b'"\n', b"\n"))
    if data.startswith(b'"'):
        data = data[1:]
    return data.replace(b"\x01", b'"')


def _same_rows(a: _FileResult, b: _FileResult, plan: _Plan) -> bool:
    """Whether two files whose texts are the same but for quotes hold the same
    values (read again, field quotes set aside): a spreadsheet's re-save, not
    a file whose values differ by a quote. Only files already suspected are
    read again (one in a thousand or none), so the read costs nothing usually."""
    def digest(r: _FileResult) -> str:
        mode = "cp1252" if any(e in (r.encoding or "") for e in (
            "cp1252", "latin-1")) else "utf-8"
        norm, h, tail = TextNormaliser(mode), hashlib.sha256(), b""
        chunks = read_chunks(r.sf, plan.limits.max_file_bytes,
                             unzip=plan.limits.unzip_caps())
        with contextlib.closing(chunks):
            for raw in chunks:
                text = tail + norm.feed(raw)
                cut = text.rfind(b"\n") + 1  # whole lines only, across chunks
                h.update(_field_text(text[:cut]))
                tail = text[cut:]
        h.update(_field_text((tail + norm.close()).rstrip(b"\n") + b"\n"))
        return h.hexdigest()

    try:
        return digest(a) == digest(b)
    except (OSError, FileProblem, Restart, ValueError):
        return False


@dataclass
class _FileResult:
    sf: SourceFile
    status: str = "ingested"  # ingested | quarantined_file | duplicate_file
    encoding: str | None = None
    line_endings: str | None = None
    bytes: int = 0
    sha256: str | None = None
    #: the same text with its quotes set aside: a spreadsheet's re-save of a file
    #: (every field quoted) has the rows of the file, not its text
    rows_sha256: str | None = field(default=None, repr=False)
    rows_in: int = 0
    accepted: int = 0
    by_reason: Counter = field(default_factory=Counter)
    types: Counter = field(default_factory=Counter)
    synthetic: int = 0
    nearest: int = 0
    file_error: str | None = None
    detail: str | None = None
    duplicate_of: str | None = None
    file_sha256: str | None = None
    #: share of the rows sampled (the first :data:`ROW_SAMPLE`) that repeat rows
    #: of files read before for the same force and month (None: not compared)
    repeated: float | None = None
    sample: list | None = field(default=None, repr=False)  # not in the ledger

    @property
    def quarantined(self) -> int:
        return sum(self.by_reason.values())

    def entry(self) -> dict:
        """This file's ledger entry."""
        return {
            "kind": self.sf.kind, "force": self.sf.force, "month": self.sf.month,
            "months": [self.sf.month] if self.accepted else [],
            "folder": self.sf.folder, "status": self.status,
            "encoding": self.encoding, "line_endings": self.line_endings,
            "bytes": self.bytes, "sha256": self.sha256,
            "file_sha256": self.file_sha256,
            "rows_in": self.rows_in, "accepted": self.accepted,
            "quarantined": self.quarantined,
            "by_reason": dict(sorted(self.by_reason.items())),
            "crime_types": dict(sorted(self.types.items())),
            "synthetic_rows": self.synthetic,
            "snapped_to_nearest_ward": self.nearest,
            "file_error": self.file_error, "detail": self.detail,
            "duplicate_of": self.duplicate_of,
            "repeated_rows": self.repeated,
            "balanced": self.rows_in == self.accepted + self.quarantined,
        }


def _header_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _header(fields: list[str] | None, expected: tuple) -> tuple[str | None, str]:
    """``(None, "")`` for the police.uk header (names compared without regard to
    case or spacing), else ``(reason, detail)`` saying what differs."""
    got = [_header_key(f) for f in fields or ()]
    want = [_header_key(c) for c in expected]
    if got == want:
        return None, ""
    if len(got) == len(want) and not set(got) & set(want):
        return "missing_header", ("the file starts with a data row; the police.uk "
                                  "header is missing")
    shown = {_header_key(f): f.strip() for f in fields or ()}
    missing = [c for c, k in zip(expected, want, strict=True) if k not in got]
    extra = [shown[k] for k in got if k not in want]
    if missing or extra:
        return "bad_header", "header does not match police.uk: " + "; ".join(
            part for part in (f"missing {missing}" if missing else "",
                              f"extra columns {extra}" if extra else "") if part)
    moved = [c for c, k, g in zip(expected, want, got, strict=False) if k != g]
    return "bad_header", (f"header columns in another order ({', '.join(moved)} "
                          "moved); police.uk's order is " + ", ".join(expected))


class _Reader:
    """Read one file in one encoding: header, blocks, validation, writes."""

    def __init__(self, sf: SourceFile, encoding: str, plan: _Plan, joiner: Joiner,
                 ids: _IdSet, out: _FileOut, hash_content: bool = True):
        self.hash_content = hash_content
        self.sf, self.plan, self.joiner, self.ids, self.out = sf, plan, joiner, ids, out
        _folder, self.expected, self.names, _s, self.validate = _KINDS[sf.kind]
        self.res = _FileResult(sf, encoding=encoding,
                               sample=[] if hash_content else None)
        self.norm = TextNormaliser(encoding)
        self.scanner = RecordScanner(len(self.expected), plan.limits.max_row_bytes,
                                     plan.limits.max_lines_per_row)
        self.mode: str | None = "header"  # header | ok | bad_header | missing_header
        self.detail = ""
        self.file_ids = _IdSet()
        self._held = 0  # line breaks at the end of the text so far, not yet hashed

    def run(self) -> _FileResult:
        """Read the file. With ``hash_content``, ``sha256`` is that of its text as
        read — UTF-8 without a byte-order mark, ``\\n`` line breaks, one after
        the last line and no blank lines after it — so that the same file saved
        again with another encoding or line breaks is found to be a
        ``duplicate_file``."""
        h = _TwoHashes() if self.hash_content else None
        chunks = read_chunks(self.sf, self.plan.limits.max_file_bytes,
                             unzip=self.plan.limits.unzip_caps())
        with contextlib.closing(chunks):
            self._read(chunks, h, True)
        tail = self.norm.close()
        self._pieces(self.scanner.feed(tail, final=True))
        if h is not None:
            self._hash(h, tail)
            if self.res.bytes:
                h.update(b"\n")  # one line break after the last line
            self.res.sha256, self.res.rows_sha256 = h.hexdigests()
        self.res.encoding = self.norm.found
        self.res.line_endings = self.norm.line_endings
        if self.mode == "header":
            self.res.file_error = "empty_file"
            self.res.detail = "no rows and no header"
        elif self.mode in ("bad_header", "missing_header"):
            self.res.status = "quarantined_file"
            self.res.file_error = self.mode
            self.res.detail = self.detail
            if not self.res.rows_in:  # a bad header alone: the file as one unit
                self.res.rows_in = self.res.by_reason[self.mode] = 1
                self.out.quarantine([(1, self.mode, self.detail,
                                      self._header_text)])
        return self.res

    def _read(self, chunks, h, first: bool) -> None:
        for raw in chunks:
            if self.plan.cancelled():
                raise _Cancelled
            self.res.bytes += len(raw)
            if first:
                first = False
                if looks_binary(raw[:8192]):
                    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
                    raise FileProblem("binary_file", "UTF-16 text; save it as UTF-8"
                                      if utf16 else "binary content, not CSV text")
            text = self.norm.feed(raw)
            if h is not None and text:
                self._hash(h, text)
            self._pieces(self.scanner.feed(text))

    def _hash(self, h, text: bytes) -> None:
        """Hash ``text``, holding back its trailing line breaks until more text
        follows (line breaks at the end of the file are not hashed)."""
        body = text.rstrip(b"\n")
        if body:
            if self._held:
                h.update(b"\n" * self._held)
            h.update(body)
            self._held = len(text) - len(body)
        else:
            self._held += len(text)

    def _pieces(self, pieces: list) -> None:
        for piece in pieces:
            if self.mode == "header":
                piece = self._take_header(piece)
                if piece is None:
                    continue
            if isinstance(piece, BadRecord):
                self.res.rows_in += 1
                self.res.by_reason[piece.reason] += 1
                self.out.quarantine([(piece.line, piece.reason, piece.detail,
                                      piece.raw)])
            elif self.mode != "ok":
                rows = [(int(piece.lines[i]), self.mode, self.detail,
                         _record_text(piece, i)) for i in range(piece.n)]
                if rows:
                    self.res.rows_in += len(rows)
                    self.res.by_reason[self.mode] += len(rows)
                    self.out.quarantine(rows)
            elif piece.n:
                self._block(piece)

    def _take_header(self, piece):
        """Decide what the file's first record is; return what is left to read."""
        if isinstance(piece, BadRecord):
            self.mode, self.detail = "bad_header", (
                f"the first line is not the police.uk header ({piece.reason})")
            return None
        if not piece.n:
            return None
        self._header_text = _record_text(piece, 0)
        fields = parse_record(self._header_text)
        reason, detail = _header(fields, self.expected)
        self.mode, self.detail = reason or "ok", detail
        return piece if reason == "missing_header" else piece.drop_first()

    def _block(self, block: Block) -> None:
        if self.hash_content and len(self.res.sample) < ROW_SAMPLE:
            self.res.sample += [  # quotes aside: the same rows saved quoted
                hash(block.record(i).replace(b'"', b"")) for i in
                range(min(block.n, ROW_SAMPLE - len(self.res.sample)))]
        table, recs, bad = _parse(block, self.names, _PARSE_TYPES[self.sf.kind])
        q = [(line, "nul_byte", _REASON_TEXT["nul_byte"], text) if "\x00" in text
             else (line, why, detail, text) for line, why, detail, text in bad]
        if table is not None and b"\x00" in block.data:  # NUL: never in text
            hit = _records_holding(block, 0)[recs]
            q += [(int(block.lines[k]), "nul_byte", _REASON_TEXT["nul_byte"],
                   _record_text(block, k)) for k in recs[hit].tolist()]
            table, recs = table.filter(pa.array(~hit)), recs[~hit]
            self.res.rows_in += int(hit.sum())
        lines = block.lines[recs]
        if table is not None and table.num_rows:
            reason, acc, cols = self.validate(table, self.sf, self.plan.bbox,
                                              self.joiner, self.ids, self.file_ids)
            bad_rows = np.flatnonzero(reason != 0)
            if len(bad_rows):  # each row as it is in the file
                raw = _records(block).take(pa.array(recs[bad_rows])).to_pylist()
                for k, text in zip(bad_rows.tolist(), raw, strict=True):
                    name = _CODES[reason[k]]
                    q.append((int(lines[k]), name, _REASON_TEXT[name], text))
            if cols is not None:  # accepted rows, in the order of ``acc``
                cols["line"] = pa.array(np.asarray(lines)[acc], pa.int64())
                cols["source"] = _constant(self.sf.label, len(acc))
                self.out.write(cols)
                self._count(cols)
            self.res.rows_in += table.num_rows
        self.res.rows_in += len(bad)
        for _line, why, _d, _r in q:
            self.res.by_reason[why] += 1
        q.sort(key=lambda r: r[0])
        self.out.quarantine(q)

    def _count(self, cols: dict) -> None:
        n = len(cols["lon"])
        self.res.accepted += n
        if "crime_type" in cols:
            self.res.types.update(_tally(cols["crime_type"]))
            self.res.synthetic += int(pc.sum(cols["synthetic"]).as_py() or 0)
        self.res.nearest += int(np.count_nonzero(
            _np(cols["ward_method"].indices) == Joiner.METHODS.index("nearest")))


def _records_holding(block: Block, byte: int) -> np.ndarray:
    """Whether each record of ``block`` holds ``byte``."""
    at = np.flatnonzero(np.frombuffer(block.data, np.uint8) == byte)
    out = np.zeros(block.n, bool)
    out[np.searchsorted(np.asarray(block.offsets), at, side="right") - 1] = True
    return out


def _records(block: Block) -> pa.Array:
    """Every record of a block as text (without its line break), no copies."""
    data = block.data
    offs = np.asarray(block.offsets, np.int64)
    arr = pa.Array.from_buffers(pa.large_string(), block.n,
                                [None, pa.py_buffer(offs), pa.py_buffer(data)])
    return pc.utf8_rtrim(arr, characters="\n")


def _record_text(block: Block, i: int) -> str:
    return block.record(i).decode("utf-8", "replace").rstrip("\n")


def _parse(block: Block, names: list[str], types: dict | None = None):
    """``(string table, the block record of each row, wrong-column rows)``.

    pyarrow parses the block; rows of the wrong shape are set aside by its
    invalid-row handler (numbered by record, as the scanner counts them). Should
    pyarrow and the scanner ever disagree on where records end, the block is
    parsed again record by record with Python's csv module.
    """
    numbers: list = []

    def on_invalid(row):
        numbers.append((row.number, row.actual_columns))
        return "skip"

    def read(column_types):
        numbers.clear()
        return pacsv.read_csv(
            pa.BufferReader(block.data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                           block_size=max(1 << 20,
                                                          len(block.data) + 1)),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid,
                                             newlines_in_values=block.multiline),
            convert_options=pacsv.ConvertOptions(
                column_types=column_types, strings_can_be_null=False,
                quoted_strings_can_be_null=False, null_values=[""]))

    table = None
    if types:  # numbers as numbers, the rest as dictionaries
        try:
            table = read({c: types.get(c, _D) for c in names})
        except (pa.ArrowInvalid, UnicodeDecodeError):
            table = None
    if table is None:  # as text
        try:
            table = read(dict.fromkeys(names, _S))
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return _parse_slowly(block, names)
    if table.num_rows + len(numbers) != block.n or any(
            not isinstance(num, int) or not 1 <= num <= block.n for num, _ in numbers):
        return _parse_slowly(block, names)
    if not numbers:
        return table, np.arange(block.n), []
    skip = np.array([num - 1 for num, _ in numbers])
    keep = np.setdiff1d(np.arange(block.n), skip)
    bad = [(int(block.lines[k]), "wrong_column_count",
            f"{cols} fields, expected {len(names)}", _record_text(block, k))
           for k, (_num, cols) in zip(skip.tolist(), numbers, strict=True)]
    return table, keep, bad


def _parse_slowly(block: Block, names: list[str]):
    rows, recs, bad = [], [], []
    for k in range(block.n):
        text = _record_text(block, k)
        fields = parse_record(text)
        if fields is not None and len(fields) == len(names):
            rows.append(fields)
            recs.append(k)
        else:
            got = -1 if fields is None else len(fields)
            bad.append((int(block.lines[k]), "wrong_column_count",
                        f"{got} fields, expected {len(names)}", text))
    table = pa.table({c: pa.array([r[j] for r in rows], _S)
                      for j, c in enumerate(names)})
    return table, np.array(recs, np.int64), bad


def _read_file(sf: SourceFile, plan: _Plan, joiner: Joiner, ids: _IdSet,
               group: _GroupOut, hash_content: bool = True):
    """One file, trying each encoding in turn: ``(result, its new Crime IDs, what
    it adds to the group)`` (nothing is added yet)."""
    encoding = ENCODINGS[0]
    while True:
        out = _FileOut(group, sf)
        reader = _Reader(sf, encoding, plan, joiner, ids, out, hash_content)
        try:
            return reader.run(), reader.file_ids, out
        except Restart as r:
            out.discard()
            encoding = r.encoding
        except FileProblem as p:
            out.discard()
            res = _FileResult(sf, status="quarantined_file", encoding=None,
                              bytes=reader.res.bytes, file_error=p.reason,
                              detail=p.detail, rows_in=1)
            res.by_reason[p.reason] = 1
            out = _FileOut(group, sf)
            out.quarantine([(None, p.reason, p.detail, "")])
            return res, None, out
        except BaseException:
            out.discard()
            raise


def ingest_group(kind: str, month: str, files: list[SourceFile], plan: _Plan,
                 joiner: Joiner) -> tuple[list[_FileResult], list[str]]:
    """Read, validate, join and write every file of one kind and month.

    The unit of work of both the single-process and the Dask path. Files are read
    in order (a ``(1)`` copy after its original); a Crime ID already accepted in
    the month is a duplicate; a file with the same content as one read before is
    a ``duplicate_file`` and adds nothing. Returns each file's result and the
    parts written (paths in the staging folder), each data part with its CRC-32
    (quarantine parts, merged later, with None).
    """
    ids = _IdSet()
    done: dict[str, str] = {}  # sha256 -> label
    done_rows: dict[str, str] = {}  # sha256 of the text quotes aside -> label
    kept: dict[str, _FileResult] = {}  # label -> result, of the files kept
    sampled: dict[str, set] = defaultdict(set)  # force -> rows of the files kept
    results = []
    # only files that share a force can be the same file twice: hash those
    per_force = Counter(sf.force for sf in files)
    ordered = sorted(files, key=lambda f: (f.copy, f.label))
    group = _GroupOut(plan, kind, month, min(plan.seqs[f.label] for f in files))
    own: list[str] = []
    try:
        for sf in ordered:
            res, new_ids, out = _read_file(sf, plan, joiner, ids, group,
                                           per_force[sf.force] > 1)
            first, how = None, ""
            if res.status == "ingested" and res.sha256:
                first, how = done.get(res.sha256), "the same content as {}"
                other = done_rows.get(res.rows_sha256)
                if first is None and other is not None and _same_rows(
                        kept[other], res, plan):
                    first, how = other, "the same rows as {}, quoted otherwise"
            if first:
                out.discard()
                res = _FileResult(sf, status="duplicate_file", encoding=res.encoding,
                                  line_endings=res.line_endings, bytes=res.bytes,
                                  sha256=res.sha256, duplicate_of=first,
                                  file_error="duplicate_file",
                                  detail=how.format(first) + "; read once")
            else:
                own += out.keep()
                if res.status == "ingested":
                    if res.sha256:
                        done[res.sha256] = sf.label
                        done_rows.setdefault(res.rows_sha256, sf.label)
                        kept[sf.label] = res
                    if new_ids is not None:
                        ids.absorb(new_ids)
                    if res.sample:
                        seen = sampled[sf.force]
                        res.repeated = round(
                            sum(h in seen for h in res.sample) / len(res.sample), 4)
                        seen.update(res.sample)
            res.sample = None  # not sent back from a worker
            results.append(res)
        parts = group.close() + own
        staging = Path(plan.staging)  # each data part's checksum, for the ledger
        return results, {rel: None if rel.startswith(".quarantine/") else
                         _store.file_crc32(staging / rel) for rel in parts}
    except BaseException:
        group.discard()
        raise


# ---------------------------------------------------------------------------
# the ledger


def file_coverage(entries: dict) -> dict:
    """Which crime types each force's street files cover, month by month.

    A police.uk street file covers every crime type of its *series* (the files of
    one force in one folder or archive, month folders and month archives
    counting as the folder above them, as a police.uk download unpacks:
    :attr:`SourceFile.folder`): a complete police.uk download covers all types
    even in a month where one of them has no rows, while a folder that holds only
    burglary covers only burglary. A month for which no file of a force covers a
    type is *missing* for that force and type, never zero. Files that could not
    be read (or were duplicates), and files with rows none of which was
    accepted, cover nothing (:func:`_covers`); a header alone covers its month
    with no offences (and is warned of): of the types of its series, or of every
    type when its series holds no rows at all (a police.uk file of a month
    without offences, alone in its folder).

    ``entries``: ledger file entries by label. Returns ``{force: {type: [months]}}``.
    """
    series: dict[tuple[str, str], set] = defaultdict(set)
    usable = {label: e for label, e in entries.items()
              if e["kind"] == "street" and _covers(e)}
    for e in usable.values():
        series[(e["folder"], e["force"])].update(
            t for t, n in e["crime_types"].items() if n)
    out: dict[str, dict[str, set]] = {}
    for e in usable.values():
        for t in series[(e["folder"], e["force"])] or CRIME_TYPES:
            out.setdefault(e["force"], {}).setdefault(t, set()).add(e["month"])
    return {f: {t: sorted(ms) for t, ms in sorted(by.items())}
            for f, by in sorted(out.items())}


def search_coverage(entries: dict) -> dict:
    """The months each force's stop-and-search files cover: ``{force: [months]}``.

    A file read covers its month (a header alone: with no searches); files that
    could not be read, duplicates and files none of whose rows was accepted
    cover nothing. A month a force has no such file for is missing for it.
    """
    out: dict[str, set] = defaultdict(set)
    for e in entries.values():
        if e["kind"] == "stop_search" and _covers(e):
            out[e["force"]].add(e["month"])
    return {f: sorted(ms) for f, ms in sorted(out.items())}


def _covers(e: dict) -> bool:
    """Whether a file's ledger entry covers its month: read (not a duplicate, no
    file error), with a row accepted or a header alone."""
    return (e["status"] == "ingested" and not e["file_error"]
            and bool(e["accepted"] or not e["rows_in"]))


def _kind_ledger(kind: str, entries: dict) -> dict:
    mine = {label: e for label, e in entries.items() if e["kind"] == kind}
    tot: Counter = Counter()
    by_reason: Counter = Counter()
    by_force_month: dict = defaultdict(lambda: defaultdict(list))
    for label, e in mine.items():
        for k in ("rows_in", "accepted", "quarantined", "synthetic_rows",
                  "snapped_to_nearest_ward"):
            tot[k] += e[k]
        by_reason.update(e["by_reason"])
        by_force_month[e["force"]][e["month"]].append(label)
    months = sorted({m for e in mine.values() for m in e["months"]})
    outside = by_reason.get("outside_force_area", 0)
    with_coords = tot["accepted"] + outside
    return {
        **{k: int(tot[k]) for k in ("rows_in", "accepted", "quarantined",
                                    "synthetic_rows", "snapped_to_nearest_ward")},
        "by_reason": dict(sorted(by_reason.items())),
        "months": months,
        # street: {force: {type: [months]}}; stop and search: {force: [months]}
        "coverage": (file_coverage(mine) if kind == "street"
                     else search_coverage(mine)),
        "files": len(mine),
        "file_errors": {label: e["file_error"] for label, e in mine.items()
                        if e["file_error"] and e["status"] != "duplicate_file"},
        "duplicate_files": {label: e["duplicate_of"] for label, e in mine.items()
                            if e["status"] == "duplicate_file"},
        "files_by_force_month": {f: {m: sorted(ls) for m, ls in sorted(by.items())}
                                 for f, by in sorted(by_force_month.items())},
        "outside_wards": {
            "rows_with_valid_coordinates": int(with_coords),
            "outside_london_wards": int(outside),
            "snapped_to_nearest_ward": int(tot["snapped_to_nearest_ward"]),
            "share_with_ward": (tot["accepted"] / with_coords) if with_coords else None,
        },
    }


def _coverage_table(entries: dict, coverage: dict) -> pa.Table:
    rows: Counter = Counter()
    files: Counter = Counter()
    for e in entries.values():
        if e["kind"] == "street" and e["status"] == "ingested":
            for t, n in e["crime_types"].items():
                rows[(e["force"], t, e["month"])] += n
            files[(e["force"], e["month"])] += 1
    recs = [(f, t, m, files[(f, m)], rows[(f, t, m)])
            for f, by in coverage.items() for t, ms in by.items() for m in ms]
    return pa.table({
        "force": pa.array([r[0] for r in recs], _S),
        "crime_type": pa.array([r[1] for r in recs], _S),
        "month": pa.array([r[2] for r in recs], _S),
        "files": pa.array([r[3] for r in recs], pa.int64()),
        "rows": pa.array([r[4] for r in recs], pa.int64()),
    })


#: A quarantine cell starting with one of :data:`FORMULA_STARTS` (a character class).
_FORMULA_RE = "^[" + "".join("\\" + c if c in "-]\\^" else c
                             for c in FORMULA_STARTS) + "]"


def _neutralised(table: pa.Table) -> pa.Table:
    """:func:`hotspots.provenance.safe_csv_frame`'s rule on an Arrow table (and
    NUL bytes written as ``\\x00``)."""
    cols = []
    for col in table.columns:
        if pa.types.is_string(col.type):
            risky = pc.fill_null(pc.match_substring_regex(col, _FORMULA_RE), False)
            col = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
            # a NUL byte ends a line for many CSV readers: shown, not written
            col = pc.replace_substring(col, "\x00", "\\x00")
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _merge_quarantine(staging: Path, parts: list[str]) -> None:
    """One quarantine (Parquet, and CSV safe for spreadsheets) from the parts."""
    pq_path, csv_path = staging / "quarantine.parquet", staging / "quarantine.csv"
    _store._io_point("write", pq_path)
    with pq.ParquetWriter(pq_path, QUARANTINE_SCHEMA) as w, \
            open(csv_path, "wb") as fh:
        fh.write((",".join(QUARANTINE_SCHEMA.names) + "\n").encode())
        for rel in parts:
            for batch in pq.ParquetFile(staging / rel).iter_batches(65536):
                _store._io_point("write", pq_path)
                w.write_table(pa.Table.from_batches([batch], QUARANTINE_SCHEMA))
            with open(staging / _csv_twin(rel), "rb") as part:
                shutil.copyfileobj(part, fh, 1 << 20)
    shutil.rmtree(staging / ".quarantine", ignore_errors=True)


# ---------------------------------------------------------------------------
# the public entry point


@dataclass
class IngestPlan:
    """Everything decided before reading: files, fingerprint, groups."""

    root: Path
    store: Store
    found: Discovery
    forces: tuple | None
    wfile: Path | str
    wards: object
    bbox: tuple
    limits: Limits
    fp: str
    context: str = ""
    #: (kind, month) -> what the current generation holds for it, carried over
    #: unchanged (set under the store lock, see :func:`run_ingest`)
    reused: dict = field(default_factory=dict)

    @functools.cached_property
    def groups(self) -> dict[tuple[str, str], list[SourceFile]]:
        out: dict = defaultdict(list)
        for sf in self.found.files:
            out[(sf.kind, sf.month)].append(sf)
        return dict(sorted(out.items()))

    def seqs(self) -> dict:
        return {sf.label: i for i, sf in enumerate(self.found.files)}

    def ward_set(self):
        """The boundaries points are joined to (given, or the data root's)."""
        return load_wards(self.root) if self.wards is None else self.wards

    @property
    def snap_forces(self) -> tuple[str, ...] | None:
        """Forces whose points just outside every ward are snapped to the nearest:
        London's for London's wards, every force for boundaries given."""
        return LONDON_FORCES if self.wards is None else None

    def work(self) -> list[tuple[tuple[str, str], list[SourceFile]]]:
        """The (kind, month) groups to read — all but those carried over — the
        biggest on disk first, so that no long one is left running alone at the
        end (the ledger does not depend on the order)."""
        return sorted(((k, files) for k, files in self.groups.items()
                       if k not in self.reused),
                      key=lambda kv: -sum(map(_disk_bytes, kv[1])))

    def disk_bytes(self) -> int:
        """Bytes on disk of the files to read (each archive once)."""
        return sum(_disk_bytes(sf) for sf in
                   {sf.path: sf for _k, fs in self.work() for sf in fs}.values())

    def group_key(self, kind: str, month: str) -> str | None:
        """What one (kind, month) of the store depends on: the context (code,
        boundaries, forces, limits) and its files' names and content hashes (an
        archive member's: its archive's); None, never matched, when a file's
        hash is not known."""
        h = hashlib.sha256(f"{self.context}|{kind}|{month}".encode())
        for sf in sorted(self.groups[(kind, month)], key=lambda f: f.label):
            digest = self.found.hashes.get(sf.origin or sf.label)
            if not digest or not self.context:
                return None
            h.update(f"\n{sf.label}|{int(sf.copy)}|{digest}".encode())
        return h.hexdigest()


def _disk_bytes(sf: SourceFile) -> int:
    """Bytes on disk of a file (of its archive, for a member)."""
    try:
        return sf.path.stat().st_size
    except OSError:
        return 0


def plan_ingest(root, store, forces, wards, bbox, limits) -> IngestPlan:
    """Find the files and compute the fingerprint (no lock needed)."""
    root = Path(root) if root is not None else data_root()
    store = store or Store.open()
    store.check_folder()
    if root.exists() and not root.is_dir():
        raise DataNotFound(f"data root {root} is a file, not a folder "
                           "(HOTSPOTS_DATA)")
    if not root.is_dir():
        raise DataNotFound(f"data root {root} does not exist; run 'hotspots fetch'")
    if isinstance(forces, str):
        forces = forces.split(",")
    forces = tuple(sorted({f.strip().lower() for f in forces or () if f.strip()}))
    forces = None if not forces or forces == ("all",) else forces
    found = discover_files(root, forces, limits.max_file_bytes,
                           limits.unzip_caps(), store=store.path)
    # a force named that no file is of (London's aside, which a root may lack):
    # a slip of the keyboard, not a force to leave out without a word
    absent = [f for f in forces or () if f not in found.forces_seen
              and f not in LONDON_FORCES]
    if absent and found.files:
        found.cleanup()
        near = difflib.get_close_matches(absent[0], sorted(found.forces_seen), 1)
        raise DataNotFound(
            f"no files of the force {absent[0]!r} under {root}; its files are of: "
            f"{', '.join(sorted(found.forces_seen))}"
            + (f". Did you mean {near[0]!r}?" if near else ""))
    if not found.files:
        found.cleanup()
        extra, why = "", Counter()
        if found.skipped:
            why = Counter(v["reason"] for v in found.skipped.values())
            extra = " (skipped: " + ", ".join(f"{n} {r}" for r, n in why.items()) + ")"
        if why.get("force_not_selected"):
            raise DataNotFound(
                f"no files of the forces selected ({', '.join(forces)}) under "
                f"{root}; its files are of: {', '.join(sorted(found.forces_seen))}")
        raise DataNotFound(
            f"no police.uk street or stop-and-search files under {root} "
            "(expected names like 2022-06-metropolitan-street.csv[.gz] or a .zip "
            f"archive){extra}"
        )
    try:
        wfile, wards = boundaries_for(root, wards)
        context = context_digest(wfile, forces, bbox, limits)
        fp = fingerprint(found, wfile, forces, bbox, limits, context)
    except BaseException:
        found.cleanup()
        raise
    return IngestPlan(root, store, found, forces, wfile, wards, tuple(bbox), limits,
                      fp, context)


def ingest(
    root: Path | str | None = None,
    store: Store | None = None,
    forces: Iterable[str] | None = LONDON_FORCES,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    wards=None,
    bbox=LONDON_BBOX,
    limits: Limits | None = None,
    workers: int | None = None,
    lock_timeout: float = 600.0,
    processes: bool | None = None,
) -> IngestResult:
    """Read every police.uk file under ``root`` into a new generation of ``store``.

    Parameters
    ----------
    root : path, optional
        The data root (default :func:`hotspots.config.data_root`).
    store : Store, optional
        Where to write (default :meth:`Store.open`).
    forces : iterable of str, optional
        police.uk force slugs to read (default :data:`hotspots.config.LONDON_FORCES`;
        None, empty or ``"all"``: every force found). Other forces' files are
        listed in the ledger as skipped.
    force : bool
        Rebuild even when the inputs have not changed since the last ingest.
    progress : callable, optional
        ``progress(stage, done, total)`` for a progress bar.
    wards : GeoDataFrame, optional
        The boundaries points are joined to (``ward_code, ward_name,
        borough_code, borough, bcu, geometry``; default: the data root's 2022
        London wards). Another force or a national run passes its own.
    bbox : tuple
        ``(lon0, lat0, lon1, lat1)`` of the force area, for swapped or far-off
        points.
    limits : Limits, optional
        Size caps of a file and a row.
    workers : int, optional
        Workers, each reading one (kind, month) at a time (default: the cores).
    lock_timeout : float
        Seconds to wait for another ingest of the same store to finish.
    processes : bool, optional
        Workers as forked processes (True) or threads (False). Default: processes
        where the platform forks, this process runs no other thread, and the
        input is at least :data:`PROCESS_MIN_BYTES` (the Python parts of reading
        then run in parallel; a small input is read sooner in threads). Forked
        workers die with their parent and do not hold the store's lock. The
        ledger's ``engine`` records which.

    Returns
    -------
    IngestResult

    Raises
    ------
    DataNotFound
        No data root, no police.uk file, or no boundaries.
    StoreError
        The store is locked by another ingest past ``lock_timeout``, read-only, or
        the disk is full; the store then still holds the previous generation.
    """
    t0 = time.perf_counter()
    plan = plan_ingest(root, store, forces, wards, bbox,
                       limits or Limits.from_env())
    engine: dict = {}

    def execute(p: IngestPlan, staging: Path) -> list:
        # decided once the months carried over are known (under the lock)
        n = max(1, min(workers or os.cpu_count() or 2, len(p.work())))
        forked = n > 1 and bool(
            processes if processes is not None else
            (p.disk_bytes() >= PROCESS_MIN_BYTES
             and "fork" in mp.get_all_start_methods()
             and threading.active_count() == 1))  # forking is safe
        engine.update(engine="processes" if forked else "threads", workers=n)
        return (_forked(n, progress) if forked else _threads(n, progress))(
            p, staging)

    try:
        return run_ingest(plan, execute, t0, force, lock_timeout, engine)
    finally:
        plan.found.cleanup()


#: Input (bytes on disk) from which :func:`ingest` reads in processes by default.
PROCESS_MIN_BYTES = 16 << 20


def _threads(n: int, progress):
    def execute(plan: IngestPlan, staging: Path) -> list:
        joiner = Joiner(plan.ward_set(), snap_forces=plan.snap_forces)
        cancel = threading.Event()
        p = _Plan(str(staging), plan.bbox, plan.limits, plan.seqs(), cancel)
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(ingest_group, kind, month, files, p, joiner)
                       for (kind, month), files in plan.work()]
            try:
                return _gathered(futures, progress)
            except BaseException:
                cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    return execute


#: The joiner a forked worker inherits (each process then caches points of its own).
_FORK_JOINER: Joiner | None = None


def _forked_start(parent: int) -> None:
    """A forked worker dies with its parent (Linux) and holds no store lock."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PDEATHSIG
    if os.getppid() != parent:  # the parent died before that
        os._exit(1)
    _store.close_inherited_locks()


def _forked_group(kind: str, month: str, files: list, plan: _Plan):
    return ingest_group(kind, month, files, plan, _FORK_JOINER)


def _forked(n: int, progress):
    """Groups in ``n`` forked processes; the parent only gathers the results."""

    def execute(plan: IngestPlan, staging: Path) -> list:
        global _FORK_JOINER
        _FORK_JOINER = Joiner(plan.ward_set(), snap_forces=plan.snap_forces)
        p = _Plan(str(staging), plan.bbox, plan.limits, plan.seqs())
        try:
            with ProcessPoolExecutor(n, mp_context=mp.get_context("fork"),
                                     initializer=_forked_start,
                                     initargs=(os.getpid(),)) as pool:
                futures = [pool.submit(_forked_group, kind, month, files, p)
                           for (kind, month), files in plan.work()]
                try:
                    return _gathered(futures, progress)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            _FORK_JOINER = None

    return execute


def _gathered(futures: list, progress) -> list:
    results = []
    for done, fut in enumerate(futures):
        results.append(fut.result())
        if progress:
            progress("ingest", done + 1, len(futures))
    return results


def run_ingest(plan: IngestPlan, execute, t0: float, rebuild: bool,
               lock_timeout: float, engine: dict) -> IngestResult:
    """Lock, check, write a generation with ``execute`` and publish it."""
    published: list[str] = []
    try:
        return _run_locked(plan, execute, t0, rebuild, lock_timeout, engine,
                           published)
    except _store.PublishedThenInterrupted:
        raise
    except KeyboardInterrupt:  # after publishing (the lock's release): said so
        if published:
            raise _store.PublishedThenInterrupted(published[0]) from None
        raise


def _run_locked(plan: IngestPlan, execute, t0: float, rebuild: bool,
                lock_timeout: float, engine: dict, published: list) -> IngestResult:
    store = plan.store
    with store.lock(lock_timeout):
        try:
            repaired = store.repair()
        except OSError as exc:
            raise store_error(exc, store.path, "repairing") from None
        _check_unchanged(plan)  # hashed before the lock: still the same?
        pointer = store.pointer_damage() if not rebuild else None
        if pointer:  # the ledger cannot be trusted: everything is read again
            repaired.append(f"{pointer} (read again)")
        previous: dict = {}
        damaged: dict = {}  # parts and files of the current generation
        if not rebuild and not pointer and store.exists():
            try:
                previous = store.ledger()
            except StoreError:
                previous = {}
            groups = previous.get("groups")
            damaged = (store.damaged_parts(groups) if isinstance(groups, dict)
                       else {}) | store.damaged_outputs(previous, deep=True)
            repaired += [f"{name} {what} (read again)"
                         for name, what in damaged.items()]
            if previous.get("fingerprint") == plan.fp and not damaged:
                return _result_from_ledger(store, previous,
                                           time.perf_counter() - t0,
                                           repaired=repaired)
        current = store.pinned()
        plan.reused = _reusable(plan, previous, damaged)
        gen = store.new_generation()
        try:
            carried = _carry_over(plan, current, previous, gen)
            groups = execute(plan, gen.path)
            _check_unchanged(plan)
            ledger = _finish(plan, gen, groups, engine, carried)
            gen.commit(ledger)
            published.append(gen.name)
        except OSError as exc:
            gen.abort()
            raise store_error(exc, store.path, "writing a new generation in"
                              ) from None
        except BaseException:
            gen.abort()
            raise
    return _result_from_ledger(store, ledger, time.perf_counter() - t0, fresh=True,
                               repaired=repaired)


def _check_unchanged(plan: IngestPlan) -> None:
    """Raise when a file found was written or replaced after it was hashed (a
    download or copy still under way, also while the ingest waited for the
    lock): its rows and its hash in the ledger could differ, an archive being
    written can look unreadable, and the next ingest would take the store as up
    to date. Checked once the lock is held and again before publishing."""
    for label, path in plan.found.physical:
        before = plan.found.signatures.get(label)
        if before is None:
            continue
        try:
            now = signature(path)
        except OSError:
            now = None
        if now != before:
            raise DataError(
                "the file changed while the ingest ran (still being copied or "
                "downloaded?); the store still holds its previous data: run "
                "'hotspots ingest' again once the file is complete",
                path=label)


def _reusable(plan: IngestPlan, previous: dict, damaged: dict) -> dict:
    """The (kind, month) groups the current generation holds unchanged: the same
    context and files (by content hash), every ledger entry present, and none
    of its parts ``damaged`` (:meth:`Store.damaged_parts`). ``{(kind, month):
    the previous ledger's record of it}``."""
    held = previous.get("groups")
    if not isinstance(held, dict) or any(n in damaged for n in _store.OUTPUT_FILES):
        return {}  # the quarantine carried over is read from the current one
    files = previous.get("files", {})
    out = {}
    for (kind, month), group in plan.groups.items():
        rec = held.get(f"{kind}|{month}")
        key = plan.group_key(kind, month)
        if (key is not None and isinstance(rec, dict) and rec.get("key") == key
                and all(sf.label in files for sf in group)
                and not any(rel in damaged for rel in rec.get("parts", []))):
            out[(kind, month)] = rec
    return out


def _carry_over(plan: IngestPlan, current: Store, previous: dict,
                gen: Generation) -> tuple[dict, list[str]]:
    """Put the groups of ``plan.reused`` into the new generation as they are in
    the current one: their Parquet parts linked (copied where links are not
    possible), their quarantined rows copied, their ledger entries kept. Returns
    those entries by file label and the quarantine parts written."""
    if not plan.reused:
        return {}, []
    src, staging = current.root(), gen.path
    for rec in plan.reused.values():
        for rel in rec["parts"]:
            dst = staging / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            _store._io_point("write", dst)
            try:
                os.link(src / rel, dst)  # the same file, durable already
                gen.synced.add(rel)
            except OSError:  # another file system, or no hard links here
                shutil.copyfile(src / rel, dst)
    labels = [sf.label for k in plan.reused for sf in plan.groups[k]]
    rows = pq.read_table(src / "quarantine.parquet", schema=QUARANTINE_SCHEMA,
                         filters=[("source", "in", labels)])
    q_parts = []
    if rows.num_rows:  # in the current generation's order, before the new parts
        q_parts.append(".quarantine/carried.parquet")
        part = _QuarantinePart(_Plan(str(staging), plan.bbox, plan.limits, {}),
                               q_parts[0])
        try:
            part.write_table(rows)
        finally:
            part.close()
    files = previous["files"]
    return {x: files[x] for x in labels}, q_parts


def _carried_crc(rec: dict, rel: str, staging: Path) -> int:
    """A carried-over part's CRC-32: the previous ledger's (the part is the same
    file), else computed (a ledger of a version that recorded none)."""
    crc = (rec.get("crc32") or {}).get(rel)
    return crc if crc is not None else _store.file_crc32(staging / rel)


def _finish(plan: IngestPlan, gen: Generation, groups: list, engine: dict,
            carried: tuple[dict, list[str]] = ({}, [])) -> dict:
    """Quarantine, coverage and the ledger of a generation (not yet published).

    ``groups``: what :func:`ingest_group` returned for each (kind, month) read;
    ``carried``: the ledger entries of the files of the groups carried over and
    their quarantine parts (:func:`_carry_over`).
    """
    staging = gen.path
    results = [r for rs, _parts in groups for r in rs]
    parts = [p for _rs, ps in groups for p in ps] + carried[1]
    for folder in ("offences", "stop_search"):
        (staging / folder).mkdir(exist_ok=True)
    order = {sf.label: i for i, sf in enumerate(plan.found.files)}
    for r in results:
        if not r.sf.members:
            r.file_sha256 = plan.found.hashes.get(r.sf.label)
    entries = {r.sf.label: r.entry() for r in results} | carried[0]
    entries = dict(sorted(entries.items(), key=lambda kv: order[kv[0]]))
    held = {key: {"key": rec["key"], "parts": rec["parts"],
                  "sizes": {rel: (staging / rel).stat().st_size
                            for rel in rec["parts"]},
                  "crc32": {rel: _carried_crc(rec, rel, staging)
                            for rel in rec["parts"]}}
            for key, rec in plan.reused.items()}
    for rs, ps in groups:
        if rs:
            kind, month = rs[0].sf.kind, rs[0].sf.month
            mine = sorted(x for x in ps if not x.startswith(".quarantine/"))
            held[(kind, month)] = {
                "key": plan.group_key(kind, month), "parts": mine,
                "sizes": {rel: (staging / rel).stat().st_size for rel in mine},
                "crc32": {rel: ps[rel] for rel in mine}}
    for label, e in entries.items():
        if not e["balanced"]:  # a bug, never data: refuse to publish
            raise StoreError(f"{label}: ledger does not balance: rows_in "
                             f"{e['rows_in']} != accepted {e['accepted']} + "
                             f"quarantined {e['quarantined']}")
    q_parts = sorted(p for p in parts if p.startswith(".quarantine/"))
    gen.synced.update(p for p in parts if not p.startswith(".quarantine/"))
    _merge_quarantine(staging, q_parts)
    street = _kind_ledger("street", entries)
    _store._io_point("write", staging / "coverage.parquet")
    pq.write_table(_coverage_table(entries, street["coverage"]),
                   staging / "coverage.parquet")
    wfile = plan.wfile
    return {
        "fingerprint": plan.fp,
        "generation": gen.name,
        "hotspots_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_root_name": plan.root.name,
        "wards_file": wfile.name if isinstance(wfile, Path) else
        f"boundaries given in memory (sha256 {wfile[:12]})",
        "forces": sorted(plan.forces) if plan.forces else sorted(
            {e["force"] for e in entries.values()}),
        "forces_selected": sorted(plan.forces) if plan.forces else "all",
        "h3_resolutions": list(H3_RESOLUTIONS),
        "limits": dict(plan.limits.__dict__),
        "engine": engine,
        "groups": {f"{kind}|{month}": rec
                   for (kind, month), rec in sorted(held.items())},
        # the generation's other files, by size (a read or ingest checks them)
        # and checksum (an ingest checks them)
        "outputs": {name: (staging / name).stat().st_size
                    for name in _store.OUTPUT_FILES},
        "output_crc32": {name: _store.file_crc32(staging / name)
                         for name in _store.OUTPUT_FILES},
        "reused": sorted(f"{kind}|{month}" for kind, month in plan.reused),
        "street": street,
        "stop_search": _kind_ledger("stop_search", entries),
        "files": entries,
        "skipped": plan.found.skipped,
        "other_files": plan.found.other_files,
    }


#: Reasons a file was skipped that are worth a warning: data, by all signs, that
#: could not be read (the others — other forces, outcomes files, documents —
#: are listed in the ledger only).
_SKIPPED_DATA = frozenset(("unreadable_archive", "unreadable_folder", "too_large",
                           "nested_too_deep", "month_out_of_range", "bad_month",
                           "not_a_file", "broken_symlink"))


def _file_warnings(files: dict) -> list[str]:
    """Warnings for files read that look wrong: another version of a file
    already read (its rows repeated, or its Crime IDs seen before, while its
    rows without one are counted again), a header alone, or most rows
    quarantined (a spreadsheet's dates, swapped columns)."""
    out = []
    for label, e in files.items():
        if (e.get("repeated_rows") or 0) >= 0.5:
            out.append(f"{label}: {e['repeated_rows']:.0%} of the rows compared repeat "
                       "rows of another file of the same force and month: if it "
                       "is another version of that file, remove one (its rows were "
                       "counted twice)")
        n, q = e.get("rows_in") or 0, e.get("quarantined") or 0
        if e.get("status") == "ingested" and not n and not e.get("file_error"):
            what = "searches" if e.get("kind") == "stop_search" else "offences"
            out.append(f"{label}: a header and no rows, read as a month without "
                       f"{what} (a download cut short?)")
        if e.get("status") != "ingested" or not n or 2 * q < n:
            continue
        reason, k = max((e.get("by_reason") or {}).items(), key=lambda kv: kv[1])
        if reason == "duplicate_crime_id" and 2 * k >= n and (
                e.get("repeated_rows") or 0) < 0.5:  # not said twice
            out.append(
                f"{label}: {k:,} of its {n:,} rows have Crime IDs already read this "
                "month: if it is another version of a file already read, remove "
                "one (its rows without a Crime ID were counted again)")
        else:
            out.append(f"{label}: {q:,} of its {n:,} rows quarantined "
                       f"(mostly {reason}, {k:,})"
                       + ("; none accepted, so its month is not covered by it"
                          if not e.get("accepted") else ""))
    return out


#: A street file of at least this many accepted rows holding under half the crime
#: types of its folder's other files is warned of (:func:`_series_warnings`).
SERIES_WARN_ROWS = 100


def _series_warnings(files: dict) -> list[str]:
    """Street files holding far fewer crime types than the other files of their
    series (one force in one folder): a download of one family put beside full
    ones. Its series covers every type of the folder, so its month reads as zero,
    not missing, for the types it lacks."""
    usable = {label: e for label, e in files.items()
              if e.get("kind") == "street" and e.get("status") == "ingested"
              and e.get("accepted")}
    series: dict[tuple, dict[str, set]] = defaultdict(dict)
    for label, e in usable.items():
        series[(e["folder"], e["force"])][label] = {
            t for t, n in (e.get("crime_types") or {}).items() if n}
    out = []
    for labels in series.values():
        for label, own in sorted(labels.items()):
            others = set().union(*(t for lab, t in labels.items() if lab != label))
            if (usable[label]["accepted"] >= SERIES_WARN_ROWS and others
                    and 2 * len(own & others) < len(others)):
                lacks = sorted(others - own)
                out.append(
                    f"{label}: holds {len(own)} of the {len(others | own)} crime "
                    f"types of its folder's files (not {', '.join(lacks[:3])}"
                    f"{'…' if len(lacks) > 3 else ''}): if it is a download of some "
                    "types only, put it in a folder or archive of its own, beside "
                    "this one (a month folder counts as the folder above it); here, "
                    "its month reads as zero, not missing, for the types it lacks")
    return out


def _result_from_ledger(store: Store, ledger: dict, seconds: float,
                        fresh: bool = False, repaired: list | None = None
                        ) -> IngestResult:
    s = ledger["street"]
    ss = ledger["stop_search"]
    files = ledger["files"]
    warnings = [
        f"{label}: {err}" + (f" ({files[label].get('detail')})"
                             if files.get(label, {}).get("detail") else "")
        for label, err in {**s.get("file_errors", {}),
                           **ss.get("file_errors", {})}.items()
    ]
    dups = {**s.get("duplicate_files", {}), **ss.get("duplicate_files", {})}
    warnings += [f"{label}: duplicate_file ("
                 + (files.get(label, {}).get("detail")
                    or f"the same content as {orig}; read once") + ")"
                 for label, orig in dups.items()]
    warnings += _file_warnings(files) + _series_warnings(files)
    warnings += [f"{label}: {e['reason']} ({e['detail']}); not read"
                 for label, e in (ledger.get("skipped") or {}).items()
                 if e["reason"] in _SKIPPED_DATA]
    encodings = Counter(e.get("encoding") for e in files.values()
                        if e.get("status") == "ingested" and e.get("encoding"))
    return IngestResult(
        store=store.path,
        rows_in=s.get("rows_in", 0),
        accepted=s.get("accepted", 0),
        quarantined=s.get("quarantined", 0),
        by_reason=s.get("by_reason", {}),
        months=s.get("months", []),
        files=sorted(files),
        stop_search={
            k: ss.get(k)
            for k in ("rows_in", "accepted", "quarantined", "by_reason", "months")
        },
        outside_wards=s.get("outside_wards", {}),
        synthetic_rows=s.get("synthetic_rows", 0),
        up_to_date=not fresh,
        seconds=seconds,
        warnings=warnings,
        generation=ledger.get("generation"),
        fingerprint=ledger.get("fingerprint"),
        skipped=ledger.get("skipped", {}),
        duplicates=dups,
        encodings=dict(sorted(encodings.items())),
        forces=ledger.get("forces", []),
        repaired=list(repaired or []),
        reused=list(ledger.get("reused", [])),
        groups=len(ledger.get("groups", {})),
    )
