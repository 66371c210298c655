"""Printed ward maps: one A4 landscape PDF per 2022 ward, and a booklet per borough.

Page 1 is the map: the ward's outline, its neighbouring wards outlined and named,
the Gi* hexagons coloured by confidence bin (cells outside the ward hatched, not
faded, so they never pass for a weaker bin), the streets with their names (OS Open
Roads when fetched, else the offline layer of police.uk map point names,
:mod:`hotspots.streetnames`), surge patrol zones and camera sites when given, the
busiest "On or near" streets numbered, a legend, scale bar and north arrow, a note
naming the analysis drawn, and the period, data sources and licences. Labels never
overlap or leave the frame (:class:`hotspots.report._pdf.LabelPlacer`), and camera
sites are drawn above everything else. Page 2 gives the counts by crime family (12
months against the previous 12) with rates per 1,000 residents, the top streets and
the hot spot summary. Every page says "page N of M" (in the booklet too, cover
included).

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
from ..areas import BNG, Area, bng_xy, load_wards, resolve_area, with_neighbours
from ..config import FAMILIES, crime_types_for
from ..counts import covered_months
from ..errors import ParameterError
from ..months import describe_months, month_label, month_range, shift_month
from ..plan.streets import NO_NAME, street_name, top_streets
from ..store import Store

__all__ = ["MAP_FAMILIES", "WardMaps", "analysis_note", "context_area", "ward_counts",
           "ward_maps"]

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
    #: months of the period the hot spots leave out (no data for every force)
    missing_months: tuple[str, ...] = ()

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
            "missing_months": list(self.missing_months),
        }


def context_area(area: Area, wards: gpd.GeoDataFrame | None = None) -> Area:
    """``area`` plus every 2022 ward that touches it (the map's analysis area)."""
    return with_neighbours(area, wards)


def ward_counts(offences: pd.DataFrame, end: str, ward_codes,
                store: Store, area=None) -> pd.DataFrame:
    """Offences per ward and family: the 12 months to ``end`` and the 12 before.

    ``current`` and ``previous`` are NA when the data does not cover all 12 of
    their months for that family (never a count of part of a year, nor a made-up
    zero); ``missing_current`` and ``missing_previous`` name the months without
    data ("" when none).

    Returns
    -------
    DataFrame
        ``ward_code, crime, current, previous, missing_current, missing_previous``.
    """
    cur_m = month_range(shift_month(end, -11), end)
    prev_m = month_range(shift_month(end, -23), shift_month(end, -12))
    rows = []
    for fam in MAP_FAMILIES:
        covered = set(covered_months(store, fam, area))
        gaps = [describe_months([m for m in ms if m not in covered])
                if not covered.issuperset(ms) else "" for ms in (cur_m, prev_m)]
        sub = offences[offences["crime_type"].isin(FAMILIES[fam])]
        cur = sub[sub["month"].isin(set(cur_m))].groupby("ward_code").size()
        prev = sub[sub["month"].isin(set(prev_m))].groupby("ward_code").size()
        for w in ward_codes:
            rows.append((w, fam, pd.NA if gaps[0] else int(cur.get(w, 0)),
                         pd.NA if gaps[1] else int(prev.get(w, 0)), *gaps))
    out = pd.DataFrame(rows, columns=["ward_code", "crime", "current", "previous",
                                      "missing_current", "missing_previous"])
    for col in ("current", "previous"):
        out[col] = out[col].astype("Int64")
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
    plan = _plan(borough, crime, start, end, res=res, zones=zones, sites=sites,
                 analysis=analysis, store=store, progress=progress)
    return _print(plan, Path(out_dir), progress)


def _plan(borough, crime, start, end, *, res, zones, sites, analysis, store,
          progress) -> _Plan:
    """Everything the pages draw: the analysis (run when not given), counts and
    layers."""
    store = (store or Store.open()).pinned()  # one generation for the whole run
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
        scope = context_area(area, wards)
        start, end = report_period(store, crime, start, end, area=scope)
        analysis = analyse(scope, crime, start, end, res=res,
                           store=store)
        if progress:
            progress("hot spot analysis", 1, 1)
    start, end = analysis.start, analysis.end
    first = min(shift_month(end, -23), start)
    offences = store.offences(
        area=area, crime="everything", start=first, end=end,
        columns=["ward_code", "crime_type", "month", "location", "synthetic"])
    counts = ward_counts(offences, end, area.ward_codes, store, area)
    return _Plan.make(area, wards, analysis, offences, counts, zones, sites, res,
                      store)


def _side_panel(fig):
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
    gaps: tuple[str, ...]  # months of the period without data (left out)
    all_covered: frozenset  # the months the data covers all crime in the area
    store: Store
    note: str  # which analysis the maps draw
    rates: pd.DataFrame | None  # ward populations (hotspots.population)

    @classmethod
    def make(cls, area, wards, analysis, offences, counts, zones, sites, res,
             store):
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
            gaps=tuple((analysis.metadata.get("period") or {}).get(
                "missing_months") or ()),
            all_covered=frozenset(covered_months(store, "all", area)),
            store=store, note=analysis_note(analysis),
            rates=_populations(wards),
        )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def analysis_note(analysis: Analysis) -> str:
    """One paragraph naming the analysis a map draws (crime, period, resolution,
    permutations, seed, correction, study area) and how the ward ranking differs.
    """
    m = analysis.metadata
    grid = m.get("grid", {})
    res = grid.get("resolution")
    km2 = grid.get("cell_area_km2")
    perms = m.get("permutations")
    inference = (f"{perms:,} conditional permutations (seed {m.get('seed')})"
                 if perms else "analytic z-scores (no permutations)")
    correction = {"fdr": "Benjamini–Hochberg false discovery rate",
                  "bonferroni": "Bonferroni", "none": "no multiple-testing "
                  "correction"}.get(m.get("correction"), str(m.get("correction")))
    size = f" (about {km2:.3f} km² a cell)" if km2 else ""
    return (
        f"Analysis drawn: Getis-Ord Gi* of {_crime_label(analysis.crime).lower()}, "
        f"{month_label(analysis.start)} to {month_label(analysis.end)}, on H3 "
        f"resolution {res} cells{size}, {inference}, {correction}; study area "
        f"{analysis.area.name}. The London ward ranking (hotspots rank) counts hot "
        "cells in one London-wide analysis of the same crime and period, so its "
        "figures for a ward can differ from this map's.")


