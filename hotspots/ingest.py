"""Ingest: police.uk street-level and stop-and-search files into the store.

Reads every file form a user gets from data.police.uk — plain ``.csv``, ``.csv.gz``
and the monthly ``.zip`` archive (``YYYY-MM/YYYY-MM-<force>-street.csv`` inside) —
with pyarrow and a declared schema, validates each row, joins unique map points to
the 2022 wards, boroughs, BCUs and H3 cells, and writes the store.

Every row read is either accepted or quarantined with a reason, so for every file
``rows_in == accepted + quarantined`` (the ledger proves it). Quarantine reasons:

================================  ==========================================================
``bad_header``                    the first line is not the police.uk header (whole file)
``missing_header``                the file starts with data, not the header (whole file)
``wrong_column_count``            a row with more or fewer fields than the header
``bad_month``                     Month missing or not ``YYYY-MM``
``missing_coordinates``           Longitude or Latitude empty
``non_numeric_coordinates``       Longitude or Latitude not a number
``swapped_coordinates``           latitude in the Longitude column and vice versa
``outside_force_area``            the point is outside London (more than 250 m from a ward)
``unknown_crime_type``            Crime type not one of the police.uk categories
``duplicate_crime_id``            a Crime ID seen already in the same month (first kept)
``bad_datetime``                  stop and search: Date missing or not ISO 8601
================================  ==========================================================

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
import re
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
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
from .areas import locate_points, load_wards, wards_path
from .config import CRIME_TYPES, SYNTHETIC_MARK, data_root
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
    "SourceFile",
    "discover",
    "ingest",
    "read_source",
]

STREET_HEADER: tuple[str, ...] = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
    "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category",
    "Context",
)
STOP_SEARCH_HEADER: tuple[str, ...] = (
    "Type", "Date", "Part of a policing operation", "Policing operation", "Latitude",
    "Longitude", "Gender", "Age range", "Self-defined ethnicity",
    "Officer-defined ethnicity", "Legislation", "Object of search", "Outcome",
    "Outcome linked to object of search", "Removal of more than just outer clothing",
)
REASONS: tuple[str, ...] = (
    "bad_header", "missing_header", "wrong_column_count", "bad_month",
    "missing_coordinates", "non_numeric_coordinates", "swapped_coordinates",
    "outside_force_area", "unknown_crime_type", "duplicate_crime_id", "bad_datetime",
)
H3_RESOLUTIONS: tuple[int, ...] = (8, 9, 10)
#: Generous London bounding box (lon_min, lat_min, lon_max, lat_max); the exact test
#: is the ward join.
LONDON_BBOX = (-0.56, 51.27, 0.34, 51.70)
_STREET_RE = re.compile(r"(\d{4}-\d{2})-([a-z0-9-]+?)-street\.csv(\.gz)?$")
_SS_RE = re.compile(r"(\d{4}-\d{2})-([a-z0-9-]+?)-stop-and-search\.csv(\.gz)?$")
_MONTH_RE = r"^\d{4}-(0[1-9]|1[0-2])$"
SCHEMA_VERSION = 1


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
        return self.path.name if self.member is None else f"{self.path.name}:{self.member}"

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


def discover(root: Path | str, forces: Iterable[str] = ("metropolitan",)) -> list[SourceFile]:
    """Every police.uk street and stop-and-search file under ``root``, sorted.

    Looks at ``*.csv``, ``*.csv.gz`` and ``*.zip`` (members named as in the
    data.police.uk archives). Only the given forces' files are kept.
    """
    root = Path(root)
    forces = tuple(forces)
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
        bad.append((row.number, "wrong_column_count",
                    f"{row.actual_columns} fields, expected {row.expected_columns}",
                    row.text))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=list(expected),
                                       skip_rows=1),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid,
                                         newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in expected},
            strings_can_be_null=False, quoted_strings_can_be_null=False,
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
        detail = f"header does not match police.uk; missing {missing}" if missing else (
            "header columns in the wrong order"
        )
    bad = [(i + 1, reason, detail, line) for i, line in enumerate(text) if i >= first
           and line.strip()]
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
    lines = 2 + np.concatenate([[0], np.cumsum(span)[:-1]]) if n else np.empty(0, np.int64)
    if skipped:
        # shift every row after a skipped physical line down by one
        lines = lines.copy()
        for s in skipped:
            lines[lines >= s] += 1
    return lines.astype(np.int64)


# ---------------------------------------------------------------------------
# validation


def _validate_coords(df: pd.DataFrame, reason: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon_s = df["lon_raw"].str.strip()
    lat_s = df["lat_raw"].str.strip()
    lon = pd.to_numeric(lon_s, errors="coerce").to_numpy(dtype="float64")
    lat = pd.to_numeric(lat_s, errors="coerce").to_numpy(dtype="float64")
    empty = (lon_s == "").to_numpy() | (lat_s == "").to_numpy()
    nonnum = ~empty & (np.isnan(lon) | np.isnan(lat))
    x0, y0, x1, y1 = LONDON_BBOX
    in_box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    swapped = ~in_box & (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
    outside = ~empty & ~nonnum & ~in_box & ~swapped
    _set(reason, empty, "missing_coordinates")
    _set(reason, nonnum, "non_numeric_coordinates")
    _set(reason, swapped, "swapped_coordinates")
    _set(reason, outside, "outside_force_area")
    return lon, lat


def _set(reason: np.ndarray, mask: np.ndarray, value: str) -> None:
    """Give rows their first failing reason only."""
    reason[mask & (reason == "")] = value


def _street_frame(reads: list[tuple[SourceFile, str, _Read]]) -> pd.DataFrame:
    frames = []
    for _sf, label, r in reads:
        if r.table is None or r.table.num_rows == 0:
            continue
        df = r.table.to_pandas()
        df.columns = ["crime_id", "month", "reported_by", "falls_within", "lon_raw",
                      "lat_raw", "location", "lsoa_code", "lsoa_name", "crime_type",
                      "outcome", "context"]
        df["source"] = label
        df["line"] = r.lines
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _validate_street(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    reason = np.full(len(df), "", dtype=object)
    month = df["month"].str.strip()
    _set(reason, ~month.str.match(_MONTH_RE).to_numpy(), "bad_month")
    lon, lat = _validate_coords(df, reason)
    types = df["crime_type"].str.strip()
    _set(reason, ~types.isin(CRIME_TYPES).to_numpy(), "unknown_crime_type")
    cid = df["crime_id"].str.strip()
    ok = reason == ""
    dup = np.zeros(len(df), dtype=bool)
    cand = ok & (cid != "").to_numpy()
    key = month.where(cand, None) + "|" + cid
    dup[cand] = key[cand].duplicated(keep="first").to_numpy()
    _set(reason, dup, "duplicate_crime_id")
    out = pd.DataFrame({
        "crime_id": cid.where(cid != "", None),
        "month": month,
        "reported_by": df["reported_by"],
        "falls_within": df["falls_within"],
        "lon": lon,
        "lat": lat,
        "location": df["location"],
        "lsoa_code": df["lsoa_code"],
        "lsoa_name": df["lsoa_name"],
        "crime_type": types,
        "outcome": df["outcome"].where(df["outcome"] != "", None),
        "context": df["context"].where(df["context"] != "", None),
        "synthetic": df["context"].str.contains(SYNTHETIC_MARK, regex=False).to_numpy(),
        "source": df["source"],
        "line": df["line"].astype("int64"),
    })
    return out, reason


def _ss_frame(reads) -> pd.DataFrame:
    frames = []
    for sf, label, r in reads:
        if r.table is None or r.table.num_rows == 0:
            continue
        df = r.table.to_pandas()
        df.columns = ["type", "date", "part_of_operation", "operation", "lat_raw",
                      "lon_raw", "gender", "age_range", "self_defined_ethnicity",
                      "officer_defined_ethnicity", "legislation", "object_of_search",
                      "outcome", "outcome_linked", "outer_clothing_removed"]
        df["source"] = label
        df["line"] = r.lines
        df["file_month"] = sf.month
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _validate_ss(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    reason = np.full(len(df), "", dtype=object)
    when = pd.to_datetime(df["date"].str.strip(), utc=True, errors="coerce",
                          format="ISO8601")
    _set(reason, when.isna().to_numpy(), "bad_datetime")
    lon, lat = _validate_coords(df, reason)
    local = when.dt.tz_convert("Europe/London")
    out = pd.DataFrame({
        "type": df["type"],
        "datetime": when,
        "month": df["file_month"],
        "hour": local.dt.hour.astype("Int8"),
        "weekday": local.dt.day_name(),
        "part_of_operation": df["part_of_operation"].str.lower().map(
            {"true": True, "false": False}),
        "operation": df["operation"].where(df["operation"] != "", None),
        "lon": lon,
        "lat": lat,
        "gender": df["gender"],
        "age_range": df["age_range"],
        "self_defined_ethnicity": df["self_defined_ethnicity"],
        "officer_defined_ethnicity": df["officer_defined_ethnicity"],
        "legislation": df["legislation"],
        "object_of_search": df["object_of_search"],
        "outcome": df["outcome"],
        "outcome_linked": df["outcome_linked"].str.lower().map(
            {"true": True, "false": False}),
        "outer_clothing_removed": df["outer_clothing_removed"].str.lower().map(
            {"true": True, "false": False}),
        "source": df["source"],
        "line": df["line"].astype("int64"),
    })
    return out, reason


# ---------------------------------------------------------------------------
# joins


def _join(df: pd.DataFrame, reason: np.ndarray, wards) -> pd.DataFrame:
    """Ward, borough, BCU and H3 for the rows still accepted, via unique points."""
    ok = np.flatnonzero(reason == "")
    pts = pd.DataFrame({"lon": df["lon"].to_numpy()[ok], "lat": df["lat"].to_numpy()[ok]})
    uniq = pts.drop_duplicates().reset_index(drop=True)
    loc = locate_points(uniq["lon"].to_numpy(), uniq["lat"].to_numpy(), wards)
    for res in H3_RESOLUTIONS:
        loc[f"h3_{res}"] = [
            h3.latlng_to_cell(y, x, res)
            for x, y in zip(uniq["lon"].to_numpy(), uniq["lat"].to_numpy(), strict=True)
        ]
    loc["lon"] = uniq["lon"]
    loc["lat"] = uniq["lat"]
    joined = pts.merge(loc, on=["lon", "lat"], how="left", validate="many_to_one")
    cols = ["ward_code", "ward_name", "borough_code", "borough", "bcu", "method"] + [
        f"h3_{r}" for r in H3_RESOLUTIONS
    ]
    for c in cols:
        vals = np.full(len(df), None, dtype=object)
        vals[ok] = joined[c].to_numpy()
        df[c if c != "method" else "ward_method"] = vals
    outside = ok[joined["method"].to_numpy() == "outside"]
    reason[outside] = "outside_force_area"
    return df


# ---------------------------------------------------------------------------
# the public entry point


def _fingerprint(files: list[SourceFile], root: Path, wards_file: Path) -> str:
    h = hashlib.sha256()
    h.update(f"v{SCHEMA_VERSION}|{__version__}".encode())
    for p in [wards_file] + sorted({f.path for f in files}):
        st = p.stat()
        h.update(f"{p.name}|{st.st_size}|{int(st.st_mtime)}".encode())
    for f in files:
        h.update(f.label(root).encode())
    return h.hexdigest()


def ingest(
    root: Path | str | None = None,
    store: Store | None = None,
    forces: Iterable[str] = ("metropolitan",),
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestResult:
    """Read every police.uk file under ``root`` into ``store``.

    Parameters
    ----------
    root : path, optional
        The data root (default :func:`hotspots.config.data_root`).
    store : Store, optional
        Where to write (default :meth:`Store.open`).
    forces : iterable of str
        police.uk force slugs to keep (``metropolitan``, ``city-of-london``…).
    force : bool
        Rebuild even when the inputs have not changed since the last ingest.
    progress : callable, optional
        ``progress(stage, done, total)`` for a progress bar.

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
            "(expected names like 2022-06-metropolitan-street.csv[.gz] or a .zip archive)"
        )
    wfile = wards_path(root)
    fp = _fingerprint(files, root, wfile)
    if not force and store.exists():
        ledger = store.ledger()
        if ledger.get("fingerprint") == fp:
            return _result_from_ledger(store, ledger, time.perf_counter() - t0)
    wards = load_wards(root)
    reads = {"street": [], "stop_search": []}
    for i, sf in enumerate(files):
        label = sf.label(root)
        reads[sf.kind].append((sf, label, read_source(sf, label)))
        if progress:
            progress("read", i + 1, len(files))
    ledger_files: dict[str, dict] = {}
    quarantine: list[pd.DataFrame] = []
    totals = {}
    for kind, frame_fn, validate, columns in (
        ("street", _street_frame, _validate_street, OFFENCE_COLUMNS),
        ("stop_search", _ss_frame, _validate_ss, STOP_SEARCH_COLUMNS),
    ):
        kind_reads = reads[kind]
        raw = frame_fn(kind_reads)
        if len(raw):
            df, reason = validate(raw)
            df = _join(df, reason, wards)
            if progress:
                progress(f"join {kind}", 1, 1)
        else:
            df, reason = pd.DataFrame(columns=list(columns)), np.empty(0, dtype=object)
        accepted = df[reason == ""].reset_index(drop=True)
        rejected = df[reason != ""]
        q = pd.DataFrame({
            "kind": kind,
            "source": rejected["source"].to_numpy() if len(rejected) else [],
            "line": rejected["line"].to_numpy() if len(rejected) else [],
            "reason": reason[reason != ""],
        })
        q["detail"] = q["reason"].map(_REASON_TEXT)
        q["raw"] = _raw_rows(raw, reason) if len(raw) else []
        extra = [
            (label, line, why, detail, text)
            for _sf, label, r in kind_reads for (line, why, detail, text) in r.bad
        ]
        if extra:
            q = pd.concat([q, pd.DataFrame(
                [(kind, *e) for e in extra],
                columns=["kind", "source", "line", "reason", "detail", "raw"])],
                ignore_index=True)
        quarantine.append(q)
        totals[kind] = _ledger(kind_reads, accepted, q, ledger_files)
        _write_partitioned(store.path / kind_dir(kind), accepted, columns)
    qall = pd.concat(quarantine, ignore_index=True).sort_values(
        ["kind", "source", "line"], kind="stable").reset_index(drop=True)
    qall["line"] = qall["line"].astype("Int64")
    with atomic_file(store.path / "quarantine.parquet", ".parquet") as tmp:
        qall.to_parquet(tmp, index=False)
    with atomic_file(store.path / "quarantine.csv", ".csv") as tmp:
        qall.to_csv(tmp, index=False)
    street = totals["street"]
    ledger = {
        "fingerprint": fp,
        "hotspots_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_root_name": root.name,
        "wards_file": wfile.name,
        "forces": list(forces),
        "h3_resolutions": list(H3_RESOLUTIONS),
        "street": street,
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
    "outside_force_area": "point is outside London (no 2022 ward within 250 m)",
    "unknown_crime_type": "Crime type is not a police.uk category",
    "duplicate_crime_id": "Crime ID already seen in this month (first row kept)",
    "bad_datetime": "Date is missing or not ISO 8601",
}


