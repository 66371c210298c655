"""The partner view: disclosure-controlled layers, a shareable HTML map and a PDF.

Council and community-safety partners see hot spots, not offences. The partner
layers therefore hold only aggregates, and pass a disclosure rule first:

* no offence points, Crime IDs, outcomes, z-scores or p-values (with every cell's
  Gi* and the neighbourhood one can solve the linear system back to the counts);
* no count below ``threshold`` (default 5): such a cell is *suppressed* (its count
  withheld, its confidence bin kept), or *merged* with its sub-threshold siblings
  under the same coarser H3 parent and shown as one area when together they
  reach the threshold;
* every count shown is rounded to a multiple of ``rounding`` (default 5), so that
  a ward total minus the cells shown cannot recover a suppressed count exactly.

The app calls :func:`partner_cells` / :func:`partner_counts` for its partner view;
``hotspots share`` writes the same view as one self-contained HTML file
(:func:`write_share_html`: data and map library inline, nothing fetched). Every
string drawn into HTML is escaped here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from ..areas import Area, load_wards, resolve_area
from ..errors import ParameterError, check_choice
from ..provenance import synthetic_note
from ..stats.inference import BIN_COLOURS, BIN_LABELS, confidence_label
from ..store import Store, atomic_file

__all__ = [
    "BIN_COLOURS",
    "BIN_LABELS",
    "METHODS",
    "SHARE_TILES",
    "DisclosureRule",
    "PartnerLayer",
    "SharedView",
    "at_level",
    "confidence_label",
    "leaflet_inline",
    "partner_cells",
    "partner_counts",
    "share_view",
    "synthetic_label",
    "write_share_html",
    "write_view_pdf",
]

METHODS = ("suppress", "merge")
#: Columns of a partner cell layer, in order.
PARTNER_COLUMNS = ("h3", "bin", "confidence", "count", "count_label", "suppressed",
                   "cells", "geometry")


#: The smallest threshold a partner output may use: counts below 5 are never shown.
MIN_THRESHOLD = 5


@dataclass(frozen=True)
class DisclosureRule:
    """How counts are controlled before a partner sees them.

    Parameters
    ----------
    threshold : int
        Smallest count shown (default and least 5); smaller ones are withheld.
    rounding : int
        Counts shown are rounded to a multiple of this (1: exact).
    method : {'suppress', 'merge'}
        Withhold small cells' counts, or merge sub-threshold sibling cells first.

    Examples
    --------
    >>> rule = DisclosureRule()
    >>> [rule.shown(n) for n in (0, 4, 5, 7, 8, 12, 13)]
    [None, None, 5, 5, 10, 10, 15]
    >>> rule.label(3)
    'fewer than 5'
    """

    threshold: int = 5
    rounding: int = 5
    method: str = "suppress"

    def __post_init__(self):
        for name, least in (("threshold", MIN_THRESHOLD), ("rounding", 1)):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < least:
                why = (f" (partner outputs never show a count below {least})"
                       if name == "threshold" else "")
                raise ParameterError(
                    f"{name!r} needs to be a whole number ≥ {least}{why}. {v!r} was "
                    "given instead.")
        check_choice("method", self.method, METHODS)

    def shown(self, n: float) -> int | None:
        """The count a partner sees, or None when it is withheld."""
        if n is None or not np.isfinite(n) or n < self.threshold:
            return None
        r = self.rounding
        return int(max(self.threshold, r * np.floor(n / r + 0.5)))

    def label(self, n: float) -> str:
        v = self.shown(n)
        if v is None:
            return f"fewer than {self.threshold}"
        return f"about {v:,}" if self.rounding > 1 else f"{v:,}"

    def describe(self) -> str:
        how = ("withheld" if self.method == "suppress" else
               "merged with neighbouring small cells, else withheld")
        text = f"Counts below {self.threshold} are {how}"
        if self.rounding > 1:
            text += f"; other counts are rounded to the nearest {self.rounding}"
        return text + ". No offence points, crime IDs or outcomes are shown."

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "rounding": self.rounding,
                "method": self.method}


@dataclass(frozen=True)
class PartnerLayer:
    """A disclosure-controlled cell layer and what the rule did."""

    frame: gpd.GeoDataFrame = field(repr=False)
    suppressed_cells: int
    merged_cells: int
    rule: DisclosureRule


def at_level(bins, level: int = 1) -> np.ndarray:
    """Confidence bins with those weaker than ``level`` (1, 2, 3) set to 0.

    Examples
    --------
    >>> at_level([3, 2, 1, 0, -1, -3], level=2).tolist()
    [3, 2, 0, 0, 0, -3]
    """
    check_choice("level", level, (1, 2, 3))
    b = np.asarray(bins, dtype="int64")
    return np.where(np.abs(b) >= level, b, 0)



def synthetic_label(share: float, *, partner: bool = False) -> str | None:
    """The banner text for outputs built on semi-synthetic rows, or None; a
    partner's gives no share (it could tell a small count)."""
    return synthetic_note(share or 0.0, "offences in this view", exact=not partner)