def _populations(wards: gpd.GeoDataFrame) -> pd.DataFrame | None:
    """Residents of every ward (:func:`hotspots.population.ward_population`)."""
    try:
        from ..population import ward_population
    except ImportError:  # pragma: no cover - the ward rates land this round
        return None
    pop = ward_population("auto", wards)
    return None if pop["population"].isna().all() else pop.set_index("ward_code")


# -- printing -----------------------------------------------------------------------
def _print(plan: _Plan, out_dir: Path, progress) -> WardMaps:
    from . import _pdf

    a = plan.area
    period = f"{month_label(plan.start)} to {month_label(plan.end)}" + (
        f" (no data {describe_months(plan.gaps)})" if plan.gaps else "")
    params = {"area": a.name, "crime": plan.crime, "from": plan.start,
              "to": plan.end, "res": plan.res}
    booklet = out_dir / f"{_slug(a.name)}-ward-maps.pdf"
    n = len(plan.mine)
    cover = n > 1
    total = int(cover) + 2 * n  # booklet pages
    pdfs, names = [], []
    meta = _pdf.pdf_metadata(f"{a.name} ward maps: {plan.crime}, {period}",
                             subject="Ward hot spot maps", params=params)
    with _pdf.pdf_file(booklet, meta) as book:
        if cover:
            fig, label = _cover_page(plan, period)
            label.set_text(f"{a.name} ward maps, page 1 of {total}")
            book.savefig(fig)
            _pdf.plt.close(fig)
        for i, ward in enumerate(plan.mine.itertuples(index=False)):
            path = out_dir / f"{_slug(ward.ward_name)}-{ward.ward_code}.pdf"
            wmeta = _pdf.pdf_metadata(
                f"{ward.ward_name} ({ward.borough}): {plan.crime}, {period}",
                subject="Ward hot spot map", params={**params, "ward": ward.ward_code})
            pages = (_map_page(plan, ward, period, i + 1, n),
                     _counts_page(plan, ward, period, i + 1, n))
            with _pdf.pdf_file(path, wmeta) as single:
                for k, (fig, label) in enumerate(pages, start=1):
                    label.set_text(f"{ward.ward_name}, page {k} of 2")
                    single.savefig(fig)
                    if cover:
                        label.set_text(f"{a.name} ward maps, page "
                                       f"{int(cover) + 2 * i + k} of {total}")
                    book.savefig(fig)
                    _pdf.plt.close(fig)
            pdfs.append(str(path))
            names.append(ward.ward_name)
            if progress:
                progress("ward maps", i + 1, n)
    return WardMaps(a, plan.crime, plan.start, plan.end, tuple(names), tuple(pdfs),
                    str(booklet), plan.synthetic_share, plan.counts, plan.gaps)


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


