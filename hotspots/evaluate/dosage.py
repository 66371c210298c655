"""Dosage delivered: patrol minutes actually spent in each zone against the plan.

A surge plan says how many officer-minutes each zone should get per week. What
was delivered comes from a patrol log: one row per visit, the shape a GPS or
briefing-system export takes::

    zone,start,end,officer
    Z01,2023-06-05 14:00,2023-06-05 14:25,PC 123
    Z02,2023-06-05T15:10:00+01:00,2023-06-05T15:30:00+01:00,PC 123

(``cell`` — an H3 cell id — may stand in for ``zone``; cells are mapped to the
zones of the plan that hold them.) :func:`read_patrol_log` validates every row and
quarantines the bad ones with their file, line and reason — none is dropped
silently, so ``rows_in == accepted + quarantined``. :func:`dosage_report` then
splits each visit at ISO-week boundaries (Monday 00:00, Europe/London) and sets
delivered against planned minutes per zone and week.

Rules
-----
* Times with an offset (``+01:00``, ``Z``) are converted to Europe/London; times
  without one are read as Europe/London local time. ISO 8601 and UK day-first
  (``05/06/2023 14:00``) are accepted. Minutes are elapsed minutes, so a visit
  across a clock change counts its real length.
* ``delivered_minutes`` are officer-minutes (two officers together count twice,
  as the plan's officer-hours do); ``covered_minutes`` is the time with at least
  one officer present.
* Quarantine reasons: ``wrong_column_count``, ``missing_zone``, ``bad_cell``,
  ``bad_datetime``, ``end_not_after_start``, ``too_long`` (over ``max_hours``),
  ``duplicate`` (same zone or cell, start, end and officer as an earlier row).
* Visits to zones (or cells) outside the plan are kept and reported with zero
  planned minutes (``in_plan`` false): a patrol outside the plan is a finding, not
  an error.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import h3
import numpy as np
import pandas as pd

from ..errors import DataError, ParameterError
from ..limits import read_input
from ..provenance import run_header

__all__ = [
    "QUARANTINE_REASONS",
    "DosageResult",
    "PatrolLog",
    "Plan",
    "dosage",
    "dosage_report",
    "load_plan",
    "plan_minutes",
    "read_patrol_log",
    "split_by_week",
]

TZ = "Europe/London"
QUARANTINE_REASONS = (
    "wrong_column_count",
    "missing_zone",
    "bad_cell",
    "bad_datetime",
    "end_not_after_start",
    "too_long",
    "duplicate",
)
OUTSIDE = "outside plan"
_ALIASES = {
    "zone": ("zone", "zone_id", "patrol_zone", "beat"),
    "cell": ("cell", "h3", "h3_cell", "h3_9", "h3_10", "h3_8"),
    "start": ("start", "start_time", "starttime", "from", "arrived", "time_in"),
    "end": ("end", "end_time", "endtime", "to", "left", "time_out"),
    "officer": ("officer", "officer_id", "unit", "callsign", "collar", "device"),
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
                  r"(Z|[+-]\d{2}:?\d{2})?$")
_UK = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")
QUARANTINE_COLUMNS = ("source", "line", "reason", "detail", "raw")
VISIT_COLUMNS = ("zone", "cell", "officer", "start", "end", "minutes", "in_plan",
                 "source", "line")


# -- results ---------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Planned minutes per zone and week, and the cells of each zone.

    Attributes
    ----------
    minutes : dict
        Zone → planned officer-minutes per week.
    cells : dict
        H3 cell → zone (empty when the plan does not list cells).
    """

    minutes: dict
    cells: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PatrolLog:
    """The accepted visits of a patrol log, its quarantine and its ledger.

    Attributes
    ----------
    visits : pandas.DataFrame
        ``zone, cell, officer, start, end`` (tz-aware, Europe/London),
        ``minutes, in_plan, source, line``.
    quarantine : pandas.DataFrame
        ``source, line, reason, detail, raw`` — one row per rejected row.
    ledger : dict
        ``rows_in, accepted, quarantined, by_reason, blank_lines, files``
        (blank lines are not rows and are only counted).
    """

    visits: pd.DataFrame = field(repr=False)
    quarantine: pd.DataFrame = field(repr=False)
    ledger: dict

    def write_quarantine(self, path: str | Path) -> Path:
        """Write the quarantined rows as CSV, atomically, with text that a
        spreadsheet would read as a formula neutralised (the raw rows come from
        outside)."""
        from ..store import write_csv_atomic

        return write_csv_atomic(path, self.quarantine)


