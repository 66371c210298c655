"""Month arithmetic on police.uk's ``YYYY-MM`` strings: the one place it lives.

police.uk publishes by calendar month, so every period in hotspots is a list of
``YYYY-MM`` strings. These helpers turn ranges into lists, shift months, find the
latest run without a gap and describe a list with gaps in words.

Examples
--------
>>> month_range("2022-11", "2023-02")
['2022-11', '2022-12', '2023-01', '2023-02']
>>> shift_month("2022-01", -1), shift_month("2022-12", 12)
('2021-12', '2023-12')
>>> describe_months(["2020-12", "2021-01", "2022-01"])
'2020-12..2021-01, 2022-01'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import ParameterError

__all__ = [
    "FIRST_MONTH",
    "MONTH_RE",
    "check_month",
    "describe_months",
    "latest_run",
    "month_index",
    "month_label",
    "month_range",
    "shift_month",
]

MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
#: police.uk's first month of street-level data.
FIRST_MONTH = "2010-12"
_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
          "Nov", "Dec")


def check_month(month, name: str = "month") -> str:
    """``month`` if it is ``YYYY-MM``, else a :class:`ParameterError` naming it."""
    if not isinstance(month, str) or not MONTH_RE.match(month.strip()):
        raise ParameterError(
            f"months need to be YYYY-MM; {name!r} was {month!r}.")
    return month.strip()


def month_index(month: str) -> int:
    """Months since year 0 (``YYYY * 12 + MM - 1``), for arithmetic."""
    y, m = check_month(month).split("-")
    return int(y) * 12 + int(m) - 1


def _from_index(k: int) -> str:
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def shift_month(month: str, n: int) -> str:
    """The month ``n`` months after ``month`` (before, when ``n < 0``)."""
    return _from_index(month_index(month) + int(n))


def month_range(start: str, end: str) -> list[str]:
    """Inclusive list of ``YYYY-MM`` months from ``start`` to ``end``.

    Raises
    ------
    ParameterError
        When a month is not ``YYYY-MM`` or ``start`` is after ``end``.
    """
    try:
        a, b = month_index(start), month_index(end)
    except ParameterError:
        raise ParameterError(
            f"months need to be YYYY-MM; got {start!r}..{end!r}") from None
    if a > b:
        raise ParameterError(f"'from' {start!r} is after 'to' {end!r}")
    return [_from_index(k) for k in range(a, b + 1)]


def latest_run(months: Sequence[str]) -> list[str]:
    """The last run of consecutive months in a sorted list.

    Examples
    --------
    >>> latest_run(["2020-12", "2021-01", "2022-01", "2022-02"])
    ['2022-01', '2022-02']
    >>> latest_run([])
    []
    """
    out = list(months[-1:])
    for m in reversed(months[:-1]):
        if month_index(out[0]) - month_index(m) != 1:
            break
        out.insert(0, m)
    return out


def describe_months(months: Sequence[str]) -> str:
    """A sorted month list in words, runs joined: ``2018-02..2021-01, 2022-01``."""
    if not len(months):
        return "no months"
    out, first, prev = [], months[0], months[0]
    for m in months[1:]:
        if month_index(m) - month_index(prev) != 1:
            out.append((first, prev))
            first = m
        prev = m
    out.append((first, prev))
    return ", ".join(a if a == b else f"{a}..{b}" for a, b in out)


def month_label(month: str) -> str:
    """``'2024-01'`` -> ``'Jan 2024'``."""
    k = month_index(month)
    return f"{_NAMES[k % 12]} {k // 12}"
