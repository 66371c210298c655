"""Impact of a surge against matched control areas, with displacement.

A surge (extra patrols, a precision stop-and-search pilot, …) runs in some H3 cells
for ``length`` months from ``start``. Did crime fall there more than it would have
anyway? :func:`estimate_impact` answers on a cell × month count panel:

1. **Treated units.** A surge in named wards is measured on the wards themselves:
   every offence is assigned by its ward polygon (the store's ``ward_code``), so a
   treated unit is the part of an H3 cell inside the wards, and the offences of a
   border cell that fall outside the wards belong to the buffer, never to the
   treated counts (a surge in ``cells`` uses whole cells). Counting the cells whose
   centres lie in the wards instead would leak treated offences into the buffer
   and untreated ones into the treatment.
2. **Buffer.** The H3 k-ring(s) around the treated cells (and the outside parts of
   border cells) are where crime could be displaced to, or benefits diffuse. They
   are kept out of the controls and get their own estimate.
3. **Controls.** From the remaining cells, controls are matched to the treated cells
   on the pre-period mean monthly count (level) and its linear trend (slope):
   nearest neighbour on the standardised (level, slope), without replacement,
   round-robin over the treated cells in a seeded order. When fewer cells are
   available than asked for (3 per treated cell by default), every available cell
   is used and the result says so: that is no longer matching.
4. **Difference-in-differences.** A count GLM with cell and month fixed effects and
   one treatment term (treated × surge month); ``exp(beta)`` is the rate ratio.
   Poisson, or negative binomial with the dispersion estimated from the Poisson
   fit (Cameron & Trivedi's auxiliary regression). The standard error is the
   larger of the cell-clustered one (robust to overdispersion and to serial
   correlation within a cell, but too small when few cells are treated) and the
   Pearson-scaled model one (quasi-Poisson); the interval is Wald on log scale.
5. **Checks.** A placebo surge in the second half of the pre-period (a pre-trend
   test: it should find nothing), the balance of the matched controls, and the
   Weighted Displacement Quotient of Bowers & Johnson (2003)::

       WDQ = (B_a / C_a - B_b / C_b) / (A_a / C_a - A_b / C_b)

   with A the treated cells, B the buffer, C the controls, b before and a during
   the surge. WDQ < 0: displacement into the buffer; WDQ > 0: diffusion of
   benefits; WDQ > 1: the diffusion is larger than the direct effect. It is only
   read when the treated cells improved relative to the controls (denominator < 0),
   and displacement or diffusion is only worded when the buffer's own interval
   excludes no change; otherwise the reading says the buffer shows no change.

References
----------
Bowers, K. J. & Johnson, S. D. (2003). Measuring the geographical displacement and
diffusion of benefit effects of crime prevention activity. *Journal of
Quantitative Criminology* 19(3), 275–301.
MacKinnon, J. G. & Webb, M. D. (2017). Wild bootstrap inference for wildly
different cluster sizes. *Journal of Applied Econometrics* 32(2), 233–254.
Braga, A. A., Turchan, B., Papachristos, A. V. & Hureau, D. M. (2019). Hot spots
policing of small geographic areas effects on crime. *Campbell Systematic
Reviews* 15(3).
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import h3
import numpy as np
import pandas as pd

from ..areas import Area, resolve_area
from ..config import DEFAULT_SEED, crime_types_for
from ..errors import AreaNotFound, DataError, ParameterError, check_choice
from ..grid import RESOLUTIONS, count_cells, study_cells
from ..months import FIRST_MONTH, describe_months, month_range, shift_month
from ..provenance import run_header, synthetic_note
from ..store import Store

__all__ = [
    "FAMILIES",
    "OUTSIDE",
    "CountPanel",
    "Effect",
    "ImpactResult",
    "count_panel",
    "estimate_impact",
    "impact",
    "surge_cells",
    "ward_panel",
    "wdq",
]

#: Count models for the difference-in-differences.
FAMILIES = ("poisson", "negbin")
#: Controls per treated cell when ``n_controls`` is not given.
DEFAULT_CONTROLS_PER_CELL = 3
#: Largest design (rows × columns) fitted with dense fixed-effect dummies.
_MAX_DESIGN = 40_000_000


# -- results ---------------------------------------------------------------------
@dataclass(frozen=True)
class Effect:
    """One difference-in-differences estimate.

    Attributes
    ----------
    rate_ratio : float
        ``exp(beta)``: the surge-month rate in the group relative to what the
        controls imply (0.7 = 30 % fewer offences).
    ci_low, ci_high : float
        Confidence interval of the rate ratio (level in ``level``).
    p_value : float
        Two-sided Wald test of no effect (rate ratio 1).
    beta, se : float
        The log rate ratio and its (cluster-robust) standard error.
    level : float
        Confidence level, e.g. 0.95.
    cells : int
        Cells of the group that entered the model (cells with no offence in the
        whole window carry no information under cell fixed effects and are left
        out).
    """

    rate_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    beta: float
    se: float
    level: float
    cells: int

    @property
    def percent_change(self) -> float:
        """``100 × (rate ratio − 1)``."""
        return 100.0 * (self.rate_ratio - 1.0)

    @property
    def significant(self) -> bool:
        """True when the interval excludes a rate ratio of 1."""
        return self.ci_high < 1.0 or self.ci_low > 1.0

    def to_dict(self) -> dict:
        return {
            "rate_ratio": _r(self.rate_ratio),
            "ci": [_r(self.ci_low), _r(self.ci_high)],
            "level": self.level,
            "p_value": _r(self.p_value, 6),
            "percent_change": _r(self.percent_change, 2),
            "beta": _r(self.beta),
            "se": _r(self.se),
            "cells": self.cells,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class ImpactResult:
    """The impact of a surge: effect, displacement, checks and audit trail.

    Attributes
    ----------
    effect : Effect
        Treated cells against the matched controls.
    buffer : Effect or None
        Buffer cells against the same controls (None without a buffer).
    placebo : Effect or None
        A fake surge in the second half of the pre-period (None when the
        pre-period is shorter than 4 months).
    wdq : float or None
        Weighted Displacement Quotient (None without a buffer or when undefined).
    wdq_reading : str
        What the WDQ says, in words.
    cells : pandas.DataFrame
        One row per cell used: ``h3, role`` (treated, buffer, control),
        ``pre_level, pre_slope, pre_total, post_total, matched_to``.
    totals : dict
        Offences of each group before and during the surge (A_b, A_a, B_b, B_a,
        C_b, C_a).
    metadata : dict
        Parameters, seed, months, balance and the ``why`` list.
    """

    effect: Effect
    buffer: Effect | None
    placebo: Effect | None
    wdq: float | None
    wdq_reading: str
    cells: pd.DataFrame = field(repr=False)
    totals: dict = field(repr=False)
    metadata: dict = field(repr=False)

    def summary(self) -> list[str]:
        """Plain-language lines for a report or the terminal."""
        e = self.effect
        m = self.metadata
        if m.get("matching") == "all available":
            against = (f"{m['cells']['control']} control cell(s) — not matched: "
                       f"all available cells used, {m['controls_asked']} were asked")
        else:
            against = f"{m['cells']['control']} matched control cell(s)"
        unit = "ward part(s) of cells" if m.get("wards") else "cell(s)"
        lines = [
            f"Surge {m['surge']['from']}…{m['surge']['to']} in "
            f"{m['cells']['treated']} {unit} against {against}: rate ratio "
            f"{e.rate_ratio:.2f} "
            f"({e.level:.0%} CI {e.ci_low:.2f}–{e.ci_high:.2f}, p = {e.p_value:.3g}), "
            f"{e.percent_change:+.0f} %.",
        ]
        if self.buffer is not None:
            b = self.buffer
            lines.append(
                f"Buffer ({m['cells']['buffer']} cells): rate ratio {b.rate_ratio:.2f} "
                f"({b.ci_low:.2f}–{b.ci_high:.2f}); WDQ "
                + ("n/a" if self.wdq is None else f"{self.wdq:.2f}")
                + f" — {self.wdq_reading}"
            )
        if self.placebo is not None:
            p = self.placebo
            lines.append(
                f"Pre-trend placebo: rate ratio {p.rate_ratio:.2f} "
                f"({p.ci_low:.2f}–{p.ci_high:.2f}) — "
                + ("FAILED: the groups diverged before the surge."
                   if p.significant else "passed.")
            )
        lines.extend(x for x in m["why"] if x.startswith("SEMI") or "balance" in x)
        return lines

    def to_json(self) -> dict:
        return {
            "effect": self.effect.to_dict(),
            "buffer": None if self.buffer is None else self.buffer.to_dict(),
            "placebo": None if self.placebo is None else self.placebo.to_dict(),
            "wdq": None if self.wdq is None else _r(self.wdq),
            "wdq_reading": self.wdq_reading,
            "totals": self.totals,
            "synthetic_share": self.metadata["data"]["synthetic_share"],
            "cells": self.cells.astype(object)
            .where(self.cells.notna(), None)
            .to_dict(orient="records"),
            "summary": self.summary(),
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class CountPanel:
    """Offences per H3 cell and month over a zero-filled study grid.

    Attributes
    ----------
    counts : pandas.DataFrame
        Index ``h3`` (every cell of the study grid), one column per ``YYYY-MM``.
    area : Area
    crime : str
    res : int
    synthetic_share : float
        Share of the counted offences that are synthetic rows.
    """

    counts: pd.DataFrame = field(repr=False)
    area: Area
    crime: str
    res: int
    synthetic_share: float


# -- public functions ------------------------------------------------------------
def count_panel(
    area: Area | str,
    crime: str,
    start: str,
    end: str,
    *,
    res: int = 9,
    store: Store | None = None,
) -> CountPanel:
    """The zero-filled cell × month panel of ``crime`` in ``area``.

    The grid is :func:`hotspots.grid.study_cells` of the area plus every cell that
    holds one of the offences, so every cell keeps its zeros.
    """
    check_choice("res", res, tuple(r for r in RESOLUTIONS if r != 7))
    crime_types_for(crime)
    store = store or Store.open()
    area = area if isinstance(area, Area) else resolve_area(area)
    months = month_range(start, end)
    col = f"h3_{res}"
    df = store.offences(
        area=area,
        crime=crime,
        start=months[0],
        end=months[-1],
        columns=[col, "month", "synthetic"],
    )
    cells = study_cells(area.geometry, res, include=df[col].unique())
    index = pd.Index(cells, name="h3")
    values = np.zeros((len(cells), len(months)))
    for j, m in enumerate(months):
        values[:, j] = count_cells(cells, df.loc[df["month"] == m, col])
    counts = pd.DataFrame(values, index=index, columns=months)
    synth = float(df["synthetic"].mean()) if len(df) else 0.0
    return CountPanel(counts, area, crime, res, round(synth, 4))


def surge_cells(areas: Sequence[Area | str], res: int = 9) -> list[str]:
    """The H3 cells whose centres lie in the given wards (or other areas).

    Examples
    --------
    >>> import shapely
    >>> from hotspots.areas import Area
    >>> box = shapely.box(-0.20, 51.40, -0.19, 51.41)
    >>> a = Area("ward", "E05000001", "Box", ("Merton",), ("E05000001",), box)
    >>> len(surge_cells([a], res=9)) > 5
    True
    """
    check_choice("res", res, RESOLUTIONS)
    out: set[str] = set()
    for a in areas:
        a = a if isinstance(a, Area) else resolve_area(a)
        out.update(study_cells(a.geometry, res))
    return sorted(out)


def estimate_impact(
    counts: pd.DataFrame,
    treated: Sequence[str],
    start: str,
    length: int,
    *,
    pre_months: int = 12,
    buffer_k: int = 1,
    n_controls: int | None = None,
    seed: int | None = DEFAULT_SEED,
    family: str = "poisson",
    level: float = 0.95,
    synthetic_share: float = 0.0,
    context: dict | None = None,
    buffer_units: Sequence[str] = (),
) -> ImpactResult:
    """Difference-in-differences impact of a surge against matched controls.

    Parameters
    ----------
    counts : pandas.DataFrame
        Cell × month panel: index H3 cell ids, columns consecutive ``YYYY-MM``
        (see :func:`count_panel`). A long frame with columns ``h3, month, count``
        is accepted too.
    treated : sequence of str
        The surge cells (see :func:`surge_cells` for the cells of wards).
    start : str
        First surge month, ``YYYY-MM``.
    length : int
        Surge months (≥ 1).
    pre_months : int
        Months before ``start`` used for matching and as the "before" period.
    buffer_k : int
        Rings of cells around the treated cells kept out of the controls and
        tested for displacement (0: no buffer).
    n_controls : int, optional
        Control cells to match in total (default 3 per treated cell, capped by the
        cells available); at least one per treated cell.
    seed : int, optional
        Seed of the order in which treated cells pick their controls.
    family : {'poisson', 'negbin'}
        Count model (Poisson with cell-clustered errors, or negative binomial).
    level : float
        Confidence level of the intervals.
    synthetic_share : float
        Share of synthetic offence rows behind ``counts`` (carried to metadata).
    context : dict, optional
        Extra entries for the metadata (area, crime, resolution …).
    buffer_units : sequence of str, optional
        Further rows of ``counts`` that belong to the buffer (the parts of border
        cells outside surge wards), kept out of the controls.

    Returns
    -------
    ImpactResult

    Raises
    ------
    ParameterError
        Unknown or empty treated cells, months outside the data, ``length`` < 1,
        too few candidate controls, an unknown family.
    DataError
        A panel that is not a cell × month table of counts, or no offences in the
        treated cells during the window.
    """
    check_choice("family", family, FAMILIES)
    if not 0 < level < 1:
        raise ParameterError(f"'level' needs to be in (0, 1). {level!r} was given.")
    panel = _as_panel(counts)
    treated = _check_treated(panel, treated)
    pre, post = _periods(panel, start, length, pre_months)
    buffer = _buffer(panel, treated, buffer_k)
    extra = [str(b) for b in buffer_units if str(b) in panel.index]
    buffer = list(dict.fromkeys(buffer + (extra if buffer_k else [])))
    pool = panel.index.difference(pd.Index(treated)).difference(pd.Index(buffer))
    pool = pool.difference(pd.Index(extra))
    asked = _asked_controls(n_controls, len(treated))
    n_controls = _check_controls(n_controls, len(treated), len(pool), buffer_k)
    feats = _pre_features(panel[pre])
    controls, matched_to = _match(feats, treated, pool, n_controls, seed)

    window = pre + post
    y = panel[window]
    post_mask = np.r_[np.zeros(len(pre), bool), np.ones(len(post), bool)]
    skipped: list[str] = []
    with _one_blas_thread(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        effect, alpha = _did(y, treated, controls, post_mask, family, level)
        buf = None
        if buffer:
            try:
                buf = _did(y, buffer, controls, post_mask, family, level, "buffer")[0]
            except DataError as exc:
                skipped.append(f"Buffer effect not estimated: {exc}.")
        placebo = None
        if len(pre) >= 4:
            half = len(pre) // 2
            fake = np.r_[np.zeros(len(pre) - half, bool), np.ones(half, bool)]
            try:
                placebo = _did(
                    panel[pre], treated, controls, fake, family, level, "placebo"
                )[0]
            except DataError as exc:
                skipped.append(f"Pre-trend placebo not estimated: {exc}.")
    notes = sorted({str(w.message).splitlines()[0] for w in caught})

    totals = _totals(panel, treated, buffer, controls, pre, post)
    q = wdq(**totals) if buffer else None
    reading = _wdq_reading(q, totals, bool(buffer), effect, buf)
    table = _cell_table(panel, feats, treated, buffer, controls, matched_to, pre, post)
    balance = _balance(feats, treated, controls)
    meta = _metadata(
        start, length, pre, post, buffer_k, n_controls, seed, family, level, alpha,
        treated, buffer, controls, balance, synthetic_share, context, notes, effect,
        placebo, skipped,
    )
    meta["controls_asked"] = asked
    meta["matching"] = "matched" if asked <= len(controls) else "all available"
    if asked > len(controls):
        meta["why"].insert(2, _shortfall(len(controls), asked, len(treated)))
    return ImpactResult(effect, buf, placebo, q, reading, table, totals, meta)


def impact(
    area: Area | str,
    crime: str,
    start: str,
    length: int,
    *,
    cells: Sequence[str] = (),
    wards: Sequence[str] = (),
    res: int = 9,
    pre_months: int = 12,
    buffer_k: int = 1,
    n_controls: int | None = None,
    seed: int | None = DEFAULT_SEED,
    family: str = "poisson",
    level: float = 0.95,
    store: Store | None = None,
    offences: pd.DataFrame | None = None,
) -> ImpactResult:
    """Impact of a surge in ``cells`` and/or ``wards`` of ``area`` on ``crime``.

    Reads the offences once (a :class:`~hotspots.study.Study` over the
    ``pre_months`` before ``start`` and the ``length`` surge months), assigns the
    surge wards' offences by ward polygon (:func:`ward_panel`) and calls
    :func:`estimate_impact`. Controls come from the rest of ``area``.

    Parameters
    ----------
    offences : DataFrame, optional
        The offences to use instead of the store's (``month``, ``ward_code``,
        ``crime_type`` and ``h3_<res>``): a what-if, e.g. an injected effect.
    """
    from ..study import Study

    _check_lengths(length, pre_months)
    if isinstance(cells, str):
        cells = [cells]
    if isinstance(wards, str):
        wards = [wards]
    if not cells and not wards:
        raise ParameterError("a surge needs its 'cells' or 'wards'; none were given")
    crime_types_for(crime)
    check_choice("res", res, tuple(r for r in RESOLUTIONS if r != 7))
    months = month_range(start, start)
    first = shift_month(months[0], -pre_months)
    last = shift_month(months[0], length - 1)
    area = area if isinstance(area, Area) else resolve_area(area)
    surge_wards = _resolve_wards(area, wards)
    if offences is None:
        store = store or Store.open()
        _check_months_in_store(store, crime, first, last, start, area)
        study = Study.load(area, crime, first, last, res=res, store=store,
                           fields=("month", "ward_code", "synthetic"))
    else:
        study = Study.from_offences(area, offences, crime=crime, res=res,
                                    months=month_range(first, last))
    if study.missing:
        raise ParameterError(
            f"no {crime} data for {describe_months(study.missing)}: the impact "
            "needs every month from the pre-period to the end of the surge")
    codes = sorted({c for w in surge_wards for c in w.ward_codes})
    panel, treated, outside = ward_panel(
        study, codes, surge_cells(surge_wards, res) if surge_wards else [], cells)
    return estimate_impact(
        panel,
        treated,
        start,
        length,
        pre_months=pre_months,
        buffer_k=buffer_k,
        n_controls=n_controls,
        seed=seed,
        family=family,
        level=level,
        synthetic_share=round(study.synthetic_share, 4),
        buffer_units=outside,
        context={
            "area": area.to_dict(),
            "crime": crime,
            "crime_types": list(crime_types_for(crime)),
            "resolution": res,
            "wards": [w.name for w in surge_wards],
            "assignment": ("offences in the surge wards by ward polygon; the parts "
                           "of border cells outside the wards are buffer")
            if surge_wards else "whole cells",
        },
    )


#: Suffix of a border cell's row holding its offences outside the surge wards.
OUTSIDE = " (outside the wards)"


def ward_panel(study, ward_codes: Sequence[str], ward_cells: Sequence[str] = (),
               cells: Sequence[str] = ()) -> tuple[pd.DataFrame, list, list]:
    """The cell × month panel with surge-ward offences assigned by ward polygon.

    Parameters
    ----------
    study : Study
        Offences with ``cell``, ``month`` and ``ward_code`` on the study grid.
    ward_codes : sequence of str
        The surge wards (2022 codes).
    ward_cells : sequence of str
        Cells whose centres lie in those wards (treated even with no offence).
    cells : sequence of str
        Surge cells treated whole.

    Returns
    -------
    panel : DataFrame
        Index unit ids, one column per month. A treated cell's row holds only the
        offences inside the surge wards; the rest of that cell's offences are in a
        row ``"<cell> (outside the wards)"``.
    treated : list of str
        Treated rows.
    outside : list of str
        The outside rows (buffer).
    """
    grid = study.grid
    ids = np.asarray(grid.cells, dtype=object)
    months = list(study.months)
    off = study.offences
    n, T = len(ids), len(months)
    t = pd.Index(months).get_indexer(off["month"])
    cell = off["cell"].to_numpy()
    inside = off["ward_code"].isin(set(ward_codes)).to_numpy() if len(ward_codes) \
        else np.zeros(len(off), dtype=bool)
    whole = {str(c) for c in cells}
    pos_whole = grid.index_of(list(whole)) if whole else np.zeros(0, np.int64)
    unknown = [c for c, p in zip(whole, pos_whole, strict=True) if p < 0]
    if unknown:
        raise ParameterError(
            f"{len(unknown)} surge cell(s) are not in the study grid: "
            f"{', '.join(sorted(unknown)[:5])}; another area or resolution?")
    is_whole = np.zeros(n, dtype=bool)
    is_whole[pos_whole] = True
    in_ward_cells = np.zeros(n, dtype=bool)
    wc = grid.index_of(list(ward_cells)) if len(ward_cells) else np.zeros(0, np.int64)
    in_ward_cells[wc[wc >= 0]] = True
    in_ward_cells[cell[inside]] = True
    in_ward_cells &= ~is_whole
    # units: every cell; plus an outside row for each ward-treated cell
    split = in_ward_cells[cell] & ~inside  # outside offences of a treated cell
    counts = np.zeros((n, T))
    np.add.at(counts, (cell[~split], t[~split]), 1.0)
    out_counts = np.zeros((n, T))
    np.add.at(out_counts, (cell[split], t[split]), 1.0)
    has_out = in_ward_cells & (out_counts.sum(axis=1) > 0)
    index = list(ids) + [f"{c}{OUTSIDE}" for c in ids[has_out]]
    values = np.vstack([counts, out_counts[has_out]])
    panel = pd.DataFrame(values, index=pd.Index(index, name="h3"), columns=months)
    treated = sorted(set(ids[in_ward_cells]) | whole)
    outside = [f"{c}{OUTSIDE}" for c in ids[has_out]]
    return panel, treated, outside


def wdq(A_b, A_a, B_b, B_a, C_b, C_a) -> float | None:  # noqa: N803 - B&J's names
    """Weighted Displacement Quotient (Bowers & Johnson 2003).

    ``(B_a/C_a − B_b/C_b) / (A_a/C_a − A_b/C_b)``; None when a control total is
    zero or the treated area did not change relative to the controls.

    Examples
    --------
    Treated 100 → 60, buffer 50 → 45, controls 200 → 200:

    >>> round(wdq(100, 60, 50, 45, 200, 200), 4)
    0.125
    """
    if C_b <= 0 or C_a <= 0:
        return None
    den = A_a / C_a - A_b / C_b
    if den == 0:
        return None
    return float((B_a / C_a - B_b / C_b) / den)


# -- private steps ---------------------------------------------------------------
def _r(x, nd: int = 4):
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def _as_panel(counts) -> pd.DataFrame:
    if isinstance(counts, CountPanel):
        counts = counts.counts
    if not isinstance(counts, pd.DataFrame):
        raise DataError(
            "'counts' needs to be a cell × month DataFrame; got "
            f"{type(counts).__name__}"
        )
    if {"h3", "month", "count"} <= set(counts.columns):
        counts = counts.pivot_table(
            index="h3", columns="month", values="count", aggfunc="sum", fill_value=0
        )
    cols = [str(c) for c in counts.columns]
    try:
        expected = month_range(min(cols), max(cols)) if cols else []
    except ParameterError as exc:
        raise DataError(
            "'counts' columns need to be months 'YYYY-MM'; got "
            f"{cols[:3]}{'…' if len(cols) > 3 else ''}"
        ) from exc
    if cols != expected:
        missing = sorted(set(expected) - set(cols))
        if missing:
            raise DataError(
                f"'counts' needs consecutive months; missing {', '.join(missing[:5])}"
            )
        counts = counts.set_axis(cols, axis=1)[expected]
    panel = counts.set_axis(expected, axis=1).astype("float64")
    if panel.index.has_duplicates:
        raise DataError("'counts' has duplicate cells in its index")
    v = panel.to_numpy()
    if (~np.isfinite(v)).any() or (v < 0).any():
        raise DataError("'counts' needs finite, non-negative counts")
    panel.index = panel.index.astype(str)
    panel.index.name = "h3"
    return panel


def _check_treated(panel: pd.DataFrame, treated) -> list[str]:
    if isinstance(treated, str):
        treated = [treated]
    # H3 ids are hex: '89194AC345BFFFF' is the cell the panel names in lower case
    treated = list(dict.fromkeys(str(c).strip().lower() for c in treated))
    if not treated:
        raise ParameterError("'treated' needs at least one cell; none were given")
    unknown = [c for c in treated if c not in panel.index]
    if unknown:
        bad = [c for c in unknown if not h3.is_valid_cell(c)]
        what = (
            f"{len(bad)} are not H3 cell ids ({', '.join(bad[:5])})"
            if bad
            else "they are outside the study grid (another area or resolution?)"
        )
        raise ParameterError(
            f"{len(unknown)} treated cell(s) are not in the count panel: "
            f"{', '.join(unknown[:5])}{'…' if len(unknown) > 5 else ''}; {what}"
        )
    return treated


#: Longest surge or pre-period: 25 years of months.
MAX_MONTHS = 300


def _check_lengths(length, pre_months) -> None:
    """Surge length ≥ 1 month and pre-period ≥ 2 months, as whole numbers."""
    if not isinstance(length, int | np.integer) or length < 1:
        raise ParameterError(
            f"'length' needs to be a whole number of months ≥ 1. {length!r} was "
            "given instead."
        )
    if not isinstance(pre_months, int | np.integer) or pre_months < 2:
        raise ParameterError(
            f"'pre_months' needs to be a whole number ≥ 2. {pre_months!r} was "
            "given instead."
        )
    for name, n in (("length", length), ("pre_months", pre_months)):
        if n > MAX_MONTHS:  # no police.uk data holds more
            raise ParameterError(
                f"{name!r} needs to be at most {MAX_MONTHS} months (police.uk data "
                f"began in {FIRST_MONTH}). {n!r} was given instead.")


def _periods(panel, start, length, pre_months) -> tuple[list[str], list[str]]:
    _check_lengths(length, pre_months)
    months = list(panel.columns)
    month_range(start, start)  # validates the format
    if start not in months:
        raise ParameterError(
            f"the surge start {start!r} is outside the data ({months[0]}…"
            f"{months[-1]})"
        )
    i = months.index(start)
    if i < pre_months:
        raise ParameterError(
            f"{pre_months} pre-period months are needed before {start}, but the data "
            f"starts {months[0]} ({i} month(s) before); lower 'pre_months' or start "
            "later"
        )
    if i + length > len(months):
        last = month_range(start, "2999-12")[length - 1]
        raise ParameterError(
            f"the surge runs {start}…{last} but the data ends {months[-1]}"
        )
    return months[i - pre_months : i], months[i : i + length]


def _buffer(panel, treated, k) -> list[str]:
    if not isinstance(k, int | np.integer) or k < 0:
        raise ParameterError(
            f"'buffer_k' needs to be a whole number ≥ 0. {k!r} was given instead."
        )
    if k == 0:
        return []
    ring: set[str] = set()
    for c in treated:
        ring.update(h3.grid_disk(c, int(k)))
    ring -= set(treated)
    return sorted(c for c in ring if c in panel.index)


def _asked_controls(n_controls, n_treated) -> int:
    if n_controls is None:
        return DEFAULT_CONTROLS_PER_CELL * n_treated
    return int(n_controls) if isinstance(n_controls, int | np.integer) else 0


def _shortfall(used: int, asked: int, n_treated: int) -> str:
    per = asked / n_treated if n_treated else 0
    return (f"Matching could not be done: all {used} available cells are used as "
            f"controls; {asked} were asked ({per:g} per treated cell). The "
            "controls are the rest of the area, not a matched sample.")


def _check_controls(n_controls, n_treated, n_pool, buffer_k) -> int:
    if n_pool < n_treated:
        raise ParameterError(
            f"too few control cells: {n_pool} cell(s) lie outside the {n_treated} "
            f"treated cell(s) and their {buffer_k}-ring buffer, at least {n_treated} "
            "are needed; use a larger area, fewer treated cells or a smaller buffer"
        )
    if n_controls is None:
        n_controls = DEFAULT_CONTROLS_PER_CELL * n_treated
    if not isinstance(n_controls, int | np.integer) or n_controls < n_treated:
        raise ParameterError(
            f"'n_controls' needs to be a whole number ≥ the {n_treated} treated "
            f"cell(s). {n_controls!r} was given instead."
        )
    return int(min(n_controls, n_pool))


def _pre_features(pre: pd.DataFrame) -> pd.DataFrame:
    """Mean monthly count and least-squares slope per month over the pre-period."""
    v = pre.to_numpy()
    t = np.arange(v.shape[1], dtype="float64")
    t -= t.mean()
    slope = (v * t).sum(axis=1) / (t**2).sum()
    return pd.DataFrame({"level": v.mean(axis=1), "slope": slope}, index=pre.index)


def _match(feats, treated, pool, n_controls, seed) -> tuple[list[str], dict]:
    """Greedy nearest neighbours on standardised (level, slope), no replacement."""
    both = feats.loc[list(treated) + list(pool)]
    sd = both.std(ddof=0).replace(0, 1.0).to_numpy()
    mu = both.mean().to_numpy()
    zt = (feats.loc[treated].to_numpy() - mu) / sd
    zp = (feats.loc[pool].to_numpy() - mu) / sd
    dist = np.sqrt(((zt[:, None, :] - zp[None, :, :]) ** 2).sum(axis=2))
    # ties (many empty cells) broken by a seeded jitter in the order, not by index
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(len(pool)) * 1e-9
    order = np.argsort(dist + tiebreak[None, :], axis=1, kind="stable")
    used = np.zeros(len(pool), bool)
    ptr = np.zeros(len(treated), int)
    turn = rng.permutation(len(treated))
    pool = list(pool)
    chosen: list[str] = []
    matched_to: dict[str, str] = {}
    while len(chosen) < n_controls:
        for i in turn:
            if len(chosen) >= n_controls:
                break
            while used[order[i, ptr[i]]]:
                ptr[i] += 1
            j = order[i, ptr[i]]
            used[j] = True
            chosen.append(pool[j])
            matched_to[pool[j]] = treated[i]
    return sorted(chosen), matched_to


def _one_blas_thread():
    """Small dense fits run faster (and steadier on a busy machine) on one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _did(
    y: pd.DataFrame, group, controls, post_mask, family, level, name="treated"
):
    """Two-way fixed-effects count DiD of ``group`` vs ``controls``."""
    import statsmodels.api as sm

    cells = list(group) + list(controls)
    v = y.loc[cells].to_numpy()
    is_group = np.r_[np.ones(len(group), bool), np.zeros(len(controls), bool)]
    keep = v.sum(axis=1) > 0  # all-zero cells have no information with cell FE
    if not keep[is_group].any():
        raise DataError(
            f"no offences in the {name} cells during the study window; "
            "there is nothing to estimate"
        )
    if not keep[~is_group].any():
        raise DataError("no offences in the control cells during the study window")
    g = v[is_group]
    during, before = g[:, post_mask].sum(), g[:, ~post_mask].sum()
    if during == 0 or before == 0:
        when = "during the surge" if during == 0 else "before the surge"
        raise DataError(
            f"no offences in the {name} cells {when}, so the rate ratio is "
            f"{'0' if during == 0 else 'unbounded'} and has no interval from this "
            "model; use a longer period, a larger surge area or a coarser grid"
        )
    v, is_group = v[keep], is_group[keep]
    n, t = v.shape
    p = n + t
    if n * t * p > _MAX_DESIGN:
        raise ParameterError(
            f"the model has {n} cells × {t} months: too large to fit with fixed "
            "effects here; use fewer controls, a shorter window or a coarser grid"
        )
    rows = n * t
    cell_idx = np.repeat(np.arange(n), t)
    month_idx = np.tile(np.arange(t), n)
    r = np.arange(rows)
    # columns: constant, treatment, cells 1..n-1, months 1..t-1 (first = reference)
    X = np.zeros((rows, p))
    X[:, 0] = 1.0
    X[:, 1] = (is_group[cell_idx] & post_mask[month_idx]).astype(float)
    c = cell_idx > 0
    X[r[c], 1 + cell_idx[c]] = 1.0
    m = month_idx > 0
    X[r[m], n + month_idx[m]] = 1.0
    yy = v.reshape(-1)
    pois = sm.GLM(yy, X, family=sm.families.Poisson())
    fit = pois.fit(cov_type="cluster", cov_kwds={"groups": cell_idx})
    alpha = None
    if family == "negbin":
        mu = fit.fittedvalues
        alpha = float(max(((yy - mu) ** 2 - yy).sum() / (mu**2).sum(), 1e-8))
        nb = sm.GLM(yy, X, family=sm.families.NegativeBinomial(alpha=alpha))
        fit = nb.fit(cov_type="cluster", cov_kwds={"groups": cell_idx})
    beta = float(fit.params[1])
    # Cluster-robust errors under-cover when few cells are treated (MacKinnon &
    # Webb 2017); the Pearson-scaled model error does not, but ignores serial
    # correlation. Take the larger of the two.
    scale = float(fit.pearson_chi2 / max(fit.df_resid, 1))
    se_model = math.sqrt(max(float(fit.normalized_cov_params[1, 1]) * scale, 0.0))
    se = max(float(fit.bse[1]), se_model)
    if not np.isfinite(se) or se <= 0:
        raise DataError("the model did not converge (no variation to estimate from)")
    from scipy.stats import norm

    zq = float(norm.ppf(0.5 + level / 2))
    lo, hi = beta - zq * se, beta + zq * se
    pval = float(2 * norm.sf(abs(beta) / se))
    return (
        Effect(
            rate_ratio=math.exp(beta),
            ci_low=math.exp(lo),
            ci_high=math.exp(hi),
            p_value=pval,
            beta=beta,
            se=se,
            level=level,
            cells=int(is_group.sum()),
        ),
        alpha,
    )


