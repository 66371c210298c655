"""Work and memory limits: estimate a job before running it, refuse it with a reason.

A hot spot run can ask for far more than the machine has: ``--permutations
1000000000`` or ``--k 500`` used to run until the operating system killed them. Every
expensive step now estimates its memory and work from its arguments *before* it
allocates anything, and raises :class:`~hotspots.errors.ParameterError` with one
line saying what it would need, the cap, the variable that sets the cap, and the
largest value that fits.

Caps
----
The defaults suit the 24 GB, 2-core machine the tool is run on (one job may take a
third of the memory, leaving room for the app and the operating system). Each is
overridden by an environment variable, read every time a check runs:

============================  =========  ==============================================
variable                      default    caps
============================  =========  ==============================================
``HOTSPOTS_MAX_MEMORY_MB``    8192       memory one step may allocate (MiB)
``HOTSPOTS_MAX_WORK``         1e11       steps of one Gi* run (~8 minutes, see below)
``HOTSPOTS_MAX_K``            25         k-ring size (a ring holds 3k(k+1)+1 cells)
``HOTSPOTS_MAX_CELLS``        2000000    cells of one study grid
``HOTSPOTS_MAX_UNZIP_MB``     2048       expanded size of one archive member (MiB)
``HOTSPOTS_MAX_UNZIP_RATIO``  100        expanded / compressed size of one member
``HOTSPOTS_MAX_INPUT_MB``     256        one file given on the command line (a patrol
                                         log, a plan), read whole (MiB)
``HOTSPOTS_MAX_REQUEST_MB``   8          one request's body to the app (MiB; the
                                         largest the app's own pages send is
                                         under 1 MiB): larger ones get 413
============================  =========  ==============================================

How the estimates are made
--------------------------
*Gi* permutations* (:mod:`hotspots.stats.gistar`): for every distinct neighbour
count *k* the engine draws one ``permutations × k`` array of int64 indices (the
rejection check sorts a copy), then for every distinct value among the cells with
that *k* gathers a float64 array of the same shape and sums it. The peak is 25
bytes per drawn index of the largest *k* (int64 draws, their sorted copy and its
differences, or the gather's temporaries) plus the previous *k*'s draws, and 24
bytes per permutation for the sorted null; measured peaks agree within a few per
cent. The work is ``Σ_k (distinct values) · P · (k + log₂ P)`` plus the draws
themselves, in steps of about 5 ns on one core of the 2-core machine (1e11 steps
is about 8 minutes).

*Rings*: a k-ring holds ``3k(k+1) + 1`` cells, so the neighbour lists of a grid of
*n* cells hold ``n · 3k(k+1)`` pairs at about 80 bytes each while the sparse
matrix is built. *Distance bands*: a band of *d* metres holds about ``π d² / a``
cells of area *a*. *Cells*: an area of *A* km² at resolution *r* holds about
``A / a_r`` cells (H3 average area), plus the edge.

Examples
--------
>>> ring_cells(1), ring_cells(2), ring_cells(500)
(7, 19, 751501)
>>> check_permutations(1_000_000_000)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
hotspots.errors.ParameterError: 'permutations' 1,000,000,000 needs about 162 GB ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from .errors import ParameterError

__all__ = [
    "ENV",
    "H3_MEAN_AREA_M2",
    "Cost",
    "Limits",
    "cells_for_area",
    "check_archive_member",
    "check_cells",
    "check_distance",
    "check_gistar",
    "check_memory",
    "check_permutations",
    "check_ring",
    "gistar_cost",
    "gistar_shape",
    "neighbours_within",
    "preflight",
    "read_input",
    "ring_cells",
]

#: Environment variable of each cap (field of :class:`Limits` -> variable).
ENV: dict[str, str] = {
    "max_memory_mb": "HOTSPOTS_MAX_MEMORY_MB",
    "max_work": "HOTSPOTS_MAX_WORK",
    "max_k": "HOTSPOTS_MAX_K",
    "max_cells": "HOTSPOTS_MAX_CELLS",
    "max_unzip_mb": "HOTSPOTS_MAX_UNZIP_MB",
    "max_unzip_ratio": "HOTSPOTS_MAX_UNZIP_RATIO",
    "max_input_mb": "HOTSPOTS_MAX_INPUT_MB",
    "max_request_mb": "HOTSPOTS_MAX_REQUEST_MB",
}

#: Bytes per drawn permutation index at the engine's peak (int64 draws, the sorted
#: copy of the rejection check, and the gathered float64 values with their temps).
DRAW_BYTES = 25
#: Bytes per permutation for the null sums, their sorted copy and searchsorted.
NULL_BYTES = 24
#: Bytes per cell of the per-cell arrays of one Gi* run (y, sums, moments, z, p …).
CELL_BYTES = 160
#: Bytes per (cell, neighbour) pair while a weights matrix is built.
PAIR_BYTES = 80
#: Steps of one Python-level redraw of a permutation row (dense draws, 4k ≥ n).
ROW_STEPS = 1_500
_MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The caps every check compares its estimate against.

    Build it with :meth:`from_env` (what the checks do when none is given) or
    directly in tests; fields are documented in the module notes.

    Examples
    --------
    >>> Limits.from_env({"HOTSPOTS_MAX_MEMORY_MB": "512"}).max_memory_mb
    512
    >>> Limits.from_env({"HOTSPOTS_MAX_K": "lots"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hotspots.errors.ParameterError: 'HOTSPOTS_MAX_K' needs to be a whole number > 0. ...
    """

    max_memory_mb: int = 8_192
    max_work: float = 1e11
    max_k: int = 25
    max_cells: int = 2_000_000
    max_unzip_mb: int = 2_048
    max_unzip_ratio: float = 100.0
    max_input_mb: int = 256
    max_request_mb: int = 8

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults, overridden by any ``HOTSPOTS_MAX_*`` variable set."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(ENV[f.name])
            if raw is None or not raw.strip():
                continue
            values[f.name] = _positive(ENV[f.name], raw, whole=f.type == "int")
        return cls(**values)

    @property
    def max_memory_bytes(self) -> int:
        return int(self.max_memory_mb) * _MIB

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb) * _MIB