def partner_cells(cells: gpd.GeoDataFrame, rule: DisclosureRule | None = None,
                  level: int = 1) -> PartnerLayer:
    """The partner version of a Gi* cell layer.

    Parameters
    ----------
    cells : GeoDataFrame
        Analysis cells with ``h3``, ``bin``, ``geometry`` and ``offences`` (or
        ``count``).
    rule : DisclosureRule, optional
        Default: threshold 5, rounding 5, suppress.
    level : {1, 2, 3}
        Smallest confidence bin shown as significant (90, 95, 99 %).

    Returns
    -------
    PartnerLayer
        ``frame`` has exactly :data:`PARTNER_COLUMNS`; ``count`` is a nullable
        integer (missing when withheld).
    """
    rule = rule or DisclosureRule()
    if not {"h3", "bin", "geometry"} <= set(cells.columns):
        raise ParameterError("'cells' needs the columns h3, bin and geometry")
    col = "offences" if "offences" in cells.columns else "count"
    n = pd.to_numeric(cells[col], errors="coerce").fillna(0).to_numpy("float64")
    bins = at_level(cells["bin"].to_numpy(), level)
    small = n < rule.threshold
    base = pd.DataFrame({"h3": cells["h3"].to_numpy(), "bin": bins, "n": n,
                         "small": small, "cells": 1})
    geoms = np.asarray(cells.geometry.values)
    parts = [base[~small].assign(geometry=geoms[~small])]
    merged_cells = 0
    if rule.method == "merge" and small.any():
        low = base[small].assign(geometry=geoms[small])
        low["parent"] = [_parent(c) for c in low["h3"]]
        groups = []
        for parent, g in low.groupby("parent", sort=True):
            if len(g) > 1 and g["n"].sum() >= rule.threshold:
                # least significant bin of the group: never overstate evidence
                b = int(g["bin"].iloc[int(np.argmin(np.abs(g["bin"].to_numpy())))])
                groups.append({"h3": str(parent), "bin": b, "n": g["n"].sum(),
                               "small": False, "cells": len(g),
                               "geometry": shapely.union_all(g["geometry"].values)})
                merged_cells += len(g)
            else:
                groups.append(g.drop(columns="parent"))
        frames = [x if isinstance(x, pd.DataFrame) else pd.DataFrame([x])
                  for x in groups]
        parts.extend(frames)
    else:
        parts.append(base[small].assign(geometry=geoms[small]))
    out = pd.concat(parts, ignore_index=True)
    withheld = out["n"] < rule.threshold
    counts = [rule.shown(v) for v in out["n"]]
    frame = gpd.GeoDataFrame({
        "h3": out["h3"].astype(str),
        "bin": out["bin"].astype("int64"),
        "confidence": [confidence_label(b) for b in out["bin"]],
        "count": pd.array(counts, dtype="Int64"),
        "count_label": [rule.label(v) for v in out["n"]],
        "suppressed": withheld.to_numpy(),
        "cells": out["cells"].astype("int64"),
    }, geometry=list(out["geometry"]), crs=cells.crs or 4326)
    frame = frame.sort_values("h3", kind="stable").reset_index(drop=True)
    return PartnerLayer(frame, int(withheld.sum()), merged_cells, rule)


def _parent(cell: str) -> str:
    res = h3.get_resolution(cell)
    return h3.cell_to_parent(cell, res - 1) if res > 0 else cell


