"""The Dask path: same counts, joins, Gi* and emerging categories as one process."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from hotspots.analysis import analyse
from hotspots.distributed import (
    cluster,
    emerging_engine,
    gistar_engine,
    ingest_dask,
    partition_cells,
)
from hotspots.errors import ParameterError
from hotspots.ingest import ingest
from hotspots.spacetime import emerging_hotspots
from hotspots.store import Store

from .conftest import street_row


@pytest.fixture(scope="module")
def client():
    with cluster(workers=2, threads_per_worker=1, processes=True) as c:
        yield c


def test_partition_cells_covers_every_cell_once():
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(51.41, -0.19, 9), 12))
    parts = partition_cells(cells, parent_res=7)
    idx = np.sort(np.concatenate(list(parts.values())))
    assert idx.tolist() == list(range(len(cells)))
    assert len(parts) > 1
    with pytest.raises(ParameterError, match="finer than the cells"):
        partition_cells(cells, parent_res=11)


def test_zoo_dask_ingest_equals_single_process(client, zoo_root, write_street,
                                               tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    write_street([street_row("a"), street_row("a"), street_row("b", lon="")],
                 month="2022-06")
    write_street([street_row("c", month="2022-07", crime_type="Jaywalking")],
                 month="2022-07")
    one = ingest(root=zoo_root, store=Store.open(tmp_path / "one"))
    many = ingest_dask(root=zoo_root, store=Store.open(tmp_path / "many"),
                       client=client)
    assert (many.rows_in, many.accepted, many.quarantined) == (4, 1, 3)
    assert one.by_reason == many.by_reason
    pd.testing.assert_frame_equal(Store.open(tmp_path / "one").offences(),
                                  Store.open(tmp_path / "many").offences())
    pd.testing.assert_frame_equal(Store.open(tmp_path / "one").quarantine(),
                                  Store.open(tmp_path / "many").quarantine())
    led1, led2 = (Store.open(tmp_path / n).ledger() for n in ("one", "many"))
    assert led1["files"] == led2["files"] and led1["street"] == led2["street"]
    assert led2["engine"]["engine"] == "dask"


@pytest.mark.shared
@pytest.mark.slow
def test_shared_dask_path_gives_the_same_answers(client, shared_store, tmp_path):
    many = Store.open(tmp_path / "dask-store")
    res = ingest_dask(store=many, client=client)
    one = shared_store.ledger()
    assert res.rows_in == one["street"]["rows_in"]
    assert res.accepted == one["street"]["accepted"]
    assert res.by_reason == one["street"]["by_reason"]
    keys = ("rows_in", "accepted", "quarantined", "by_reason", "synthetic_rows",
            "snapped_to_nearest_ward", "balanced", "status", "encoding",
            "line_endings", "crime_types", "months", "sha256", "file_sha256")
    for label, entry in many.ledger()["files"].items():
        assert {k: entry[k] for k in keys} == {k: one["files"][label][k] for k in keys}
    assert sorted(many.ledger()["files"]) == sorted(one["files"])
    assert many.ledger()["skipped"] == one["skipped"]
    for kind in ("street", "stop_search"):  # workers send counts, not rows
        for k in ("coverage", "months", "synthetic_rows", "outside_wards",
                  "files_by_force_month", "duplicate_files", "by_reason"):
            assert many.ledger()[kind][k] == one[kind][k]
    pd.testing.assert_frame_equal(many.coverage(), shared_store.coverage())
    pd.testing.assert_frame_equal(many.quarantine(), shared_store.quarantine())
    cols = ["crime_id", "month", "lon", "lat", "ward_code", "borough", "bcu", "h3_9",
            "source", "line"]
    pd.testing.assert_frame_equal(
        many.offences(start="2023-01", end="2023-03", columns=cols),
        shared_store.offences(start="2023-01", end="2023-03", columns=cols))
    pd.testing.assert_frame_equal(
        many.stop_search(start="2023-01", end="2023-01", columns=["lon", "lat",
                                                                  "ward_code"]),
        shared_store.stop_search(start="2023-01", end="2023-01",
                                 columns=["lon", "lat", "ward_code"]))
    # Gi*: z equal and significance calls equal with the same seed
    local = analyse("SW", "robbery", store=shared_store, seed=3, permutations=9999)
    dist = analyse("SW", "robbery", store=shared_store, seed=3, permutations=9999,
                   engine=gistar_engine(client, parent_res=6))
    np.testing.assert_array_equal(dist.cells["z"], local.cells["z"])
    np.testing.assert_array_equal(dist.cells["p_sim"], local.cells["p_sim"])
    np.testing.assert_array_equal(dist.cells["bin"], local.cells["bin"])
    # emerging hot spots too
    e1 = emerging_hotspots("Merton", "asb", "2023-01", "2024-01",
                           store=shared_store)
    e2 = emerging_hotspots("Merton", "asb", "2023-01", "2024-01",
                           store=shared_store, engine_for=emerging_engine(client))
    assert e1.cells["category"].tolist() == e2.cells["category"].tolist()
    np.testing.assert_array_equal(e1.cube_z, e2.cube_z)
