"""Precision stop and search: how many searches fall in the hot spots, and do they
find more there?

Hot spots policing asks that stop and search be *precise*: aimed at the few places
where the crime concentrates, and productive when used. :func:`stop_search_precision`
measures both from the police.uk stop-and-search records in the store:

* the **share of searches inside the current hot spots** (the H3 cells of
  :meth:`hotspots.analysis.Analysis.hot_cells` for a crime, at a confidence level),
  set against the share of the area those cells cover;
* the **find rate** (share of searches with a positive outcome) inside and outside
  the hot spots, with a Wilson score interval on each rate and a two-proportion
  comparison (difference with Newcombe's hybrid score interval; score test, or
  Fisher's exact test when an expected count is below 5),

per borough and month, per borough over the whole period, and over all boroughs.

Find rule
---------
police.uk gives one ``Outcome`` per search. A search is a **find** (positive
outcome) when its outcome is recorded and is not a no-further-action disposal:
``Arrest``, ``Community resolution``, ``Penalty Notice for Disorder``,
``Summons / charged by post``, ``Caution (simple or conditional)``, a cannabis or
khat warning, … count as finds; ``A no further action disposal`` and ``Nothing
found - no further action`` (the older label) do not (see
:data:`NO_FURTHER_ACTION`). Searches with an empty outcome are *unknown*: they
count as searches (for the share in hot spots) but are left out of the find-rate
denominators. The Met does not publish "outcome linked to object of search" as
true, so a stricter linked-find rule cannot be applied to these data. Searches
without a location are quarantined at ingest and are not counted at all.

References
----------
Newcombe, R. G. (1998). Interval estimation for the difference between
independent proportions: comparison of eleven methods. *Statistics in Medicine*
17, 873–890.
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
inference. *JASA* 22, 209–212.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..areas import Area, resolve_area
from ..config import DEFAULT_SEED, crime_types_for
from ..errors import DataError, ParameterError, check_choice
from ..months import describe_months, month_range
from ..provenance import run_header, synthetic_note
from ..store import Store

__all__ = [
    "FIND_RULE",
    "NO_FURTHER_ACTION",
    "PrecisionResult",
    "classify_outcomes",
    "compare_rates",
    "precision_table",
    "stop_search_precision",
    "wilson",
]

#: Outcomes that are not a find (no further action), compared case-insensitively.
NO_FURTHER_ACTION: frozenset[str] = frozenset(
    {
        "a no further action disposal",
        "nothing found - no further action",
        "no further action",
    }
)
#: The find rule in words (carried into every output).
FIND_RULE = (
    "find = the search's outcome is recorded and is not a no-further-action "
    "disposal ('A no further action disposal', 'Nothing found - no further "
    "action'); searches with an empty outcome are unknown and left out of the "
    "find-rate denominators"
)
#: Hot spot confidence levels: 1 = 90 %, 2 = 95 %, 3 = 99 % (Gi* bins).
LEVELS = (1, 2, 3)
ALL = "All"

ROW_COLUMNS = (
    "borough",
    "month",
    "searches",
    "in_hot",
    "share_in_hot",
    "share_ci_low",
    "share_ci_high",
    "known_in",
    "finds_in",
    "rate_in",
    "rate_in_low",
    "rate_in_high",
    "known_out",
    "finds_out",
    "rate_out",
    "rate_out_low",
    "rate_out_high",
    "rate_diff",
    "diff_low",
    "diff_high",
    "p_value",
    "test",
    "unknown_outcome",
)


# -- results ---------------------------------------------------------------------
@dataclass(frozen=True)
class PrecisionResult:
    """Share of searches in hot spots and find rates inside vs outside.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per borough × month, per borough over the period (``month`` =
        ``"All"``) and, with several boroughs, over all of them (``borough`` =
        ``"All"``); columns :data:`ROW_COLUMNS`.
    hot_cells : tuple of str
        The hot spot cells used.
    metadata : dict
        Area, crime, periods, hot spot analysis, find rule, the ``why`` list.
    """

    table: pd.DataFrame = field(repr=False)
    hot_cells: tuple[str, ...] = field(repr=False)
    metadata: dict = field(repr=False)

    @property
    def overall(self) -> dict:
        """The row over the whole period and every borough."""
        t = self.table
        row = t[(t["month"] == ALL) & (t["borough"] == ALL)]
        if row.empty:
            row = t[t["month"] == ALL]
        return _record(row.iloc[0]) if len(row) else {}

    def summary(self) -> list[str]:
        """Plain-language lines for the terminal or a report."""
        m, o = self.metadata, self.overall
        h = m["hot_spots"]
        lines = [
            f"{m['searches']:,} searches in {m['area']['name']} {m['from']}…{m['to']}; "
            f"{h['cells']} {m['crime']} hot spot cell(s) at the {h['confidence']} "
            f"level cover {_pct(h['area_share'])} of the area.",
        ]
        if o:
            lines.append(
                f"In hot spots: {o['in_hot']:,} searches = {_pct(o['share_in_hot'])} "
                f"(CI {_pct(o['share_ci_low'])}–{_pct(o['share_ci_high'])})."
            )
            lines.append(
                f"Find rate inside {_pct(o['rate_in'])} "
                f"({_pct(o['rate_in_low'])}–{_pct(o['rate_in_high'])}, "
                f"n = {o['known_in']:,}) vs outside {_pct(o['rate_out'])} "
                f"({_pct(o['rate_out_low'])}–{_pct(o['rate_out_high'])}, "
                f"n = {o['known_out']:,}); difference "
                + ("n/a" if o["rate_diff"] is None else
                   f"{100 * o['rate_diff']:+.1f} points "
                   f"(CI {100 * o['diff_low']:+.1f} to {100 * o['diff_high']:+.1f}), "
                   f"p = {o['p_value']:.3g} ({o['test']})")
                + "."
            )
        lines.extend(x for x in m["why"]
                     if x.startswith(("SEMI", "No hot", "Missing", "Monthly")))
        return lines

    def to_json(self) -> dict:
        m = self.metadata
        return {
            "area": m["area"]["name"],
            "crime": m["crime"],
            "from": m["from"],
            "to": m["to"],
            "searches": m["searches"],
            "hot_cells": len(self.hot_cells),
            "find_rule": FIND_RULE,
            "overall": self.overall,
            "rows": [_record(r) for _, r in self.table.iterrows()],
            "synthetic_share": m["hot_spots"]["synthetic_share"],
            "summary": self.summary(),
            "metadata": m,
        }


# -- numeric core ----------------------------------------------------------------
def classify_outcomes(outcomes: Iterable) -> pd.Series:
    """``'find'``, ``'no_find'`` or ``'unknown'`` for each search outcome.

    Examples
    --------
    >>> classify_outcomes(["Arrest", "A no further action disposal", "", None,
    ...                    "Nothing found - no further action"]).tolist()
    ['find', 'no_find', 'unknown', 'unknown', 'no_find']
    """
    s = pd.Series(list(outcomes) if not isinstance(outcomes, pd.Series) else outcomes)
    text = s.astype("object").where(s.notna(), "").astype(str).str.strip()
    out = np.where(
        text == "",
        "unknown",
        np.where(text.str.lower().isin(NO_FURTHER_ACTION), "no_find", "find"),
    )
    return pd.Series(out, index=s.index, dtype="object")


def wilson(count: int, nobs: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of ``count / nobs`` (None when ``nobs`` is 0).

    Examples
    --------
    >>> [round(x, 4) for x in wilson(8, 40)]
    [0.105, 0.3476]
    """
    _check_level(level)
    count, nobs = int(count), int(nobs)
    if nobs < 0 or not 0 <= count <= nobs:
        raise ParameterError(
            f"'count' needs to be between 0 and 'nobs'; got {count} of {nobs}"
        )
    if nobs == 0:
        return None
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(count, nobs, alpha=1 - level, method="wilson")
    # exact ends at 0 and 1 (the formula leaves a rounding error there)
    return (0.0 if count == 0 else float(lo)), (1.0 if count == nobs else float(hi))