@dataclass(frozen=True)
class DosageResult:
    """Delivered vs planned minutes per zone and ISO week.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per zone × week: ``zone, week, week_start, planned_minutes,
        delivered_minutes, covered_minutes, delivered_share, shortfall_minutes,
        visits, in_plan``.
    zones : pandas.DataFrame
        One row per zone over all the weeks.
    log : PatrolLog
    metadata : dict
    """

    table: pd.DataFrame = field(repr=False)
    zones: pd.DataFrame = field(repr=False)
    log: PatrolLog = field(repr=False)
    metadata: dict = field(repr=False)

    def summary(self) -> list[str]:
        m = self.metadata
        led = self.log.ledger
        lines = [
            f"Patrol log: {led['rows_in']} row(s) in, {led['accepted']} accepted, "
            f"{led['quarantined']} quarantined"
            + (f" ({_reasons(led['by_reason'])})" if led["quarantined"] else "")
            + ".",
            f"Weeks {m['weeks'][0]}…{m['weeks'][-1]}: delivered "
            f"{m['delivered_minutes']:,.0f} of {m['planned_minutes']:,.0f} planned "
            f"officer-minutes ({_pct(m['delivered_share'])})."
            if m["weeks"] else "No weeks to report.",
        ]
        short = self.table[self.table["in_plan"]
                           & (self.table["delivered_share"] < 0.5)]
        if len(short):
            lines.append(
                f"{len(short)} zone-week(s) got less than half their planned minutes."
            )
        if m["unplanned_zones"]:
            lines.append(
                "Visits outside the plan: " + ", ".join(m["unplanned_zones"][:10]) + "."
            )
        return lines

    def to_json(self) -> dict:
        led = self.log.ledger
        return {
            "rows_in": led["rows_in"],
            "accepted": led["accepted"],
            "quarantined": led["quarantined"],
            "by_reason": led["by_reason"],
            "weeks": self.metadata["weeks"],
            "rows": _records(self.table),
            "zones": _records(self.zones),
            "quarantine": _records(self.log.quarantine),
            "summary": self.summary(),
            "metadata": self.metadata,
        }


# -- the plan --------------------------------------------------------------------
def plan_minutes(plan) -> Plan:
    """Planned officer-minutes per zone and week, from any of the plan shapes.

    Parameters
    ----------
    plan : mapping, DataFrame, object with ``.zones``, or Plan
        * a mapping zone → minutes per week (``{"Z01": 120}``), or zone → a mapping
          with ``minutes_per_week`` or ``hours_per_week`` and optionally ``cells``;
        * a DataFrame (e.g. a patrol plan's ``zones``) with ``zone`` and
          ``hours_per_week`` or ``minutes_per_week``, optionally ``cells`` (lists
          of H3 ids);
        * an object with such a DataFrame as ``.zones`` (a ``PatrolPlan``);
        * the JSON of a patrol plan: ``{"zones": [{"zone", "hours_per_week",
          "cells"}, …]}``, or of ``hotspots recommend --json`` (the same list as
          ``patrols``).

    Examples
    --------
    >>> plan_minutes({"Z01": 120, "Z02": {"hours_per_week": 1.5}}).minutes
    {'Z01': 120.0, 'Z02': 90.0}
    """
    if isinstance(plan, Plan):
        return plan
    if hasattr(plan, "zones") and isinstance(plan.zones, pd.DataFrame):
        plan = plan.zones
    for key in ("zones", "patrols"):  # a patrol plan's JSON; recommend --json's
        if isinstance(plan, Mapping) and isinstance(plan.get(key), list):
            plan = pd.DataFrame(plan[key])
            break
    if isinstance(plan, pd.DataFrame):
        return _plan_from_frame(plan)
    if isinstance(plan, Mapping):
        minutes: dict = {}
        cells: dict = {}
        for zone, v in plan.items():
            if isinstance(v, Mapping):
                minutes[str(zone)] = _plan_value(zone, v)
                for c in v.get("cells") or ():
                    cells[str(c)] = str(zone)
            else:
                minutes[str(zone)] = _minutes(zone, v)
        return Plan(minutes, cells)
    raise ParameterError(
        "'plan' needs to be a mapping zone → minutes per week, a DataFrame with "
        f"'zone' and 'hours_per_week', or a patrol plan; got {type(plan).__name__}"
    )


