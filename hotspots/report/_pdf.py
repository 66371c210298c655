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
from ..stats.inference import BIN_LABELS  # noqa: E402
from ..store import atomic_file  # noqa: E402

__all__ = [
    "A4_LANDSCAPE",
    "BIN_COLOURS",
    "BIN_LABELS",
    "FAMILY_LABELS",
    "SOURCES",
    "bin_legend_handles",
    "change_text",
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

#: ArcGIS-style confidence bin colours: hot red, cold blue, not significant pale.
BIN_COLOURS = {
    3: "#d62f27",
    2: "#ed7551",
    1: "#fab984",
    0: "#f2f2f2",
    -1: "#c0ccbe",
    -2: "#849eba",
    -3: "#4575b5",
}
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
    fig.text(0.03, 0.955, plain(title), fontsize=16, weight="bold", color=_INK,
             va="top")
    if subtitle:
        fig.text(0.03, 0.912, plain(subtitle), fontsize=10, color=_GREY, va="top")
    return fig


def footer(fig: Figure, extra: Sequence[str] = (), page: str = "",
           width: int = 190) -> None:
    """Sources, licences and what produced the page, at the foot of ``fig`` (lines
    wrapped at ``width`` characters)."""
    made = (f"Produced by hotspots {__version__} on "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.")
    lines = [w for x in (*SOURCES, *extra, made)
             for w in textwrap.wrap(str(x), width=width)]
    fig.text(0.03, 0.012, "\n".join(plain(x) for x in lines), fontsize=6.2,
             color=_GREY, va="bottom", linespacing=1.35)
    if page:
        fig.text(0.97, 0.012, plain(page), fontsize=7, color=_GREY, ha="right",
                 va="bottom")


def synthetic_text(share: float, families: Sequence[str] = ()) -> str:
    """The wording of the semi-synthetic warning (see :func:`synthetic_label`)."""
    which = f" ({', '.join(families)})" if families else ""
    return (f"SEMI-SYNTHETIC DATA — not real police records: {share:.0%} of the "
            f"offences used{which} are synthetic offences on real police.uk map "
            "points. Not for operational decisions.")


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
    if title:
        ax.set_title(plain(title), fontsize=fontsize + 2, loc="left", weight="bold",
                     color=_INK)
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
