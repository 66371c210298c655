"""The store: ingested offences, stop-and-search records, quarantine and outputs.

Layout under :func:`hotspots.config.store_root`::

    offences/month=YYYY-MM/part-0.parquet     accepted street rows (GeoParquet)
    stop_search/month=YYYY-MM/part-0.parquet  accepted stop-and-search rows
    quarantine.parquet, quarantine.csv        rejected rows: source, line, reason, raw
    ledger.json                               per file: rows_in = accepted + quarantined
    tables/<name>.parquet                     analysis outputs, metadata in the file

Every write goes to a temporary path beside its target and is moved into place with
an atomic rename, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .config import crime_types_for, store_root
from .errors import StoreError

__all__ = [
    "OFFENCE_COLUMNS",
    "STOP_SEARCH_COLUMNS",
    "Store",
    "atomic_dir",
    "atomic_file",
    "write_json_atomic",
]

#: Columns of the stored offences, in order.
OFFENCE_COLUMNS: tuple[str, ...] = (
    "crime_id",
    "month",
    "reported_by",
    "falls_within",
    "lon",
    "lat",
    "location",
    "lsoa_code",
    "lsoa_name",
    "crime_type",
    "outcome",
    "context",
    "synthetic",
    "source",
    "line",
    "ward_code",
    "ward_name",
    "borough_code",
    "borough",
    "bcu",
    "ward_method",
    "h3_8",
    "h3_9",
    "h3_10",
)
#: Columns of the stored stop-and-search records, in order.
STOP_SEARCH_COLUMNS: tuple[str, ...] = (
    "type",
    "datetime",
    "month",
    "hour",
    "weekday",
    "part_of_operation",
    "operation",
    "lon",
    "lat",
    "gender",
    "age_range",
    "self_defined_ethnicity",
    "officer_defined_ethnicity",
    "legislation",
    "object_of_search",
    "outcome",
    "outcome_linked",
    "outer_clothing_removed",
    "source",
    "line",
    "ward_code",
    "ward_name",
    "borough_code",
    "borough",
    "bcu",
    "ward_method",
    "h3_8",
    "h3_9",
    "h3_10",
)
_META_KEY = b"hotspots"


@contextlib.contextmanager
def atomic_file(target: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path; on success move it over ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a temporary folder; on success swap it in for ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json_atomic(path: Path | str, obj) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_file(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    return Path(path)


@dataclass(frozen=True)
class Store:
    """A handle on the store folder. Cheap to make; reads on demand."""

    path: Path

    @classmethod
    def open(cls, path: Path | str | None = None) -> Store:
        """The store at ``path`` (default :func:`hotspots.config.store_root`)."""
        return cls(Path(path) if path is not None else store_root())

    # -- what is there -------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        return self.path / "ledger.json"

    def exists(self) -> bool:
        """True when an ingest has written offences and a ledger here."""
        return self.ledger_path.is_file() and (self.path / "offences").is_dir()

    def ledger(self) -> dict:
        """The ingest ledger (raises :class:`StoreError` before any ingest)."""
        self._require()
        return json.loads(self.ledger_path.read_text())

    def months(self, kind: str = "offences") -> list[str]:
        """Months present in the store, sorted."""
        self._require()
        folder = self.path / kind
        return sorted(
            p.name.split("=", 1)[1] for p in folder.glob("month=*") if p.is_dir()
        )

    def _require(self) -> None:
        if not self.exists():
            raise StoreError(
                f"no ingested data in the store {self.path}; "
                "run 'hotspots ingest' first"
            )

    # -- reading -------------------------------------------------------------
    def offences(
        self,
        area=None,
        crime: str | Sequence[str] = "everything",
        start: str | None = None,
        end: str | None = None,
        columns: Sequence[str] | None = None,
        geometry: bool = False,
    ) -> pd.DataFrame:
        """Accepted offences, filtered.

        Parameters
        ----------
        area : Area or str, optional
            Keep offences in this area's 2022 wards (a name is resolved with
            :func:`hotspots.areas.resolve_area`).
        crime : str or sequence of str
            A family (``robbery``, ``vehicle``, ``asb``, ``all``…) or police.uk
            type(s).
        start, end : str, optional
            Inclusive ``YYYY-MM`` bounds.
        columns : sequence of str, optional
            Columns to read (default: all but the geometry).
        geometry : bool
            Return a GeoDataFrame of points (EPSG:4326).
        """
        return self._read(
            "offences",
            OFFENCE_COLUMNS,
            area,
            start,
            end,
            columns,
            geometry,
            crime=crime,
        )

    def stop_search(
        self, area=None, start=None, end=None, columns=None, geometry: bool = False
    ) -> pd.DataFrame:
        """Accepted stop-and-search records, filtered like :meth:`offences`."""
        return self._read(
            "stop_search", STOP_SEARCH_COLUMNS, area, start, end, columns, geometry
        )

    def _read(
        self, kind, all_columns, area, start, end, columns, geometry, crime=None
    ) -> pd.DataFrame:
        self._require()
        folder = self.path / kind
        if not any(folder.glob("month=*")):
            cols = list(columns or all_columns)
            return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
        dataset = ds.dataset(folder, format="parquet", partitioning="hive")
        expr = None

        def _and(e):
            nonlocal expr
            expr = e if expr is None else expr & e

        if start is not None:
            _and(ds.field("month") >= start)
        if end is not None:
            _and(ds.field("month") <= end)
        if crime is not None:
            types = _crime_types(crime)
            if set(types) != set(crime_types_for("everything")):
                _and(ds.field("crime_type").isin(list(types)))
        if area is not None:
            from .areas import Area, resolve_area

            area = area if isinstance(area, Area) else resolve_area(area)
            if area.code == "LONDON":  # every ward, the City's included
                _and(ds.field("ward_code").is_valid())
            else:
                _and(ds.field("ward_code").isin(list(area.ward_codes)))
        cols = list(columns or all_columns)
        read_cols = cols + (["geometry"] if geometry and "geometry" not in cols else [])
        table = dataset.to_table(columns=read_cols, filter=expr)
        df = table.to_pandas()
        if "month" in df.columns:
            df["month"] = df["month"].astype(str)
        if geometry:
            df["geometry"] = gpd.GeoSeries.from_wkb(df["geometry"], crs=4326)
            return gpd.GeoDataFrame(df, geometry="geometry", crs=4326)
        return df

    # -- analysis outputs ------------------------------------------------------
    def table_path(self, name: str) -> Path:
        return self.path / "tables" / f"{name}.parquet"

    def write_table(self, name: str, frame: pd.DataFrame, metadata: dict) -> Path:
        """Write an output table with its metadata, atomically.

        A GeoDataFrame becomes GeoParquet; the metadata dict is stored as JSON
        under the ``hotspots`` key of the Parquet schema metadata.
        """
        target = self.table_path(name)
        if isinstance(frame, gpd.GeoDataFrame):
            table = _geo_table(frame)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps(metadata, default=str).encode()
        table = table.replace_schema_metadata(meta)
        with atomic_file(target, ".parquet") as tmp:
            pq.write_table(table, tmp)
        return target

    def read_table(self, name: str) -> tuple[pd.DataFrame, dict]:
        """Read an output table and its metadata."""
        path = self.table_path(name)
        if not path.is_file():
            raise StoreError(f"no table {name!r} in the store {self.path}")
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
        if b"geo" in (table.schema.metadata or {}):
            return gpd.read_parquet(path), meta
        return table.to_pandas(), meta


def _geo_table(frame: gpd.GeoDataFrame) -> pa.Table:
    """A GeoDataFrame as an Arrow table with GeoParquet 1.0 metadata (WKB)."""
    geom_col = frame.geometry.name
    table = pa.Table.from_pandas(frame.to_wkb(), preserve_index=False)
    types = sorted(set(frame.geometry.geom_type.dropna()))
    column = {"encoding": "WKB", "geometry_types": types}
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        column["crs"] = frame.crs.to_json_dict()
    geo = {"version": "1.0.0", "primary_column": geom_col,
           "columns": {geom_col: column}}
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode()
    return table.replace_schema_metadata(meta)


def _crime_types(crime) -> tuple[str, ...]:
    if isinstance(crime, str):
        return crime_types_for(crime)
    out: list[str] = []
    for c in crime:
        out.extend(crime_types_for(c))
    return tuple(dict.fromkeys(out))