def _raw_rows(raw: pd.DataFrame, reason: np.ndarray) -> list[str]:
    sub = raw.loc[reason != "", [c for c in raw.columns
                                 if c not in ("source", "line", "file_month")]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    out = []
    for row in sub.itertuples(index=False):
        buf.seek(0)
        buf.truncate()
        w.writerow(row)
        out.append(buf.getvalue().rstrip("\n"))
    return out


def _ledger(kind_reads, accepted: pd.DataFrame, q: pd.DataFrame, files: dict) -> dict:
    acc = accepted.groupby("source").size() if len(accepted) else pd.Series(dtype=int)
    qn = q.groupby("source").size() if len(q) else pd.Series(dtype=int)
    qr = q.groupby(["source", "reason"]).size() if len(q) else pd.Series(dtype=int)
    synth = (accepted.groupby("source")["synthetic"].sum()
             if "synthetic" in accepted.columns and len(accepted) else pd.Series(dtype=int))
    nearest = (accepted[accepted["ward_method"] == "nearest"].groupby("source").size()
               if len(accepted) else pd.Series(dtype=int))
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
                f"quarantined {qq}", path=label)
        files[label] = entry
        tot["rows_in"] += entry["rows_in"]
        tot["accepted"] += a
        tot["quarantined"] += qq
        tot["synthetic_rows"] += entry["synthetic_rows"]
        tot["snapped_to_nearest_ward"] += entry["snapped_to_nearest_ward"]
        by_reason.update(reasons)
    months = sorted(accepted["month"].unique().tolist()) if len(accepted) else []
    coverage = {}
    if "crime_type" in accepted.columns and len(accepted):
        span = accepted.groupby("crime_type")["month"].agg(["min", "max", "size"])
        coverage = {t: {"first": r["min"], "last": r["max"], "rows": int(r["size"])}
                    for t, r in span.iterrows()}
    with_coords = tot["accepted"] + by_reason.get("outside_force_area", 0)
    return {
        **dict(tot),
        "by_reason": dict(sorted(by_reason.items())),
        "months": months,
        "coverage": coverage,
        "files": len(kind_reads),
        "file_errors": {label: r.file_error for _sf, label, r in kind_reads if r.file_error},
        "outside_wards": {
            "rows_with_valid_coordinates": int(with_coords),
            "outside_london_wards": int(by_reason.get("outside_force_area", 0)),
            "snapped_to_nearest_ward": int(tot["snapped_to_nearest_ward"]),
            "share_with_ward": (tot["accepted"] / with_coords) if with_coords else None,
        },
    }


