"""Old (December 2018) to new (May 2022) London ward crosswalk.

A user with figures on the pre-2022 wards can share them out to the 2022 wards:

- ``method='area'``: each old ward's share of area falling in each new ward
  (overlay in EPSG:27700).
- ``method='points'``: each old ward's share of *offences* (police.uk map points
  from the store, all months and types) falling in each new ward; old wards with no
  offences fall back to area weights. Point weights follow where people and crime
  are, which area weights do not (parks, reservoirs).

Weights of each old ward sum to 1. Borough boundaries did not change in 2022, so an
old ward only maps to new wards of its own borough (by either method), and a ward
whose code is in both sets was not redrawn: it maps wholly to itself. The recipe is
also written in ``geodata/wards/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .areas import BNG, load_wards
from .config import data_root
from .errors import DataNotFound, ParameterError, check_choice
from .store import Store, write_csv_atomic

__all__ = [
    "METHODS",
    "apply_crosswalk",
    "load_old_wards",
    "ward_crosswalk",
    "write_crosswalk",
]

METHODS = ("area", "points")
_OLD = "boundaries/london_wards_2018.gpkg"
#: Pieces below this share of an old ward are generalisation slivers, dropped
#: before the weights are renormalised.
MIN_SHARE = 0.001


def load_old_wards(root: Path | None = None) -> gpd.GeoDataFrame:
    """The December 2018 London wards (``old_code, old_name, borough, geometry``)."""
    path = Path(root or data_root()) / _OLD
    if not path.is_file():
        raise DataNotFound(
            f"no pre-2022 ward boundaries at {path}; the crosswalk needs "
            "ONS Wards (December 2018) BGC for London"
        )
    old = gpd.read_file(path).rename(
        columns={"WD18CD": "old_code", "WD18NM": "old_name", "LAD18NM": "borough"}
    )
    return (
        old[["old_code", "old_name", "borough", "geometry"]]
        .sort_values("old_code")
        .reset_index(drop=True)
    )


def ward_crosswalk(
    method: str = "area",
    borough: str | None = None,
    store: Store | None = None,
    root: Path | None = None,
) -> pd.DataFrame:
    """Weights from each 2018 ward to the 2022 wards.

    Returns
    -------
    pandas.DataFrame
        ``old_code, old_name, new_code, new_name, borough, weight, method`` with the
        weights of every old ward summing to 1.
    """
    check_choice("method", method, METHODS)
    old = load_old_wards(root)
    new = load_wards(root)[["ward_code", "ward_name", "borough", "geometry"]].rename(
        columns={
            "ward_code": "new_code",
            "ward_name": "new_name",
            "borough": "new_borough",
        }
    )
    if borough is not None:
        from .areas import resolve_area

        area = resolve_area(borough)  # an unknown name: AreaNotFound, suggestions
        if area.kind != "borough":
            raise ParameterError(
                f"'borough' needs to be a London borough; {area.name!r} is a "
                f"{area.kind}.")
        old = old[old["borough"].str.lower() == area.name.lower()]
        if not len(old):
            raise DataNotFound(f"no 2018 wards of {area.name} in the old boundaries")
    inter = gpd.overlay(
        old.to_crs(BNG), new.to_crs(BNG), how="intersection", keep_geom_type=True
    )
    inter["a"] = inter.area
    # London borough boundaries did not change in 2022: pieces across a borough
    # boundary are generalisation slivers, not real transfers.
    inter = inter[inter["borough"] == inter["new_borough"]]
    area_w = _normalise(inter, "a")
    same = set(old["old_code"]) & set(new["new_code"])  # a code kept: unchanged
    if method == "area":
        return _finish(_unchanged(area_w, same), "area")
    store = store or Store.open()
    pts = store.offences(columns=["lon", "lat", "ward_code"])
    xy = pts.groupby(["lon", "lat", "ward_code"]).size().rename("n").reset_index()
    tree = shapely.STRtree(old.geometry.values)
    pi, oi = tree.query(
        shapely.points(xy["lon"].to_numpy(), xy["lat"].to_numpy()),
        predicate="intersects",
    )
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.empty(0, bool)
    hit = pd.DataFrame(
        {
            "old_code": old["old_code"].to_numpy()[oi[first]],
            "new_code": xy["ward_code"].to_numpy()[pi[first]],
            "n": xy["n"].to_numpy()[pi[first]],
        }
    )
    # as for areas: no old ward maps across a borough boundary (a point of the
    # old outline's generalised edge can lie in the next borough's new ward)
    boro = dict(zip(new["new_code"], new["new_borough"], strict=True))
    hit = hit[hit["new_code"].map(boro).to_numpy()
              == hit["old_code"].map(dict(zip(old["old_code"], old["borough"],
                                              strict=True))).to_numpy()]
    pw = hit.groupby(["old_code", "new_code"], as_index=False)["n"].sum()
    pw = _normalise(pw, "n")
    have = set(pw["old_code"])
    merged = pd.concat([pw, area_w[~area_w["old_code"].isin(have)]], ignore_index=True)
    merged = merged.merge(
        old[["old_code", "old_name", "borough"]],
        on="old_code",
        how="left",
        suffixes=("_x", ""),
    )
    merged = merged.merge(
        new[["new_code", "new_name"]], on="new_code", how="left", suffixes=("_x", "")
    )
    return _finish(_unchanged(merged, same), "points")


def _unchanged(df: pd.DataFrame, same: set) -> pd.DataFrame:
    """A ward whose code is in both sets was not redrawn: all of it maps to
    itself (weight 1), not a share lost to slivers of generalised outlines."""
    keep = ~df["old_code"].isin(same) | (df["old_code"] == df["new_code"])
    out = df[keep].copy()
    out.loc[out["old_code"].isin(same), "weight"] = 1.0
    return out


def _normalise(df: pd.DataFrame, col: str) -> pd.DataFrame:
    df = df.copy()
    df["weight"] = df[col] / df.groupby("old_code")[col].transform("sum")
    df = df[df["weight"] >= MIN_SHARE].copy()
    df["weight"] = df[col] / df.groupby("old_code")[col].transform("sum")
    return df


def _finish(df: pd.DataFrame, method: str) -> pd.DataFrame:
    out = df[
        ["old_code", "old_name", "new_code", "new_name", "borough", "weight"]
    ].copy()
    out["method"] = method
    return out.sort_values(["old_code", "weight"], ascending=[True, False]).reset_index(
        drop=True
    )


def apply_crosswalk(
    figures: pd.DataFrame, crosswalk: pd.DataFrame, value: str, code: str = "old_code"
) -> pd.DataFrame:
    """Share old-ward figures out to the 2022 wards.

    Parameters
    ----------
    figures : DataFrame
        One row per old ward, with its code in ``code`` and a number in ``value``.

    Returns
    -------
    DataFrame ``new_code, new_name, <value>``; the total is preserved.
    """
    m = figures[[code, value]].merge(
        crosswalk, left_on=code, right_on="old_code", how="inner"
    )
    m[value] = m[value] * m["weight"]
    return m.groupby(["new_code", "new_name"], as_index=False)[value].sum()


def write_crosswalk(cw: pd.DataFrame, path: str | Path) -> Path:
    """Write the crosswalk as CSV atomically."""
    return write_csv_atomic(path, cw)
