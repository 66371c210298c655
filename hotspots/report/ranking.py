"""Ward priority ranking: every 2022 London ward scored on harm per resident, harm,
trend and hot spots.

Each of the 704 wards of :func:`hotspots.areas.load_wards` gets one row, scored on
four things, each on a 0–1 scale (:func:`score_wards`):

``rate``
    Harm per 1,000 residents (Census 2021, :func:`hotspots.population.
    ward_population`) in the 12 months to ``end``, as a percentile rank among the
    wards that have a rate. A ward needs at least
    :data:`~hotspots.population.MIN_POPULATION` residents (the minimum base) for
    a rate: a few offences over a few hundred residents would otherwise top the
    list. The City of London's 20 wards without residents and its five small ones
    have no rate, and say so.
``volume``
    Harm-weighted volume: the sum of the harm weights
    (:func:`hotspots.stats.harm.harm_table`, days of custody in the Cambridge Crime
    Harm Index style) of the ward's offences in the 12 months, as a percentile
    rank among all London wards (ties share the average rank).
``trend``
    Offences in the last 12 months against the previous 12, shrunk towards no
    change: ``log((N + b) / (N_prev + b))`` with ``b`` = :data:`MIN_TREND_BASE`
    offences, as a percentile rank among wards with offences whose trend is known.
    A ward going from 1 to 5 offences moves a little; one going from 200 to 300
    moves a lot. A percentage change is printed only when the previous 12 months
    had at least ``b`` offences (else the change in offences). A ward with no
    offences scores 0; when the data does not cover the previous 12 months for the
    ward's force the trend is unknown and left out.
``hotspot``
    Hot spot share: the share of the ward's offences in the 12 months that lie in
    H3 cells significantly hot at 95 % or more in one London-wide Gi* analysis
    (:func:`hotspots.analysis.analyse`, FDR-corrected).

The score is ``100 × Σ wᵢ sᵢ / Σ wᵢ`` over the components a ward has, with the
weights of :data:`WEIGHTS` (0.35 rate, 0.25 volume, 0.15 trend, 0.25 hot spot):
harm per resident leads, as the brief for rates asks; harm volume says where most
harm is; hot spot share says whether it is concentrated enough for place-based
tasking; the trend breaks ties. A ward without a rate or a known trend is scored
on the others (their weights rescaled), and its reasons say so.

The CSV
-------
BCU codes include ``NA`` (North Area: Enfield, Haringey), which pandas and R read
as missing by default. The CSV therefore carries ``bcu_name`` beside ``bcu``
(``North Area`` survives any reader), and keeps the code: read it with
``pandas.read_csv(path, keep_default_na=False, na_values=[""])`` or R's
``read.csv(path, na.strings = "")``. Text cells starting with ``= + - @`` are
prefixed with ``'`` so a spreadsheet never runs them as formulas.

Command line::

    hotspots rank [--borough Merton] [--crime all] --out ranking.csv [--pdf FILE.pdf]
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import analyse
from ..areas import Area, load_wards, resolve_area
from ..config import BCUS, crime_types_for
from ..counts import covered_period
from ..coverage import CITY_FORCE, MET_FORCE, Coverage
from ..errors import ParameterError
from ..months import describe_months, month_label, month_range, shift_month
from ..population import MIN_POPULATION, WARD_CAVEAT, ward_population
from ..provenance import safe_csv_frame as neutralise_formulas
from ..stats.harm import harm_table
from ..store import Store, write_csv_atomic

__all__ = [
    "COLUMNS",
    "MIN_TREND_BASE",
    "READ_CSV_HINT",
    "WEIGHTS",
    "WardRanking",
    "neutralise_formulas",
    "rank_wards",
    "score_wards",
    "write_ranking_pdf",
]

#: Weights of the components in the score (they sum to 1).
WEIGHTS: dict[str, float] = {"rate": 0.35, "volume": 0.25, "trend": 0.15,
                             "hotspot": 0.25}
#: Offences a ward needs in the previous 12 months for a percentage change, and
#: the shrinkage of the trend score.
MIN_TREND_BASE = 20
#: How to read the CSV so the BCU code "NA" (North Area) stays a code.
READ_CSV_HINT = ('pandas.read_csv(path, keep_default_na=False, na_values=[""]) '
                 '(R: read.csv(path, na.strings = ""))')
#: Columns of :attr:`WardRanking.table` (and the CSV), in order.
COLUMNS: tuple[str, ...] = (
    "london_rank", "borough_rank", "ward_code", "ward_name", "borough", "bcu",
    "bcu_name", "offences", "offences_previous", "change", "change_pct", "harm",
    "harm_previous", "population", "population_status", "per_1000",
    "harm_per_1000", "hot_share", "rate_score", "volume_score", "trend_score",
    "hotspot_score", "score", "trend_known", "months_missing", "reasons",
)


@dataclass(frozen=True)
class WardRanking:
    """The ranking, one row per ward, with what produced it."""

    crime: str
    start: str
    end: str
    table: pd.DataFrame = field(repr=False)
    metadata: dict = field(repr=False)

    def top(self, n: int = 3) -> pd.DataFrame:
        """The ``n`` highest-scoring wards of every borough."""
        t = self.table.sort_values(["borough", "borough_rank"])
        return t.groupby("borough", sort=True).head(n).reset_index(drop=True)

    def for_area(self, area: Area | str) -> WardRanking:
        """The same ranking (London-wide ranks kept), only the wards of ``area``."""
        area = area if isinstance(area, Area) else resolve_area(area)
        t = self.table[self.table["ward_code"].isin(area.ward_codes)]
        return WardRanking(self.crime, self.start, self.end, t.reset_index(drop=True),
                           {**self.metadata, "area": area.to_dict()})

    def write_csv(self, path: Path | str) -> Path:
        """Write the table as CSV, atomically (formulas neutralised; read the BCU
        code ``NA`` back with :data:`READ_CSV_HINT`)."""
        return write_csv_atomic(path, self.table)

    def summary(self, n: int = 10) -> list[str]:
        """Plain-language lines: the top ``n`` wards and the caveats."""
        lines = [f"ward priority, {self.crime}, {self.start}…{self.end}: "
                 f"{len(self.table)} wards"]
        for r in self.table.head(n).itertuples(index=False):
            lines.append(f"{r.london_rank}. {r.ward_name} ({r.borough}) "
                         f"{r.score:.1f}: {r.reasons}")
        lines.append(WARD_CAVEAT)
        return lines

    def to_json(self, csv: str | None = None, pdf: str | None = None,
                n: int = 10) -> dict:
        head = self.table.head(n)
        return {
            "csv": csv,
            "pdf": pdf,
            "crime": self.crime,
            "from": self.start,
            "to": self.end,
            "wards": int(len(self.table)),
            "weights": dict(WEIGHTS),
            "min_population": self.metadata.get("min_population"),
            "min_trend_base": self.metadata.get("min_trend_base"),
            "ward_population_caveat": WARD_CAVEAT,
            "read_csv": READ_CSV_HINT,
            "top": json.loads(head.to_json(orient="records")),
            "metadata": self.metadata,
        }


def rank_wards(
    crime: str = "all",
    start: str | None = None,
    end: str | None = None,
    *,
    res: int = 9,
    permutations: int | None = None,
    harm_path: str | Path | None = None,
    population="auto",
    min_population: int = MIN_POPULATION,
    min_trend_base: int = MIN_TREND_BASE,
    store: Store | None = None,
) -> WardRanking:
    """Score and rank every 2022 London ward (see the module docstring).

    Parameters
    ----------
    crime : str
        A family or police.uk type.
    start, end : str, optional
        The months scored (default: the 12 months in a row to the last month the
        data covers for ``crime`` in London; months a force has no data for are
        listed per ward in ``months_missing``); the trend compares them with the
        same number of months before.
    res, permutations :
        H3 resolution and permutations of the London-wide hot spot analysis
        (``permutations=None`` lets :func:`hotspots.analysis.analyse` choose).
    harm_path : path, optional
        A harm table overriding the default.
    population : Population, None or 'auto'
        Residents (:func:`hotspots.population.load_population` by default).
    min_population, min_trend_base : int
        The minimum bases of the rate and of the trend (see the module docstring).
    """
    store = (store or Store.open()).pinned()  # one generation for the whole run
    start, end = _window(store, crime, start, end)
    months = month_range(start, end)
    prev = month_range(shift_month(start, -len(months)), shift_month(start, -1))
    col = f"h3_{res}"
    df = store.offences(crime=crime, start=prev[0], end=end,
                        columns=["ward_code", "borough", "crime_type", "month", col,
                                 "synthetic"])
    df = df[df["ward_code"].notna()]
    # each ward's offences in the months its own force covers (another force's
    # rows in a month its police filed nothing for count toward nothing)
    df = df[Coverage.of(store).own_rows(crime, df["borough"].astype(str),
                                        df["month"])]
    table = harm_table(harm_path)
    df = df.assign(harm=table.of(df["crime_type"]) if len(df) else np.zeros(0),
                   current=df["month"].isin(set(months)))
    an = analyse("London", crime, start, end, res=res, permutations=permutations,
                 store=store)
    hot = set(an.cells.loc[an.cells["bin"] >= 2, "h3"])
    cur = df[df["current"]]
    cur = cur.assign(in_hot=cur[col].isin(hot))
    by_cur = cur.groupby("ward_code").agg(offences=("harm", "size"),
                                          harm=("harm", "sum"),
                                          hot_share=("in_hot", "mean"))
    by_prev = df[~df["current"]].groupby("ward_code").agg(
        offences_previous=("harm", "size"), harm_previous=("harm", "sum"))
    wards = load_wards()
    t = wards[["ward_code", "ward_name", "borough", "bcu"]].set_index("ward_code")
    t["bcu_name"] = t["bcu"].map({k: n for k, (n, _) in BCUS.items()})
    t = t.join(by_cur).join(by_prev)
    for c in ("offences", "offences_previous"):
        t[c] = t[c].fillna(0).astype(int)
    for c in ("harm", "harm_previous", "hot_share"):
        t[c] = t[c].fillna(0.0)
    pop = ward_population(population, wards, min_population=min_population)
    pop = pop.set_index("ward_code")
    t["population"] = pop["population"]
    t["population_status"] = pop["status"]
    missing, known = _coverage_by_ward(store, crime, t["borough"], months, prev)
    t["months_missing"] = missing
    t["trend_known"] = known
    # a previous year the data does not wholly cover has no count to show (a
    # month of it is not a year's): blank, as its trend is unknown
    t["offences_previous"] = t["offences_previous"].astype("Int64").where(
        t["trend_known"].to_numpy(), pd.NA)
    t["harm_previous"] = t["harm_previous"].where(t["trend_known"].to_numpy())
    t = score_wards(t, min_population=min_population, min_trend_base=min_trend_base)
    t["reasons"] = [_reasons(r, min_population, min_trend_base)
                    for r in t.itertuples()]
    t = t.reset_index().sort_values(["score", "harm", "ward_code"],
                                    ascending=[False, False, True])
    t["london_rank"] = np.arange(1, len(t) + 1)
    t["borough_rank"] = t.groupby("borough").cumcount() + 1
    meta = {
        "crime": crime,
        "crime_types": list(crime_types_for(crime)),
        "from": start,
        "to": end,
        "previous": {"from": prev[0], "to": prev[-1]},
        "weights": dict(WEIGHTS),
        "min_population": int(min_population),
        "min_trend_base": int(min_trend_base),
        "population": WARD_CAVEAT,
        "harm": {"source": table.source, "version": table.version},
        "trend_known_wards": int(t["trend_known"].sum()),
        "hotspots": {"res": res, "hot_cells_95": len(hot),
                     "permutations": an.metadata.get("permutations"),
                     "correction": an.metadata.get("correction")},
        "synthetic_share": float(df["synthetic"].mean()) if len(df) else 0.0,
        "read_csv": READ_CSV_HINT,
        "method": __doc__.split("\n\n", 1)[1].split("\nThe CSV")[0].strip()
        if __doc__ else "",
    }
    return WardRanking(crime, start, end,
                       t[list(COLUMNS)].reset_index(drop=True), meta)


def _window(store, crime, start, end) -> tuple[str, str]:
    """The months scored: 12 in a row, by default to the last month the data
    covers for ``crime`` in London (a force missing some of them is flagged per
    ward, never read as zero)."""
    if start and end:
        return start, end
    try:
        last = covered_period(store, crime, area="London")[-1]
    except ParameterError:  # the ranking is of every London ward: no other area
        from ..counts import nothing_covered

        raise ParameterError(
            f"every London ward is ranked, and "
            f"{nothing_covered(store, crime, resolve_area('London'), hint=False)}; "
            "add the missing force's police.uk files to the data root and run "
            "'hotspots ingest'") from None
    if end is None and start is not None:
        end = min(shift_month(start, 11), last)
    end = end or last
    return start or shift_month(end, -11), end


def _coverage_by_ward(store, crime, boroughs, months, prev):
    """Per ward: the window's months its force has no data for, and whether the
    previous 12 months and the window are both covered (the trend is known:
    never a year against part of one)."""
    cov = Coverage.of(store)
    out = {}
    for force in (MET_FORCE, CITY_FORCE):
        have = set(cov.months(crime, (force,)))
        out[force] = (describe_months([m for m in months if m not in have])
                      if not have.issuperset(months) else "",
                      have.issuperset(prev) and have.issuperset(months))
    force = np.where(boroughs == "City of London", CITY_FORCE, MET_FORCE)
    return ([out[f][0] for f in force], [out[f][1] for f in force])


def score_wards(
    table: pd.DataFrame,
    *,
    min_population: int = MIN_POPULATION,
    min_trend_base: int = MIN_TREND_BASE,
) -> pd.DataFrame:
    """The component scores and score of a per-ward table.

    Parameters
    ----------
    table : DataFrame
        One row per ward with ``offences, offences_previous, harm, hot_share,
        population`` (NaN when unknown or none) and ``trend_known`` (bool).
    min_population : int
        Fewer residents: no rate (the minimum base).
    min_trend_base : int
        The shrinkage of the trend, and the previous count a percentage needs.

    Returns
    -------
    DataFrame
        A copy with ``per_1000, harm_per_1000, change, change_pct, rate_score,
        volume_score, trend_score, hotspot_score, score`` added (NaN components
        are left out of the score and the other weights rescaled).
    """
    t = table.copy()
    pop = pd.to_numeric(t["population"], errors="coerce").astype("float64")
    rated = pop >= max(min_population, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["per_1000"] = np.where(rated, 1000.0 * t["offences"] / pop, np.nan)
        t["harm_per_1000"] = np.where(rated, 1000.0 * t["harm"] / pop, np.nan)
    t["volume_score"] = t["harm"].rank(pct=True, method="average")
    t["rate_score"] = t["harm_per_1000"].where(rated).rank(pct=True,
                                                            method="average")
    known = t["trend_known"].astype(bool)
    b = float(max(min_trend_base, 1))
    shrunk = np.log((t["offences"] + b) / (t["offences_previous"] + b))
    active = known & (t["offences"] > 0)
    trend = shrunk[active].rank(pct=True, method="average")
    t["trend_score"] = np.where(known, trend.reindex(t.index).fillna(0.0), np.nan)
    t["change"] = np.where(known, t["offences"] - t["offences_previous"], np.nan)
    big = known & (t["offences_previous"] >= min_trend_base)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["change_pct"] = np.where(
            big, 100.0 * (t["offences"] - t["offences_previous"])
            / t["offences_previous"], np.nan)
    t["hotspot_score"] = t["hot_share"].astype("float64")
    parts = {"rate": t["rate_score"], "volume": t["volume_score"],
             "trend": t["trend_score"], "hotspot": t["hotspot_score"]}
    num = sum(WEIGHTS[k] * s.fillna(0.0) for k, s in parts.items())
    den = sum(WEIGHTS[k] * s.notna() for k, s in parts.items())
    t["score"] = 100.0 * num / den
    for c in ("volume_score", "rate_score", "trend_score", "hotspot_score",
              "hot_share"):
        t[c] = t[c].round(4)
    for c in ("per_1000", "harm_per_1000", "score"):
        t[c] = t[c].round(2)
    t["change_pct"] = t["change_pct"].round(1)
    return t


def _reasons(r, min_population: int, min_trend_base: int) -> str:
    city = ("City of London Police area; " if not isinstance(r.bcu, str) else "")
    gap = (f"no data for {r.months_missing.replace('..', '…')}; "
           if r.months_missing else "")
    if r.offences == 0:
        return city + gap + "no offences in the 12 months"
    parts = [f"{r.offences:,} offences, harm {r.harm:,.0f} days ("
             + (f"top {max(100 * (1 - r.volume_score), 1):.0f}% of London wards)"
                if r.volume_score >= 0.5 else "below the London median)")]
    if not np.isnan(r.rate_score):
        parts.append(f"{r.per_1000:,.1f} offences per 1,000 residents (harm rate "
                     + (f"top {max(100 * (1 - r.rate_score), 1):.0f}%)"
                        if r.rate_score >= 0.5 else "below the median)"))
    elif r.population_status == "no residents":
        parts.append("no residents: no rate")
    elif r.population_status == "small base":
        parts.append(f"{int(r.population):,} residents: too few for a rate")
    else:
        parts.append("residents unknown: no rate")
    parts.append(_trend_text(r, min_trend_base))
    parts.append(f"{r.hot_share:.0%} of offences in 95%+ hot cells" if r.hot_share
                 else "no offences in 95%+ hot cells")
    return city + gap + "; ".join(parts)


def _trend_text(r, min_trend_base: int, short: bool = False) -> str:
    if not r.trend_known:
        return "trend unknown" + ("" if short else " (the data does not cover "
                                  "both 12-month periods)")
    if r.offences_previous == 0:
        return "new" if short else "none in the previous 12 months"
    if not np.isnan(r.change_pct):
        if r.change_pct == 0:
            return "unchanged"
        word = "up" if r.change_pct > 0 else "down"
        return (f"{word} {abs(r.change_pct):.0f}%" if short else
                f"{word} {abs(r.change_pct):.0f}% on the previous 12 months "
                f"({r.offences_previous:,} → {r.offences:,})")
    d = int(r.offences - r.offences_previous)
    word = "up" if d > 0 else ("down" if d < 0 else "unchanged")
    if short:
        return f"{word} {abs(d)}" if d else word
    by = f" {abs(d)} offence{'s' if abs(d) != 1 else ''}" if d else ""
    return (f"{word}{by} ({r.offences_previous} → {r.offences}; fewer than "
            f"{min_trend_base} before, too few for a %)")


def _short_reasons(r, min_trend_base: int) -> str:
    """The reasons in a few words, for the printed table."""
    city = "City of London Police area; " if not isinstance(r.bcu, str) else ""
    gap = (f"no data {r.months_missing.replace('..', '…')}; "
           if r.months_missing else "")
    if r.offences == 0:
        return city + gap + "no offences"
    parts = [f"harm in top {max(100 * (1 - r.volume_score), 1):.0f}%"
             if r.volume_score >= 0.5 else "harm below median"]
    if not pd.isna(r.rate_score):
        parts.append(f"rate in top {max(100 * (1 - r.rate_score), 1):.0f}%"
                     if r.rate_score >= 0.5 else "rate below median")
    else:
        parts.append({"no residents": "no residents",
                      "small base": "too few residents for a rate"}.get(
            r.population_status, "no rate"))
    parts.append(_trend_text(r, min_trend_base, short=True))
    parts.append(f"{r.hot_share:.0%} in hot cells" if r.hot_share
                 else "not in hot cells")
    return city + gap + "; ".join(parts)


# -- the PDF -------------------------------------------------------------------

_ROWS_PER_PAGE = 22  # at most, on one page
_REASON_WIDTH = 58  # characters a line in the reasons column
_LINE = 0.0138  # one 6.5 pt text line, as a share of the page height
_HEADER = ["London\nrank", "Borough\nrank", "Ward", "Borough", "Score", "Offences",
           "Per 1,000\nresidents", "Change", "In hot\ncells", "Reasons"]
_WIDTHS = [0.05, 0.055, 0.15, 0.12, 0.045, 0.06, 0.065, 0.06, 0.05, 0.3]
_ALIGN = ["right", "right", "left", "left", "right", "right", "right", "right",
          "right", "left"]


def write_ranking_pdf(ranking: WardRanking, path: Path | str, top: int = 3) -> Path:
    """The ranking as PDF: the highest-scoring wards, then the top ``top`` wards of
    every borough, with reasons wrapped in their column (rows as tall as their
    text; pages break between rows); the method on every page and the
    ward-population caveat once, on the first."""
    from . import _pdf

    path = Path(path)
    t = ranking.table
    period = f"{month_label(ranking.start)} to {month_label(ranking.end)}"
    area = ranking.metadata.get("area", {}).get("name", "London")
    title = (f"Ward priority ranking: {area}, "
             f"{_pdf.FAMILY_LABELS.get(ranking.crime, ranking.crime).lower()}")
    base = ranking.metadata.get("min_trend_base", MIN_TREND_BASE)
    share = ranking.metadata.get("synthetic_share", 0.0)
    top_y = 0.80 if share > 0 else 0.86
    budget = (top_y - 0.2) / _LINE - 2  # text lines a page holds
    per = ranking.top(top)
    if per["borough"].nunique() > 1:  # the top page, then each borough's top
        sections = [(f"Highest-scoring wards, {period}",
                     _pages(t.head(_ROWS_PER_PAGE), base, budget)[0])]
        per = per.sort_values(["borough", "borough_rank"])
        sections += [(f"Top {top} wards of each borough, {period}", rows)
                     for rows in _pages(per, base, budget)]
    else:  # one borough (or ward): every ward
        sections = [(f"Wards by score, {period}", rows)
                    for rows in _pages(t, base, budget)]
    meta = _pdf.pdf_metadata(title, subject="Ward priority ranking",
                             params={"crime": ranking.crime, "from": ranking.start,
                                     "to": ranking.end, "area": area})
    w = WEIGHTS
    method = (f"Score = 100 × ({w['rate']} × harm per 1,000 residents percentile + "
              f"{w['volume']} × harm volume percentile + {w['trend']} × trend "
              f"percentile + {w['hotspot']} × share of offences in 95%+ hot cells), "
              "over the parts a ward has. Harm: indicative Cambridge Crime Harm "
              "Index-style weights (days). Trend: log((N + "
              f"{base}) / (N previous + {base})) offences, so small counts move "
              f"little; a % only from {base} offences before. Hot cells: one "
              "London-wide Gi* analysis on H3 cells, FDR-corrected.")
    with _pdf.pdf_file(path, meta) as pdf:
        for i, (sub, rows) in enumerate(sections, start=1):
            fig = _pdf.new_page(title, sub)
            _pdf.synthetic_label(fig, share)
            _table(fig, top_y, rows)
            notes = [method] + ([WARD_CAVEAT] if i == 1 else
                                ["Ward residents: best-fit Census 2021 estimates "
                                 "(see page 1)."])
            _pdf.footer(fig, notes, page=f"page {i} of {len(sections)}")
            pdf.savefig(fig)
            _pdf.plt.close(fig)
    return path


def _body_row(r, base: int) -> list[str]:
    return [str(r.london_rank), str(r.borough_rank),
            "\n".join(textwrap.wrap(str(r.ward_name), 28)),
            "\n".join(textwrap.wrap(str(r.borough), 22)), f"{r.score:.1f}",
            f"{r.offences:,}", _rate_cell(r), _change_cell(r), f"{r.hot_share:.0%}",
            "\n".join(textwrap.wrap(_short_reasons(r, base), _REASON_WIDTH))]


def _pages(rows: pd.DataFrame, base: int, budget: float) -> list[list[list[str]]]:
    """Table rows (wrapped text) split into pages of at most ``budget`` lines."""
    pages, page, used = [], [], 0
    for r in rows.itertuples(index=False):
        body = _body_row(r, base)
        n = max(c.count("\n") + 1 for c in body) + 0.6  # lines and padding
        if page and (used + n > budget or len(page) == _ROWS_PER_PAGE):
            pages.append(page)
            page, used = [], 0
        page.append(body)
        used += n
    return pages + [page] if page else pages or [[]]


def _rate_cell(r) -> str:
    if not pd.isna(r.per_1000):
        return f"{r.per_1000:,.1f}"
    return {"no residents": "no residents", "small base": "small base"}.get(
        r.population_status, "n/a")


def _change_cell(r) -> str:
    if not r.trend_known or pd.isna(r.change):
        return "n/a"
    if not pd.isna(r.change_pct):
        return f"{r.change_pct:+.0f}%"
    return f"{int(r.change):+d}"


def _table(fig, top: float, body: list[list[str]]) -> float:
    """The ranking table from ``top`` down, each row as tall as its text; returns
    the y of its bottom edge."""
    from ._pdf import draw_table

    head = max(h.count("\n") + 1 for h in _HEADER)
    lines = [max(c.count("\n") + 1 for c in row) for row in body]
    total = (head + sum(lines) + 0.6 * len(lines)) * _LINE
    ax = fig.add_axes([0.03, top - total, 0.94, total])
    s = sum(_WIDTHS)
    tab = draw_table(ax, _HEADER, body, fontsize=6.5,
                     col_widths=[0.965 * x / s for x in _WIDTHS], align=_ALIGN)
    for (r, _c), cell in tab.get_celld().items():
        n = head if r == 0 else lines[r - 1] + 0.6
        cell.set_height(n * _LINE / total)
        cell.get_text().set_linespacing(1.1)
    return top - total
