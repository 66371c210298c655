"""Ingest: police.uk street-level and stop-and-search files into the store.

Reads every file form a user gets from data.police.uk — plain ``.csv``, ``.csv.gz``
and the monthly ``.zip`` archive (``YYYY-MM/YYYY-MM-<force>-street.csv`` inside) —
with pyarrow and a declared schema, validates each row, joins unique map points to
the 2022 wards, boroughs, BCUs and H3 cells, and writes the store.

Every row read is either accepted or quarantined with a reason, so for every file
``rows_in == accepted + quarantined`` (the ledger proves it). Quarantine reasons:

=========================== ====================================================
``bad_header``              first line is not the police.uk header (whole file)
``missing_header``          the file starts with data, not the header (whole file)
``wrong_column_count``      a row with more or fewer fields than the header
``bad_month``               Month missing or not ``YYYY-MM``
``missing_coordinates``     Longitude or Latitude empty
``non_numeric_coordinates`` Longitude or Latitude not a number
``swapped_coordinates``     latitude in the Longitude column and vice versa
``outside_force_area``      outside London (more than 250 m from any ward)
``unknown_crime_type``      Crime type not one of the police.uk categories
``duplicate_crime_id``      a Crime ID seen already in the same month (first kept)
``bad_datetime``            stop and search: Date missing or not ISO 8601
=========================== ====================================================

An empty file is recorded in the ledger (``file_error: empty_file``) with no rows.
Re-ingesting the same files gives the same store: inputs are fingerprinted and the
store rebuilt from all of them, never appended to.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely

from . import __version__
from .areas import load_wards, locate_points, wards_path
from .config import CRIME_TYPES, LONDON_FORCES, SYNTHETIC_MARK, data_root
from .errors import DataError, DataNotFound
from .store import (
    OFFENCE_COLUMNS,
    STOP_SEARCH_COLUMNS,
    Store,
    atomic_dir,
    atomic_file,
    write_json_atomic,
)

__all__ = [
    "H3_RESOLUTIONS",
    "REASONS",
    "STOP_SEARCH_HEADER",
    "STREET_HEADER",
    "IngestResult",
    "Processed",
    "SourceFile",
    "discover",
    "finish_ingest",
    "file_coverage",
    "fingerprint",
    "ingest",
    "process_kind",
    "read_source",
    "write_month_partitions",
    "write_months",
    "write_quarantine",
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
REASONS: tuple[str, ...] = (
    "bad_header",
    "missing_header",
    "wrong_column_count",
    "bad_month",
    "missing_coordinates",
    "non_numeric_coordinates",
    "swapped_coordinates",
    "outside_force_area",
    "unknown_crime_type",
    "duplicate_crime_id",
    "bad_datetime",
)
H3_RESOLUTIONS: tuple[int, ...] = (8, 9, 10)
#: Generous London bounding box (lon_min, lat_min, lon_max, lat_max); the exact test
#: is the ward join.
LONDON_BBOX = (-0.56, 51.27, 0.34, 51.70)
_STREET_RE = re.compile(r"(\d{4}-\d{2})-([a-z0-9-]+?)-street\.csv(\.gz)?$")
_SS_RE = re.compile(r"(\d{4}-\d{2})-([a-z0-9-]+?)-stop-and-search\.csv(\.gz)?$")
_MONTH_RE = r"^\d{4}-(0[1-9]|1[0-2])$"
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class SourceFile:
    """One police.uk file: on disk, gzipped, or a member of a zip archive."""

    path: Path
    member: str | None
    kind: str  # "street" or "stop_search"
    force: str
    month: str

    @property
    def name(self) -> str:
        """Its name relative to the data root (``a.zip:2022-06/…csv`` in a zip)."""
        return (
            self.path.name if self.member is None else f"{self.path.name}:{self.member}"
        )

    def label(self, root: Path) -> str:
        try:
            rel = self.path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = self.path.name
        return rel if self.member is None else f"{rel}:{self.member}"

    def read_bytes(self) -> bytes:
        if self.member is not None:
            with zipfile.ZipFile(self.path) as zf:
                return zf.read(self.member)
        raw = self.path.read_bytes()
        if self.path.suffix == ".gz":
            return gzip.decompress(raw)
        return raw


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

    def to_json(self) -> dict:
        return {
            "store": str(self.store),
            "rows_in": self.rows_in,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "by_reason": self.by_reason,
            "months": self.months,
            "synthetic_rows": self.synthetic_rows,
            "outside_wards": self.outside_wards,
            "stop_search": self.stop_search,
            "files": len(self.files),
            "up_to_date": self.up_to_date,
            "seconds": round(self.seconds, 2),
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------
# discovery


def discover(
    root: Path | str, forces: Iterable[str] | None = LONDON_FORCES
) -> list[SourceFile]:
    """Every police.uk street and stop-and-search file under ``root``, sorted.

    Looks at ``*.csv``, ``*.csv.gz`` and ``*.zip`` (members named as in the
    data.police.uk archives). Only the files of ``forces`` (police.uk slugs;
    default the forces that police London) are kept; None keeps every force's.
    """
    root = Path(root)
    forces = tuple(forces or ())
    out: list[SourceFile] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                for member in sorted(zf.namelist()):
                    sf = _classify(path, member, Path(member).name, forces)
                    if sf is not None:
                        out.append(sf)
        elif path.name.endswith((".csv", ".csv.gz")):
            sf = _classify(path, None, path.name, forces)
            if sf is not None:
                out.append(sf)
    return out


def _classify(path, member, name, forces) -> SourceFile | None:
    for kind, rx in (("street", _STREET_RE), ("stop_search", _SS_RE)):
        m = rx.search(name)
        if m and (not forces or m.group(2) in forces):
            return SourceFile(path, member, kind, m.group(2), m.group(1))
    return None


# ---------------------------------------------------------------------------
# reading one file


@dataclass
class _Read:
    table: pa.Table | None
    lines: np.ndarray
    rows_in: int
    bad: list  # (line, reason, detail, raw)
    file_error: str | None = None


def read_source(sf: SourceFile, label: str | None = None) -> _Read:
    """Parse one file with pyarrow; rows of the wrong shape are set aside.

    Raises
    ------
    DataError
        Never for row problems (those are quarantined); only when the file itself
        cannot be opened (a corrupt gzip or zip), naming the file.
    """
    label = label or sf.name
    expected = STREET_HEADER if sf.kind == "street" else STOP_SEARCH_HEADER
    try:
        data = sf.read_bytes()
    except (OSError, zipfile.BadZipFile, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read file ({exc})", path=label) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        return _Read(None, np.empty(0, np.int64), 0, [], "empty_file")
    first_line = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    header = next(csv.reader([first_line]))
    if tuple(h.strip() for h in header) != expected:
        return _whole_file_bad(data, header, expected, label)
    bad: list = []

    def on_invalid(row):
        bad.append(
            (
                row.number,
                "wrong_column_count",
                f"{row.actual_columns} fields, expected {row.expected_columns}",
                row.text,
            )
        )
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(
            use_threads=False, column_names=list(expected), skip_rows=1
        ),
        parse_options=pacsv.ParseOptions(
            invalid_row_handler=on_invalid, newlines_in_values=True
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in expected},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    lines = _line_numbers(table, sorted(b[0] for b in bad if b[0] is not None))
    return _Read(table, lines, table.num_rows + len(bad), bad)


def _whole_file_bad(data: bytes, header, expected, label) -> _Read:
    text = data.decode("utf-8", "replace").splitlines()
    looks_like_data = len(header) == len(expected) and not any(
        h.strip() in expected for h in header
    )
    if looks_like_data:
        reason, first = "missing_header", 0
        detail = "the file starts with a data row; the police.uk header is missing"
    else:
        reason, first = "bad_header", 1
        missing = [c for c in expected if c not in [h.strip() for h in header]]
        detail = (
            f"header does not match police.uk; missing {missing}"
            if missing
            else ("header columns in the wrong order")
        )
    bad = [
        (i + 1, reason, detail, line)
        for i, line in enumerate(text)
        if i >= first and line.strip()
    ]
    return _Read(None, np.empty(0, np.int64), len(bad), bad, reason)


def _line_numbers(table: pa.Table, skipped: list[int]) -> np.ndarray:
    """1-based physical line of each parsed row (header is line 1)."""
    n = table.num_rows
    extra = np.zeros(n, dtype=np.int64)
    for col in table.columns:
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pc.any(pc.match_substring(arr, "\n")).as_py():
            counts = pc.count_substring(arr, "\n").to_numpy(zero_copy_only=False)
            extra += counts
    span = 1 + extra
    lines = (
        2 + np.concatenate([[0], np.cumsum(span)[:-1]]) if n else np.empty(0, np.int64)
    )
    if skipped:
        # shift every row after a skipped physical line down by one
        lines = lines.copy()
        for s in skipped:
            lines[lines >= s] += 1
    return lines.astype(np.int64)


# ---------------------------------------------------------------------------
# validation


_STREET_NAMES = [
    "crime_id",
    "month",
    "reported_by",
    "falls_within",
    "lon_raw",
    "lat_raw",
    "location",
    "lsoa_code",
    "lsoa_name",
    "crime_type",
    "outcome",
    "context",
]
_SS_NAMES = [
    "type",
    "date",
    "part_of_operation",
    "operation",
    "lat_raw",
    "lon_raw",
    "gender",
    "age_range",
    "self_defined_ethnicity",
    "officer_defined_ethnicity",
    "legislation",
    "object_of_search",
    "outcome",
    "outcome_linked",
    "outer_clothing_removed",
]
_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _np(arr) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _trim(col):
    return pc.utf8_trim_whitespace(col)


def _null_if_empty(col):
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)


def _set(reason: np.ndarray, mask: np.ndarray, value: str) -> None:
    """Give rows their first failing reason only."""
    reason[mask & (reason == "")] = value


def _concat(kind: str, reads) -> pa.Table | None:
    names = _STREET_NAMES if kind == "street" else _SS_NAMES
    tables = []
    for sf, label, r in reads:
        if r.table is None or r.table.num_rows == 0:
            continue
        n = r.table.num_rows
        t = r.table.rename_columns(names)
        t = t.append_column("source", pa.repeat(pa.scalar(label, pa.string()), n))
        t = t.append_column("line", pa.array(r.lines, pa.int64()))
        t = t.append_column(
            "file_month", pa.repeat(pa.scalar(sf.month, pa.string()), n)
        )
        tables.append(t)
    if not tables:
        return None
    return pa.concat_tables(tables)


def _coords(
    t: pa.Table, reason: np.ndarray, bbox=LONDON_BBOX
) -> tuple[np.ndarray, np.ndarray]:
    lon_s, lat_s = _trim(t["lon_raw"]), _trim(t["lat_raw"])
    empty = _np(pc.or_(pc.equal(lon_s, ""), pc.equal(lat_s, "")))
    isnum = pc.and_(
        pc.match_substring_regex(lon_s, _NUMBER_RE),
        pc.match_substring_regex(lat_s, _NUMBER_RE),
    )
    null = pa.scalar(None, pa.string())
    lon = _np(pc.cast(pc.if_else(isnum, lon_s, null), pa.float64())).astype("float64")
    lat = _np(pc.cast(pc.if_else(isnum, lat_s, null), pa.float64())).astype("float64")
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


def _street_columns(t: pa.Table, reason: np.ndarray, bbox=LONDON_BBOX) -> dict:
    month = _trim(t["month"])
    _set(reason, ~_np(pc.match_substring_regex(month, _MONTH_RE)), "bad_month")
    lon, lat = _coords(t, reason, bbox)
    types = _trim(t["crime_type"])
    _set(
        reason,
        ~_np(pc.is_in(types, value_set=pa.array(CRIME_TYPES))),
        "unknown_crime_type",
    )
    cid = _trim(t["crime_id"])
    cand = (reason == "") & _np(pc.not_equal(cid, ""))
    if cand.any():
        key = pd.Series(_np(pc.binary_join_element_wise(month, cid, "|")))
        dup = np.zeros(len(reason), dtype=bool)
        idx = np.flatnonzero(cand)
        dup[idx] = key.iloc[idx].duplicated(keep="first").to_numpy()
        _set(reason, dup, "duplicate_crime_id")
    return {
        "crime_id": _null_if_empty(cid),
        "month": month,
        "reported_by": t["reported_by"],
        "falls_within": t["falls_within"],
        "lon": lon,
        "lat": lat,
        "location": t["location"],
        "lsoa_code": t["lsoa_code"],
        "lsoa_name": t["lsoa_name"],
        "crime_type": types,
        "outcome": _null_if_empty(t["outcome"]),
        "context": _null_if_empty(t["context"]),
        "synthetic": pc.match_substring(t["context"], SYNTHETIC_MARK),
        "source": t["source"],
        "line": t["line"],
    }


def _bool(col):
    low = pc.utf8_lower(_trim(col))
    return pc.if_else(
        pc.equal(low, "true"),
        True,
        pc.if_else(pc.equal(low, "false"), False, pa.scalar(None, pa.bool_())),
    )


def _ss_columns(t: pa.Table, reason: np.ndarray, bbox=LONDON_BBOX) -> dict:
    when = pd.to_datetime(
        pd.Series(_np(_trim(t["date"]))), utc=True, errors="coerce", format="ISO8601"
    )
    _set(reason, when.isna().to_numpy(), "bad_datetime")
    lon, lat = _coords(t, reason, bbox)
    local = when.dt.tz_convert("Europe/London")
    return {
        "type": t["type"],
        "datetime": pa.array(when, pa.timestamp("us", tz="UTC")),
        "month": t["file_month"],
        "hour": pa.array(local.dt.hour.astype("Int8"), pa.int8()),
        "weekday": pa.array(local.dt.day_name().astype(object), pa.string()),
        "part_of_operation": _bool(t["part_of_operation"]),
        "operation": _null_if_empty(t["operation"]),
        "lon": lon,
        "lat": lat,
        "gender": t["gender"],
        "age_range": t["age_range"],
        "self_defined_ethnicity": t["self_defined_ethnicity"],
        "officer_defined_ethnicity": t["officer_defined_ethnicity"],
        "legislation": t["legislation"],
        "object_of_search": t["object_of_search"],
        "outcome": t["outcome"],
        "outcome_linked": _bool(t["outcome_linked"]),
        "outer_clothing_removed": _bool(t["outer_clothing_removed"]),
        "source": t["source"],
        "line": t["line"],
    }


def _join_columns(lon: np.ndarray, lat: np.ndarray, reason: np.ndarray, wards) -> dict:
    """Ward, borough, BCU and H3 per row, computed once per unique map point."""
    ok = np.flatnonzero(reason == "")
    codes = np.full(len(reason), -1, dtype=np.int64)
    key = lon[ok] + 1j * lat[ok]
    c, uniq = pd.factorize(key)
    codes[ok] = c
    ux, uy = np.real(uniq), np.imag(uniq)
    loc = locate_points(ux, uy, wards)
    for res in H3_RESOLUTIONS:
        loc[f"h3_{res}"] = [
            h3.latlng_to_cell(y, x, res) for x, y in zip(ux, uy, strict=True)
        ]
    method = loc["method"].to_numpy()
    outside_rows = ok[method[c] == "outside"]
    reason[outside_rows] = "outside_force_area"
    idx = pa.array(np.where(codes >= 0, codes, 0), pa.int64())
    out = {}
    for col in (
        "ward_code",
        "ward_name",
        "borough_code",
        "borough",
        "bcu",
        "method",
        *[f"h3_{r}" for r in H3_RESOLUTIONS],
    ):
        vals = (
            pa.array(
                [None if v is None or v != v else v for v in loc[col].tolist()],
                pa.string(),
            )
            if len(loc)
            else pa.array([], pa.string())
        )
        out["ward_method" if col == "method" else col] = (
            pc.take(vals, idx) if len(loc) else pa.nulls(len(reason), pa.string())
        )
    return out


@dataclass
class Processed:
    """One kind of file, validated and joined: what a partition produces."""

    kind: str
    accepted: pa.Table  # columns in store order, sorted by month (stable)
    quarantine: pd.DataFrame  # kind, source, line, reason, detail, raw


def process_kind(kind: str, reads, wards, bbox=LONDON_BBOX) -> Processed:
    """Validate and join every row of one kind of file (``street`` or ``stop_search``).

    The unit of work both the single-machine and the Dask path run: give it the
    reads of a month (or of everything), the ward boundaries, and the force area's
    bounding box (lon0, lat0, lon1, lat1) used to spot swapped and far-off points.
    """
    columns = OFFENCE_COLUMNS if kind == "street" else STOP_SEARCH_COLUMNS
    reads = sorted(reads, key=lambda item: (item[0].month, item[1]))
    t = _concat(kind, reads)
    extra = [
        (kind, label, line, why, detail, text)
        for _sf, label, r in reads
        for (line, why, detail, text) in r.bad
    ]
    q_cols = ["kind", "source", "line", "reason", "detail", "raw"]
    if t is None:
        empty = pa.table({c: pa.array([], _TYPES.get(c, pa.string())) for c in columns})
        return Processed(kind, empty, pd.DataFrame(extra, columns=q_cols))
    reason = np.full(t.num_rows, "", dtype=object)
    cols = (_street_columns if kind == "street" else _ss_columns)(t, reason, bbox)
    cols.update(_join_columns(cols["lon"], cols["lat"], reason, wards))
    ok = reason == ""
    table = pa.table({c: cols[c] for c in columns})
    # files are concatenated in (month, name) order, so the accepted rows are
    # normally sorted by month already; a chunk-wise filter keeps that cheaply
    accepted = table.filter(pa.array(ok))
    if accepted.num_rows:
        months = _np(accepted["month"])
        if (months[1:] < months[:-1]).any():  # a row dated outside its file's month
            order = np.argsort(pd.factorize(months, sort=True)[0], kind="stable")
            accepted = accepted.take(pa.array(order, pa.int64()))
    bad = np.flatnonzero(~ok)
    q = pd.DataFrame(
        {
            "kind": kind,
            "source": _np(t["source"].take(pa.array(bad))),
            "line": _np(t["line"].take(pa.array(bad))),
            "reason": reason[bad],
        }
    )
    q["detail"] = q["reason"].map(_REASON_TEXT)
    q["raw"] = _raw_rows(
        t.select(_STREET_NAMES if kind == "street" else _SS_NAMES).take(pa.array(bad))
    )
    if extra:
        q = pd.concat([q, pd.DataFrame(extra, columns=q_cols)], ignore_index=True)
    return Processed(kind, accepted, q)


_TYPES = {
    "lon": pa.float64(),
    "lat": pa.float64(),
    "line": pa.int64(),
    "synthetic": pa.bool_(),
    "hour": pa.int8(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "part_of_operation": pa.bool_(),
    "outcome_linked": pa.bool_(),
    "outer_clothing_removed": pa.bool_(),
}


# ---------------------------------------------------------------------------
# the public entry point


def fingerprint(files: list[SourceFile], root: Path, wards: Path | str) -> str:
    """What the store depends on: the code, the boundaries and every input file.

    ``wards`` is the boundary file, or the digest of boundaries given in memory
    (:func:`boundaries_digest`).
    """
    h = hashlib.sha256()
    h.update(f"v{SCHEMA_VERSION}|{__version__}".encode())
    # the code that shapes the store is part of what the store depends on
    for mod in (__file__, Path(__file__).with_name("areas.py")):
        h.update(Path(mod).read_bytes())
    if isinstance(wards, Path):
        st = wards.stat()
        h.update(f"{wards.name}|{st.st_size}|{int(st.st_mtime)}".encode())
    else:
        h.update(f"boundaries|{wards}".encode())
    for p in sorted({f.path for f in files}):
        st = p.stat()
        h.update(f"{p.name}|{st.st_size}|{int(st.st_mtime)}".encode())
    for f in files:
        h.update(f.label(root).encode())
    return h.hexdigest()


def boundaries_digest(wards) -> str:
    """A digest of boundaries given in memory (codes and geometry)."""
    h = hashlib.sha256()
    h.update("|".join(map(str, wards["ward_code"])).encode())
    for wkb in wards.geometry.to_wkb():
        h.update(wkb)
    return h.hexdigest()


def boundaries_for(root: Path, wards=None) -> tuple[Path | str, object]:
    """``(what the fingerprint hashes, wards or None to load)`` for an ingest.

    With no ``wards`` the data root's 2022 London wards file is used (and must
    exist); given boundaries (a national run) need no file in the data root.
    """
    if wards is None:
        return wards_path(root), None
    return boundaries_digest(wards), wards


def ingest(
    root: Path | str | None = None,
    store: Store | None = None,
    forces: Iterable[str] | None = LONDON_FORCES,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    wards=None,
    bbox=LONDON_BBOX,
) -> IngestResult:
    """Read every police.uk file under ``root`` into ``store``.

    Parameters
    ----------
    root : path, optional
        The data root (default :func:`hotspots.config.data_root`).
    store : Store, optional
        Where to write (default :meth:`Store.open`).
    forces : iterable of str, optional
        police.uk force slugs to keep (default :data:`hotspots.config.LONDON_FORCES`;
        None or empty: every force found).
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

    Returns
    -------
    IngestResult
    """
    t0 = time.perf_counter()
    root = Path(root) if root is not None else data_root()
    store = store or Store.open()
    if not root.is_dir():
        raise DataNotFound(f"data root {root} does not exist; run 'hotspots fetch'")
    files = discover(root, forces)
    if not files:
        raise DataNotFound(
            f"no police.uk street or stop-and-search files under {root} "
            "(expected names like 2022-06-metropolitan-street.csv[.gz] or a .zip "
            "archive)"
        )
    wfile, wards = boundaries_for(root, wards)
    fp = fingerprint(files, root, wfile)
    if not force and store.exists():
        ledger = store.ledger()
        if ledger.get("fingerprint") == fp:
            return _result_from_ledger(store, ledger, time.perf_counter() - t0)
    wards = load_wards(root) if wards is None else wards
    labels = [sf.label(root) for sf in files]
    reads = {"street": [], "stop_search": []}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(read_source, files, labels)
        for done, (sf, label, r) in enumerate(zip(files, labels, results, strict=True)):
            reads[sf.kind].append((sf, label, r))
            if progress:
                progress("read", done + 1, len(files))
    ledger_files: dict[str, dict] = {}
    quarantine: list[pd.DataFrame] = []
    totals = {}
    for kind in ("street", "stop_search"):
        processed = process_kind(kind, reads[kind], wards, bbox)
        if progress:
            progress(f"validate and join {kind}", 1, 1)
        quarantine.append(processed.quarantine)
        totals[kind] = _ledger(
            reads[kind], processed.accepted, processed.quarantine, ledger_files
        )
        write_month_partitions(store.path / kind_dir(kind), processed.accepted)
    return finish_ingest(store, root, fp, forces, wfile, totals, ledger_files,
                         quarantine, t0, {"engine": "single process"})


def finish_ingest(store: Store, root: Path, fp: str, forces, wfile: Path | str,
                  totals: dict, ledger_files: dict, quarantine: list,
                  t0: float, engine: dict) -> IngestResult:
    """Write the quarantine and the ledger; the last step of every ingest path."""
    write_quarantine(store.path, pd.concat(quarantine, ignore_index=True))
    ledger = {
        "fingerprint": fp,
        "hotspots_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_root_name": root.name,
        "wards_file": wfile.name if isinstance(wfile, Path) else
        f"boundaries given in memory (sha256 {wfile[:12]})",
        "forces": sorted(forces or {e["force"] for e in ledger_files.values()}),
        "h3_resolutions": list(H3_RESOLUTIONS),
        "engine": engine,
        "street": totals["street"],
        "stop_search": totals["stop_search"],
        "files": ledger_files,
    }
    write_json_atomic(store.ledger_path, ledger)
    return _result_from_ledger(store, ledger, time.perf_counter() - t0, fresh=True)


def kind_dir(kind: str) -> str:
    return "offences" if kind == "street" else "stop_search"


_REASON_TEXT = {
    "bad_month": "Month missing or not YYYY-MM",
    "missing_coordinates": "Longitude or Latitude is empty",
    "non_numeric_coordinates": "Longitude or Latitude is not a number",
    "swapped_coordinates": "latitude and longitude appear swapped",
    "outside_force_area": "point is outside the force area (no boundary within "
    "250 m)",
    "unknown_crime_type": "Crime type is not a police.uk category",
    "duplicate_crime_id": "Crime ID already seen in this month (first row kept)",
    "bad_datetime": "Date is missing or not ISO 8601",
}


def _raw_rows(t: pa.Table) -> list[str]:
    """Rebuild each rejected row as CSV text (for the quarantine)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="")
    out = []
    for row in zip(*[c.to_pylist() for c in t.columns], strict=True):
        buf.seek(0)
        buf.truncate()
        w.writerow(row)
        out.append(buf.getvalue())
    return out


