"""The Study's choice of months: every type covered, or any type covered."""

from __future__ import annotations

import numpy as np
import pytest

from hotspots.counts import count_offences
from hotspots.errors import ParameterError
from hotspots.months import month_range
from hotspots.study import Study


@pytest.mark.shared
def test_any_type_cover_keeps_months_one_family_lacks(shared_store):
    # the shared data holds Met robbery up to 2021-01 and again in 2022, burglary
    # throughout 2021: together, 'every' keeps 2021-01 alone, 'any' the year
    crimes = ("robbery", "burglary")
    every = Study.load("Merton", crimes, "2021-01", "2021-12", res=8,
                       store=shared_store, fields=("month", "crime_type"))
    assert every.months == ("2021-01",) and every.cover == "every"
    # the months asked for and left out are said, at the end of the period too
    assert every.missing == tuple(month_range("2021-02", "2021-12"))
    assert every.audit()["period"]["missing_months"] == list(every.missing)
    anyt = Study.load("Merton", crimes, "2021-01", "2021-12", res=8,
                      store=shared_store, fields=("month", "crime_type"),
                      cover="any")
    assert anyt.months == tuple(month_range("2021-01", "2021-12"))
    assert anyt.missing == () and anyt.audit()["period"]["cover"] == "any"
    assert anyt.label().startswith("robbery + burglary, Merton")
    # each month holds what counts finds for each family, nothing read as zero
    for crime in crimes:
        want = count_offences("Merton", crime, "month", "2021-01", "2021-12",
                              store=shared_store)
        got = anyt.offences.loc[anyt.offences["crime_type"].str.lower() == crime]
        per = got.groupby("month").size().reindex(anyt.months, fill_value=0)
        assert per.to_numpy().tolist() == want.table["count"].tolist()
    assert np.array_equal(anyt.counts.sum(axis=0),
                          anyt.offences.groupby("month").size().to_numpy())


def test_cover_is_checked():
    with pytest.raises(ParameterError, match="cover"):
        Study.load("Merton", "robbery", res=9, cover="some")
