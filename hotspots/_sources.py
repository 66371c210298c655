"""Finding police.uk files under a data root, and opening them as byte streams.

Private to :mod:`hotspots.ingest`. Every file a user can have is found, and every
file that is not read is listed with a reason:

* names are matched without regard to case (``.CSV``, ``.csv.GZ``, ``.ZIP``,
  ``2022-06-Metropolitan-Street.csv``), and a copy's ``(1)`` suffix is allowed;
* ``.zip`` archives are opened, and zips inside them too (up to
  :data:`MAX_ZIP_DEPTH` deep; an inner archive is copied to a temporary file, up to
  the size cap, so it can be read without holding it in memory);
* symbolic links are followed, a folder once: a second link to a folder already
  visited (a loop, or two links to one place) is refused and listed;
* files of forces not selected, outcomes files and files whose names are not
  police.uk's are listed as skipped, never dropped silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from ._csv import CHUNK_BYTES, FileProblem
from ._files import special_kind
from .errors import ParameterError
from .limits import Limits as Caps
from .limits import check_archive_member

try:  # ISA-L inflates the same gzip files about three times as fast as zlib
    from isal.igzip import IGzipFile as _GzipFile
    from isal.isal_zlib import error as _inflate_error
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    from gzip import GzipFile as _GzipFile
    _inflate_error = zlib.error
from .months import FIRST_MONTH, MONTH_RE

__all__ = [
    "FIRST_MONTH",
    "MAX_FILE_BYTES",
    "MAX_ZIP_DEPTH",
    "Discovery",
    "SourceFile",
    "discover_files",
    "hash_file",
    "read_chunks",
    "signature",
]

#: Decompressed bytes one file (or zip member) may hold.
MAX_FILE_BYTES = 1 << 30
#: Zips inside zips are opened this many levels deep.
MAX_ZIP_DEPTH = 3


def _this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


_POLICE_RE = re.compile(
    r"(\d{4}-\d{2})-([a-z0-9-]+?)-(street|stop-and-search|outcomes)"
    r"(\s*\(\d+\))?\.csv(\.gz)?$")
_CANDIDATE = (".csv", ".csv.gz", ".gz", ".zip", ".txt", ".tsv")
_KIND = {"street": "street", "stop-and-search": "stop_search"}


#: A folder named for a month, as police.uk's downloads hold each month's files.
_MONTH_FOLDER = re.compile(r"^\d{4}-\d{2}$")


@dataclass(frozen=True)
class SourceFile:
    """One police.uk file: on disk, gzipped, or a member of a (nested) zip.

    ``path`` is the file on disk (the archive for a member; for a member of an
    inner archive, the temporary copy of that archive); ``members`` the member
    inside it; ``label`` the name used everywhere (relative to the data root,
    archive members after ``:``).
    """

    path: Path
    members: tuple[str, ...]
    kind: str  # "street" or "stop_search"
    force: str
    month: str
    label: str = ""
    copy: bool = False  # named like a copy: "… (1).csv"
    origin: str = ""  # the label of the file on disk (the archive, for a member)
    entry: int = -1  # a member's place in its zip's directory (names can repeat)

    @property
    def member(self) -> str | None:
        return self.members[-1] if self.members else None

    @property
    def name(self) -> str:
        """Its own name (``a.zip:2022-06/…csv`` for an archive member)."""
        return self.label.rsplit("/", 1)[-1] if self.label else self.path.name

    @property
    def file_name(self) -> str:
        """The file's own name (a member's within its archive)."""
        return PurePosixPath(self.member).name if self.members else self.path.name

    @property
    def gzipped(self) -> bool:
        return self.file_name.lower().endswith(".gz")

    @property
    def folder(self) -> str:
        """The folder or archive it was found in (its *series*); month folders
        (``2022-06/``, as a data.police.uk download unpacks) and month archives
        (``2022-06.zip``) count as the folder above them, one download.

        >>> SourceFile(Path("x"), (), "street", "btp", "2022-06",
        ...            "crimes/dl/2022-06/2022-06-btp-street.csv").folder
        'crimes/dl'
        >>> SourceFile(Path("x"), ("2022-06/2022-06-btp-street.csv",), "street",
        ...            "btp", "2022-06", "", origin="crimes/burglary.zip").folder
        'crimes/burglary.zip'
        """
        parts = (self.origin or self.label).split("/")
        if not self.members or _MONTH_FOLDER.match(parts[-1].rsplit(".", 1)[0]):
            parts.pop()  # a file's folder; a month archive's too
        while parts and _MONTH_FOLDER.match(parts[-1]):
            parts.pop()
        return "/".join(parts)

    def read_bytes(self, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        """The whole decompressed content (for small files and tools)."""
        return b"".join(read_chunks(self, max_bytes))


@dataclass
class Discovery:
    """What :func:`discover_files` found."""

    files: list[SourceFile]
    skipped: dict[str, dict]  # label -> {"reason", "detail"}
    physical: list[tuple[str, Path]]  # (label, path) of files on disk read or listed
    other_files: int = 0  # files that are not data (docs, boundaries, …)
    hashes: dict = field(default_factory=dict)  # label -> SHA-256 of a file on disk
    #: label -> the file's :func:`signature` when it was hashed
    signatures: dict = field(default_factory=dict)
    tempdir: Path | None = None
    _spilled: list = field(default_factory=list)
    #: the forces of every police.uk file found, the ones not selected too
    forces_seen: set = field(default_factory=set)

    def cleanup(self) -> None:
        """Close the archives kept open; remove the temporary copies of inner
        archives."""
        close_archives()
        if self.tempdir is not None:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            self.tempdir = None


def discover_files(root: Path, forces: Iterable[str] | None,
                   max_file_bytes: int = MAX_FILE_BYTES,
                   unzip: Caps | None = None,
                   store: Path | None = None) -> Discovery:
    """Every police.uk street and stop-and-search file under ``root``.

    ``forces``: police.uk slugs to keep (None or empty: every force); ``unzip``:
    the caps on what a zip inside a zip may expand to (see :func:`read_chunks`);
    ``store``: a folder never read (the store, should a link lead into it).
    """
    keep = {f.lower() for f in forces} if forces else None
    found = Discovery([], {}, [])
    for rel, path, problem in _walk(root, store):
        if problem:
            found.skipped[rel] = problem
            continue
        low = path.name.lower()
        if _macos_metadata(rel):
            found.skipped[rel] = dict(_MACOS_METADATA)
        elif low.endswith(".zip"):
            found.physical.append((rel, path))
            _archive(found, path, rel, rel, keep, 1, max_file_bytes, unzip)
        elif low.endswith(_CANDIDATE):
            found.physical.append((rel, path))
            _classify(found, path, (), rel, path.name, keep, rel)
        else:
            found.other_files += 1
    used: set[str] = {label for label, _p in found.physical}
    found.files = [f if f.label not in used or not f.members  # a member named
                   else dataclasses.replace(f, label=_unique(f.label, used))
                   for f in found.files]  # like a file on disk: told apart
    found.files.sort(key=lambda f: f.label)
    found.physical.sort()
    found.skipped = dict(sorted(found.skipped.items()))
    return found


def _walk(root: Path, store: Path | None = None
          ) -> Iterator[tuple[str, Path, dict | None]]:
    """``(label, path, problem)`` of every file, following each folder once
    (never into ``store``)."""
    st = root.stat()
    top = (st.st_dev, st.st_ino)
    seen = {top: ""}  # folder -> the label it was read under
    inside = os.path.realpath(store) + os.sep if store is not None else None
    used: set[str] = set()  # labels given: two names that print alike get two
    stack = [(root, "", (top,))]  # each folder with the folders above it
    while stack:
        folder, rel, above = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield rel, folder, {"reason": "unreadable_folder",
                                "detail": exc.strerror or str(exc)}
            continue
        subdirs = []
        for e in entries:
            name = _printable(e.name)
            label = _unique(f"{rel}/{name}" if rel else name, used)
            if inside and (e.is_symlink() or e.is_dir(follow_symlinks=False)) \
                    and (os.path.realpath(e.path) + os.sep).startswith(inside):
                yield label, Path(e.path), {  # the store, or a link into it
                    "reason": "store_folder",
                    "detail": "the store this ingest writes (HOTSPOTS_STORE), or "
                              "a file in it; not read"}
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=True)
                is_file = not is_dir and e.is_file(follow_symlinks=True)
            except OSError:
                is_dir = is_file = False
            if is_dir:
                s = e.stat(follow_symlinks=True)
                key = (s.st_dev, s.st_ino)
                if key in above:
                    yield label, Path(e.path), {
                        "reason": "symlink_loop",
                        "detail": "a link to a folder above it; not followed"}
                    continue
                if key in seen:
                    yield label, Path(e.path), {
                        "reason": "folder_read_already",
                        "detail": "a second link to a folder read as "
                                  f"'{seen[key] or '.'}'; its files are read once"}
                    continue
                seen[key] = label
                subdirs.append((Path(e.path), label, (*above, key)))
            elif is_file:
                yield label, Path(e.path), None
            elif e.is_symlink() and not os.path.exists(e.path):
                yield label, Path(e.path), {"reason": "broken_symlink",
                                            "detail": "the link points nowhere"}
            else:  # a FIFO, socket or device (or a link to one): never opened
                yield label, Path(e.path), {"reason": "not_a_file",
                                            "detail": f"{_special_kind(e.path)}, "
                                                      "not a regular file"}
        stack.extend(reversed(subdirs))


def _special_kind(path: str) -> str:
    """What a path that is neither a folder nor a regular file is."""
    try:
        return special_kind(os.stat(path).st_mode) or "not a file"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


_MACOS_METADATA = {"reason": "macos_metadata",
                   "detail": "a macOS resource file, not data"}


def _macos_metadata(name: str) -> bool:
    """A file macOS leaves beside the real one (``._name``, ``__MACOSX/``): on a
    USB stick or in a zip made on a Mac."""
    return ("__MACOSX/" in name or name.startswith("__MACOSX")
            or PurePosixPath(name).name.startswith("._"))


def _unique(label: str, used: set[str]) -> str:
    """``label``, or ``label [2]``, ``[3]``… when it is taken already."""
    out, n = label, 1
    while out in used:
        n += 1
        out = f"{label} [{n}]"
    used.add(out)
    return out


def _printable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept by Python as lone
    surrogates, which cannot be written as UTF-8) shown as ``\\xe9``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8",
                                                              "backslashreplace")
    return name


def _archive(found: Discovery, path: Path, label: str, origin: str, keep, depth: int,
             max_bytes: int, unzip: Caps | None) -> None:
    """The members of one zip archive (and of zips inside it)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = sorted(((k, i) for k, i in enumerate(zf.infolist())
                            if not i.is_dir()), key=lambda ki: ki[1].filename)
            names: set[str] = set()  # a zip can hold two members of one name
            for entry, info in infos:
                mlabel = _unique(f"{label}:{info.filename}", names)
                base = PurePosixPath(info.filename).name
                if _macos_metadata(info.filename):
                    found.skipped[mlabel] = dict(_MACOS_METADATA)
                elif base.lower().endswith(".zip"):
                    if depth >= MAX_ZIP_DEPTH:
                        found.skipped[mlabel] = {
                            "reason": "nested_too_deep",
                            "detail": f"a zip more than {MAX_ZIP_DEPTH} levels deep"}
                        continue
                    inner = _spill(found, zf, info, max_bytes, mlabel, unzip)
                    if inner is not None:
                        _archive(found, inner, mlabel, origin, keep, depth + 1,
                                 max_bytes, unzip)
                elif base.lower().endswith(_CANDIDATE):
                    _classify(found, path, (info.filename,), mlabel, base, keep,
                              origin, entry)
                else:
                    found.other_files += 1
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError,
            NotImplementedError, ValueError) as exc:
        found.skipped[label] = {"reason": "unreadable_archive",
                                "detail": f"{type(exc).__name__}: {exc}"}