def load_plan(path: str | Path) -> Plan:
    """Read a plan from JSON: a zone → minutes mapping or a patrol plan's JSON."""
    path = Path(path)
    try:
        doc = json.loads(read_input(path, "the plan").decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError("the plan is not UTF-8 text", path=str(path)) from exc
    except OSError as exc:
        raise DataError(f"cannot read the plan ({exc.strerror})", path=str(path)
                        ) from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"the plan is not valid JSON ({exc.msg})", path=str(path),
                        line=exc.lineno) from exc
    return plan_minutes(doc)


# -- the log ---------------------------------------------------------------------
def read_patrol_log(
    sources: str | Path | Sequence[str | Path] | io.StringIO,
    plan=None,
    *,
    max_hours: float = 12.0,
) -> PatrolLog:
    """Read and validate patrol log CSV file(s); quarantine the bad rows.

    Parameters
    ----------
    sources : path, sequence of paths, or a text buffer
        CSV with a header naming a zone (``zone``) or cell (``cell``/``h3``)
        column, ``start`` and ``end`` (see the module notes for the aliases), and
        optionally ``officer``.
    plan : optional
        The plan (any shape :func:`plan_minutes` takes), to map cells to zones
        and mark visits outside the plan.
    max_hours : float
        Longest believable visit; longer rows are quarantined as ``too_long``.

    Raises
    ------
    DataError
        A file that cannot be read or has no usable header (file-level errors are
        raised, not quarantined: no row of it could be read).
    """
    if not max_hours > 0:
        raise ParameterError(f"'max_hours' needs to be > 0. {max_hours!r} was given.")
    p = plan_minutes(plan) if plan is not None else Plan({}, {})
    single = isinstance(sources, str | Path | io.StringIO)
    items = [sources] if single else list(sources)
    if not items:
        raise ParameterError("'sources' needs at least one patrol log file")
    visits: list[dict] = []
    bad: list[dict] = []
    files = []
    seen: dict = {}
    for item in items:
        label, text = _read_text(item)
        blank = [0]
        n = _read_rows(label, text, p, max_hours, visits, bad, seen, blank)
        files.append({"source": label, "rows_in": n, "blank_lines": blank[0]})
    vdf = pd.DataFrame(visits, columns=list(VISIT_COLUMNS))
    qdf = pd.DataFrame(bad, columns=list(QUARANTINE_COLUMNS))
    counts = qdf["reason"].value_counts().sort_index()
    by_reason = {str(r): int(c) for r, c in counts.items()}
    rows_in = sum(f["rows_in"] for f in files)
    ledger = {
        "rows_in": rows_in,
        "accepted": len(vdf),
        "quarantined": len(qdf),
        "by_reason": by_reason,
        "blank_lines": sum(f["blank_lines"] for f in files),
        "files": files,
    }
    if ledger["accepted"] + ledger["quarantined"] != rows_in:  # pragma: no cover
        raise DataError("patrol log ledger does not balance (a bug)")
    return PatrolLog(vdf, qdf, ledger)


