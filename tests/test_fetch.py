"""fetch: the real download code against a local file server (never the internet)."""

from __future__ import annotations

import http.server
import io
import json
import threading
import urllib.parse
import zipfile

import geopandas as gpd
import pytest
import shapely

from hotspots.errors import FetchError
from hotspots.fetch import fetch, sources

from .conftest import csv_bytes, street_row


def _feature(props, geom=True):
    f = {"type": "Feature", "properties": props, "geometry": None}
    if geom:
        f["geometry"] = shapely.geometry.mapping(shapely.box(-0.2, 51.4, -0.19, 51.41))
    return f


class _Server(http.server.BaseHTTPRequestHandler):
    """A fake ONS ArcGIS service (pages of 1), a fake data.police.uk archive and a
    fake OS Data Hub downloads API (a product's download list, and its files)."""

    layers: dict = {}
    archive: bytes = b""
    requests_seen: list = []
    os_lists: dict = {}
    os_files: dict = {}

    def do_GET(self):  # noqa: N802 - http.server API
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        self.requests_seen.append(url.path)
        if url.path in self.os_lists:
            self._send(json.dumps(self.os_lists[url.path]).encode(),
                       "application/json")
            return
        if url.path in self.os_files:
            self._send(self.os_files[url.path], "application/zip")
            return
        if url.path.startswith("/archive/"):
            if url.path != "/archive/2022-06.zip":
                self.send_response(404)
                self.end_headers()
                return
            self._send(self.archive, "application/zip")
            return
        feats = self.layers.get(url.path)
        if feats is None:
            self.send_response(404)
            self.end_headers()
            return
        off = int(q.get("resultOffset", 0))
        page = feats[off : off + 1]
        body = {
            "type": "FeatureCollection",
            "features": page,
            "exceededTransferLimit": off + 1 < len(feats),
        }
        self._send(json.dumps(body).encode(), "application/json")

    def _send(self, data, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    _Server.layers = {
        "/w22": [
            _feature({"WD22CD": "E05000001", "WD22NM": "One"}),
            _feature({"WD22CD": "W05000001", "WD22NM": "Welsh"}),
        ],
        "/lu": [
            _feature(
                {"WD22CD": "E05000001", "LAD22CD": "E09000024", "LAD22NM": "Merton"},
                geom=False,
            ),
            _feature(
                {"WD22CD": "W05000001", "LAD22CD": "W06000001", "LAD22NM": "Anglesey"},
                geom=False,
            ),
        ],
        "/w18": [
            _feature(
                {
                    "WD18CD": "E05000455",
                    "WD18NM": "Abbey",
                    "LAD18CD": "E09000024",
                    "LAD18NM": "Merton",
                }
            )
        ],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "2022-06/2022-06-metropolitan-street.csv", csv_bytes([street_row()])
        )
        zf.writestr("2022-06/2022-06-kent-street.csv", csv_bytes([street_row()]))
        zf.writestr("2022-06/2022-06-metropolitan-outcomes.csv", b"x\n")
    _Server.archive = buf.getvalue()
    _Server.requests_seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    table = sources()
    table["wards_2022"]["service"] = base + "/w22"
    table["ward_lad_lookup_2022"]["service"] = base + "/lu"
    table["wards_2018"]["service"] = base + "/w18"
    table["police_uk_archive"]["url"] = base + "/archive/{month}.zip"
    yield table
    httpd.shutdown()


def test_sources_name_the_official_publishers():
    s = sources()
    assert "arcgis" in s["wards_2022"]["service"]
    assert s["police_uk_archive"]["url"].startswith("https://data.police.uk/")


def test_fetch_wards_and_crimes_into_a_data_root(server, tmp_path):
    res = fetch("all", months=["2022-06"], target=tmp_path, sources_table=server)
    w22 = gpd.read_file(tmp_path / "boundaries" / "london_wards_2022.gpkg")
    assert w22["WD22CD"].tolist() == ["E05000001"]  # the Welsh ward is filtered out
    assert w22["LAD22NM"].tolist() == ["Merton"]
    assert (tmp_path / "boundaries" / "london_wards_2018.gpkg").is_file()
    got = sorted(p.name for p in (tmp_path / "crimes" / "police_uk").iterdir())
    assert got == ["2022-06-metropolitan-street.csv.gz"]  # Kent and outcomes skipped
    manifest = json.loads((tmp_path / "fetch.json").read_text())
    assert len(manifest) == 3 and all(len(v) == 64 for v in manifest.values())
    assert res["skipped"] is False
    # pages were followed: two ward pages
    assert _Server.requests_seen.count("/w22") == 2
    # what was fetched ingests
    from hotspots.ingest import ingest
    from hotspots.store import Store

    r = ingest(root=tmp_path, store=Store.open(tmp_path.parent / "st"))
    assert r.accepted == 1


def test_fetch_missing_month_is_a_clear_error(server, tmp_path):
    with pytest.raises(FetchError, match=r"2019-01\.zip answered HTTP 404"):
        fetch("crimes", months=["2019-01"], target=tmp_path, sources_table=server)


@pytest.mark.parametrize("month", ["2022-13", "../../../tmp/x", "", "1999-01",
                                   "2100-01"])
def test_fetch_months_are_checked_before_anything_is_asked(month, tmp_path,
                                                           monkeypatch):
    """A month is put into the archive's URL and a local file's name: anything
    but a police.uk month is refused (with a data root present too, where the
    fetch is otherwise a no-op that had said nothing)."""
    from hotspots.errors import ParameterError
    from hotspots.fetch import fetch_police_month

    monkeypatch.setenv("HOTSPOTS_DATA", str(tmp_path))
    with pytest.raises(ParameterError, match="'--month'"):
        fetch("crimes", months=[month])
    with pytest.raises(ParameterError, match="'--month'"):
        fetch_police_month(month, tmp_path, "http://127.0.0.1:9/{month}.zip")
    assert not list(tmp_path.iterdir())


def test_fetch_crimes_needs_months(server, tmp_path):
    with pytest.raises(FetchError, match="say which months"):
        fetch("crimes", target=tmp_path, sources_table=server)


def _zipped_gpkg(tmp_path, frame, layer: str, member: str) -> bytes:
    path = tmp_path / "made.gpkg"
    frame.to_file(path, layer=layer)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, path.read_bytes())
        zf.writestr("Doc/licence.txt", "Open Government Licence v3.0\n")
    path.unlink()
    return buf.getvalue()


