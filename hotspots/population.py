"""Resident population of boroughs and wards, for rates per 1,000 residents.

No population numbers ship with hotspots and none are ever invented: rates are shown
only when a population file is present. The shared data root holds Census 2021 usual
residents (``population/``: the 33 boroughs exactly, and the May-2022 wards as a
best-fit estimate from 2021 LSOAs); elsewhere ``hotspots fetch --what population``
(:func:`hotspots.fetch.fetch_population`) downloads the ONS mid-year estimates of
the boroughs from Nomis into the user cache.

File layout
-----------
Any ``*.csv`` under ``<data_root>/population/`` or ``<cache>/population/`` (the data
root is read first; a code found in both is taken from the data root), with columns
(others are ignored):

``area_code``
    ONS GSS code: ``E09…`` for a borough (local authority), ``E05…`` for a ward.
``area_name``
    The area's name.
``population``
    Usual residents (a whole number > 0).
``year``
    The reference year (``2021`` for Census 2021, ``2022`` for mid-2022).
``source``
    Who published it and which release.

Ward rates
----------
:func:`ward_population` gives every 2022 ward its residents and a status, and
:func:`ward_rates` turns offences per ward into rates per 1,000 residents. The
ward figures are best-fit (:data:`WARD_CAVEAT`, to be printed once wherever ward
rates are shown). A ward missing from a ward file whose other wards account for
their whole borough's residents has **no residents** (20 of the City of London's
25 wards receive no 2021 LSOA); it says so instead of showing a rate. A ward with
fewer than :data:`MIN_POPULATION` residents gets no rate either (``small base``):
a few offences over a few hundred residents would top any ranking.

Examples
--------
>>> rate_per_1000(30, 12_000)
2.5
>>> rate_per_1000(3, 900) is None  # below the minimum base
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import cache_dir, data_root
from .errors import DataError, ParameterError

__all__ = [
    "COLUMNS",
    "MIN_POPULATION",
    "NOMIS_POPULATION_URL",
    "WARD_CAVEAT",
    "WARD_STATUS",
    "Population",
    "load_population",
    "population_dirs",
    "rate_per_1000",
    "ward_population",
    "ward_rates",
]

COLUMNS = ("area_code", "area_name", "population", "year", "source")

#: Wards (or any area) with fewer residents get no rate per 1,000: the minimum
#: base. Every ward of the 32 boroughs has more (the smallest, 4,500); the City's
#: five resident wards (1,098–2,998 residents, a large daytime population) do not.
MIN_POPULATION = 4000

#: Status of a ward's population in :func:`ward_population`.
WARD_STATUS = ("best-fit", "small base", "no residents", "unknown")

#: Printed once wherever ward rates are shown.
WARD_CAVEAT = (
    "Ward residents: Census 2021 usual residents summed from 2021 LSOAs with the "
    "GLA's best-fit LSOA-to-ward lookup (May-2022 wards): an estimate, not an "
    "official ward table; wards whose edges cut an LSOA are approximate (typically "
    f"within a few per cent). Wards with fewer than {MIN_POPULATION:,} residents get "
    "no rate (minimum base); wards with no residents say so."
)

#: ONS mid-year population estimates (local authority based, all ages, persons)
#: from Nomis (``NM_2002_1``), one row per GSS code in ``{codes}``, latest year.
#: Nomis is run for the ONS; the API URL scheme has been stable since 2012.
NOMIS_POPULATION_URL = (
    "https://www.nomisweb.co.uk/api/v01/dataset/NM_2002_1.data.csv"
    "?geography={codes}&date=latest&gender=0&c_age=200&measures=20100"
    "&select=date_name,geography_name,geography_code,obs_value"
)

#: Wards listed for a borough account for all of it within this share.
_WHOLE_BOROUGH = 0.005


def rate_per_1000(count, population, min_population: int = MIN_POPULATION
                  ) -> float | None:
    """``count`` per 1,000 of ``population``, rounded to 2 decimals; None when
    either is unknown or the population is below ``min_population``."""
    if count is None or population is None or pd.isna(population) or pd.isna(count):
        return None
    if population < max(min_population, 1):
        return None
    return round(1000.0 * float(count) / float(population), 2)


@dataclass(frozen=True)
class Population:
    """Population by GSS code, with the year and source of each figure."""

    table: pd.DataFrame = field(repr=False)  # COLUMNS, one row per area_code
    paths: tuple[str, ...]

    def of(self, code: str) -> int | None:
        """Population of one area code, or None when the file does not give it."""
        hit = self.table[self.table["area_code"] == code]
        return int(hit["population"].iloc[0]) if len(hit) else None

    def total(self, codes) -> int | None:
        """Sum over ``codes``; None when any one is missing (no partial sums)."""
        vals = [self.of(c) for c in codes]
        return None if not vals or any(v is None for v in vals) else int(sum(vals))

    def describe(self, codes) -> str:
        """``'<source> (<year>)'`` for the rows of ``codes``."""
        rows = self.table[self.table["area_code"].isin(list(codes))]
        if rows.empty:
            return ""
        years = sorted({str(y) for y in rows["year"]})
        sources = sorted(set(rows["source"]))
        return f"{'; '.join(sources)} ({'/'.join(years)})"

    @property
    def wards(self) -> pd.DataFrame:
        """The ward rows (``E05`` codes)."""
        return self.table[self.table["area_code"].str.startswith("E05")]


def population_dirs(root: Path | None = None) -> list[Path]:
    """Folders searched, in order: the data root's, then the user cache's."""
    first = Path(root) if root is not None else data_root()
    return [first / "population", cache_dir() / "population"]


def load_population(root: Path | None = None) -> Population | None:
    """Read every population CSV found; None when there is none.

    Raises
    ------
    DataError
        When a file lacks a column or has a population that is not a positive
        whole number.
    """
    frames, paths = [], []
    for folder in population_dirs(root):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.csv")):
            frames.append(_read(path))
            paths.append(str(path))
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True).drop_duplicates(
        "area_code", keep="first"
    )
    return Population(table.reset_index(drop=True), tuple(paths))


def ward_population(
    population: Population | None | str = "auto",
    wards: pd.DataFrame | None = None,
    *,
    min_population: int = MIN_POPULATION,
) -> pd.DataFrame:
    """Residents of every 2022 ward, with what can be said about them.

    Parameters
    ----------
    population : Population, None or 'auto'
        'auto' reads :func:`load_population`; None gives every ward ``unknown``.
    wards : DataFrame, optional
        ``ward_code, ward_name, borough_code, borough`` (default
        :func:`hotspots.areas.load_wards`).
    min_population : int
        Fewer residents than this: ``small base`` (no rate).

    Returns
    -------
    DataFrame
        One row per ward, in the order of ``wards``: ``ward_code, ward_name,
        borough, population`` (nullable Int64), ``status`` (one of
        :data:`WARD_STATUS`) and ``note`` (what to print instead of a rate, '' when
        a rate is shown).
    """
    if population == "auto":
        population = load_population()
    if wards is None:
        from .areas import load_wards

        wards = load_wards()
    out = pd.DataFrame({
        "ward_code": wards["ward_code"].astype(str).to_numpy(),
        "ward_name": wards["ward_name"].to_numpy(),
        "borough": wards["borough"].to_numpy(),
    })
    pops = {} if population is None else dict(
        zip(population.wards["area_code"], population.wards["population"],
            strict=True))
    got = out["ward_code"].map(pops)
    out["population"] = pd.array(got.to_numpy(dtype="float64"), dtype="Int64")
    whole = _boroughs_fully_listed(population, wards, pops)
    status, note = [], []
    for pop, bcode in zip(got, wards["borough_code"].astype(str), strict=True):
        if not pd.isna(pop):
            small = pop < min_population
            status.append("small base" if small else "best-fit")
            note.append(f"{int(pop):,} residents: too few for a rate (minimum "
                        f"{min_population:,})" if small else "")
        elif bcode in whole:
            status.append("no residents")
            note.append("no residents (Census 2021): no rate")
        else:
            status.append("unknown")
            note.append("residents unknown (no ward population file)")
    out["status"] = status
    out["note"] = note
    return out


def _boroughs_fully_listed(population, wards, pops) -> set[str]:
    """Borough codes whose listed wards hold all the borough's residents."""
    if population is None or not pops:
        return set()
    listed = wards.assign(p=wards["ward_code"].map(pops)).groupby(
        "borough_code")["p"].sum(min_count=1)
    out = set()
    for bcode, s in listed.items():
        total = population.of(str(bcode))
        if total and not pd.isna(s) and abs(s - total) <= _WHOLE_BOROUGH * total:
            out.add(str(bcode))
    return out


