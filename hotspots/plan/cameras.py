"""NOMAD camera sites: a maximal covering location problem over offence points.

A portable (NOMAD) camera watches about ``radius_m`` around where it stands. The
tasking question is "with K cameras, where do they see the most crime?":

1. **Demand.** The area's offences, grouped at their police.uk map points (every
   offence is already snapped to one of a fixed set of points), weighted by count
   or by harm (:mod:`hotspots.stats.harm`; the analysis' own harm table, or
   ``harm_path``). Demand that existing CCTV already watches is taken out first,
   and so are candidates inside it: the council's community-safety cameras found
   in the data root (``cctv/<borough>-council-cctv.geojson``, see
   :func:`council_cctv`; on by default, ``council_cctv=False`` to switch off) and
   a user's own layer (``cctv=``). The plan says how many council cameras there
   are, which stand in the area and what share of the offences they already watch.
2. **Candidates.** The police.uk points themselves (``candidates="points"``) or the
   centres of the study grid's H3 cells (``"cells"``), at most ``max_candidates``
   of them, kept by how much demand they could see.
3. **Choice.** A maximal covering location problem (Church & ReVelle 1974) solved
   exactly with PuLP/CBC in its sparse form (:func:`mclp_cover`; distances in
   British National Grid metres). :class:`spopt.locate.MCLP` builds the same model
   from a dense demand × candidate matrix, which is slow for a borough's thousands
   of points; it is the reference our solver is tested against. A greedy heuristic
   (take the site that sees the most still-unseen demand, K times) is run beside
   it: it is the fallback when the solver fails or stops early, and the plan
   records both coverages, so ``MCLP ≥ greedy`` can be checked on every run.
4. **Rotation.** A camera stays ``weeks`` weeks, then moves: each further round
   picks the next K sites on the demand the earlier rounds did not cover.

References
----------
Church, R. & ReVelle, C. (1974). The maximal covering location problem. *Papers of
the Regional Science Association* 32, 101–118.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pulp
from scipy.spatial import cKDTree

from ..analysis import Analysis
from ..areas import BNG, Area, bng_xy, load_wards, resolve_area
from ..config import BOROUGH_BCU, data_root
from ..errors import DataError, ParameterError, check_choice
from ..provenance import json_value
from ..stats.harm import harm_table
from .streets import NO_NAME, street_name

__all__ = [
    "CameraPlan",
    "CouncilCCTV",
    "council_cctv",
    "greedy_cover",
    "mclp_cover",
    "site_cameras",
]

CANDIDATES = ("points", "cells")
WEIGHTS = ("count", "harm")


@dataclass(frozen=True)
class CameraPlan:
    """The chosen camera sites (``sites``, one row per site and round) and why."""

    sites: gpd.GeoDataFrame = field(repr=False)
    metadata: dict = field(repr=False)

    def records(self) -> list[dict]:
        """The sites as JSON-ready dicts (no geometry)."""
        cols = [c for c in self.sites.columns if c != "geometry"]
        return [{k: json_value(v) for k, v in row.items()}
                for row in self.sites[cols].to_dict("records")]

    def to_json(self) -> dict:
        return {"sites": self.records(), "metadata": self.metadata}

    def cctv_summary(self) -> list[str]:
        """What existing CCTV took out of the plan, in words (council, then own)."""
        out = []
        for key in ("council_cctv", "own_cctv"):
            note = (self.metadata.get(key) or {}).get("note")
            if note:
                out.append(note)
        return out

    def summary(self) -> list[str]:
        """Human lines: the CCTV already there, then every site and why."""
        m = self.metadata
        lines = [f"NOMAD cameras: {m['cameras']} a round, {m['radius_m']:g} m, "
                 f"{m['weeks']} weeks a round ({m['weight']}-weighted)."]
        lines += self.cctv_summary()
        return lines + [str(r) for r in self.sites["rationale"]]


# -- council CCTV in the data root ---------------------------------------------------
#: Layers read from ``<data root>/cctv/``: one file per council.
CCTV_PATTERN = re.compile(r"^(?P<council>.+?)-council-cctv\.(geojson|gpkg|json)$")
#: Columns naming a camera and where it stands, tried in order.
_ID_COLUMNS = ("Camera_Number", "camera_number", "camera_id", "id", "OBJECTID")
_PLACE_COLUMNS = ("Location", "location", "name", "Name")


@dataclass(frozen=True)
class CouncilCCTV:
    """Council community-safety CCTV cameras, one row per camera.

    ``cameras`` is a GeoDataFrame (EPSG:4326) with ``council, camera, location,
    layer, geometry``; ``layers`` lists each file read (``council, path,
    cameras``).
    """

    cameras: gpd.GeoDataFrame = field(repr=False)
    layers: tuple[dict, ...]


def _council_name(slug: str) -> str:
    """``kensington-and-chelsea`` -> ``Kensington and Chelsea`` (a borough's own
    spelling when the slug names one)."""
    key = slug.lower().replace("-", " ").strip()
    for b in (*BOROUGH_BCU, "City of London"):
        if b.lower() == key:
            return b
    return key.title()


@lru_cache(maxsize=16)
def _read_layer(path: str, mtime_ns: int) -> gpd.GeoDataFrame:
    """One CCTV file, read once while unchanged (the app sites cameras often)."""
    try:
        return gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 - any reader error, one message
        raise DataError(f"cannot read the CCTV layer ({exc})", path=path) from None


def council_cctv(root: Path | str | None = None) -> CouncilCCTV | None:
    """Every council CCTV layer under ``<root>/cctv/`` (default the data root);
    None when there is none.

    A layer is a file named ``<borough>-council-cctv.geojson`` (or ``.gpkg``) of
    camera points or view-shed polygons with a coordinate reference system
    (GeoJSON is WGS84). The shared data root holds Kensington and Chelsea's 79
    community-safety cameras (``cctv/PROVENANCE.md``).

    Raises
    ------
    DataError
        When a layer cannot be read or has no coordinate reference system.
    """
    folder = Path(root if root is not None else data_root()) / "cctv"
    if not folder.is_dir():
        return None
    frames, layers = [], []
    for path in sorted(folder.iterdir()):
        m = CCTV_PATTERN.match(path.name)
        if not m:
            continue
        layer = _read_layer(str(path), path.stat().st_mtime_ns).copy()
        if layer.crs is None:
            raise DataError("the CCTV layer has no coordinate reference system",
                            path=str(path))
        layer = layer[layer.geometry.notna() & ~layer.geometry.is_empty].to_crs(4326)
        council = _council_name(m.group("council"))
        idc = next((c for c in _ID_COLUMNS if c in layer.columns), None)
        plc = next((c for c in _PLACE_COLUMNS if c in layer.columns), None)
        frames.append(gpd.GeoDataFrame({
            "council": council,
            "camera": (layer[idc].astype(str) if idc else
                       pd.Series([str(i + 1) for i in range(len(layer))],
                                 index=layer.index)).to_numpy(),
            "location": (layer[plc].astype(str).str.strip() if plc else
                         pd.Series("", index=layer.index)).to_numpy(),
            "layer": path.name,
        }, geometry=layer.geometry.to_numpy(), crs=4326))
        layers.append({"council": council, "path": f"cctv/{path.name}",
                       "cameras": int(len(layer))})
    if not frames:
        return None
    cams = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    return CouncilCCTV(cams, tuple(layers))


# -- the numeric core: coverage sets in, chosen candidates out -------------------------
def greedy_cover(cover: list[np.ndarray], weight: np.ndarray, k: int) -> list[int]:
    """Greedy maximal cover: K times, the candidate seeing the most unseen weight.

    ``cover[j]`` holds the demand indices candidate ``j`` sees. Ties go to the lower
    index, so the answer is deterministic.
    """
    left = np.asarray(weight, dtype="float64").copy()
    chosen: list[int] = []
    for _ in range(min(int(k), len(cover))):
        gains = np.array([left[c].sum() if len(c) else 0.0 for c in cover])
        gains[chosen] = -1.0
        j = int(np.argmax(gains))
        chosen.append(j)
        left[cover[j]] = 0.0
    return chosen


def mclp_cover(cover: list[np.ndarray], weight: np.ndarray, k: int,
               time_limit: float = 60.0) -> list[int]:
    """Maximal covering location problem, solved exactly with PuLP/CBC.

    The sparse form of Church & ReVelle's model: binary ``x_j`` (open candidate
    ``j``), ``y_i`` (demand ``i`` covered), ``max Σ w_i y_i`` subject to
    ``y_i ≤ Σ_{j sees i} x_j`` and ``Σ x_j = k``. Only the pairs within the radius
    enter the model, and demand points seen by the same set of candidates are
    merged (their weights added), so a borough-wide problem has a few thousand
    terms instead of spopt's dense demand × candidate matrix; the answer is the
    same as :class:`spopt.locate.MCLP`'s (the tests compare them).

    Parameters
    ----------
    cover : list of ndarray
        ``cover[j]``: the demand indices candidate ``j`` sees.
    weight : ndarray
        Demand at each point.
    k : int
        Sites to open (at most ``len(cover)``).

    Returns
    -------
    list of int
        The chosen candidates, sorted.

    Raises
    ------
    RuntimeError
        When CBC does not report an optimal solution (the caller falls back).
    """
    weight = np.asarray(weight, dtype="float64")
    seen_by: dict[int, list[int]] = {}
    for j, c in enumerate(cover):
        for i in np.asarray(c, dtype="int64"):
            if weight[i] > 0:
                seen_by.setdefault(int(i), []).append(j)
    groups: dict[tuple[int, ...], float] = {}
    for i, js in seen_by.items():
        key = tuple(sorted(js))
        groups[key] = groups.get(key, 0.0) + float(weight[i])
    prob = pulp.LpProblem("nomad_mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(len(cover))]
    y = [pulp.LpVariable(f"y{g}", lowBound=0, upBound=1) for g in range(len(groups))]
    # a tiny preference for fewer-indexed sites makes ties deterministic
    eps = 1e-7 / max(len(cover), 1)
    prob += (pulp.lpSum(w * yg for w, yg in zip(groups.values(), y, strict=True))
             - pulp.lpSum(eps * j * xj for j, xj in enumerate(x)))
    for yg, js in zip(y, groups, strict=True):
        prob += yg <= pulp.lpSum(x[j] for j in js)
    prob += pulp.lpSum(x) == int(k)
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"CBC status {pulp.LpStatus[status]}")
    return sorted(j for j, xj in enumerate(x) if (xj.value() or 0) > 0.5)


# -- the public function ---------------------------------------------------------------
def site_cameras(
    source: Analysis | pd.DataFrame,
    *,
    cameras: int,
    radius_m: float = 100.0,
    candidates: str = "points",
    weight: str | None = None,
    cctv: gpd.GeoDataFrame | None = None,
    cctv_radius_m: float | None = None,
    council_cctv: bool | CouncilCCTV = True,
    area: Area | str | None = None,
    harm_path: str | Path | None = None,
    weeks: int = 4,
    rotations: int = 3,
    start: str | date | None = None,
    max_candidates: int = 400,
    cells: pd.DataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
) -> CameraPlan:
    """Choose K NOMAD camera sites, and the next K for each rotation.

    Parameters
    ----------
    source : Analysis or DataFrame
        An :func:`~hotspots.analysis.analyse` result (its offences, cells and audit
        trail are used) or offences with ``lon, lat`` (and ``crime_type`` for harm,
        ``location`` for site names).
    cameras : int
        Cameras (sites per round), ≥ 1 and at most the number of candidates.
    radius_m : float
        What a camera covers, in metres (default 100).
    candidates : {'points', 'cells'}
        Sites at police.uk map points or at H3 cell centres of the study grid.
    weight : {'count', 'harm'}, optional
        Demand per offence; defaults to the analysis' weight (else count).
    cctv : GeoDataFrame, optional
        A user's own CCTV layer: points (covering ``cctv_radius_m``, default
        ``radius_m``) or polygons (view sheds). Demand and candidates inside are
        excluded.
    council_cctv : bool or CouncilCCTV
        Also exclude what the council CCTV layers of the data root watch
        (:func:`council_cctv`; default True). False switches it off; a
        :class:`CouncilCCTV` is used as given.
    area : Area or str, optional
        The study area, to count the council cameras standing in it (default:
        the analysis' area).
    harm_path : path, optional
        A harm table for ``weight='harm'`` (default: the analysis' own table, else
        the shipped one).
    weeks : int
        Deployment length of one round (default 4 weeks).
    rotations : int
        Rounds to plan (1: only the first site list).
    start : str or date, optional
        First deployment day (default: the first Monday after the analysis period).
    max_candidates : int
        Candidates kept (those seeing the most demand), to bound the solver.

    Returns
    -------
    CameraPlan
        ``sites``: ``rank, round, site, lon, lat, location, ward, covered_offences,
        covered_value, share, deploy_from, deploy_to, method, rationale, geometry``.
    """
    k = _check_k(cameras)
    radius = _positive("radius_m", radius_m)
    check_choice("candidates", candidates, CANDIDATES)
    if int(weeks) < 1 or int(rotations) < 1:
        raise ParameterError(f"weeks and rotations must be ≥ 1; got {weeks!r}, "
                             f"{rotations!r}.")
    if int(max_candidates) < 1:
        raise ParameterError(f"max_candidates must be ≥ 1; got {max_candidates!r}.")
    offences, cells, meta, period_end = _inputs(source, cells)
    weight = weight or meta.get("weight") or "count"
    check_choice("weight", weight, WEIGHTS)
    table = _harm(weight, harm_path, source)
    if table is not None:
        meta["harm_table"] = table.to_dict()
    demand = _demand(offences, weight, table)
    c_radius = _positive("cctv_radius_m", cctv_radius_m) if cctv_radius_m \
        is not None else radius
    council = _council_layer(council_cctv)
    area = _area_of(area, source)
    excluded = {"demand_points": 0, "offences": 0, "candidates": 0}
    mask_council = _cctv_mask(council.cameras if council else None, demand["x"],
                              demand["y"], c_radius)
    mask_own = _cctv_mask(cctv, demand["x"], demand["y"], c_radius)
    meta["council_cctv"] = _council_report(council_cctv, council, area, demand,
                                           mask_council, c_radius, meta)
    if mask_own is not None:
        meta["own_cctv"] = _own_report(cctv, demand, mask_own, c_radius, meta)
    watched = _either(mask_council, mask_own)
    if watched is not None:
        excluded["demand_points"] = int(watched.sum())
        excluded["offences"] = int(demand.loc[watched, "offences"].sum())
        demand = demand[~watched].reset_index(drop=True)
    cand = _candidates(candidates, demand, offences, cells)
    watched_c = _either(
        _cctv_mask(council.cameras if council else None, cand["x"], cand["y"],
                   c_radius),
        _cctv_mask(cctv, cand["x"], cand["y"], c_radius))
    if watched_c is not None:
        excluded["candidates"] = int(watched_c.sum())
        cand = cand[~watched_c].reset_index(drop=True)
    cand, cover = _coverage(demand, cand, radius, int(max_candidates))
    if k > len(cand):
        raise ParameterError(
            f"{k} cameras asked for but only {len(cand)} candidate site"
            f"{'s' if len(cand) != 1 else ''} see any offence within {radius:g} m "
            f"({candidates}); ask for fewer cameras or a larger radius.")
    first = _first_day(start, period_end)
    w = demand["value"].to_numpy(dtype="float64")
    n_off = demand["offences"].to_numpy(dtype="int64")
    total_value, total_off = float(w.sum()), int(n_off.sum())
    rows, rounds = [], []
    left = w.copy()
    open_c = np.ones(len(cand), dtype=bool)
    for r in range(1, int(rotations) + 1):
        useful = [j for j in np.flatnonzero(open_c) if left[cover[j]].sum() > 0]
        if not useful:
            rounds.append({"round": r, "skipped": "every offence is already seen"})
            break
        idx = np.asarray(useful)
        k_r = min(k, len(idx))
        chosen, info = _solve([cover[j] for j in idx], left, k_r)
        chosen = [int(idx[j]) for j in chosen]
        info["round"] = r
        info["sites"] = k_r
        if k_r < k:
            info["note"] = (f"only {k_r} site{'s' if k_r != 1 else ''} still see "
                            "unseen offences; the other cameras are not needed")
        rounds.append(info)
        frm = first + timedelta(weeks=int(weeks) * (r - 1))
        for j in _by_gain(chosen, cover, left):
            mine = cover[j][left[cover[j]] > 0]  # what no earlier site sees
            rows.append(_site_row(r, j, cand, mine, left, n_off, total_value,
                                  frm, int(weeks), info["method"]))
            left[cover[j]] = 0.0
        open_c[chosen] = False
    sites = _finish(rows, _streets_by_point(offences, demand), wards, radius, meta,
                    total_off, watched is not None and bool(watched.any()))
    meta.update({
        "cameras": k, "radius_m": radius, "candidates": candidates,
        "n_candidates": int(len(cand)), "max_candidates": int(max_candidates),
        "weight": weight, "demand_points": int(len(demand)),
        "demand_offences": total_off, "demand_value": total_value,
        "excluded_by_cctv": excluded, "weeks": int(weeks), "rotations": int(rotations),
        "start": first.isoformat(), "rounds": rounds,
        "method": "maximal covering location problem (sparse, PuLP/CBC; tested "
                  "against spopt MCLP); greedy fallback and comparison",
        "distances": f"{BNG} metres",
    })
    return CameraPlan(sites, meta)


# -- private steps ---------------------------------------------------------------------
def _check_k(cameras) -> int:
    try:
        k = int(cameras)
    except (TypeError, ValueError):
        raise ParameterError(f"cameras must be a whole number; got {cameras!r}."
                             ) from None
    if k < 1 or k != cameras:
        raise ParameterError(f"cameras must be a whole number ≥ 1; got {cameras!r}.")
    return k


def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number; got {value!r}.") from None
    if not v > 0:
        raise ParameterError(f"{name} must be > 0; got {value!r}.")
    return v


def _inputs(source, cells):
    if isinstance(source, Analysis):
        offences = source.offences
        cells = source.cells if cells is None else cells
        meta = {"analysis": {k: source.metadata.get(k) for k in
                             ("area", "crime", "period", "grid", "weight")},
                "synthetic_share": source.metadata["data"]["synthetic_share"],
                "weight": source.metadata.get("weight"),
                "crime": source.crime, "area": source.area.name,
                "period": [source.start, source.end]}
        end = source.end
    else:
        offences = source
        meta = {"synthetic_share": float(offences["synthetic"].mean())
                if "synthetic" in offences and len(offences) else 0.0}
        end = (max(offences["month"]) if "month" in offences and len(offences)
               else None)
    if missing := {"lon", "lat"} - set(offences.columns):
        raise ParameterError(f"the offences need columns {sorted(missing)}.")
    return offences, cells, meta, end


def _harm(weight: str, harm_path, source):
    """The harm table of a harm-weighted plan: ``harm_path``, else the analysis'
    own (a custom ``--harm-table`` included), else the shipped one."""
    if weight != "harm":
        return None
    if harm_path is not None:
        return harm_table(harm_path)
    study = getattr(source, "study", None)
    own = getattr(study, "harm", None)
    return own if own is not None else harm_table()


def _demand(offences: pd.DataFrame, weight: str, table=None) -> pd.DataFrame:
    """Offences grouped at their map points: ``lon, lat, x, y, offences, value``."""
    off = offences.dropna(subset=["lon", "lat"])
    if weight == "harm":
        if "crime_type" not in off:
            raise ParameterError("harm weights need the offences' crime_type.")
        vals = (table if table is not None else harm_table()).of(off["crime_type"])
    else:
        vals = np.ones(len(off))
    frame = pd.DataFrame({"lon": off["lon"].to_numpy(), "lat": off["lat"].to_numpy(),
                          "value": vals})
    demand = (frame.groupby(["lon", "lat"], sort=True)
              .agg(offences=("value", "size"), value=("value", "sum")).reset_index())
    demand["x"], demand["y"] = bng_xy(demand["lon"], demand["lat"])
    return demand


def _candidates(kind, demand, offences, cells) -> pd.DataFrame:
    if kind == "points":
        return demand[["lon", "lat", "x", "y"]].copy()
    if cells is None or "h3" not in cells:
        raise ParameterError("cell candidates need the study grid (an Analysis).")
    ids = sorted(cells["h3"].astype(str))
    lat, lon = np.array([h3.cell_to_latlng(c) for c in ids]).T
    frame = pd.DataFrame({"lon": lon, "lat": lat, "h3": ids})
    frame["x"], frame["y"] = bng_xy(frame["lon"], frame["lat"])
    return frame


def _either(a, b):
    """Element-wise or of two optional masks."""
    if a is None:
        return b
    return a if b is None else a | b


def _council_layer(requested) -> CouncilCCTV | None:
    if isinstance(requested, CouncilCCTV):
        return requested
    if requested is True:
        return council_cctv()
    if requested is False or requested is None:
        return None
    raise ParameterError(
        f"'council_cctv' needs to be True, False or a CouncilCCTV. "
        f"{requested!r} was given instead.")


def _area_of(area, source) -> Area | None:
    if area is not None:
        return area if isinstance(area, Area) else resolve_area(area)
    return source.area if isinstance(source, Analysis) else None


def _watching(cams_xy: np.ndarray, demand, radius: float) -> np.ndarray:
    """For each camera point, whether any demand point lies within ``radius``."""
    if not len(cams_xy) or not len(demand):
        return np.zeros(len(cams_xy), dtype=bool)
    tree = cKDTree(demand[["x", "y"]].to_numpy())
    return np.array([bool(h) for h in tree.query_ball_point(cams_xy, r=radius)])


def _council_report(requested, council, area, demand, mask, radius, meta) -> dict:
    """What the council cameras are and what they already watch, with a note."""
    if requested is False or requested is None:
        return {"used": False, "note": "Council CCTV not taken into account "
                "(switched off)."}
    if council is None:
        return {"used": False, "note": None,
                "reason": "no council CCTV layer in the data root's cctv/ folder"}
    cams = council.cameras
    pts = cams.geometry.representative_point()
    within = (pts.within(area.geometry).to_numpy() if area is not None
              else np.zeros(len(cams), dtype=bool))
    x, y = bng_xy(pts.x.to_numpy(), pts.y.to_numpy())
    watching = _watching(np.column_stack([x, y]), demand, radius)
    total_off = int(demand["offences"].sum())
    seen_off = int(demand.loc[mask, "offences"].sum()) if mask is not None else 0
    seen_val = float(demand.loc[mask, "value"].sum()) if mask is not None else 0.0
    share = seen_off / total_off if total_off else 0.0
    relevant = bool(within.any() or watching.any())
    councils = (sorted(set(cams.loc[within | watching, "council"]))
                or sorted({x["council"] for x in council.layers}))
    where = area.name if area is not None else "the area"
    rep = {
        "used": relevant,
        "layers": list(council.layers),
        "councils": councils,
        "cameras": int(len(cams)),
        "within_area": int(within.sum()) if area is not None else None,
        "watching_offences": int(watching.sum()),
        "radius_m": float(radius),
        "offences_watched": seen_off,
        "value_watched": seen_val,
        "share_watched": round(share, 4),
        "cameras_within_area": [
            {"council": c, "camera": k, "location": loc}
            for c, k, loc in cams.loc[within, ["council", "camera", "location"]]
            .itertuples(index=False, name=None)],
    }
    crime = meta.get("crime", "")
    if relevant:
        n_in = (f" ({int(within.sum())} of them in {where})" if area is not None
                else "")
        rep["note"] = (
            f"Council CCTV excluded: {len(cams)} {' and '.join(councils)} council "
            f"camera{'s' if len(cams) != 1 else ''}{n_in}; {int(watching.sum())} "
            f"stand within {radius:g} m of {crime + ' ' if crime else ''}offences "
            f"and already watch {seen_off:,} of the {total_off:,} ({100 * share:.1f}"
            " %), so those places are left out of the NOMAD sites "
            "(--no-council-cctv to include them).")
    else:
        rep["note"] = None
        rep["reason"] = (f"no council camera of {', '.join(councils)} stands in or "
                         f"near {where}")
    return rep


def _own_report(cctv, demand, mask, radius, meta) -> dict:
    total = int(demand["offences"].sum())
    seen = int(demand.loc[mask, "offences"].sum())
    share = seen / total if total else 0.0
    return {"features": int(len(cctv)), "radius_m": float(radius),
            "offences_watched": seen, "share_watched": round(share, 4),
            "note": (f"Own CCTV layer excluded: {len(cctv)} feature"
                     f"{'s' if len(cctv) != 1 else ''} already watch {seen:,} of the "
                     f"{total:,} offences ({100 * share:.1f} %).")}


def _cctv_mask(cctv, x, y, radius) -> np.ndarray | None:
    """Which (x, y) an existing CCTV layer already watches."""
    if cctv is None or len(cctv) == 0:
        return None
    if cctv.crs is None:
        raise ParameterError("the CCTV layer has no coordinate reference system.")
    layer = cctv.to_crs(BNG).geometry
    pts_mask = layer.geom_type.isin(["Point", "MultiPoint"])
    zones = pd.concat([layer[pts_mask].buffer(float(radius)), layer[~pts_mask]])
    covered = gpd.GeoSeries(zones.to_numpy(), crs=BNG).union_all()
    pts = gpd.GeoSeries(gpd.points_from_xy(np.asarray(x), np.asarray(y)),
                        crs=BNG)
    return pts.intersects(covered).to_numpy()


def _coverage(demand, cand, radius, max_candidates):
    """Which demand each candidate sees; candidates kept by what they could see."""
    if not len(demand) or not len(cand):
        return cand.iloc[:0].reset_index(drop=True), []
    tree = cKDTree(demand[["x", "y"]].to_numpy())
    hits = tree.query_ball_point(cand[["x", "y"]].to_numpy(), r=radius)
    w = demand["value"].to_numpy()
    potential = np.array([w[h].sum() if h else 0.0 for h in hits])
    keep = np.flatnonzero(potential > 0)
    # best first; ties by position (points are sorted by lon, lat) for determinism
    keep = keep[np.lexsort((keep, -potential[keep]))][:max_candidates]
    keep = np.sort(keep)
    cover = [np.asarray(sorted(hits[j]), dtype="int64") for j in keep]
    return cand.iloc[keep].reset_index(drop=True), cover


def _solve(cover, left, k):
    """One round: MCLP on the demand still unseen, greedy beside it."""
    g = greedy_cover(cover, left, k)
    g_value = _seen_value(cover, left, g)
    info = {"greedy_coverage": g_value}
    try:
        chosen = mclp_cover(cover, left, k)
        m_value = _seen_value(cover, left, chosen)
        info["mclp_coverage"] = m_value
        if m_value + 1e-9 < g_value:  # pragma: no cover - only if CBC stops early
            info["method"] = "greedy (MCLP stopped below the greedy cover)"
            return g, info
        info["method"] = "MCLP"
        return chosen, info
    except (RuntimeError, pulp.PulpSolverError) as exc:  # pragma: no cover
        info["mclp_coverage"] = None
        info["method"] = f"greedy (MCLP failed: {exc})"
        return g, info


def _seen_value(cover, weight, chosen) -> float:
    """The demand the ``chosen`` candidates see between them (each point once)."""
    return float(weight[np.unique(np.concatenate([cover[j] for j in chosen]))].sum())


def _by_gain(chosen, cover, left) -> list[int]:
    """The round's sites, most newly seen demand first (ranked greedily)."""
    left = left.copy()
    order = []
    todo = list(chosen)
    while todo:
        gains = [left[cover[j]].sum() for j in todo]
        j = todo.pop(int(np.argmax(gains)))
        order.append(j)
        left[cover[j]] = 0.0
    return order


def _first_day(start, period_end) -> date:
    if start is not None:
        try:
            return date.fromisoformat(str(start))
        except ValueError:
            raise ParameterError(f"start must be a date YYYY-MM-DD; got {start!r}."
                                 ) from None
    if period_end is None:
        return date.today()
    y, m = (int(p) for p in str(period_end).split("-")[:2])
    d = date(y + (m == 12), m % 12 + 1, 1)
    return d + timedelta(days=(7 - d.weekday()) % 7)


def _site_row(r, j, cand, mine, left, n_off, total_value, frm, weeks, method):
    c = cand.iloc[j]
    value = float(left[mine].sum())
    return {
        "round": r, "candidate": j, "lon": float(c["lon"]), "lat": float(c["lat"]),
        "h3": c.get("h3"), "covered_offences": int(n_off[mine].sum()),
        "covered_value": value,
        "share": value / total_value if total_value > 0 else 0.0,
        "deploy_from": frm.isoformat(),
        "deploy_to": (frm + timedelta(weeks=weeks) - timedelta(days=1)).isoformat(),
        "method": method, "_seen": mine,
    }


def _finish(rows, streets, wards, radius, meta, total_off, cctv_excluded=False
            ) -> gpd.GeoDataFrame:
    cols = ["rank", "round", "site", "lon", "lat", "location", "ward",
            "covered_offences", "covered_value", "share", "deploy_from", "deploy_to",
            "method", "rationale", "geometry"]
    if not rows:
        return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=4326)
    frame = pd.DataFrame(rows)
    frame["rank"] = frame.groupby("round").cumcount() + 1
    frame["site"] = [f"C{r}.{k}" for r, k in zip(frame["round"], frame["rank"],
                                                  strict=True)]
    frame["location"] = [_location(streets, s) for s in frame["_seen"]]
    frame["location"] = _name_from_nearest(frame, streets)
    geom = gpd.points_from_xy(frame["lon"], frame["lat"])
    sites = gpd.GeoDataFrame(frame.drop(columns=["_seen"]), geometry=geom, crs=4326)
    sites["ward"] = _ward_of(sites, wards)
    crime = meta.get("crime", "offences")
    area = meta.get("area", "the area")
    why = []
    for s in sites.itertuples(index=False):
        txt = (f"Camera {s.site} ({s.deploy_from} to {s.deploy_to}): {s.location}, "
               f"{s.ward or 'outside the 2022 wards'}; sees {s.covered_offences} "
               f"{crime} offences within {radius:g} m that no earlier site sees "
               f"({100 * s.share:.1f} % of {area}'s {total_off}"
               + (" that no CCTV already watches)." if cctv_excluded else ")."))
        if s.round > 1:
            txt += f" Rotation {s.round}: the next-best sites once round " \
                   f"{s.round - 1} moves on."
        why.append(txt)
    sites["rationale"] = why
    return sites[cols]


