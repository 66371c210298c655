"""Street names for maps and search, offline: from the police.uk map points themselves.

police.uk snaps every offence to one of a fixed set of anonymous map points, and
names each point after the street (or kind of place) it stands on: "On or near
Mitcham Road", "On or near Supermarket". Those names are enough to label a printed
map with the streets an officer walks, with no tiles, no road file and no network:

1. **Points.** Every distinct (name, map point) in the store, with the offences
   recorded there (real rows only: semi-synthetic rows sit on real points, so their
   points are kept, but they are not counted). "On or near" with no name is
   dropped. The kinds of place police.uk names instead of a street
   (:data:`PLACE_NAMES`: "Parking Area", "Supermarket", …) are kept as ``place``
   points; everything else is a ``street``.
2. **Streets.** The points of one name are split into streets by distance: points
   closer than :data:`GAP_M` (single linkage, British National Grid metres) are one
   street, so the many "Church Road"s of London stay apart. A place is one label per
   cluster of points within :data:`PLACE_GAP_M` (one supermarket, one car park).
3. **Labels.** Each street gets one label at the *medoid* of its points (the point
   with the least summed distance to the others: always a real point on the
   street, never a centroid in someone's garden), with its point and offence
   counts and the extent of its points. For a map, labels are worked out again from
   the points inside the map's box, so a long road crossing the map is labelled on
   the map even when the middle of the whole road lies off it.

No street lines are drawn from the points: police.uk has a few points per street,
and lines joining them read as noise on paper. The printed maps turn each label
along its street instead (the main direction of its points).

The London-wide point table is cached per store fingerprint (on disk under
``<store>/cache/streetnames`` and in memory), so a map or a search costs a filter.

When OS Open Roads is present (``hotspots fetch --what roads``), :func:`load_roads`
reads its road links for a box; the printed maps then draw real road lines and
names (:mod:`hotspots.report._pdf`).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .areas import BNG, Area, bng_xy, resolve_area
from .config import cache_dir, data_root
from .errors import ParameterError
from .plan.streets import apostrophe_s
from .store import Store

__all__ = [
    "GAP_M",
    "LABEL_COLUMNS",
    "PLACE_GAP_M",
    "PLACE_NAMES",
    "ROADS_FILE",
    "load_roads",
    "pretty_name",
    "roads_path",
    "street_labels",
    "street_points",
]

#: Points of one street name further apart than this (metres) are different streets.
GAP_M = 600.0
#: Points of one kind of place closer than this (metres) are one place.
PLACE_GAP_M = 80.0
#: What police.uk writes instead of a street name at some map points (any name
#: with a "/" is one of these too).
PLACE_NAMES = frozenset({
    "Airport/Airfield", "Bus/Coach Station", "Conference/Exhibition Centre",
    "Ferry Terminal", "Further/Higher Educational Building", "Hospital",
    "Motorway Service Area", "Nightclub", "Park/Open Space", "Parking Area",
    "Pedestrian Subway", "Petrol Station", "Police Station", "Prison",
    "Race Track", "Shopping Area", "Sports/Recreation Area", "Supermarket",
    "Theatre/Concert Hall", "Theme/Adventure Park",
})
#: Columns of a label frame (:func:`street_labels`).
LABEL_COLUMNS = ("name", "kind", "x", "y", "lon", "lat", "points", "offences",
                 "ward_code", "minx", "miny", "maxx", "maxy", "group")
#: The clipped OS Open Roads file ``hotspots fetch --what roads`` writes.
ROADS_FILE = "roads/os_open_roads_london.gpkg"
_KEY = {"gap_m": GAP_M, "place_gap_m": PLACE_GAP_M, "version": 1}
#: One build at a time (the app's threads would otherwise each build the table).
_BUILD = threading.Lock()
_PREFIX = "On or near"


def pretty_name(location) -> str | None:
    """The street (or place) name of a police.uk ``Location``; None without one.

    police.uk writes names in title case with a capital after an apostrophe
    ("Queen'S Road"); that is undone.

    Examples
    --------
    >>> pretty_name("On or near Queen'S Road")
    "Queen's Road"
    >>> pretty_name("On or near Supermarket")
    'Supermarket'
    >>> pretty_name("On or near") is None, pretty_name(None) is None
    (True, True)
    """
    if location is None or (not isinstance(location, str) and pd.isna(location)):
        return None
    text = str(location).strip()
    if text.startswith(_PREFIX):
        text = text[len(_PREFIX):].strip()
    if not text:
        return None
    return apostrophe_s(text)


def _kind(name: str) -> str:
    return "place" if name in PLACE_NAMES or "/" in name else "street"


# -- 1. points ------------------------------------------------------------------------
def street_points(store: Store | None = None) -> pd.DataFrame:
    """Every named police.uk map point of the store, with its street group.

    Returns
    -------
    DataFrame
        ``name, kind, lon, lat, x, y, offences, ward_code, group``: one row per
        (name, map point); ``x, y`` in British National Grid metres; ``offences``
        the real (not semi-synthetic) offences of every type and month recorded
        there; ``group`` the street (or place) the point belongs to. Cached per
        store fingerprint: treat it as read-only.
    """
    store = store or Store.open()
    return _cached_points(str(store.path), _fingerprint(store))


def _fingerprint(store: Store) -> str:
    from .cache import ViewCache

    return ViewCache(store, disk=False).fingerprint()


@lru_cache(maxsize=4)
def _cached_points(path: str, fingerprint: str) -> pd.DataFrame:
    from .cache import ViewCache

    store = Store.open(path)
    with _BUILD:
        frame, _ = ViewCache(store, memory_items=1).frame(
            "streetnames", _KEY, lambda: (_build_points(store), dict(_KEY)))
    return frame


def _build_points(store: Store) -> pd.DataFrame:
    df = store.offences(columns=["location", "lon", "lat", "ward_code", "synthetic"])
    df = df[df["ward_code"].notna() & df["lon"].notna() & df["lat"].notna()]
    real = (~df["synthetic"].fillna(False).astype(bool)).astype("int64")
    pts = (df.assign(real=real.to_numpy())
           .groupby(["location", "lon", "lat"], observed=True, sort=True)
           .agg(offences=("real", "sum"), ward_code=("ward_code", "first"))
           .reset_index())
    names = pts["location"].map(pretty_name)
    pts = pts.assign(name=names)[names.notna().to_numpy()].reset_index(drop=True)
    pts["kind"] = pts["name"].map(_kind)
    pts["x"], pts["y"] = bng_xy(pts["lon"], pts["lat"])
    pts["group"] = _groups(pts)
    cols = ["name", "kind", "lon", "lat", "x", "y", "offences", "ward_code", "group"]
    out = pts[cols].copy()
    out["offences"] = out["offences"].astype("int64")
    return out


def _groups(pts: pd.DataFrame) -> np.ndarray:
    """Street (or place) ids: single-linkage clusters of each name's points."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(pts)
    if not n:
        return np.zeros(0, dtype="int64")
    name_id = pd.factorize(pts["name"], sort=True)[0].astype("float64")
    gap = np.where(pts["kind"].to_numpy() == "place", PLACE_GAP_M, GAP_M)
    rows, cols = [], []
    # names far apart in a made-up coordinate never link: one tree for all names
    offset = 1e7 * name_id
    for g in np.unique(gap):
        sel = np.flatnonzero(gap == g)
        tree = cKDTree(np.column_stack([pts["x"].to_numpy()[sel] + offset[sel],
                                        pts["y"].to_numpy()[sel]]))
        pairs = tree.query_pairs(float(g), output_type="ndarray")
        rows.append(sel[pairs[:, 0]])
        cols.append(sel[pairs[:, 1]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # number the groups by (name, first point) so ids never depend on row order
    first = pd.Series(np.arange(n)).groupby(labels).transform("min").to_numpy()
    return pd.factorize(first, sort=True)[0].astype("int64")


# -- 2. labels ------------------------------------------------------------------------
def street_labels(
    area: Area | str | None = None,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    kinds: tuple[str, ...] = ("street",),
    store: Store | None = None,
) -> pd.DataFrame:
    """One label per street (or place) of an area or a map box, busiest first.

    Parameters
    ----------
    area : Area or str, optional
        Keep the points in this area's 2022 wards (default: all of London).
    bounds : (minx, miny, maxx, maxy), optional
        Keep the points inside this British National Grid box (a map's extent).
    kinds : tuple of {'street', 'place'}
        Which labels to return.
    store : Store, optional

    Returns
    -------
    DataFrame
        :data:`LABEL_COLUMNS`: ``name, kind``; ``x, y`` (BNG metres) and ``lon,
        lat`` of the medoid of the street's points inside the area or box;
        ``points`` and ``offences`` there; ``ward_code`` of the medoid point;
        ``minx, miny, maxx, maxy`` the extent of those points (BNG); ``group``.
        Sorted by offences, then points, then name.
    """
    for k in kinds:
        if k not in ("street", "place"):
            raise ParameterError(
                f"'kinds' needs to hold 'street' or 'place'. {k!r} was given instead.")
    store = store or Store.open()
    if area is None and bounds is None:
        labels = _cached_labels(str(store.path), _fingerprint(store))
        return labels[labels["kind"].isin(kinds)].reset_index(drop=True)
    pts = street_points(store)
    pts = pts[pts["kind"].isin(kinds)]
    if area is not None:
        area = area if isinstance(area, Area) else resolve_area(area)
        if area.code != "LONDON":
            pts = pts[pts["ward_code"].isin(area.ward_codes)]
    if bounds is not None:
        x0, y0, x1, y1 = (float(v) for v in bounds)
        pts = pts[pts["x"].between(x0, x1) & pts["y"].between(y0, y1)]
    return _labels(pts)


@lru_cache(maxsize=4)
def _cached_labels(path: str, fingerprint: str) -> pd.DataFrame:
    from .cache import ViewCache

    store = Store.open(path)
    points = _cached_points(path, fingerprint)
    with _BUILD:
        frame, _ = ViewCache(store, memory_items=1).frame(
            "streetlabels", _KEY, lambda: (_labels(points), dict(_KEY)))
    return frame


def _labels(pts: pd.DataFrame) -> pd.DataFrame:
    """Medoid, counts and extent of each group of ``pts``."""
    if pts.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in
                                          ("x", "y", "lon", "lat", "minx", "miny",
                                           "maxx", "maxy") else "object")
                             for c in LABEL_COLUMNS})
    pts = pts.sort_values(["group", "x", "y"], kind="stable")
    g = pts["group"].to_numpy()
    x, y = pts["x"].to_numpy(), pts["y"].to_numpy()
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    pick = starts.copy()
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if b - a > 2:
            pick[i] = a + _medoid(x[a:b], y[a:b])
    agg = pts.groupby("group", sort=True).agg(
        points=("x", "size"), offences=("offences", "sum"), minx=("x", "min"),
        miny=("y", "min"), maxx=("x", "max"), maxy=("y", "max"))
    med = pts.iloc[pick].set_index("group")
    out = pd.DataFrame({
        "name": med["name"], "kind": med["kind"], "x": med["x"], "y": med["y"],
        "lon": med["lon"], "lat": med["lat"], "points": agg["points"],
        "offences": agg["offences"], "ward_code": med["ward_code"],
        "minx": agg["minx"], "miny": agg["miny"], "maxx": agg["maxx"],
        "maxy": agg["maxy"]})
    out["group"] = out.index.to_numpy()
    out.index.name = None
    out = out.sort_values(["offences", "points", "name", "group"],
                          ascending=[False, False, True, True])
    return out[list(LABEL_COLUMNS)].reset_index(drop=True)


