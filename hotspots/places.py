"""Search for a place by name: London, BCUs, boroughs, wards, streets and places.

:func:`search` is what the app's search box and the CLI call. It looks in:

- the areas ``--area`` accepts (London, the Met's BCUs, the 33 boroughs, the 2022
  wards), by name;
- **places** from a gazetteer, when one is present: OS Open Names (Open Government
  Licence), which ``hotspots fetch --what places`` downloads and clips to London
  (:data:`PLACES_FILE` in the data root or the cache);
- **streets**: the police.uk map point names (the offline street-name layer of
  :mod:`hotspots.streetnames`), one result per street;
- with no gazetteer, a **place named by its streets**: roads are named after where
  they lead ("Mitcham Road", "Mitcham Lane", "Mitcham Park" all lead to or lie in
  Mitcham), so when several streets starting with the searched name lie close
  together (within :data:`STREET_LINK_M` of each other, the whole group at most
  :data:`STREET_SPAN_M` across), the group is offered as the place itself, framed by
  the extent of those streets and placed in the ward at the middle of them. A word
  that starts streets all over London ("Church", "Station") makes no place.

Each result is a dict ``{"label", "kind", "bounds", "area", "centre"}``:
``kind`` one of :data:`KINDS`; ``bounds`` ``[west, south, east, north]`` in
degrees (EPSG:4326) for a map to fit; ``area`` the ``--area`` value
(:func:`hotspots.areas.resolve_area`) to analyse: the area itself, or the 2022 ward
a street or place lies in (None outside every ward); ``centre`` ``[lon, lat]``.
Streets and places named by streets also carry ``offences``: how many police.uk
rows name them (the weight they rank by; a partner's search leaves out those below
the disclosure threshold).

Ranking: an exact name first, then names starting with the text, then names with a
word starting with it, then names containing it; within each, London, BCUs,
boroughs, gazetteer settlements, wards, other gazetteer places, places named by
streets, then streets (busiest first).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .areas import BNG, load_wards, resolve_area
from .config import BCUS, cache_dir, data_root
from .errors import AreaNotFound, HotspotsError, ParameterError
from .store import Store

__all__ = ["KINDS", "MAX_STREET_PLACES", "PLACES_FILE", "STREET_LINK_M",
           "STREET_SPAN_M", "places_path", "search"]

#: Kinds of result, in the order they rank at the same match quality.
KINDS = ("london", "bcu", "borough", "place", "ward", "street")
#: The clipped OS Open Names file ``hotspots fetch --what places`` writes.
PLACES_FILE = "places/os_open_names_london.gpkg"
#: Streets sharing a first word link into one place when their points are closer.
STREET_LINK_M = 4000.0
#: A place named by its streets is at most this wide (metres).
STREET_SPAN_M = 10000.0
#: A word starting streets in more groups than this is too common to name a place.
MAX_STREET_PLACES = 2
#: Smallest box a result is framed in (metres), so a one-point street still shows.
MIN_BOX_M = 400.0
_SETTLEMENTS = {"city", "town", "village", "hamlet", "suburban area",
                "other settlement"}
_ROADS = {"named road", "numbered road", "section of named road",
          "section of numbered road"}


def _norm(text) -> str:
    text = str(text).lower().replace("&", " and ").replace("’", "'")
    text = text.replace("'", "")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def _tier(name: str, q: str) -> int | None:
    """Match quality of a normalised ``name`` for the query ``q`` (lower is
    better; None: no match)."""
    if name == q:
        return 0
    if name.startswith(q):
        return 1
    if f" {q}" in f" {name}":
        return 2
    if q in name:
        return 3
    return None


def search(text: str, limit: int = 10, *, store: Store | None = None,
           root: Path | None = None) -> list[dict]:
    """Areas, places and streets whose name matches ``text``, best first.

    Parameters
    ----------
    text : str
        What the user typed (case, ``&``/``and`` and apostrophes do not matter).
    limit : int
        Most results returned.
    store : Store, optional
        The store whose police.uk street names are searched (default
        :meth:`Store.open`); without an ingested store, streets are left out.
    root : path, optional
        The data root (ward boundaries, gazetteer); default
        :func:`hotspots.config.data_root`.

    Returns
    -------
    list of dict
        ``label, kind, bounds, area, centre`` (see the module notes).

    Examples
    --------
    >>> [r["kind"] for r in search("Merton", limit=1)]  # doctest: +SKIP
    ['borough']
    """
    if not isinstance(text, str):
        raise ParameterError(f"'text' needs to be a string. {text!r} was given "
                             "instead.")
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise ParameterError(f"'limit' needs to be a whole number ≥ 1. {limit!r} was "
                             "given instead.")
    q = _norm(text)
    if len(q) < 2:
        return []
    wards = load_wards(root)
    hits: list[tuple] = []  # (tier, kind rank, -weight, label, result)
    hits += _areas(q, text, wards)
    gazetteer = _gazetteer(places_path(root))
    if gazetteer is not None:
        hits += _gazetteer_hits(q, gazetteer, wards, int(limit))
    streets = _street_table(store)
    if streets is not None:
        # a place named by its streets only when nothing else is called that
        if gazetteer is None and not any(h[0] <= 1 for h in hits):
            hits += _street_place(q, text, streets, wards)
        hits += _street_hits(q, streets, wards, int(limit))
    hits.sort(key=lambda h: h[:4])
    out, seen = [], set()
    for h in hits:
        r = h[4]
        key = (r["kind"], r["area"] if r["kind"] in ("london", "bcu", "borough",
                                                     "ward") else r["label"])
        if key in seen:
            continue
        seen.add(key)
        out.append(r)
        if len(out) >= int(limit):
            break
    return out


# -- areas -------------------------------------------------------------------------
def _result(label, kind, bounds_ll, area, centre) -> dict:
    return {"label": label, "kind": kind,
            "bounds": [round(float(v), 6) for v in bounds_ll], "area": area,
            "centre": [round(float(centre[0]), 6), round(float(centre[1]), 6)]}


def _rank(kind: str, settlement: bool = False) -> float:
    """Order of the kinds at equal match quality (see the module notes)."""
    if kind == "place":
        return 2.5 if settlement else 4.5
    return float(KINDS.index(kind))


def _areas(q: str, text: str, wards: gpd.GeoDataFrame) -> list[tuple]:
    out = []
    try:  # what --area would take as typed (e.g. "Abbey (Merton)", "SW")
        exact = resolve_area(text)
    except (AreaNotFound, ParameterError):
        exact = None
    if exact is not None:
        rows = wards[wards["ward_code"].isin(exact.ward_codes)]
        out.append((-1, _rank(exact.kind), 0.0, "",
                    _area_result(exact.kind, exact.code, rows)))
    if _tier("london", q) is not None:
        out.append((_tier("london", q), 0.0, 0.0, "London",
                    _area_result("london", "LONDON", wards)))
    for code, (name, _) in BCUS.items():
        t = min((x for x in (_tier(_norm(name), q), _tier(code.lower(), q),
                             _tier(_norm(name + " bcu"), q)) if x is not None),
                default=None)
        if t is not None:
            out.append((t, 1.0, 0.0, name, _area_result(
                "bcu", code, wards[wards["bcu"] == code])))
    for b, sub in wards.groupby("borough", sort=True):
        t = _tier(_norm(b), q)
        if t is not None:
            out.append((t, 2.0, 0.0, b, _area_result("borough", b, sub)))
    names = wards["ward_name"].map(_norm)
    for i in np.flatnonzero([_tier(n, q) is not None for n in names]):
        w = wards.iloc[[i]]
        out.append((_tier(names.iloc[i], q), 4.0, 0.0, str(w["ward_name"].iloc[0]),
                    _area_result("ward", w["ward_code"].iloc[0], w)))
    return out


def _area_result(kind: str, code: str, rows: gpd.GeoDataFrame) -> dict:
    """The result for London, a BCU (code), a borough (name) or a ward (code)."""
    if kind == "london":
        label, area = ("London", "London") if code == "LONDON" else ("London (Met)",
                                                                     "MPS")
    elif kind == "bcu":
        label, area = f"{BCUS[code][0]} BCU ({code})", code
    elif kind == "borough":
        borough = rows["borough"].iloc[0]
        label, area = f"{borough} (borough)", borough
    else:
        r = rows.iloc[0]
        label = f"{r['ward_name']} ward, {r['borough']}"
        area = f"{r['ward_name']} ({r['borough']})"
    x0, y0, x1, y1 = rows.total_bounds
    c = rows.geometry.iloc[0].representative_point() if kind == "ward" else None
    centre = (c.x, c.y) if c is not None else ((x0 + x1) / 2, (y0 + y1) / 2)
    return _result(label, kind, (x0, y0, x1, y1), area, centre)


# -- streets (police.uk) -----------------------------------------------------------
def _street_table(store: Store | None) -> pd.DataFrame | None:
    from .streetnames import street_labels

    try:
        store = store or Store.open()
        if not store.exists():
            return None
        labels = street_labels(store=store)
    except HotspotsError:
        return None
    return labels


def _ward_lookup(wards: gpd.GeoDataFrame) -> dict:
    return {c: (n, b) for c, n, b in zip(wards["ward_code"], wards["ward_name"],
                                         wards["borough"], strict=True)}


def _tiers(names: pd.Series, q: str) -> np.ndarray:
    """:func:`_tier` of every name at once (4: no match)."""
    padded = " " + names
    return np.select(
        [names == q, names.str.startswith(q), padded.str.contains(" " + q, regex=False),
         names.str.contains(q, regex=False)], [0, 1, 2, 3], 4)


def _street_hits(q: str, labels: pd.DataFrame, wards, limit: int) -> list[tuple]:
    tiers = _tiers(labels["name"].map(_norm), q)
    keep = np.flatnonzero(tiers < 4)
    if not len(keep):
        return []
    order = np.lexsort((labels["name"].to_numpy()[keep],
                        -labels["offences"].to_numpy()[keep], tiers[keep]))
    lookup = _ward_lookup(wards)
    out = []
    for i in keep[order][:limit]:
        r = labels.iloc[i]
        ward, borough = lookup.get(r["ward_code"], (None, None))
        where = f"{ward}, {borough}" if ward else "outside the 2022 wards"
        area = f"{ward} ({borough})" if ward else None
        box = _bng_box_ll(r["minx"], r["miny"], r["maxx"], r["maxy"])
        out.append((int(tiers[i]), 5.0, -float(r["offences"]), r["name"],
                    {**_result(f"{r['name']} ({where})", "street", box, area,
                               (r["lon"], r["lat"])),
                     "offences": int(r["offences"])}))
    return out


def _street_place(q: str, text: str, labels: pd.DataFrame, wards) -> list[tuple]:
    """A place named by the streets that start with it (see the module notes)."""
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    names = labels["name"].map(_norm)
    sub = labels[names.str.startswith(q + " ").to_numpy()]
    if len(sub) < 2:
        return []
    xy = sub[["x", "y"]].to_numpy()
    # link streets by their extents' nearest corners (a box per street)
    boxes = sub[["minx", "miny", "maxx", "maxy"]].to_numpy()
    corners = np.vstack([boxes[:, [0, 1]], boxes[:, [2, 3]], boxes[:, [0, 3]],
                         boxes[:, [2, 1]], xy])
    owner = np.tile(np.arange(len(sub)), 5)
    pairs = cKDTree(corners).query_pairs(STREET_LINK_M, output_type="ndarray")
    from scipy.sparse import coo_matrix

    a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(sub), len(sub)))
    _, comp = connected_components(graph, directed=False)
    groups = []
    for c in np.unique(comp):
        members = sub[comp == c]
        distinct = sorted(set(members["name"]))
        x0, y0 = members["minx"].min(), members["miny"].min()
        x1, y1 = members["maxx"].max(), members["maxy"].max()
        if len(distinct) >= 2:
            groups.append((len(distinct), float(members["offences"].sum()), c,
                           distinct, (x0, y0, x1, y1), members))
    # a word that starts streets in many places ("Church", "Station") names none
    if not groups or len(groups) > MAX_STREET_PLACES:
        return []
    n, weight, _, distinct, (x0, y0, x1, y1), members = max(groups,
                                                             key=lambda g: g[:2])
    if max(x1 - x0, y1 - y0) > STREET_SPAN_M:
        return []
    cx, cy = members["x"].mean(), members["y"].mean()
    lon, lat = gpd.GeoSeries.from_xy([cx], [cy], crs=BNG).to_crs(4326).iloc[0].xy
    ward = _ward_at(wards, float(lon[0]), float(lat[0]))
    shown = ", ".join(distinct[:4]) + (" …" if n > 4 else "")
    name = " ".join(w.capitalize() if w.islower() else w for w in text.split())
    label = f"{name} (named by police.uk streets: {shown})"
    return [(0, 4.75, -weight, label,
             {**_result(label, "place", _bng_box_ll(x0, y0, x1, y1), ward,
                        (lon[0], lat[0])), "offences": int(weight)})]


def _ward_at(wards: gpd.GeoDataFrame, lon: float, lat: float) -> str | None:
    import shapely

    p = shapely.Point(lon, lat)
    cand = wards.iloc[wards.sindex.query(p, predicate="intersects")]
    if cand.empty:
        return None
    w = cand.sort_values("ward_code").iloc[0]
    return f"{w['ward_name']} ({w['borough']})"


def _bng_box_ll(x0, y0, x1, y1) -> tuple[float, float, float, float]:
    """A BNG box (padded to at least :data:`MIN_BOX_M`) as lon/lat bounds."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw = max((x1 - x0) / 2 + 100.0, MIN_BOX_M / 2)
    hh = max((y1 - y0) / 2 + 100.0, MIN_BOX_M / 2)
    pts = gpd.GeoSeries.from_xy([cx - hw, cx + hw, cx - hw, cx + hw],
                                [cy - hh, cy - hh, cy + hh, cy + hh],
                                crs=BNG).to_crs(4326)
    return (float(pts.x.min()), float(pts.y.min()), float(pts.x.max()),
            float(pts.y.max()))


