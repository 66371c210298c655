"""Street targets: the busiest police.uk "On or near …" locations.

police.uk anonymises each offence to a map point named after the nearest street or
place ("On or near High Street", "On or near Supermarket"); "street-a-week" work
takes the top names inside each patrol zone. Points with no street name (about one
real robbery or vehicle row in six, whose Location could not be recovered) are
kept and shown as "On or near (no street name)", after every named street: an
officer can walk to a named street, not to a missing name.
"""

from __future__ import annotations

import re

import pandas as pd

from ..errors import ParameterError

__all__ = ["NO_NAME", "apostrophe_s", "street_name", "top_streets"]

NO_NAME = "On or near (no street name)"


def street_name(location) -> str:
    """A police.uk Location as shown to people (blank names made explicit).

    >>> street_name("On or near Queen'S Road"), street_name("On or near")
    ("On or near Queen's Road", 'On or near (no street name)')
    """
    text = "" if location is None or pd.isna(location) else str(location).strip()
    if text in ("", "On or near"):
        return NO_NAME
    return apostrophe_s(text)


def apostrophe_s(text: str) -> str:
    """police.uk writes a capital after an apostrophe ("Queen'S Road"): undone."""
    return _APOSTROPHE_S.sub(r"\1's", text)


_APOSTROPHE_S = re.compile(r"(\w)'S\b")


def top_streets(offences: pd.DataFrame, n: int = 5, by: str | None = None
                ) -> pd.DataFrame:
    """The ``n`` most frequent Locations, busiest first (ties by name); named
    streets before the unnamed points.

    Parameters
    ----------
    offences : DataFrame
        Needs a ``location`` column (and ``by`` when given).
    n : int
        How many per group.
    by : str, optional
        A grouping column (e.g. a zone id): the top ``n`` within each group.

    Returns
    -------
    DataFrame
        ``[by,] street, offences``.
    """
    if int(n) < 1:
        raise ParameterError(f"the number of streets must be ≥ 1; got {n!r}.")
    if "location" not in offences:
        raise ParameterError("the offences need a 'location' column for streets.")
    keys = [by] if by else []
    names = offences["location"].map(street_name)
    frame = offences[keys].assign(street=names.to_numpy())
    counts = frame.groupby(keys + ["street"]).size().rename("offences").reset_index()
    counts["_unnamed"] = counts["street"] == NO_NAME
    counts = counts.sort_values(keys + ["_unnamed", "offences", "street"],
                                ascending=[True] * len(keys) + [True, False, True])
    counts = counts.drop(columns="_unnamed")
    counts = counts.groupby(by, sort=False).head(int(n)) if by else counts.head(int(n))
    return counts.reset_index(drop=True)