def _medoid(x: np.ndarray, y: np.ndarray) -> int:
    """Index of the point with the least summed distance to the others (ties:
    the first). Large groups are thinned to 400 evenly spaced candidates."""
    cand = np.arange(len(x))
    if len(x) > 400:
        cand = np.unique(np.linspace(0, len(x) - 1, 400).astype(int))
    d = np.hypot(x[cand, None] - x[None, :], y[cand, None] - y[None, :]).sum(axis=1)
    return int(cand[int(np.argmin(d))])


# -- OS Open Roads, when fetched ------------------------------------------------------
def roads_path(root: Path | None = None) -> Path | None:
    """The clipped OS Open Roads file, in the data root or the cache; None if absent.
    """
    first = Path(root) if root is not None else data_root()
    for base in (first, cache_dir()):
        if (base / ROADS_FILE).is_file():
            return base / ROADS_FILE
    return None


def load_roads(bounds: tuple[float, float, float, float],
               path: Path | None = None) -> gpd.GeoDataFrame | None:
    """OS Open Roads links inside a BNG box, or None when no road file is present.

    Returns
    -------
    GeoDataFrame or None
        ``name, road_class, geometry`` (EPSG:27700); ``road_class`` is OS's
        ``road_classification`` ("A Road", "B Road", "Motorway", …).
    """
    path = path or roads_path()
    if path is None:
        return None
    roads = gpd.read_file(path, bbox=tuple(float(v) for v in bounds))
    if roads.crs is not None and roads.crs.to_epsg() != 27700:
        roads = roads.to_crs(BNG)
    cols = {c.lower(): c for c in roads.columns}
    name = roads[cols["name_1"]] if "name_1" in cols else pd.Series(
        [None] * len(roads), index=roads.index)
    cls = roads[cols["road_classification"]] if "road_classification" in cols \
        else pd.Series(["Unknown"] * len(roads), index=roads.index)
    return gpd.GeoDataFrame({"name": name.where(name.notna(), None),
                             "road_class": cls.fillna("Unknown").astype(str)},
                            geometry=roads.geometry.to_numpy(), crs=BNG)
