"""What every output records about the run that made it, and the synthetic label.

Outputs carry ``run_header()`` (tool, version, time) in their metadata, and any
output that uses semi-synthetic rows says so with :func:`synthetic_note`, in the
same words wherever it appears; :func:`json_value` makes numpy values JSON-ready.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from . import __version__

__all__ = ["json_value", "run_header", "synthetic_note"]


def run_header() -> dict:
    """``{"tool", "version", "created"}`` for an output's metadata."""
    return {"tool": "hotspots", "version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds")}


def json_value(v):
    """``v`` with numpy scalars and arrays made plain Python (NaN becomes None).

    Examples
    --------
    >>> json_value([np.int64(2), np.float64("nan"), np.bool_(True)])
    [2, None, True]
    """
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, list | tuple | np.ndarray):
        return [json_value(x) for x in v]
    return v


def synthetic_note(share: float) -> str | None:
    """The audit-trail line for a share of synthetic offence rows (None at 0).

    Examples
    --------
    >>> synthetic_note(0.0) is None
    True
    >>> synthetic_note(1.0)[:34]
    'SEMI-SYNTHETIC: 100% of these offe'
    """
    if not share > 0:
        return None
    return (f"SEMI-SYNTHETIC: {share:.0%} of these offence rows are synthetic (real "
            "police.uk map points, synthetic offences); do not use for operational "
            "decisions.")