LEDGER_COLUMNS = ("source", "month", "crime_type", "synthetic", "ward_method")


def ledger_counts(accepted: pa.Table) -> pa.Table:
    """Accepted rows counted by what the ledger needs (``LEDGER_COLUMNS`` + ``n``).

    A table that already has ``n`` is returned as it is. Counting before the
    ledger keeps what a partition hands back small (a few hundred groups, not a
    row per offence).
    """
    if "n" in accepted.column_names:
        return accepted
    cols = [c for c in LEDGER_COLUMNS if c in accepted.column_names]
    if not cols:
        return pa.table({"source": pa.array([], pa.string()),
                         "n": pa.array([], pa.int64())})
    out = accepted.select(cols).group_by(cols, use_threads=False).aggregate(
        [([], "count_all")])
    return out.rename_columns(["n" if c == "count_all" else c
                               for c in out.column_names])


def _ledger(kind_reads, accepted: pa.Table, q: pd.DataFrame, files: dict) -> dict:
    """The per-file and total ledger of one kind.

    ``accepted`` is the accepted rows (``source, month, crime_type, synthetic,
    ward_method``), or the same columns already counted with an ``n`` column
    (:func:`ledger_counts`), which is what Dask workers send back.
    """
    adf = ledger_counts(accepted).to_pandas()
    n = adf["n"]
    acc = n.groupby(adf["source"]).sum() if len(adf) else pd.Series(dtype=int)
    qn = q.groupby("source").size() if len(q) else pd.Series(dtype=int)
    qr = q.groupby(["source", "reason"]).size() if len(q) else pd.Series(dtype=int)
    synth = (
        (n * adf["synthetic"].fillna(False).astype(int)).groupby(adf["source"]).sum()
        if "synthetic" in adf.columns and len(adf)
        else pd.Series(dtype=int)
    )
    nearest = (
        n[adf["ward_method"] == "nearest"].groupby(adf["source"]).sum()
        if "ward_method" in adf.columns and len(adf)
        else pd.Series(dtype=int)
    )
    tot = Counter()
    by_reason: Counter = Counter()
    for sf, label, r in kind_reads:
        a = int(acc.get(label, 0))
        qq = int(qn.get(label, 0))
        reasons = {k[1]: int(v) for k, v in qr.items() if k[0] == label}
        entry = {
            "kind": sf.kind,
            "force": sf.force,
            "month": sf.month,
            "rows_in": int(r.rows_in),
            "accepted": a,
            "quarantined": qq,
            "by_reason": reasons,
            "synthetic_rows": int(synth.get(label, 0)),
            "snapped_to_nearest_ward": int(nearest.get(label, 0)),
            "file_error": r.file_error,
            "balanced": int(r.rows_in) == a + qq,
        }
        if not entry["balanced"]:
            raise DataError(
                f"ledger does not balance: rows_in {r.rows_in} != accepted {a} + "
                f"quarantined {qq}",
                path=label,
            )
        files[label] = entry
        tot["rows_in"] += entry["rows_in"]
        tot["accepted"] += a
        tot["quarantined"] += qq
        tot["synthetic_rows"] += entry["synthetic_rows"]
        tot["snapped_to_nearest_ward"] += entry["snapped_to_nearest_ward"]
        by_reason.update(reasons)
    months = sorted(adf["month"].unique().tolist()) if len(adf) else []
    coverage = file_coverage(kind_reads, adf)
    with_coords = tot["accepted"] + by_reason.get("outside_force_area", 0)
    return {
        **dict(tot),
        "by_reason": dict(sorted(by_reason.items())),
        "months": months,
        "coverage": coverage,
        "files": len(kind_reads),
        "file_errors": {
            label: r.file_error for _sf, label, r in kind_reads if r.file_error
        },
        "outside_wards": {
            "rows_with_valid_coordinates": int(with_coords),
            "outside_london_wards": int(by_reason.get("outside_force_area", 0)),
            "snapped_to_nearest_ward": int(tot["snapped_to_nearest_ward"]),
            "share_with_ward": (tot["accepted"] / with_coords) if with_coords else None,
        },
    }