def _spill(found: Discovery, zf: zipfile.ZipFile, info, max_bytes: int,
           label: str, unzip: Caps | None) -> Path | None:
    """Copy an inner zip to a temporary file (at most ``max_bytes``, and within
    the ``unzip`` caps)."""
    name = PurePosixPath(info.filename).name
    if info.file_size > max_bytes:
        found.skipped[label] = {"reason": "too_large",
                                "detail": f"declares {info.file_size:,} bytes; the "
                                          f"cap is {max_bytes:,}"}
        return None
    try:
        _expands(unzip, name, info.compress_size, info.file_size)
    except FileProblem as p:
        found.skipped[label] = {"reason": p.reason, "detail": p.detail}
        return None
    if found.tempdir is None:
        found.tempdir = Path(tempfile.mkdtemp(prefix="hotspots-zips-"))
    out = found.tempdir / f"{len(found._spilled):05d}.zip"
    total = 0
    with zf.open(info) as src, open(out, "wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            total += len(chunk)
            try:
                _within(max_bytes, unzip, name, info.compress_size, total)
            except FileProblem as p:
                dst.close()
                out.unlink()
                found.skipped[label] = {"reason": p.reason, "detail": p.detail}
                return None
            dst.write(chunk)
    found._spilled.append(out)
    return out


def _classify(found: Discovery, path: Path, members: tuple, label: str, name: str,
              keep, origin: str, entry: int = -1) -> None:
    m = _POLICE_RE.search(name.lower())
    if m is None:
        found.skipped[label] = {
            "reason": "not_police_uk",
            "detail": "name is not YYYY-MM-<force>-street.csv or "
                      "YYYY-MM-<force>-stop-and-search.csv (.gz, or in a .zip)"}
        return
    month, force, what, copy, _gz = m.groups()
    if what == "outcomes":
        found.skipped[label] = {"reason": "outcomes_file",
                                "detail": "police.uk outcomes files are not read "
                                          "(the street files carry the last outcome)"}
        return
    if not MONTH_RE.match(month):
        found.skipped[label] = {"reason": "bad_month",
                                "detail": f"{month!r} in the name is not a month"}
        return
    if not FIRST_MONTH <= month <= _this_month():
        found.skipped[label] = {
            "reason": "month_out_of_range",
            "detail": f"{month} in the name is before police.uk's first month "
                      f"({FIRST_MONTH}) or after this month"}
        return
    found.forces_seen.add(force)
    if keep is not None and force not in keep:
        found.skipped[label] = {"reason": "force_not_selected",
                                "detail": f"force {force!r} is not among the forces "
                                          f"selected ({', '.join(sorted(keep))})"}
        return
    found.files.append(SourceFile(path, members, _KIND[what], force, month, label,
                                  bool(copy), origin, entry))


# ---------------------------------------------------------------------------
# reading


def _expands(unzip: Caps | None, name: str, packed: int | None, size: int) -> None:
    """Refuse (``too_large``) a compressed file expanding past the ``unzip`` caps."""
    if unzip is None or packed is None:
        return
    try:
        check_archive_member(name, packed, size, limits=unzip)
    except ParameterError as exc:
        raise FileProblem("too_large", str(exc)) from None


def _within(max_bytes: int, unzip: Caps | None, name: str, packed: int | None,
            total: int) -> None:
    """Refuse (``too_large``) a file whose bytes read so far pass a cap."""
    if total > max_bytes:
        raise FileProblem("too_large",
                          f"more than {max_bytes:,} bytes decompressed (the cap)")
    _expands(unzip, name, packed, total)


#: Archives kept open for their next member: ``(path, mtime, size) -> ZipFile``.
#: Reading a zip's directory costs time in its members; each member opening the
#: archive again made a zip of thousands of members quadratic.
_ARCHIVES: dict[tuple, zipfile.ZipFile] = {}
_ARCHIVES_LOCK = threading.Lock()
_KEEP_ARCHIVES = 4


@contextlib.contextmanager
def _archive_of(path: Path) -> Iterator[zipfile.ZipFile]:
    """The archive at ``path``, opened once for all its members (ZipFile reads
    several members at once through its own lock)."""
    st = os.stat(path)
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _ARCHIVES_LOCK:
        zf = _ARCHIVES.pop(key, None)
        if zf is None:
            zf = zipfile.ZipFile(path)
        _ARCHIVES[key] = zf  # the most recent last
        while len(_ARCHIVES) > _KEEP_ARCHIVES:  # not closed: a reader may be in it
            _ARCHIVES.pop(next(iter(_ARCHIVES)))
    yield zf


def _forget_archives() -> None:
    # a forked worker opens its own: a file shared with the parent shares its offset
    global _ARCHIVES_LOCK
    _ARCHIVES.clear()
    _ARCHIVES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_archives)


