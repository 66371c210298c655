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
    """A fake ONS ArcGIS service (pages of 1) and a fake data.police.uk archive."""

    layers: dict = {}
    archive: bytes = b""
    requests_seen: list = []

    def do_GET(self):  # noqa: N802 - http.server API
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        self.requests_seen.append(url.path)
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


def test_fetch_crimes_needs_months(server, tmp_path):
    with pytest.raises(FetchError, match="say which months"):
        fetch("crimes", target=tmp_path, sources_table=server)


def test_fetch_is_a_no_op_when_a_data_root_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOTS_DATA", str(tmp_path))
    res = fetch("wards")
    assert res == {"data_root": str(tmp_path), "files": [], "skipped": True}
