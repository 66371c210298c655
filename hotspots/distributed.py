"""Scale-out on Dask: ingest, Gi* and emerging hot spots over a cluster, with the
same answers as one process.

- **Ingest** is partitioned by (kind, month): each task reads that month's files
  with :func:`hotspots.ingest.ingest_group` (the same step the single-process path
  runs, streaming, with a per-worker cache of joined map points) and writes its
  month's GeoParquet parts into the new generation. Duplicate Crime IDs are per
  month, so partitioning by month keeps that check exact. The driver merges the
  small per-file ledger entries and the quarantine and publishes the generation
  under the store lock, as one process does.
- **Gi\\*** is partitioned by H3 parent cell: each task scores its core cells with
  a halo of neighbouring cells (so every core cell sees its full neighbourhood),
  against the global value pool and with nulls seeded by ``(seed, k)``
  (:func:`hotspots.stats.gistar.gistar` with ``pool`` and ``rows``). The answer
  does not depend on the partitioning: z and p are bit-for-bit those of one
  process.
- **Emerging hot spots** partition the cells of the space-time cube the same way.

``cluster()`` gives a client on a :class:`distributed.LocalCluster` out of the box,
or on a user's scheduler (``scheduler="tcp://host:8786"``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import h3
import numpy as np
import pandas as pd

from .config import LONDON_FORCES
from .errors import ParameterError
from .grid import ring_weights
from .ingest import (
    LONDON_BBOX,
    IngestResult,
    Joiner,
    Limits,
    _Plan,
    ingest_group,
    plan_ingest,
    run_ingest,
)
from .stats.gistar import GiStar, gistar
from .store import Store

__all__ = ["cluster", "gistar_engine", "emerging_engine", "ingest_dask",
           "partition_cells"]


@contextlib.contextmanager
def cluster(scheduler: str | None = None, workers: int = 2,
            threads_per_worker: int = 1, processes: bool = True,
            memory_limit: str | None = "auto") -> Iterator:
    """A ``distributed.Client``: on ``scheduler`` if given, else a LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                      processes=processes, memory_limit=memory_limit,
                      dashboard_address=None) as lc, Client(lc) as client:
        yield client


# ---------------------------------------------------------------------------
# ingest

_JOINERS: dict = {}


def _joiner(wards, digest: str, snap_forces) -> Joiner:
    """One point cache per worker process and boundary set."""
    if digest not in _JOINERS:
        _JOINERS.clear()
        _JOINERS[digest] = Joiner(wards, snap_forces=snap_forces)
    return _JOINERS[digest]


def _ingest_partition(kind, month, files, plan, wards, digest, snap_forces):
    """One (kind, month) on a worker: the same step one process runs."""
    return ingest_group(kind, month, files, plan,
                        _joiner(wards, digest, snap_forces))


def ingest_dask(root: Path | str | None = None, store: Store | None = None,
                client=None, forces=LONDON_FORCES, force: bool = False,
                wards=None, bbox=LONDON_BBOX, limits: Limits | None = None,
                lock_timeout: float = 600.0) -> IngestResult:
    """:func:`hotspots.ingest.ingest` on a Dask cluster, partitioned by month.

    Each (kind, month) is a task running :func:`hotspots.ingest.ingest_group`,
    which writes that month's Parquet parts into the new generation's staging
    folder (the workers must see the store's file system) and hands back the
    per-file ledger entries — counts, not rows. The driver then writes the
    quarantine, coverage and ledger and publishes the generation exactly as one
    process does, so the store and ledger are the same.

    Parameters
    ----------
    client : distributed.Client
        Where to run (see :func:`cluster`).
    wards : GeoDataFrame, optional
        The boundary set points are joined to (default: the data root's 2022
        London wards). A national run passes its own set and ``bbox``.
    bbox : tuple
        (lon0, lat0, lon1, lat1) of the force area, for swapped / far-off points.
    """
    if client is None:
        raise ParameterError("'client' is needed: use hotspots.distributed.cluster()")
    t0 = time.perf_counter()
    plan = plan_ingest(root, store, forces, wards, bbox, limits or Limits.from_env())

    def execute(p, staging):
        wards_f = client.scatter(p.ward_set(), broadcast=True)
        shared = _Plan(str(staging), p.bbox, p.limits, p.seqs())
        futures = [
            client.submit(_ingest_partition, kind, month, files, shared, wards_f,
                          p.fp, p.snap_forces,
                          key=f"ingest-{kind}-{month}-{Path(staging).name}",
                          pure=False)
            for (kind, month), files in p.work()
        ]
        try:
            return client.gather(futures)
        except BaseException:
            client.cancel(futures)
            raise

    info = client.scheduler_info()
    engine = {"engine": "dask", "workers": len(info.get("workers", {})),
              "partitions": len(plan.groups)}
    try:
        return run_ingest(plan, execute, t0, force, lock_timeout, engine)
    finally:
        plan.found.cleanup()


