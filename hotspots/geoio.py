"""Writing cell layers: GeoParquet from WKB with Arrow, GeoJSON through GDAL.

A layer is a table of per-cell values plus the cells' polygons as WKB (from
:meth:`hotspots.grid.Grid.wkb`). Neither path builds Python geometry objects per
row: GeoParquet is written by pyarrow with GeoParquet 1.0 metadata (and the
layer's own metadata as JSON under the ``hotspots`` key), GeoJSON by pyogrio's
Arrow writer. Both writes are atomic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ._arrow import column
from .store import atomic_file

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["META_KEY", "geo_metadata", "write_geojson", "write_geoparquet"]

#: Schema-metadata key of a layer's own metadata (read by ``Store.read_table``).
META_KEY = b"hotspots"


def geo_metadata(geometry_types=("Polygon",), crs: dict | None = None) -> bytes:
    """GeoParquet 1.0 ``geo`` metadata for one WKB column named ``geometry``."""
    column = {"encoding": "WKB", "geometry_types": list(geometry_types)}
    if crs is not None:
        column["crs"] = crs
    return json.dumps({"version": "1.0.0", "primary_column": "geometry",
                       "columns": {"geometry": column}}).encode()


def _table(frame: pd.DataFrame | Mapping, wkb: pa.Array) -> pa.Table:
    """Per-cell values (a DataFrame, or a mapping of column arrays) and polygons."""
    if isinstance(frame, Mapping):
        table = pa.table({c: column(v) for c, v in frame.items()})
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.append_column("geometry", wkb.cast(pa.binary()))


def write_geoparquet(path: Path | str, frame: pd.DataFrame | Mapping, wkb: pa.Array,
                     metadata: dict | None = None) -> Path:
    """Write ``frame`` with WKB polygons as GeoParquet (EPSG:4326), atomically."""
    import pyarrow.parquet as pq

    table = _table(frame, wkb)
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = geo_metadata()
    if metadata is not None:
        meta[META_KEY] = json.dumps(metadata, default=str).encode()
    table = table.replace_schema_metadata(meta)
    # polygons, cell ids and measurements are (nearly) all distinct: a dictionary
    # for them is built and then thrown away, and min/max of polygons tells a
    # reader nothing; together they cost more than half the write
    distinct = {"geometry", "h3"}
    coded = [f.name for f in table.schema if f.name not in distinct
             and not pa.types.is_floating(f.type)]
    with atomic_file(path, ".parquet") as tmp:
        pq.write_table(table, tmp, use_dictionary=coded,
                       write_statistics=[n for n in table.schema.names
                                         if n != "geometry"])
    return Path(path)


def write_geojson(path: Path | str, frame: pd.DataFrame | Mapping, wkb: pa.Array,
                  precision: int = 6, metadata: Mapping | None = None) -> Path:
    """Write ``frame`` with WKB polygons as GeoJSON (EPSG:4326), atomically;
    ``metadata`` (what produced it) as the collection's ``metadata`` member."""
    import pyogrio

    from .provenance import json_value

    table = _table(frame, wkb)
    extra = {}
    if metadata:  # GDAL writes a JSON object's members at the collection level
        extra = {"NATIVE_DATA": json.dumps({"metadata": json_value(dict(metadata))},
                                           allow_nan=False),
                 "NATIVE_MEDIA_TYPE": "application/vnd.geo+json"}
    with atomic_file(path, ".geojson") as tmp:
        tmp.unlink()
        pyogrio.write_arrow(table, tmp, driver="GeoJSON", geometry_name="geometry",
                            geometry_type="Polygon", crs="EPSG:4326",
                            layer=Path(path).stem,
                            COORDINATE_PRECISION=int(precision), **extra)
    return Path(path)
