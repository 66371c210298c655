"""Resident population of boroughs (and wards, when given) for rates per 1,000.

No population numbers ship with hotspots and none are ever invented: rates are shown
only when a population file is present. ``hotspots fetch --what population``
(:func:`hotspots.fetch.fetch_population`) downloads the ONS mid-year population
estimates for the London boroughs from Nomis, the ONS's official labour market and
population statistics service, into the user cache.

File layout
-----------
Any ``*.csv`` under ``<data_root>/population/`` or ``<cache>/population/`` (the data
root is read first; a code found in both is taken from the data root), with columns:

``area_code``
    ONS GSS code: ``E09…`` for a borough (local authority), ``E05…`` for a ward.
``area_name``
    The area's name.
``population``
    Usual residents (a whole number > 0).
``year``
    The reference year of the estimate (e.g. ``2022`` for mid-2022).
``source``
    Who published it and which release (e.g. ``ONS mid-year population estimates
    (Nomis NM_2002_1)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import cache_dir, data_root
from .errors import DataError

__all__ = [
    "COLUMNS",
    "NOMIS_POPULATION_URL",
    "Population",
    "load_population",
    "population_dirs",
]

COLUMNS = ("area_code", "area_name", "population", "year", "source")

#: ONS mid-year population estimates (local authority based, all ages, persons)
#: from Nomis (``NM_2002_1``), one row per GSS code in ``{codes}``, latest year.
#: Nomis is run for the ONS; the API URL scheme has been stable since 2012.
NOMIS_POPULATION_URL = (
    "https://www.nomisweb.co.uk/api/v01/dataset/NM_2002_1.data.csv"
    "?geography={codes}&date=latest&gender=0&c_age=200&measures=20100"
    "&select=date_name,geography_name,geography_code,obs_value"
)


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
        """'<source>, <year(s)>' for the rows of ``codes``."""
        rows = self.table[self.table["area_code"].isin(list(codes))]
        if rows.empty:
            return ""
        years = sorted({str(y) for y in rows["year"]})
        sources = sorted(set(rows["source"]))
        return f"{'; '.join(sources)}, mid-{'/'.join(years)}"


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
