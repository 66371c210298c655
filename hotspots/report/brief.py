"""The tasking brief: a printable A4 plan for a tasking meeting, with its data files.

One PDF a tasking meeting can hand to the teams, plus the zones and camera sites as
CSV and GeoJSON for other systems:

- **Page 1**: a map of the surge zones (numbered) and the camera sites (starred,
  labelled) over the streets (OS Open Roads when fetched, else the offline
  police.uk street names of :mod:`hotspots.streetnames`) and the hot cells; the
  budget used, and why the rest was not; a table of the zones and one of the
  camera sites.
- **Zone pages**: per zone, the label of its cells (hot spot / next to one / busy
  micro-place, as the plan records it; else the Gi* confidence), the forecast, the
  streets, the visits, the officer-hours and the rationale.
- **Camera pages**: per site, where it stands, its dates, what it sees and why.
- **Method**: the analysis the plan was made from, the patrol dosage and the
  camera method, the data sources and licences.

Every page says "page N of M"; a plan using semi-synthetic rows says so on every
page. The CSVs keep text from running as spreadsheet formulas
(:func:`hotspots.provenance.safe_csv_frame`). Given a
:class:`~hotspots.report.share.DisclosureRule` (``disclosure=``), no count below
its threshold is printed or written anywhere (PDF, CSV, GeoJSON): counts are shown
as the rule shows them and the rationales are rewritten without counts.

The plan is read from the objects :func:`hotspots.plan.patrols.plan_patrols` and
:func:`hotspots.plan.cameras.site_cameras` return (``.zones`` / ``.sites``
GeoDataFrames and ``.metadata``); every field is read defensively, so a field a
plan lacks is printed as "n/a" instead of failing (:data:`ZONE_FIELDS_READ`,
:data:`SITE_FIELDS_READ` list the names looked for).

Command line::

    hotspots brief --area Merton --crime robbery --officer-hours 60 --cameras 4
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..areas import BNG, load_wards
from ..errors import ParameterError
from ..months import describe_months, month_label
from ..provenance import REAL_DATA, json_value, run_header, synthetic_note
from ..store import Store, atomic_file, write_csv_atomic

__all__ = [
    "SITE_COLUMNS",
    "SITE_FIELDS_READ",
    "ZONE_COLUMNS",
    "ZONE_FIELDS_READ",
    "Brief",
    "brief",
    "write_brief",
]

#: Columns of the zones CSV (and the GeoJSON properties), in order.
ZONE_COLUMNS = ("zone", "rank", "label", "cells", "wards", "forecast",
                "forecast_text", "offences", "offences_text", "hours_per_week",
                "visits_per_week", "visits", "streets", "confidence", "trend",
                "rationale", "lon", "lat", "data")
#: Columns of the camera sites CSV (and the GeoJSON properties), in order.
SITE_COLUMNS = ("site", "round", "rank", "location", "ward", "lon", "lat",
                "deploy_from", "deploy_to", "radius_m", "covered_offences",
                "sees", "rationale", "data")
#: Plan fields read for each zone (first present wins), by brief column.
ZONE_FIELDS_READ = {
    "zone": ("zone",), "rank": ("rank",),
    "label": ("cell_label", "cell_labels", "label", "labels", "evidence", "kind"),
    "cells": ("n_cells", "cells"), "wards": ("wards",),
    "forecast": ("forecast", "forecast_offences", "expected_offences", "expected",
                 "predicted"),
    "offences": ("offences",), "hours_per_week": ("hours_per_week", "hours"),
    "visits_per_week": ("visits_per_week", "visits"), "streets": ("streets",),
    "confidence": ("confidence",), "max_bin": ("max_bin",), "trend": ("trend",),
    "rationale": ("rationale", "why"),
}
#: Camera plan fields read for each site (first present wins), by brief column.
SITE_FIELDS_READ = {
    "site": ("site",), "round": ("round",), "rank": ("rank",),
    "location": ("location", "street"), "ward": ("ward",),
    "deploy_from": ("deploy_from",), "deploy_to": ("deploy_to",),
    "covered_offences": ("covered_offences", "offences"),
    "rationale": ("rationale", "why"),
}
_ZONE_COLOUR = "#6a3d9a"
_WRAP = 165  # characters per line of the detail pages
_HEAD_WRAP = 128  # of their bold headings


@dataclass(frozen=True)
class Brief:
    """What :func:`write_brief` wrote: the PDF, the data files and their rows."""

    pdf: str
    files: dict
    zones: pd.DataFrame = field(repr=False)
    sites: pd.DataFrame = field(repr=False)
    budget: dict = field(repr=False)
    metadata: dict = field(repr=False)

    def to_json(self) -> dict:
        """``{"pdf", "period", "missing_months", "zones", "sites", "files",
        "budget"}``: the rows as written to the CSVs."""
        return json_value({
            "pdf": self.pdf,
            "period": self.metadata.get("period"),
            "missing_months": list(self.metadata.get("missing_months", [])),
            "zones": self.zones.to_dict("records"),
            "sites": self.sites.to_dict("records"),
            "files": dict(self.files),
            "budget": self.budget,
        })

    def summary(self) -> list[str]:
        """Human lines for the command line."""
        b = self.budget
        out = [f"tasking brief: {self.pdf}",
               f"  {len(self.zones)} zone(s), {b['hours_used']:.1f} of "
               f"{b['officer_hours']:g} officer-hours a week; "
               f"{len(self.sites)} camera site(s)"]
        out += [f"  {line}" for line in b["why_not_used"]]
        out += [f"  {k}: {v}" for k, v in self.files.items()]
        return out


# -- reading the plan ---------------------------------------------------------------
def _get(row: dict, names, default=None):
    for n in names:
        v = row.get(n)
        if v is None:
            continue
        if isinstance(v, float) and not np.isfinite(v):
            continue
        return v
    return default


def _text_list(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple | np.ndarray):
        return "; ".join(str(x) for x in v)
    return str(v)


def _cell_label(v, row) -> str:
    """The zone's cells' label: the plan's own (one per cell, or one per zone),
    else the Gi* confidence of its strongest cell."""
    if isinstance(v, list | tuple | np.ndarray) and len(v):
        counts = Counter(str(x) for x in v)
        return ", ".join(f"{n} {k}" for k, n in counts.most_common())
    if isinstance(v, dict) and v:
        return ", ".join(f"{n} {k}" for k, n in v.items())
    if isinstance(v, str) and v:
        return v
    conf = _get(row, ZONE_FIELDS_READ["confidence"])
    if conf is None and _get(row, ZONE_FIELDS_READ["max_bin"]) is not None:
        from ..stats.inference import confidence_label

        conf = confidence_label(int(_get(row, ZONE_FIELDS_READ["max_bin"])))
    return f"Gi* {conf.lower()}" if conf else "n/a"


def _visits(row, n_cells, dosage: dict) -> tuple[float | None, str]:
    v = _get(row, ZONE_FIELDS_READ["visits_per_week"])
    if isinstance(v, int | float | np.integer | np.floating):  # to 0.1, as printed
        return round(float(v), 1), f"{float(v):.1f} visits a week"
    if isinstance(v, str) and v:
        return None, v
    per_day = dosage.get("visits_per_day")
    days = dosage.get("days_per_week")
    mins = dosage.get("minutes_per_visit")
    if per_day and days and n_cells:
        week = float(per_day) * float(days) * int(n_cells)
        return week, (f"{float(per_day):g} a day to each of its {int(n_cells)} "
                      f"cell{'s' if int(n_cells) != 1 else ''}, {float(days):g} days "
                      f"a week: {week:g} visits a week"
                      + (f" of {float(mins):g} minutes" if mins else ""))
    return None, "n/a"


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _zone_rows(plan, disclosure, crime: str) -> gpd.GeoDataFrame:
    zones = getattr(plan, "zones", None)
    meta = getattr(plan, "metadata", {}) or {}
    dosage = meta.get("dosage", {}) or {}
    fmeta = meta.get("forecast", {}) if isinstance(meta.get("forecast"), dict) else {}
    unit = fmeta.get("unit") or ""
    if zones is None or len(zones) == 0:
        return gpd.GeoDataFrame({c: [] for c in ZONE_COLUMNS}, geometry=[],
                                crs=4326)
    z4326 = zones.to_crs(4326) if zones.crs is not None else zones.set_crs(4326)
    cents = z4326.to_crs(BNG).geometry.centroid.to_crs(4326)
    rows = []
    for i, (row, geom) in enumerate(zip(
            z4326.drop(columns=z4326.geometry.name).to_dict("records"),
            z4326.geometry, strict=True)):
        n_cells = _get(row, ZONE_FIELDS_READ["cells"])
        n_cells = len(n_cells) if isinstance(n_cells, list | tuple | np.ndarray) \
            else int(n_cells or 0)
        zone = str(_get(row, ZONE_FIELDS_READ["zone"], f"Z{i + 1:02d}"))
        zone = zone if zone.startswith("Z") else f"Z{zone}"
        offences = _number(_get(row, ZONE_FIELDS_READ["offences"]))
        forecast = _number(_get(row, ZONE_FIELDS_READ["forecast"]))
        visits_n, visits = _visits(row, n_cells, dosage)
        streets = _get(row, ZONE_FIELDS_READ["streets"])
        label = _cell_label(_get(row, ZONE_FIELDS_READ["label"]), row)
        wards = _text_list(_get(row, ZONE_FIELDS_READ["wards"])).replace("; ", ", ")
        hours = _number(_get(row, ZONE_FIELDS_READ["hours_per_week"]))
        rationale = str(_get(row, ZONE_FIELDS_READ["rationale"], ""))
        if disclosure is not None:
            streets = [_strip_count(s) for s in streets] if isinstance(
                streets, list | tuple | np.ndarray) else streets
            rationale = (f"Zone {zone} ({wards or 'no ward'}): {label}; "
                         f"{disclosure.label(offences or 0)} {crime} offences in "
                         "the last 12 months with data; costs "
                         f"{hours:.1f} officer-hours a week." if hours is not None
                         else f"Zone {zone} ({wards or 'no ward'}): {label}.")
        rows.append({
            "zone": zone, "rank": int(_get(row, ZONE_FIELDS_READ["rank"], i + 1)),
            "label": label, "cells": n_cells, "wards": wards,
            "forecast": _shown(forecast, disclosure),
            "forecast_text": _forecast_text(forecast, unit, disclosure),
            "offences": _shown(offences, disclosure),
            "offences_text": _count_text(offences, disclosure),
            "hours_per_week": None if hours is None else round(hours, 2),
            "visits_per_week": visits_n, "visits": visits,
            "streets": _text_list(streets),
            "confidence": str(_get(row, ZONE_FIELDS_READ["confidence"], "")),
            "trend": str(_get(row, ZONE_FIELDS_READ["trend"], "")),
            "rationale": rationale,
            "lon": round(float(cents.iloc[i].x), 6),
            "lat": round(float(cents.iloc[i].y), 6),
            "geometry": geom,
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _strip_count(text) -> str:
    """'On or near X (3)' -> 'On or near X' (partner briefs print no counts)."""
    import re

    return re.sub(r"\s*\(\d+\)\s*$", "", str(text))


def _shown(n: float | None, disclosure):
    if n is None:
        return None
    if disclosure is None:
        return int(n) if float(n).is_integer() else round(float(n), 2)
    return disclosure.shown(n)


def _count_text(n: float | None, disclosure) -> str:
    if n is None:
        return "n/a"
    if disclosure is not None:
        return disclosure.label(n)
    return f"{int(n):,}" if float(n).is_integer() else f"{n:.1f}"


def _forecast_text(f: float | None, unit: str, disclosure) -> str:
    """'3.2 offences next month' (the plan's unit), 'fewer than 5 …' for a partner.
    """
    if f is None:
        return "n/a"
    text = disclosure.label(f) if disclosure is not None else f"{f:.1f}"
    unit = str(unit or "offences")
    return f"{text} {unit if unit.startswith('offences') else 'offences, ' + unit}"


def _site_rows(cameras, disclosure, crime: str) -> gpd.GeoDataFrame:
    sites = getattr(cameras, "sites", None) if cameras is not None else None
    meta = (getattr(cameras, "metadata", None) or {}) if cameras is not None else {}
    if sites is None or len(sites) == 0:
        return gpd.GeoDataFrame({c: [] for c in SITE_COLUMNS}, geometry=[],
                                crs=4326)
    s4326 = sites.to_crs(4326) if sites.crs is not None else sites.set_crs(4326)
    pts = s4326.geometry.representative_point()
    radius = _number(meta.get("radius_m"))
    rows = []
    for i, row in enumerate(s4326.drop(columns=s4326.geometry.name)
                            .to_dict("records")):
        seen = _number(_get(row, SITE_FIELDS_READ["covered_offences"]))
        where = f" within {radius:g} m" if radius else ""
        sees = (f"{_count_text(seen, disclosure)} {crime} offences{where} that no "
                "earlier site sees") if seen is not None else "n/a"
        site = str(_get(row, SITE_FIELDS_READ["site"], f"C{i + 1}"))
        location = str(_get(row, SITE_FIELDS_READ["location"], "n/a"))
        ward = _get(row, SITE_FIELDS_READ["ward"]) or "outside the 2022 wards"
        frm = str(_get(row, SITE_FIELDS_READ["deploy_from"], ""))
        to = str(_get(row, SITE_FIELDS_READ["deploy_to"], ""))
        rationale = str(_get(row, SITE_FIELDS_READ["rationale"], ""))
        if disclosure is not None:
            rationale = (f"Camera {site} ({frm} to {to}): {location}, {ward}; "
                         f"sees {sees}.")
        rows.append({
            "site": site, "round": int(_get(row, SITE_FIELDS_READ["round"], 1)),
            "rank": int(_get(row, SITE_FIELDS_READ["rank"], i + 1)),
            "location": location, "ward": str(ward),
            "lon": round(float(pts.iloc[i].x), 6),
            "lat": round(float(pts.iloc[i].y), 6),
            "deploy_from": frm, "deploy_to": to, "radius_m": radius,
            "covered_offences": _shown(seen, disclosure), "sees": sees,
            "sees_count": _count_text(seen, disclosure),
            "rationale": rationale, "geometry": pts.iloc[i],
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


#: Why a plan stopped short of its budget (``metadata["stopped"]``).
_STOPPED = {
    "budget": "the cells left each cost more than the hours left",
    "min_forecast": "no other zone of touching cells is forecast at least "
                    "{min_forecast:g} offences a month (the minimum a zone needs)",
    "nothing": "no other cell is forecast any offence",
}


def _budget(plan, zones: pd.DataFrame, cameras, sites: pd.DataFrame) -> dict:
    """Hours asked for and used, and why the rest was not used."""
    import re

    meta = getattr(plan, "metadata", {}) or {}
    used = float(pd.to_numeric(zones["hours_per_week"], errors="coerce").sum()) \
        if len(zones) else 0.0
    asked = _number(meta.get("officer_hours"))
    asked = used if asked is None else asked
    left = max(asked - used, 0.0)
    why: list[str] = []
    cand = getattr(plan, "candidates", None)
    rest = None
    if cand is not None and len(cand) and "selected" in cand.columns:
        rest = cand[~cand["selected"].astype(bool)]
    if left > 0.05:
        cheapest = (float(pd.to_numeric(rest["hours_per_week"]).min())
                    if rest is not None and len(rest) else None)
        # to 0.01 where 0.1 would print the hours left and the cheapest alike
        # ("0.9 ... costs 0.9"), which reads as a contradiction
        d = 2 if cheapest is not None and f"{cheapest:.1f}" == f"{left:.1f}" else 1
        head = f"{left:.{d}f} of the {asked:g} officer-hours are not planned: "
        stopped = meta.get("stopped")
        if stopped in _STOPPED:
            reason = _STOPPED[stopped].format(
                min_forecast=_number(meta.get("min_forecast")) or 0.0)
            if stopped == "budget" and cheapest is not None:
                reason += f" (the cheapest costs {cheapest:.{d}f} h a week)"
            why.append(head + reason + ".")
        elif cheapest is not None:
            why.append(head + f"the cheapest zone left costs {cheapest:.{d}f} h a "
                       "week, more than the hours left.")
        elif cand is not None:
            why.append(head + "every hot zone the analysis found is already "
                       "planned; there is nothing more to surge at this confidence "
                       "level.")
        else:
            why.append(head.rstrip(": ") + ".")
    else:
        why.append(f"The whole budget of {asked:g} officer-hours is planned.")
    # the plan's own notes, less the one restating the hours used
    why += [f"Note: {n}" for n in meta.get("notes", []) or []
            if not re.match(r"^[\d.]+ of [\d.]+ h used", str(n))]
    cmeta = (getattr(cameras, "metadata", None) or {}) if cameras is not None else {}
    k = cmeta.get("cameras")
    rounds = cmeta.get("rounds", []) or []
    if cameras is not None:
        first = sites[sites["round"] == 1] if len(sites) else sites
        if k and len(first) < int(k):
            why.append(f"Only {len(first)} of the {k} cameras have a site that sees "
                       "an offence no other site sees.")
        for r in rounds:
            if isinstance(r, dict) and (r.get("note") or r.get("skipped")):
                why.append(f"Camera round {r.get('round')}: "
                           f"{r.get('note') or r.get('skipped')}.")
    return {"officer_hours": asked, "hours_used": round(used, 2),
            "hours_left": round(left, 2), "zones": int(len(zones)),
            "cameras": None if k is None else int(k),
            "camera_sites": int(len(sites)), "why_not_used": why}


# -- writing ------------------------------------------------------------------------
def write_brief(
    plan,
    cameras=None,
    path: Path | str = "brief.pdf",
    *,
    analysis=None,
    title: str | None = None,
    disclosure=None,
    store: Store | None = None,
) -> Brief:
    """Write the tasking brief (PDF) and its zones and sites as CSV and GeoJSON.

    Parameters
    ----------
    plan : PatrolPlan
        :func:`hotspots.plan.patrols.plan_patrols`'s result: ``.zones`` (one row
        per zone, polygons) and ``.metadata`` are read (``.candidates`` too, when
        present, to say why hours were left).
    cameras : CameraPlan, optional
        :func:`hotspots.plan.cameras.site_cameras`'s result (``.sites`` points and
        ``.metadata``).
    path : path
        The PDF; ``<stem>-zones.csv``, ``<stem>-zones.geojson``,
        ``<stem>-sites.csv`` and ``<stem>-sites.geojson`` are written beside it.
    analysis : Analysis, optional
        The analysis the plan was made from: its hot cells are drawn under the
        zones and the method page names it.
    title : str, optional
        Title of page 1 (default "Tasking brief: <crime> in <area>").
    disclosure : DisclosureRule, optional
        For a partner: no count below its threshold anywhere.
    store : Store, optional
        Where the street names come from (default :meth:`Store.open`).

    Returns
    -------
    Brief
    """
    from . import _pdf

    path = Path(path)
    c = _contents(plan, cameras, analysis, title, disclosure, store or Store.open())
    b = c.budget
    params = {"area": c.area, "crime": c.crime, "period": c.period,
              "missing_months": list(c.gaps),
              "officer_hours": b["officer_hours"], "cameras": b["cameras"]}
    label = synthetic_note(c.share, f"{_crime_word(c.crime)} offences behind "
                           "these rows") or REAL_DATA
    files = _write_data(c.zones, c.sites, path, label, {
        **run_header(), "title": c.title, **params,
        "synthetic_share": c.share, "data": label,
        "disclosure": None if disclosure is None else disclosure.to_dict()})
    pdf_meta = _pdf.pdf_metadata(c.title, subject="Tasking brief", params=params)
    with _pdf.pdf_file(path, pdf_meta) as pdf:
        for fig, _ in c.pages:
            pdf.savefig(fig)
            _pdf.plt.close(fig)
    metadata = {"title": c.title, "area": c.area, "crime": c.crime,
                "period": c.period, "missing_months": list(c.gaps),
                "synthetic_share": c.share,
                "disclosure": None if disclosure is None else disclosure.to_dict(),
                "pages": len(c.pages)}
    return Brief(str(path), files, pd.DataFrame(c.zones.drop(columns="geometry")),
                 pd.DataFrame(c.sites.drop(columns="geometry")), b, metadata)


@dataclass(frozen=True)
class _Contents:
    title: str
    area: str
    crime: str
    period: str
    share: float
    zones: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    budget: dict
    pages: list  # (figure, page label) in order
    gaps: tuple = ()  # months of the period without data (left out, not zero)


def _contents(plan, cameras, analysis, title, disclosure, store) -> _Contents:
    """The brief's rows, budget and pages (figures with their frame and
    "page N of M"), before anything is written."""
    from . import _pdf

    if plan is None or not hasattr(plan, "zones"):
        raise ParameterError("'plan' needs to be a patrol plan (with .zones). "
                             f"{type(plan).__name__} was given instead.")
    meta = getattr(plan, "metadata", {}) or {}
    ameta = (analysis.metadata if analysis is not None else meta.get("analysis")
             or {})
    crime = analysis.crime if analysis is not None else str(ameta.get("crime")
                                                            or "crime")
    pmeta = _period_meta(ameta)
    period = _period(analysis, pmeta)
    zones = _zone_rows(plan, disclosure, _crime_word(crime))
    sites = _site_rows(cameras, disclosure, _crime_word(crime))
    budget = _budget(plan, zones, cameras, sites)
    area = (analysis.area.name if analysis is not None else
            (ameta.get("area") or {}).get("name", "the area"))
    title = title or f"Tasking brief: {_crime_word(crime)} in {area}"
    share = float(meta.get("synthetic_share") or (
        analysis.metadata["data"]["synthetic_share"] if analysis is not None
        else 0.0))
    figs = [_page_one(title, period, zones, sites, budget, analysis, store,
                      meta)]
    figs += _detail_pages(title, "Surge zones", [_zone_block(z) for z in
                                                 zones.itertuples(index=False)])
    if len(sites):
        figs += _detail_pages(title, "Camera sites", [
            _site_block(s) for s in sites.itertuples(index=False)])
    figs.append(_method_page(title, plan, cameras, analysis, disclosure))
    pages = []
    for k, (fig, notes) in enumerate(figs, start=1):
        _pdf.synthetic_label(fig, share, [_crime_word(crime)] if share else [])
        label = _pdf.footer(fig, notes, page=f"{title}, page {k} of {len(figs)}")
        pages.append((fig, label))
    return _Contents(title, area, crime, period, share, zones, sites, budget, pages,
                     tuple(pmeta.get("missing_months") or ()))


def _crime_word(crime: str) -> str:
    from ._pdf import FAMILY_LABELS

    return FAMILY_LABELS.get(str(crime).lower(), str(crime)).lower()


def _period_meta(ameta: dict) -> dict:
    """The analysis's ``period`` (``from``, ``to``, ``missing_months``), or {}."""
    p = ameta.get("period") or {}
    return p if isinstance(p, dict) else {}


