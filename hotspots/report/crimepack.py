"""The borough crime pack, laid out as a borough uses it.

For each crime family — robbery, vehicle crime, burglary, anti-social behaviour
(semi-synthetic in the shared data, and labelled so) and **all crime** (notifiable
offences: every police.uk type but ASB, as the Met's packs count it) — the pack
compares

- the pack month with the month before,
- the 12 months to the pack month with the 12 months before,
- the financial year to date (from April) with the same months a year earlier,

for the borough, its Basic Command Unit and the Metropolitan Police area (MPS, the
Met's 32 boroughs, :func:`hotspots.areas.resolve_area` ``"MPS"``) side by side,
with offences per 1,000 residents over the 12 months (Census 2021 usual residents
from the data root's ``population/``; see :mod:`hotspots.population`). A burglary
section gives monthly averages and the latest month for the three areas, and a
stop-and-search section the searches and positive-outcome rate by month.

Every figure is a sum of what :func:`hotspots.counts.count_offences` gives by month
for the same area and crime, so the pack agrees with ``hotspots counts`` to the
offence. Months the data does not cover (no police.uk file for the force and type,
:mod:`hotspots.coverage`) are never read as zero: a period needing one of them is
``n/a (no data 2021-02…2021-12)``. Every table says which months it has data for
and which not; "all crime" lists the police.uk types and months it holds.

The pack's offences are one :class:`~hotspots.study.Study` of the Met's area over
the 24 months to the pack month, every type of its families, loaded with
``cover="any"`` (each figure then says which of its months are covered): one read
of the store, plus one of stop and search, grouped in memory. A caller that holds
such a study already passes it and the pack reads offences not at all:
:func:`crime_packs` makes several boroughs' packs (a BCU's) from one study.

Public: :func:`crime_pack` (the numbers), :func:`crime_packs` (several boroughs
from one read), :func:`pack_study`, :func:`write_crime_pack` (the PDF),
:meth:`CrimePack.to_json` and :meth:`CrimePack.summary`. Command line::

    hotspots pack --borough Merton --month 2022-12 [--out FILE.pdf] [--json]
    hotspots pack --bcu "South West" --month 2022-12 [--out FOLDER] [--json]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..areas import Area, load_wards, resolve_area
from ..config import BOROUGH_BCU, NOTIFIABLE_TYPES, crime_types_for
from ..coverage import Coverage, area_forces, search_months
from ..errors import ParameterError
from ..months import check_month, describe_months, month_label, month_range, shift_month
from ..population import Population, load_population, rate_per_1000
from ..store import Store
from ..study import Study

__all__ = [
    "LEVELS",
    "PACK_FAMILIES",
    "WINDOWS",
    "CrimePack",
    "crime_pack",
    "crime_packs",
    "financial_year_start",
    "pack_study",
    "population_note",
    "write_crime_pack",
]

#: Crime families in the pack, in print order.
PACK_FAMILIES: tuple[str, ...] = ("robbery", "vehicle", "burglary", "asb", "all")
#: Area levels compared: the borough, its BCU and the Met's area.
LEVELS: tuple[str, ...] = ("borough", "bcu", "mps")
#: The periods of every figure, and the pairs compared.
WINDOWS: tuple[str, ...] = ("month", "previous_month", "twelve_months",
                            "previous_twelve_months", "fytd", "previous_fytd")
COMPARISONS: dict[str, tuple[str, str]] = {
    "month": ("month", "previous_month"),
    "twelve_months": ("twelve_months", "previous_twelve_months"),
    "fytd": ("fytd", "previous_fytd"),
}
LABELS = {"robbery": "Robbery", "vehicle": "Vehicle crime", "burglary": "Burglary",
          "asb": "Anti-social behaviour", "all": "All crime (notifiable)"}
#: Months of offences the pack reads: the 24 to the pack month.
SPAN = 24
#: Offence columns the pack uses.
PACK_FIELDS: tuple[str, ...] = ("month", "crime_type", "ward_code", "synthetic")
#: The pack's study grid: the coarsest resolution (the pack groups by ward).
_PACK_RES = 7


def financial_year_start(month: str) -> str:
    """The April that starts the financial year of ``month``.

    Examples
    --------
    >>> financial_year_start("2022-12"), financial_year_start("2023-03")
    ('2022-04', '2022-04')
    """
    y, m = int(month[:4]), int(month[5:7])
    return f"{y if m >= 4 else y - 1}-04"


def _no_data(missing) -> str:
    """``'no data 2021-02…2021-12'`` for a list of months."""
    return "no data " + describe_months(list(missing)).replace("..", "…")


def _change(cur: dict, prev: dict) -> dict:
    """Current against previous figure; ``pct`` None when either is unknown."""
    c, p = cur["count"], prev["count"]
    pct = round(100.0 * (c - p) / p, 1) if c is not None and p else None
    missing = sorted(set(cur["missing_months"]) | set(prev["missing_months"]))
    return {"current": c, "previous": p, "pct": pct,
            "missing_months": missing,
            "note": _no_data(missing) if missing else None}


@dataclass(frozen=True)
class CrimePack:
    """The numbers of one borough crime pack.

    Attributes
    ----------
    areas : dict
        ``{'borough': Area, 'bcu': Area, 'mps': Area}``.
    month : str
        The pack month (``YYYY-MM``).
    families : tuple of str
    monthly : DataFrame
        ``level, crime, month, count, status, synthetic`` for the 24 months to
        ``month``; ``count`` is <NA> where ``status`` is ``missing`` (no data).
    stop_search : DataFrame
        ``level, month, searches, positive, no_further_action, unknown, status``
        (``status`` ``missing`` where the store has no stop-and-search records).
    population : dict
        ``{level: residents or None}``.
    population_source : str
    coverage : dict
        ``{crime: [months the data covers for the borough]}`` (whole store).
    type_months : dict
        ``{crime: {police.uk type: [months with data in the 24]}}``.
    borough_synthetic_share : float
        Share of the borough's offence rows read (every family, 24 months) that
        are semi-synthetic.
    """

    areas: dict = field(repr=False)
    month: str
    families: tuple[str, ...]
    monthly: pd.DataFrame = field(repr=False)
    stop_search: pd.DataFrame = field(repr=False)
    population: dict = field(repr=False)
    population_source: str
    coverage: dict = field(repr=False)
    type_months: dict = field(repr=False)
    borough_synthetic_share: float = 0.0

    # -- periods and figures ---------------------------------------------------
    @property
    def months(self) -> list[str]:
        """The 24 months the pack reads, oldest first."""
        return month_range(shift_month(self.month, -(SPAN - 1)), self.month)

    @property
    def periods(self) -> dict[str, tuple[str, str]]:
        """``{window: (first, last)}`` for :data:`WINDOWS`."""
        m = self.month
        fy = financial_year_start(m)
        return {
            "month": (m, m),
            "previous_month": (shift_month(m, -1), shift_month(m, -1)),
            "twelve_months": (shift_month(m, -11), m),
            "previous_twelve_months": (shift_month(m, -23), shift_month(m, -12)),
            "fytd": (fy, m),
            "previous_fytd": (shift_month(fy, -12), shift_month(m, -12)),
        }

    @cached_property
    def _lookup(self) -> dict:
        """``{(level, crime): ({month: count}, {month: status})}`` (built once)."""
        out = {}
        for (lv, c), sub in self.monthly.groupby(["level", "crime"], sort=False):
            out[(lv, c)] = (dict(zip(sub["month"], sub["count"], strict=True)),
                            dict(zip(sub["month"], sub["status"], strict=True)))
        return out

    def series(self, crime: str, level: str = "borough") -> pd.Series:
        """Offences by month (<NA> where there is no data) for one crime and level."""
        counts = self._lookup[(level, crime)][0]
        return pd.Series(pd.array(list(counts.values()), dtype="Int64"),
                         index=list(counts))

    def _status(self, crime: str, level: str) -> pd.Series:
        return pd.Series(self._lookup[(level, crime)][1])

    def figure(self, crime: str, level: str, window: str) -> dict:
        """Offences of ``crime`` in ``level`` over ``window``; ``count`` None when
        a month of it has no data (listed in ``missing_months``)."""
        a, b = self.periods[window]
        keys = month_range(a, b)
        counts, status = self._lookup[(level, crime)]
        missing = [k for k in keys if status[k] == "missing"]
        partial = [k for k in keys if status[k] == "partial"]
        count = None if missing else int(sum(counts[k] for k in keys))
        return {"from": a, "to": b, "months": len(keys), "count": count,
                "status": "missing" if missing else
                ("partial" if partial else "covered"),
                "missing_months": missing, "partial_months": partial}

    @cached_property
    def _synthetic(self) -> dict:
        g = self.monthly.assign(n=self.monthly["count"].fillna(0)).groupby(
            ["level", "crime"])[["n", "synthetic"]].sum()
        return {k: (float(r["synthetic"] / r["n"]) if r["n"] else 0.0)
                for k, r in g.iterrows()}

    def synthetic_share(self, crime: str, level: str = "borough") -> float:
        """Share of the offences counted (24 months) that are semi-synthetic."""
        return self._synthetic[(level, crime)]

    def rate(self, crime: str, level: str) -> float | None:
        """Offences per 1,000 residents over the 12 months (None if unknown)."""
        return rate_per_1000(self.figure(crime, level, "twelve_months")["count"],
                             self.population.get(level), min_population=1)

    def figures(self) -> dict:
        """Every offence figure: ``{crime: {level: {window: figure}}}``."""
        return {c: {lv: {w: self.figure(c, lv, w) for w in WINDOWS}
                    for lv in LEVELS} for c in self.families}

    def changes(self) -> dict:
        """``{crime: {level: {'month'|'twelve_months'|'fytd': change}}}``."""
        f = self.figures()
        return {c: {lv: {k: _change(f[c][lv][a], f[c][lv][b])
                         for k, (a, b) in COMPARISONS.items()}
                     for lv in LEVELS} for c in self.families}

    # -- sections ----------------------------------------------------------------
    def family_notes(self) -> dict:
        """What each family holds: types, months with data and without."""
        out = {}
        span = self.months
        for c in self.families:
            st = self._status(c, "borough").reindex(span)
            have = [k for k in span if st[k] != "missing"]
            types = crime_types_for(c)
            held = [t for t in types if self.type_months[c].get(t)]
            out[c] = {
                "label": LABELS.get(c, c),
                "crime_types": list(types),
                "types_held": held,
                "types_missing": [t for t in types if t not in held],
                "months_with_data": describe_months(have),
                "no_data_months": [k for k in span if st[k] == "missing"],
                "covered_in_store": describe_months(self.coverage[c]),
                "type_months": {t: describe_months(v)
                                for t, v in self.type_months[c].items() if v},
                "synthetic_share": {lv: round(self.synthetic_share(c, lv), 4)
                                    for lv in LEVELS},
            }
            out[c]["semi_synthetic"] = out[c]["synthetic_share"]["borough"] > 0
        return out

    def burglary(self) -> dict | None:
        """Burglary: the latest month and monthly averages for the three areas."""
        if "burglary" not in self.families:
            return None
        out = {}
        for lv in LEVELS:
            f = {w: self.figure("burglary", lv, w) for w in WINDOWS}
            avg = {w: (None if f[w]["count"] is None
                       else round(f[w]["count"] / f[w]["months"], 2))
                   for w in ("twelve_months", "previous_twelve_months", "fytd",
                             "previous_fytd")}
            latest = f["month"]["count"]
            a12 = f["twelve_months"]["count"]
            s = self.series("burglary", lv)
            out[lv] = {
                "area": self.areas[lv].name,
                "latest_month": latest,
                "previous_month": f["previous_month"]["count"],
                "monthly_average_12": avg["twelve_months"],
                "monthly_average_previous_12": avg["previous_twelve_months"],
                "change_12": _change(f["twelve_months"],
                                     f["previous_twelve_months"]),
                "latest_vs_average_pct": (
                    round(100.0 * (latest * 12 - a12) / a12, 1)
                    if latest is not None and a12 else None),
                "fytd_monthly_average": avg["fytd"],
                "previous_fytd_monthly_average": avg["previous_fytd"],
                "fytd_change": _change(f["fytd"], f["previous_fytd"]),
                "per_1000": self.rate("burglary", lv),
                "monthly": {k: (None if pd.isna(v) else int(v))
                            for k, v in s.items()},
            }
        return out

    def stop_search_section(self) -> dict:
        """Searches and positive-outcome rate by month, borough vs BCU vs MPS."""
        ss = self.stop_search
        out = {"levels": {}}
        twelve = month_range(*self.periods["twelve_months"])
        prev = month_range(*self.periods["previous_twelve_months"])
        for lv in LEVELS:
            sub = ss[ss["level"] == lv].set_index("month")
            rows = []
            for k in twelve:
                r = sub.loc[k]
                if r["status"] == "missing":
                    rows.append({"month": k, "status": "no data"})
                    continue
                rows.append({"month": k, "searches": int(r["searches"]),
                             "positive": int(r["positive"]),
                             "no_further_action": int(r["no_further_action"]),
                             "unknown": int(r["unknown"]),
                             "positive_rate": _share(r["positive"],
                                                     r["no_further_action"])})
            out["levels"][lv] = {
                "area": self.areas[lv].name,
                "by_month": rows,
                "twelve_months": _ss_total(sub, twelve),
                "previous_twelve_months": _ss_total(sub, prev),
            }
        have = ss[(ss["level"] == "borough") & (ss["status"] != "missing")]
        out["months_with_data"] = describe_months(sorted(have["month"]))
        out["no_data_months"] = sorted(
            ss.loc[(ss["level"] == "borough") & (ss["status"] == "missing"),
                   "month"])
        out["rule"] = POSITIVE_RULE
        return out

    # -- output ------------------------------------------------------------------
    def to_json(self, pdf: str | None = None) -> dict:
        ch = self.changes()
        have_rates = self.population.get("borough") is not None
        bcu_code = BOROUGH_BCU[self.areas["borough"].boroughs[0]]
        return {
            "pdf": pdf,
            "borough": self.areas["borough"].to_dict(),
            "bcu": {"code": bcu_code, "name": self.areas["bcu"].name},
            "mps": {"code": "MPS", "name": self.areas["mps"].name},
            "month": self.month,
            "periods": {w: {"from": a, "to": b} for w, (a, b) in
                        self.periods.items()},
            "families": self.family_notes(),
            "all_crime_definition": ALL_CRIME_DEFINITION,
            "twelve_month_change": {c: ch[c]["borough"]["twelve_months"]
                                    for c in self.families},
            "month_change": {c: ch[c]["borough"]["month"] for c in self.families},
            "fytd_change": {c: ch[c]["borough"]["fytd"] for c in self.families},
            "per_1000": {c: self.rate(c, "borough") for c in self.families},
            "figures": self.figures(),
            "changes": ch,
            "rates": {c: {lv: self.rate(c, lv) for lv in LEVELS}
                      for c in self.families},
            "population": {lv: self.population.get(lv) for lv in LEVELS},
            "population_source": self.population_source or None,
            "rates_available": have_rates,
            "rates_note": None if have_rates else population_note(),
            "burglary": self.burglary(),
            "stop_search": self.stop_search_section(),
            "synthetic_share": {c: round(self.synthetic_share(c), 4)
                                for c in self.families},
        }

    def summary(self) -> list[str]:
        """Plain-language lines for the terminal."""
        ch = self.changes()
        b = self.areas["borough"].name
        lines = [f"{b} crime pack, {month_label(self.month)} "
                 f"({self.areas['bcu'].name}; MPS = {self.areas['mps'].name})"]
        for c in self.families:
            d = ch[c]["borough"]["twelve_months"]
            fy = ch[c]["borough"]["fytd"]
            rate = self.rate(c, "borough")
            lines.append(
                f"{LABELS.get(c, c)}: 12 months {_num(d['current'])} vs "
                f"{_num(d['previous'])} ({_pct_text(d)}); FYTD {_num(fy['current'])} "
                f"vs {_num(fy['previous'])} ({_pct_text(fy)}); "
                + ("rate n/a" if rate is None else f"{rate:.2f} per 1,000"))
        ss = self.stop_search_section()["levels"]["borough"]["twelve_months"]
        if ss["positive_rate"] is not None:
            lines.append(f"Stop and search: {ss['searches_in_months_with_data']:,} "
                         "searches in "
                         f"{ss['months_with_data']} months with data, positive "
                         f"outcome {100 * ss['positive_rate']:.1f}%")
        if self.population.get("borough") is None:
            lines.append(population_note())
        return lines


POSITIVE_RULE = (
    "positive outcome = an outcome other than no further action (arrest, "
    "community resolution, penalty notice, summons, caution, warnings…); searches "
    "with no recorded outcome are left out of the rate"
)
ALL_CRIME_DEFINITION = (
    "All crime = notifiable offences: every police.uk crime type except "
    "anti-social behaviour (" + ", ".join(NOTIFIABLE_TYPES) + "), as the Met's "
    "crime packs count it."
)


def _share(pos, nfa) -> float | None:
    known = int(pos) + int(nfa)
    return round(int(pos) / known, 4) if known else None


def _ss_total(sub: pd.DataFrame, months: list[str]) -> dict:
    rows = sub.reindex(months)
    have = rows[rows["status"] != "missing"]
    missing = [k for k in months if rows.loc[k, "status"] == "missing"]
    pos, nfa = int(have["positive"].sum()), int(have["no_further_action"].sum())
    return {
        "searches": None if missing else int(have["searches"].sum()),
        "searches_in_months_with_data": int(have["searches"].sum()),
        "positive": pos,
        "positive_rate": _share(pos, nfa),
        "months_with_data": int(len(have)),
        "missing_months": missing,
    }


def _num(n) -> str:
    return "n/a" if n is None else f"{n:,}"


def _pct_text(d: dict) -> str:
    if d["pct"] is not None:
        return f"{d['pct']:+.1f}%"
    return f"n/a, {d['note']}" if d.get("note") else "n/a"


def population_note() -> str:
    """What the pack says when no population file is found."""
    return (
        "Rates per 1,000 residents are unavailable: no population file was found "
        "(looked in population/ under the data root and under the user cache). "
        "Download the ONS mid-year estimates with `hotspots fetch --what population` "
        "(Nomis, OGL v3.0), or add a CSV with columns area_code, area_name, "
        "population, year, source under population/ in the data root."
    )


# -- building the numbers ------------------------------------------------------------


def _areas(borough: Area | str) -> dict:
    area = borough if isinstance(borough, Area) else resolve_area(borough)
    if area.kind != "borough":
        raise ParameterError(
            f"'borough' needs to be a London borough; {area.name!r} is a "
            f"{area.kind}."
        )
    name = area.boroughs[0]
    if name not in BOROUGH_BCU:
        raise ParameterError(
            f"{name} is not policed by the Metropolitan Police (no BCU); its "
            "crimes are not in the Met's police.uk files."
        )
    return {"borough": area, "bcu": resolve_area(BOROUGH_BCU[name]),
            "mps": resolve_area("MPS")}


def _default_month(covered: dict) -> str:
    """The last month every family with any data covers."""
    lasts = [v[-1] for v in covered.values() if v]
    if not lasts:
        raise ParameterError(f"the store holds no offences for {list(covered)}")
    return min(lasts)


def crime_pack(
    borough: Area | str,
    month: str | None = None,
    *,
    families: tuple[str, ...] = PACK_FAMILIES,
    store: Store | None = None,
    population: Population | None | str = "auto",
    study: Study | None = None,
) -> CrimePack:
    """The numbers of a borough crime pack for ``month``.

    Parameters
    ----------
    borough : Area or str
        A London borough policed by the Met.
    month : str, optional
        The pack month ``YYYY-MM`` (default: the last month every family with data
        covers).
    families : tuple of str
        Crime families (or police.uk types) in print order.
    store : Store, optional
    population : Population or None or 'auto'
        'auto' reads :func:`hotspots.population.load_population`; None means no
        rates.
    study : Study, optional
        The offences to count: a study of the Met's area (``"MPS"``) holding every
        type of ``families`` over the 24 months to ``month``, loaded with
        ``cover="any"`` (:func:`pack_study` makes one). Default: read from
        ``store``.

    Returns
    -------
    CrimePack

    Raises
    ------
    ParameterError
        When ``borough`` is not a Met borough, ``month`` is not ``YYYY-MM``, no
        family has data for ``month``, or ``study`` does not hold what the pack
        counts.
    """
    store = (store or Store.open()).pinned()
    families = tuple(families)
    areas = _areas(borough)
    cov = Coverage.of(store)
    forces = {lv: area_forces(areas[lv]) for lv in LEVELS}
    month, months, covered, types = _window(cov, forces["borough"], families, month)
    # ONE read of offences (the study) for every level, family and month
    if study is None:
        study = pack_study(types, months[0], month, store=store)
    df = _pack_offences(study, types, months, covered)
    monthly = _monthly(df, areas, families, months, cov, forces)
    mine = df["ward_code"].isin(set(areas["borough"].ward_codes))
    synth = float(df.loc[mine, "synthetic"].astype(bool).mean()) if mine.any() else 0.0
    # ONE scan of stop and search
    ss = store.stop_search(area=areas["mps"], start=months[0], end=month,
                           columns=["month", "outcome", "ward_code"])
    stop = _stop_search(ss, areas, months,
                        set(search_months(store, forces["borough"])))
    popn, source = _population(population, areas)
    type_months = {
        c: {t: sorted(set(months).intersection(*[
            cov.by_force.get(f, {}).get(t, ()) for f in forces["borough"]]))
            for t in crime_types_for(c)}
        for c in families}
    return CrimePack(areas=areas, month=month, families=families, monthly=monthly,
                     stop_search=stop, population=popn, population_source=source,
                     coverage=covered, type_months=type_months,
                     borough_synthetic_share=synth)


def crime_packs(
    boroughs,
    month: str | None = None,
    *,
    families: tuple[str, ...] = PACK_FAMILIES,
    store: Store | None = None,
    population: Population | None | str = "auto",
) -> list[CrimePack]:
    """The crime packs of several boroughs (a BCU's, say) for the same month.

    The offences are read once, as one :func:`pack_study`, and every pack counts
    from it; each pack equals :func:`crime_pack` of its borough alone.
    ``month`` defaults to the last month every family with data covers.
    """
    store = (store or Store.open()).pinned()
    families = tuple(families)
    areas = [_areas(b) for b in boroughs]
    if not areas:
        raise ParameterError("'boroughs' needs at least one London borough.")
    cov = Coverage.of(store)
    forces = sorted({f for a in areas for f in area_forces(a["borough"])})
    month, months, _, types = _window(cov, forces, families, month)
    study = pack_study(types, months[0], month, store=store)
    if population == "auto":
        population = load_population()
    return [crime_pack(a["borough"], month, families=families, store=store,
                       population=population, study=study) for a in areas]


def _window(cov: Coverage, forces, families, month):
    """The pack month, its 24 months, each family's covered months and its types."""
    for c in families:
        crime_types_for(c)
    covered = {c: cov.months(c, forces) for c in families}
    month = check_month(month) if month is not None else _default_month(covered)
    if not any(month in covered[c] for c in families):
        raise ParameterError(
            f"the store does not cover {month} for {', '.join(families)}; it covers "
            + "; ".join(f"{c} {describe_months(v)}" for c, v in covered.items()))
    months = month_range(shift_month(month, -(SPAN - 1)), month)
    types = sorted({t for c in families for t in crime_types_for(c)})
    return month, months, covered, types


def pack_study(types, start: str, end: str, *, store: Store | None = None) -> Study:
    """The study a crime pack counts: the Met's area, ``types``, ``start``..``end``.

    One read of the store (only the columns the pack uses), on the coarsest grid;
    months any force covers for any of ``types`` are kept, so each family's
    figures can say which of their months are covered.
    """
    return Study.load("MPS", tuple(types), start, end, res=_PACK_RES, store=store,
                      fields=PACK_FIELDS, cover="any")


def _pack_offences(study: Study, types, months, covered) -> pd.DataFrame:
    """The pack's offence rows from ``study``, after checking it holds them."""
    mps = resolve_area("MPS")
    why = []
    if not set(mps.ward_codes) <= set(study.area.ward_codes):
        why.append(f"its area is {study.area.name}, not the Met's")
    if lost := sorted(set(types) - set(study.types)):
        why.append(f"it lacks {', '.join(lost)}")
    need = {m for c in covered.values() for m in c} & set(months)
    if lost := sorted(need - set(study.months)):
        why.append(f"it lacks the covered months {describe_months(lost)}")
    if lost := sorted(set(PACK_FIELDS) - set(study.rows.column_names)):
        why.append(f"it lacks the columns {', '.join(lost)}")
    if why:
        raise ParameterError(
            f"the crime pack needs a study of the Met's area ({pack_study.__name__}) "
            f"with every type of its families over {describe_months(months)}; "
            f"{'; '.join(why)}.")
    df = study.offences
    keep = df["month"].isin(set(months)) & df["crime_type"].isin(set(types))
    return df.loc[keep, list(PACK_FIELDS)]


def _monthly(df, areas, families, months, cov, forces) -> pd.DataFrame:
    """Counts per level, family and month from the one scan."""
    df = df.assign(synthetic=df["synthetic"].astype(bool))
    frames = []
    for lv in LEVELS:
        sub = df[df["ward_code"].isin(set(areas[lv].ward_codes))]
        g = sub.groupby(["crime_type", "month"]).agg(
            n=("synthetic", "size"), synth=("synthetic", "sum"))
        for c in families:
            types = list(crime_types_for(c))
            got = g[g.index.get_level_values(0).isin(types)].groupby(level=1).sum()
            n = got["n"].reindex(months, fill_value=0)
            status = cov.status(c, forces[lv], months)
            st = [status[k] for k in months]
            counts = pd.array([None if s == "missing" else int(v)
                               for v, s in zip(n, st, strict=True)], dtype="Int64")
            frames.append(pd.DataFrame({
                "level": lv, "crime": c, "month": months, "count": counts,
                "status": st,
                "synthetic": got["synth"].reindex(months, fill_value=0).astype(int)
                .to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def _stop_search(ss, areas, months, have) -> pd.DataFrame:
    from ..evaluate.stopsearch import classify_outcomes

    kind = classify_outcomes(ss["outcome"]) if len(ss) else pd.Series(dtype=object)
    ss = ss.assign(kind=kind.to_numpy() if len(ss) else [])
    rows = []
    for lv in LEVELS:
        sub = ss[ss["ward_code"].isin(set(areas[lv].ward_codes))]
        g = sub.groupby(["month", "kind"]).size().unstack(fill_value=0)
        for k in months:
            r = g.loc[k] if k in g.index else {}
            rows.append({
                "level": lv, "month": k,
                "searches": int(sum(r.get(x, 0) for x in
                                    ("find", "no_find", "unknown"))),
                "positive": int(r.get("find", 0)),
                "no_further_action": int(r.get("no_find", 0)),
                "unknown": int(r.get("unknown", 0)),
                "status": "covered" if k in have else "missing"})
    return pd.DataFrame(rows)


def _population(population, areas) -> tuple[dict, str]:
    pop = load_population() if isinstance(population, str) and population == "auto" \
        else population
    if pop is None:
        return dict.fromkeys(LEVELS), ""
    codes = {lv: _borough_codes(areas[lv]) for lv in LEVELS}
    popn = {lv: pop.total(codes[lv]) for lv in LEVELS}
    return popn, pop.describe(codes["mps"] + codes["borough"])


def _borough_codes(area: Area) -> list[str]:
    wards = load_wards()
    return sorted(wards.loc[wards["ward_code"].isin(area.ward_codes),
                            "borough_code"].unique())


# -- the PDF -------------------------------------------------------------------------

_BLUE, _GREY, _LIGHT = "#1f4e79", "#9aa4b1", "#e5e5e5"
_LEVEL_STYLE = {"borough": {"color": "#1f4e79", "lw": 2.0},
                "bcu": {"color": "#d9822b", "lw": 1.4},
                "mps": {"color": "#7f7f7f", "lw": 1.4, "ls": "--"}}
#: Content stays above this (the footer sits below it).
_BOTTOM = 0.165


def write_crime_pack(pack: CrimePack, path: Path | str) -> Path:
    """Write the pack as an A4 landscape PDF; returns the path.

    Pages: 1 summary (the borough, every family, month / 12 months / financial
    year to date, rates) with what each row holds; 2 the borough, BCU and MPS side
    by side; 3 monthly trends per 1,000 residents; 4 burglary (when in the pack);
    5 stop and search. Pages showing semi-synthetic rows carry the label.
    """
    from . import _pdf

    path = Path(path)
    doc = pack.to_json()
    b = pack.areas["borough"].name
    title = f"{b} crime pack: {month_label(pack.month)}"
    params = {"borough": b, "month": pack.month, "families": pack.families}
    meta = _pdf.pdf_metadata(title, subject="Borough crime pack", params=params)
    fams = doc["families"]
    synth_labels = [LABELS.get(c, c) for c in pack.families
                    if fams[c]["semi_synthetic"]]
    share = pack.borough_synthetic_share
    pages = [(_page_summary, True), (_page_compare, True), (_page_trends, True)]
    if doc["burglary"] is not None:
        pages.append((_page_burglary, False))
    pages.append((_page_stop_search, False))
    notes = _notes(doc)
    with _pdf.pdf_file(path, meta) as pdf:
        for i, (draw, shows_synth) in enumerate(pages, start=1):
            fig = _pdf.new_page(title, _subtitle(pack))
            has = shows_synth and _pdf.synthetic_label(fig, share, synth_labels)
            draw(fig, pack, doc, fams, top=0.79 if has else 0.845)
            _pdf.footer(fig, notes, page=f"{b} crime pack, page {i} of "
                        f"{len(pages)}")
            pdf.savefig(fig)
            _pdf.plt.close(fig)
    return path


def _subtitle(pack: CrimePack) -> str:
    a, p = pack.areas, pack.periods
    fy = financial_year_start(pack.month)
    return (f"{a['borough'].name} ({a['bcu'].name}) against its BCU and the "
            f"Metropolitan Police area (MPS). Month {month_label(pack.month)}; "
            f"12 months {month_label(p['twelve_months'][0])}–"
            f"{month_label(pack.month)}; financial year {fy[:4]}/"
            f"{int(fy[2:4]) + 1:02d} to date.")


def _notes(doc: dict) -> list[str]:
    notes = ["no data: the period needs a month for which the police.uk files "
             "hold no data for that crime; such months are never counted as zero. "
             "MPS: the Metropolitan Police area (32 boroughs)."]
    if doc["rates_available"]:
        notes.append(f"Residents: {doc['population_source']}; BCU and MPS are sums "
                     "of their boroughs' residents.")
    else:
        notes.append(population_note())
    return notes


def _months_text(text: str) -> str:
    return text.replace("..", "…")


def _name(pack: CrimePack, lv: str) -> str:
    return "MPS" if lv == "mps" else pack.areas[lv].name


def _fmt(n) -> str:
    return "n/a" if n is None else f"{n:,}"


def _cell(fig: dict) -> str:
    """A count, or 'no data' when the period has a month without data."""
    return "no data" if fig["count"] is None else f"{fig['count']:,}"


def _chg(d: dict) -> str:
    from ._pdf import change_text

    if d["current"] is None or d["previous"] is None:
        return "n/a"
    return change_text(d["current"], d["previous"])


def _rate(r) -> str:
    return "n/a" if r is None else f"{r:.2f}"


def _avg(v) -> str:
    return "n/a" if v is None else f"{v:,.1f}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _period(pack: CrimePack, w: str) -> str:
    a, b = pack.periods[w]
    if a == b:
        return month_label(a)
    la, lb = month_label(a), month_label(b)
    return f"{la[:3]}–{lb}" if la[-4:] == lb[-4:] else f"{la}–{lb}"


def _label(c: str, fams: dict) -> str:
    return LABELS.get(c, c) + (" †" if fams[c]["semi_synthetic"] else "")


def _table(fig, top: float, header, rows, *, row_h: float = 0.03,
           left: float = 0.03, width: float = 0.94, **kw) -> float:
    """A :func:`_pdf.draw_table` whose rows are ``row_h`` of the page high, its
    top at ``top``; returns the y of its bottom edge."""
    from ._pdf import draw_table

    head = max(str(h).count("\n") + 1 for h in header)
    lines = len(rows) + head
    if kw.get("col_widths") is not None:  # matplotlib pads 2 % on the left
        total = sum(kw["col_widths"])
        kw["col_widths"] = [0.965 * c / total for c in kw["col_widths"]]
    frac = min(0.95 / max(lines, 1), 0.09)  # draw_table's row height in the axes
    height = row_h / frac
    ax = fig.add_axes([left, top - height, width, height])
    draw_table(ax, header, rows, **kw)
    return top - row_h * lines


def _caption(fig, y: float, lines: list[str], width: int = 200,
             x: float = 0.03, size: float = 7.2) -> float:
    """Wrapped small text from ``y`` down; returns the y below it."""
    import textwrap

    from ._pdf import plain

    text = [w for ln in lines if ln for w in textwrap.wrap(ln, width=width)]
    fig.text(x, y, "\n".join(plain(t) for t in text), fontsize=size,
             color="#444444", va="top", linespacing=1.4)
    return y - 0.0185 * len(text) * size / 7.2


def _gaps_lines(pack: CrimePack, fams: dict) -> list[str]:
    out = []
    for c in pack.families:
        f = fams[c]
        if f["no_data_months"]:
            out.append(f"{LABELS.get(c, c)}: data for "
                       f"{_months_text(f['months_with_data'])}; "
                       f"{_no_data(f['no_data_months'])}.")
    return out


def _all_crime_line(pack: CrimePack, fams: dict) -> str | None:
    if "all" not in pack.families:
        return None
    f = fams["all"]
    held = f["types_held"]
    txt = (f"All crime = notifiable offences, every police.uk type but anti-social "
           f"behaviour, as the Met's packs count it. Here it holds {len(held)} of "
           f"the {len(f['crime_types'])} types ({', '.join(held) or 'none'})")
    if f["types_missing"]:
        txt += f"; no data at all for {', '.join(f['types_missing'])}"
    txt += (f", with data for {_months_text(f['months_with_data'])} (months where "
            "every type it holds has data)")
    part = {t: m for t, m in f["type_months"].items() if m != f["months_with_data"]}
    if part:
        txt += ". Outside those months only some types have data (" + "; ".join(
            f"{t} {_months_text(m)}" for t, m in part.items()) + "), so all crime " \
            "is n/a there"
    return txt + "."


def _page_summary(fig, pack: CrimePack, doc: dict, fams: dict, top: float) -> None:
    ch, f = doc["changes"], doc["figures"]
    header = ["Crime", _period(pack, "month"), _period(pack, "previous_month"),
              "Change", f"12 months to\n{month_label(pack.month)}",
              "Previous\n12 months", "Change",
              f"Year to date\n{_period(pack, 'fytd')}", "Same months\nlast year",
              "Change", "Per 1,000\nresidents*"]
    rows = []
    for c in pack.families:
        row = [_label(c, fams)]
        for k, (cur, prev) in COMPARISONS.items():
            row += [_cell(f[c]["borough"][cur]), _cell(f[c]["borough"][prev]),
                    _chg(ch[c]["borough"][k])]
        rows.append(row + [_rate(doc["rates"][c]["borough"])])
    y = _table(fig, top, header, rows, row_h=0.032, fontsize=8.3,
               col_widths=[0.15, 0.075, 0.075, 0.065, 0.1, 0.085, 0.065, 0.125,
                           0.09, 0.065, 0.08],
               align=["left"] + ["right"] * 10,
               title=f"{pack.areas['borough'].name}: offences")
    lines = ["* Offences in the 12 months per 1,000 residents."]
    if any(x["semi_synthetic"] for x in fams.values()):
        lines.append("† Semi-synthetic: synthetic offences on real police.uk map "
                     "points, not police records.")
    y = _caption(fig, y - 0.012, lines + _gaps_lines(pack, fams))
    header = ["Crime", "police.uk types", "Data in these 24 months",
              "No data (never zero)", "Data"]
    rows = []
    for c in pack.families:
        x = fams[c]
        types = (f"{len(x['types_held'])} of {len(x['crime_types'])} notifiable "
                 "types" if c == "all" else ", ".join(x["crime_types"]))
        gaps = (_months_text(describe_months(x["no_data_months"]))
                if x["no_data_months"] else "none")
        rows.append([LABELS.get(c, c), types, _months_text(x["months_with_data"]),
                     gaps, "semi-synthetic" if x["semi_synthetic"] else "real"])
    y = _table(fig, y - 0.05, header, rows, row_h=0.028, fontsize=8,
               col_widths=[0.2, 0.2, 0.22, 0.22, 0.12], align=["left"] * 5,
               title="What each row holds")
    line = _all_crime_line(pack, fams)
    if line:
        _caption(fig, y - 0.012, [line])


def _page_compare(fig, pack: CrimePack, doc: dict, fams: dict, top: float) -> None:
    ch, f = doc["changes"], doc["figures"]
    header = ["Crime", "Area", _period(pack, "month"), "Change on\nmonth before",
              "12 months", "Change on\nprevious 12", "Year to\ndate",
              "Change on\nlast year", "Residents", "Per 1,000\nresidents*",
              "Share of\nMPS*"]
    rows = []
    for c in pack.families:
        mps = f[c]["mps"]["twelve_months"]["count"]
        for j, lv in enumerate(LEVELS):
            d, cur = ch[c][lv], f[c][lv]["twelve_months"]["count"]
            share = f"{100 * cur / mps:.1f}%" if mps and cur is not None else "n/a"
            pop = doc["population"][lv]
            rows.append([_label(c, fams) if j == 0 else "", _name(pack, lv),
                         _cell(f[c][lv]["month"]), _chg(d["month"]),
                         _cell(f[c][lv]["twelve_months"]), _chg(d["twelve_months"]),
                         _cell(f[c][lv]["fytd"]), _chg(d["fytd"]),
                         "n/a" if pop is None else f"{pop:,}",
                         _rate(doc["rates"][c][lv]), share])
    row_h = min(0.027, (top - _BOTTOM - 0.1) / (len(rows) + 2))
    y = _table(fig, top, header, rows, row_h=row_h, fontsize=7.6,
               col_widths=[0.16, 0.13, 0.08, 0.08, 0.09, 0.08, 0.08, 0.08, 0.08,
                           0.07, 0.07],
               align=["left", "left"] + ["right"] * 9,
               title=(f"{pack.areas['borough'].name}, the "
                      f"{pack.areas['bcu'].name} and the MPS side by side"))
    _caption(fig, y - 0.012, [
        f"* Over the 12 months to {month_label(pack.month)}. Year to date: "
        f"{_period(pack, 'fytd')} against {_period(pack, 'previous_fytd')}."]
        + _gaps_lines(pack, fams))


def _page_trends(fig, pack: CrimePack, doc: dict, fams: dict, top: float) -> None:
    from ._pdf import plain

    months = pack.months
    per = all(doc["population"][lv] for lv in LEVELS)
    cols, n = 3, len(pack.families)
    nrow = int(np.ceil((n + 1) / cols))  # one slot for the key
    gap_x, gap_y = 0.05, 0.075
    w = (0.94 - 0.03 - gap_x * (cols - 1)) / cols
    hgt = (top - 0.03 - _BOTTOM - gap_y * (nrow - 1)) / nrow
    ticks = list(range(0, len(months), 3))
    for i, c in enumerate(pack.families):
        r, k = divmod(i, cols)
        ax = fig.add_axes([0.06 + k * (w + gap_x), top - 0.03 - (r + 1) * hgt
                           - r * gap_y, w, hgt])
        for lv in LEVELS if per else ("borough",):
            s = pack.series(c, lv).reindex(months).astype("float64")
            y = s / doc["population"][lv] * 1000 if per else s
            ax.plot(range(len(months)), y.to_numpy(), marker="o", ms=2.2,
                    label=_name(pack, lv), **_LEVEL_STYLE[lv])
        _shade_gaps(ax, [j for j, m in enumerate(months)
                         if m in set(fams[c]["no_data_months"])])
        ax.set_xticks(ticks, [month_label(months[j]).replace(" 20", " ’")
                              for j in ticks], fontsize=6.5)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylim(bottom=0)
        ax.set_xlim(-0.5, len(months) - 0.5)
        ax.set_title(plain(_label(c, fams)), fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color=_LIGHT, lw=0.5)
        if k == 0:
            ax.set_ylabel("per 1,000 residents a month" if per
                          else "offences a month", fontsize=7)
    handles, labels = ax.get_legend_handles_labels()
    r, k = divmod(n, cols)
    x0 = 0.06 + k * (w + gap_x)
    y0 = top - 0.03 - r * (hgt + gap_y)
    fig.legend(handles, labels, loc="upper left", fontsize=8, frameon=False,
               bbox_to_anchor=(x0 - 0.01, y0), title="Monthly trend",
               title_fontsize=9, alignment="left")
    _caption(fig, y0 - 0.11, [
        ("Offences a month per 1,000 residents, so the borough, its BCU and the "
         "MPS share one scale." if per else
         "Offences a month in the borough (no population file, so no rates)."),
        f"{month_label(months[0])}–{month_label(months[-1])}. Shaded months have "
        "no data for that crime: a gap, never drawn as zero."], width=55, x=x0)


def _shade_gaps(ax, gaps: list[int]) -> None:
    """Shade the months (x positions) without data and say so: a missing month
    never reads as a zero."""
    for j in gaps:
        ax.axvspan(j - 0.5, j + 0.5, color="#f1e3e3", lw=0)
    if gaps:
        ax.text(float(np.mean(gaps)), 0.5, "no data", ha="center", fontsize=7,
                color="#a05050", transform=ax.get_xaxis_transform())


def _page_burglary(fig, pack: CrimePack, doc: dict, fams: dict, top: float) -> None:
    bg = doc["burglary"]
    m = month_label(pack.month)
    header = ["Area", m, "Monthly avg.\n12 months", "Monthly avg.\nprevious 12",
              "Change", f"{m[:3]} against\n12-month avg.", "Monthly avg.\nyear to date",
              "Same months\nlast year", "Change", "Per 1,000\nresidents*"]
    rows = []
    for lv in LEVELS:
        d = bg[lv]
        vs = d["latest_vs_average_pct"]
        rows.append([_name(pack, lv), _fmt(d["latest_month"]),
                     _avg(d["monthly_average_12"]),
                     _avg(d["monthly_average_previous_12"]), _chg(d["change_12"]),
                     "n/a" if vs is None else f"{vs:+.1f}%",
                     _avg(d["fytd_monthly_average"]),
                     _avg(d["previous_fytd_monthly_average"]),
                     _chg(d["fytd_change"]), _rate(d["per_1000"])])
    y = _table(fig, top, header, rows, row_h=0.034, fontsize=8.3,
               col_widths=[0.15, 0.08, 0.1, 0.1, 0.08, 0.11, 0.1, 0.1, 0.08, 0.09],
               align=["left"] + ["right"] * 9, title="Burglary")
    b = fams["burglary"]
    y = _caption(fig, y - 0.012, [
        f"* Burglaries in the 12 months to {m} per 1,000 residents. Year to date: "
        f"{_period(pack, 'fytd')} against {_period(pack, 'previous_fytd')}. Data "
        f"for {_months_text(b['months_with_data'])}"
        + (f"; {_no_data(b['no_data_months'])}" if b["no_data_months"] else "")
        + "."])
    months = pack.months
    ax = fig.add_axes([0.07, _BOTTOM + 0.03, 0.9, y - _BOTTOM - 0.12])
    s = pack.series("burglary", "borough").reindex(months).astype("float64")
    ax.bar(range(len(months)), s.to_numpy(), color=_BLUE, width=0.7,
           label=f"{pack.areas['borough'].name}: burglaries a month")
    _shade_gaps(ax, [j for j, m in enumerate(months)
                     if m in set(fams["burglary"]["no_data_months"])])
    for w_, key, style in (
        ("previous_twelve_months", "monthly_average_previous_12",
         {"color": _GREY, "ls": "--"}),
        ("twelve_months", "monthly_average_12", {"color": "#d9822b"}),
    ):
        a, b_ = pack.periods[w_]
        v = bg["borough"][key]
        if v is not None:
            ax.hlines(v, months.index(a) - 0.4, months.index(b_) + 0.4, lw=2,
                      label=f"monthly average {_period(pack, w_)}: {v:.1f}", **style)
    ax.set_xticks(range(len(months)), [
        month_label(k)[:3] + ("\n" + k[:4] if k.endswith("-01") or j == 0 else "")
        for j, k in enumerate(months)], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("burglaries a month", fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color=_LIGHT, lw=0.5)
    ax.legend(fontsize=7.5, frameon=False, loc="lower left", ncols=3,
              bbox_to_anchor=(0, 1.0))


def _page_stop_search(fig, pack: CrimePack, doc: dict, fams: dict,
                      top: float) -> None:
    ss = doc["stop_search"]
    by = {lv: ss["levels"][lv]["by_month"] for lv in LEVELS}
    header = ["Month"]
    for lv in LEVELS:
        header += [f"{_name(pack, lv).replace(' BCU', '')}\nsearches",
                   "positive\noutcome rate"]
    months = month_range(*pack.periods["twelve_months"])
    rows = []
    for i, k in enumerate(months):
        row = [month_label(k)]
        for lv in LEVELS:
            r = by[lv][i]
            row += (["no data", "n/a"] if r.get("status") == "no data"
                    else [f"{r['searches']:,}", _pct(r["positive_rate"])])
        rows.append(row)
    for key, lab in (("twelve_months", "12 months"),
                     ("previous_twelve_months", "Previous 12")):
        row = [lab]
        for lv in LEVELS:
            t = ss["levels"][lv][key]
            row += [_fmt(t["searches"]) if t["searches"] is not None
                    else f"n/a ({t['months_with_data']} mo.)",
                    _pct(t["positive_rate"])]
        rows.append(row)
    y = _table(fig, top, header, rows, row_h=0.026, left=0.03, width=0.56,
               fontsize=7.4, col_widths=[0.16, 0.15, 0.13, 0.14, 0.13, 0.15, 0.14],
               align=["left"] + ["right"] * 6, title="Stop and search")
    ax = fig.add_axes([0.65, y + 0.02, 0.32, top - y - 0.06])
    for lv in LEVELS:
        vals = [np.nan if r.get("status") == "no data" or r["positive_rate"] is None
                else 100 * r["positive_rate"] for r in by[lv]]
        ax.plot(range(len(months)), vals, marker="o", ms=2.5,
                label=_name(pack, lv), **_LEVEL_STYLE[lv])
    ax.set_xticks(range(len(months)), [month_label(k)[:3] for k in months],
                  fontsize=6.5)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("positive-outcome rate (%)", fontsize=7)
    ax.set_title("Positive-outcome rate by month", fontsize=9, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color=_LIGHT, lw=0.5)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    gaps = ss["no_data_months"]
    _caption(fig, y - 0.012, [
        "Positive outcome: " + POSITIVE_RULE + ". Searches: police.uk "
        "stop-and-search records located in the area.",
        f"Data for {_months_text(ss['months_with_data'])}"
        + (f"; {_no_data(gaps)}: those months are n/a, and so is a 12-month "
           "searches total that needs them (its rate uses the months with data)"
           if gaps else "") + "."])