# ---------------------------------------------------------------------------
# Gi* and emerging hot spots


def partition_cells(cells, parent_res: int | None = None) -> dict[str, np.ndarray]:
    """Cell indices grouped by H3 parent (default: 3 resolutions coarser)."""
    cells = list(cells)
    if not cells:
        return {}
    res = h3.get_resolution(cells[0])
    pres = max(0, res - 3) if parent_res is None else parent_res
    if pres > res:
        raise ParameterError(f"'parent_res' {pres} is finer than the cells ({res})")
    parents = pd.Series([h3.cell_to_parent(c, pres) for c in cells])
    return {p: idx.to_numpy() for p, idx in parents.groupby(parents).groups.items()}


def _with_halo(cells, index: pd.Index, core: np.ndarray, k: int) -> np.ndarray:
    ring = {n for i in core for n in h3.grid_disk(cells[i], k)}
    pos = index.get_indexer(pd.Index(sorted(ring)))
    halo = np.setdiff1d(pos[pos >= 0], core)
    return np.concatenate([core, halo])


def _score_partition(values, cells, core, k, pool, permutations, seed, time_steps,
                     time_window):
    """Gi* for the core cells of one partition (all time steps for a cube)."""
    from .stats.emerging import space_time_weights

    W = ring_weights(cells, k)
    n = len(cells)
    n_core = len(core)
    if time_steps is None:
        return gistar(values, W, permutations=permutations, seed=seed, pool=pool,
                      rows=np.arange(n_core))
    Wst = space_time_weights(W, time_steps, time_window)
    rows = (np.arange(time_steps)[:, None] * n + np.arange(n_core)[None, :]).ravel()
    return gistar(values, Wst, permutations=permutations, seed=seed, pool=pool,
                  rows=rows)


def _assemble(parts, order, n_total) -> GiStar:
    fields = ("gs", "ei", "vi", "z", "p_norm", "p_sim", "p_one", "cardinality")
    arrays = {}
    for f in fields:
        dtype = int if f == "cardinality" else float
        out = np.empty(n_total, dtype=dtype)
        for idx, g in zip(order, parts, strict=True):
            out[idx] = getattr(g, f)
        arrays[f] = out
    g0 = parts[0]
    return GiStar(**arrays, permutations=g0.permutations, seed=g0.seed,
                  exact_null=all(g.exact_null for g in parts))


def gistar_engine(client, parent_res: int | None = None):
    """An ``engine`` for :func:`hotspots.analysis.analyse` that runs on Dask.

    The grid is split by H3 parent; each task rebuilds the k-ring neighbours of its
    core cells and halo from H3 itself, so no process holds the whole matrix.
    """

    def engine(y, cells, *, k=1, distance=None, permutations=999, seed=None):
        if distance is not None:
            raise ParameterError("the Dask engine supports k-ring neighbourhoods only")
        cells = list(getattr(cells, "cells", cells))  # a Grid or a cell sequence
        y = np.asarray(y, dtype="float64")
        index = pd.Index(cells)
        pool = client.scatter(y, broadcast=True)
        futures, order = [], []
        for _, core in sorted(partition_cells(cells, parent_res).items()):
            local = _with_halo(cells, index, core, k)
            futures.append(client.submit(
                _score_partition, y[local], [cells[i] for i in local], core, k, pool,
                permutations, seed, None, 1, pure=False))
            order.append(core)
        return _assemble(client.gather(futures), order, len(cells))

    return engine


def emerging_engine(client, parent_res: int | None = None):
    """An ``engine_for`` for :func:`hotspots.spacetime.emerging_hotspots`."""

    def engine_for(cells, k):
        cells = list(getattr(cells, "cells", cells))  # a Grid or a cell sequence
        index = pd.Index(cells)

        def engine(counts, *, time_window=1, permutations=999, seed=None):
            n, T = counts.shape
            pool = client.scatter(counts.T.reshape(-1), broadcast=True)
            futures, order = [], []
            for _, core in sorted(partition_cells(cells, parent_res).items()):
                local = _with_halo(cells, index, core, k)
                values = counts[local].T.reshape(-1)
                futures.append(client.submit(
                    _score_partition, values, [cells[i] for i in local], core, k,
                    pool, permutations, seed, T, time_window, pure=False))
                order.append((np.arange(T)[:, None] * n + core[None, :]).ravel())
            return _assemble(client.gather(futures), order, n * T)

        return engine

    return engine_for