def compare_rates(
    finds_in: int, n_in: int, finds_out: int, n_out: int, level: float = 0.95
) -> dict:
    """Difference of two proportions (inside − outside) with an interval and test.

    The interval is Newcombe's hybrid score interval; the p-value is the score
    test of equal proportions, or Fisher's exact test when an expected count is
    below 5. Empty groups give None.
    """
    _check_level(level)
    empty = {"rate_diff": None, "diff_low": None, "diff_high": None,
             "p_value": None, "test": None}
    if n_in == 0 or n_out == 0:
        return empty
    from scipy.stats import fisher_exact
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    p_in, p_out = finds_in / n_in, finds_out / n_out
    lo, hi = confint_proportions_2indep(
        finds_in, n_in, finds_out, n_out, method="newcomb", alpha=1 - level
    )
    pooled = (finds_in + finds_out) / (n_in + n_out)
    expected = np.array([n_in, n_out]) * np.array([[pooled], [1 - pooled]])
    if expected.min() < 5:
        test = "fisher"
        table = [[finds_in, n_in - finds_in], [finds_out, n_out - finds_out]]
        p = float(fisher_exact(table).pvalue)
    else:
        test = "score"
        p = float(
            test_proportions_2indep(
                finds_in, n_in, finds_out, n_out, method="score", compare="diff"
            ).pvalue
        )
    if not np.isfinite(p):  # all finds or none in both groups
        p = 1.0
    return {"rate_diff": p_in - p_out, "diff_low": float(lo),
            "diff_high": float(hi), "p_value": p, "test": test}