def _series(label: str) -> str:
    """The folder (or zip archive) a file was found in."""
    path = label.split(":", 1)[0] if ":" in label else label
    return path.rsplit("/", 1)[0] if "/" in path else ""


def file_coverage(kind_reads, counts: pd.DataFrame) -> dict:
    """Which crime types each force's files cover, month by month.

    A police.uk street file covers every crime type of its *series* (the files of
    one force in one folder or archive): a complete police.uk download covers all
    types even in a month where one of them has no rows, while a folder that
    holds only burglary covers only burglary. A month for which no file of a
    force covers a type is *missing* for that force and type, never zero.

    Returns ``{force: {crime_type: [months]}}`` (sorted).
    """
    if not len(counts) or "crime_type" not in counts.columns:
        return {}
    labels = {label: sf for sf, label, _r in kind_reads}
    present = counts[counts["n"] > 0].groupby("source")["crime_type"].unique()
    series_types: dict[tuple[str, str], set] = {}
    for label, types in present.items():
        sf = labels.get(label)
        if sf is not None:
            series_types.setdefault((_series(label), sf.force), set()).update(types)
    out: dict[str, dict[str, set]] = {}
    for label, sf in labels.items():
        for t in series_types.get((_series(label), sf.force), ()):
            out.setdefault(sf.force, {}).setdefault(t, set()).add(sf.month)
    return {
        f: {t: sorted(ms) for t, ms in sorted(by.items())}
        for f, by in sorted(out.items())
    }