def partner_counts(table: pd.DataFrame, rule: DisclosureRule | None = None,
                   count: str = "count") -> pd.DataFrame:
    """A count table with its ``count`` withheld or rounded under ``rule``.

    Adds ``count_label`` and ``suppressed``; the exact counts are dropped.

    Examples
    --------
    >>> t = pd.DataFrame({"key": ["a", "b"], "count": [3, 42]})
    >>> partner_counts(t)[["key", "count", "count_label"]].values.tolist()
    [['a', <NA>, 'fewer than 5'], ['b', 40, 'about 40']]
    """
    rule = rule or DisclosureRule()
    out = table.copy()
    n = pd.to_numeric(out[count], errors="coerce").fillna(0)
    out[count] = pd.array([rule.shown(v) for v in n], dtype="Int64")
    out["count_label"] = [rule.label(v) for v in n]
    out["suppressed"] = (n < rule.threshold).to_numpy()
    return out


@dataclass(frozen=True)
class SharedView:
    """What a partner sees of one area, crime family and period."""

    area: Area
    crime: str
    start: str
    end: str
    cells: gpd.GeoDataFrame = field(repr=False)
    wards: gpd.GeoDataFrame = field(repr=False)
    suppressed_cells: int
    merged_cells: int
    suppressed_wards: int
    synthetic_share: float
    metadata: dict = field(repr=False)

    def to_json(self, output: str | None = None) -> dict:
        hot = self.cells["bin"].to_numpy()
        return {
            "output": output,
            "area": self.area.to_dict(),
            "crime": self.crime,
            "from": self.start,
            "to": self.end,
            "cells": int(len(self.cells)),
            "hot_cells": int((hot > 0).sum()),
            "cold_cells": int((hot < 0).sum()),
            "suppressed_cells": self.suppressed_cells,
            "merged_cells": self.merged_cells,
            "suppressed_wards": self.suppressed_wards,
            "synthetic_share": round(self.synthetic_share, 4),
            "missing_months": list(self.metadata.get("missing_months", [])),
            "disclosure": self.metadata["disclosure"],
        }


def share_view(area: Area | str, crime: str = "all", start: str | None = None,
               end: str | None = None, *, res: int = 9, level: int = 2,
               correction: str = "fdr", weight: str = "count",
               rule: DisclosureRule | None = None, store: Store | None = None,
               cache=None) -> SharedView:
    """The disclosure-controlled partner view of an analysis.

    Parameters
    ----------
    area, crime, start, end, res, correction, weight
        As :func:`hotspots.analysis.analyse`.
    level : {1, 2, 3}
        Smallest confidence shown as a hot or cold spot (90, 95, 99 %).
    rule : DisclosureRule, optional
    store : Store, optional
    cache : hotspots.cache.ViewCache, optional
        Reuse cached analyses (the app passes its cache).
    """
    from ..analysis import analyse, default_period

    rule = rule or DisclosureRule()
    store = cache.store if cache is not None else (store or Store.open())
    area = area if isinstance(area, Area) else resolve_area(area)
    start, end = default_period(store, crime, start, end, area=area)
    if cache is not None:
        cells, meta = cache.analysis(area, crime, start, end, res=res,
                                     correction=correction, weight=weight)
    else:
        a = analyse(area, crime, start, end, res=res, correction=correction,
                    weight=weight, store=store)
        cells, meta = a.cells, a.metadata
    # the wards' counts are of the months the hot spots are (months only some
    # of the area's forces cover are left out of both, and named)
    left_out = tuple((meta.get("period") or {}).get("missing_months") or ())
    counts = _ward_counts(area, crime, start, end, left_out, store)
    if counts["count"].sum() < rule.threshold:  # hot cells would show the few
        raise ParameterError(
            f"fewer than {rule.threshold} {crime} offences in {area.name} from "
            f"{start} to {end}: nothing to share (disclosure control; the app "
            "shows partners nothing for such a view either)")
    layer = partner_cells(cells, rule, level=level)
    wards = load_wards()
    wards = wards[wards["ward_code"].isin(area.ward_codes)]
    table = partner_counts(counts, rule)
    wards = wards[["ward_code", "ward_name", "borough", "geometry"]].merge(
        table[["ward_code", "count", "count_label", "suppressed"]], on="ward_code",
        how="left")
    synth = float(meta.get("data", {}).get("synthetic_share", 0.0))
    metadata = {
        "disclosure": {**rule.to_dict(), "text": rule.describe()},
        "analysis": {k: meta.get(k) for k in ("crime", "crime_types", "period",
                                                "grid", "correction", "weight",
                                                "statistic")},
        "level": level,
        "synthetic_share": synth,
        "missing_months": list(left_out),
    }
    return SharedView(area, crime, start, end, layer.frame,
                      gpd.GeoDataFrame(wards, geometry="geometry", crs=4326),
                      layer.suppressed_cells, layer.merged_cells,
                      int(table["suppressed"].sum()), synth, metadata)


