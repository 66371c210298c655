"""Coverage per force, crime type and month: hand-worked cases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hotspots.coverage import Coverage, area_forces
from hotspots.errors import ParameterError

#: The Met holds robbery for three months and vehicle crime for two of them and
#: one more; the City holds robbery in two months, one of them the Met's.
COV = Coverage({
    "metropolitan": {"Robbery": ["2022-01", "2022-02", "2022-03"],
                     "Vehicle crime": ["2022-02", "2022-03", "2022-04"]},
    "city-of-london": {"Robbery": ["2022-03", "2022-05"]},
})
BOTH = ("city-of-london", "metropolitan")


def test_every_force_and_every_type():
    assert COV.months("robbery", ["metropolitan"]) == ["2022-01", "2022-02", "2022-03"]
    assert COV.months("robbery", BOTH) == ["2022-03"]
    # a family is covered where the force covers every type its files ever hold
    assert COV.months(["robbery", "vehicle"], ["metropolitan"]) == ["2022-02",
                                                                    "2022-03"]
    # the City's files never hold vehicle crime: its robbery months stand for both
    assert COV.months(["robbery", "vehicle"], ["city-of-london"]) == ["2022-03",
                                                                      "2022-05"]
    with pytest.raises(ParameterError, match="at least one police force"):
        COV.months("robbery", [])


def test_any_force_and_any_type():
    assert COV.any_months("robbery", BOTH) == ["2022-01", "2022-02", "2022-03",
                                               "2022-05"]
    assert COV.any_months(["robbery", "vehicle"], ["metropolitan"]) == [
        "2022-02", "2022-03"]
    assert COV.any_months(["robbery", "vehicle"], ["metropolitan"],
                          any_type=True) == ["2022-01", "2022-02", "2022-03",
                                             "2022-04"]
    assert COV.any_months("burglary", BOTH, any_type=True) == []


def test_status_and_missing_forces():
    assert COV.status("robbery", BOTH, ["2022-02", "2022-03", "2022-04"]) == {
        "2022-02": "partial", "2022-03": "covered", "2022-04": "missing"}
    assert COV.missing_forces("robbery", BOTH, "2022-02") == ["city-of-london"]
    assert COV.missing_forces("robbery", BOTH, "2022-03") == []


def test_area_forces_are_the_territorial_forces():
    assert area_forces(SimpleNamespace(boroughs=("Merton", "Sutton"))) == (
        "metropolitan",)
    assert area_forces(SimpleNamespace(boroughs=("City of London",))) == (
        "city-of-london",)
