"""Where data and results live, and the fixed vocabularies of the tool.

Data root (read only, a user's files): ``$HOTSPOTS_DATA``, else ``../shared/data``
beside a checkout, else the user cache that ``hotspots fetch`` fills.

Store (ingested offences, analysis outputs, quarantine): ``$HOTSPOTS_STORE``, else a
git-ignored ``store/`` at the root of a checkout, else the user cache.  The store is
never inside the data root.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

from .errors import ParameterError, StoreError

__all__ = [
    "BCUS",
    "BOROUGH_BCU",
    "CRIME_TYPES",
    "DEFAULT_SEED",
    "FAMILIES",
    "LONDON_FORCES",
    "NOTIFIABLE_TYPES",
    "SYNTHETIC_MARK",
    "cache_dir",
    "crime_types_for",
    "data_root",
    "repo_root",
    "store_root",
]

#: police.uk street-level crime types (the categories since May 2013).
CRIME_TYPES: tuple[str, ...] = (
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
)

#: Notifiable offences: every police.uk type but anti-social behaviour (which is
#: recorded as incidents, not crimes). The Met's crime packs count these as "all
#: crime".
NOTIFIABLE_TYPES: tuple[str, ...] = tuple(
    t for t in CRIME_TYPES if t != "Anti-social behaviour"
)

#: The crime families the tool leads with; every police.uk type is also accepted.
#: ``all`` is all notifiable crime (ASB apart), as the Met's packs count it;
#: ``everything`` adds anti-social behaviour.
FAMILIES: dict[str, tuple[str, ...]] = {
    "robbery": ("Robbery",),
    "vehicle": ("Vehicle crime",),
    "asb": ("Anti-social behaviour",),
    "burglary": ("Burglary",),
    "all": NOTIFIABLE_TYPES,
    "everything": CRIME_TYPES,
}

#: Met Basic Command Units: code -> (name, boroughs).
BCUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "CE": ("Central East", ("Hackney", "Tower Hamlets")),
    "CN": ("Central North", ("Camden", "Islington")),
    "CS": ("Central South", ("Lambeth", "Southwark")),
    "CW": (
        "Central West",
        ("Westminster", "Kensington and Chelsea", "Hammersmith and Fulham"),
    ),
    "EA": ("East Area", ("Barking and Dagenham", "Havering", "Redbridge")),
    "NA": ("North Area", ("Enfield", "Haringey")),
    "NE": ("North East", ("Newham", "Waltham Forest")),
    "NW": ("North West", ("Barnet", "Brent", "Harrow")),
    "SE": ("South East", ("Bexley", "Greenwich", "Lewisham")),
    "SN": ("South", ("Bromley", "Croydon", "Sutton")),
    "SW": (
        "South West",
        ("Kingston upon Thames", "Merton", "Richmond upon Thames", "Wandsworth"),
    ),
    "WA": ("West Area", ("Ealing", "Hillingdon", "Hounslow")),
}

BOROUGH_BCU: dict[str, str] = {b: code for code, (_, bs) in BCUS.items() for b in bs}

#: The seed every randomised step uses unless given one (the May 2022 ward
#: elections): permutations, tie-breaks, bootstraps, matching.
DEFAULT_SEED = 20220505

#: police.uk forces whose street files describe London: the two territorial forces
#: and British Transport Police (stations and railways). Other forces' files in a
#: national archive are skipped (and listed as skipped) unless asked for.
LONDON_FORCES: tuple[str, ...] = ("metropolitan", "city-of-london", "btp")

#: Text that marks a semi-synthetic row in the police.uk ``Context`` column.
SYNTHETIC_MARK = "SYNTHETIC"


def crime_types_for(crime) -> tuple[str, ...]:
    """The police.uk crime types a ``--crime`` value (or several) stands for.

    Examples
    --------
    >>> crime_types_for("robbery")
    ('Robbery',)
    >>> crime_types_for("bicycle theft")
    ('Bicycle theft',)
    >>> crime_types_for(["robbery", "Robbery", "burglary"])
    ('Robbery', 'Burglary')
    """
    if not isinstance(crime, str):
        out: list[str] = []
        for c in crime:
            out.extend(crime_types_for(c))
        return tuple(dict.fromkeys(out))
    key = crime.strip().lower()
    if key in FAMILIES:
        return FAMILIES[key]
    for t in CRIME_TYPES:
        if t.lower() == key:
            return (t,)
    import difflib

    near = difflib.get_close_matches(key, [*FAMILIES, *(t.lower() for t in
                                                       CRIME_TYPES)], n=1)
    raise ParameterError(
        f"'crime' needs to be one of {tuple(FAMILIES)} or a police.uk crime type "
        f"{CRIME_TYPES}. {crime!r} was given instead."
        + (f" Did you mean: {near[0]}?" if near else "")
    )


def repo_root() -> Path | None:
    """The checkout this package runs from, or None when installed elsewhere."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() else None


def cache_dir() -> Path:
    """The per-user cache (downloads, and the store outside a checkout)."""
    return Path(os.environ.get("HOTSPOTS_CACHE") or user_cache_dir("hotspots"))


def data_root() -> Path:
    """The data root: ``$HOTSPOTS_DATA``, ``../shared/data``, else the cache."""
    env = os.environ.get("HOTSPOTS_DATA")
    if env:
        return Path(env).expanduser().resolve()
    root = repo_root()
    if root is not None:
        shared = (root.parent / "shared" / "data").resolve()
        if shared.is_dir():
            return shared
    return cache_dir() / "data"


def store_root() -> Path:
    """The store: ``$HOTSPOTS_STORE``, ``store/`` in a checkout, else the cache."""
    env = os.environ.get("HOTSPOTS_STORE")
    if env:
        path = Path(env).expanduser().resolve()
    elif repo_root() is not None:
        path = repo_root() / "store"
    else:
        path = cache_dir() / "store"
    data = data_root()
    if path == data or data in path.parents:
        raise StoreError(
            f"the store {path} is inside the data root {data}; set HOTSPOTS_STORE "
            "to a folder outside it"
        )
    return path