def _period(analysis, p: dict) -> str:
    """The map's months (``p``: :func:`_period_meta`), with those the data lacks
    (left out, not zero)."""
    start, end = ((analysis.start, analysis.end) if analysis is not None
                  else (p.get("from"), p.get("to")))
    if not (start and end):
        return "the period analysed"
    gaps = p.get("missing_months")
    return (f"{month_label(start)} to {month_label(end)}"
            + (f" (no data {describe_months(gaps)})" if gaps else ""))


def _write_data(zones: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, path: Path,
                label: str, metadata: dict) -> dict:
    """The zones and sites as CSV (each row's ``data`` says what the offences
    behind it are) and GeoJSON (with what produced it in ``metadata``)."""
    stem = path.with_suffix("")
    files = {}
    for name, frame, cols in (("zones", zones, ZONE_COLUMNS),
                              ("sites", sites, SITE_COLUMNS)):
        frame = frame.assign(data=label)
        csv = write_csv_atomic(f"{stem}-{name}.csv",
                               pd.DataFrame(frame.drop(columns="geometry"))[list(cols)])
        gj = Path(f"{stem}-{name}.geojson")
        doc = json.loads(frame[[*cols, "geometry"]].to_json(drop_id=True, na="null"))
        doc = {"type": doc.pop("type"), "metadata": json_value(metadata), **doc}
        with atomic_file(gj, ".geojson") as tmp:
            tmp.write_text(json.dumps(doc, allow_nan=False))
        files[f"{name}_csv"] = str(csv)
        files[f"{name}_geojson"] = str(gj)
    return files