_MAP_BOX = (0.03, 0.10, 0.60, 0.71)  # left, bottom, width, height (figure fraction)
#: Parts of the map kept free of labels: the scale bar and the north arrow.
_FURNITURE = ((0.0, 0.0, 0.34, 0.13), (0.89, 0.80, 1.0, 1.0))
#: Hatch of the cells outside the ward.
_OUTSIDE_HATCH = "/////"


def _map_axes(fig, geom, box=_MAP_BOX):
    """The map axes of a page, framed on ``geom`` (BNG): limits, scale bar and north
    arrow set, and a label placer with them reserved."""
    from . import _pdf

    w, h = fig.get_size_inches()
    aspect = (box[2] * w) / (box[3] * h)
    x0, y0, x1, y1 = _extent(geom, aspect)
    ax = fig.add_axes(box)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_edgecolor("#888888")
        sp.set_linewidth(0.6)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    _pdf.scale_bar(ax)
    _pdf.north_arrow(ax)
    placer = _pdf.LabelPlacer(ax)
    for frac in _FURNITURE:
        placer.reserve_fraction(*frac)
    return ax, (x0, y0, x1, y1), placer


def _draw_cells(ax, cells: gpd.GeoDataFrame, inside: np.ndarray) -> None:
    """Cells in the area at full colour; significant cells outside it hatched in
    their bin's colour (never faded: a faded 99 % cell looks like a 90 % one)."""
    from . import _pdf

    colours = cells["bin"].map(_pdf.BIN_COLOURS).to_numpy()
    if inside.any():
        cells[inside].plot(ax=ax, color=colours[inside], alpha=0.9,
                           edgecolor="white", linewidth=0.3,
                           zorder=_pdf.Z["cells"])
    out = ~inside & (cells["bin"] != 0).to_numpy()
    if out.any():
        cells[out].plot(ax=ax, facecolor="white", edgecolor=colours[out],
                        hatch=_OUTSIDE_HATCH, linewidth=0.5, alpha=0.9,
                        zorder=_pdf.Z["cells"])


def _outside_handle(label: str):
    from matplotlib.patches import Patch

    return Patch(facecolor="white", edgecolor="#d62f27", hatch=_OUTSIDE_HATCH,
                 linewidth=0.5, label=label)