# -- splitting and the report ----------------------------------------------------
def split_by_week(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[str, float]]:
    """Elapsed minutes of ``[start, end)`` in each ISO week (Europe/London).

    Examples
    --------
    Sunday 23:30 to Monday 00:45 (2023-06-11/12): 30 minutes in week 23, 45 in 24.

    >>> s = pd.Timestamp("2023-06-11 23:30", tz="Europe/London")
    >>> split_by_week(s, s + pd.Timedelta(minutes=75))
    [('2023-W23', 30.0), ('2023-W24', 45.0)]
    """
    start, end = _local(start), _local(end)
    out: list[tuple[str, float]] = []
    t = start
    while t < end:
        monday = (t.tz_localize(None).normalize()
                  - pd.Timedelta(days=t.weekday()))
        boundary = (monday + pd.Timedelta(days=7)).tz_localize(TZ)
        stop = min(end, boundary)
        out.append((_week(t), (stop - t).total_seconds() / 60.0))
        t = stop
    return out


def dosage_report(
    log: PatrolLog,
    plan,
    *,
    start: str | None = None,
    end: str | None = None,
) -> DosageResult:
    """Delivered vs planned minutes per zone and ISO week.

    Parameters
    ----------
    log : PatrolLog
        From :func:`read_patrol_log`.
    plan
        Any shape :func:`plan_minutes` takes.
    start, end : str, optional
        First and last day (``YYYY-MM-DD``) or ISO week (``2023-W23``) to report;
        default the weeks the accepted visits span. Every planned zone gets a row
        for every week, with zero delivered when nobody went.
    """
    p = plan_minutes(plan)
    v = log.visits
    pieces = []
    for r in v.itertuples(index=False):
        for week, minutes in split_by_week(r.start, r.end):
            pieces.append((r.zone, week, minutes))
    parts = pd.DataFrame(pieces, columns=["zone", "week", "minutes"])
    weeks = _weeks(parts["week"], start, end)
    covered = _covered(v, weeks)
    zones = list(p.minutes) + sorted(set(parts["zone"]) - set(p.minutes))
    grid = pd.MultiIndex.from_product([zones, weeks], names=["zone", "week"])
    agg = parts[parts["week"].isin(weeks)].groupby(["zone", "week"])["minutes"]
    table = pd.DataFrame(index=grid).reset_index()
    table["week_start"] = [_week_start(w) for w in table["week"]]
    table["planned_minutes"] = table["zone"].map(p.minutes).fillna(0.0).astype(float)
    delivered = agg.sum()
    table["delivered_minutes"] = [
        float(delivered.get((z, w), 0.0)) for z, w in zip(table["zone"],
                                                          table["week"], strict=True)
    ]
    table["covered_minutes"] = [
        float(covered.get((z, w), 0.0)) for z, w in zip(table["zone"],
                                                        table["week"], strict=True)
    ]
    table["delivered_share"] = np.where(
        table["planned_minutes"] > 0,
        table["delivered_minutes"] / table["planned_minutes"].where(
            table["planned_minutes"] > 0, 1.0),
        np.nan,
    )
    table["shortfall_minutes"] = (table["planned_minutes"]
                                  - table["delivered_minutes"]).clip(lower=0)
    counts = agg.size()
    table["visits"] = [
        int(counts.get((z, w), 0)) for z, w in zip(table["zone"], table["week"],
                                                   strict=True)
    ]
    table["in_plan"] = table["zone"].isin(list(p.minutes))
    for col in ("delivered_minutes", "covered_minutes", "shortfall_minutes"):
        table[col] = table[col].round(2)
    zones_df = _zone_totals(table)
    meta = _metadata(table, weeks, p, log)
    meta["minutes_outside_weeks"] = round(
        float(parts.loc[~parts["week"].isin(weeks), "minutes"].sum()), 2)
    return DosageResult(table, zones_df, log, meta)