# -- page 1 ---------------------------------------------------------------------------
def _page_one(title, period, zones, sites, budget, analysis, store, meta):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from . import _pdf

    b = budget
    sub = (f"Map: {period}{_windows_short(meta)} · {b['officer_hours']:g} "
           "officer-hours a week · "
           + (f"{b['cameras']} camera{'s' if b['cameras'] != 1 else ''}"
              if b["cameras"] else "no cameras"))
    if len(sites):
        sub += f" · cameras {sites['deploy_from'].min()} to {sites['deploy_to'].max()}"
    fig = _pdf.new_page(title, sub)
    geoms = [g for g in list(zones.to_crs(BNG).geometry) + list(
        sites.to_crs(BNG).geometry) if g is not None and not g.is_empty]
    if geoms:
        focus = shapely.union_all(geoms).buffer(250)
    elif analysis is not None:
        focus = gpd.GeoSeries([analysis.area.geometry], crs=4326).to_crs(BNG).iloc[0]
    else:
        focus = shapely.Point(529000, 170000).buffer(1000)
    from .wardmaps import _map_axes

    ax, (x0, y0, x1, y1), placer = _map_axes(fig, focus, box=(0.03, 0.10, 0.55,
                                                               0.74))
    box = shapely.box(x0, y0, x1, y1)
    handles = []
    if analysis is not None:
        cells = analysis.cells.to_crs(BNG)
        hot = cells[(cells["bin"] >= 1) & cells.intersects(box)]
        if len(hot):
            hot.plot(ax=ax, color=hot["bin"].map(_pdf.BIN_COLOURS).to_numpy(),
                     alpha=0.9, edgecolor="white", linewidth=0.3,
                     zorder=_pdf.Z["cells"])
            handles += _pdf.bin_legend_handles((3, 2, 1))
    wards = load_wards().to_crs(BNG)
    near = wards[wards.intersects(box)]
    near.boundary.plot(ax=ax, color="#8a8a8a", linewidth=0.7, zorder=_pdf.Z["wards"])
    handles.append(Line2D([], [], color="#8a8a8a", lw=0.7, label="2022 wards"))
    zb = zones.to_crs(BNG)
    if len(zb):
        zb.plot(ax=ax, facecolor=_ZONE_COLOUR, alpha=0.12, edgecolor="none",
                zorder=_pdf.Z["zones"])
        zb.boundary.plot(ax=ax, color=_ZONE_COLOUR, linewidth=1.8, linestyle="--",
                         zorder=_pdf.Z["zones"])
        handles.append(Patch(facecolor="#e9e2f0", edgecolor=_ZONE_COLOUR,
                             linestyle="--", label="Surge zone (Z01…)"))
    sb = sites.to_crs(BNG)
    if len(sb):
        _pdf.draw_cameras(ax, sb.geometry.x, sb.geometry.y,
                          labels=list(sites["site"]), placer=placer)
        handles.append(Line2D([], [], marker="*", ls="", mfc="#1b9e77",
                              mec="#111111", ms=11, label="Camera site (C round.rank)"))
    inner = box.buffer(-0.04 * (x1 - x0))
    for z, geom in zip(zones["zone"], zb.geometry, strict=True):
        vis = geom.intersection(inner)
        p = (vis if not vis.is_empty else geom).representative_point()
        placer.text(p.x, p.y, z, offsets=_pdf.RING, required=True, fontsize=8,
                    weight="bold", color=_ZONE_COLOUR, ha="center", va="center",
                    zorder=_pdf.Z["zone_labels"], bbox=_pdf.halo(0.85),
                    gid="zone-label")
    _pdf.label_wards(placer, near, inner, box)
    sh, notes = _pdf.draw_streets(ax, placer, (x0, y0, x1, y1), store=store,
                                  max_labels=40)
    handles += sh
    ax.set_xlabel("")
    ax.set_ylabel("")
    # the right-hand panel: budget, zones, cameras, legend
    lines = [f"Patrols: {b['hours_used']:.1f} of {b['officer_hours']:g} "
             f"officer-hours a week planned, on {b['zones']} zone"
             f"{'s' if b['zones'] != 1 else ''}."]
    lines += b["why_not_used"]
    text = "\n".join(t for x in lines for t in textwrap.wrap(x, 74))
    top = _text_block(fig, 0.84, "Budget", text)
    zrows = [[z.zone, str(z.cells), _short(z.label, 34),
              z.forecast_text.split(" offences")[0],
              f"{z.visits_per_week:.1f}" if z.visits_per_week is not None and
              np.isfinite(z.visits_per_week) else "n/a",
              "n/a" if z.hours_per_week is None else f"{z.hours_per_week:.1f}"]
             for z in zones.itertuples(index=False)]
    cap = 8 if len(sites) else 10  # room for some camera sites below
    more = len(zrows) - cap
    zrows = zrows[:cap] + ([["", "", f"… and {more} more (next pages)", "", "", ""]]
                           if more > 0 else [])
    top = _table(fig, top, "Surge zones (details on the next pages)",
                 ["Zone", "Cells", "Label", "Forecast", "Visits\n/week",
                  "Hours\n/week"], zrows or [["", "", "no zone planned", "", "",
                                              ""]],
                 [0.09, 0.09, 0.44, 0.12, 0.12, 0.14],
                 ["left", "right", "left", "right", "right", "right"])
    srows = [[s.site, f"{s.deploy_from} to {s.deploy_to}", _short(s.location, 28),
              s.sees_count]
             for s in sites.itertuples(index=False)]
    if srows:
        # as many as fit above the map's legend and the footer
        room = top - (_pdf.footer_top(fig, notes) + _LEGEND_H) - _TABLE_GAP
        fit = max(int(room / _ROW_H) - 2, 1)  # the header, and the "more" row
        more = len(srows) - fit
        srows = srows[:fit] + ([["", "", f"… and {more} more (next pages)", ""]]
                               if more > 0 else [])
        top = _table(fig, top, "Camera sites", ["Site", "Deployed", "On or near",
                                                "Sees"], srows,
                     [0.1, 0.38, 0.4, 0.12], ["left", "left", "left", "right"])
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.61, top),
               fontsize=6.8, frameon=False, ncols=2, borderaxespad=0,
               title="Map", title_fontsize=8, alignment="left")
    return fig, notes