def _totals(panel, treated, buffer, controls, pre, post) -> dict:
    def tot(cells, months):
        return float(panel.loc[list(cells), months].to_numpy().sum()) if cells else 0.0

    return {
        "A_b": tot(treated, pre),
        "A_a": tot(treated, post),
        "B_b": tot(buffer, pre),
        "B_a": tot(buffer, post),
        "C_b": tot(controls, pre),
        "C_a": tot(controls, post),
    }


def _wdq_reading(q, totals, has_buffer, effect: Effect | None = None,
                 buffer: Effect | None = None) -> str:
    if not has_buffer:
        return "no buffer: displacement not assessed"
    if buffer is not None and not buffer.significant:
        return (
            "no evidence of displacement or diffusion of benefits: the buffer's rate "
            f"ratio {buffer.rate_ratio:.2f} ({buffer.ci_low:.2f}–{buffer.ci_high:.2f}) "
            "includes no change"
        )
    if q is None:
        return "undefined: no change in the treated cells relative to the controls"
    if totals["A_a"] / totals["C_a"] - totals["A_b"] / totals["C_b"] >= 0:
        return (
            "not interpretable: crime did not fall in the treated cells relative to "
            "the controls"
        )
    if q < 0:
        text = "displacement: crime rose in the buffer relative to the controls"
    elif q == 0:
        text = "no displacement and no diffusion of benefits"
    elif q > 1:
        text = "diffusion of benefits larger than the direct effect"
    else:
        text = "diffusion of benefits: crime fell in the buffer too"
    if effect is not None and not effect.significant:
        text += (
            " (but the fall in the treated cells is not statistically significant, "
            "so read this with care)"
        )
    return text