def dosage(
    log: str | Path | Sequence[str | Path],
    plan,
    *,
    start: str | None = None,
    end: str | None = None,
    max_hours: float = 12.0,
) -> DosageResult:
    """Read a patrol log and report delivered vs planned minutes (one call).

    ``plan`` may also be a path to a JSON plan (:func:`load_plan`).
    """
    if isinstance(plan, str | Path):
        plan = load_plan(plan)
    p = plan_minutes(plan)
    return dosage_report(read_patrol_log(log, p, max_hours=max_hours), p,
                         start=start, end=end)


# -- private steps ---------------------------------------------------------------
def _minutes(zone, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x < 0:
        raise ParameterError(
            f"planned minutes for zone {zone!r} need to be a number ≥ 0; got "
            f"{value!r}"
        )
    return x


def _plan_value(zone, v: Mapping) -> float:
    if "minutes_per_week" in v:
        return _minutes(zone, v["minutes_per_week"])
    if "hours_per_week" in v:
        return 60.0 * _minutes(zone, v["hours_per_week"])
    raise ParameterError(
        f"zone {zone!r} of the plan needs 'minutes_per_week' or 'hours_per_week'"
    )


def _plan_from_frame(frame: pd.DataFrame) -> Plan:
    if "zone" not in frame.columns or not (
        {"hours_per_week", "minutes_per_week"} & set(frame.columns)
    ):
        raise ParameterError(
            "a plan table needs the columns 'zone' and 'hours_per_week' (or "
            f"'minutes_per_week'); it has {', '.join(map(str, frame.columns))}"
        )
    if frame["zone"].duplicated().any():
        dup = frame.loc[frame["zone"].duplicated(), "zone"].iloc[0]
        raise ParameterError(f"the plan lists zone {dup!r} twice")
    minutes: dict = {}
    cells: dict = {}
    for row in frame.to_dict("records"):
        zone = str(row["zone"])
        minutes[zone] = _plan_value(zone, row)
        zc = row.get("cells")
        if isinstance(zc, list | tuple | np.ndarray):
            for c in zc:
                cells[str(c)] = zone
    return Plan(minutes, cells)


def _read_text(item) -> tuple[str, str]:
    if isinstance(item, io.StringIO):
        return "<buffer>", item.getvalue()
    path = Path(item)
    try:
        data = read_input(path, "the patrol log")
    except OSError as exc:
        raise DataError(f"cannot read the patrol log ({exc.strerror})",
                        path=path.name) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return path.name, data.decode("utf-8")
    except UnicodeDecodeError:
        return path.name, data.decode("cp1252", errors="replace")


def _header_map(header: list[str], label: str) -> dict:
    norm = [h.strip().lower().replace(" ", "_") for h in header]
    found = {}
    for key, names in _ALIASES.items():
        hits = [i for i, h in enumerate(norm) if h in names]
        if hits:
            found[key] = hits[0]
    if "start" not in found or "end" not in found or not (
        "zone" in found or "cell" in found
    ):
        raise DataError(
            "a patrol log needs a header with 'zone' (or 'cell'), 'start' and "
            f"'end' columns; got {', '.join(header) or 'an empty line'}",
            path=label,
            line=1,
        )
    return found


def _read_rows(label, text, plan: Plan, max_hours, visits, bad, seen, blank
               ) -> int:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("the patrol log is empty", path=label) from None
    cols = _header_map(header, label)
    n = 0
    prev = reader.line_num
    for row in reader:
        line, prev = prev + 1, reader.line_num
        if not row or all(not x.strip() for x in row):
            blank[0] += 1  # a blank line is not a row; counted in the ledger
            continue
        n += 1
        raw = _csv_line(row)

        def reject(reason, detail, line=line, raw=raw):
            bad.append({"source": label, "line": line, "reason": reason,
                        "detail": detail, "raw": raw})

        if len(row) != len(header):
            reject("wrong_column_count", f"{len(row)} fields, header has {len(header)}")
            continue
        zone = row[cols["zone"]].strip() if "zone" in cols else ""
        cell = row[cols["cell"]].strip() if "cell" in cols else ""
        officer = row[cols["officer"]].strip() if "officer" in cols else ""
        if cell and not h3.is_valid_cell(cell):
            reject("bad_cell", f"{cell!r} is not an H3 cell id")
            continue
        if not zone and not cell:
            reject("missing_zone", "no zone or cell")
            continue
        if not zone:
            zone = plan.cells.get(cell, OUTSIDE if plan.cells else cell)
        s_text, e_text = row[cols["start"]].strip(), row[cols["end"]].strip()
        s, s_err = _parse_time(s_text)
        e, e_err = _parse_time(e_text)
        if s is None or e is None:
            reject("bad_datetime", s_err if s is None else e_err)
            continue
        if e <= s:
            reject("end_not_after_start", f"start {s_text}, end {e_text}")
            continue
        minutes = (e - s).total_seconds() / 60.0
        if minutes > max_hours * 60:
            reject("too_long", f"{minutes / 60:.1f} h > {max_hours:g} h")
            continue
        key = (zone, cell, officer, s, e)
        if key in seen:
            reject("duplicate", f"same visit as {seen[key]}")
            continue
        seen[key] = f"{label} line {line}"
        visits.append({
            "zone": zone, "cell": cell or None, "officer": officer or None,
            "start": s, "end": e, "minutes": round(minutes, 4),
            "in_plan": zone in plan.minutes, "source": label, "line": line,
        })
    return n


def _csv_line(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()


def _parse_time(text: str) -> tuple[pd.Timestamp | None, str]:
    if not text:
        return None, "empty time"
    try:
        m = _UK.match(text)
        if m:
            d, mo, y, hh, mm, ss = m.groups()
            ts = pd.Timestamp(int(y), int(mo), int(d), int(hh), int(mm), int(ss or 0))
        elif _ISO.match(text):
            ts = pd.Timestamp(text)
        else:
            return None, f"unreadable time {text!r} (use ISO 8601 or DD/MM/YYYY HH:MM)"
    except (ValueError, OverflowError) as exc:
        return None, f"unreadable time {text!r} ({exc})"
    if ts.tzinfo is None:
        local = ts.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")
        if local is pd.NaT:
            return None, (f"local time {text!r} does not exist or is ambiguous (clock "
                          "change); give a UTC offset")
        return local, ""
    return ts.tz_convert(TZ), ""


def _local(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize(TZ) if ts.tzinfo is None else ts.tz_convert(TZ)


def _week(ts: pd.Timestamp) -> str:
    y, w, _ = ts.isocalendar()
    return f"{y}-W{w:02d}"


def _week_start(week: str) -> str:
    return datetime.strptime(week + "-1", "%G-W%V-%u").date().isoformat()


def _to_week(text: str, name: str) -> str:
    text = str(text).strip()
    if re.match(r"^\d{4}-W\d{2}$", text):
        try:
            _week_start(text)
        except ValueError:
            pass
        else:
            return text
    try:
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            raise ValueError(text)
        return _week(pd.Timestamp(text))
    except (ValueError, TypeError):
        raise ParameterError(
            f"'{name}' needs to be a day YYYY-MM-DD or an ISO week YYYY-Www; "
            f"{text!r} was given instead"
        ) from None


def _weeks(observed: pd.Series, start, end) -> list[str]:
    first = _to_week(start, "start") if start else (
        min(observed) if len(observed) else None)
    last = _to_week(end, "end") if end else (max(observed) if len(observed) else None)
    if first is None or last is None:
        return []
    if first > last:
        raise ParameterError(f"'start' {first} is after 'end' {last}")
    out = []
    d = datetime.strptime(first + "-1", "%G-W%V-%u")
    stop = datetime.strptime(last + "-1", "%G-W%V-%u")
    while d <= stop:
        y, w, _ = d.isocalendar()
        out.append(f"{y}-W{w:02d}")
        d += timedelta(days=7)
    return out


def _covered(v: pd.DataFrame, weeks: list[str]) -> dict:
    """Minutes with at least one officer present, per zone and week."""
    out: dict = {}
    keep = set(weeks)
    for zone, g in v.groupby("zone"):
        spans = sorted(zip(g["start"], g["end"], strict=True))
        merged: list[list] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        for s, e in merged:
            for week, minutes in split_by_week(s, e):
                if week in keep:
                    out[(zone, week)] = out.get((zone, week), 0.0) + minutes
    return out


def _zone_totals(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return pd.DataFrame(columns=["zone", "weeks", "planned_minutes",
                                     "delivered_minutes", "covered_minutes",
                                     "delivered_share", "weeks_below_half", "visits",
                                     "in_plan"])
    g = table.groupby("zone", sort=False)
    z = g.agg(weeks=("week", "size"), planned_minutes=("planned_minutes", "sum"),
              delivered_minutes=("delivered_minutes", "sum"),
              covered_minutes=("covered_minutes", "sum"), visits=("visits", "sum"),
              in_plan=("in_plan", "first")).reset_index()
    z["delivered_share"] = np.where(
        z["planned_minutes"] > 0,
        z["delivered_minutes"] / z["planned_minutes"].where(z["planned_minutes"] > 0,
                                                            1.0),
        np.nan)
    below = table[table["in_plan"] & (table["delivered_share"] < 0.5)]
    z["weeks_below_half"] = z["zone"].map(below.groupby("zone").size()).fillna(0
                                                                               ).astype(int)
    return z[["zone", "weeks", "planned_minutes", "delivered_minutes",
              "covered_minutes", "delivered_share", "weeks_below_half", "visits",
              "in_plan"]]


def _metadata(table, weeks, plan: Plan, log: PatrolLog) -> dict:
    planned = float(table["planned_minutes"].sum())
    delivered_in_plan = float(table.loc[table["in_plan"], "delivered_minutes"].sum())
    unplanned = sorted(set(table.loc[~table["in_plan"], "zone"]))
    return {
        **run_header(),
        "method": "visits split at ISO-week boundaries (Monday 00:00 Europe/London)",
        "timezone": TZ,
        "weeks": weeks,
        "zones_planned": len(plan.minutes),
        "planned_minutes": round(planned, 2),
        "delivered_minutes": round(delivered_in_plan, 2),
        "delivered_share": round(delivered_in_plan / planned, 4) if planned else None,
        "unplanned_zones": unplanned,
        "unplanned_minutes": round(
            float(table.loc[~table["in_plan"], "delivered_minutes"].sum()), 2),
        "ledger": log.ledger,
        "why": [
            "Delivered = officer-minutes of accepted visits (two officers together "
            "count twice); covered = minutes with at least one officer present.",
            "Visits across a week boundary are split between the weeks; times "
            "without an offset are Europe/London local time.",
            f"Rows: {log.ledger['rows_in']} in, {log.ledger['accepted']} accepted, "
            f"{log.ledger['quarantined']} quarantined (file, line and reason in "
            "'quarantine').",
        ],
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame.to_dict("records"):
        rec = {}
        for k, v in row.items():
            if isinstance(v, pd.Timestamp):
                rec[k] = v.isoformat()
            elif isinstance(v, float | np.floating):
                rec[k] = None if not math.isfinite(v) else round(float(v), 4)
            elif isinstance(v, np.integer):
                rec[k] = int(v)
            elif isinstance(v, np.bool_):
                rec[k] = bool(v)
            elif v is None or (isinstance(v, float) and math.isnan(v)):
                rec[k] = None
            else:
                rec[k] = v
        out.append(rec)
    return out


def _reasons(by_reason: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in by_reason.items())


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"