#: Height (page fraction) kept for page one's map legend under the tables.
_LEGEND_H = 0.11
#: Height (page fraction) of a row of page one's tables, and the space under one.
_ROW_H, _TABLE_GAP = 0.024, 0.055


def _text_block(fig, top: float, heading: str, text: str) -> float:
    """A heading and a paragraph at ``top`` (figure fraction); returns the next
    free ``top``, measured from the drawn text."""
    from . import _pdf

    h = fig.text(0.61, top, heading, fontsize=10, weight="bold", va="top")
    r = fig.canvas.get_renderer()
    y = h.get_window_extent(r).transformed(fig.transFigure.inverted()).y0 - 0.008
    t = fig.text(0.61, y, _pdf.plain(text), fontsize=7.3, va="top",
                 linespacing=1.35)
    return t.get_window_extent(r).transformed(fig.transFigure.inverted()).y0 - 0.045


def _table(fig, top, title, header, rows, widths, align) -> float:
    """A ruled table under ``top`` sized to its rows; returns the next free top."""
    from . import _pdf

    heads = max(str(h).count("\n") + 1 for h in header)
    # draw_table gives a row min(0.95 / (rows + header lines), 0.09) of its axes
    unit = min(0.95 / max(len(rows) + heads, 1), 0.09)
    ax = fig.add_axes([0.61, top - _ROW_H / unit, 0.37, _ROW_H / unit])
    _pdf.draw_table(ax, header, rows, fontsize=7, col_widths=widths, align=align,
                    title=title)
    return top - _ROW_H * (len(rows) + heads) - _TABLE_GAP


