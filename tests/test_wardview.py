"""Ward-level view on the 2022 wards."""

from __future__ import annotations

import pytest

from hotspots.counts import count_offences
from hotspots.wardview import ward_view


@pytest.mark.shared
def test_shared_merton_ward_view_ranks_all_twenty_wards(shared_store):
    v = ward_view("Merton", "robbery", "2022-01", "2022-12", store=shared_store)
    inside = v[v["in_area"]]
    assert len(inside) == 20
    assert sorted(inside["rank"].astype(int))[0] == 1
    assert len(v) > 20  # the ring of neighbouring wards is part of the study
    c = count_offences(
        "Merton", "robbery", "ward", "2022-01", "2022-12", store=shared_store
    )
    got = dict(zip(inside["ward_code"], inside["count"], strict=True))
    assert got == dict(zip(c.table["key"], c.table["count"], strict=True))
    top = inside.iloc[0]
    assert top["count"] == inside["count"].max()
    assert inside["bin"].between(-3, 3).all()