@dataclass(frozen=True)
class Cost:
    """What a step is estimated to need: peak bytes and elementary steps."""

    memory_bytes: int
    work: float


def _positive(name: str, raw: str, whole: bool):
    try:
        value = float(raw.replace("_", "").replace(",", ""))
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0) or (whole and value != int(value)):
        kind = "whole number" if whole else "number"
        raise ParameterError(
            f"{name!r} needs to be a {kind} > 0. {raw!r} was given instead.")
    return int(value) if whole else value


def _limits(limits: Limits | None) -> Limits:
    return limits if limits is not None else Limits.from_env()


# -- formatting ------------------------------------------------------------------------
def _bytes(n: float) -> str:
    """``1.5 GB``-style size (binary units, as the caps are set in MiB)."""
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", _MIB)):
        if n >= size:
            v = n / size
            text = f"{v:,.0f}" if v >= 10 else f"{v:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    return f"{max(n, 0) / 1024:.0f} KB"


def _steps(n: float) -> str:
    for unit, size in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if n >= size:
            v = n / size
            return f"{v:,.0f} {unit}" if v >= 10 else f"{v:.1f} {unit}"
    return f"{n:,.0f}"


def _nice_below(x: float) -> int:
    """The largest of 9, 19, 49, 99, 199, 499, 999 … not above ``x`` (else floor).

    >>> _nice_below(43_000_000), _nice_below(120_000), _nice_below(7)
    (19999999, 99999, 7)
    """
    if x < 9:
        return max(int(math.floor(x)), 0)
    best = 9
    mag = 10
    while mag <= x + 1:
        for m in (1, 2, 5):
            if m * mag - 1 <= x:
                best = m * mag - 1
        mag *= 10
    return best


