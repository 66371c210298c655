"""Shared helpers for the printed reports (ward maps, crime pack, ranking).

Everything is plain matplotlib (vector PDF, no tiles, works offline). Every page gets
the same frame: a title block, a footer naming the data sources and their licences
and what produced the page, and — whenever any row used is semi-synthetic — a
visible label saying so and how much.

Text taken from data (ward names, street ``Location`` values) goes through
:func:`plain`, so a ``$`` in a name is printed as a dollar sign and never starts
matplotlib mathtext.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - printing only, never a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from .. import __version__  # noqa: E402
from ..provenance import synthetic_note  # noqa: E402
from ..stats.inference import BIN_COLOURS, BIN_LABELS  # noqa: E402
from ..store import atomic_file  # noqa: E402

__all__ = [
    "A4_LANDSCAPE",
    "A4_PORTRAIT",
    "BIN_COLOURS",
    "BIN_LABELS",
    "FAMILY_LABELS",
    "OS_ATTRIBUTION",
    "SOURCES",
    "Z",
    "LabelPlacer",
    "bin_legend_handles",
    "change_text",
    "draw_cameras",
    "draw_streets",
    "label_wards",
    "draw_table",
    "footer",
    "new_page",
    "north_arrow",
    "pdf_file",
    "pdf_metadata",
    "plain",
    "report_period",
    "scale_bar",
    "synthetic_label",
    "synthetic_text",
]

#: A4 landscape in inches.
A4_LANDSCAPE = (11.69, 8.27)
#: A4 portrait in inches.
A4_PORTRAIT = (8.27, 11.69)

#: Drawing order of the map layers (matplotlib zorder): what must stay visible is
#: drawn last. Camera sites (with a white halo) are the top layer, above their own
#: labels, the zone labels and the scale bar and north arrow (19–20), so nothing on
#: a map can hide them.
Z = {
    "cells": 2, "streets": 3, "wards": 4, "outline": 5, "street_names": 6,
    "ward_names": 7, "zones": 8, "markers": 10, "zone_labels": 24,
    "camera_labels": 25, "cameras": 26,
}

#: Printed when OS Open Roads is drawn.
OS_ATTRIBUTION = ("Roads: OS Open Roads. Contains OS data © Crown copyright and "
                  "database right. Open Government Licence v3.0.")

FAMILY_LABELS = {
    "robbery": "Robbery",
    "vehicle": "Vehicle crime",
    "asb": "Anti-social behaviour",
    "burglary": "Burglary",
    "all": "All crime",
}

#: Data sources and licences printed on every page.
SOURCES = (
    "Crime data: data.police.uk (Home Office, Metropolitan Police Service). Contains "
    "public sector information licensed under the Open Government Licence v3.0.",
    "Boundaries: ONS Open Geography Portal, Wards (December 2022). Source: Office for "
    "National Statistics licensed under the Open Government Licence v3.0. Contains OS "
    "data © Crown copyright and database right 2022.",
)

_INK = "#222222"
_GREY = "#666666"


def plain(text) -> str:
    """Text from data, safe to draw: ``$`` is escaped so mathtext never starts.

    Examples
    --------
    >>> print(plain("On or near $ Street"))
    On or near \\$ Street
    """
    return str(text).replace("$", r"\$")


def change_text(current, previous) -> str:
    """Percentage change with an arrow: ``'▲ 12.5%'``, ``'▼ 3.0%'``, ``'no change'``;
    ``'n/a'`` when either side is unknown or the previous figure is zero.

    Examples
    --------
    >>> change_text(90, 80), change_text(60, 80), change_text(5, 0)
    ('▲ 12.5%', '▼ 25.0%', 'n/a')
    """
    if current is None or previous is None or not previous:
        return "n/a"
    pct = 100.0 * (current - previous) / previous
    if round(pct, 1) == 0:
        return "no change"
    return f"{'▲' if pct > 0 else '▼'} {abs(pct):.1f}%"


def report_period(store, crime: str, start: str | None = None,
                  end: str | None = None, months: int = 12, area=None
                  ) -> tuple[str, str]:
    """The period a report covers: ``start``…``end`` when given; by default the
    last ``months`` months that every police.uk type of ``crime`` is covered in
    ``area`` (so 'all' never ends in months holding one type only)."""
    from ..analysis import default_period

    return default_period(store, crime, start, end, months, area=area)


def pdf_metadata(title: str, *, subject: str, params: dict) -> dict:
    """PDF document info: what produced the file, with its parameters and period."""
    return {
        "Title": title,
        "Author": "hotspots",
        "Subject": subject,
        "Keywords": json.dumps(params, sort_keys=True, default=str),
        "Creator": f"hotspots {__version__}",
        "Producer": f"hotspots {__version__}",
        "CreationDate": datetime.now(UTC),
    }


@contextmanager
def pdf_file(path: Path | str, metadata: dict) -> Iterator[PdfPages]:
    """A multi-page PDF written atomically.

    Fonts are embedded as Type 3 subsets (matplotlib's default): the text stays
    searchable and extractable, and a 20-ward booklet is written several times
    faster than with TrueType (Type 42) font subsetting."""
    with (
        atomic_file(path, ".pdf") as tmp,
        matplotlib.rc_context({"pdf.fonttype": 3, "font.family": "DejaVu Sans"}),
        PdfPages(tmp, metadata=metadata) as pages,
    ):
        yield pages


def new_page(title: str, subtitle: str = "") -> Figure:
    """An A4 landscape figure with the title block (title and subtitle are plain
    text, escaped here)."""
    fig = plt.figure(figsize=A4_LANDSCAPE)
    # smaller type for a long title or subtitle (bold: about 0.62 em a character)
    width_pt = 0.94 * fig.get_figwidth() * 72
    fig.text(0.03, 0.955, plain(title), weight="bold", color=_INK, va="top",
             fontsize=min(16.0, width_pt / (0.62 * max(len(title), 1))))
    if subtitle:
        fig.text(0.03, 0.912, plain(subtitle), color=_GREY, va="top",
                 fontsize=min(10.0, width_pt / (0.55 * max(len(subtitle), 1))))
    return fig


def fitting_size(fig: Figure, height: float, lines: int, largest: float,
                 linespacing: float = 1.4) -> float:
    """Type size (points) at which ``lines`` lines fit in ``height`` (a fraction
    of ``fig``'s height): ``largest``, or smaller when there is more to say."""
    room = height * fig.get_figheight() * 72
    return min(largest, room / (linespacing * max(lines, 1)))


def _footer_lines(extra: Sequence[str], width: int) -> list[str]:
    made = (f"Produced by hotspots {__version__} on "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.")
    return [w for x in (*SOURCES, *extra, made)
            for w in textwrap.wrap(str(x), width=width)]


def footer_top(fig: Figure, extra: Sequence[str] = (), width: int = 190) -> float:
    """Where (a fraction of the page's height) :func:`footer` with ``extra``
    will reach up to: what is drawn above it stays above this."""
    lines = len(_footer_lines(extra, width))
    return 0.012 + lines * 6.2 * 1.35 / 72 / fig.get_figheight()


def footer(fig: Figure, extra: Sequence[str] = (), page: str = "",
           width: int = 190):
    """Sources, licences and what produced the page, at the foot of ``fig`` (lines
    wrapped at ``width`` characters). Returns the page label's text artist (None
    without ``page``), so a page printed in two documents can be renumbered."""
    lines = _footer_lines(extra, width)
    fig.text(0.03, 0.012, "\n".join(plain(x) for x in lines), fontsize=6.2,
             color=_GREY, va="bottom", linespacing=1.35)
    if page:
        return fig.text(0.97, 0.012, plain(page), fontsize=7, color=_GREY,
                        ha="right", va="bottom")
    return None


def synthetic_text(share: float, families: Sequence[str] = ()) -> str:
    """The wording of the semi-synthetic warning (see :func:`synthetic_label`)."""
    which = f" ({', '.join(families)})" if families else ""
    return synthetic_note(share, f"offences used{which}") or ""


def synthetic_label(fig: Figure, share: float, families: Sequence[str] = (),
                    x: float = 0.03, y: float = 0.885, width: int = 150) -> bool:
    """The semi-synthetic warning banner when ``share`` > 0; returns whether drawn.

    ``families`` names the crime families whose rows are synthetic. The banner
    sits under the title block, left-aligned, across the page.
    """
    if not share > 0:
        return False
    text = textwrap.fill(synthetic_text(share, families), width=width)
    fig.text(x, y, plain(text), fontsize=8.5,
             color="#5c3d00", ha="left", va="top", weight="bold",
             bbox={"boxstyle": "round,pad=0.35", "fc": "#ffe08a", "ec": "#b8860b"})
    return True


def bin_legend_handles(levels: Sequence[int] = (3, 2, 1, 0, -1, -2, -3)) -> list:
    """Legend patches for the Gi* confidence bins."""
    return [Patch(facecolor=BIN_COLOURS[b], edgecolor="#999999", linewidth=0.4,
                  label=BIN_LABELS[b]) for b in levels]


def _nice(x: float) -> float:
    """The largest 1, 2 or 5 × 10^k not above ``x``."""
    import math

    k = 10 ** math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * k <= x:
            return m * k
    return k


def scale_bar(ax, fraction: float = 0.22) -> float:
    """A scale bar in the lower left of an axis drawn in metres (EPSG:27700).

    Returns the bar length in metres.
    """
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice((x1 - x0) * fraction)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    h = (y1 - y0) * 0.008
    half = length / 2
    pad = (x1 - x0) * 0.012
    ax.add_patch(Rectangle((bx - pad, by - pad), length + 2 * pad + pad * 2.5,
                           h + 2 * pad + (y1 - y0) * 0.03, facecolor="white",
                           edgecolor="none", alpha=0.85, zorder=19))
    ax.fill([bx, bx + half, bx + half, bx], [by, by, by + h, by + h], color=_INK,
            zorder=20)
    ax.fill([bx + half, bx + length, bx + length, bx + half],
            [by, by, by + h, by + h], facecolor="white", edgecolor=_INK,
            linewidth=0.6, zorder=20)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    for xx, t in ((bx, "0"), (bx + length, label)):
        ax.text(xx, by + 2.2 * h, t, fontsize=7, ha="center", va="bottom",
                color=_INK, zorder=20)
    return length


def north_arrow(ax) -> None:
    """A north arrow in the upper right of the map axis (grid north of the British
    National Grid, within a degree of true north in London)."""
    ax.annotate("N", xy=(0.95, 0.96), xytext=(0.95, 0.87), xycoords="axes fraction",
                ha="center", va="center", fontsize=11, weight="bold", color=_INK,
                arrowprops={"arrowstyle": "-|>", "color": _INK, "lw": 1.6},
                zorder=20)


def draw_table(ax, header: Sequence[str], rows: Sequence[Sequence], *,
               col_widths: Sequence[float] | None = None, fontsize: float = 8,
               title: str = "", align: Sequence[str] | None = None,
               bold_last: bool = False):
    """A simple ruled table filling ``ax`` (axis off); every cell is plain text."""
    ax.set_axis_off()
    if title:  # wrapped to the table's width (bold type: about 0.6 em a character)
        width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
        fits = max(int(width_pt / (0.6 * (fontsize + 2))), 20)
        ax.set_title(plain("\n".join(textwrap.wrap(title, fits))),
                     fontsize=fontsize + 2, loc="left", weight="bold", color=_INK)
    cells = [[plain(c) for c in r] for r in rows]
    tab = ax.table(cellText=cells or [[""] * len(header)],
                   colLabels=[plain(h) for h in header], loc="upper left",
                   cellLoc="left", colLoc="left", colWidths=col_widths,
                   edges="horizontal")
    tab.auto_set_font_size(False)
    tab.set_fontsize(fontsize)
    n_rows = len(cells) + 1
    head_lines = max(str(h).count("\n") + 1 for h in header)
    row_h = min(0.95 / max(n_rows + head_lines - 1, 1), 0.09)
    for (r, c), cell in tab.get_celld().items():
        cell.set_height(row_h * (head_lines if r == 0 else 1))
        cell.set_edgecolor("#bbbbbb")
        cell.set_linewidth(0.4)
        if align is not None:
            cell.get_text().set_horizontalalignment(align[c])
            cell._loc = align[c]
        if r == 0:
            cell.get_text().set_weight("bold")
            cell.set_facecolor("#eeeeee")
        elif bold_last and r == n_rows - 1:
            cell.get_text().set_weight("bold")
    return tab


# -- map labels ----------------------------------------------------------------------
class LabelPlacer:
    """Places map labels so that none overlaps another or leaves the map frame.

    A simple collision check on text extents: each label is measured (display
    pixels, after the axes' limits and aspect are fixed); it is kept only when its
    box lies inside the frame and clear of every box taken before. Reserve what
    must not be covered (camera sites, the scale bar: *hard* boxes) first, then
    place labels in order of importance. A *required* label that fits nowhere is
    still drawn, at the first offset inside the frame clear of the hard boxes
    (else the first inside the frame): it may touch another label, never a camera.

    Parameters
    ----------
    ax : matplotlib Axes
        The map, with its limits set.
    margin : float
        Pixels kept clear inside the frame and around each label.
    """

    def __init__(self, ax, margin: float = 2.0):
        from matplotlib.transforms import Bbox

        self.ax = ax
        ax.apply_aspect()
        self.renderer = ax.figure.canvas.get_renderer()
        f = ax.get_window_extent(self.renderer)
        self.frame = Bbox.from_extents(f.x0 + margin, f.y0 + margin,
                                       f.x1 - margin, f.y1 - margin)
        self.margin = margin
        self.taken: list = []  # labels
        self.hard: list = []  # never to be covered

    def reserve_box(self, bbox, hard: bool = True) -> None:
        """Keep labels off a display-space box."""
        (self.hard if hard else self.taken).append(bbox)

    def reserve_fraction(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Keep labels off a part of the map given in axes fractions."""
        from matplotlib.transforms import Bbox

        t = self.ax.transAxes
        (a, b), (c, d) = t.transform([(x0, y0), (x1, y1)])
        self.hard.append(Bbox.from_extents(a, b, c, d))

    def reserve_point(self, x: float, y: float, radius: float) -> None:
        """Keep labels ``radius`` pixels away from a data point."""
        from matplotlib.transforms import Bbox

        px, py = self.ax.transData.transform((x, y))
        self.hard.append(Bbox.from_extents(px - radius, py - radius, px + radius,
                                           py + radius))

    def _box(self, artist):
        """The text's extent plus the margin (which covers a label's halo box)."""
        return artist.get_window_extent(self.renderer).padded(self.margin)

    def _inside(self, bb) -> bool:
        f = self.frame
        return f.x0 <= bb.x0 and bb.x1 <= f.x1 and f.y0 <= bb.y0 and bb.y1 <= f.y1

    def fits(self, bb) -> bool:
        """Whether a display box is inside the frame and clear of every box."""
        return self._inside(bb) and not any(bb.overlaps(t) for t in
                                            self.hard + self.taken)

    def text(self, x: float, y: float, s: str, *,
             offsets=((0, 0),), required: bool = False, **kw):
        """Draw ``s`` at the first offset (points) where it fits; None when none
        does (unless ``required``: see the class notes)."""
        inside, clear = None, None
        for dx, dy in offsets:
            t = self.ax.annotate(plain(s), (x, y), xytext=(dx, dy),
                                 textcoords="offset points", annotation_clip=False,
                                 **kw)
            bb = self._box(t)
            if self.fits(bb):
                self.taken.append(bb)
                return t
            if required and self._inside(bb):
                inside = inside or (dx, dy)
                if clear is None and not any(bb.overlaps(h) for h in self.hard):
                    clear = (dx, dy)
            t.remove()
        best = clear or inside
        if best is None:
            return None
        t = self.ax.annotate(plain(s), (x, y), xytext=best, textcoords="offset points",
                             annotation_clip=False, **kw)
        self.taken.append(self._box(t))
        return t


#: Offsets (points) tried around an anchor, nearest first.
RING = ((0, 0), (0, 9), (0, -9), (12, 0), (-12, 0), (10, 8), (-10, 8), (10, -8),
        (-10, -8), (0, 16), (0, -16), (20, 0), (-20, 0), (18, 14), (-18, 14),
        (18, -14), (-18, -14), (0, 24), (0, -24), (30, 0), (-30, 0))


def halo(alpha: float = 0.75) -> dict:
    """A pale box behind a map label (a box, not a path effect: path effects turn
    text into outlines, which a reader can no longer search or copy)."""
    return {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
            "alpha": alpha}


def draw_cameras(ax, x, y, labels=None, placer: LabelPlacer | None = None,
                 size: float = 150) -> None:
    """Camera sites as green stars with a white halo, above everything else on the
    map; their places are reserved in ``placer``; optional labels beside them."""
    import matplotlib.patheffects as pe

    x, y = list(x), list(y)
    if not x:
        return
    ax.scatter(x, y, marker="*", s=size, c="#1b9e77", edgecolors="#111111",
               linewidths=0.7, zorder=Z["cameras"], gid="camera-site",
               path_effects=[pe.withStroke(linewidth=3.2, foreground="white")])
    if placer is None:
        return
    # the star's half-width in pixels, its halo and a little room
    radius = (size ** 0.5) / 2 * ax.figure.dpi / 72 + 7
    for xx, yy in zip(x, y, strict=True):
        placer.reserve_point(xx, yy, radius)
    for xx, yy, lab in zip(x, y, labels or [None] * len(x), strict=True):
        if lab:
            placer.text(xx, yy, lab, offsets=_BESIDE, required=True, fontsize=7,
                        weight="bold", color="#0b5e46", ha="center", va="center",
                        zorder=Z["camera_labels"], bbox=halo(0.85),
                        gid="camera-label")


#: Offsets (points) for a label beside a marker, never on it.
_BESIDE = ((0, 10), (0, -10), (17, 0), (-17, 0), (15, 9), (-15, 9), (15, -9),
           (-15, -9), (0, 18), (0, -18), (26, 0), (-26, 0), (24, 15), (-24, 15),
           (24, -15), (-24, -15), (0, 27), (0, -27))


def label_wards(placer, wards, inner, box) -> None:
    """Name each ward of ``wards`` (BNG) that shows inside ``inner`` by at least 1 %
    of the map ``box``, in grey italics at a point inside its visible part."""
    for r in wards.itertuples(index=False):
        vis = r.geometry.intersection(inner)
        if vis.is_empty or vis.area < 0.01 * box.area:
            continue
        p = vis.representative_point()
        placer.text(p.x, p.y, r.ward_name, offsets=RING, fontsize=7,
                    color="#555555", style="italic", ha="center", va="center",
                    zorder=Z["ward_names"], bbox=halo(), gid="ward-name")


def draw_streets(ax, placer: LabelPlacer, box, *, store=None, max_labels: int = 30,
                 roads=None, fontsize: float = 6.3) -> tuple[list, list[str]]:
    """Streets on a map (BNG ``box``): OS Open Roads when fetched, else the
    offline street-name layer of the police.uk map points.

    With roads, the road links are drawn by class and named along the longest
    stretch of each road in view (A roads, then B roads, then the longest). With
    none, each street is named at the medoid of its map points in view
    (:func:`hotspots.streetnames.street_labels`), turned along the street, the
    streets with most offences first. Labels that would overlap another label or
    leave the frame are left out.

    Returns
    -------
    handles, notes
        Legend handles and source lines for the footer.
    """
    from matplotlib.lines import Line2D

    from ..streetnames import load_roads, street_labels

    x0, y0, x1, y1 = box
    roads = load_roads(box) if roads is None else roads
    if roads is not None and len(roads):
        return _draw_roads(ax, placer, roads, max_labels, fontsize), [OS_ATTRIBUTION]
    labels = street_labels(bounds=box, store=store)
    shown = 0
    pts = None
    if len(labels):
        from ..streetnames import street_points

        pts = street_points(store)
        pts = pts[pts["group"].isin(labels["group"]) & pts["x"].between(x0, x1)
                  & pts["y"].between(y0, y1)]
    for r in labels.itertuples(index=False):
        if shown >= max_labels:
            break
        angle = _street_angle(pts[pts["group"] == r.group]) if pts is not None else 0
        t = placer.text(r.x, r.y, r.name, offsets=((0, 0), (0, 5), (0, -5)),
                        fontsize=fontsize, color="#303030", ha="center",
                        va="center", rotation=angle, rotation_mode="anchor",
                        zorder=Z["street_names"], bbox=halo(0.6), gid="street-name")
        shown += t is not None
    handles = [Line2D([], [], ls="", marker="$Abc$", ms=13, color="#303030",
                      label="Street names (police.uk map points)")]
    return handles, ["Street names: the police.uk map point names, each at the "
                     "medoid of its points (offline layer; no road lines)."]


def _street_angle(pts) -> float:
    """The direction of a street's points (degrees, -90…90), 0 when not clear."""
    import numpy as np

    if pts is None or len(pts) < 3:
        return 0.0
    xy = pts[["x", "y"]].to_numpy(dtype="float64")
    xy = xy - xy.mean(axis=0)
    w, v = np.linalg.eigh(np.cov(xy.T))
    if w[1] < 4 * max(w[0], 1e-9):
        return 0.0
    angle = float(np.degrees(np.arctan2(v[1, 1], v[0, 1])))
    if angle > 90:
        angle -= 180
    elif angle < -90:
        angle += 180
    return round(angle, 1)


_ROAD_STYLE = {  # OS road classification -> (colour, width)
    "Motorway": ("#d9738b", 2.2), "A Road": ("#e9a15c", 1.6),
    "B Road": ("#e6c35c", 1.2), "Classified Unnumbered": ("#b5b5b5", 0.8),
}


def _draw_roads(ax, placer, roads, max_labels, fontsize) -> list:
    import numpy as np
    from matplotlib.lines import Line2D

    for cls, sub in roads.groupby("road_class"):
        colour, lw = _ROAD_STYLE.get(cls, ("#b8b8b8", 0.6))
        sub.plot(ax=ax, color=colour, linewidth=lw, zorder=Z["streets"])
    named = roads[roads["name"].notna()].copy()
    named["length"] = named.length
    order = {"Motorway": 0, "A Road": 1, "B Road": 2}
    named["rank"] = named["road_class"].map(order).fillna(3)
    best = (named.sort_values(["rank", "length"], ascending=[True, False])
            .drop_duplicates("name"))
    shown = 0
    for r in best.itertuples(index=False):
        if shown >= max_labels:
            break
        line = r.geometry
        if line.geom_type == "MultiLineString":
            line = max(line.geoms, key=lambda g: g.length)
        mid = line.interpolate(0.5, normalized=True)
        a = line.interpolate(max(0.0, 0.5 - 0.1), normalized=True)
        b = line.interpolate(min(1.0, 0.5 + 0.1), normalized=True)
        angle = float(np.degrees(np.arctan2(b.y - a.y, b.x - a.x)))
        angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle
        t = placer.text(mid.x, mid.y, r.name, offsets=((0, 0),), fontsize=fontsize,
                        color="#303030", ha="center", va="center", rotation=angle,
                        rotation_mode="anchor", zorder=Z["street_names"],
                        bbox=halo(0.6), gid="street-name")
        shown += t is not None
    return [Line2D([], [], color=_ROAD_STYLE["A Road"][0], lw=1.6, label="A road"),
            Line2D([], [], color="#b8b8b8", lw=0.8,
                   label="Other roads (OS Open Roads)")]