def _cell_table(panel, feats, treated, buffer, controls, matched_to, pre, post):
    roles = (
        [(c, "treated") for c in treated]
        + [(c, "buffer") for c in buffer]
        + [(c, "control") for c in controls]
    )
    cells = [c for c, _ in roles]
    return pd.DataFrame(
        {
            "h3": cells,
            "role": [r for _, r in roles],
            "pre_level": feats.loc[cells, "level"].round(4).to_numpy(),
            "pre_slope": feats.loc[cells, "slope"].round(4).to_numpy(),
            "pre_total": panel.loc[cells, pre].sum(axis=1).to_numpy(),
            "post_total": panel.loc[cells, post].sum(axis=1).to_numpy(),
            "matched_to": [matched_to.get(c) for c in cells],
        }
    )


def _balance(feats, treated, controls) -> dict:
    out = {}
    for col in ("level", "slope"):
        a = feats.loc[treated, col]
        b = feats.loc[controls, col]
        pooled = math.sqrt((a.var(ddof=0) + b.var(ddof=0)) / 2)
        smd = (a.mean() - b.mean()) / pooled if pooled > 0 else 0.0
        out[col] = {
            "treated_mean": _r(a.mean()),
            "control_mean": _r(b.mean()),
            "smd": _r(smd),
        }
    return out


