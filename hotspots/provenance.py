"""What every output records about the run that made it, and the synthetic label.

Outputs carry ``run_header()`` (tool, version, time) in their metadata, and any
output that uses semi-synthetic rows says so with :func:`synthetic_note`, in the
same words wherever it appears. :func:`json_value` makes values strict-JSON-ready
(no NaN or Infinity) and :func:`safe_csv_frame` keeps text in a CSV from running
as a spreadsheet formula.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from . import __version__

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMULA_STARTS",
    "REAL_DATA",
    "json_value",
    "run_header",
    "safe_csv_frame",
    "synthetic_note",
]


def run_header() -> dict:
    """``{"tool", "version", "created"}`` for an output's metadata."""
    return {"tool": "hotspots", "version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds")}


def json_value(v):
    """``v`` made plain, strict JSON: numpy values become Python, NaN/±inf None.

    Dicts (keys too), lists, tuples, sets and arrays are converted all the way
    down, so ``json.dumps(json_value(v), allow_nan=False)`` never fails on a
    number: JSON has no NaN or Infinity, and a parser that follows the standard
    rejects them. Other objects are returned as they are.

    Examples
    --------
    >>> json_value([np.int64(2), np.float64("nan"), np.bool_(True)])
    [2, None, True]
    >>> json_value({"h": float("inf"), np.int64(3): (np.float32(0.5), -np.inf)})
    {'h': None, 3: [0.5, None]}
    """
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return {_json_key(k): json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [json_value(x) for x in v]
    if isinstance(v, set | frozenset):
        return [json_value(x) for x in sorted(v, key=str)]
    pd = sys.modules.get("pandas")  # no pandas object exists before it is imported
    if pd is not None:
        if isinstance(v, pd.Series | pd.Index):
            return [json_value(x) for x in v]
        if v is pd.NaT or v is pd.NA:
            return None
    return v


def _json_key(k):
    k = json_value(k)
    return k if isinstance(k, str | int | float | bool) or k is None else str(k)


#: What rows of real records say they are, where semi-synthetic ones say so (the
#: ``data`` column of the CSV outputs).
REAL_DATA = "police.uk street-level records"

#: First characters a spreadsheet reads as a formula (OWASP "CSV injection"):
#: ``= + - @`` and the tab and carriage return some programs skip before them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(v):
    if isinstance(v, str) and v.startswith(FORMULA_STARTS):
        return "'" + v
    return v


def safe_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe to open in a spreadsheet (text cannot run as a formula).

    Text cells (and text column names) starting with ``= + - @``, tab or carriage
    return get a leading ``'``, which spreadsheets show as text; numbers, dates and
    every other cell are left alone, and ``frame`` itself is not changed. Call it
    on every frame written as CSV for people to open; it is also
    ``hotspots.store.neutralise_formulas``, and the ingest applies the same rule
    (:data:`FORMULA_STARTS`) to the quarantine's Arrow table.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"loc": ["=HYPERLINK(1)", "On or near A Road", "-2+3"],
    ...                    "n": [-1, 2, 3]})
    >>> safe_csv_frame(df)["loc"].tolist()
    ["'=HYPERLINK(1)", 'On or near A Road', "'-2+3"]
    >>> safe_csv_frame(df)["n"].tolist()
    [-1, 2, 3]
    """
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            out[col] = s.map(_neutralise)
    out.columns = [_neutralise(c) for c in out.columns]
    return out


def synthetic_note(share: float, what: str = "offences used", *,
                   exact: bool = True) -> str | None:
    """The one wording of the semi-synthetic warning (None when ``share`` is 0).

    Every output that uses semi-synthetic rows — audit trails, summaries, PDF
    banners, the app and the partner view — says it in these words; ``what``
    names what the share is of. ``exact=False`` (partner outputs) gives no
    share: where only part of the data is semi-synthetic, a percentage of a few
    offences tells how many there are.

    Examples
    --------
    >>> synthetic_note(0.0) is None
    True
    >>> synthetic_note(0.5, "offences in this view")[:58]
    'SEMI-SYNTHETIC DATA — not real police records: 50% of the '
    >>> synthetic_note(0.4, "offences in this view", exact=False)[:64]
    'SEMI-SYNTHETIC DATA — not real police records: some or all of th'
    """
    if not share > 0:
        return None
    part = f"{share:.0%} of the" if exact else "some or all of the"
    return (f"SEMI-SYNTHETIC DATA — not real police records: {part} "
            f"{what} are synthetic offences on real police.uk map points. Not for "
            "operational decisions.")
