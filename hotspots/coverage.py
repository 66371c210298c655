"""Which months the data covers, per force, crime type and area.

police.uk publishes one street file per force and month. A month for which a force
has no file is *missing*, not zero: the shared data, for example, has real robbery
for 2018-02…2021-01 and 2022 but nothing for 2021-02…2021-12, and no City of London
Police file for 2022-06. Counting those months as zero would invent a crime drop.

The ingest ledger records, per force and crime type, the months its files cover
(:func:`hotspots.ingest.file_coverage`). An area is policed by one or more
*territorial* forces (the City of London by the City of London Police, every other
borough by the Met); a month counts for an area and crime family only when every
territorial force of the area covers every type of the family (of a family of
several types, those the force's files hold at all). British Transport
Police files add their rows where present but never decide coverage: BTP
publishes alongside the territorial forces, not instead of them.

Examples
--------
>>> cov = Coverage({"metropolitan": {"Robbery": ["2022-01", "2022-02"]},
...                 "city-of-london": {"Robbery": ["2022-02"]}})
>>> cov.months("robbery", ("metropolitan", "city-of-london"))
['2022-02']
>>> cov.status("robbery", ("metropolitan", "city-of-london"), ["2022-01", "2022-03"])
{'2022-01': 'partial', '2022-03': 'missing'}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import crime_types_for
from .errors import ParameterError, StoreError

__all__ = [
    "CITY_FORCE",
    "MET_FORCE",
    "Coverage",
    "area_forces",
    "search_months",
]

MET_FORCE = "metropolitan"
CITY_FORCE = "city-of-london"
#: Boroughs not policed by the Met.
_TERRITORIAL = {"City of London": CITY_FORCE}


def area_forces(area) -> tuple[str, ...]:
    """The territorial police forces of an area (police.uk slugs), sorted.

    Examples
    --------
    >>> from types import SimpleNamespace as A
    >>> area_forces(A(boroughs=("Merton",)))
    ('metropolitan',)
    >>> area_forces(A(boroughs=("Westminster", "City of London")))
    ('city-of-london', 'metropolitan')
    """
    return tuple(sorted({_TERRITORIAL.get(b, MET_FORCE) for b in area.boroughs}))


@dataclass(frozen=True)
class Coverage:
    """Months covered per force and crime type: ``{force: {type: [months]}}``."""

    by_force: dict

    @classmethod
    def of(cls, store) -> Coverage:
        """The coverage recorded by the store's last ingest."""
        street = store.ledger()["street"]
        cov = street.get("coverage", {})
        if cov and not all(isinstance(v, dict) and all(isinstance(m, list)
                                                       for m in v.values())
                           for v in cov.values()):
            raise StoreError(
                f"the store {store.path} was written by an older version (no "
                "coverage per force); run 'hotspots ingest --rebuild'"
            )
        return cls(cov)

    @property
    def forces(self) -> tuple[str, ...]:
        return tuple(sorted(self.by_force))

    def _force_months(self, force: str, types: Sequence[str]) -> set[str]:
        by_type = self.by_force.get(force, {})
        if len(types) > 1:  # a family: the types this force's files ever hold
            types = [t for t in types if t in by_type]
        sets = [set(by_type.get(t, ())) for t in types]
        return set.intersection(*sets) if sets else set()

    def months(self, crime: str, forces: Iterable[str]) -> list[str]:
        """Months every force in ``forces`` covers for every type of ``crime``."""
        types = crime_types_for(crime)
        forces = tuple(forces)
        if not forces:
            raise ParameterError("'forces' needs at least one police force.")
        sets = [self._force_months(f, types) for f in forces]
        return sorted(set.intersection(*sets))

    def any_months(self, crime: str, forces: Iterable[str], *,
                   any_type: bool = False) -> list[str]:
        """Months at least one force in ``forces`` covers for ``crime``.

        A force covers a family in a month when it covers every type of the
        family its files ever hold; with ``any_type``, when it covers any of them.
        """
        types = crime_types_for(crime)
        out: set[str] = set()
        for f in forces:
            if any_type:
                for t in types:
                    out |= self._force_months(f, (t,))
            else:
                out |= self._force_months(f, types)
        return sorted(out)

    def status(self, crime: str, forces: Iterable[str],
               months: Iterable[str]) -> dict[str, str]:
        """``covered``, ``partial`` (some forces) or ``missing`` for each month."""
        forces = tuple(forces)
        types = crime_types_for(crime)
        sets = [self._force_months(f, types) for f in forces]
        out = {}
        for m in months:
            n = sum(m in s for s in sets)
            out[m] = "covered" if n == len(sets) else ("partial" if n else "missing")
        return out

    def own_rows(self, crime: str, boroughs, months) -> np.ndarray:
        """Whether each offence (its borough and month) falls in a month its
        borough's own territorial force covers for ``crime``: an offence in a
        month the borough's police filed nothing for (a British Transport Police
        row) counts toward nothing, so that every total of an area — by month,
        ward, borough or BCU — is one figure.

        Examples
        --------
        >>> cov = Coverage({"metropolitan": {"Robbery": ["2022-01"]},
        ...                 "city-of-london": {"Robbery": ["2022-02"]}})
        >>> cov.own_rows("robbery", ["Merton", "Merton", "City of London"],
        ...              ["2022-01", "2022-02", "2022-02"]).tolist()
        [True, False, True]
        """
        types = crime_types_for(crime)
        boroughs = np.asarray(boroughs, dtype=object)
        months = np.asarray(months, dtype=object)
        force = np.full(len(boroughs), MET_FORCE, dtype=object)
        for borough, f in _TERRITORIAL.items():
            force[boroughs == borough] = f
        out = np.zeros(len(months), bool)
        for f in {MET_FORCE, *_TERRITORIAL.values()}:
            mine = force == f
            if mine.any():
                out[mine] = np.isin(months[mine].astype(str),
                                    sorted(self._force_months(f, types)))
        return out

    def missing_forces(self, crime: str, forces: Iterable[str], month: str
                       ) -> list[str]:
        """The forces of ``forces`` with no file covering ``crime`` in ``month``."""
        types = crime_types_for(crime)
        return [f for f in forces if month not in self._force_months(f, types)]


def search_months(store, forces: Iterable[str]) -> list[str]:
    """Months every force in ``forces`` has stop-and-search files for: a month
    with another force's searches only (British Transport Police's) is missing,
    and a force's file with a header alone is a month without searches.

    A store written before stop-and-search coverage was recorded gives the
    months holding any search.
    """
    ss = store.ledger().get("stop_search") or {}
    cov = ss.get("coverage")
    if not isinstance(cov, dict) or not all(isinstance(v, list)
                                            for v in cov.values()):
        return sorted(ss.get("months") or [])
    sets = [set(cov.get(f, ())) for f in forces]
    return sorted(set.intersection(*sets)) if sets else []
