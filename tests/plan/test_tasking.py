"""The tasking answer: one core, and the CLI, the app and the brief as adapters."""

from __future__ import annotations

import pytest

from hotspots.errors import ParameterError
from hotspots.plan.tasking import recommend
from tests.conftest import cli_json


@pytest.fixture(scope="module")
def merton(shared_store):
    return recommend("Merton", "robbery", officer_hours=60, cameras=4,
                     rotations=1, store=shared_store)


@pytest.mark.shared
def test_the_plan_spends_the_budget_on_the_forecast(merton):
    plan = merton.plan
    assert 0 < plan.hours <= 60
    assert plan.metadata["forecast"]["target"] == "2023-01"  # after real 2022
    # the camera analysis is the study's last 12 covered months
    assert (merton.analysis.start, merton.analysis.end) == ("2022-01", "2022-12")
    assert len(merton.cameras.sites) == 4
    doc = merton.to_json()
    assert {"patrols", "cameras", "patrol_metadata", "camera_metadata",
            "analysis"} <= set(doc)
    assert doc["synthetic_share"] == 0.0  # real robbery


@pytest.mark.shared
def test_the_cli_prints_the_core_answer(merton, shared_store, monkeypatch):
    doc = cli_json(monkeypatch, shared_store, [
        "recommend", "--area", "Merton", "--crime", "robbery", "--officer-hours",
        "60", "--cameras", "4", "--rotations", "1"])
    core = merton.to_json()
    assert [z["cells"] for z in doc["patrols"]] == [z["cells"] for z in
                                                    core["patrols"]]
    assert [(c["lon"], c["lat"]) for c in doc["cameras"]] == \
        [(c["lon"], c["lat"]) for c in core["cameras"]]


@pytest.mark.shared
def test_the_app_shows_the_core_answer(shared_store):
    from dashboards import callbacks as cb

    ctx = cb.AppContext.open(shared_store)
    months = list(ctx.months)
    ij = [months.index("2022-01"), months.index("2022-12")]
    out = cb.tasking_payload(ctx, "analyst", "Merton", "robbery", ij, 10, 95,
                             ["fdr"], 60, 4, 100)
    core = recommend("Merton", "robbery", end="2022-12", officer_hours=60,
                     cameras=4, rotations=1, store=shared_store)
    assert [r["hours"] for r in out["rows"]["zones"]] == \
        [round(float(h), 1) for h in core.plan.zones["hours_per_week"]]
    assert len(out["rows"]["sites"]) == len(core.cameras.sites)


def test_cameras_must_be_a_whole_number():
    with pytest.raises(ParameterError, match="'cameras' needs to be a whole number"):
        recommend("Merton", cameras=-1)
    with pytest.raises(ParameterError, match="'area' is needed"):
        recommend(None)
    with pytest.raises(ParameterError, match=r"'res' needs to be one of \(10, 9, 8\)"):
        recommend("Merton", res=7)  # as its help says: before any read