def write_month_partitions(folder: Path, table: pa.Table) -> None:
    """Write a month-sorted table as ``month=YYYY-MM/part-0.parquet`` GeoParquet
    files, swapping the whole folder in atomically."""
    with atomic_dir(folder) as tmp:
        write_months(tmp, table)


def write_months(folder: Path, table: pa.Table, part: str = "part-0",
                 threads: int | None = None) -> None:
    """Write a month-sorted table into ``folder/month=YYYY-MM/<part>.parquet``."""
    if not table.num_rows:
        return
    months = _np(table["month"])
    starts = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    ends = np.r_[starts[1:], len(months)]
    body = table.drop_columns(["month"])

    def write(span):
        s0, e0 = span
        piece = body.slice(s0, e0 - s0)
        geom = shapely.to_wkb(shapely.points(_np(piece["lon"]), _np(piece["lat"])))
        piece = piece.append_column("geometry", pa.array(geom, pa.binary()))
        piece = piece.replace_schema_metadata({b"geo": _GEO_JSON})
        out = Path(folder) / f"month={months[s0]}"
        out.mkdir(exist_ok=True)
        pq.write_table(piece, out / f"{part}.parquet")

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 2) as pool:
        list(pool.map(write, zip(starts, ends, strict=True)))


def write_quarantine(store_path: Path, q: pd.DataFrame) -> None:
    """Write the quarantine as Parquet and CSV (for people), atomically."""
    q = q.sort_values(["kind", "source", "line"], kind="stable").reset_index(drop=True)
    q["line"] = q["line"].astype("Int64")
    with atomic_file(store_path / "quarantine.parquet", ".parquet") as tmp:
        q.to_parquet(tmp, index=False)
    with atomic_file(store_path / "quarantine.csv", ".csv") as tmp:
        q.to_csv(tmp, index=False)


_GEO_META = {
    "version": "1.0.0",
    "primary_column": "geometry",
    "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
}


def _result_from_ledger(
    store: Store, ledger: dict, seconds: float, fresh: bool = False
) -> IngestResult:
    s = ledger["street"]
    ss = ledger["stop_search"]
    warnings = [
        f"{label}: {err}"
        for label, err in {
            **s.get("file_errors", {}),
            **ss.get("file_errors", {}),
        }.items()
    ]
    return IngestResult(
        store=store.path,
        rows_in=s.get("rows_in", 0),
        accepted=s.get("accepted", 0),
        quarantined=s.get("quarantined", 0),
        by_reason=s.get("by_reason", {}),
        months=s.get("months", []),
        files=sorted(ledger["files"]),
        stop_search={
            k: ss.get(k)
            for k in ("rows_in", "accepted", "quarantined", "by_reason", "months")
        },
        outside_wards=s.get("outside_wards", {}),
        synthetic_rows=s.get("synthetic_rows", 0),
        up_to_date=not fresh,
        seconds=seconds,
        warnings=warnings,
    )


_GEO_JSON = json.dumps(_GEO_META).encode()
