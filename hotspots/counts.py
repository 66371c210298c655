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
from .errors import ParameterError, check_choice
from .store import Store

__all__ = ["BY", "CountResult", "count_offences", "covered_months", "covered_period",
           "month_range"]

BY = ("month", "ward", "borough", "bcu", "crime_type", "h3_9")


@dataclass(frozen=True)
class CountResult:
    """Counts with what produced them."""

    area: Area
    crime: str
    by: str
    start: str | None
    end: str | None
    table: pd.DataFrame  # key, label, count, synthetic
    total: int
    synthetic_share: float

    def to_json(self) -> dict:
        rows = [
            {"key": r.key, "label": r.label, "count": int(r.count)}
            for r in self.table.itertuples(index=False)
        ]
        return {
            "area": self.area.to_dict(),
            "crime": self.crime,
            "crime_types": list(crime_types_for(self.crime)),
            "by": self.by,
            "from": self.start,
            "to": self.end,
            "total": self.total,
            "synthetic_share": round(self.synthetic_share, 4),
            "rows": rows,
        }


def month_range(start: str, end: str) -> list[str]:
    """Inclusive list of ``YYYY-MM`` months.

    Examples
    --------
    >>> month_range("2022-11", "2023-02")
    ['2022-11', '2022-12', '2023-01', '2023-02']
    """
    try:
        p = pd.period_range(start, end, freq="M")
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            f"months need to be YYYY-MM; got {start!r}..{end!r}"
        ) from exc
    if len(p) == 0:
        raise ParameterError(f"'from' {start!r} is after 'to' {end!r}")
    return [str(x) for x in p]


def covered_months(store: Store, crime: str) -> list[str]:
    """Months the store's files cover for a crime family (first to last, inclusive)."""
    cov = store.ledger()["street"].get("coverage", {})
    spans = [cov[t] for t in crime_types_for(crime) if t in cov]
    if not spans:
        return []
    return month_range(min(s["first"] for s in spans), max(s["last"] for s in spans))


def covered_period(store: Store, crime: str, start: str | None = None,
                   end: str | None = None, strict: bool = False) -> list[str]:
    """The months ``start``…``end``, each defaulting to the ends of the coverage.

    Raises
    ------
    ParameterError
        When the store holds no offences of ``crime``, or (``strict``) when the
        first or last month lies outside the months the data covers.
    """
    covered = covered_months(store, crime)
    if not covered:
        raise ParameterError(f"the store holds no {crime!r} offences")
    months = month_range(start or covered[0], end or covered[-1])
    outside = [m for m in (months[0], months[-1]) if m not in covered]
    if strict and outside:
        raise ParameterError(
            f"{crime} data covers {covered[0]}..{covered[-1]}; {outside[0]} is "
            "outside.")
    return months


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
    store = store or Store.open()
    area = area if isinstance(area, Area) else resolve_area(area)
    crime_types_for(crime)
    key_col = {"ward": "ward_code", "borough": "borough", "month": "month"}.get(by, by)
    cols = list(dict.fromkeys([key_col, "synthetic", "ward_name"]))
    df = store.offences(area=area, crime=crime, start=start, end=end, columns=cols)
    counts = df.groupby(key_col).size()
    if by == "month":
        months = covered_months(store, crime)
        if start:
            months = [m for m in months if m >= start]
        if end:
            months = [m for m in months if m <= end]
        keys = months or sorted(counts.index)
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
    table = table.reset_index(drop=True)
    total = int(len(df))
    synth = float(df["synthetic"].mean()) if total else 0.0
    return CountResult(area, crime, by, start, end, table, total, synth)
