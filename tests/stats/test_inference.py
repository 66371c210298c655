"""FDR / Bonferroni against hand computations, and the confidence bins."""

from __future__ import annotations

import numpy as np
import pytest

from hotspots.errors import ParameterError
from hotspots.stats.inference import (
    adjust,
    confidence_bins,
    normal_p,
    summarise_bins,
)


def test_fdr_matches_a_hand_computation():
    # BH by hand, m = 5: sorted p 0.001, 0.008, 0.039, 0.041, 0.6
    # q_(i) = min_{j>=i} p_(j) * m / j
    #   0.6*5/5 = 0.6 ; 0.041*5/4 = 0.05125 ; 0.039*5/3 = 0.065 -> min(0.065, 0.05125)
    #   0.008*5/2 = 0.02 ; 0.001*5/1 = 0.005
    p = np.array([0.039, 0.001, 0.6, 0.041, 0.008])
    q = adjust(p, "fdr")
    assert q == pytest.approx([0.05125, 0.005, 0.6, 0.05125, 0.02])


@pytest.mark.parametrize(("ours", "theirs"), [("fdr", "fdr_bh"),
                                              ("bonferroni", "bonferroni")])
def test_adjustments_equal_statsmodels(ours, theirs):
    """statsmodels' multipletests is the reference (ties, zeros and ones included)."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(5)
    p = np.r_[rng.uniform(size=500), rng.uniform(size=200) ** 6, [0.0, 1.0, 0.2, 0.2]]
    assert adjust(p, ours) == pytest.approx(multipletests(p, method=theirs)[1],
                                            rel=1e-12, abs=1e-15)


def test_normal_p_equals_scipy():
    from scipy import stats

    z = np.r_[np.linspace(-9, 9, 181), [0.0, 1.96, -2.576]]
    assert normal_p(z) == pytest.approx(2 * stats.norm.sf(np.abs(z)), rel=1e-12,
                                        abs=1e-300)


def test_bonferroni_multiplies_and_caps_at_one():
    assert adjust([0.01, 0.3, 0.5], "bonferroni") == pytest.approx([0.03, 0.9, 1.0])


def test_none_leaves_p_alone_and_nans_are_not_tests():
    p = np.array([0.01, np.nan, 0.02])
    assert adjust(p, "none") == pytest.approx(p, nan_ok=True)
    q = adjust(p, "bonferroni")
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02)  # m = 2, not 3


def test_unknown_correction_is_named():
    with pytest.raises(ParameterError, match="'correction' needs to be one of"):
        adjust([0.1], "holm")


@pytest.mark.parametrize(
    ("z", "p", "expected"),
    [
        (3.0, 0.0099, 3),
        (3.0, 0.01, 3),
        (2.0, 0.0101, 2),
        (2.0, 0.05, 2),
        (1.7, 0.0501, 1),
        (1.7, 0.10, 1),
        (1.0, 0.1001, 0),
        (-2.5, 0.004, -3),
        (-1.8, 0.07, -1),
        (0.0, 0.001, 0),
        (2.0, float("nan"), 0),
    ],
    ids=lambda v: str(v),
)
def test_bins_at_the_level_boundaries(z, p, expected):
    assert confidence_bins([z], [p])[0] == expected


def test_summary_counts_each_level_with_the_stricter_ones():
    s = summarise_bins(np.array([3, 3, 2, 1, 0, 0, -1, -2]))
    assert s == {
        "hot": {"99": 2, "95": 3, "90": 4},
        "cold": {"99": 0, "95": 1, "90": 2},
    }


def test_confidence_labels_follow_the_bins():
    from hotspots.stats.inference import BIN_LABELS, confidence_label

    assert sorted(BIN_LABELS) == [-3, -2, -1, 0, 1, 2, 3]
    assert confidence_label(np.int64(2)) == "Hot spot, 95 % confidence"
    assert confidence_label(-3).startswith("Cold spot, 99")
    assert confidence_label(0) == "Not significant"
    with pytest.raises(KeyError):
        confidence_label(4)