def _ward_counts(area: Area, crime: str, start: str, end: str, left_out, store
                 ) -> pd.DataFrame:
    """Offences per ward of ``area`` (``ward_code, count``, every ward) in the
    months of ``start..end`` but ``left_out``."""
    off = store.offences(area=area, crime=crime, start=start, end=end,
                         columns=["ward_code", "month"])
    off = off[~off["month"].isin(left_out)]
    by = off.groupby("ward_code", observed=True).size()
    codes = list(area.ward_codes)
    return pd.DataFrame({"ward_code": codes,
                         "count": [int(by.get(c, 0)) for c in codes]})


# -- writers ----------------------------------------------------------------------
def _esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


#: Base maps ``write_share_html`` knows by name: URL template and attribution.
SHARE_TILES = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "&copy; OpenStreetMap contributors"),
}
_STREET_LABELS_PER_WARD = 8


def _json_script(obj) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>``, ``&`` or line
    separators survive (they become ``\\u`` escapes)."""
    import json

    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


#: The first script of a page inlining dash-leaflet's bundle (see
#: :func:`leaflet_inline`); its type is not JavaScript, so nothing is fetched.
BASE_PATH_SCRIPT = '<script type="text/x-base-path" src="about:blank"></script>'


def leaflet_inline() -> str:
    """``<script>`` elements holding Leaflet (JS and CSS), from installed packages.

    dash-leaflet's bundle carries Leaflet 1.9 and its stylesheet (injected when
    the bundle runs); it needs React and ReactDOM, which Dash ships. All three are
    inlined, so the page needs no network. The bundle's loader looks for a base
    path in the page's scripts and fails without one: :data:`BASE_PATH_SCRIPT`
    (a non-JavaScript ``<script>`` whose ``about:blank`` source is never fetched)
    must come first in the page.
    """
    import dash
    import dash_leaflet

    deps = Path(dash.__file__).parent / "deps"
    react = sorted(deps.glob("react@18*.min.js"))
    dom = sorted(deps.glob("react-dom@18*.min.js"))
    bundle = Path(dash_leaflet.__file__).parent / "dash_leaflet.js"
    if not (react and dom and bundle.is_file()):
        raise ParameterError("the partner map needs dash and dash-leaflet installed "
                             "(their bundled React and Leaflet are inlined)")
    parts = []
    for f in (react[-1], dom[-1], bundle):
        text = f.read_text(encoding="utf-8").replace("</script", "<\\/script")
        parts.append(f"<script>{text}</script>")
    return "\n".join(parts)


def _share_tiles(tiles: str | None) -> dict | None:
    if tiles is None:
        return None
    t = str(tiles).strip()
    if not t or t.lower() == "none":
        return None
    if t.lower() in ("osm", "openstreetmap"):
        url, attr = SHARE_TILES["osm"]
        return {"url": url, "attribution": attr}
    if all(k in t for k in ("{z}", "{x}", "{y}")):
        return {"url": t, "attribution": "Base map"}
    raise ParameterError(f"'tiles' needs to be none, osm or a {{z}}/{{x}}/{{y}} URL "
                         f"template. {t!r} was given instead.")


def _street_labels(view: SharedView, store: Store | None) -> list[dict]:
    """Street names for the map (offline): a few per ward, busiest first."""
    from ..errors import HotspotsError

    try:
        from ..streetnames import street_labels
    except ImportError:
        return []
    try:
        lab = street_labels(view.area, store=store)
    except (HotspotsError, OSError, ValueError, KeyError):
        return []  # labels are a nicety: the map stands without them
    if not len(lab):
        return []
    lab = lab[lab["ward_code"].isin(view.area.ward_codes)]
    lab = lab.assign(_r=lab.groupby("ward_code").cumcount())
    lab = lab[lab["_r"] < _STREET_LABELS_PER_WARD]
    return [{"x": round(float(x), 5), "y": round(float(y), 5), "t": _esc(n),
             "k": "street"} for x, y, n in zip(lab["lon"], lab["lat"], lab["name"],
                                                strict=True)]


_SHARE_CSS = """
html, body { height: 100%; margin: 0; font: 13px system-ui, sans-serif; }
#map { position: absolute; inset: 0; background: #eef0f2; }
.box { position: absolute; z-index: 1000; background: #fff; border: 1px solid #888;
       padding: 6px 10px; }