# -- gazetteer (OS Open Names) --------------------------------------------------------
def places_path(root: Path | None = None) -> Path | None:
    """The clipped OS Open Names file in the data root or the cache; None if absent.
    """
    first = Path(root) if root is not None else data_root()
    for base in (first, cache_dir()):
        if (base / PLACES_FILE).is_file():
            return base / PLACES_FILE
    return None


def _gazetteer(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    return _read_gazetteer(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _read_gazetteer(path: str, mtime: int) -> pd.DataFrame:
    g = gpd.read_file(path)
    g.columns = [c.lower() if c != g.geometry.name else c for c in g.columns]
    if g.crs is not None and g.crs.to_epsg() != 27700:
        g = g.to_crs(BNG)
    pts = g.geometry.representative_point()
    ll = gpd.GeoSeries(pts, crs=BNG).to_crs(4326)

    def col(name, default=None):
        return g[name] if name in g.columns else pd.Series([default] * len(g),
                                                             index=g.index)

    frame = pd.DataFrame({
        "name1": col("name1", ""), "name2": col("name2"),
        "local_type": col("local_type", "").fillna("").astype(str),
        "district": col("district_borough"), "x": pts.x.to_numpy(),
        "y": pts.y.to_numpy(), "lon": ll.x.to_numpy(), "lat": ll.y.to_numpy()})
    for c, alt in (("mbr_xmin", "x"), ("mbr_ymin", "y"), ("mbr_xmax", "x"),
                   ("mbr_ymax", "y")):
        v = pd.to_numeric(col(c), errors="coerce")
        frame[c] = v.fillna(frame[alt]).to_numpy()
    frame["n1"] = frame["name1"].fillna("").map(_norm)
    frame["n2"] = frame["name2"].fillna("").map(_norm)
    return frame[frame["n1"] != ""].reset_index(drop=True)


def _gazetteer_hits(q: str, gaz: pd.DataFrame, wards, limit: int) -> list[tuple]:
    tiers = np.minimum(_tiers(gaz["n1"], q), _tiers(gaz["n2"], q))
    lt = gaz["local_type"].str.lower()
    rank = np.where(lt.isin(_ROADS), 5.0,
                    np.where(lt.isin(_SETTLEMENTS), _rank("place", True),
                             _rank("place")))
    keep = np.flatnonzero(tiers < 4)
    out = []
    # the best ``limit`` of each kind rank can reach the final list
    for rk in np.unique(rank[keep]):
        idx = keep[rank[keep] == rk]
        idx = idx[np.lexsort((gaz["n1"].to_numpy()[idx], tiers[idx]))][:limit]
        for i in idx:
            r = gaz.iloc[i]
            kind = "street" if rk == 5.0 else "place"
            ward = _ward_at(wards, r["lon"], r["lat"])
            where = ", ".join(x for x in (r["local_type"], ward) if x)
            label = f"{r['name1']} ({where})" if where else str(r["name1"])
            box = _bng_box_ll(r["mbr_xmin"], r["mbr_ymin"], r["mbr_xmax"],
                              r["mbr_ymax"])
            out.append((int(tiers[i]), float(rk), 0.0, str(r["name1"]),
                        _result(label, kind, box, ward, (r["lon"], r["lat"]))))
    return out
