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
``hotspots share`` writes the same view as one folium HTML file
(:func:`write_share_html`). Every string drawn into HTML is escaped here.
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
from ..stats.inference import BIN_LABELS, confidence_label
from ..store import Store, atomic_file

__all__ = [
    "BIN_COLOURS",
    "BIN_LABELS",
    "METHODS",
    "DisclosureRule",
    "PartnerLayer",
    "SharedView",
    "at_level",
    "confidence_label",
    "partner_cells",
    "partner_counts",
    "share_view",
    "synthetic_label",
    "write_share_html",
    "write_view_pdf",
]

#: Confidence bin -> fill colour (hot red, cold blue; as ArcGIS's hot spot maps).
BIN_COLOURS: dict[int, str] = {
    3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#f4f4f4",
    -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac",
}
METHODS = ("suppress", "merge")
#: Columns of a partner cell layer, in order.
PARTNER_COLUMNS = ("h3", "bin", "confidence", "count", "count_label", "suppressed",
                   "cells", "geometry")


@dataclass(frozen=True)
class DisclosureRule:
    """How counts are controlled before a partner sees them.

    Parameters
    ----------
    threshold : int
        Smallest count shown (default 5); smaller ones are withheld.
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
        for name in ("threshold", "rounding"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise ParameterError(
                    f"{name!r} needs to be a whole number ≥ 1. {v!r} was given "
                    "instead.")
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



def synthetic_label(share: float) -> str | None:
    """The banner text for outputs built on semi-synthetic rows, or None."""
    if not share or share <= 0:
        return None
    return (f"SEMI-SYNTHETIC DATA: {share:.0%} of the offences in this view are "
            "synthetic (real police.uk map points, synthetic offences). Not for "
            "operational decisions.")


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
    from ..counts import count_offences

    rule = rule or DisclosureRule()
    store = cache.store if cache is not None else (store or Store.open())
    area = area if isinstance(area, Area) else resolve_area(area)
    start, end = default_period(store, crime, start, end)
    if cache is not None:
        cells, meta = cache.analysis(area, crime, start, end, res=res,
                                     correction=correction, weight=weight)
    else:
        a = analyse(area, crime, start, end, res=res, correction=correction,
                    weight=weight, store=store)
        cells, meta = a.cells, a.metadata
    layer = partner_cells(cells, rule, level=level)
    counts = count_offences(area, crime, by="ward", start=start, end=end, store=store)
    wards = load_wards()
    wards = wards[wards["ward_code"].isin(area.ward_codes)]
    table = partner_counts(counts.table.rename(columns={"key": "ward_code"}), rule)
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
    }
    return SharedView(area, crime, start, end, layer.frame,
                      gpd.GeoDataFrame(wards, geometry="geometry", crs=4326),
                      layer.suppressed_cells, layer.merged_cells,
                      int(table["suppressed"].sum()), synth, metadata)


# -- writers ----------------------------------------------------------------------
def _esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _legend_html(title: str) -> str:
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;'
        f'background:{BIN_COLOURS[b]};border:1px solid #999;margin-right:6px">'
        f"</span>{_esc(BIN_LABELS[b])}</div>" for b in range(3, -4, -1))
    return (f'<div style="position:fixed;bottom:24px;left:12px;z-index:9999;'
            f'background:white;padding:8px 10px;border:1px solid #888;'
            f'font:12px sans-serif"><b>{_esc(title)}</b>{rows}</div>')


def write_share_html(view: SharedView, out: Path | str,
                     tiles: str | None = "OpenStreetMap") -> Path:
    """Write ``view`` as one self-contained folium HTML file (data inline).

    ``tiles`` is a folium tile name or a URL template (``{z}/{x}/{y}``), or None
    for no base map (the vector layers alone).
    """
    import folium

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"'out' needs to end in .html. {str(out)!r} was given "
                             "instead.")
    minx, miny, maxx, maxy = view.area.geometry.bounds
    kw = {}
    if tiles and tiles.lower() != "none" and "{" in tiles:
        kw = {"tiles": tiles, "attr": "Base map"}
    elif tiles and tiles.lower() != "none":
        kw = {"tiles": tiles}
    else:
        kw = {"tiles": None}
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=12,
                   control_scale=True, **kw)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    wards = view.wards.copy()
    wards["tooltip"] = [
        f"<b>{_esc(n)}</b> ({_esc(b)})<br>{_esc(view.crime)}: {_esc(c)}"
        for n, b, c in zip(wards["ward_name"], wards["borough"],
                           wards["count_label"], strict=True)]
    wards = wards[["ward_code", "tooltip", "geometry"]]
    folium.GeoJson(
        wards.to_json(drop_id=True), name="2022 wards",
        style_function=lambda f: {"color": "#333", "weight": 1.2, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["tooltip"], labels=False),
    ).add_to(m)
    cells = view.cells.copy()
    cells["tooltip"] = [f"{_esc(c)}<br>offences: {_esc(n)}" for c, n in zip(
        cells["confidence"], cells["count_label"], strict=True)]
    cells["fill"] = [BIN_COLOURS[int(b)] for b in cells["bin"]]
    cells = cells[["h3", "bin", "fill", "tooltip", "geometry"]]
    folium.GeoJson(
        cells.to_json(drop_id=True), name="Hot and cold spots (Gi*)",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"], "color": "#777", "weight": 0.3,
            "fillOpacity": 0.75 if f["properties"]["bin"] else 0.15},
        tooltip=folium.GeoJsonTooltip(fields=["tooltip"], labels=False),
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    period = f"{view.start} to {view.end}"
    head = (f'<div style="position:fixed;top:10px;left:60px;z-index:9999;'
            f'background:white;padding:6px 10px;border:1px solid #888;'
            f'font:13px sans-serif;max-width:60%"><b>{_esc(view.area.name)}: '
            f"{_esc(view.crime)} hot spots, {_esc(period)}</b><br>"
            f"{_esc(view.metadata['disclosure']['text'])}")
    banner = synthetic_label(view.synthetic_share)
    if banner:
        head += (f'<div style="background:#ffd400;color:#000;font-weight:bold;'
                 f'padding:4px;margin-top:4px">{_esc(banner)}</div>')
    head += "</div>"
    m.get_root().html.add_child(folium.Element(head))
    m.get_root().html.add_child(folium.Element(_legend_html("Gi* confidence")))
    m.get_root().header.add_child(folium.Element(
        f"<title>{_esc(view.area.name)} hot spots ({_esc(view.crime)})</title>"))
    with atomic_file(out, ".html") as tmp:
        m.save(str(tmp))
    return out


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
