"""Printed ward maps: one A4 landscape PDF per 2022 ward, and a booklet per borough.

Page 1 is the map: the ward's outline, its neighbouring wards outlined and named,
the Gi* hexagons coloured by confidence bin, surge patrol zones and camera sites
when given, the busiest "On or near" streets numbered, a legend, scale bar and north
arrow, the period and the data sources and licences. Page 2 gives the counts by crime
family (12 months against the previous 12), the top streets and the hot spot summary.

One hot spot analysis (:func:`hotspots.analysis.analyse`) is run for the borough and
the wards that touch it, so cells along the borough edge see their real
neighbourhood; each ward's page then selects its cells. The maps are plain matplotlib
in the British National Grid (vector, offline, no tiles). Whenever any offence used
is semi-synthetic, every page says so and how much.

Command line (a progress bar on the terminal; ``--json`` prints ``{"pdfs": …}``)::

    hotspots maps --borough Merton --out out/maps [--crime robbery --from 2023-01
        --to 2023-12]
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..analysis import Analysis, analyse
from ..areas import BNG, Area, bng_xy, load_wards, resolve_area
from ..config import FAMILIES, crime_types_for
from ..counts import covered_months
from ..errors import ParameterError
from ..months import month_label, month_range, shift_month
from ..plan.streets import NO_NAME, street_name, top_streets
from ..store import Store

__all__ = ["MAP_FAMILIES", "WardMaps", "context_area", "ward_counts", "ward_maps"]

#: Crime families counted on page 2, in print order.
MAP_FAMILIES: tuple[str, ...] = ("robbery", "vehicle", "asb", "burglary", "all")
_N_STREETS = 5


@dataclass(frozen=True)
class WardMaps:
    """What :func:`ward_maps` printed."""

    area: Area
    crime: str
    start: str
    end: str
    wards: tuple[str, ...]
    pdfs: tuple[str, ...]
    booklet: str
    synthetic_share: float
    counts: pd.DataFrame = field(repr=False)

    def to_json(self) -> dict:
        return {
            "area": self.area.to_dict(),
            "crime": self.crime,
            "from": self.start,
            "to": self.end,
            "wards": list(self.wards),
            "pdfs": list(self.pdfs),
            "booklet": self.booklet,
            "synthetic_share": round(self.synthetic_share, 4),
        }


def context_area(area: Area, wards: gpd.GeoDataFrame | None = None) -> Area:
    """``area`` plus every 2022 ward that touches it (the map's analysis area)."""
    wards = load_wards() if wards is None else wards
    bng = wards.to_crs(BNG)
    inside = bng["ward_code"].isin(area.ward_codes)
    edge = shapely.union_all(bng.geometry[inside].values).buffer(50)
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


def ward_counts(offences: pd.DataFrame, end: str, ward_codes,
                store: Store, area=None) -> pd.DataFrame:
    """Offences per ward and family: the 12 months to ``end`` and the 12 before.

    ``previous`` is NA when the data does not cover all 12 earlier months for that
    family (never a made-up zero).

    Returns
    -------
    DataFrame
        ``ward_code, crime, current, previous``.
    """
    cur_m = set(month_range(shift_month(end, -11), end))
    prev_m = month_range(shift_month(end, -23), shift_month(end, -12))
    rows = []
    for fam in MAP_FAMILIES:
        covered = set(covered_months(store, fam, area))
        sub = offences[offences["crime_type"].isin(FAMILIES[fam])]
        cur = sub[sub["month"].isin(cur_m)].groupby("ward_code").size()
        prev = sub[sub["month"].isin(prev_m)].groupby("ward_code").size()
        has_prev = covered.issuperset(prev_m)
        for w in ward_codes:
            rows.append((w, fam, int(cur.get(w, 0)),
                         int(prev.get(w, 0)) if has_prev else pd.NA))
    out = pd.DataFrame(rows, columns=["ward_code", "crime", "current", "previous"])
    out["previous"] = out["previous"].astype("Int64")
    return out


def ward_maps(
    borough: Area | str,
    out_dir: Path | str,
    crime: str = "robbery",
    start: str | None = None,
    end: str | None = None,
    *,
    res: int = 9,
    zones: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    analysis: Analysis | None = None,
    store: Store | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> WardMaps:
    """Print one PDF per 2022 ward of ``borough`` and one booklet of them all.

    Parameters
    ----------
    borough : Area or str
        A borough (every ward printed) or one 2022 ward.
    out_dir : path
        Folder for ``<ward>-<code>.pdf`` files and ``<borough>-ward-maps.pdf``.
    crime : str
        The crime family (or police.uk type) mapped.
    start, end : str, optional
        Inclusive ``YYYY-MM``; default the 12 months to the last month every type
        of ``crime`` covers (:func:`hotspots.report._pdf.report_period`).
    res : int
        H3 resolution of the hot spot cells.
    zones, sites : GeoDataFrame, optional
        Surge patrol zones (polygons, optional ``zone`` column) and camera sites
        (points, optional ``site`` column) to draw, any CRS.
    analysis : Analysis, optional
        A hot spot analysis to draw instead of running one (it should cover the
        borough and its neighbouring wards).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    WardMaps
    """
    store = store or Store.open()
    crime_types_for(crime)
    area = borough if isinstance(borough, Area) else resolve_area(borough)
    if area.kind not in ("borough", "ward"):
        raise ParameterError(
            f"'borough' needs to be a London borough or a 2022 ward; {area.name!r} "
            f"is a {area.kind}."
        )
    wards = load_wards()
    if analysis is None:
        from ._pdf import report_period

        if progress:
            progress("hot spot analysis", 0, 1)
        start, end = report_period(store, crime, start, end)
        analysis = analyse(context_area(area, wards), crime, start, end, res=res,
                           store=store)
        if progress:
            progress("hot spot analysis", 1, 1)
    start, end = analysis.start, analysis.end
    first = min(shift_month(end, -23), start)
    offences = store.offences(
        area=area, crime="everything", start=first, end=end,
        columns=["ward_code", "crime_type", "month", "location", "synthetic"])
    counts = ward_counts(offences, end, area.ward_codes, store, area)
    plan = _Plan.make(area, wards, analysis, offences, counts, zones, sites, res)
    out_dir = Path(out_dir)
    return _print(plan, out_dir, progress)


def _frame(fig, ax, extent):
    """Set the map's extent, add scale bar and north arrow; return the side panel."""
    from . import _pdf

    x0, x1, y0, y1 = extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("")
    ax.set_ylabel("")
    _pdf.scale_bar(ax)
    _pdf.north_arrow(ax)
    side = fig.add_axes([0.655, 0.10, 0.325, 0.71])
    side.set_axis_off()
    return side


# -- the drawing plan ------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    area: Area
    crime: str
    start: str
    end: str
    res: int
    wards: gpd.GeoDataFrame  # every London ward, BNG
    mine: gpd.GeoDataFrame  # the wards printed, BNG, by name
    cells: gpd.GeoDataFrame  # BNG
    mapped: pd.DataFrame  # the analysis offences in the printed wards
    offences: pd.DataFrame  # every family, 24 months, the printed wards
    counts: pd.DataFrame
    zones: gpd.GeoDataFrame | None
    sites: gpd.GeoDataFrame | None
    synthetic_share: float
    why: tuple[str, ...]

    @classmethod
    def make(cls, area, wards, analysis, offences, counts, zones, sites, res):
        bng = wards.to_crs(BNG)
        mine = bng[bng["ward_code"].isin(area.ward_codes)].sort_values("ward_name")
        mapped = analysis.offences
        mapped = mapped[mapped["ward_code"].isin(area.ward_codes)]
        return cls(
            area=area, crime=analysis.crime, start=analysis.start, end=analysis.end,
            res=res, wards=bng, mine=mine.reset_index(drop=True),
            cells=analysis.cells.to_crs(BNG), mapped=mapped, offences=offences,
            counts=counts,
            zones=None if zones is None or zones.empty else zones.to_crs(BNG),
            sites=None if sites is None or sites.empty else sites.to_crs(BNG),
            synthetic_share=float(analysis.metadata["data"]["synthetic_share"]),
            why=tuple(analysis.metadata.get("why", ())),
        )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _print(plan: _Plan, out_dir: Path, progress) -> WardMaps:
    from . import _pdf

    a = plan.area
    period = f"{month_label(plan.start)} to {month_label(plan.end)}"
    params = {"area": a.name, "crime": plan.crime, "from": plan.start,
              "to": plan.end, "res": plan.res}
    booklet = out_dir / f"{_slug(a.name)}-ward-maps.pdf"
    n = len(plan.mine)
    pdfs, names = [], []
    meta = _pdf.pdf_metadata(f"{a.name} ward maps: {plan.crime}, {period}",
                             subject="Ward hot spot maps", params=params)
    with _pdf.pdf_file(booklet, meta) as book:
        if n > 1:
            cover = _cover_page(plan, period)
            book.savefig(cover)
            _pdf.plt.close(cover)
        for i, ward in enumerate(plan.mine.itertuples(index=False)):
            path = out_dir / f"{_slug(ward.ward_name)}-{ward.ward_code}.pdf"
            wmeta = _pdf.pdf_metadata(
                f"{ward.ward_name} ({ward.borough}): {plan.crime}, {period}",
                subject="Ward hot spot map", params={**params, "ward": ward.ward_code})
            figs = (_map_page(plan, ward, period, i + 1, n),
                    _counts_page(plan, ward, period, i + 1, n))
            with _pdf.pdf_file(path, wmeta) as single:
                for fig in figs:
                    single.savefig(fig)
                    book.savefig(fig)
                    _pdf.plt.close(fig)
            pdfs.append(str(path))
            names.append(ward.ward_name)
            if progress:
                progress("ward maps", i + 1, n)
    return WardMaps(a, plan.crime, plan.start, plan.end, tuple(names), tuple(pdfs),
                    str(booklet), plan.synthetic_share, plan.counts)


def _ward_synthetic(plan: _Plan, code: str) -> tuple[float, list[str]]:
    """Share of the ward's page-2 rows that are synthetic, and their families."""
    from ._pdf import FAMILY_LABELS

    rows = plan.offences[plan.offences["ward_code"] == code]
    if rows.empty or not rows["synthetic"].any():
        return 0.0, []
    types = set(rows.loc[rows["synthetic"], "crime_type"])
    fams = [FAMILY_LABELS[f] for f in ("robbery", "vehicle", "asb", "burglary")
            if types & set(FAMILIES[f])]
    return float(rows["synthetic"].mean()), fams


def _crime_label(crime: str) -> str:
    from ._pdf import FAMILY_LABELS

    return FAMILY_LABELS.get(crime.lower(), crime)


def _title(ward) -> str:
    return f"{ward.ward_name} ward ({ward.borough})"


def _extent(geom, aspect: float, margin: float = 0.12) -> tuple:
    """A box around ``geom`` with ``margin`` each side and width/height ``aspect``."""
    x0, y0, x1, y1 = geom.bounds
    w, h = (x1 - x0) * (1 + 2 * margin), (y1 - y0) * (1 + 2 * margin)
    w, h = max(w, h * aspect, 800.0), max(h, w / aspect, 800.0 / aspect)
    w = max(w, h * aspect)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _halo() -> dict:
    """A pale box behind a map label (a box, not a path effect: path effects turn
    text into outlines, which a reader can no longer search or copy)."""
    return {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7}


_MAP_BOX = (0.03, 0.10, 0.60, 0.71)  # left, bottom, width, height (figure fraction)


def _map_axes(fig, geom):
    """The map axes of a page, framed on ``geom`` (BNG), without ticks."""
    from . import _pdf

    aspect = (_MAP_BOX[2] * _pdf.A4_LANDSCAPE[0]) / (_MAP_BOX[3] * _pdf.A4_LANDSCAPE[1])
    x0, y0, x1, y1 = _extent(geom, aspect)
    ax = fig.add_axes(_MAP_BOX)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor("#888888")
        s.set_linewidth(0.6)
    return ax, (x0, y0, x1, y1)


def _cover_page(plan: _Plan, period: str):
    """The booklet's first page: the borough's hot spots and an index of wards."""
    from matplotlib.lines import Line2D

    from . import _pdf

    crime = _crime_label(plan.crime)
    a = plan.area
    fig = _pdf.new_page(f"{a.name} ward maps: {crime.lower()} hot spots",
                        f"{period} · Getis-Ord Gi* on H3 resolution {plan.res} "
                        f"cells, false discovery rate corrected · "
                        f"{len(plan.mine)} wards")
    outline = shapely.union_all(plan.mine.geometry.values)
    ax, (x0, y0, x1, y1) = _map_axes(fig, outline)
    box = shapely.box(x0, y0, x1, y1)
    cells = plan.cells[plan.cells.intersects(box)]
    inside = cells.centroid.within(outline).to_numpy()
    colours = cells["bin"].map(_pdf.BIN_COLOURS)
    for mask, alpha in ((~inside, 0.3), (inside, 0.9)):
        if mask.any():
            cells[mask].plot(ax=ax, color=colours[mask], alpha=alpha,
                             edgecolor="none", zorder=2)
    plan.mine.boundary.plot(ax=ax, color="#333333", linewidth=0.6, zorder=4)
    gpd.GeoSeries([outline], crs=BNG).boundary.plot(ax=ax, color="#111111",
                                                    linewidth=1.8, zorder=5)
    index = []
    for k, w in enumerate(plan.mine.itertuples(index=False), start=1):
        p = w.geometry.representative_point()
        ax.text(p.x, p.y, str(k), fontsize=7.5, weight="bold", ha="center",
                va="center", zorder=8, bbox=_halo())
        index.append(f"{k:>2}. {w.ward_name}: pages {2 * k}–{2 * k + 1}")
    side = _frame(fig, ax, (x0, x1, y0, y1))
    handles = _pdf.bin_legend_handles() + [
        Line2D([], [], color="#111111", lw=1.8, label=f"{a.name}"),
        Line2D([], [], color="#333333", lw=0.6, label="2022 wards (numbered)")]
    leg = side.legend(handles=handles, loc="upper left", fontsize=7.5,
                      frameon=False, title=f"{crime}, {period}", title_fontsize=8.5,
                      alignment="left", borderaxespad=0)
    leg.get_title().set_weight("bold")
    side.text(0, 0.55, _pdf.plain("Wards in this booklet:\n" + "\n".join(index)),
              fontsize=7.5, va="top", ha="left", linespacing=1.35,
              transform=side.transAxes)
    _pdf.synthetic_label(fig, plan.synthetic_share,
                         [crime] if plan.synthetic_share else [])
    _pdf.footer(fig, page=f"{a.name} ward maps, page 1")
    return fig


def _map_page(plan: _Plan, ward, period: str, i: int, n: int):
    from matplotlib.lines import Line2D

    from . import _pdf

    crime = _crime_label(plan.crime)
    fig = _pdf.new_page(
        f"{_title(ward)}: {crime.lower()} hot spots",
        f"{period} · Getis-Ord Gi* on H3 resolution {plan.res} cells, false "
        f"discovery rate corrected · ward {ward.ward_code}, map {i} of {n}")
    ax, (x0, y0, x1, y1) = _map_axes(fig, ward.geometry)
    box = shapely.box(x0, y0, x1, y1)
    # hexagons: strong inside the ward, faded outside it
    cells = plan.cells[plan.cells.intersects(box)]
    inside = cells.centroid.within(ward.geometry)
    colours = cells["bin"].map(_pdf.BIN_COLOURS)
    for mask, alpha in ((~inside, 0.35), (inside, 0.9)):
        sub = cells[mask.to_numpy()]
        if len(sub):
            sub.plot(ax=ax, color=colours[mask.to_numpy()], alpha=alpha,
                     edgecolor="white", linewidth=0.3, zorder=2)
    # neighbouring wards, outlined and named on their visible part
    near = plan.wards[plan.wards.intersects(box)
                      & (plan.wards["ward_code"] != ward.ward_code)]
    near.boundary.plot(ax=ax, color="#777777", linewidth=0.7, zorder=4)
    inner = box.buffer(-0.04 * (x1 - x0))
    for r in near.itertuples(index=False):
        vis = r.geometry.intersection(inner)
        if vis.is_empty or vis.area < 0.015 * box.area:
            continue
        p = vis.representative_point()
        ax.text(p.x, p.y, _pdf.plain(r.ward_name), fontsize=7, color="#555555",
                style="italic", ha="center", va="center", zorder=6,
                bbox=_halo())
    gpd.GeoSeries([ward.geometry], crs=BNG).boundary.plot(
        ax=ax, color="#111111", linewidth=2.0, zorder=5)
    handles = _pdf.bin_legend_handles()
    handles += [Line2D([], [], color="#111111", lw=2, label=f"{ward.ward_name} ward"),
                Line2D([], [], color="#777777", lw=0.7, label="Neighbouring wards")]
    handles += _draw_zones_sites(ax, plan, box)
    streets = _ward_streets(plan, ward)
    placed: list[tuple[float, float]] = []
    step = 0.03 * (x1 - x0)
    for k, r in enumerate(streets.itertuples(index=False), start=1):
        if np.isfinite(r.x):
            x = r.x  # police.uk points are shared: nudge markers apart
            while any(abs(x - px) < step and abs(r.y - py) < step
                      for px, py in placed):
                x += step
            placed.append((x, r.y))
            ax.text(x, r.y, str(k), fontsize=7.5, weight="bold", ha="center",
                    va="center", zorder=9, color="#111111",
                    bbox={"boxstyle": "circle,pad=0.25", "fc": "white",
                          "ec": "#111111", "lw": 0.8})
    if len(streets):
        handles.append(Line2D([], [], marker="o", ls="", mfc="white", mec="#111111",
                              ms=8, label="Top streets (numbered, right)"))
    # side panel: legend, streets and the ward's figures
    side = _frame(fig, ax, (x0, x1, y0, y1))
    leg = side.legend(handles=handles, loc="upper left", fontsize=7.5, frameon=False,
                      title=f"{crime}, {period}", title_fontsize=8.5,
                      alignment="left", borderaxespad=0)
    leg.get_title().set_weight("bold")
    lines = [f"Top streets for {crime.lower()} in the ward (police.uk 'On or near' "
             "map points):"]
    lines += [f"{k}. {_short(r.street)}: {r.offences:,}"
              + ("" if np.isfinite(r.x) else " (not mapped)")
              for k, r in enumerate(streets.itertuples(index=False), start=1)]
    if streets.empty:
        lines.append("none in this period")
    stats = _ward_stats(plan, ward)
    lines += ["", f"{crime} in the ward: {stats['offences']:,} offences",
              f"Cells (centre in ward): {stats['cells']}, hot at 95%+: "
              f"{stats['hot95']}, cold at 95%+: {stats['cold95']}",
              f"Share of the ward's offences in 95%+ hot cells: "
              f"{stats['hot_share']:.0%}" if stats["offences"] else
              "No offences in the period."]
    lines = [t for x in lines for t in (textwrap.wrap(x, 62) or [""])]
    side.text(0, 0.52, _pdf.plain("\n".join(lines)), fontsize=7.5, va="top",
              ha="left", linespacing=1.45, transform=side.transAxes, wrap=True)
    _pdf.synthetic_label(fig, plan.synthetic_share, [crime] if
                         plan.synthetic_share else [])
    _pdf.footer(fig, page=f"{ward.ward_name}, page 1 of 2")
    return fig


def _short(text: str, n: int = 44) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _draw_zones_sites(ax, plan: _Plan, box) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    if plan.zones is not None:
        z = plan.zones[plan.zones.intersects(box)]
        if len(z):
            z.boundary.plot(ax=ax, color="#6a3d9a", linewidth=1.6, linestyle="--",
                            zorder=7)
            if "zone" in z.columns:
                for r in z.itertuples(index=False):
                    p = r.geometry.representative_point()
                    name = str(r.zone) if str(r.zone).startswith("Z") else \
                        f"Z{r.zone}"
                    ax.text(p.x, p.y, name, fontsize=7, color="#6a3d9a",
                            weight="bold", zorder=8, bbox=_halo())
            handles.append(Patch(facecolor="none", edgecolor="#6a3d9a",
                                 linestyle="--", label="Surge patrol zone"))
    if plan.sites is not None:
        s = plan.sites[plan.sites.intersects(box)]
        if len(s):
            pts = s.geometry.representative_point()
            ax.scatter(pts.x, pts.y, marker="*", s=130, c="#1b9e77",
                       edgecolors="#111111", linewidths=0.6, zorder=8)
            handles.append(Line2D([], [], marker="*", ls="", mfc="#1b9e77",
                                  mec="#111111", ms=11, label="Camera site"))
    return handles


def _ward_streets(plan: _Plan, ward) -> pd.DataFrame:
    """Top streets of the mapped crime in the ward with a BNG point to mark each."""
    rows = plan.mapped[plan.mapped["ward_code"] == ward.ward_code]
    if rows.empty:
        return pd.DataFrame({"street": [], "offences": [], "x": [], "y": []})
    top = top_streets(rows, n=_N_STREETS)
    names = rows["location"].map(street_name)
    xs, ys = [], []
    for s in top["street"]:
        if s == NO_NAME:
            xs.append(np.nan)
            ys.append(np.nan)
            continue
        at = rows[(names == s).to_numpy()]
        x, y = bng_xy(at["lon"], at["lat"])
        xs.append(float(x.mean()))
        ys.append(float(y.mean()))
    return top.assign(x=xs, y=ys)


def _ward_stats(plan: _Plan, ward) -> dict:
    cells = plan.cells[plan.cells.centroid.within(ward.geometry)]
    rows = plan.mapped[plan.mapped["ward_code"] == ward.ward_code]
    col = f"h3_{plan.res}" if plan.res in (8, 9, 10) else "h3_8"
    hot = set(plan.cells.loc[plan.cells["bin"] >= 2, "h3"])
    in_hot = rows[col].isin(hot).sum() if col in rows else 0
    return {
        "offences": int(len(rows)),
        "cells": int(len(cells)),
        "hot95": int((cells["bin"] >= 2).sum()),
        "cold95": int((cells["bin"] <= -2).sum()),
        "hot_share": float(in_hot / len(rows)) if len(rows) else 0.0,
        "bins": {int(b): int((cells["bin"] == b).sum()) for b in range(3, -4, -1)},
    }


def _counts_page(plan: _Plan, ward, period: str, i: int, n: int):
    from . import _pdf

    end = plan.end
    fig = _pdf.new_page(
        f"{_title(ward)}: offences and top streets",
        f"12 months to {month_label(end)} against the previous 12 months · "
        f"ward {ward.ward_code}, map {i} of {n}")
    c = plan.counts[plan.counts["ward_code"] == ward.ward_code].set_index("crime")
    boro = plan.counts.groupby("crime")["current"].sum()
    rows = []
    for fam in MAP_FAMILIES:
        cur = int(c.loc[fam, "current"])
        prev = c.loc[fam, "previous"]
        prev = None if pd.isna(prev) else int(prev)
        share = f"{100 * cur / boro[fam]:.1f}%" if boro[fam] else "n/a"
        rows.append([_pdf.FAMILY_LABELS[fam], f"{cur:,}",
                     "n/a" if prev is None else f"{prev:,}",
                     _pdf.change_text(cur, prev), f"{int(boro[fam]):,}", share])
    where = "borough" if plan.area.kind == "borough" else "area"
    ax = fig.add_axes([0.03, 0.50, 0.55, 0.28])
    _pdf.draw_table(
        ax, ["Crime", f"12 months to\n{month_label(end)}", "Previous\n12 months",
             "Change", f"Whole {where}\n12 months", f"Ward share\nof {where}"],
        rows, fontsize=8.5, col_widths=[0.23, 0.15, 0.14, 0.14, 0.17, 0.17],
        align=["left"] + ["right"] * 5, title="Offences by crime family")
    # top streets: the mapped crime over the map period, and all crime (12 months)
    mine = plan.offences[plan.offences["ward_code"] == ward.ward_code]
    last12 = mine[mine["month"].isin(month_range(shift_month(end, -11), end))]
    crime = _crime_label(plan.crime)
    tables = (
        (f"Top streets: {crime.lower()}, {period}", _ward_streets(plan, ward)),
        (f"Top streets: all crime, 12 months to {month_label(end)}",
         top_streets(last12, n=_N_STREETS) if len(last12) else
         pd.DataFrame({"street": [], "offences": []})),
    )
    for k, (title, top) in enumerate(tables):
        ax = fig.add_axes([0.62, 0.52 - k * 0.37, 0.35, 0.26])
        body = [[str(j), _short(r.street, 40), f"{r.offences:,}"]
                for j, r in enumerate(top.itertuples(index=False), start=1)]
        _pdf.draw_table(ax, ["#", "On or near", "Offences"], body or [["", "none",
                                                                       ""]],
                        fontsize=8, col_widths=[0.07, 0.73, 0.2],
                        align=["left", "left", "right"], title=title)
    stats = _ward_stats(plan, ward)
    b = stats["bins"]
    summary = [
        f"Hot spot cells with their centre in the ward ({crime.lower()}, {period}):",
        f"hot 99%: {b[3]}, 95%: {b[2]}, 90%: {b[1]}; not significant: {b[0]}; "
        f"cold 90%: {b[-1]}, 95%: {b[-2]}, 99%: {b[-3]}.",
        f"{stats['hot_share']:.0%} of the ward's {stats['offences']:,} "
        f"{crime.lower()} offences fall in cells hot at 95% or more.",
        "",
        "How the hot spots were found:",
        *[w for w in plan.why if not w.startswith("SEMI")],
    ]
    ax = fig.add_axes([0.03, 0.11, 0.55, 0.35])
    ax.set_axis_off()
    text = "\n".join(t for s in summary for t in (textwrap.wrap(s, 105) or [""]))
    ax.text(0, 1, _pdf.plain(text), fontsize=7.5, va="top", ha="left",
            linespacing=1.4, transform=ax.transAxes)
    share, fams = _ward_synthetic(plan, ward.ward_code)
    if not share and plan.synthetic_share:  # the hot spot summary still uses them
        share, fams = plan.synthetic_share, [crime]
    _pdf.synthetic_label(fig, share, fams)
    _pdf.footer(fig, page=f"{ward.ward_name}, page 2 of 2")
    return fig
