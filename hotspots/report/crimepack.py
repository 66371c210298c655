"""The borough crime pack: this year against last, the borough against its BCU and
London, and rates per 1,000 residents when a population file is present.

Every figure is a sum of :func:`hotspots.counts.count_offences` by month for the same
area, crime and months, so the pack agrees with ``hotspots counts`` to the offence.
Months the data does not cover for a crime are left blank, never shown as zero, and
a comparison that needs one of them is shown as ``n/a``.

For each crime (robbery, vehicle crime, anti-social behaviour and all crime):

- a January–December table of the year of the pack month against the year before,
  with totals (this year to the pack month; last year's whole year and the same
  months);
- the 12 months to the pack month against the previous 12 months (▲/▼ %);
- the pack month against the month before;
- the borough against its Basic Command Unit and London (the Met area);
- offences per 1,000 residents in the 12 months, from :mod:`hotspots.population`
  (never invented: without a population file the pack says rates are unavailable
  and how to get them);
- a chart of the two years by month.

Public: :func:`crime_pack` (the numbers), :func:`write_crime_pack` (the PDF) and
:meth:`CrimePack.to_json`. Command line::

    hotspots pack --borough Merton --month 2023-12 [--out FILE.pdf] [--json]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..areas import Area, resolve_area
from ..config import BOROUGH_BCU, crime_types_for
from ..counts import count_offences, covered_months
from ..errors import ParameterError
from ..months import month_label, month_range, shift_month
from ..population import Population, load_population
from ..store import Store

__all__ = [
    "LEVELS",
    "PACK_FAMILIES",
    "CrimePack",
    "crime_pack",
    "population_note",
    "write_crime_pack",
]

#: Crime families in the pack, in print order.
PACK_FAMILIES: tuple[str, ...] = ("robbery", "vehicle", "asb", "all")
#: Area levels compared: the borough, its BCU and London (the Met area).
LEVELS: tuple[str, ...] = ("borough", "bcu", "london")


@dataclass(frozen=True)
class CrimePack:
    """The numbers of one borough crime pack.

    Attributes
    ----------
    areas : dict
        ``{'borough': Area, 'bcu': Area, 'london': Area}``.
    month : str
        The pack month (``YYYY-MM``).
    families : tuple of str
    monthly : DataFrame
        ``level, crime, month, count`` for every month from January of the year
        before (or 23 months before, if earlier) to ``month``; ``count`` is NaN
        where the data does not cover that month for that crime.
    synthetic_share : dict
        ``{(level, crime): share}`` of the rows counted that are synthetic.
    population : dict
        ``{level: residents or None}``.
    population_source : str
        Source and year(s) of the population figures ('' when none).
    coverage : dict
        ``{crime: (first, last)}`` months the store covers.
    """

    areas: dict = field(repr=False)
    month: str
    families: tuple[str, ...]
    monthly: pd.DataFrame = field(repr=False)
    synthetic_share: dict = field(repr=False)
    population: dict = field(repr=False)
    population_source: str
    coverage: dict = field(repr=False)

    # -- derived figures -----------------------------------------------------
    def series(self, crime: str, level: str = "borough") -> pd.Series:
        """Counts by month (NaN where not covered) for one crime and level."""
        m = self.monthly
        sub = m[(m["crime"] == crime) & (m["level"] == level)]
        return pd.Series(sub["count"].to_numpy(), index=sub["month"].to_numpy())

    def window(self, crime: str, level: str, end: str, months: int) -> int | None:
        """Offences in the ``months`` months to ``end``; None if any is uncovered."""
        s = self.series(crime, level)
        keys = month_range(shift_month(end, -(months - 1)), end)
        vals = s.reindex(keys)
        return None if vals.isna().any() else int(vals.sum())

    @property
    def year(self) -> int:
        return int(self.month[:4])

    def figures(self) -> dict:
        """Every number the pack prints, as plain JSON-ready values."""
        m, prev_m = self.month, shift_month(self.month, -1)
        twelve, monthly, years, comparison, rates = {}, {}, {}, {}, {}
        for c in self.families:
            cur = self.window(c, "borough", m, 12)
            prev = self.window(c, "borough", shift_month(m, -12), 12)
            twelve[c] = _change(cur, prev)
            monthly[c] = _change(self.window(c, "borough", m, 1),
                                 self.window(c, "borough", prev_m, 1))
            s = self.series(c, "borough")
            this_y = {f"{self.year}-{i:02d}": s.get(f"{self.year}-{i:02d}")
                      for i in range(1, 13)}
            last_y = {f"{self.year - 1}-{i:02d}": s.get(f"{self.year - 1}-{i:02d}")
                      for i in range(1, 13)}
            this_y = {k: (None if k > m or v is None or np.isnan(v) else int(v))
                      for k, v in this_y.items()}
            last_y = {k: (None if v is None or np.isnan(v) else int(v))
                      for k, v in last_y.items()}
            n_ytd = int(m[5:])
            ytd_last = list(last_y.values())[:n_ytd]
            years[c] = {
                "this_year": this_y,
                "last_year": last_y,
                "this_year_to_date": _total(list(this_y.values())[:n_ytd]),
                "last_year_same_months": _total(ytd_last),
                "last_year_total": _total(list(last_y.values())),
            }
            comparison[c] = {}
            for lv in LEVELS:
                cur_l = self.window(c, lv, m, 12)
                prev_l = self.window(c, lv, shift_month(m, -12), 12)
                pop = self.population.get(lv)
                rate = (round(1000.0 * cur_l / pop, 2)
                        if pop and cur_l is not None else None)
                comparison[c][lv] = {
                    "area": self.areas[lv].name,
                    **_change(cur_l, prev_l),
                    "population": pop,
                    "per_1000": rate,
                }
            rates[c] = comparison[c]["borough"]["per_1000"]
        return {
            "twelve_month_change": twelve,
            "month_change": monthly,
            "years": years,
            "comparison": comparison,
            "per_1000": rates,
        }

    def to_json(self, pdf: str | None = None) -> dict:
        fig = self.figures()
        have_rates = self.population.get("borough") is not None
        return {
            "pdf": pdf,
            "borough": self.areas["borough"].to_dict(),
            "bcu": self.areas["bcu"].name,
            "month": self.month,
            "twelve_months": {"from": shift_month(self.month, -11), "to": self.month},
            "previous_twelve_months": {"from": shift_month(self.month, -23),
                                       "to": shift_month(self.month, -12)},
            "crimes": {c: list(crime_types_for(c)) for c in self.families},
            **fig,
            "rates_available": have_rates,
            "population_source": self.population_source or None,
            "rates_note": None if have_rates else population_note(),
            "coverage": {c: list(v) for c, v in self.coverage.items()},
            "synthetic_share": {c: round(self.synthetic_share[("borough", c)], 4)
                                for c in self.families},
        }


def _total(values) -> int | None:
    return None if any(v is None for v in values) else int(sum(values))


def _change(cur: int | None, prev: int | None) -> dict:
    pct = (round(100.0 * (cur - prev) / prev, 1)
           if cur is not None and prev else None)
    return {"current": cur, "previous": prev, "pct": pct}


def population_note() -> str:
    """What the pack says when no population file is found."""
    return (
        "Rates per 1,000 residents are unavailable: no population file was found "
        "(looked in population/ under the data root and under the user cache). "
        "Download the ONS mid-year estimates with `hotspots fetch --what population` "
        "(Nomis, OGL v3.0), or add a CSV with columns area_code, area_name, "
        "population, year, source under population/ in the data root."
    )


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
    code = BOROUGH_BCU[name]
    return {
        "borough": area,
        "bcu": resolve_area(code),
        "london": resolve_area("MPS"),
        "bcu_code": code,
    }


def _default_month(store: Store, families, area) -> str:
    lasts = [covered_months(store, c, area) for c in families]
    empty = [c for c, v in zip(families, lasts, strict=True) if not v]
    if empty:
        raise ParameterError(f"the store holds no offences for {empty}")
    return min(v[-1] for v in lasts)


def crime_pack(
    borough: Area | str,
    month: str | None = None,
    *,
    families: tuple[str, ...] = PACK_FAMILIES,
    store: Store | None = None,
    population: Population | None | str = "auto",
) -> CrimePack:
    """The numbers of a borough crime pack for ``month``.

    Parameters
    ----------
    borough : Area or str
        A London borough policed by the Met.
    month : str, optional
        The pack month ``YYYY-MM`` (default: the last month every family covers).
    families : tuple of str
        Crime families (or police.uk types) in print order.
    store : Store, optional
    population : Population or None or 'auto'
        'auto' reads :func:`hotspots.population.load_population`; None means no
        rates.

    Returns
    -------
    CrimePack
    """
    store = store or Store.open()
    for c in families:
        crime_types_for(c)
    areas = _areas(borough)
    month = month or _default_month(store, families, areas["borough"])
    month = month_range(month, month)[0]
    first = min(f"{int(month[:4]) - 1}-01", shift_month(month, -23))
    coverage, rows, synth = {}, [], {}
    for c in families:
        cov = covered_months(store, c, areas["borough"])
        coverage[c] = (cov[0], cov[-1]) if cov else (None, None)
        covered = set(cov)
        for lv in LEVELS:
            res = count_offences(areas[lv], c, "month", first, month, store=store)
            got = dict(zip(res.table["key"], res.table["count"], strict=True))
            for mm in month_range(first, month):
                n = got.get(mm) if mm in covered else None
                rows.append((lv, c, mm, np.nan if n is None else float(n)))
            synth[(lv, c)] = res.synthetic_share
    if not any(month in set(covered_months(store, c, areas["borough"]))
               for c in families):
        raise ParameterError(
            f"the store does not cover {month} for {', '.join(families)}; it covers "
            + "; ".join(f"{c} {a}…{b}" for c, (a, b) in coverage.items())
        )
    monthly = pd.DataFrame(rows, columns=["level", "crime", "month", "count"])
    pop = load_population() if population == "auto" else population
    popn, source = dict.fromkeys(LEVELS), ""
    if pop is not None:
        codes = {
            "borough": [areas["borough"].code],
            "bcu": _borough_codes(areas["bcu"]),
            "london": _borough_codes(areas["london"]),
        }
        popn = {lv: pop.total(codes[lv]) for lv in LEVELS}
        source = pop.describe(codes["london"] + codes["borough"])
    return CrimePack(
        areas={k: v for k, v in areas.items() if k in LEVELS},
        month=month,
        families=tuple(families),
        monthly=monthly,
        synthetic_share=synth,
        population=popn,
        population_source=source,
        coverage=coverage,
    )


def _borough_codes(area: Area) -> list[str]:
    from ..areas import load_wards

    wards = load_wards()
    return sorted(wards.loc[wards["ward_code"].isin(area.ward_codes),
                            "borough_code"].unique())


# -- the PDF -------------------------------------------------------------------


def write_crime_pack(pack: CrimePack, path: Path | str) -> Path:
    """Write the pack as a three-page A4 landscape PDF; returns the path.

    Page 1: summary table and chart; page 2: January–December tables;
    page 3: the borough against its BCU and London, with rates.
    """
    from . import _pdf

    path = Path(path)
    b = pack.areas["borough"]
    title = f"{b.name} crime pack: {month_label(pack.month)}"
    fig_data = pack.figures()
    params = {"borough": b.name, "month": pack.month, "families": pack.families}
    meta = _pdf.pdf_metadata(title, subject="Borough crime pack", params=params)
    synth = {c: pack.synthetic_share[("borough", c)] for c in pack.families}
    share = synth.get("all", max(synth.values()))
    synth_fams = [_pdf.FAMILY_LABELS.get(c, c) for c, s in synth.items()
                  if s > 0 and c != "all"]
    notes = _notes(pack)
    pages = (_page_summary, _page_years, _page_compare)
    with _pdf.pdf_file(path, meta) as pdf:
        for i, draw in enumerate(pages, start=1):
            fig = _pdf.new_page(title, _subtitle(pack))
            draw(fig, pack, fig_data)
            _pdf.synthetic_label(fig, share, synth_fams)
            _pdf.footer(fig, notes, page=f"{b.name} crime pack, page {i} of "
                        f"{len(pages)}")
            pdf.savefig(fig)
            _pdf.plt.close(fig)
    return path


def _subtitle(pack: CrimePack) -> str:
    from ..months import month_label

    a = pack.areas
    return (
        f"12 months {month_label(shift_month(pack.month, -11))} to "
        f"{month_label(pack.month)} against the previous 12 months. "
        f"{a['borough'].name} is in the {a['bcu'].name}; London means the "
        "Metropolitan Police area."
    )


def _notes(pack: CrimePack) -> list[str]:
    fams = ", ".join(f"{c} {a}…{b}" for c, (a, b) in pack.coverage.items())
    notes = [f"Months the data covers: {fams}. Blank or n/a: not covered. "
             "All crime = every police.uk type in the store."]
    if pack.population.get("borough") is None:
        notes.append(population_note())
    else:
        notes.append(f"Residents: {pack.population_source}.")
    return notes


def _fmt(n) -> str:
    return "" if n is None else f"{n:,}"


def _chg(d: dict) -> str:
    from ._pdf import change_text

    return change_text(d["current"], d["previous"])


def _page_summary(fig, pack: CrimePack, f: dict) -> None:
    from ..months import month_label
    from ._pdf import FAMILY_LABELS, draw_table, plain

    m, pm = pack.month, shift_month(pack.month, -1)
    bcu = pack.areas["bcu"].name.replace(" BCU", "")
    header = ["Crime", month_label(m), month_label(pm), "Change",
              f"12 months to\n{month_label(m)}", "Previous\n12 months", "Change",
              "Per 1,000\nresidents", f"{bcu} BCU\n12-month change",
              "London\n12-month change"]
    rows = []
    for c in pack.families:
        mc, tw = f["month_change"][c], f["twelve_month_change"][c]
        comp = f["comparison"][c]
        rate = comp["borough"]["per_1000"]
        rows.append([FAMILY_LABELS.get(c, c), _fmt(mc["current"]),
                     _fmt(mc["previous"]), _chg(mc), _fmt(tw["current"]),
                     _fmt(tw["previous"]), _chg(tw),
                     "unavailable" if rate is None else f"{rate:.2f}",
                     _chg(comp["bcu"]), _chg(comp["london"])])
    ax = fig.add_axes([0.03, 0.55, 0.94, 0.24])
    draw_table(ax, header, rows, fontsize=8.5,
               col_widths=[0.16, 0.08, 0.08, 0.08, 0.1, 0.1, 0.08, 0.09, 0.12,
                           0.11],
               align=["left"] + ["right"] * 9,
               title=f"{pack.areas['borough'].name}: offences")
    # the chart: the 12 months to the pack month against the 12 before
    cur_m = month_range(shift_month(m, -11), m)
    n = len(pack.families)
    w, gap, left = 0.94 / n - 0.035, 0.035, 0.05
    for i, c in enumerate(pack.families):
        ax = fig.add_axes([left + i * (w + gap), 0.19, w, 0.34])
        s = pack.series(c, "borough")
        for months, style, lab in (
            ([shift_month(x, -12) for x in cur_m], {"color": "#9aa4b1", "ls": "--"},
             "previous 12 months"),
            (cur_m, {"color": "#1f4e79", "lw": 2}, f"12 months to {month_label(m)}"),
        ):
            ax.plot(range(12), s.reindex(months).to_numpy(), marker="o", ms=3,
                    label=lab, **style)
        ax.set_xticks(range(12), [month_label(x)[0] for x in cur_m], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylim(bottom=0)
        ax.set_title(plain(FAMILY_LABELS.get(c, c)), fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#e5e5e5", lw=0.5)
        if i == 0:
            ax.set_ylabel("offences per month", fontsize=7)
    fig.legend(*ax.get_legend_handles_labels(), loc="upper left", ncols=2,
               fontsize=8, frameon=False, bbox_to_anchor=(0.045, 0.60))


def _page_years(fig, pack: CrimePack, f: dict) -> None:
    from ..months import month_label
    from ._pdf import FAMILY_LABELS, change_text, draw_table

    n_ytd = int(pack.month[5:])
    ytd = f"Year to\n{month_label(pack.month)[:3]}"
    header = ["Crime", "Year", *[month_label(f"2000-{i:02d}")[:3] for i in
                                 range(1, 13)], ytd, "Whole year"]
    rows = []
    for c in pack.families:
        y = f["years"][c]
        this_v, last_v = list(y["this_year"].values()), list(y["last_year"].values())
        rows.append([FAMILY_LABELS.get(c, c), str(pack.year), *map(_fmt, this_v),
                     _fmt(y["this_year_to_date"]),
                     _fmt(_total(this_v)) if n_ytd == 12 else ""])
        rows.append(["", str(pack.year - 1), *map(_fmt, last_v),
                     _fmt(y["last_year_same_months"]), _fmt(y["last_year_total"])])
        chg = [change_text(a, b) if a is not None else "" for a, b in
               zip(this_v, last_v, strict=True)]
        rows.append(["", "change", *chg,
                     change_text(y["this_year_to_date"], y["last_year_same_months"]),
                     ""])
    ax = fig.add_axes([0.03, 0.13, 0.94, 0.65])
    draw_table(ax, header, rows, fontsize=7.5,
               col_widths=[0.12, 0.055] + [0.055] * 12 + [0.08, 0.085],
               align=["left", "left"] + ["right"] * 14,
               title=(f"{pack.areas['borough'].name}: offences by month, "
                      f"{pack.year} against {pack.year - 1}"))


def _page_compare(fig, pack: CrimePack, f: dict) -> None:
    from ._pdf import FAMILY_LABELS, draw_table

    header = ["Crime", "Area", "12 months", "Previous 12", "Change", "Residents",
              "Per 1,000\nresidents", "Share of\nLondon"]
    rows = []
    for c in pack.families:
        comp = f["comparison"][c]
        london = comp["london"]["current"]
        for j, lv in enumerate(LEVELS):
            d = comp[lv]
            share = (f"{100 * d['current'] / london:.1f}%"
                     if london and d["current"] is not None else "n/a")
            rows.append([FAMILY_LABELS.get(c, c) if j == 0 else "", d["area"],
                         _fmt(d["current"]), _fmt(d["previous"]), _chg(d),
                         "unavailable" if d["population"] is None
                         else f"{d['population']:,}",
                         "unavailable" if d["per_1000"] is None
                         else f"{d['per_1000']:.2f}", share])
    ax = fig.add_axes([0.03, 0.16, 0.94, 0.62])
    draw_table(ax, header, rows, fontsize=8.5,
               col_widths=[0.17, 0.19, 0.1, 0.1, 0.1, 0.12, 0.11, 0.11],
               align=["left", "left"] + ["right"] * 6,
               title=(f"{pack.areas['borough'].name} against the "
                      f"{pack.areas['bcu'].name} and London"))
