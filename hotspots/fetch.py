"""Download the official sources into the cache: ONS wards and data.police.uk files.

``fetch`` does nothing when a data root already exists (``$HOTSPOTS_DATA`` or the
shared data beside a checkout) unless told ``force``. Otherwise it fills
``<cache>/data`` in the layout ingest reads:

- ``boundaries/london_wards_2022.gpkg`` and ``boundaries/london_wards_2018.gpkg``
  from the ONS Open Geography Portal (ArcGIS feature services, paged GeoJSON);
- ``crimes/police_uk/YYYY-MM-metropolitan-street.csv.gz`` and
  ``…-stop-and-search.csv.gz`` from the data.police.uk monthly archive.

Two optional map layers always go into the cache (``<cache>/roads``,
``<cache>/places``), even beside a data root, and are found there by the maps and
the search (:func:`hotspots.streetnames.roads_path`,
:func:`hotspots.places.places_path`):

- ``--what roads``: OS Open Roads (road links with names and classes), for the
  printed maps' streets;
- ``--what places``: OS Open Names (settlements, roads, stations, landmarks), the
  gazetteer of the search.

Both come from the OS Data Hub downloads API (OS OpenData, no key needed): the
product's download list is read, the GB GeoPackage downloaded (its MD5 checked when
the list gives one), and only the features within London kept.

Sources are listed in ``hotspots/data/sources.toml`` (also at
``geodata/wards/sources.toml``). Every download is written atomically and its
SHA-256 recorded in ``<cache>/data/fetch.json``.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import os
import tempfile
import tomllib
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import geopandas as gpd
import pandas as pd
import requests

from .config import cache_dir, data_root
from .errors import FetchError, ParameterError, check_choice
from .months import FIRST_MONTH, check_month
from .store import atomic_file, write_csv_atomic, write_json_atomic

__all__ = [
    "WHAT",
    "fetch",
    "fetch_arcgis_layer",
    "fetch_os_open_data",
    "fetch_police_month",
    "fetch_population",
    "sources",
]

WHAT = ("all", "wards", "crimes", "population", "roads", "places")
#: ``--what`` values fetched from OS OpenData, and their sources.toml section.
OS_LAYERS = {"roads": "os_open_roads", "places": "os_open_names"}
#: Features within this distance (metres) of London's outline are kept.
LONDON_MARGIN_M = 500.0
PAGE = 1000
TIMEOUT = 60


def sources() -> dict:
    """The official source table (``sources.toml``)."""
    text = resources.files("hotspots").joinpath("data/sources.toml").read_text()
    return tomllib.loads(text)


def _get(session: requests.Session, url: str, **kw) -> requests.Response:
    try:
        r = session.get(url, timeout=TIMEOUT, **kw)
    except requests.RequestException as exc:
        raise FetchError(f"could not reach {url}: {exc}") from exc
    if r.status_code != 200:
        raise FetchError(f"{url} answered HTTP {r.status_code}")
    return r


def fetch_arcgis_layer(
    service: str,
    fields: list[str],
    session: requests.Session | None = None,
    geometry: bool = True,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read a whole ArcGIS FeatureServer layer as GeoJSON, page by page."""
    session = session or requests.Session()
    feats: list[dict] = []
    offset = 0
    while True:
        params = {
            "where": "1=1",
            "outFields": ",".join(fields),
            "outSR": "4326",
            "f": "geojson",
            "resultOffset": offset,
            "resultRecordCount": PAGE,
            "returnGeometry": "true" if geometry else "false",
        }
        page = _get(session, service, params=params).json()
        if "error" in page:
            raise FetchError(f"{service}: {page['error']}")
        got = page.get("features", [])
        feats.extend(got)
        exceeded = page.get("exceededTransferLimit") or page.get("properties", {}).get(
            "exceededTransferLimit"
        )
        if not got or not exceeded:
            break
        offset += len(got)
    if not feats:
        raise FetchError(f"{service} returned no features")
    if not geometry:
        return pd.DataFrame([f["properties"] for f in feats])
    return gpd.GeoDataFrame.from_features(feats, crs=4326)