def close_archives() -> None:
    """Close the archives :func:`read_chunks` kept open."""
    with _ARCHIVES_LOCK:
        for zf in _ARCHIVES.values():
            zf.close()
        _ARCHIVES.clear()


@contextlib.contextmanager
def _open(sf: SourceFile) -> Iterator[tuple]:
    """``(binary stream of the decompressed bytes, declared size or None,
    compressed size or None)``: the declared size is a plain file's, the
    compressed size a zip member's or a ``.gz`` file's (None for a plain file on
    disk)."""
    gz = sf.gzipped
    with contextlib.ExitStack() as stack:
        if sf.members:
            zf = stack.enter_context(_archive_of(sf.path))
            info = (zf.infolist()[sf.entry] if sf.entry >= 0
                    else zf.getinfo(sf.members[-1]))
            fh = stack.enter_context(zf.open(info))
            declared = None if gz else info.file_size
            packed = info.compress_size
        else:
            fh = stack.enter_context(open(sf.path, "rb"))
            size = os.fstat(fh.fileno()).st_size
            declared, packed = (None, size) if gz else (size, None)
        if gz:
            fh = stack.enter_context(_GzipFile(fileobj=fh, mode="rb"))
        yield fh, declared, packed


def read_chunks(sf: SourceFile, max_bytes: int = MAX_FILE_BYTES,
                chunk: int = CHUNK_BYTES, unzip: Caps | None = None
                ) -> Iterator[bytes]:
    """The decompressed bytes of ``sf`` in chunks, at most ``max_bytes`` in all.

    ``unzip``: the caps on what a compressed file (a zip member, a ``.gz``) may
    expand to, in bytes and in times its compressed size; checked against the
    size a zip member declares before it is read, and again as its bytes come
    (a member can lie about its size).

    Raises
    ------
    FileProblem
        ``too_large`` past a cap (or when a zip member declares more);
        ``unreadable_file`` for a corrupt gzip or zip, or an I/O error.
    """
    name = sf.file_name
    try:
        with _open(sf) as (fh, declared, packed):
            if declared is not None and declared > max_bytes:
                raise FileProblem("too_large", f"{declared:,} bytes; the cap is "
                                               f"{max_bytes:,}")
            if declared is not None:
                _expands(unzip, name, packed, declared)
            total = 0
            while data := fh.read(chunk):
                total += len(data)
                _within(max_bytes, unzip, name, packed, total)
                yield data
    except FileProblem:
        raise
    except (OSError, EOFError, zlib.error, _inflate_error, zipfile.BadZipFile,
            RuntimeError, NotImplementedError, ValueError, KeyError) as exc:
        what = ("the gzip data is damaged, cut short or followed by other bytes"
                if sf.gzipped else "cannot read the file")
        raise FileProblem("unreadable_file", f"{what} ({type(exc).__name__}: {exc})"
                          ) from None


def signature(path: Path) -> tuple:
    """What changes whenever a file is written or replaced: its inode, size,
    modification and change times (the change time cannot be set back, as
    ``touch -r`` sets the modification time)."""
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def hash_file(path: Path) -> str:
    """SHA-256 of a file's bytes on disk."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(1 << 20):
            h.update(data)
    return h.hexdigest()
