"""The exception hierarchy of hotspots.

Every error the package raises on purpose is a :class:`HotspotsError`, so a caller
(the CLI, the Dash app) can catch one type and show its message.  Messages name the
file, row, argument or value at fault and, where there is a fixed set of allowed
values, list it.
"""

from __future__ import annotations

__all__ = [
    "AreaNotFound",
    "DataError",
    "DataNotFound",
    "FetchError",
    "HotspotsError",
    "NoOffences",
    "ParameterError",
    "StoreError",
]


class HotspotsError(Exception):
    """Base class of every error raised by hotspots."""


class DataError(HotspotsError):
    """Input data that cannot be read: a bad file, header or row.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str, optional
        The file at fault.
    line : int, optional
        The 1-based line in that file.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line
        self.reason = message


class DataNotFound(HotspotsError):
    """No data root, or a file the data root should hold is missing."""


class FetchError(HotspotsError):
    """A download from an official source failed or did not verify."""


class StoreError(HotspotsError):
    """The store is missing, stale or was written by an incompatible version."""


class AreaNotFound(HotspotsError, LookupError):
    """An ``--area`` that is not London, a BCU, a borough or a 2022 ward."""


class ParameterError(HotspotsError, ValueError):
    """An argument outside its allowed values."""


class NoOffences(ParameterError):
    """The area and period hold no offences of the crime: nothing to analyse."""


def check_choice(name: str, value, allowed) -> None:
    """Raise :class:`ParameterError` unless ``value`` is one of ``allowed``.

    Examples
    --------
    >>> check_choice("correction", "fdr", ("fdr", "bonferroni", "none"))
    >>> check_choice("correction", "holm", ("fdr", "bonferroni"))
    Traceback (most recent call last):
    ...
    hotspots.errors.ParameterError: 'correction' needs to be one of ('fdr', ...
    """
    if value not in allowed:
        raise ParameterError(
            f"{name!r} needs to be one of {tuple(allowed)}. "
            f"{value!r} was given instead."
        )
