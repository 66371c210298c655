"""Ward priority ranking: every 2022 London ward scored on harm, trend and hot spots.

Each of the 704 wards of :func:`hotspots.areas.load_wards` gets one row, scored on
three things, each on a 0–1 scale:

``volume``
    Harm-weighted volume: the sum of the harm weights
    (:func:`hotspots.stats.harm.harm_table`, days of custody in the Cambridge Crime
    Harm Index style) of the ward's offences in the 12 months to ``end``, as a
    percentile rank among all London wards (ties share the average rank).
``trend``
    Last 12 months against the previous 12: the log ratio
    ``log((H + k) / (H_prev + k))`` of harm, with ``k`` the median ward's harm over
    the previous 12 months (so that a ward going from 1 to 3 offences does not
    outrank one going from 300 to 400), as a percentile rank among wards whose
    trend is known. A ward with no offences in the 12 months scores 0; when the data
    does not cover the previous 12 months the trend is unknown and scores 0.5
    (neutral).
``hotspot``
    Hot spot share: the share of the ward's offences in the 12 months that lie in
    H3 cells significantly hot at 95 % or more in one London-wide Gi* analysis
    (:func:`hotspots.analysis.analyse`, FDR-corrected).

The score is ``100 × (0.5 volume + 0.2 trend + 0.3 hotspot)`` (:data:`WEIGHTS`):
harm volume leads, because that is where most harm is; hot spot share says whether
the harm is concentrated enough for place-based tasking; the trend breaks ties
between wards of similar volume. Each ward gets plain-language reasons.

Command line::

    hotspots rank [--borough Merton] [--crime all] --out ranking.csv [--pdf FILE.pdf]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import analyse
from ..areas import Area, load_wards, resolve_area
from ..config import crime_types_for
from ..counts import covered_months
from ..months import month_label, month_range, shift_month
from ..stats.harm import harm_table
from ..store import Store, atomic_file
from ._pdf import report_period

__all__ = ["COLUMNS", "WEIGHTS", "WardRanking", "rank_wards", "write_ranking_pdf"]

#: Weights of the three components in the score (they sum to 1).
WEIGHTS: dict[str, float] = {"volume": 0.5, "trend": 0.2, "hotspot": 0.3}
#: Columns of :attr:`WardRanking.table` (and the CSV), in order.
COLUMNS: tuple[str, ...] = (
    "london_rank", "borough_rank", "ward_code", "ward_name", "borough", "bcu",
    "offences", "offences_previous", "harm", "harm_previous", "harm_change_pct",
    "hot_share", "volume_score", "trend_score", "hotspot_score", "score", "reasons",
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
        """Write the table as CSV, atomically."""
        path = Path(path)
        with atomic_file(path, ".csv") as tmp:
            self.table.to_csv(tmp, index=False)
        return path

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
    store: Store | None = None,
) -> WardRanking:
    """Score and rank every 2022 London ward (see the module docstring).

    Parameters
    ----------
    crime : str
        A family or police.uk type.
    start, end : str, optional
        The 12 months scored (default: the 12 months to the last month every type
        of ``crime`` covers); the trend compares them with the same number of
        months before.
    res, permutations :
        H3 resolution and permutations of the London-wide hot spot analysis
        (``permutations=None`` lets :func:`hotspots.analysis.analyse` choose).
    harm_path : path, optional
        A harm table overriding the default.
    """
    store = store or Store.open()
    start, end = report_period(store, crime, start, end, area="London")
    months = month_range(start, end)
    prev = month_range(shift_month(start, -len(months)), shift_month(start, -1))
    col = f"h3_{res}"
    df = store.offences(crime=crime, start=prev[0], end=end,
                        columns=["ward_code", "crime_type", "month", col, "synthetic"])
    df = df[df["ward_code"].notna()]
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
    t = t.join(by_cur).join(by_prev)
    for c in ("offences", "offences_previous"):
        t[c] = t[c].fillna(0).astype(int)
    for c in ("harm", "harm_previous", "hot_share"):
        t[c] = t[c].fillna(0.0)
    trend_known = set(covered_months(store, crime, "London")).issuperset(prev)
    t = _score(t, trend_known)
    t["reasons"] = [_reasons(r, trend_known) for r in t.itertuples()]
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
        "harm": {"source": table.source, "version": table.version},
        "trend_known": trend_known,
        "hotspots": {"res": res, "hot_cells_95": len(hot),
                     "permutations": an.metadata.get("permutations"),
                     "correction": an.metadata.get("correction")},
        "synthetic_share": float(df["synthetic"].mean()) if len(df) else 0.0,
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    }
    return WardRanking(crime, start, end,
                       t[list(COLUMNS)].reset_index(drop=True), meta)


def _score(t: pd.DataFrame, trend_known: bool) -> pd.DataFrame:
    t = t.copy()
    t["volume_score"] = t["harm"].rank(pct=True, method="average")
    k = float(np.median(t["harm_previous"])) or 1.0
    ratio = np.log((t["harm"] + k) / (t["harm_previous"] + k))
    with np.errstate(divide="ignore", invalid="ignore"):
        t["harm_change_pct"] = np.where(
            t["harm_previous"] > 0,
            100.0 * (t["harm"] - t["harm_previous"]) / t["harm_previous"], np.nan)
    if trend_known:
        active = t["offences"] > 0
        trend = ratio[active].rank(pct=True, method="average")
        t["trend_score"] = trend.reindex(t.index).fillna(0.0)
    else:
        t["trend_score"] = 0.5
        t["harm_change_pct"] = np.nan
    t["hotspot_score"] = t["hot_share"]
    t["score"] = 100.0 * (WEIGHTS["volume"] * t["volume_score"]
                          + WEIGHTS["trend"] * t["trend_score"]
                          + WEIGHTS["hotspot"] * t["hotspot_score"])
    for c in ("volume_score", "trend_score", "hotspot_score", "hot_share"):
        t[c] = t[c].round(4)
    t["score"] = t["score"].round(2)
    t["harm_change_pct"] = t["harm_change_pct"].round(1)
    return t


def _reasons(r, trend_known: bool) -> str:
    city = ("City of London Police area (its offences are not in the Met data); "
            if not isinstance(r.bcu, str) else "")
    if r.offences == 0:
        return city + "no offences in the 12 months"
    top = 100 * (1 - r.volume_score)
    parts = [f"harm {r.harm:,.0f} days from {r.offences:,} offences ("
             + (f"top {max(top, 1):.0f}% of London wards)" if r.volume_score >= 0.5
                else "below the London median)")]
    if not trend_known:
        parts.append("trend unknown (previous 12 months not covered)")
    elif np.isnan(r.harm_change_pct):
        parts.append("new: no harm in the previous 12 months")
    else:
        word = "up" if r.harm_change_pct > 0 else "down"
        parts.append(f"harm {word} {abs(r.harm_change_pct):.0f}% on the previous "
                     "12 months" if r.harm_change_pct else "harm unchanged")
    parts.append(f"{r.hot_share:.0%} of offences in 95%+ hot cells" if r.hot_share
                 else "no offences in 95%+ hot cells")
    return city + "; ".join(parts)


def _short_reasons(r) -> str:
    """The reasons in a few words, for the printed table."""
    city = "City of London Police area; " if not isinstance(r.bcu, str) else ""
    if r.offences == 0:
        return city + "no offences"
    top = 100 * (1 - r.volume_score)
    parts = [f"harm in top {max(top, 1):.0f}%" if r.volume_score >= 0.5
             else "harm below median"]
    if not pd.isna(r.harm_change_pct):
        parts.append(f"{'up' if r.harm_change_pct > 0 else 'down'} "
                     f"{abs(r.harm_change_pct):.0f}%")
    parts.append(f"{r.hot_share:.0%} in hot cells" if r.hot_share
                 else "not in hot cells")
    return city + "; ".join(parts)


# -- the PDF -------------------------------------------------------------------

_ROWS_PER_PAGE = 30


def write_ranking_pdf(ranking: WardRanking, path: Path | str, top: int = 3) -> Path:
    """The ranking as PDF: the highest-scoring wards, then the top ``top`` wards of
    every borough, with reasons; the method on every page."""
    from . import _pdf

    path = Path(path)
    t = ranking.table
    period = (f"{month_label(ranking.start)} to "
              f"{month_label(ranking.end)}")
    area = ranking.metadata.get("area", {}).get("name", "London")
    title = (f"Ward priority ranking: {area}, "
             f"{_pdf.FAMILY_LABELS.get(ranking.crime, ranking.crime).lower()}")
    sections = [(f"Highest-scoring wards, {period}", t.head(_ROWS_PER_PAGE))]
    per = ranking.top(top)
    if per["borough"].nunique() > 1:
        per = per.sort_values(["borough", "borough_rank"])
        for i in range(0, len(per), _ROWS_PER_PAGE):
            sections.append((f"Top {top} wards of each borough, {period}",
                             per.iloc[i:i + _ROWS_PER_PAGE]))
    meta = _pdf.pdf_metadata(title, subject="Ward priority ranking",
                             params={"crime": ranking.crime, "from": ranking.start,
                                     "to": ranking.end, "area": area})
    w = WEIGHTS
    method = (f"Score = 100 × ({w['volume']} × harm volume percentile + {w['trend']} "
              f"× trend percentile + {w['hotspot']} × share of offences in 95%+ "
              "hot cells). Harm: indicative Cambridge Crime Harm Index-style weights "
              "(days). Trend: log ratio of harm, last 12 months against the "
              "previous 12, damped by the median ward's harm. Hot cells: one "
              "London-wide Gi* analysis on H3 cells, FDR-corrected.")
    share = ranking.metadata.get("synthetic_share", 0.0)
    with _pdf.pdf_file(path, meta) as pdf:
        for i, (sub, rows) in enumerate(sections, start=1):
            fig = _pdf.new_page(title, sub)
            body = [[str(r.london_rank), str(r.borough_rank),
                     _pdf.plain(r.ward_name)[:30], r.borough[:22], f"{r.score:.1f}",
                     f"{r.harm:,.0f}",
                     "n/a" if pd.isna(r.harm_change_pct)
                     else f"{r.harm_change_pct:+.0f}%",
                     f"{r.hot_share:.0%}", _short_reasons(r)]
                    for r in rows.itertuples(index=False)]
            ax = fig.add_axes([0.03, 0.12, 0.94, 0.70])
            _pdf.draw_table(
                ax, ["London\nrank", "Borough\nrank", "Ward", "Borough", "Score",
                     "Harm\n(days)", "Harm\nchange", "In hot\ncells", "Reasons"],
                body, fontsize=6.5,
                col_widths=[0.055, 0.06, 0.17, 0.15, 0.05, 0.07, 0.06, 0.06,
                            0.325],
                align=["right", "right", "left", "left", "right", "right", "right",
                       "right", "left"])
            _pdf.synthetic_label(fig, share)
            _pdf.footer(fig, [method], page=f"page {i} of {len(sections)}")
            pdf.savefig(fig)
            _pdf.plt.close(fig)
    return path