def _resolve_wards(area: Area, wards: Sequence[str]) -> list[Area]:
    """Ward names or codes, looked up among the wards of ``area`` first."""
    from ..areas import load_wards

    if not wards:
        return []
    table = load_wards()
    table = table[table["ward_code"].isin(area.ward_codes)]
    names = table["ward_name"].map(_norm_name)
    out: list[Area] = []
    for w in wards:
        text = str(w).strip()
        hit = table[(names == _norm_name(text)) | (table["ward_code"] == text)]
        if len(hit) == 1:
            out.append(resolve_area(hit["ward_code"].iloc[0]))
            continue
        try:
            ward = resolve_area(text)
        except AreaNotFound as exc:
            raise AreaNotFound(f"surge ward {text!r} not found: {exc}") from None
        if ward.kind != "ward" or not set(ward.ward_codes) <= set(area.ward_codes):
            raise AreaNotFound(
                f"surge ward {text!r} is not a ward of {area.name}; name wards inside "
                "the area (the controls come from the rest of the area)"
            )
        out.append(ward)
    return out


def _norm_name(text: str) -> str:
    text = str(text).lower().replace("&", "and").replace("’", "'")
    return re.sub(r"[^a-z0-9']+", " ", text).strip()


def _check_months_in_store(
    store: Store, crime: str, first: str, last: str, start: str, area=None
) -> None:
    from ..counts import covered_months

    try:
        have = covered_months(store, crime, area)
    except (KeyError, TypeError):
        have = []
    have = have or store.months()
    if not have:
        raise ParameterError("the store holds no offences")
    if start < have[0] or start > have[-1]:
        raise ParameterError(
            f"the surge start {start!r} is outside the data ({have[0]}…{have[-1]})"
        )
    if first < have[0]:
        raise ParameterError(
            f"the pre-period needs months from {first}, but the data starts {have[0]}; "
            "lower 'pre_months' or start later"
        )
    if last > have[-1]:
        raise ParameterError(
            f"the surge runs {start}…{last} but the data ends {have[-1]}"
        )


