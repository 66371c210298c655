"""Old -> new ward crosswalk."""

from __future__ import annotations

import pandas as pd
import pytest

from hotspots.crosswalk import apply_crosswalk, ward_crosswalk
from hotspots.errors import AreaNotFound, ParameterError


@pytest.mark.shared
@pytest.mark.parametrize("method", ["area", "points"])
def test_weights_sum_to_one_for_every_old_ward(method, shared_store, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    cw = ward_crosswalk(method=method, borough="Merton", store=shared_store)
    sums = cw.groupby("old_code")["weight"].sum()
    assert len(sums) == 20
    assert sums.to_numpy() == pytest.approx(1.0)
    # an unchanged ward maps (almost) wholly to its namesake
    abbey = cw[cw["old_name"] == "Abbey"].iloc[0]
    assert abbey["new_name"] == "Abbey" and abbey["weight"] > 0.6
    # Trinity (2018) was split: it maps to more than one 2022 ward
    assert (cw["old_name"] == "Trinity").sum() >= 2


@pytest.mark.shared
def test_apply_crosswalk_preserves_totals(shared_root):
    cw = ward_crosswalk(method="area", borough="Merton")
    figures = pd.DataFrame({"old_code": cw["old_code"].unique()})
    figures["robberies"] = range(len(figures))
    new = apply_crosswalk(figures, cw, "robberies")
    assert new["robberies"].sum() == pytest.approx(figures["robberies"].sum())
    assert len(new) == 20


def test_unknown_method():
    with pytest.raises(ParameterError, match="'method' needs to be one of"):
        ward_crosswalk(method="population")


@pytest.mark.shared
@pytest.mark.parametrize(("borough", "error", "message"), [
    ("Nowhere", AreaNotFound, "'Nowhere' was given instead"),
    ("South West", ParameterError, "'borough' needs to be a London borough; "
                                   "'South West BCU' is a bcu."),
])
def test_a_borough_that_is_not_one_is_an_error_not_zero_rows(shared_root, borough,
                                                             error, message):
    with pytest.raises(error, match=message):
        ward_crosswalk(method="area", borough=borough)
    assert ward_crosswalk(method="area", borough="merton")["borough"].eq(
        "Merton").all()


@pytest.mark.shared
@pytest.mark.parametrize("method", ["area", "points"])
def test_no_pair_crosses_a_borough_and_unchanged_wards_map_to_themselves(
        method, shared_store, monkeypatch):
    """Points near a generalised edge had mapped Brownswood (Hackney) into
    Islington, and unchanged wards (Portsoken: the same code in 2018 and 2022) had
    lost weight to slivers."""
    from hotspots.areas import load_wards

    monkeypatch.setenv("HOTSPOTS_STORE", str(shared_store.path))
    cw = ward_crosswalk(method=method, store=shared_store)
    boroughs = load_wards().set_index("ward_code")["borough"]
    assert (cw["new_code"].map(boroughs) == cw["borough"]).all()
    same = cw[cw["old_code"].isin(set(boroughs.index))]
    assert len(same) > 20  # the City's wards, among others
    assert (same["new_code"] == same["old_code"]).all() and (same["weight"] == 1).all()
    assert cw.groupby("old_code")["weight"].sum().to_numpy() == pytest.approx(1.0)


@pytest.mark.shared
def test_cli_json_holds_every_pair(shared_store, monkeypatch):
    """The JSON had stopped at 2,000 pairs without a word."""
    from tests.conftest import cli_json

    doc = cli_json(monkeypatch, shared_store, ["crosswalk", "--method", "area"])
    assert len(doc["pairs"]) == doc["rows"] > 1000
    assert len({p["old_code"] for p in doc["pairs"]}) == 657