def _legend_title(crime: str, period: str) -> str:
    """The legend's title, in lines that stay inside the side panel."""
    return "\n".join(textwrap.wrap(f"{crime}, {period}", 44))


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
    ax, (x0, y0, x1, y1), placer = _map_axes(fig, outline)
    box = shapely.box(x0, y0, x1, y1)
    cells = plan.cells[plan.cells.intersects(box)]
    _draw_cells(ax, cells, cells.centroid.within(outline).to_numpy())
    plan.mine.boundary.plot(ax=ax, color="#333333", linewidth=0.6,
                            zorder=_pdf.Z["wards"])
    gpd.GeoSeries([outline], crs=BNG).boundary.plot(ax=ax, color="#111111",
                                                    linewidth=1.8,
                                                    zorder=_pdf.Z["outline"])
    index = []
    for k, w in enumerate(plan.mine.itertuples(index=False), start=1):
        p = w.geometry.representative_point()
        placer.text(p.x, p.y, str(k), offsets=_pdf.RING, required=True,
                    fontsize=7.5, weight="bold", ha="center", va="center",
                    zorder=_pdf.Z["ward_names"], bbox=_pdf.halo(0.8))
        index.append(f"{k:>2}. {w.ward_name}: pages {2 * k}–{2 * k + 1}")
    ax.set_xlabel("")
    ax.set_ylabel("")
    side = _side_panel(fig)
    handles = _pdf.bin_legend_handles() + [
        _outside_handle(f"Hot or cold cell outside {a.name} (hatched)"),
        Line2D([], [], color="#111111", lw=1.8, label=f"{a.name}"),
        Line2D([], [], color="#333333", lw=0.6, label="2022 wards (numbered)")]
    leg = side.legend(handles=handles, loc="upper left", fontsize=7.5,
                      frameon=False, title=_legend_title(crime, period),
                      title_fontsize=8.5,
                      alignment="left", borderaxespad=0)
    leg.get_title().set_weight("bold")
    side.text(0, 0.50, _pdf.plain("Wards in this booklet:\n" + "\n".join(index)),
              fontsize=7.5, va="top", ha="left", linespacing=1.35,
              transform=side.transAxes)
    _pdf.synthetic_label(fig, plan.synthetic_share,
                         [crime] if plan.synthetic_share else [])
    label = _pdf.footer(fig, page=f"{a.name} ward maps, page 1")
    return fig, label


