"""Areas: the 2022 London wards, boroughs and Met BCUs, and point-in-ward joins.

``resolve_area`` turns what a user types after ``--area`` (``London``, a BCU code or
name, a borough, a 2022 ward name or GSS code) into an immutable :class:`Area`.
``locate_points`` gives each (unique) point exactly one 2022 ward.

The boundaries come from the data root: ``boundaries/london_wards_2022.gpkg`` (ONS
Wards December 2022, BGC, London), or the ONS download that ``hotspots fetch`` puts
in the cache (see ``geodata/wards/sources.toml``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import shapely

from ._arrow import numbers
from ._files import keep_cache_file
from .config import BCUS, BOROUGH_BCU, cache_dir, data_root
from .errors import AreaNotFound, DataNotFound, ParameterError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "AREA_KINDS",
    "BNG",
    "Area",
    "area_names",
    "bng_xy",
    "load_boroughs",
    "load_wards",
    "locate_points",
    "resolve_area",
    "ward_areas_km2",
    "wards_path",
    "with_neighbours",
]

#: British National Grid, the metric CRS used for distances and areas.
BNG = "EPSG:27700"
AREA_KINDS = ("london", "bcu", "borough", "ward")
#: A point this far (metres) outside every ward is outside the force area.
MAX_SNAP_M = 250.0

_WARD_FILES = ("boundaries/london_wards_2022.gpkg", "wards/london_wards_2022.gpkg")


@dataclass(frozen=True)
class Area:
    """A study area: London, a BCU, a borough or a 2022 ward.

    Attributes
    ----------
    kind : {'london', 'bcu', 'borough', 'ward'}
    code : str
        ``LONDON``, the BCU code (``SW``), the borough's LAD22CD or the ward's WD22CD.
    name : str
        Display name (``South West BCU``, ``Merton``, ``Abbey (Merton)``).
    boroughs : tuple of str
        Borough names the area lies in.
    ward_codes : tuple of str
        The 2022 wards (WD22CD) making up the area.
    geometry : shapely geometry
        The area's outline in EPSG:4326.
    """

    kind: str
    code: str
    name: str
    boroughs: tuple[str, ...]
    ward_codes: tuple[str, ...]
    geometry: object = field(repr=False, compare=False)

    @property
    def slug(self) -> str:
        """A file-name-safe label, e.g. ``borough-merton``."""
        return f"{self.kind}-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip(
            "-"
        )

    def to_dict(self) -> dict:
        """The area as plain JSON-ready values (no geometry)."""
        return {
            "kind": self.kind,
            "code": self.code,
            "name": self.name,
            "boroughs": list(self.boroughs),
            "n_wards": len(self.ward_codes),
        }


def wards_path(root: Path | None = None) -> Path:
    """The 2022 ward boundary file in the data root (or the fetch cache)."""
    root = Path(root) if root is not None else data_root()
    for rel in _WARD_FILES:
        if (root / rel).is_file():
            return root / rel
    raise DataNotFound(
        f"no 2022 ward boundaries under {root} (looked for {', '.join(_WARD_FILES)}); "
        "run 'hotspots fetch' or set HOTSPOTS_DATA"
    )


#: Bump when what :func:`_read_wards` makes of a boundary file changes.
_BOUNDARY_CACHE_VERSION = 1


def _boundary_cache(path: str) -> Path:
    """Where the wards read from one boundary file (by its content: an edit that
    keeps its size and modification time is another file) and the outlines made
    from them are kept between processes. Hashing the file takes about a
    millisecond (London's wards: 0.7 MB)."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    key = hashlib.sha1(f"{digest}|{_BOUNDARY_CACHE_VERSION}|"
                       f"{sorted(BOROUGH_BCU.items())}".encode()).hexdigest()[:16]
    return cache_dir() / "boundaries" / key


@lru_cache(maxsize=4)
def _read_wards(path: str) -> gpd.GeoDataFrame:
    """The wards of a boundary file; a fresh process reads them from the
    boundary cache (GeoParquet) rather than parsing the GeoPackage again."""
    import geopandas as gpd

    cached = _boundary_cache(path) / "wards.parquet"
    if cached.is_file():
        try:
            return gpd.read_parquet(cached)
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
    wards = _parse_wards(path)
    keep_cache_file(cached, lambda tmp: wards.to_parquet(tmp, index=False))
    return wards