def _metadata(
    start, length, pre, post, buffer_k, n_controls, seed, family, level, alpha,
    treated, buffer, controls, balance, synth, context, notes, effect, placebo,
    skipped=(),
) -> dict:
    model = (
        "Poisson GLM, cell and month fixed effects, SE the larger of cell-clustered "
        "and Pearson-scaled"
        if family == "poisson"
        else f"negative binomial GLM (alpha {alpha:.3g} from the Poisson fit), cell "
        "and month fixed effects, SE the larger of cell-clustered and Pearson-scaled"
    )
    why = [
        f"Before: {pre[0]}…{pre[-1]} ({len(pre)} months); surge: {post[0]}…{post[-1]} "
        f"({len(post)} months).",
        f"Treated: {len(treated)} cell(s); buffer: {len(buffer)} cell(s) within "
        f"{buffer_k} ring(s), kept out of the controls"
        + (" (no buffer)." if not buffer_k else "."),
        f"Controls: {len(controls)} cell(s) matched on pre-period level and trend "
        f"(nearest neighbour on standardised values, no replacement, seed {seed}).",
        f"Pre-period balance: mean monthly count {balance['level']['treated_mean']} "
        f"treated vs {balance['level']['control_mean']} controls (standardised "
        f"difference {balance['level']['smd']}).",
        f"Model: {model}; effect = exp(beta) of treated × surge months.",
    ]
    smd = balance["level"]["smd"]
    if smd is not None and abs(smd) > 0.25:
        why.append(
            "Poor balance: the controls' pre-period level differs from the treated "
            "cells' by more than 0.25 standard deviations; read the effect with care "
            "(regression to the mean)."
        )
    if placebo is not None and placebo.significant:
        why.append(
            "Pre-trend check failed: a placebo surge in the pre-period finds an "
            "effect, so the controls are not a good counterfactual."
        )
    why.extend(skipped)
    if effect.cells < len(treated):
        why.append(
            f"{len(treated) - effect.cells} treated cell(s) had no offences in the "
            "window and carry no information."
        )
    if note := synthetic_note(synth):
        why.append(note)
    return {
        **run_header(),
        **(context or {}),
        "method": "difference-in-differences vs matched controls",
        "family": family,
        "nb_alpha": alpha,
        "level": level,
        "seed": seed,
        "surge": {"from": post[0], "to": post[-1], "months": len(post)},
        "pre": {"from": pre[0], "to": pre[-1], "months": len(pre)},
        "buffer_k": buffer_k,
        "n_controls": n_controls,
        "cells": {
            "treated": len(treated),
            "buffer": len(buffer),
            "control": len(controls),
        },
        "treated_cells": list(treated),
        "balance": balance,
        "placebo": "fake surge over the last half of the pre-period",
        "warnings": notes,
        "data": {"synthetic_share": synth},
        "why": why,
    }
