"""Population files (for rates per 1,000) and their download from Nomis."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from hotspots.errors import DataError, FetchError, ParameterError
from hotspots.fetch import fetch_population
from hotspots.population import (
    COLUMNS,
    MIN_POPULATION,
    WARD_CAVEAT,
    load_population,
    population_dirs,
    rate_per_1000,
    ward_population,
    ward_rates,
)

HEADER = "area_code,area_name,population,year,source\n"


@pytest.fixture
def roots(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    monkeypatch.setenv("HOTSPOTS_DATA", str(data))
    monkeypatch.setenv("HOTSPOTS_CACHE", str(cache))
    return data, cache


def _write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_none_without_a_file(roots):
    assert load_population() is None
    data, cache = roots
    assert population_dirs() == [data.resolve() / "population", cache / "population"]


def test_data_root_wins_over_cache_and_totals(roots):
    data, cache = roots
    _write(data / "population", "a.csv",
           HEADER + "E09000024,Merton,215000,2022,ONS test\n")
    _write(cache / "population", "b.csv",
           HEADER + "E09000024,Merton,1,2021,old\nE09000032,Wandsworth,330000,2022,"
           "ONS test\n")
    pop = load_population()
    assert pop.of("E09000024") == 215000  # the data root's figure, not the cache's
    assert pop.of("E09000032") == 330000
    assert pop.of("E09000001") is None
    assert pop.total(["E09000024", "E09000032"]) == 545000
    assert pop.total(["E09000024", "E09000001"]) is None  # no partial sums
    assert pop.describe(["E09000024"]) == "ONS test (2022)"
    assert len(pop.paths) == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("area_code,population\nE09000024,5\n", "lacks columns"),
        (HEADER + "E09000024,Merton,-3,2022,x\n",
         "line 2: population must be a whole number > 0, got '-3'"),
        (HEADER + "E09000024,Merton,2.5,2022,x\n", "whole number > 0"),
        (HEADER + "E09000024,Merton,many,2022,x\n", "whole number > 0"),
    ],
    ids=["missing-columns", "negative", "fraction", "text"],
)
def test_bad_files_say_what_is_wrong(roots, text, match):
    data, _ = roots
    _write(data / "population", "bad.csv", text)
    with pytest.raises(DataError, match=match):
        load_population()


class _Response:
    def __init__(self, text, status=200):
        self.text, self.status_code = text, status


class _Session:
    """A stand-in for requests.Session that answers one canned body."""

    def __init__(self, text, status=200):
        self.text, self.status, self.urls = text, status, []

    def get(self, url, timeout=None, **kw):
        self.urls.append(url)
        return _Response(self.text, self.status)


NOMIS = (
    '"DATE_NAME","GEOGRAPHY_NAME","GEOGRAPHY_CODE","OBS_VALUE"\n'
    '"2022","Merton","E09000024","215200"\n'
    '"2022","Wandsworth","E09000032","329800"\n'
)


def test_fetch_population_writes_the_layout_load_reads(roots):
    _, cache = roots
    s = _Session(NOMIS)
    path = fetch_population(codes=["E09000024", "E09000032"], session=s)
    assert path == cache / "population" / "borough_population.csv"
    assert "E09000024,E09000032" in s.urls[0] and "NM_2002_1" in s.urls[0]
    df = pd.read_csv(path)
    assert tuple(df.columns) == COLUMNS
    pop = load_population()
    assert pop.of("E09000032") == 329800
    assert pop.describe(["E09000024"]).endswith("(2022)")


def test_fetch_population_checks_the_answer(roots, tmp_path):
    with pytest.raises(FetchError, match=r"gave no population for \['E09000001'\]"):
        fetch_population(target=tmp_path, codes=["E09000024", "E09000001"],
                         session=_Session(NOMIS))
    with pytest.raises(FetchError, match="did not return the columns"):
        fetch_population(target=tmp_path, codes=["E09000024"],
                         session=_Session("a,b\n1,2\n"))
    with pytest.raises(FetchError, match="HTTP 503"):
        fetch_population(target=tmp_path, codes=["E09000024"],
                         session=_Session("", status=503))
    assert not (tmp_path / "borough_population.csv").exists()


def test_fetch_what_population_over_http(roots, zoo_root, monkeypatch):
    """`hotspots fetch --what population` end to end against a local server."""
    import http.server
    import threading

    from hotspots.fetch import fetch

    asked = []

    class Nomis(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            asked.append(self.path)
            body = NOMIS.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))  # the zoo's two boroughs
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Nomis)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}/nomis?geography={{codes}}"
        res = fetch("population", sources_table={"population": {"url": url}})
    finally:
        srv.shutdown()
    _, cache = roots
    assert res["files"] == [str(cache / "population" / "borough_population.csv")]
    assert asked == ["/nomis?geography=E09000024,E09000032"]
    assert load_population().of("E09000024") == 215200


# -- ward populations and rates ---------------------------------------------------
#: Hand-made wards: borough A's two wards hold all its 1,000 residents in W1 (so W2
#: has none); borough B's listed ward W3 holds 5,000 of its 9,000 (so W4 is not
#: known to be empty); borough C has no ward rows at all.
WARDS = pd.DataFrame({
    "ward_code": ["E05000001", "E05000002", "E05000003", "E05000004", "E05000005"],
    "ward_name": ["W1", "W2", "W3", "W4", "W5"],
    "borough_code": ["E09000001", "E09000001", "E09000002", "E09000002",
                     "E09000003"],
    "borough": ["A", "A", "B", "B", "C"],
})
WARD_CSV = (
    HEADER + "E09000001,A,1000,2021,Census test\n"
    "E09000002,B,9000,2021,Census test\n"
    "E05000001,W1,1000,2021,Census test best-fit\n"
    "E05000003,W3,5000,2021,Census test best-fit\n"
)


def test_ward_population_says_what_is_known(roots):
    data, _ = roots
    _write(data / "population", "wards.csv", WARD_CSV)
    w = ward_population(wards=WARDS).set_index("ward_name")
    assert w["status"].to_dict() == {"W1": "small base", "W2": "no residents",
                                     "W3": "best-fit", "W4": "unknown",
                                     "W5": "unknown"}
    assert w.loc["W1", "population"] == 1000 and pd.isna(w.loc["W2", "population"])
    assert w.loc["W2", "note"] == "no residents (Census 2021): no rate"
    assert w.loc["W1", "note"].startswith("1,000 residents: too few for a rate")
    assert w.loc["W3", "note"] == ""
    # a lower minimum base gives W1 a rate
    assert ward_population(wards=WARDS, min_population=500).set_index(
        "ward_name").loc["W1", "status"] == "best-fit"
    assert (ward_population(None, WARDS)["status"] == "unknown").all()


def test_ward_rates_by_hand(roots):
    data, _ = roots
    _write(data / "population", "wards.csv", WARD_CSV)
    r = ward_rates({"E05000003": 25, "E05000001": 3, "E05000002": 10},
                   wards=WARDS)
    assert r["ward_code"].tolist() == ["E05000003", "E05000001", "E05000002"]
    assert r["per_1000"].iloc[0] == 5.0  # 25 / 5,000 x 1,000
    assert math.isnan(r["per_1000"].iloc[1]) and math.isnan(r["per_1000"].iloc[2])
    assert r["status"].tolist() == ["best-fit", "small base", "no residents"]
    assert ward_rates({"E05000001": 3}, wards=WARDS,
                      min_population=0)["per_1000"].iloc[0] == 3.0
    with pytest.raises(ParameterError, match="not 2022 wards"):
        ward_rates({"E05999999": 1}, wards=WARDS)


def test_rate_per_1000_minimum_base():
    assert rate_per_1000(30, 12_000) == 2.5
    assert rate_per_1000(30, MIN_POPULATION - 1) is None
    assert rate_per_1000(None, 12_000) is None and rate_per_1000(3, None) is None
    assert rate_per_1000(3, 2_000, min_population=1) == 1.5


@pytest.mark.shared
def test_shared_census_wards_and_the_city(shared_root):
    pop = load_population(shared_root)
    assert pop.of("E09000024") == 215192  # Merton, Census 2021 (PROVENANCE.md)
    assert "Census 2021" in pop.describe(["E09000024"])
    w = ward_population(pop)
    city = w[w["borough"] == "City of London"]
    assert len(city) == 25
    assert (city["status"] == "no residents").sum() == 20
    assert (city["status"] == "small base").sum() == 5
    rest = w[w["borough"] != "City of London"]
    assert (rest["status"] == "best-fit").all() and len(rest) == 679
    # LSOAs nest in boroughs: Merton's best-fit wards add up to the borough
    assert int(w.loc[w["borough"] == "Merton", "population"].sum()) == 215192
    assert "best-fit" in WARD_CAVEAT