def _map_page(plan: _Plan, ward, period: str, i: int, n: int):
    """The ward's map page; returns the figure and its page label."""
    from matplotlib.lines import Line2D

    from . import _pdf

    crime = _crime_label(plan.crime)
    fig = _pdf.new_page(
        f"{_title(ward)}: {crime.lower()} hot spots",
        f"{period} · Getis-Ord Gi* on H3 resolution {plan.res} cells, false "
        f"discovery rate corrected · ward {ward.ward_code}, map {i} of {n}")
    ax, (x0, y0, x1, y1), placer = _map_axes(fig, ward.geometry)
    box = shapely.box(x0, y0, x1, y1)
    cells = plan.cells[plan.cells.intersects(box)]
    _draw_cells(ax, cells, cells.centroid.within(ward.geometry).to_numpy())
    near = plan.wards[plan.wards.intersects(box)
                      & (plan.wards["ward_code"] != ward.ward_code)]
    near.boundary.plot(ax=ax, color="#777777", linewidth=0.7, zorder=_pdf.Z["wards"])
    gpd.GeoSeries([ward.geometry], crs=BNG).boundary.plot(
        ax=ax, color="#111111", linewidth=2.0, zorder=_pdf.Z["outline"])
    handles = _pdf.bin_legend_handles()
    handles += [_outside_handle("Hot or cold cell outside the ward (hatched)"),
                Line2D([], [], color="#111111", lw=2, label=f"{ward.ward_name} ward"),
                Line2D([], [], color="#777777", lw=0.7, label="Neighbouring wards")]
    # what must show comes first: camera sites, zone labels, numbered streets
    handles += _draw_zones_sites(ax, plan, box, placer)
    streets = _ward_streets(plan, ward)
    for k, r in enumerate(streets.itertuples(index=False), start=1):
        if np.isfinite(r.x):
            placer.text(r.x, r.y, str(k), offsets=_pdf.RING, required=True,
                        fontsize=7.5, weight="bold", ha="center", va="center",
                        zorder=_pdf.Z["markers"], color="#111111", gid="street-number",
                        bbox={"boxstyle": "circle,pad=0.25", "fc": "white",
                              "ec": "#111111", "lw": 0.8})
    if len(streets):
        handles.append(Line2D([], [], marker="o", ls="", mfc="white", mec="#111111",
                              ms=8, label="Top streets (numbered, right)"))
    # then the names: the ward's own, its neighbours (in italics), then the streets
    # where room is left
    inner = box.buffer(-0.03 * (x1 - x0))
    own = ward.geometry.intersection(inner)
    if not own.is_empty:
        p = own.representative_point()
        placer.text(p.x, p.y, ward.ward_name, offsets=_pdf.RING, fontsize=9,
                    weight="bold", color="#111111", ha="center", va="center",
                    zorder=_pdf.Z["ward_names"], bbox=_pdf.halo(0.8), gid="ward-name")
    _pdf.label_wards(placer, near, inner, box)
    street_handles, street_notes = _pdf.draw_streets(ax, placer, (x0, y0, x1, y1),
                                                     store=plan.store, max_labels=28)
    handles += street_handles
    ax.set_xlabel("")
    ax.set_ylabel("")
    # side panel: legend, streets, the ward's figures and the analysis drawn
    side = _side_panel(fig)
    leg = side.legend(handles=handles, loc="upper left", fontsize=7, frameon=False,
                      title=_legend_title(crime, period), title_fontsize=8.5,
                      alignment="left", borderaxespad=0, labelspacing=0.35)
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
    lines = [t for x in lines for t in (textwrap.wrap(x, 64) or [""])]
    side.text(0, 0.47, _pdf.plain("\n".join(lines)), fontsize=7.2, va="top",
              ha="left", linespacing=1.4, transform=side.transAxes)
    side.text(0, -0.02, _pdf.plain(textwrap.fill(plan.note, 78)), fontsize=6.3,
              va="bottom", ha="left", color="#444444", linespacing=1.3,
              transform=side.transAxes, gid="analysis-note")
    _pdf.synthetic_label(fig, plan.synthetic_share, [crime] if
                         plan.synthetic_share else [])
    label = _pdf.footer(fig, street_notes, page=f"{ward.ward_name}, page 1 of 2")
    return fig, label


def _short(text: str, n: int = 44) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _zone_name(z) -> str:
    return str(z) if str(z).startswith("Z") else f"Z{z}"