def ward_rates(
    counts: Mapping | pd.Series,
    population: Population | None | str = "auto",
    wards: pd.DataFrame | None = None,
    *,
    min_population: int = MIN_POPULATION,
) -> pd.DataFrame:
    """Offences per 1,000 residents for 2022 wards.

    Parameters
    ----------
    counts : Series or mapping
        Offences (or harm) per 2022 ward code. Only the wards given are
        returned: give zeros for wards without offences.
    population, wards, min_population :
        As in :func:`ward_population`.

    Returns
    -------
    DataFrame
        One row per ward of ``counts`` (in its order): ``ward_code, ward_name,
        borough, count, population, per_1000`` (float, NaN without a rate),
        ``status``, ``note``. Print :data:`WARD_CAVEAT` once beside them.

    Raises
    ------
    ParameterError
        When a ward code is not a 2022 ward.
    """
    s = pd.Series(counts, dtype="float64") if not isinstance(counts, pd.Series) \
        else counts.astype("float64")
    s.index = s.index.astype(str)
    pop = ward_population(population, wards, min_population=min_population)
    pop = pop.set_index("ward_code")
    unknown = [c for c in s.index if c not in pop.index]
    if unknown:
        raise ParameterError(
            f"'counts' needs 2022 ward codes; {unknown[:3]} are not 2022 wards.")
    out = pop.loc[list(s.index)].reset_index()
    out.insert(3, "count", s.to_numpy())
    rates = [rate_per_1000(c, p if not pd.isna(p) else None, min_population)
             for c, p in zip(out["count"], out["population"], strict=True)]
    out.insert(5, "per_1000", np.array([np.nan if r is None else r for r in rates]))
    return out[["ward_code", "ward_name", "borough", "count", "population",
                "per_1000", "status", "note"]]


def _read(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"area_code": str, "area_name": str,
                                      "source": str, "year": str})
    except (OSError, ValueError) as exc:
        raise DataError(f"not a readable CSV ({exc})", path=str(path)) from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"population file lacks columns {missing}; needs {list(COLUMNS)}",
            path=str(path),
        )
    pop = pd.to_numeric(df["population"], errors="coerce")
    bad = pop.isna() | (pop <= 0) | (pop % 1 != 0)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            "population must be a whole number > 0, got "
            f"{str(df['population'].iloc[i])!r}",
            path=str(path),
            line=i + 2,
        )
    out = df[list(COLUMNS)].copy()
    out["population"] = pop.astype("int64")
    out["area_code"] = out["area_code"].str.strip()
    return out
