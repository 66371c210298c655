"""Street targets: the busiest police.uk Locations."""

import pandas as pd
import pytest

from hotspots.errors import ParameterError
from hotspots.plan.streets import NO_NAME, street_name, top_streets


def test_street_name_makes_blank_names_explicit():
    assert street_name("On or near High Street") == "On or near High Street"
    assert street_name("  On or near Mill Lane ") == "On or near Mill Lane"
    for blank in (None, float("nan"), "", "On or near", "  "):
        assert street_name(blank) == NO_NAME


def test_top_streets_orders_by_count_then_name():
    off = pd.DataFrame({"location": ["On or near B"] * 2 + ["On or near A"] * 2
                        + ["On or near C"] * 3 + [""]})
    top = top_streets(off, n=3)
    assert top["street"].tolist() == ["On or near C", "On or near A", "On or near B"]
    assert top["offences"].tolist() == [3, 2, 2]
    every = top_streets(off, n=10)
    assert every["offences"].sum() == len(off)  # blank names kept, not dropped
    assert NO_NAME in every["street"].tolist()


def test_top_streets_within_groups():
    off = pd.DataFrame({"zone": ["Z1", "Z1", "Z1", "Z2", "Z2"],
                        "location": ["On or near X", "On or near X", "On or near Y",
                                     "On or near Y", "On or near Z"]})
    top = top_streets(off, n=1, by="zone")
    assert top.to_dict("records") == [
        {"zone": "Z1", "street": "On or near X", "offences": 2},
        {"zone": "Z2", "street": "On or near Y", "offences": 1},
    ]


def test_top_streets_bad_requests():
    with pytest.raises(ParameterError, match="≥ 1"):
        top_streets(pd.DataFrame({"location": ["x"]}), n=0)
    with pytest.raises(ParameterError, match="location"):
        top_streets(pd.DataFrame({"street": ["x"]}))


def test_named_streets_come_before_the_unnamed_points():
    """Three unnamed points outnumber every street, yet a patrol is sent to named
    streets first; the unnamed ones fill the list only when names run out."""
    off = pd.DataFrame({"location": ["", "On or near", None, "On or near A Road",
                                     "On or near A Road", "On or near B Lane"]})
    assert top_streets(off, n=2)["street"].tolist() == ["On or near A Road",
                                                         "On or near B Lane"]
    assert top_streets(off, n=3)["street"].tolist()[-1] == NO_NAME
    assert top_streets(off, n=3)["offences"].tolist() == [2, 1, 3]
