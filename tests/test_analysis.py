"""analyse: the zero-filled grid end to end, the audit trail, outputs and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hotspots.analysis import analyse, auto_permutations
from hotspots.cli import app
from hotspots.errors import ParameterError
from hotspots.ingest import ingest
from hotspots.store import Store

from .conftest import street_row

CONTRACT = {"h3", "count", "gistar", "z", "p_sim", "p_fdr", "bin", "geometry"}


@pytest.fixture
def zoo_store(zoo_root, write_street, tmp_path, monkeypatch):
    """Robberies piled on one corner of Zoo One, a few spread elsewhere."""
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    rows = []
    for i in range(40):  # a cluster ~500 m across near (-0.196, 51.405)
        rows.append(
            street_row(
                f"h{i}",
                month="2023-01",
                lon=f"{-0.1995 + (i % 5) * 0.0015:.4f}",
                lat=f"{51.4010 + (i // 5) * 0.0010:.4f}",
            )
        )
    for i, (x, y) in enumerate([(-0.185, 51.415), (-0.195, 51.418), (-0.183, 51.403)]):
        rows.append(street_row(f"s{i}", month="2023-01", lon=str(x), lat=str(y)))
    write_street(rows, month="2023-01")
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    monkeypatch.setenv("HOTSPOTS_STORE", str(store.path))
    return store


def test_grid_is_zero_filled_and_counts_every_offence(zoo_store):
    an = analyse("London", "robbery", "2023-01", "2023-01", store=zoo_store)
    cells = an.cells
    assert set(cells.columns) >= CONTRACT
    assert cells["count"].sum() == 43
    assert (cells["count"] == 0).sum() > 0.5 * len(cells)  # empty cells are kept
    assert cells["h3"].map(h3.get_resolution).eq(9).all()
    assert cells["bin"].between(-3, 3).all()


def test_the_cluster_is_the_hot_spot(zoo_store):
    an = analyse("London", "robbery", "2023-01", "2023-01", store=zoo_store)
    hot = an.hot_cells(2)
    assert len(hot) >= 1
    top = an.cells.sort_values("z", ascending=False).iloc[0]
    lat, lng = h3.cell_to_latlng(top["h3"])
    assert abs(lng - -0.196) < 0.004 and abs(lat - 51.405) < 0.004
    assert (an.cells.loc[an.cells["bin"] < 0, "count"] > 0).sum() == 0


def test_same_seed_same_cells(zoo_store):
    a = analyse("London", "robbery", "2023-01", "2023-01", seed=7, store=zoo_store)
    b = analyse("London", "robbery", "2023-01", "2023-01", seed=7, store=zoo_store)
    np.testing.assert_array_equal(a.cells["p_sim"], b.cells["p_sim"])


def test_metadata_records_every_choice(zoo_store):
    an = analyse(
        "Merton",
        "robbery",
        "2023-01",
        "2023-01",
        k=2,
        permutations=499,
        correction="bonferroni",
        seed=11,
        store=zoo_store,
    )
    m = an.metadata
    assert m["neighbourhood"]["k"] == 2 and m["permutations"] == 499
    assert m["correction"] == "bonferroni" and m["seed"] == 11
    assert m["period"] == {"from": "2023-01", "to": "2023-01", "months": 1,
                           "cover": "every", "missing_months": []}
    assert m["data"]["files"] == ["crimes/2023-01-metropolitan-street.csv"]
    assert m["data"]["synthetic_share"] == 0.0
    assert any("Bonferroni" in line for line in m["why"])


def test_zero_permutations_is_analytic_inference_and_says_so(zoo_store):
    zero = analyse("Merton", "robbery", "2023-01", "2023-01", permutations=0,
                   store=zoo_store)
    analytic = analyse("Merton", "robbery", "2023-01", "2023-01",
                       inference="analytic", store=zoo_store)
    assert zero.metadata["inference"] == "analytic"
    assert (zero.metadata["permutations"], zero.metadata["permutations_requested"]) \
        == (0, 0)
    assert any(line.startswith("Inference: analytic") for line in
               zero.metadata["why"])
    assert not any("smallest attainable" in line for line in zero.metadata["why"])
    assert "Inference: analytic (normal-theory z)." in zero.summary()
    assert any(line.startswith("Inference: 999 conditional permutations") for line
               in analyse("Merton", "robbery", "2023-01", "2023-01", permutations=999,
                          store=zoo_store).summary())
    np.testing.assert_array_equal(zero.cells["p_fdr"], analytic.cells["p_fdr"])
    np.testing.assert_array_equal(zero.cells["bin"], analytic.cells["bin"])


def test_auto_permutations_follow_the_grid_size():
    assert auto_permutations(10) == 999
    assert auto_permutations(1_000) == 49_999
    assert auto_permutations(10**6) == 99_999


def test_write_puts_geoparquet_with_metadata_and_geojson(zoo_store):
    an = analyse("London", "robbery", "2023-01", "2023-01", store=zoo_store)
    paths = an.write(zoo_store, geojson_dir=zoo_store.path / "layers")
    meta = json.loads(pq.read_schema(paths["geoparquet"]).metadata[b"hotspots"])
    assert meta["crime"] == "robbery"
    back = gpd.read_parquet(paths["geoparquet"])
    assert set(back.columns) >= CONTRACT and len(back) == len(an.cells)
    assert back.crs == "OGC:CRS84"  # GeoParquet's default: lon/lat WGS 84
    for c in an.table.columns:  # read back as written, polygons included
        assert back[c].tolist() == an.cells[c].tolist(), c
    assert back.geometry.to_wkb().tolist() == an.cells.geometry.to_wkb().tolist()
    # statistics for what a reader filters on (bins, counts), none for polygons
    rg = pq.ParquetFile(paths["geoparquet"]).metadata.row_group(0)
    stats = {rg.column(i).path_in_schema: rg.column(i).is_stats_set
             for i in range(rg.num_columns)}
    assert stats["bin"] and stats["count"] and not stats["geometry"]
    with open(paths["geojson"]) as fh:
        gj = json.load(fh)
    assert len(gj["features"]) == len(an.cells)
    # the GeoJSON says what produced it, as the GeoParquet does
    assert gj["metadata"]["crime"] == "robbery" and gj["metadata"]["tool"] == "hotspots"
    assert gj["metadata"]["seed"] == an.metadata["seed"]


@pytest.mark.shared
def test_geojson_of_semi_synthetic_rows_says_so(shared_store, tmp_path):
    an = analyse("Merton", "asb", "2023-01", "2023-12", store=shared_store)
    assert an.metadata["data"]["synthetic_share"] == 1.0
    paths = an.write(shared_store, geojson_dir=tmp_path, out_dir=tmp_path)
    with open(paths["geojson"]) as fh:
        meta = json.load(fh)["metadata"]
    assert meta["synthetic_note"].startswith("SEMI-SYNTHETIC DATA")


def test_no_offences_is_a_clear_error(zoo_store):
    with pytest.raises(ParameterError, match="no vehicle offences"):
        analyse("London", "vehicle", "2023-01", "2023-01", store=zoo_store)


def test_cli_analyse_json_contract(zoo_store):
    r = CliRunner().invoke(
        app,
        [
            "analyse",
            "--area",
            "London",
            "--crime",
            "robbery",
            "--from",
            "2023-01",
            "--to",
            "2023-01",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {"cells", "hot", "cold", "output"} <= set(doc)
    assert set(doc["hot"]) == {"99", "95", "90"}
    assert gpd.read_parquet(doc["output"])["count"].sum() == 43
    # --out: the layer in that folder instead of the store's tables
    out = zoo_store.path.parent / "layers"
    r2 = CliRunner().invoke(app, ["analyse", "--area", "London", "--crime", "robbery",
                                  "--from", "2023-01", "--to", "2023-01", "--json",
                                  "--out", str(out)])
    assert r2.exit_code == 0, r2.output
    doc2 = json.loads(r2.stdout)
    assert doc2["output"] == str(out / Path(doc["output"]).name)
    assert gpd.read_parquet(doc2["output"])["count"].sum() == 43


@pytest.mark.shared
def test_shared_merton_robbery_hot_cells_hold_the_offences(shared_store):
    fams = {}
    for crime in ("robbery", "vehicle", "asb"):
        fams[crime] = analyse("Merton", crime, store=shared_store)
    an = fams["robbery"]
    # by default the last 12 months real robbery covers
    assert (an.start, an.end) == ("2022-01", "2022-12")
    hot = an.hot_cells(2)
    assert len(hot) >= 2  # seed-stable calls (the same two cells for every seed)
    share_off = hot["offences"].sum() / an.cells["offences"].sum()
    share_area = len(hot) / len(an.cells)
    assert share_off / share_area > 4  # hot cells hold far more than their area share
    assert an.metadata["data"]["synthetic_share"] == 0.0  # real robbery
    assert fams["asb"].metadata["data"]["synthetic_share"] == 1.0
    # the three families share one grid
    assert len({len(a.cells) for a in fams.values()}) == 1


@pytest.mark.shared
def test_shared_cli_runs_three_families_in_one_call(shared_store, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    r = CliRunner().invoke(
        app, ["analyse", "--area", "Merton", "--crime", "robbery,vehicle,asb", "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc["families"]) == {"robbery", "vehicle", "asb"}
    for fam in doc["families"].values():
        assert fam["cells"] > 300
    assert doc["families"]["robbery"]["synthetic_share"] == 0.0
    assert doc["families"]["vehicle"]["synthetic_share"] == 0.0
    assert doc["families"]["asb"]["synthetic_share"] == 1.0


def test_provenance_header_and_synthetic_note():
    from hotspots import __version__
    from hotspots.provenance import run_header, synthetic_note

    h = run_header()
    assert h["tool"] == "hotspots" and h["version"] == __version__
    assert h["created"].endswith("+00:00")
    assert synthetic_note(0) is None and synthetic_note(float("nan")) is None
    assert synthetic_note(0.256).startswith(
        "SEMI-SYNTHETIC DATA — not real police records: 26% of the offences used")


@pytest.mark.shared
@pytest.mark.parametrize("res", [9, 10])
def test_shared_hot_spots_do_not_depend_on_the_seed(shared_store, res):
    """Ten seeds, the same hot spots: permutations are added until every call is
    clear of Monte-Carlo error, and cells at the threshold take their exact p."""
    calls = set()
    for seed in range(1, 11):
        an = analyse("Merton", "robbery", "2022-01", "2022-12", res=res, seed=seed,
                     store=shared_store)
        calls.add(tuple(an.table.loc[an.table["bin"] >= 1, ["h3", "bin"]]
                        .itertuples(index=False)))
        assert an.metadata["stability"]["unstable_cells"] == 0
    assert len(calls) == 1 and len(next(iter(calls))) > 0
    assert bool(an.table["stable"].all())


def test_shared_analyse_with_given_permutations_starts_without_scipy(shared_store,
                                                                     tmp_path):
    """A fresh ``hotspots analyse`` with a fixed number of permutations and its
    grid cached runs Gi* on the grid's neighbour arrays and reads the store with
    pyarrow.parquet, building its Arrow arrays from buffers: none of scipy,
    pyarrow.dataset, h3ronpy, h3, pandas, pydantic (typer 0.29's option adapters)
    and numpy.ma (np.unique's first call) — 20 ms to a few tenths of a second of
    start-up each — is imported, and the answer is the one the scipy matrix
    gives."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from hotspots.cli import main\n"
        "sys.argv = ['hotspots', 'analyse', '--area', 'Merton', '--crime', "
        "'robbery', '--from', '2022-01', '--to', '2022-12', '--res', '9', "
        "'--permutations', '99', '--json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in ('scipy', "
        "'pyarrow.dataset', 'h3ronpy', 'h3', 'pandas', 'pydantic', "
        "'numpy.ma'))))\n"
    )
    env = {**os.environ, "HOTSPOTS_STORE": str(shared_store.path)}
    for _ in range(2):  # the first run may build and keep the grid
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                             capture_output=True, text=True).stdout.splitlines()
    assert json.loads(out[-1]) == []
    doc = json.loads(out[0])
    table = pq.read_table(doc["output"], columns=["z", "p_sim"])
    ref = analyse("Merton", "robbery", "2022-01", "2022-12", res=9, permutations=99,
                  store=shared_store)
    from hotspots.stats.gistar import gistar

    y = ref.study.total()
    assert np.array_equal(table["z"].to_numpy(),
                          gistar(y, ref.study.grid.weights(1), permutations=0).z)
    assert np.array_equal(table["p_sim"].to_numpy(), ref.table["p_sim"].to_numpy())