def _bng(lon, lat):
    from hotspots.areas import bng_xy

    x, y = bng_xy([lon], [lat])
    return float(x[0]), float(y[0])


@pytest.fixture
def os_server(server, zoo_root, tmp_path, monkeypatch):
    """The OS downloads API serving made-up Open Roads and Open Names for the zoo
    (London is the zoo's four wards here)."""
    import hashlib

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))  # none ingested
    base = server["police_uk_archive"]["url"].split("/archive/")[0]
    inside = _bng(-0.195, 51.405)
    edge = _bng(-0.2035, 51.405)  # about 240 m west of the zoo: in the margin
    out = _bng(-0.23, 51.405)  # about 2 km west: in the box, not in London
    far = (383000.0, 398000.0)  # Manchester
    roads = gpd.GeoDataFrame(
        {"name_1": ["Zoo Avenue", "Edge Lane", "Out Road", "Far Road"],
         "road_classification": ["A Road", "B Road", "Unclassified", "A Road"],
         "form_of_way": ["Single Carriageway"] * 4},
        geometry=[shapely.LineString([p, (p[0] + 50, p[1])])
                  for p in (inside, edge, out, far)], crs=27700)
    names = gpd.GeoDataFrame(
        {"NAME1": ["Mitcham", "Manchester"], "LOCAL_TYPE": ["Town", "City"],
         "MBR_XMIN": [inside[0] - 400, far[0]], "MBR_YMIN": [inside[1] - 300, far[1]],
         "MBR_XMAX": [inside[0] + 400, far[0]], "MBR_YMAX": [inside[1] + 300, far[1]],
         "SAME_AS_GEONAMES": ["x", "y"]},
        geometry=[shapely.Point(inside), shapely.Point(far)], crs=27700)
    files = {
        "OpenRoads": _zipped_gpkg(tmp_path, roads, "road_link", "Data/oproad_gb.gpkg"),
        "OpenNames": _zipped_gpkg(tmp_path, names, "NamedPlace",
                                  "Data/opname_gb.gpkg"),
    }
    _Server.os_lists, _Server.os_files = {}, {}
    for product, data in files.items():
        key = "os_open_roads" if product == "OpenRoads" else "os_open_names"
        server[key]["api"] = f"{base}/os/products/{product}/downloads"
        _Server.os_files[f"/os/files/{product}.zip"] = data
        _Server.os_lists[f"/os/products/{product}/downloads"] = [
            {"fileName": f"{product}.zip", "format": "ESRI® Shapefile", "area": "GB",
             "url": f"{base}/os/files/none.zip", "size": 1, "md5": "0"},
            {"fileName": f"{product}.zip", "format": "GeoPackage", "area": "GB",
             "url": f"{base}/os/files/{product}.zip", "size": len(data),
             "md5": hashlib.md5(data, usedforsecurity=False).hexdigest().upper()},
        ]
    return server