@lru_cache(maxsize=4)
def _ward_attrs(path: str) -> pa.Table:
    """The wards' codes, names, boroughs, BCUs and areas, without outlines (what
    naming an area needs; an Arrow table read without decoding 700 polygons, or
    importing pandas, when cached)."""
    cached = _boundary_cache(path) / "wards.parquet"
    if cached.is_file():
        try:
            import pyarrow.parquet as pq

            names = [c for c in pq.read_schema(cached).names if c != "geometry"]
            return pq.ParquetFile(cached).read(columns=names).replace_schema_metadata()
        except (OSError, ValueError):
            pass
    attrs = _read_wards(path).drop(columns="geometry")
    return pa.Table.from_pandas(attrs, preserve_index=False).replace_schema_metadata()


def _column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def _where(table: pa.Table, keep) -> pa.Table:
    return table.filter(numbers(np.asarray(list(keep), dtype=bool)))


def ward_areas_km2(codes, root: Path | None = None) -> float:
    """Land area (km²) of the 2022 wards ``codes``."""
    attrs = _ward_attrs(str(wards_path(root)))
    want = set(codes)
    return float(sum(a for c, a in zip(_column(attrs, "ward_code"),
                                       _column(attrs, "area_km2"), strict=True)
                     if c in want and a is not None))


def _parse_wards(path: str) -> gpd.GeoDataFrame:
    import geopandas as gpd

    raw = gpd.read_file(path)
    rename = {
        "WD22CD": "ward_code",
        "WD22NM": "ward_name",
        "LAD22CD": "borough_code",
        "LAD22NM": "borough",
    }
    missing = [c for c in rename if c not in raw.columns]
    if missing:
        raise DataNotFound(f"{path}: ward file lacks columns {missing}")
    wards = raw.rename(columns=rename)
    wards = wards[wards["borough_code"].str.startswith("E09")].copy()
    wards["bcu"] = wards["borough"].map(BOROUGH_BCU)
    if wards.crs is None or wards.crs.to_epsg() != 4326:
        wards = wards.to_crs(4326)
    if "area_km2" not in wards.columns:
        wards["area_km2"] = wards.to_crs(BNG).area / 1e6
    wards = wards.sort_values("ward_code").reset_index(drop=True)
    cols = [
        "ward_code",
        "ward_name",
        "borough_code",
        "borough",
        "bcu",
        "area_km2",
        "geometry",
    ]
    return wards[cols]


def load_wards(root: Path | None = None) -> gpd.GeoDataFrame:
    """The 2022 London wards, sorted by code.

    Returns
    -------
    geopandas.GeoDataFrame
        ``ward_code, ward_name, borough_code, borough, bcu, area_km2, geometry``
        in EPSG:4326 (a fresh copy; change it freely).
    """
    return _read_wards(str(wards_path(root))).copy()


def load_boroughs(root: Path | None = None) -> gpd.GeoDataFrame:
    """The 33 London boroughs (City included), dissolved from the 2022 wards."""
    wards = load_wards(root)
    out = wards.dissolve(
        by=["borough_code", "borough"], as_index=False, aggfunc="first"
    )
    n = wards.groupby("borough_code").size()
    out["n_wards"] = out["borough_code"].map(n).astype(int)
    out["area_km2"] = out["borough_code"].map(
        wards.groupby("borough_code")["area_km2"].sum()
    )
    return out[["borough_code", "borough", "bcu", "n_wards", "area_km2", "geometry"]]


def _norm(text: str) -> str:
    text = text.lower().replace("&", "and").replace("’", "'")
    return re.sub(r"[^a-z0-9']+", " ", text).strip()


def area_names(root: Path | None = None) -> list[str]:
    """Every value ``--area`` accepts by name (for completion and the app)."""
    wards = load_wards(root)
    names = ["London"] + [f"{c} ({n})" for c, (n, _) in BCUS.items()]
    names += sorted(wards["borough"].unique())
    names += [
        f"{w} ({b})" for w, b in zip(wards["ward_name"], wards["borough"], strict=True)
    ]
    return names