def _draw_zones_sites(ax, plan: _Plan, box, placer) -> list:
    """Camera sites (reserved first, drawn on top) and zones with their labels
    inside the frame."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from . import _pdf

    handles = []
    if plan.sites is not None:
        s = plan.sites[plan.sites.intersects(box)]
        if len(s):
            pts = s.geometry.representative_point()
            _pdf.draw_cameras(ax, pts.x, pts.y, placer=placer)
            handles.append(Line2D([], [], marker="*", ls="", mfc="#1b9e77",
                                  mec="#111111", ms=11, label="Camera site"))
    if plan.zones is not None:
        z = plan.zones[plan.zones.intersects(box)]
        if len(z):
            z.boundary.plot(ax=ax, color="#6a3d9a", linewidth=1.6, linestyle="--",
                            zorder=_pdf.Z["zones"])
            if "zone" in z.columns:
                x0, y0, x1, y1 = box.bounds
                inner = box.buffer(-0.05 * (x1 - x0))
                for r in z.itertuples(index=False):
                    vis = r.geometry.intersection(inner)
                    if vis.is_empty:
                        vis = r.geometry.intersection(box)
                    p = vis.representative_point()
                    placer.text(p.x, p.y, _zone_name(r.zone), offsets=_pdf.RING,
                                required=True, fontsize=7.5, color="#6a3d9a",
                                weight="bold", ha="center", va="center",
                                zorder=_pdf.Z["zone_labels"], bbox=_pdf.halo(0.85),
                                gid="zone-label")
            handles.append(Patch(facecolor="none", edgecolor="#6a3d9a",
                                 linestyle="--", label="Surge patrol zone"))
    return handles


def _ward_streets(plan: _Plan, ward) -> pd.DataFrame:
    """Top streets of the mapped crime in the ward, each marked at the medoid of
    its map points (a real point on the street)."""
    from ..streetnames import _medoid

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
        at = rows[(names == s).to_numpy()].drop_duplicates(["lon", "lat"])
        x, y = bng_xy(at["lon"], at["lat"])
        k = _medoid(x, y) if len(x) > 2 else 0
        xs.append(float(x[k]))
        ys.append(float(y[k]))
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


def _rate(count: int, population) -> str:
    from ..population import rate_per_1000

    if population is None or pd.isna(population):
        return "n/a"
    r = rate_per_1000(count, int(population))
    return "n/a" if r is None else f"{r:.1f}"


def _counts_page(plan: _Plan, ward, period: str, i: int, n: int):
    """The ward's counts page; returns the figure and its page label."""
    from . import _pdf

    end = plan.end
    fig = _pdf.new_page(
        f"{_title(ward)}: offences and top streets",
        f"12 months to {month_label(end)} against the previous 12 months · "
        f"ward {ward.ward_code}, map {i} of {n}")
    c = plan.counts[plan.counts["ward_code"] == ward.ward_code].set_index("crime")
    boro = plan.counts.groupby("crime")["current"].sum()
    where = "borough" if plan.area.kind == "borough" else "area"
    pop_w = pop_a = None
    notes = []
    if plan.rates is not None:
        pw = plan.rates["population"].get(ward.ward_code)
        pop_w = None if pw is None or pd.isna(pw) else int(pw)
        pa = plan.rates["population"].reindex(list(plan.area.ward_codes))
        pop_a = None if pa.isna().all() else int(pa.sum())
        status = plan.rates["note"].get(ward.ward_code, "")
        from ..population import WARD_CAVEAT

        notes.append(WARD_CAVEAT + (f" {ward.ward_name}: {status}." if status
                                    else ""))
    rows, gaps = [], []
    for fam in MAP_FAMILIES:
        cur, prev = (None if pd.isna(c.loc[fam, k]) else int(c.loc[fam, k])
                     for k in ("current", "previous"))
        total = None if cur is None else int(boro[fam])
        share = f"{100 * cur / total:.1f}%" if total else "n/a"
        mark = "n/a †"  # a year the data does not wholly cover: no count of part
        rows.append([_pdf.FAMILY_LABELS[fam], mark if cur is None else f"{cur:,}",
                     mark if prev is None else f"{prev:,}",
                     _pdf.change_text(cur, prev),
                     mark if total is None else f"{total:,}", share,
                     "n/a" if cur is None else _rate(cur, pop_w),
                     "n/a" if total is None else _rate(total, pop_a)])
        missing = [m for m in (c.loc[fam, "missing_current"],
                               c.loc[fam, "missing_previous"]) if m]
        if missing:
            gaps.append(f"{_pdf.FAMILY_LABELS[fam].lower()} {', '.join(missing)}")
    gap_note = ("† No data (missing, not zero) for " + "; ".join(gaps)
                + ": no count is given for 12 months the data does not wholly "
                "cover." if gaps else "")
    ax = fig.add_axes([0.03, 0.50, 0.58, 0.28])
    header = ["Crime", f"12 months\nto {month_label(end)}", "Previous\n12 months",
              "Change", f"Whole\n{where},\n12 months", f"Ward\nshare of\n{where}",
              "Ward per\n1,000\nresidents", f"{where.capitalize()}\nper 1,000\n"
              "residents"]
    _pdf.draw_table(
        ax, header, rows, fontsize=8,
        col_widths=[0.2, 0.12, 0.11, 0.1, 0.11, 0.1, 0.12, 0.12],
        align=["left"] + ["right"] * 7, title="Offences by crime family")
    # draw_table's rows are min(0.95 / (rows + header lines), 0.09) of the axes
    unit = min(0.95 / (len(rows) + 3), 0.09) * 0.28
    below = 0.78 - unit * (len(rows) + 3) - 0.012
    if pop_w is not None or pop_a is not None:
        fig.text(0.03, below, _pdf.plain(
            f"Residents: ward {pop_w:,}" if pop_w is not None else
            "Residents: ward not known")
            + (f"; {where} {pop_a:,}" if pop_a is not None else "")
            + " (Census 2021 usual residents; ward figures best-fit from LSOAs).",
            fontsize=7, color="#555555", va="top")
    else:
        fig.text(0.03, below, "Rates per 1,000 residents: no population file in "
                 "the data root (hotspots fetch --what population)."
                 if plan.rates is None else "Rates per 1,000 residents: the "
                 "population file gives no residents for this ward or its "
                 f"{where}.", fontsize=7, color="#555555", va="top")
    below -= 0.022
    if gap_note:
        wrapped = textwrap.wrap(gap_note, 125)
        fig.text(0.03, below, _pdf.plain("\n".join(wrapped)), fontsize=7,
                 color="#555555", va="top", linespacing=1.3)
        below -= 0.0175 * len(wrapped)
    # top streets: the mapped crime over the map period, and all crime (every
    # notifiable type, asb apart, as the table counts it) in the months of the
    # last 12 the data covers for it
    mine = plan.offences[(plan.offences["ward_code"] == ward.ward_code)
                         & plan.offences["crime_type"].isin(FAMILIES["all"])]
    last12 = mine[mine["month"].isin([m for m in month_range(shift_month(end, -11),
                                                             end)
                                      if m in plan.all_covered])]
    all_gap = c.loc["all", "missing_current"]
    crime = _crime_label(plan.crime)
    tables = (
        (f"Top streets: {crime.lower()}, {period}", _ward_streets(plan, ward)),
        ("Top streets: all crime, " + (f"12 months to {month_label(end)}"
                                       if not all_gap else
                                       f"to {month_label(end)} (no data {all_gap})"),
         top_streets(last12, n=_N_STREETS) if len(last12) else
         pd.DataFrame({"street": [], "offences": []})),
    )
    for k, (title, top) in enumerate(tables):
        ax = fig.add_axes([0.64, 0.52 - k * 0.37, 0.33, 0.26])
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
    # between the table's notes and the footer; smaller type when there is
    # more to say than fits
    top, bottom = min(0.45, below - 0.01), _pdf.footer_top(fig, notes) + 0.01
    ax = fig.add_axes([0.03, bottom, 0.57, top - bottom])
    ax.set_axis_off()
    lines = [t for s in summary for t in (textwrap.wrap(s, 108) or [""])]
    ax.text(0, 1, _pdf.plain("\n".join(lines)), va="top", ha="left",
            linespacing=1.4, transform=ax.transAxes,
            fontsize=_pdf.fitting_size(fig, top - bottom, len(lines), 7.3))
    share, fams = _ward_synthetic(plan, ward.ward_code)
    if not share and plan.synthetic_share:  # the hot spot summary still uses them
        share, fams = plan.synthetic_share, [crime]
    _pdf.synthetic_label(fig, share, fams)
    label = _pdf.footer(fig, notes, page=f"{ward.ward_name}, page 2 of 2")
    return fig, label