# -- sizes ----------------------------------------------------------------------------
def ring_cells(k: int) -> int:
    """Cells in a k-ring disk, the centre included: ``3k(k+1) + 1``."""
    k = int(k)
    return 3 * k * (k + 1) + 1


#: Mean H3 hexagon area in m² at each resolution 0-15 (``h3.average_hexagon_area``,
#: kept here so a start-up check does not import h3; a test compares them).
H3_MEAN_AREA_M2: tuple[float, ...] = (
    4357449416078.3833, 609788441794.1332, 86801780398.99721, 12393434655.08816,
    1770347654.491307, 252903858.1819449, 36129062.164412454, 5161293.359717191,
    737327.5975944176, 105332.51342720671, 15047.50190766435, 2149.643129451879,
    307.091875631606, 43.870267947282954, 6.2671811353243125, 0.895311590760579,
)


def _cell_area_m2(res: int) -> float:
    from .errors import check_choice

    check_choice("res", res, tuple(range(16)))
    return H3_MEAN_AREA_M2[int(res)]


def cells_for_area(area_km2: float, res: int) -> int:
    """About how many H3 cells of resolution ``res`` an area of ``area_km2`` holds.

    The count of cells whose centre lies inside, plus a ring's worth along the edge
    (cells holding offences snapped just outside), so it errs on the high side.

    >>> 14_000 < cells_for_area(1_572, 9) < 17_500
    True
    """
    a = _cell_area_m2(res)
    inside = float(area_km2) * 1e6 / a
    edge = 4 * math.sqrt(max(inside, 1.0))  # a square's perimeter in cells
    return int(math.ceil(inside + edge))


def neighbours_within(metres: float, res: int) -> int:
    """About how many cell centres of resolution ``res`` lie within ``metres``.

    >>> neighbours_within(500, 9)   # a 500 m band at r9 ~ a 1-ring and a bit
    7
    """
    return int(math.pi * float(metres) ** 2 / _cell_area_m2(res))


# -- checks ---------------------------------------------------------------------------
def check_memory(what: str, nbytes: float, *, use: str | None = None,
                 limits: Limits | None = None) -> None:
    """Raise unless ``nbytes`` fits the memory cap.

    ``what`` starts the message (``"'k' 30 × 116,485 cells"``); ``use`` ends it
    (``"Use ≤ 13."``).
    """
    lim = _limits(limits)
    if nbytes > lim.max_memory_bytes:
        raise ParameterError(
            f"{what} needs about {_bytes(nbytes)} of memory; the cap is "
            f"{_bytes(lim.max_memory_bytes)} ({ENV['max_memory_mb']})."
            + (f" {use}" if use else ""))


def read_input(path, what: str, *, limits: Limits | None = None) -> bytes:
    """The bytes of a file a user gave (``what``: "the patrol log"), read whole
    but never past the input cap: a larger file, or an endless one such as a
    device, is refused before it fills the memory.

    Examples
    --------
    >>> read_input("/dev/zero", "the plan", limits=Limits(max_input_mb=1))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hotspots.errors.ParameterError: the plan (/dev/zero) is larger than the cap ...
    """
    import stat

    cap = _limits(limits).max_input_mb * _MIB
    if stat.S_ISFIFO(os.stat(path).st_mode):  # would wait for a writer for ever
        raise ParameterError(f"{what} ({path}) is a pipe, not a file.")
    with open(path, "rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise ParameterError(
            f"{what} ({path}) is larger than the cap of {_bytes(cap)} "
            f"({ENV['max_input_mb']}).")
    return data


def check_cells(n_cells: int, what: str = "the study grid", *,
                limits: Limits | None = None) -> int:
    """Raise when a grid of ``n_cells`` is above the cell cap or its memory."""
    lim = _limits(limits)
    n = int(n_cells)
    if n > lim.max_cells:
        raise ParameterError(
            f"{what} has about {n:,} cells; the cap is {lim.max_cells:,} "
            f"({ENV['max_cells']}). Use a coarser 'res' or a smaller area.")
    check_memory(f"{what} ({n:,} cells)", n * CELL_BYTES * 4,
                 use="Use a coarser 'res' or a smaller area.", limits=lim)
    return n