def _fetch_wards(target: Path, src: dict, session, progress) -> list[Path]:
    lookup = fetch_arcgis_layer(
        src["ward_lad_lookup_2022"]["service"],
        src["ward_lad_lookup_2022"]["fields"],
        session,
        geometry=False,
    )
    london = lookup[lookup["LAD22CD"].str.startswith("E09")]
    written = []
    w22 = fetch_arcgis_layer(
        src["wards_2022"]["service"], src["wards_2022"]["fields"], session
    )
    w22 = w22.merge(london[["WD22CD", "LAD22CD", "LAD22NM"]], on="WD22CD", how="inner")
    written.append(
        _write_gpkg(
            w22, target / src["wards_2022"]["output"], src["wards_2022"]["layer"]
        )
    )
    if progress:
        progress("wards", 1, 2)
    w18 = fetch_arcgis_layer(
        src["wards_2018"]["service"], src["wards_2018"]["fields"], session
    )
    w18 = w18[w18["LAD18CD"].str.startswith("E09")]
    written.append(
        _write_gpkg(
            w18, target / src["wards_2018"]["output"], src["wards_2018"]["layer"]
        )
    )
    if progress:
        progress("wards", 2, 2)
    return written


def _write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> Path:
    if gdf.empty:
        raise FetchError(f"no London wards in the download for {path.name}")
    gdf = gdf.copy()
    gdf["area_km2"] = gdf.to_crs(27700).area / 1e6
    with atomic_file(path, ".gpkg") as tmp:
        tmp.unlink()
        gdf.to_file(tmp, layer=layer, driver="GPKG")
    return path


def _archive_month(month) -> str:
    """``month`` as ``YYYY-MM`` within police.uk's archives (it is put into the
    archive's URL and a file name: nothing else may pass)."""
    month = check_month(month, "--month")
    if not FIRST_MONTH <= month <= datetime.date.today().strftime("%Y-%m"):
        raise ParameterError(f"'--month' {month} is outside police.uk's archives "
                             f"({FIRST_MONTH} to this month).")
    return month


def fetch_police_month(
    month: str,
    target: Path,
    url_template: str,
    session: requests.Session | None = None,
    forces: tuple[str, ...] = ("metropolitan",),
) -> list[Path]:
    """Download one data.police.uk archive and keep the given forces' files, gzipped."""
    month = _archive_month(month)  # it names the URL and a local file: YYYY-MM only
    session = session or requests.Session()
    url = url_template.format(month=month)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as tmpdir:
        tmp = Path(tmpdir) / f"{month}.zip"
        _download(session, url, tmp)
        try:
            zf = zipfile.ZipFile(tmp)
        except zipfile.BadZipFile as exc:
            raise FetchError(f"{url} is not a zip archive") from exc
        written = []
        with zf:
            for member in zf.namelist():
                name = Path(member).name
                if not any(
                    f"-{f}-street.csv" in name or f"-{f}-stop-and-search.csv" in name
                    for f in forces
                ):
                    continue
                out = target / (name + ".gz")
                with atomic_file(out, ".gz") as part:
                    part.write_bytes(gzip.compress(zf.read(member), mtime=0))
                written.append(out)
    if not written:
        raise FetchError(f"{url} holds no files for {', '.join(forces)}")
    return written