def precision_table(
    searches: pd.DataFrame,
    hot_cells: Iterable[str],
    *,
    cell_column: str = "h3_9",
    level: float = 0.95,
) -> pd.DataFrame:
    """Share in hot spots and find rates per borough × month, borough and overall.

    Parameters
    ----------
    searches : pandas.DataFrame
        Stop-and-search rows with ``borough``, ``month``, ``outcome`` and
        ``cell_column``.
    hot_cells : iterable of str
        The hot spot cells.
    cell_column : str
        The column holding each search's cell (same resolution as ``hot_cells``).
    level : float
        Confidence level of the intervals.
    """
    _check_level(level)
    need = {"borough", "month", "outcome", cell_column}
    missing = sorted(need - set(searches.columns))
    if missing:
        raise DataError(f"'searches' needs the columns {', '.join(missing)}")
    hot = set(hot_cells)
    df = pd.DataFrame(
        {
            "borough": searches["borough"].astype("object").fillna("Unknown")
            .to_numpy(),
            "month": searches["month"].astype(str).to_numpy(),
            "hot": searches[cell_column].isin(hot).to_numpy(),
            "kind": classify_outcomes(searches["outcome"]).to_numpy(),
        }
    )
    groups: list[tuple[str, str, pd.DataFrame]] = []
    boroughs = sorted(df["borough"].unique())
    for b in boroughs:
        sub = df[df["borough"] == b]
        groups += [(b, m, g) for m, g in sub.groupby("month", sort=True)]
        groups.append((b, ALL, sub))
    if len(boroughs) > 1:
        groups += [(ALL, m, g) for m, g in df.groupby("month", sort=True)]
        groups.append((ALL, ALL, df))
    rows = [_row(b, m, g, level) for b, m, g in groups]
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


# -- the public function ---------------------------------------------------------
def stop_search_precision(
    area: Area | str,
    crime: str = "robbery",
    start: str | None = None,
    end: str | None = None,
    *,
    level: int = 2,
    hot_cells: Sequence[str] | None = None,
    hot_from: str | None = None,
    hot_to: str | None = None,
    res: int = 9,
    seed: int | None = DEFAULT_SEED,
    confidence: float = 0.95,
    store: Store | None = None,
) -> PrecisionResult:
    """Share of stop-and-search in ``crime`` hot spots, and find rates in vs out.

    Parameters
    ----------
    area : Area or str
        London, a BCU, a borough or a 2022 ward.
    crime : str
        The crime whose hot spots the searches are set against.
    start, end : str, optional
        Inclusive ``YYYY-MM`` months of the searches (default: the months the
        stop-and-search data covers).
    level : {1, 2, 3}
        Hot spot confidence: 1 = 90 %, 2 = 95 %, 3 = 99 % Gi* bins.
    hot_cells : sequence of str, optional
        Use these cells as the hot spots instead of running the analysis.
    hot_from, hot_to : str, optional
        Period of the hot spot analysis (default ``start``…``end``, clipped to
        the months the crime data covers).
    res : int
        H3 resolution of the hot spots (8, 9 or 10).
    seed : int, optional
        Seed of the hot spot analysis' permutations.
    confidence : float
        Confidence level of the intervals.

    Raises
    ------
    ParameterError
        Months outside the stop-and-search data, a bad level or resolution.
    DataError
        No searches in the area and period.
    """
    check_choice("level", level, LEVELS)
    check_choice("res", res, (8, 9, 10))
    _check_level(confidence, "confidence")
    crime_types_for(crime)
    store = store or Store.open()
    area = area if isinstance(area, Area) else resolve_area(area)
    start, end, missing = _search_period(store, start, end, area)
    searches = store.stop_search(
        area=area, start=start, end=end, columns=["borough", "month", "outcome",
                                                  f"h3_{res}"]
    )
    if searches.empty:
        raise DataError(
            f"no stop-and-search records in {area.name} {start}…{end}"
        )
    hot, hot_meta = _hot_spots(
        store, area, crime, start, end, level, hot_cells, hot_from, hot_to, res, seed
    )
    table = precision_table(
        searches, hot, cell_column=f"h3_{res}", level=confidence
    )
    from ..coverage import area_forces

    # the area's police forces with no stop-and-search file at all: their own
    # searches are not in the data (another force's searches there may be)
    filed = set((store.ledger().get("stop_search") or {}).get("files_by_force_month")
                or {})
    absent = [f for f in area_forces(area) if f not in filed]
    meta = _metadata(area, crime, start, end, missing, level, confidence, hot_meta,
                     len(searches), table, absent_forces=absent)
    return PrecisionResult(table, tuple(sorted(hot)), meta)