def check_ring(k: int, n_cells: int | None = None, *,
               limits: Limits | None = None) -> int:
    """Refuse a k-ring above the cap, wider than the grid, or too big to build.

    Returns the number of neighbours of a cell (``3k(k+1)``).

    Examples
    --------
    >>> check_ring(1)
    6
    >>> check_ring(500)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hotspots.errors.ParameterError: 'k' 500 makes neighbourhoods of 751,501 cells ...
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ParameterError(
            f"'k' needs to be a whole number ≥ 1. {k!r} was given instead.")
    lim = _limits(limits)
    k = int(k)
    if k > lim.max_k:
        raise ParameterError(
            f"'k' {k:,} makes neighbourhoods of {ring_cells(k):,} cells (3k(k+1)+1); "
            f"the cap is {lim.max_k} ({ENV['max_k']}). Use ≤ {lim.max_k}.")
    nbrs = ring_cells(k) - 1
    if n_cells is not None:
        n = int(n_cells)
        need = n * nbrs * PAIR_BYTES
        if need > lim.max_memory_bytes:
            fit = max((j for j in range(1, k)
                       if n * (ring_cells(j) - 1) * PAIR_BYTES
                       <= lim.max_memory_bytes), default=None)
            check_memory(f"'k' {k} × {n:,} cells ({nbrs:,} neighbours each)", need,
                         use=f"Use ≤ {fit}." if fit else "Use a coarser 'res'.",
                         limits=lim)
    return nbrs


def check_distance(metres: float, res: int, n_cells: int | None = None, *,
                   limits: Limits | None = None) -> int:
    """Refuse a distance band reaching more cells than the largest allowed ring.

    Returns the estimated neighbours of a cell.
    """
    try:
        d = float(metres)
    except (TypeError, ValueError):
        d = math.nan
    if not (math.isfinite(d) and d > 0):
        raise ParameterError(
            f"'distance' needs to be a number of metres > 0. {metres!r} was given "
            "instead.")
    lim = _limits(limits)
    nbrs = neighbours_within(d, res)
    cap = ring_cells(lim.max_k) - 1
    area = _cell_area_m2(res)
    if nbrs > cap:
        fit = math.sqrt(cap * area / math.pi)
        raise ParameterError(
            f"'distance' {d:,.0f} m reaches about {nbrs:,} cells around each cell "
            f"at res {res}; the cap is {cap:,} (a {lim.max_k}-ring, "
            f"{ENV['max_k']}). Use ≤ {math.floor(fit):,} m.")
    if n_cells is not None:
        n = int(n_cells)
        need = n * nbrs * PAIR_BYTES
        fit_n = lim.max_memory_bytes / max(n * PAIR_BYTES, 1)
        check_memory(f"'distance' {d:,.0f} m × {n:,} cells ({nbrs:,} neighbours "
                     "each)", need,
                     use=f"Use ≤ {math.floor(math.sqrt(fit_n * area / math.pi)):,} m.",
                     limits=lim)
    return nbrs


def gistar_shape(values, cardinality) -> dict[int, int]:
    """``{neighbour count: distinct values among the cells with it}`` of a Gi* run.

    >>> gistar_shape([0, 0, 3, 1, 0], [2, 2, 2, 1, 1])
    {1: 2, 2: 2}
    """
    v = np.asarray(values, dtype="float64").ravel()
    k = np.asarray(cardinality).astype(np.int64).ravel()
    if not len(k):
        return {}
    order = np.lexsort((v, k))
    ks, vs = k[order], v[order]
    new = np.ones(len(ks), dtype=bool)
    new[1:] = (ks[1:] != ks[:-1]) | (vs[1:] != vs[:-1])
    kk, counts = np.unique(ks[new], return_counts=True)
    return {int(a): int(b) for a, b in zip(kk, counts, strict=True)}


def gistar_cost(n_cells: int, permutations: int, shape: Mapping[int, int], *,
                exact: bool = True) -> Cost:
    """Peak memory and work of :func:`hotspots.stats.gistar.gistar`.

    Parameters
    ----------
    n_cells : int
        Cells in the permutation pool.
    permutations : int
    shape : mapping
        ``{neighbour count k: distinct values among the cells with k}``
        (:func:`gistar_shape`); k = 0 cells cost nothing.
    exact : bool
        False when the engine draws one null per k (many distinct values).

    Examples
    --------
    >>> c = gistar_cost(1_000, 999, {6: 1})
    >>> c.memory_bytes == 999 * (25 * 6 + 24) + 1_000 * 160
    True
    """
    p = int(permutations)
    n = int(n_cells)
    ks = sorted(int(k) for k in shape if int(k) > 0)
    if p <= 0 or not ks:
        return Cost(n * CELL_BYTES, float(n))
    log_p = math.log2(p + 1)
    peak, prev, work = 0, 0, 0.0
    for k in ks:
        # draws of this k are made while the previous k's are still referenced
        peak = max(peak, 8 * prev + DRAW_BYTES * k)
        prev = k
        d = max(int(shape[k]), 1) if exact else 1
        work += p * k * (1 + math.log2(k + 1))  # draws and their duplicate check
        if 4 * k >= n:  # dense draws: a permutation of the pool per row, in Python
            work += p * (n + ROW_STEPS)
        work += d * p * (k + log_p)  # gather, sum and sort of each null
    work += 2 * n * log_p
    return Cost(p * (peak + NULL_BYTES) + n * CELL_BYTES, work)


def _largest(p_max: int, fits) -> int:
    """The largest P in [0, p_max] with ``fits(P)`` (monotone), by bisection."""
    lo, hi = 0, int(p_max)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _check_cost(p: int, n: int, shape: Mapping[int, int], exact: bool, what: str,
                lim: Limits) -> Cost:
    cost = gistar_cost(n, p, shape, exact=exact)
    mem_ok = cost.memory_bytes <= lim.max_memory_bytes
    work_ok = cost.work <= lim.max_work
    if mem_ok and work_ok:
        return cost

    def fits(q: int) -> bool:
        c = gistar_cost(n, q, shape, exact=exact)
        return c.memory_bytes <= lim.max_memory_bytes and c.work <= lim.max_work

    use = f"Use ≤ {_nice_below(_largest(p, fits)):,}."
    kmax = max(shape)
    draws = f"the engine draws {p:,} × {kmax:,} neighbour values"
    if len(shape) > 1:
        draws += f" for each of {len(shape)} neighbour counts"
    if not mem_ok:
        raise ParameterError(
            f"{what} needs about {_bytes(cost.memory_bytes)} of memory ({draws}); "
            f"the cap is {_bytes(lim.max_memory_bytes)} ({ENV['max_memory_mb']}). "
            f"{use}")
    raise ParameterError(
        f"{what} needs about {_steps(cost.work)} steps ({draws}); the cap is "
        f"{_steps(lim.max_work)} ({ENV['max_work']}). {use}")


def _check_p(permutations) -> int:
    if (isinstance(permutations, bool)
            or not isinstance(permutations, int | np.integer) or permutations < 0):
        raise ParameterError(
            f"'permutations' needs to be a whole number ≥ 0. {permutations!r} was "
            "given instead.")
    return int(permutations)


def check_permutations(permutations: int, *, neighbours: int = 6,
                       n_cells: int | None = None,
                       limits: Limits | None = None) -> Cost:
    """Refuse a permutation count whose draws alone cannot fit (before any data).

    Without the data the estimate is a lower bound: one null per neighbour count,
    ``neighbours`` the largest (6 for the default k = 1). :func:`check_gistar`
    makes the exact check once the values are known.
    """
    p = _check_p(permutations)
    lim = _limits(limits)
    n = int(n_cells) if n_cells is not None else 0
    what = f"'permutations' {p:,}" + (f" × {n:,} cells" if n else "")
    return _check_cost(p, n, {max(int(neighbours), 1): 1}, True, what, lim)


def check_gistar(values, cardinality, permutations: int, *,
                 n_pool: int | None = None, exact: bool = True,
                 limits: Limits | None = None) -> Cost:
    """The exact pre-run check of a Gi* run (call it before drawing anything).

    Parameters
    ----------
    values, cardinality : array_like
        The values of the cells to score and their neighbour counts.
    permutations : int
    n_pool : int, optional
        Cells in the permutation pool (default ``len(values)``).
    exact : bool
        As :func:`gistar_cost`.
    """
    p = _check_p(permutations)
    lim = _limits(limits)
    n = int(n_pool) if n_pool is not None else len(np.asarray(values).ravel())
    check_cells(n, "the Gi* grid", limits=lim)
    if p == 0:
        return gistar_cost(n, 0, {})
    shape = {k: d for k, d in gistar_shape(values, cardinality).items() if k > 0}
    if not shape:
        return gistar_cost(n, 0, {})
    return _check_cost(p, n, shape, exact, f"'permutations' {p:,} × {n:,} cells", lim)


def check_archive_member(name: str, compressed_bytes: int, size_bytes: int, *,
                         limits: Limits | None = None) -> None:
    """Refuse an archive member whose expanded size or ratio is above the caps.

    Call it with the sizes the archive's directory declares, before expanding,
    and again as the bytes are read (a member can lie about its size).

    >>> check_archive_member("a.csv", 813_000, 200_000_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hotspots.errors.ParameterError: a.csv expands 794 KB to 191 MB (246 times); ...
    """
    lim = _limits(limits)
    size = int(size_bytes)
    packed = max(int(compressed_bytes), 1)
    ratio = size / packed
    if size > lim.max_unzip_mb * _MIB:
        raise ParameterError(
            f"{name} expands to {_bytes(size)}; the cap is "
            f"{_bytes(lim.max_unzip_mb * _MIB)} ({ENV['max_unzip_mb']}).")
    if ratio > lim.max_unzip_ratio and size > _MIB:
        raise ParameterError(
            f"{name} expands {_bytes(packed)} to {_bytes(size)} ({ratio:,.0f} times); "
            f"the cap is {lim.max_unzip_ratio:,.0f} times "
            f"({ENV['max_unzip_ratio']}): not an ordinary police.uk file.")


def _area_km2(area) -> tuple[str, float]:
    from .areas import resolve_area, ward_areas_km2

    a = resolve_area(area) if isinstance(area, str) else area
    return a.name, ward_areas_km2(a.ward_codes)


def preflight(*, area=None, res: int | None = None, k: int | None = 1,
              distance: float | None = None, permutations: int | None = None,
              time_window: int | None = None, n_cells: int | None = None,
              limits: Limits | None = None) -> dict:
    """Every check that needs only the arguments of an analysis (milliseconds).

    ``area`` (an :class:`~hotspots.areas.Area` or its name) and ``res`` give an
    estimate of the grid's cells when ``n_cells`` is not known; ``time_window``
    makes the neighbourhood space-time (emerging hot spots). Returns the
    estimates: ``{"cells", "neighbours"}``.
    """
    lim = _limits(limits)
    n = n_cells
    if n is None and area is not None and res is not None:
        name, km2 = _area_km2(area)
        n = check_cells(cells_for_area(km2, res), f"{name} at res {res}", limits=lim)
    if distance is not None:
        nbrs = check_distance(distance, res if res is not None else 9, n, limits=lim)
    elif k is not None:
        nbrs = check_ring(k, n, limits=lim)
    else:
        nbrs = 6
    if time_window:
        nbrs = (nbrs + 1) * (int(time_window) + 1) - 1
    if permutations is not None:
        check_permutations(permutations, neighbours=nbrs, n_cells=n, limits=lim)
    return {"cells": n, "neighbours": nbrs}

