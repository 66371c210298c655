"""The main job (`make demo`): every stage for one area, outputs where it says."""

import json
from pathlib import Path

import geopandas as gpd
import pytest

from hotspots.counts import count_offences
from hotspots.pipeline import run_main_job


@pytest.mark.shared
@pytest.mark.slow
def test_main_job_on_the_shared_data(shared_store, shared_root, tmp_path,
                                     monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(shared_root))
    seen = []
    summary = run_main_job("Merton", tmp_path / "demo", store=shared_store,
                           progress=lambda *a: seen.append(a[0]))
    assert summary["ingest"]["rows_in"] == (summary["ingest"]["accepted"]
                                           + summary["ingest"]["quarantined"])
    for crime, c in summary["counts"].items():
        assert c["total"] == count_offences("Merton", crime, "month",
                                            store=shared_store).total
    # real robbery and vehicle crime lead, with their gap said; ASB is labelled
    assert summary["counts"]["robbery"]["synthetic_share"] == 0.0
    assert len(summary["counts"]["robbery"]["missing_months"]) == 11
    assert summary["counts"]["asb"]["synthetic_share"] == 1.0
    for crime in ("robbery", "vehicle"):
        h = summary["hotspots"][crime]
        assert (h["from"], h["to"], h["synthetic_share"]) == ("2022-01", "2022-12", 0)
    lines = summary.summary()
    assert not any("SEMI" in ln for ln in lines if "robbery" in ln or "vehicle" in ln)
    assert any("SEMI-SYNTHETIC" in ln for ln in lines if "asb" in ln)
    outs = summary["outputs"]
    for path in outs.values():  # every output named exists where it says
        assert (tmp_path / "demo").resolve() in Path(path).resolve().parents
        assert Path(path).exists()
    rec = json.loads(Path(outs["recommend_robbery"]).read_text())
    assert sum(z["hours_per_week"] for z in rec["patrols"]) <= 60
    assert len(rec["cameras"]) >= 4
    zones = gpd.read_file(outs["surge_zones_robbery"])
    assert len(zones) == len(rec["patrols"]) == summary["tasking"]["zones"]
    meta = json.loads(Path(outs["surge_zones_robbery"]).read_text())["metadata"]
    assert (meta["tool"], meta["crime"]) == ("hotspots", "robbery")
    assert meta["surge_zones"]["officer_hours"] == 60
    bt = json.loads(Path(outs["backtest_robbery"]).read_text())
    assert bt["summary"]["months"] == len(bt["months"]) > 12
    assert "backtest" in seen
    from pypdf import PdfReader

    assert len(PdfReader(outs["crime_pack"]).pages) == 5
    maps = sorted(Path(outs["ward_maps"]).glob("*.pdf"))
    assert len(maps) == 20 + 1  # 20 wards and the booklet
    assert "Surge patrol zone" in "".join(
        p.extract_text() for p in PdfReader(outs["ward_booklet"]).pages)
    ranking = Path(outs["ward_ranking_csv"]).read_text().splitlines()
    assert len(ranking) == 704 + 1
    assert summary["crime_pack"]["robbery"]["current"] == count_offences(
        "Merton", "robbery", "month", "2022-01", "2022-12", store=shared_store).total
    saved = json.loads(Path(outs["summary"]).read_text())
    assert saved["tasking"] == json.loads(json.dumps(summary["tasking"]))
