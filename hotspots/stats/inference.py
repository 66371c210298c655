"""Multiple-testing control and ArcGIS-style confidence bins.

Thousands of cells are tested at once, so some pass at 95 % by chance alone. The
default is the Benjamini–Hochberg false discovery rate (as ArcGIS's "Apply False
Discovery Rate correction"); Bonferroni (family-wise, very strict) and none are
options. The adjustments are the textbook step-up (BH) and single-step (Bonferroni)
procedures in numpy; statsmodels' ``multipletests`` is their reference in the tests
(importing statsmodels costs a second at start-up, the adjustment microseconds).

Bins follow ArcGIS Hot Spot Analysis: +3/+2/+1 are hot spots at 99/95/90 %
confidence, −3/−2/−1 cold spots, 0 not significant. With FDR, a cell is in the
99 % bin when its BH-adjusted p-value is ≤ 0.01 (the same as running BH at
α = 0.01), and so on.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import check_choice

__all__ = [
    "BIN_COLOURS",
    "BIN_LABELS",
    "CORRECTIONS",
    "LEVELS",
    "adjust",
    "confidence_bins",
    "confidence_label",
    "normal_p",
    "summarise_bins",
]

CORRECTIONS = ("fdr", "bonferroni", "none")
#: two-sided significance levels of the ±3, ±2, ±1 bins
LEVELS = (0.01, 0.05, 0.10)
#: Confidence bin -> legend label (the ArcGIS wording).
BIN_LABELS: dict[int, str] = {
    3: "Hot spot, 99 % confidence",
    2: "Hot spot, 95 % confidence",
    1: "Hot spot, 90 % confidence",
    0: "Not significant",
    -1: "Cold spot, 90 % confidence",
    -2: "Cold spot, 95 % confidence",
    -3: "Cold spot, 99 % confidence",
}


#: Confidence bin -> colour, the one palette of every map (PDF, app, partner file):
#: ArcGIS's hot spot reds, cold spot blues, not significant pale grey.
BIN_COLOURS: dict[int, str] = {
    3: "#d62f27",
    2: "#ed7551",
    1: "#fab984",
    0: "#f2f2f2",
    -1: "#c0ccbe",
    -2: "#849eba",
    -3: "#4575b5",
}


def confidence_label(b: int) -> str:
    """The legend label of a confidence bin (−3…3)."""
    return BIN_LABELS[int(b)]


def adjust(p, method: str = "fdr") -> np.ndarray:
    """Adjusted p-values (NaNs are left as NaN and not counted as tests).

    Examples
    --------
    >>> adjust([0.01, 0.04, 0.03, 0.2]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.2]
    >>> adjust([0.01, 0.04], "bonferroni").tolist()
    [0.02, 0.08]
    """
    check_choice("correction", method, CORRECTIONS)
    p = np.asarray(p, dtype="float64")
    out = p.copy()
    ok = ~np.isnan(p)
    if method == "none" or not ok.any():
        return out
    out[ok] = _bh(p[ok]) if method == "fdr" else np.minimum(1.0, p[ok] * ok.sum())
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values: ``min_{j ≥ i} p_(j) n / j``, at most 1."""
    n = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def normal_p(z) -> np.ndarray:
    """Two-sided standard-normal p-values, ``2 (1 − Φ(|z|)) = erfc(|z| / √2)``.

    Examples
    --------
    >>> normal_p([0.0, 1.959963984540054]).round(6).tolist()
    [1.0, 0.05]
    """
    z = np.abs(np.asarray(z, dtype="float64"))
    return _ERFC(z / math.sqrt(2.0)).astype("float64")


def confidence_bins(z, p_adj, levels=LEVELS) -> np.ndarray:
    """Bins −3…+3 from the direction of ``z`` and the adjusted p-value.

    Examples
    --------
    >>> confidence_bins([2.9, -2.1, 1.7, 0.3], [0.004, 0.03, 0.08, 0.7]).tolist()
    [3, -2, 1, 0]
    """
    z = np.asarray(z, dtype="float64")
    p = np.asarray(p_adj, dtype="float64")
    lv = sorted(levels)
    level = np.zeros(len(z), dtype=np.int8)
    for i, a in enumerate(reversed(lv)):  # 0.10 -> 1, 0.05 -> 2, 0.01 -> 3
        level[np.nan_to_num(p, nan=1.0) <= a] = i + 1
    return (np.sign(z).astype(np.int8) * level).astype(np.int8)


def summarise_bins(bins) -> dict:
    """Counts of hot and cold cells at 99/95/90 % (each level includes the stricter).

    Examples
    --------
    >>> summarise_bins([3, 2, 2, 1, 0, -1, -3])
    {'hot': {'99': 1, '95': 3, '90': 4}, 'cold': {'99': 1, '95': 1, '90': 2}}
    """
    b = np.asarray(bins)
    names = {3: "99", 2: "95", 1: "90"}
    return {
        "hot": {names[v]: int((b >= v).sum()) for v in (3, 2, 1)},
        "cold": {names[v]: int((b <= -v).sum()) for v in (3, 2, 1)},
    }