def test_fetch_roads_keeps_london_only(os_server, tmp_path):
    target = tmp_path / "cache"
    res = fetch("roads", target=target, sources_table=os_server)
    path = target / "roads" / "os_open_roads_london.gpkg"
    assert res["files"] == [str(path)] and res["skipped"] is False
    got = gpd.read_file(path)
    # inside London and within 500 m of it kept; 2 km out and Manchester dropped
    assert sorted(got["name_1"]) == ["Edge Lane", "Zoo Avenue"]
    assert "form_of_way" not in got.columns and got.crs.to_epsg() == 27700
    manifest = json.loads((target / "fetch.json").read_text())
    assert len(manifest["roads/os_open_roads_london.gpkg"]) == 64
    assert manifest["roads/os_open_roads_london.gpkg:source"]["fileName"] == \
        "OpenRoads.zip"
    # the maps find it in the cache
    from hotspots.streetnames import load_roads, roads_path

    assert roads_path() == path
    x, y = _bng(-0.195, 51.405)
    assert load_roads((x - 10, y - 10, x + 60, y + 10))["name"].tolist() == [
        "Zoo Avenue"]


def test_fetch_places_gazetteer_for_the_search(os_server, tmp_path):
    target = tmp_path / "cache"
    fetch("places", target=target, sources_table=os_server)
    got = gpd.read_file(target / "places" / "os_open_names_london.gpkg")
    assert got["name1"].tolist() == ["Mitcham"]  # Manchester is not in London
    assert {"local_type", "mbr_xmin", "mbr_ymax"} <= set(got.columns)
    assert "same_as_geonames" not in got.columns  # only the listed columns
    from hotspots.places import search

    r = search("Mitcham")
    assert r[0]["kind"] == "place" and r[0]["label"] == "Mitcham (Town, Zoo One " \
        "(Merton))"


def test_fetch_os_checks_the_published_md5(os_server, tmp_path):
    listing = _Server.os_lists["/os/products/OpenRoads/downloads"]
    listing[1]["md5"] = "0" * 32
    with pytest.raises(FetchError, match="does not match the published 0000"):
        fetch("roads", target=tmp_path / "c", sources_table=os_server)
    assert not (tmp_path / "c" / "roads" / "os_open_roads_london.gpkg").exists()


def test_fetch_os_says_what_the_list_offers(os_server, tmp_path):
    _Server.os_lists["/os/products/OpenNames/downloads"].pop(1)
    with pytest.raises(FetchError, match=r"lists no GeoPackage file for area GB "
                                         r"\(it lists: ESRI® Shapefile/GB\)"):
        fetch("places", target=tmp_path / "c", sources_table=os_server)


def test_sources_name_the_os_downloads_api():
    s = sources()
    for key in ("os_open_roads", "os_open_names"):
        assert s[key]["api"].startswith("https://api.os.uk/downloads/v1/products/")
        assert s[key]["licence"] == "Open Government Licence v3.0"


def test_fetch_is_a_no_op_when_a_data_root_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(tmp_path))
    res = fetch("wards")
    assert res == {"data_root": str(tmp_path), "files": [], "skipped": True}


def test_an_unreachable_police_archive_is_a_fetch_error(tmp_path):
    """A connection refused while downloading a month is a one-line FetchError
    naming the address, as for every other download (not a requests traceback)."""
    import socket

    from hotspots.fetch import fetch_police_month

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match=r"^could not download http://127\.0\.0\.1"):
        fetch_police_month("2022-06", tmp_path, f"http://127.0.0.1:{port}/{{month}}.zip")
    assert not list(tmp_path.iterdir())  # nothing half-written is left