# -- private steps ---------------------------------------------------------------
def _check_level(level, name: str = "level") -> None:
    if not isinstance(level, float | int) or not 0 < level < 1:
        raise ParameterError(
            f"'{name}' needs to be in (0, 1). {level!r} was given instead."
        )


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _record(row: pd.Series) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, float | np.floating):
            out[k] = None if not math.isfinite(v) else round(float(v), 6)
        elif isinstance(v, np.integer):
            out[k] = int(v)
        elif v is None or (not isinstance(v, str) and pd.isna(v)):
            out[k] = None
        else:
            out[k] = v
    return out


def _row(borough: str, month: str, g: pd.DataFrame, level: float) -> dict:
    n = len(g)
    hot = g["hot"].to_numpy()
    kind = g["kind"].to_numpy()
    known = kind != "unknown"
    find = kind == "find"
    n_in = int(hot.sum())
    k_in, k_out = int((known & hot).sum()), int((known & ~hot).sum())
    f_in, f_out = int((find & hot).sum()), int((find & ~hot).sum())
    share = wilson(n_in, n, level)
    r_in, r_out = wilson(f_in, k_in, level), wilson(f_out, k_out, level)
    return {
        "borough": borough,
        "month": month,
        "searches": n,
        "in_hot": n_in,
        "share_in_hot": n_in / n if n else None,
        "share_ci_low": share[0] if share else None,
        "share_ci_high": share[1] if share else None,
        "known_in": k_in,
        "finds_in": f_in,
        "rate_in": f_in / k_in if k_in else None,
        "rate_in_low": r_in[0] if r_in else None,
        "rate_in_high": r_in[1] if r_in else None,
        "known_out": k_out,
        "finds_out": f_out,
        "rate_out": f_out / k_out if k_out else None,
        "rate_out_low": r_out[0] if r_out else None,
        "rate_out_high": r_out[1] if r_out else None,
        **compare_rates(f_in, k_in, f_out, k_out, level),
        "unknown_outcome": int((~known).sum()),
    }


def _search_period(store, start, end, area) -> tuple[str, str, list[str]]:
    """The period (by default the months the area's police have searches for)
    and its months missing for them (no file of theirs: not zero)."""
    from ..coverage import area_forces, search_months

    forces = [f for f in area_forces(area) if search_months(store, (f,))]
    # a force with no file at all is named in the result (only other forces'
    # searches there are counted); the others' months decide
    have = (search_months(store, forces) if forces else
            sorted((store.ledger().get("stop_search") or {}).get("months") or []))
    if not have:
        raise DataError("the store holds no stop-and-search records")
    start = start or have[0]
    end = end or have[-1]
    months = month_range(start, end)
    if months[-1] < have[0] or months[0] > have[-1]:
        raise ParameterError(
            f"{start}…{end} is outside the stop-and-search data "
            f"({have[0]}…{have[-1]})"
        )
    missing = [m for m in months if m not in set(have)]
    return months[0], months[-1], missing