def _short(text, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


# -- detail pages ---------------------------------------------------------------------
def _zone_block(z) -> tuple[str, list[str]]:
    cells = f"{z.cells} cell{'s' if z.cells != 1 else ''}"
    head = f"{z.zone}: {cells}, {z.label}" + (f" — {z.wards}" if z.wards else "")
    lines = [
        f"Forecast: {z.forecast_text}.   Offences in the last 12 months with data: "
        f"{z.offences_text}."
        f"   Confidence: {z.confidence or 'n/a'}.   Trend: {z.trend or 'n/a'}.",
        f"Visits: {z.visits}.   Officer-hours: "
        + ("n/a" if z.hours_per_week is None else f"{z.hours_per_week:.1f} a week")
        + ".",
        f"Streets: {z.streets or 'n/a'}.",
        f"Why: {z.rationale or 'n/a'}",
    ]
    return head, lines


def _site_block(s) -> tuple[str, list[str]]:
    head = f"{s.site}: {s.location} — {s.ward}"
    lines = [f"Deploy: {s.deploy_from} to {s.deploy_to} (round {s.round}).   "
             f"Sees: {s.sees}.",
             f"Why: {s.rationale or 'n/a'}"]
    return head, lines


def _detail_pages(title: str, heading: str, blocks) -> list:
    """Blocks of text flowed over as many pages as they need."""
    from . import _pdf

    pages = []
    fig, y = None, 0.0
    line_h = 7.6 * 1.4 / (_pdf.A4_LANDSCAPE[1] * 72)
    for head, lines in blocks or [("Nothing planned", ["No zone or site."])]:
        body = [t for x in lines for t in (textwrap.wrap(x, _WRAP) or [""])]
        # the heading in bold 9 pt: fewer characters to a line than the body's
        heads = textwrap.wrap(head, _HEAD_WRAP) or [""]
        head_h = 1.35 * line_h * len(heads)
        need = (len(body) + 0.85) * line_h + head_h
        if fig is None or y - need < 0.12:
            fig = _pdf.new_page(title, f"{heading} (continued)" if pages else
                                heading)
            pages.append((fig, []))
            y = 0.86
        fig.text(0.03, y, _pdf.plain("\n".join(heads)), fontsize=9, weight="bold",
                 va="top", linespacing=1.25,
                 color=_ZONE_COLOUR if heading.startswith("Surge") else "#0b5e46")
        fig.text(0.045, y - head_h, _pdf.plain("\n".join(body)),
                 fontsize=7.6, va="top", linespacing=1.4)
        y -= need
    return pages


def _dosage_text(d: dict) -> str:
    """The plan's dosage in words (whatever of its fields the plan records)."""
    def num(k):
        return _number(d.get(k))

    parts = []
    if num("minutes_per_visit") is not None:
        parts.append(f"{num('minutes_per_visit'):g}-minute visits")
    if num("visits_per_day") is not None:
        parts.append(f"{num('visits_per_day'):g} a day to every "
                     + (f"{num('beat_km2'):.3f} km² beat" if num("beat_km2")
                        else "cell of a zone"))
    if num("days_per_week") is not None:
        parts.append(f"{num('days_per_week'):g} days a week")
    if num("officers") is not None:
        parts.append(f"{int(num('officers'))} officer(s) per visit")
    cost = d.get("hours_per_cell_week")
    if isinstance(cost, dict):
        parts.append("officer-hours a cell a week: " + ", ".join(
            f"{k} {float(v):.2f}" for k, v in cost.items()))
    elif _number(cost) is not None:
        parts.append(f"{_number(cost):g} officer-hours a cell a week")
    return (", ".join(parts) or "n/a") + "."


def _method_page(title, plan, cameras, analysis, disclosure):
    from . import _pdf
    from .wardmaps import analysis_note

    meta = getattr(plan, "metadata", {}) or {}
    cmeta = (getattr(cameras, "metadata", None) or {}) if cameras is not None else {}
    lines = []
    if analysis is not None:
        lines.append(analysis_note(analysis))
        lines += [w for w in analysis.metadata.get("why", [])
                  if not str(w).startswith("SEMI")]
    if meta.get("method"):
        lines.append(f"Patrol plan: {meta['method']}.")
    lines += _windows_text(meta)
    d = meta.get("dosage") or {}
    if d:
        lines.append("Dosage: " + _dosage_text(d))
    if meta.get("times"):
        lines.append(f"Times of day: {meta['times']}.")
    if cmeta.get("method"):
        lines.append(f"Cameras: {cmeta['method']}; radius "
                     f"{cmeta.get('radius_m', 'n/a')} m; {cmeta.get('weeks', 'n/a')}"
                     f" weeks a round, {cmeta.get('rotations', 'n/a')} round(s).")
    if disclosure is not None:
        lines.append(f"Disclosure: {disclosure.describe()}")
    lines.append("Cells' labels: as the patrol plan records them; where it records "
                 "none, the Gi* confidence of the zone's strongest cell.")
    fig = _pdf.new_page(title, "How this plan was made")
    body = [t for x in lines for t in (textwrap.wrap(x, _WRAP) or [""]) + [""]]
    # from 0.86 of the page's height down to the footer (0.1): smaller type
    # rather than text over the footer when there is more to say
    fig.text(0.03, 0.86, _pdf.plain("\n".join(body)), va="top", linespacing=1.4,
             fontsize=_pdf.fitting_size(fig, 0.76, len(body), 7.6))
    return fig, []


def _span(pair) -> str | None:
    if isinstance(pair, list | tuple) and len(pair) == 2 and all(pair):
        return f"{month_label(pair[0])} to {month_label(pair[1])}"
    return None


def _study_gaps(meta: dict) -> list[str]:
    """The months of the plan's history without data."""
    return ((meta.get("study") or {}).get("period") or {}).get("missing_months") \
        or []


def _windows_short(meta: dict) -> str:
    """The forecast's and the zone labels' months, for the brief's subtitle (the
    map and its counts are the analysis period; these reach further back)."""
    hist = (meta.get("forecast") or {}).get("history")
    ev = (meta.get("evidence") or {}).get("window")
    out = f" · forecast from {month_label(hist[0])}" if _span(hist) else ""
    out += f" · zone labels from {month_label(ev[0])}" if _span(ev) else ""
    # the months before the map's the forecast and labels read, gaps included
    gaps = _study_gaps(meta)
    return out + (f" (no data {describe_months(gaps)})" if gaps and out else "")


def _windows_text(meta: dict) -> list[str]:
    """What months each part of the plan rests on, for the method page."""
    f = meta.get("forecast") or {}
    ev = meta.get("evidence") or {}
    gaps = _study_gaps(meta)
    lines = []
    if _span(f.get("history")):
        notes = [f"{f['history_months']} months with data"] \
            if f.get("history_months") else []
        if gaps:
            notes.append(f"no data {describe_months(gaps)}: left out, not read "
                         "as zero")
        lines.append(f"Forecast of next month: from {_span(f['history'])}"
                     + (f" ({'; '.join(notes)})" if notes else "")
                     + (f"; {f['chosen_by']}" if f.get("chosen_by") else "") + ".")
    if _span(ev.get("window")):
        lines.append(
            f"Zone labels and confidence: Gi* over the last {ev.get('months', '')} "
            f"months with data, {_span(ev['window'])} (longer than the map's "
            "period, so a zone's label can differ from the hot spots drawn).")
    if lines:
        lines.append("Offences in a zone: its last 12 months with data; trend: "
                     "Mann-Kendall over its last months with data in a row (12 to "
                     "36; never across a gap).")
    return lines


# -- the convenience -----------------------------------------------------------------
def brief(
    area,
    crime: str = "robbery",
    officer_hours: float = 60.0,
    cameras: int = 4,
    out_dir: Path | str = "out/brief",
    *,
    start: str | None = None,
    end: str | None = None,
    res: int = 10,
    rotations: int = 3,
    store: Store | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Brief:
    """Plan and write the brief for an area in one call.

    The plan is :func:`hotspots.plan.tasking.recommend`'s (the same answer as
    ``hotspots recommend``: a forecast from the history up to ``end``, cameras on
    its last 12 months); writes ``<out_dir>/brief-<area>-<crime>-<end>.pdf`` with
    its CSV and GeoJSON (:func:`write_brief`).
    """
    from ..plan.tasking import recommend

    store = (store or Store.open()).pinned()  # one generation for the whole run
    if progress:
        progress("brief", 0, 2)
    task = recommend(area, crime, start, end, officer_hours=officer_hours,
                     cameras=cameras, rotations=rotations, res=res, store=store)
    an, plan, cams = task.analysis, task.plan, task.cameras
    if progress:
        progress("brief", 1, 2)
    slug = an.area.slug.split("-", 1)[-1]
    kind = crime.replace(" ", "-").lower()
    path = Path(out_dir) / f"brief-{slug}-{kind}-{an.end}.pdf"
    out = write_brief(plan, cams, path, analysis=an, store=store)
    if progress:
        progress("brief", 2, 2)
    return out
