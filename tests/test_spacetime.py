"""Emerging hot spots of a study on the shared data (the numeric core is tested in
tests/stats/test_emerging.py)."""

from __future__ import annotations

import geopandas as gpd
import pytest

from hotspots.errors import ParameterError
from hotspots.spacetime import emerging_hotspots
from hotspots.stats.emerging import CATEGORIES


@pytest.mark.shared
def test_shared_merton_robbery_categories(shared_store):
    e = emerging_hotspots("Merton", "robbery", store=shared_store)
    cats = e.categories()
    assert sum(cats.values()) == len(e.cells)
    # by default the latest run of months without a gap: real robbery 2022
    assert e.months[0] == "2022-01" and len(e.months) == 12
    assert set(cats) <= set(CATEGORIES)
    assert e.metadata["data"]["synthetic_share"] == 0.0
    with pytest.raises(ParameterError, match="need consecutive months"):
        emerging_hotspots("Merton", "robbery", "2020-06", "2022-06",
                          store=shared_store)
    # semi-synthetic ASB (37 months, dense) shows hot categories, labelled
    a = emerging_hotspots("Merton", "asb", store=shared_store)
    assert a.metadata["data"]["synthetic_share"] == 1.0
    hotish = a.cells[a.cells["category"].str.endswith("hot spot")]
    assert len(hotish) > 0
    # cells with a hot category hold more offences than the average cell
    assert hotish["offences"].mean() > 2 * a.cells["offences"].mean()


@pytest.mark.shared
def test_shared_cli_emerging_json(shared_store, monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from hotspots.cli import app

    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    r = CliRunner().invoke(app, ["emerging", "--area", "Merton", "--crime", "asb",
                                 "--from", "2023-02", "--to", "2024-01", "--json",
                                 "--out", tmp_path / "layers"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # the layer in the folder given (a read-only store's users need one)
    assert doc["output"].startswith(str(tmp_path / "layers"))
    assert len(gpd.read_parquet(doc["output"])) == doc["cells"]
    assert sum(doc["categories"].values()) == doc["cells"]
    assert doc["months"][0] == "2023-02" and len(doc["months"]) == 12