def _write_partitioned(folder: Path, df: pd.DataFrame, columns) -> None:
    with atomic_dir(folder) as tmp:
        if not len(df):
            return
        df = df.sort_values(["month", "source", "line"], kind="stable")
        for month, part in df.groupby("month", sort=True):
            sub = part[[c for c in columns if c != "month"]].reset_index(drop=True)
            table = pa.Table.from_pandas(sub, preserve_index=False)
            table = table.append_column("geometry", pa.array(_geom_for(part), pa.binary()))
            table = table.replace_schema_metadata({
                **(table.schema.metadata or {}),
                b"geo": json.dumps(_GEO_META).encode(),
            })
            out = tmp / f"month={month}"
            out.mkdir()
            pq.write_table(table, out / "part-0.parquet")


def _geom_for(part: pd.DataFrame) -> np.ndarray:
    return shapely.to_wkb(shapely.points(part["lon"].to_numpy(), part["lat"].to_numpy()))


_GEO_META = {
    "version": "1.0.0",
    "primary_column": "geometry",
    "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
}


def _result_from_ledger(store: Store, ledger: dict, seconds: float,
                        fresh: bool = False) -> IngestResult:
    s = ledger["street"]
    ss = ledger["stop_search"]
    warnings = [f"{label}: {err}" for label, err in
                {**s.get("file_errors", {}), **ss.get("file_errors", {})}.items()]
    return IngestResult(
        store=store.path,
        rows_in=s.get("rows_in", 0),
        accepted=s.get("accepted", 0),
        quarantined=s.get("quarantined", 0),
        by_reason=s.get("by_reason", {}),
        months=s.get("months", []),
        files=sorted(ledger["files"]),
        stop_search={k: ss.get(k) for k in ("rows_in", "accepted", "quarantined",
                                            "by_reason", "months")},
        outside_wards=s.get("outside_wards", {}),
        synthetic_rows=s.get("synthetic_rows", 0),
        up_to_date=not fresh,
        seconds=seconds,
        warnings=warnings,
    )