#head { top: 10px; left: 56px; max-width: 60%; }
#legend { bottom: 24px; left: 10px; font-size: 12px; }
#legend summary { cursor: pointer; font-weight: 600; }
.sw { display: inline-block; width: 13px; height: 13px; border: 1px solid #999;
      margin-right: 6px; vertical-align: middle; }
.banner { background: #ffd400; color: #000; font-weight: 700; padding: 4px;
          margin-top: 4px; }
.lab { pointer-events: none; white-space: nowrap; }
.lab span { display: inline-block; transform: translate(-50%, -50%);
            text-shadow: 0 0 3px #fff, 0 0 3px #fff; }
.lab-ward span { font: 600 11px system-ui, sans-serif; color: #123; }
.lab-street span { font: italic 10px system-ui, sans-serif; color: #444; }
#map .lab-ward, #map .lab-street { display: none; }
#map.z12 .lab-ward { display: block; }
#map.z15 .lab-street { display: block; }
"""

# the data's strings are HTML-escaped in Python; they are inserted as such
_SHARE_JS = """
(function () {
  var D = JSON.parse(document.getElementById('share-data').textContent);
  var map = L.map('map', {zoomControl: true});
  if (D.tiles) {
    var tl = L.tileLayer(D.tiles.url, {attribution: '', maxZoom: 19});
    tl.once('tileload', function () {
      map.attributionControl.addAttribution(D.tiles.attribution);
    });
    tl.addTo(map);
  }
  function html(text) { var s = document.createElement('span');
    s.innerHTML = text; return s; }
  L.geoJSON(D.cells, {
    style: function (f) { var b = f.properties.bin;
      return {fillColor: D.colours[String(b)], color: '#777', weight: 0.3,
              fillOpacity: b ? 0.75 : 0.15}; },
    onEachFeature: function (f, l) { l.bindTooltip(html(f.properties.tip)); }
  }).addTo(map);
  L.geoJSON(D.wards, {
    style: function () { return {color: '#333', weight: 1.2, fill: false}; },
    onEachFeature: function (f, l) { l.bindTooltip(html(f.properties.tip)); }
  }).addTo(map);
  D.labels.forEach(function (p) {
    L.marker([p.y, p.x], {interactive: false, keyboard: false,
      icon: L.divIcon({className: 'lab lab-' + p.k, html: html(p.t),
                       iconSize: null})}).addTo(map);
  });
  function zoomed() { var z = map.getZoom(), c = map.getContainer();
    c.classList.toggle('z12', z >= 12); c.classList.toggle('z15', z >= 15); }
  map.on('zoomend', zoomed);
  map.fitBounds(D.bounds);
  zoomed();
  L.control.scale({imperial: false}).addTo(map);
  document.body.setAttribute('data-map-ready', '1');
})();
"""


def write_share_html(view: SharedView, out: Path | str,
                     tiles: str | None = None, *, store: Store | None = None
                     ) -> Path:
    """Write ``view`` as one self-contained HTML file: data, map library and all.

    Nothing is fetched when the file opens: Leaflet (with the React it rides on)
    is inlined from the installed dash-leaflet and Dash packages
    (:func:`leaflet_inline`), the cells and wards are inline JSON, and ward and
    street names are drawn as labels (from the police.uk map points, offline).
    ``tiles`` adds a base map (``osm`` or a ``{z}/{x}/{y}`` URL template; its
    attribution shows once a tile loads); the default is none. Every string
    drawn is HTML-escaped. ``store`` is where the street names come from
    (default :meth:`Store.open`).
    """
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"'out' needs to end in .html. {str(out)!r} was given "
                             "instead.")
    tile_spec = _share_tiles(tiles)
    minx, miny, maxx, maxy = view.area.geometry.bounds
    wards = view.wards.copy()
    wards["tip"] = [
        f"<b>{_esc(n)}</b> ({_esc(b)})<br>{_esc(view.crime)}: {_esc(c)}"
        for n, b, c in zip(wards["ward_name"], wards["borough"],
                           wards["count_label"], strict=True)]
    cells = view.cells.copy()
    cells["tip"] = [f"{_esc(c)}<br>offences: {_esc(n)}" for c, n in zip(
        cells["confidence"], cells["count_label"], strict=True)]
    pts = wards.geometry.representative_point()
    labels = [{"x": round(p.x, 5), "y": round(p.y, 5), "t": _esc(n), "k": "ward"}
              for p, n in zip(pts, wards["ward_name"], strict=True)]
    labels += _street_labels(view, store)
    data = {
        "cells": _geojson(cells[["bin", "tip", "geometry"]]),
        "wards": _geojson(wards[["tip", "geometry"]].assign(
            geometry=wards.geometry.simplify(5e-5, preserve_topology=True))),
        "labels": labels,
        "colours": {str(k): v for k, v in BIN_COLOURS.items()},
        "bounds": [[miny, minx], [maxy, maxx]],
        "tiles": tile_spec,
    }
    period = f"{view.start} to {view.end}"
    title = f"{view.area.name}: {view.crime} hot spots, {period}"
    gaps = view.metadata.get("missing_months") or []
    if gaps:  # the months the map is not of
        title += (f" (without {', '.join(gaps)}: not every police force of the "
                  "area has data for them)")
    banner = synthetic_label(view.synthetic_share, partner=True)
    legend = "".join(
        f'<div><span class="sw" style="background:{BIN_COLOURS[b]}"></span>'
        f"{_esc(BIN_LABELS[b])}</div>" for b in range(3, -4, -1))
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(view.area.name)} hot spots ({_esc(view.crime)})</title>",
        f"<style>{_SHARE_CSS}</style></head><body>",
        BASE_PATH_SCRIPT,
        '<div id="map"></div>',
        f'<div id="head" class="box"><b>{_esc(title)}</b><br>'
        f"{_esc(view.metadata['disclosure']['text'])}"
        + (f'<div class="banner">{_esc(banner)}</div>' if banner else "")
        + "</div>",
        f'<details id="legend" class="box" open><summary>Gi* confidence</summary>'
        f"{legend}</details>",
        f'<script type="application/json" id="share-data">{_json_script(data)}'
        "</script>",
        leaflet_inline(),
        f"<script>{_SHARE_JS}</script>",
        "</body></html>",
    ])
    with atomic_file(out, ".html") as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return out


def _geojson(frame: gpd.GeoDataFrame, precision: int = 5) -> dict:
    """A compact GeoJSON dict (coordinates rounded, no ids)."""
    geom = shapely.set_precision(np.asarray(frame.geometry.values, dtype=object),
                                 10.0 ** -precision)
    g = gpd.GeoDataFrame(pd.DataFrame(frame.drop(columns="geometry")),
                         geometry=list(geom), crs=4326)
    return g.to_geo_dict(drop_id=True)


def write_view_pdf(cells: gpd.GeoDataFrame, wards: gpd.GeoDataFrame, out: Path | str,
                   title: str, notes: list[str] | None = None,
                   table: pd.DataFrame | None = None) -> Path:
    """A one-page printable PDF of a map view: cells by bin, ward outlines, notes.

    ``cells`` needs ``bin`` and geometry; ``table`` (optional) is printed under
    the map (at most 15 rows). The caller passes partner layers for partners.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.patches import Patch

    out = Path(out)
    fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    ax = fig.add_axes([0.05, 0.33, 0.9, 0.58])
    if len(cells):
        colours = [BIN_COLOURS[int(b)] for b in cells["bin"]]
        cells.plot(ax=ax, color=colours, edgecolor="#999", linewidth=0.1)
    if len(wards):
        wards.boundary.plot(ax=ax, color="#333", linewidth=0.5)
    ax.set_axis_off()
    ax.set_aspect(1 / np.cos(np.radians(51.5)))
    ax.legend(handles=[Patch(facecolor=BIN_COLOURS[b], edgecolor="#999",
                             label=BIN_LABELS[b]) for b in range(3, -4, -1)],
              loc="lower left", fontsize=7, frameon=True)
    fig.text(0.05, 0.96, title, fontsize=13, weight="bold", wrap=True)
    y = 0.935
    for note in notes or []:
        fig.text(0.05, y, note, fontsize=7.5, wrap=True,
                 color="#a00" if note.startswith("SEMI-SYNTHETIC") else "black")
        y -= 0.015
    if table is not None and len(table):
        t = table.head(15).astype(str)
        tab = fig.add_axes([0.05, 0.03, 0.9, 0.27])
        tab.set_axis_off()
        tbl = tab.table(cellText=t.values.tolist(), colLabels=list(t.columns),
                        loc="upper center", cellLoc="left")
        tbl.auto_set_font_size(False)
        tbl.set_fontsize(7)
    with atomic_file(out, ".pdf") as tmp, PdfPages(tmp) as pdf:
        pdf.savefig(fig)
        plt.close(fig)
    return out