def _streets_by_point(offences, demand) -> pd.DataFrame | None:
    """Offences per demand point and police.uk Location (``point, street, n``,
    with the point's ``lon, lat``)."""
    if "location" not in offences:
        return None
    points = pd.MultiIndex.from_frame(demand[["lon", "lat"]])
    pos = points.get_indexer(pd.MultiIndex.from_frame(offences[["lon", "lat"]]))
    at = pos >= 0
    frame = pd.DataFrame({"point": pos[at],
                          "street": offences["location"].map(street_name)[at]})
    out = frame.groupby(["point", "street"]).size().rename("n").reset_index()
    where = demand[["lon", "lat"]].to_numpy()[out["point"].to_numpy()]
    return out.assign(lon=where[:, 0], lat=where[:, 1])


#: How far a site with no named offence looks for the nearest named map point.
NAME_SEARCH_M = 300.0


def _name_from_nearest(frame: pd.DataFrame, streets) -> list[str]:
    """Sites that see only unnamed points take the nearest named police.uk point
    within :data:`NAME_SEARCH_M` ("near High Street, 120 m")."""
    names = frame["location"].tolist()
    if streets is None or NO_NAME not in names:
        return names
    named = streets[streets["street"] != NO_NAME]
    if named.empty:
        return names
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack(bng_xy(named["lon"], named["lat"])))
    sx, sy = bng_xy(frame["lon"], frame["lat"])
    dist, idx = tree.query(np.column_stack([sx, sy]))
    return [f"near {named['street'].iloc[i].removeprefix('On or near ')}, "
            f"{d:.0f} m" if name == NO_NAME and d <= NAME_SEARCH_M else name
            for name, d, i in zip(names, dist, idx, strict=True)]


def _location(streets, seen: np.ndarray) -> str:
    """The most common police.uk Location among the offences a site sees; a named
    street before the points whose name is missing (an officer needs a street)."""
    if streets is None:
        return "n/a"
    sub = streets[streets["point"].isin(seen)]
    if sub.empty:
        return "n/a"
    named = sub[sub["street"] != NO_NAME]
    counts = (named if len(named) else sub).groupby("street")["n"].sum()
    return str(min(counts.index[counts == counts.max()]))


def _ward_of(sites, wards) -> list[str | None]:
    wards = load_wards() if wards is None else wards
    hit = gpd.sjoin(sites[["geometry"]], wards[["ward_name", "geometry"]],
                    how="left", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    return [None if pd.isna(v) else str(v) for v in hit["ward_name"]]