def fetch(
    what: str = "all",
    months: list[str] | None = None,
    force: bool = False,
    target: Path | None = None,
    sources_table: dict | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Fill the cache data root from the official sources.

    Returns
    -------
    dict
        ``{"data_root", "files", "skipped"}`` with ``files`` the paths written.
    """
    check_choice("what", what, WHAT)
    months = [_archive_month(m) for m in months or []]
    if what in OS_LAYERS:  # map layers: always into the cache (or target)
        base = Path(target) if target else cache_dir()
        path = fetch_os_open_data(OS_LAYERS[what], base, sources_table=sources_table,
                                  progress=progress)
        return {"data_root": str(base), "files": [str(path)], "skipped": False}
    if what == "population":  # rates per 1,000 residents: always into the cache
        src = sources_table or sources()
        path = fetch_population(
            target=Path(target) / "population" if target else None,
            url_template=src.get("population", {}).get("url"))
        return {"data_root": str(path.parent), "files": [str(path)],
                "skipped": False}
    existing = data_root()
    default_target = cache_dir() / "data"
    if (
        not force
        and target is None
        and existing != default_target
        and existing.is_dir()
    ):
        return {"data_root": str(existing), "files": [], "skipped": True}
    target = Path(target or default_target)
    src = sources_table or sources()
    session = requests.Session()
    session.headers["User-Agent"] = "hotspots (+https://data.police.uk reader)"
    files: list[Path] = []
    if what in ("all", "wards"):
        files += _fetch_wards(target, src, session, progress)
    if what in ("all", "crimes"):
        if not months:
            raise FetchError("say which months to fetch: --month YYYY-MM (repeatable)")
        for i, m in enumerate(months):
            files += fetch_police_month(
                m,
                target / "crimes" / "police_uk",
                src["police_uk_archive"]["url"],
                session,
            )
            if progress:
                progress("crimes", i + 1, len(months))
    manifest_path = target / "fetch.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for f in files:
        manifest[os.path.relpath(f, target)] = hashlib.sha256(
            f.read_bytes()
        ).hexdigest()
    write_json_atomic(manifest_path, manifest)
    return {
        "data_root": str(target),
        "files": [str(f) for f in files],
        "skipped": False,
    }


def fetch_population(
    target: Path | None = None,
    codes: list[str] | None = None,
    url_template: str | None = None,
    session: requests.Session | None = None,
) -> Path:
    """Download the ONS mid-year population estimates of the London boroughs.

    Source: ONS mid-year population estimates, local authority based, all ages,
    persons, latest year, from Nomis (dataset ``NM_2002_1``; the URL is
    :data:`hotspots.population.NOMIS_POPULATION_URL`), Open Government Licence v3.0.
    Written atomically as ``<target>/borough_population.csv`` (default target
    ``<cache>/population``) in the layout :mod:`hotspots.population` reads:
    ``area_code, area_name, population, year, source``.

    Parameters
    ----------
    codes : list of str, optional
        GSS codes to ask for (default: the 33 London boroughs of the ward file).
    url_template : str, optional
        URL with a ``{codes}`` field (tests point it at a local server).
    """
    import io
    import re

    from .population import NOMIS_POPULATION_URL

    if codes is None:
        from .areas import load_wards

        codes = sorted(load_wards()["borough_code"].unique())
    url = (url_template or NOMIS_POPULATION_URL).format(codes=",".join(codes))
    session = session or requests.Session()
    r = _get(session, url)
    try:
        raw = pd.read_csv(io.StringIO(r.text), dtype=str)
    except (ValueError, pd.errors.ParserError) as exc:
        raise FetchError(f"{url} did not return a CSV ({exc})") from exc
    raw.columns = [c.upper() for c in raw.columns]
    need = ["DATE_NAME", "GEOGRAPHY_NAME", "GEOGRAPHY_CODE", "OBS_VALUE"]
    if any(c not in raw.columns for c in need) or raw.empty:
        raise FetchError(f"{url} did not return the columns {need}")
    years = raw["DATE_NAME"].map(
        lambda s: (re.search(r"(19|20)\d\d", str(s)) or [None])[0]
    )
    pop = pd.to_numeric(raw["OBS_VALUE"], errors="coerce")
    if years.isna().any() or pop.isna().any():
        raise FetchError(f"{url}: a row lacks a year or a population")
    out = pd.DataFrame({
        "area_code": raw["GEOGRAPHY_CODE"],
        "area_name": raw["GEOGRAPHY_NAME"],
        "population": pop.astype("int64"),
        "year": years,
        "source": "ONS mid-year population estimates (Nomis NM_2002_1), OGL v3.0",
    })
    missing = sorted(set(codes) - set(out["area_code"]))
    if missing:
        raise FetchError(f"{url} gave no population for {missing}")
    path = Path(target or cache_dir() / "population") / "borough_population.csv"
    return write_csv_atomic(path, out)


def fetch_os_open_data(
    key: str,
    target: Path,
    *,
    sources_table: dict | None = None,
    session: requests.Session | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Download an OS OpenData GeoPackage and keep its London features.

    Parameters
    ----------
    key : {'os_open_roads', 'os_open_names'}
        The ``sources.toml`` section: the downloads API URL, the format and area of
        the file to take, the GeoPackage member and layer, the columns kept and the
        output path (relative to ``target``).
    target : path
        Folder the output goes under (the cache by default in :func:`fetch`).

    Returns
    -------
    Path
        The clipped GeoPackage (EPSG:27700), written atomically; its SHA-256 and
        the source file are recorded in ``<target>/fetch.json``.

    Raises
    ------
    FetchError
        When the list has no such file, the download fails or its checksum does
        not match, or the archive lacks the GeoPackage.
    """
    check_choice("key", key, tuple(OS_LAYERS.values()))
    src = (sources_table or sources())[key]
    session = session or requests.Session()
    target = Path(target)
    entry = _os_download_entry(session, src)
    out = target / src["output"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download-") as tmpdir:
        archive = Path(tmpdir) / str(entry.get("fileName") or "download.zip")
        _download(session, entry["url"], archive, entry, progress, key)
        gpkg = _extract_member(archive, src["member"], Path(tmpdir))
        frame = _read_london(gpkg, src)
        with atomic_file(out, ".gpkg") as tmp:
            tmp.unlink()
            frame.to_file(tmp, layer=Path(src["output"]).stem, driver="GPKG")
    manifest_path = target / "fetch.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest[os.path.relpath(out, target)] = hashlib.sha256(out.read_bytes()
                                                            ).hexdigest()
    manifest[f"{os.path.relpath(out, target)}:source"] = {
        k: entry.get(k) for k in ("fileName", "url", "md5", "size")}
    write_json_atomic(manifest_path, manifest)
    return out


def _os_download_entry(session, src: dict) -> dict:
    """The file of the product's download list with the wanted format and area."""
    r = _get(session, src["api"], params={"format": src["format"],
                                          "area": src["area"]})
    try:
        listing = r.json()
    except ValueError as exc:
        raise FetchError(f"{src['api']} did not return JSON ({exc})") from exc
    if isinstance(listing, dict):
        listing = listing.get("downloads") or listing.get("results") or []
    want = (str(src["format"]).lower(), str(src["area"]).lower())
    for e in listing:
        if (str(e.get("format", "")).lower(), str(e.get("area", "")).lower()) == want \
                and e.get("url"):
            return e
    got = sorted({f"{e.get('format')}/{e.get('area')}" for e in listing})
    raise FetchError(f"{src['api']} lists no {src['format']} file for area "
                     f"{src['area']} (it lists: {', '.join(got) or 'nothing'})")


def _download(session, url: str, path: Path, entry: dict | None = None,
              progress=None, stage: str = "") -> None:
    """Stream ``url`` into ``path``; check the MD5 that ``entry`` publishes, if any."""
    entry = entry or {}
    md5 = hashlib.md5(usedforsecurity=False)
    total = int(entry.get("size") or 0)
    done = 0
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as r:
            if r.status_code != 200:
                raise FetchError(f"{url} answered HTTP {r.status_code}")
            with open(path, "wb") as fh:
                for chunk in r.iter_content(1 << 20):
                    fh.write(chunk)
                    md5.update(chunk)
                    done += len(chunk)
                    if progress and total:
                        progress(stage, min(done, total), total)
    except requests.RequestException as exc:
        raise FetchError(f"could not download {url}: {exc}") from exc
    want = entry.get("md5")
    if want and md5.hexdigest().lower() != str(want).lower():
        raise FetchError(f"{url}: MD5 {md5.hexdigest()} does not match the "
                         f"published {want}")


def _extract_member(archive: Path, member: str, folder: Path) -> Path:
    """The GeoPackage inside the zip (``member``, else the only .gpkg)."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{archive.name} is not a zip archive") from exc
    with zf:
        names = zf.namelist()
        hit = [n for n in names if n.lower() == member.lower()] or \
            [n for n in names if n.lower().endswith(".gpkg")]
        if len(hit) != 1:
            raise FetchError(f"{archive.name} holds no single GeoPackage "
                             f"({member}); it holds {names[:10]}")
        out = folder / "layer.gpkg"
        with zf.open(hit[0]) as fin, open(out, "wb") as fout:
            while block := fin.read(1 << 20):
                fout.write(block)
    return out


def _read_london(gpkg: Path, src: dict) -> gpd.GeoDataFrame:
    """The layer's features within London (plus a margin), wanted columns only."""
    import pyogrio
    import shapely

    from .areas import BNG, load_wards

    layers = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
    layer = next((n for n in layers if n.lower() == str(src["layer"]).lower()),
                 layers[0] if len(layers) == 1 else None)
    if layer is None:
        raise FetchError(f"{gpkg.name}: no layer {src['layer']!r} (has {layers})")
    info = pyogrio.read_info(gpkg, layer=layer)
    have = {str(f).lower(): str(f) for f in info["fields"]}
    cols = [have[c.lower()] for c in src.get("columns", []) if c.lower() in have]
    outline = load_wards().to_crs(BNG).union_all().buffer(LONDON_MARGIN_M)
    crs = info.get("crs") or BNG
    box = gpd.GeoSeries([shapely.box(*outline.bounds)], crs=BNG).to_crs(crs)
    frame = gpd.read_file(gpkg, layer=layer, columns=cols,
                          bbox=tuple(box.total_bounds))
    if frame.crs is None:
        frame = frame.set_crs(BNG)
    frame = frame.to_crs(BNG)
    frame = frame[frame.intersects(outline)].reset_index(drop=True)
    frame.columns = [c.lower() if c != frame.geometry.name else c
                     for c in frame.columns]
    if frame.empty:
        raise FetchError(f"{gpkg.name}: no {layer} features within London")
    return frame
