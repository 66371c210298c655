"""Counts after the joins: offences by month, 2022 ward or borough for an area.

What an analyst checks against their own crime pack. Months with no offences and
wards with no offences are listed with zero, never left out; months outside the
span the data covers for the chosen crime types are not invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .areas import Area, load_wards, resolve_area
from .config import crime_types_for
from .coverage import MET_FORCE, Coverage, area_forces
from .errors import ParameterError, check_choice
from .months import describe_months, month_range
from .store import Store

__all__ = ["BY", "NO_BCU", "CountResult", "count_offences", "covered_months",
           "covered_period"]

BY = ("month", "ward", "borough", "bcu", "crime_type", "h3_9")
#: The line of offences in no BCU (the City of London's), counted by BCU.
NO_BCU = "no BCU (City of London)"


@dataclass(frozen=True)
class CountResult:
    """Counts with what produced them."""

    area: Area
    crime: str
    by: str
    start: str | None
    end: str | None
    table: pd.DataFrame  # key, label, count, status, missing_forces
    total: int  # offences of the period, its missing months left out
    synthetic_share: float
    missing: tuple[str, ...] = ()
    #: months of the period only some of the area's forces cover (their counts
    #: hold the others' offences only)
    partial: tuple[str, ...] = ()

    def to_json(self) -> dict:
        rows = []
        for r in self.table.itertuples(index=False):
            row = {"key": r.key, "label": r.label,
                   "count": "missing" if r.status == "missing" else int(r.count)}
            if r.status == "partial":
                row["status"] = "partial"
                row["missing_forces"] = list(r.missing_forces)
            rows.append(row)
        return {
            "area": self.area.to_dict(),
            "crime": self.crime,
            "crime_types": list(crime_types_for(self.crime)),
            "by": self.by,
            "from": self.start,
            "to": self.end,
            "total": self.total,
            "synthetic_share": round(self.synthetic_share, 4),
            "missing_months": list(self.missing),
            "partial_months": list(self.partial),
            "rows": rows,
        }


def covered_months(store: Store, crime: str, area: Area | str | None = None
                   ) -> list[str]:
    """Months the data covers for ``crime`` in ``area`` (default London): those
    every territorial force of the area has files for (see
    :mod:`hotspots.coverage`). Gaps are left out, never filled with zeros."""
    area = _area(area)
    return Coverage.of(store).months(crime, area_forces(area))


def covered_period(store: Store, crime: str, start: str | None = None,
                   end: str | None = None, strict: bool = False,
                   area: Area | str | None = None) -> list[str]:
    """The covered months from ``start`` to ``end`` (each defaulting to the ends of
    the coverage), gaps left out.

    Raises
    ------
    ParameterError
        When the store holds no offences of ``crime``, or (``strict``) when the
        first or last month lies outside the months the data covers.
    """
    covered = covered_months(store, crime, area)
    if not covered:
        raise ParameterError(nothing_covered(store, crime, _area(area)))
    span = month_range(start or covered[0], end or covered[-1])
    outside = [m for m in (span[0], span[-1]) if m not in covered]
    if strict and outside:
        raise ParameterError(
            f"{crime} data covers {describe_months(covered)}; {outside[0]} is not "
            "covered.")
    have = set(covered)
    months = [m for m in span if m in have]
    if not months:
        raise ParameterError(
            f"{crime} data covers {describe_months(covered)}; nothing in "
            f"{span[0]}..{span[-1]}.")
    return months


def nothing_covered(store: Store, crime: str, area: Area, hint: bool = True
                     ) -> str:
    """Why no month is covered for ``crime`` in ``area``: no force has the crime,
    or a force of the area has no file for it (with ``hint``, the area that needs
    only the forces that do, for commands that take an area)."""
    cov = Coverage.of(store)
    forces = area_forces(area)
    have = {f: cov.months(crime, (f,)) for f in forces}
    if not any(have.values()):
        return f"the store holds no {crime!r} offences for {area.name}"
    says = "; ".join(f"{f} covers {describe_months(m)}" if m else f"{f} has no file"
                     for f, m in have.items())
    mps = ("; the Met's 32 boroughs alone (area MPS) are covered"
           if hint and have.get(MET_FORCE) and area.kind == "london" else "")
    return (f"no month of {crime!r} is covered by every police force of "
            f"{area.name} ({says}){mps}")


def _area(area) -> Area:
    if area is None:
        return resolve_area("London")
    return area if isinstance(area, Area) else resolve_area(area)


def count_offences(
    area: Area | str = "London",
    crime: str = "all",
    by: str = "month",
    start: str | None = None,
    end: str | None = None,
    store: Store | None = None,
) -> CountResult:
    """Count accepted offences in ``area`` for ``crime``, grouped ``by``.

    Parameters
    ----------
    area : Area or str
        London, a BCU, a borough or a 2022 ward.
    crime : str
        A family or police.uk type.
    by : {'month', 'ward', 'borough', 'bcu', 'crime_type', 'h3_9'}
    start, end : str, optional
        Inclusive ``YYYY-MM`` bounds (default: all months the data covers).
    """
    check_choice("by", by, BY)
    store = (store or Store.open()).pinned()  # offences and coverage agree
    area = area if isinstance(area, Area) else resolve_area(area)
    crime_types_for(crime)
    key_col = {"ward": "ward_code", "borough": "borough", "month": "month"}.get(by, by)
    cols = list(dict.fromkeys([key_col, "month", "borough", "synthetic",
                               "ward_name"]))
    df = store.offences(area=area, crime=crime, start=start, end=end, columns=cols)
    status = {}
    cov = Coverage.of(store)
    forces = area_forces(area)
    # the period's months (its ends default to the coverage's, and to any month
    # holding rows: a British Transport Police file alone), each covered, partial
    # or missing: a store covering none of them has them all missing
    span = sorted(set(cov.any_months(crime, forces)) | set(df["month"].unique()))
    first = start or (span[0] if span else end)
    last = end or (span[-1] if span else start)
    if not (first and last):  # no period given, and nothing covered to default to
        raise ParameterError(
            f"no month of {crime!r} data in the store covers {area.name}: nothing "
            "to count (give --from and --to to list the months as missing)")
    period = month_range(first, last)
    period_status = cov.status(crime, forces, period)
    missing = tuple(m for m in period if period_status.get(m) == "missing")
    partial = tuple(m for m in period if period_status.get(m) == "partial")
    # rows of a missing month (another force's, with no file of the area's own)
    # count toward nothing but that month's own line
    by_month = df.groupby("month").size()
    df = df[~df["month"].isin(missing)]
    # and in a partial month, each borough by its own force: a London month the
    # City's police filed nothing for holds no City rows (nor another force's
    # rows in the City), whatever the grouping, so every total is one figure
    if partial:
        df = df[cov.own_rows(crime, df["borough"].astype(str), df["month"])]
    own_missing, own_forces = {}, {}
    if by in ("ward", "borough") and partial:  # and said so, ward by ward
        for b in area.boroughs:
            own_forces[b] = area_forces(resolve_area(b))
            st = cov.status(crime, own_forces[b], period)
            own_missing[b] = {m for m in period if st.get(m) == "missing"}
    if by == "bcu":  # the City is in no BCU: its own line, so the lines add up
        df = df.assign(bcu=df["bcu"].astype(object).where(df["bcu"].notna(),
                                                          NO_BCU))
    counts = (by_month.where(by_month.index.isin(missing),
                             df.groupby("month").size()).fillna(0)
              if by == "month" else df.groupby(key_col).size())
    if by == "month":
        keys, status = period, period_status
        table = pd.DataFrame({"key": keys, "label": keys})
    elif by == "ward":
        wards = load_wards()
        wards = wards[wards["ward_code"].isin(area.ward_codes)].sort_values("ward_name")
        table = pd.DataFrame({"key": wards["ward_code"], "label": wards["ward_name"]})
    elif by == "borough":
        keys = list(area.boroughs)
        table = pd.DataFrame({"key": keys, "label": keys})
    else:
        keys = sorted(counts.index)
        table = pd.DataFrame({"key": keys, "label": keys})
    table["count"] = table["key"].map(counts).fillna(0).astype(int)
    table["status"] = table["key"].map(status).fillna("covered")
    if by != "month" and len(missing) == len(period):  # no data: not zeros
        table["status"] = "missing"
    table["missing_forces"] = [
        tuple(cov.missing_forces(crime, forces, k)) if s == "partial" else ()
        for k, s in zip(table["key"], table["status"], strict=True)]
    table = table.reset_index(drop=True)
    if own_missing:  # a ward or borough without all its months: said so
        borough_of = (table["key"] if by == "borough" else table["key"].map(
            load_wards().set_index("ward_code")["borough"]))
        for i, b in enumerate(borough_of):
            lacks = own_missing.get(b, set())
            if len(lacks) == len(period):
                table.loc[i, "status"] = "missing"
            elif lacks:
                table.loc[i, "status"] = "partial"
                table.at[i, "missing_forces"] = tuple(sorted({
                    f for m in lacks
                    for f in cov.missing_forces(crime, own_forces[b], m)}))
    total = int(len(df))
    synth = float(df["synthetic"].mean()) if total else 0.0
    return CountResult(area, crime, by, start, end, table, total, synth, missing,
                       partial)