def resolve_area(text: str, root: Path | None = None) -> Area:
    """Turn an ``--area`` value into an :class:`Area`.

    Accepts ``London`` (all 33 boroughs, the City included), ``MPS`` (the Met's
    32 boroughs); a BCU code or name (``SW``, ``South West``, ``South West
    BCU``); a borough (``Merton``, ``kingston upon thames``, or a unique prefix such
    as ``Kingston``); a 2022 ward code (``E05013810``) or name (``Figge's Marsh``),
    with the borough to tell apart names used twice (``Abbey, Merton`` or
    ``Abbey (Merton)``).

    Raises
    ------
    AreaNotFound
        With the closest valid names when nothing matches, or the candidates when a
        ward name is ambiguous.
    """
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(
            f"'area' needs a non-empty name. {text!r} was given instead."
        )
    path = wards_path(root)
    st = path.stat()  # a rewritten boundary file is resolved afresh
    return _resolve(text, str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _resolve(text: str, path: str, _mtime_ns: int, _size: int) -> Area:
    """:func:`resolve_area` on one boundary file (Areas are immutable: kept)."""
    wards = _ward_attrs(path)
    key = _norm(text)

    def _make(kind, code, name, rows):  # outlines of many wards are kept on disk
        return _area(kind, code, name, rows, path, _boundary_cache(path))

    if key in ("london", "greater london"):
        return _make("london", "LONDON", "London", wards)
    bcu = _column(wards, "bcu")
    borough = _column(wards, "borough")
    if key in ("met", "mps", "metropolitan police", "london (met)"):
        mp = _where(wards, (b is not None for b in bcu))
        return _make("london", "MPS", "London (Met)", mp)
    for code, (name, _) in BCUS.items():
        if key in (
            code.lower(),
            _norm(name),
            _norm(name) + " bcu",
            code.lower() + " bcu",
        ):
            return _make("bcu", code, f"{name} BCU",
                         _where(wards, (b == code for b in bcu)))
    boroughs = {_norm(b): b for b in dict.fromkeys(borough)}

    def _borough(b):
        sub = _where(wards, (x == b for x in borough))
        return _make("borough", _column(sub, "borough_code")[0], b, sub)

    if key in boroughs:
        return _borough(boroughs[key])
    code_hit = _where(wards, (c.lower() == key.replace(" ", "")
                              for c in _column(wards, "ward_code")))
    if code_hit.num_rows == 1:
        return _ward(code_hit, path)
    def _named(ward_key, borough_key=None):
        return _where(wards, (
            _norm(w) == ward_key and (borough_key is None
                                      or _norm(b).startswith(borough_key))
            for w, b in zip(_column(wards, "ward_name"), borough, strict=True)))

    # the whole text as a ward name first: some hold a comma themselves ("Ham,
    # Petersham & Richmond Riverside"); then "name, borough" split at the last
    hit = _named(key)
    m = re.match(r"^(.*)\s*(?:,|\()\s*(.*?)\)?\s*$", text.strip())
    if not hit.num_rows and m and m.group(2):
        hit = _named(_norm(m.group(1)), _norm(m.group(2)))
    if hit.num_rows == 1:
        return _ward(hit, path)
    if hit.num_rows > 1:
        options = sorted(
            f"{w}, {b}" for w, b in zip(_column(hit, "ward_name"),
                                        _column(hit, "borough"), strict=True)
        )
        raise AreaNotFound(
            f"ward name {text!r} is used in more than one borough; say which: "
            + "; ".join(options)
        )
    prefix = [b for k, b in boroughs.items() if k.startswith(key)]
    if len(prefix) == 1:
        return _borough(prefix[0])
    raise AreaNotFound(_not_found_message(text, wards))


def _not_found_message(text: str, wards: pa.Table) -> str:
    import difflib

    pool = (
        ["London"]
        + list(BCUS)
        + [n for n, _ in BCUS.values()]
        + sorted(set(_column(wards, "borough")))
        + sorted(set(_column(wards, "ward_name")))
    )
    close = difflib.get_close_matches(text, pool, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"'area' needs to be London, a BCU ({', '.join(BCUS)}), a London borough or a "
        f"2022 ward name or code. {text!r} was given instead.{hint}"
    )


def _ward(rows: pa.Table, path: str) -> Area:
    r = rows.slice(0, 1).to_pylist()[0]
    return _area("ward", r["ward_code"], f"{r['ward_name']} ({r['borough']})", rows,
                 path)


def _area(kind: str, code: str, name: str, rows: pa.Table, path: str,
          cache: Path | None = None) -> Area:
    """An Area of ``rows``' wards (of the boundary file ``path``); the union of
    many wards' outlines (London's takes a tenth of a second) is kept in
    ``cache`` as WKB."""
    keep = cache / f"outline-{kind}-{code}.wkb" if cache is not None else None
    geom = None
    if keep is not None and keep.is_file():
        try:
            geom = shapely.from_wkb(keep.read_bytes())
        except (OSError, shapely.errors.GEOSException):
            geom = None
    if geom is None:
        wards = _read_wards(path)
        mine = wards["ward_code"].isin(_column(rows, "ward_code")).to_numpy()
        geom = shapely.union_all(wards.geometry.values[mine])
        if keep is not None:
            data = shapely.to_wkb(geom)
            keep_cache_file(keep, lambda tmp: Path(tmp).write_bytes(data))
    return Area(
        kind=kind,
        code=code,
        name=name,
        boroughs=tuple(sorted(set(_column(rows, "borough")))),
        ward_codes=tuple(sorted(_column(rows, "ward_code"))),
        geometry=geom,
    )


def with_neighbours(area: Area, wards: gpd.GeoDataFrame | None = None,
                    metres: float = 50.0) -> Area:
    """``area`` plus every 2022 ward within ``metres`` of it (a map's or a ward
    view's context: wards on the edge keep their real neighbours)."""
    wards = load_wards() if wards is None else wards
    bng = wards.to_crs(BNG)
    inside = bng["ward_code"].isin(area.ward_codes)
    edge = shapely.union_all(bng.geometry[inside].values).buffer(metres)
    near = inside | bng.intersects(edge)
    rows = wards[near.to_numpy()]
    return Area(
        kind=area.kind,
        code=area.code,
        name=f"{area.name} and neighbouring wards",
        boroughs=tuple(sorted(rows["borough"].unique())),
        ward_codes=tuple(sorted(rows["ward_code"])),
        geometry=shapely.union_all(rows.geometry.values),
    )


def bng_xy(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """British National Grid ``x, y`` (metres) of WGS84 longitudes and latitudes."""
    import geopandas as gpd

    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(BNG)
    return pts.x.to_numpy(), pts.y.to_numpy()


def locate_points(
    lon: np.ndarray,
    lat: np.ndarray,
    wards: gpd.GeoDataFrame | None = None,
    max_snap_m: float = MAX_SNAP_M,
) -> pd.DataFrame:
    """Give each point exactly one 2022 ward.

    Pass unique points (police.uk rows share anonymous map points): the cost is per
    point, not per offence.

    A point inside (or on the edge of) several wards, as on a shared boundary, goes
    to the lowest ward code, so the answer never depends on the order of the input.
    A point in no ward but within ``max_snap_m`` metres of one (generalised
    boundaries cut corners along the Thames) goes to the nearest ward and is marked
    ``method='nearest'``; a point further out gets no ward (``method='outside'``).

    Returns
    -------
    pandas.DataFrame
        One row per input point, in input order: ``ward_code, ward_name,
        borough_code, borough, bcu, method``.
    """
    wards = load_wards() if wards is None else wards
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    pts = shapely.points(lon, lat)
    tree = shapely.STRtree(wards.geometry.values)
    pi, wi = tree.query(pts, predicate="intersects")
    # lowest ward code per point (wards are sorted by code, so lowest index)
    best = np.full(len(pts), -1, dtype=np.int64)
    if len(pi):
        order = np.lexsort((wi, pi))
        pi_s, wi_s = pi[order], wi[order]
        first = np.r_[True, pi_s[1:] != pi_s[:-1]]
        best[pi_s[first]] = wi_s[first]
    method = np.where(best >= 0, "within", "outside").astype(object)
    miss = np.flatnonzero(best < 0)
    if len(miss):
        import geopandas as gpd

        wards_bng = wards.to_crs(BNG)
        miss_pts = gpd.GeoSeries(pts[miss], crs=4326).to_crs(BNG).values
        tree_bng = shapely.STRtree(wards_bng.geometry.values)
        idx, dist = tree_bng.query_nearest(
            miss_pts, max_distance=max_snap_m, return_distance=True, all_matches=True
        )
        if len(idx[0]):
            order = np.lexsort((idx[1], dist, idx[0]))
            a, b = idx[0][order], idx[1][order]
            first = np.r_[True, a[1:] != a[:-1]]
            best[miss[a[first]]] = b[first]
            method[miss[a[first]]] = "nearest"
    import pandas as pd

    out = pd.DataFrame({"ward_index": best})
    ok = best >= 0
    for col in ("ward_code", "ward_name", "borough_code", "borough", "bcu"):
        vals = np.full(len(pts), None, dtype=object)
        vals[ok] = wards[col].to_numpy()[best[ok]]
        out[col] = vals
    out["method"] = method
    return out.drop(columns="ward_index")