def _hot_spots(store, area, crime, start, end, level, hot_cells, hot_from, hot_to,
               res, seed) -> tuple[set[str], dict]:
    from ..grid import study_cells

    grid = len(study_cells(area.geometry, res))
    if hot_cells is not None:
        hot = {str(c) for c in ([hot_cells] if isinstance(hot_cells, str)
                                else hot_cells)}
        return hot, {"source": "given", "cells": len(hot), "confidence": "given",
                     "area_share": len(hot) / grid if grid else None,
                     "synthetic_share": None}
    from ..analysis import analyse
    from ..counts import covered_months

    cover = covered_months(store, crime, area)
    a_from, a_to = hot_from or start, hot_to or end
    if not cover or a_from > cover[-1] or a_to < cover[0]:  # nothing to clip to
        raise ParameterError(
            f"no {crime} data for the hot spot period {a_from}…{a_to}"
            + (f" (the data covers {describe_months(cover)}; give --hot-from and "
               "--hot-to within it)" if cover else ""))
    # clip to the crime data (stop and search runs later than robbery)
    a_to = min(a_to, cover[-1])
    a_from = max(min(a_from, a_to), cover[0])
    an = analyse(area, crime, a_from, a_to, res=res, seed=seed, store=store)
    cells = an.hot_cells(level)
    hot = set(cells["h3"].astype(str))
    return hot, {
        "source": "analyse",
        "crime": crime,
        "from": a_from,
        "to": a_to,
        "level": level,
        "confidence": {1: "90 %", 2: "95 %", 3: "99 %"}[level],
        "cells": len(hot),
        "grid_cells": int(len(an.cells)),
        "area_share": len(hot) / len(an.cells) if len(an.cells) else None,
        "offences_in_hot": int(cells["offences"].sum()),
        "offences": int(an.cells["offences"].sum()),
        # months of the hot spot period with no crime data (not read as zero)
        "missing_months": list(an.metadata["period"].get("missing_months") or []),
        "bins": an.bins,
        "synthetic_share": an.metadata["data"]["synthetic_share"],
        "seed": seed,
    }


def _metadata(area, crime, start, end, missing, level, confidence, hot_meta,
              n, table, absent_forces=()) -> dict:
    why = [
        f"Searches: {n:,} police.uk stop-and-search records with a location in "
        f"{area.name}, {start}…{end} (records without a location are quarantined at "
        "ingest and not counted).",
        "Hot spots: "
        + (
            f"{hot_meta['cells']} given cell(s)."
            if hot_meta["source"] == "given"
            else f"{hot_meta['cells']} cell(s) in the Gi* hot bins at "
            f"{hot_meta['confidence']} or above for {crime}, "
            f"{hot_meta['from']}…{hot_meta['to']} (FDR-corrected)."
        ),
        f"Find rule: {FIND_RULE}.",
        f"Intervals: Wilson score ({confidence:.0%}); difference inside − outside "
        "with Newcombe's hybrid score interval; p-value from the score test, or "
        "Fisher's exact test when an expected count is below 5. They treat "
        "searches as independent; searches in one operation or place are not, so "
        "the true uncertainty is somewhat wider.",
        "Monthly rows: their p-values are not adjusted for the months compared (one "
        "month in 20 falls below 0.05 by chance, and few searches make wide "
        "intervals); the whole period's row is the finding.",
    ]
    if not hot_meta["cells"]:
        why.append(
            "No hot spots at this level: every search counts as outside; try a "
            "lower level or a longer hot spot period."
        )
    if missing:
        why.append(
            f"Missing stop-and-search months (no file): {', '.join(missing)}."
        )
    if absent_forces:
        why.append(
            f"Missing: no stop-and-search file of {', '.join(absent_forces)}, a "
            f"police force of {area.name}: its own searches are not counted, only "
            "other forces' searches there.")
    if hot_meta.get("missing_months"):
        why.append(
            f"Missing {crime} months behind the hot spots (no data; left out, not "
            f"read as zero): {describe_months(hot_meta['missing_months'])}.")
    synth = hot_meta.get("synthetic_share") or 0
    if synth > 0:
        why.append(synthetic_note(synth, f"{crime} offences behind the hot spots")
                   + " The searches themselves are real police.uk records.")
    return {
        **run_header(),
        "area": area.to_dict(),
        "crime": crime,
        "crime_types": list(crime_types_for(crime)),
        "from": start,
        "to": end,
        "missing_months": missing,
        "searches": n,
        "level": level,
        "confidence": confidence,
        "hot_spots": hot_meta,
        "find_rule": FIND_RULE,
        "data": {"synthetic_share": synth},
        "why": why,
    }
