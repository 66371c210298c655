"""The store: ingested offences, stop-and-search records, quarantine and outputs.

An ingest never edits the data it last wrote. It writes a complete new
*generation* beside the current one and publishes it with one atomic pointer
write, so a reader always sees one whole generation — the old one or the new
one, never a mix — whatever happens on the way (a killed process, a full disk,
a power cut)::

    CURRENT                                   name of the published generation
    .lock                                     fcntl lock: one ingest at a time
    generations/g000007/                      one complete generation:
        offences/month=YYYY-MM/<n>.parquet    accepted street rows (GeoParquet)
        stop_search/month=YYYY-MM/<n>.parquet accepted stop-and-search records
        quarantine.parquet, quarantine.csv    rejected rows: source, line, reason, raw
        coverage.parquet                      rows per force, crime type and month
        ledger.json                           per file: rows_in = accepted + quarantined
    generations/.staging-g000008-<pid>/       a generation being written
    tables/<name>.parquet                     analysis outputs (kept across ingests)
    cache/                                    precomputed views, keyed on fingerprints

How a generation is published (:meth:`Store.new_generation`, :class:`Generation`):
every file is written into the staging folder and fsynced, the ledger last; the
folder is renamed into ``generations/`` and its parent fsynced; then ``CURRENT``
is replaced by an atomic rename (the commit point) and the store folder fsynced.
The previous generation is kept for readers still reading it; older ones, staging
folders of killed runs and the leftovers of older versions of hotspots are removed
by the next ingest, under the lock.

Analysis outputs (``tables/``, ``cache/``) live outside the generations, so a new
ingest never deletes them; each records the :meth:`Store.fingerprint` it was
computed from, and :meth:`Store.read_table` says when that is no longer the
store's (``stale``).

A store written by an older version (``offences/`` and ``ledger.json`` at the
top) is still read until the next ingest replaces it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ._files import ordinary_mode, special_kind
from .config import crime_types_for, store_root
from .errors import ParameterError, StoreError
from .provenance import FORMULA_STARTS
from .provenance import safe_csv_frame as neutralise_formulas

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "FORMULA_PREFIXES",
    "OFFENCE_COLUMNS",
    "STOP_SEARCH_COLUMNS",
    "Generation",
    "PublishedThenInterrupted",
    "Store",
    "atomic_dir",
    "atomic_file",
    "file_crc32",
    "neutralise_formulas",
    "relocated",
    "rows_frame",
    "staged_outputs",
    "store_error",
    "write_csv_atomic",
    "write_json_atomic",
]

#: Columns of the stored offences, in order (``month`` is the partition key).
OFFENCE_COLUMNS: tuple[str, ...] = (
    "crime_id",
    "month",
    "reported_by",
    "falls_within",
    "lon",
    "lat",
    "location",
    "lsoa_code",
    "lsoa_name",
    "crime_type",
    "outcome",
    "context",
    "synthetic",
    "source",
    "line",
    "ward_code",
    "ward_name",
    "borough_code",
    "borough",
    "bcu",
    "ward_method",
    "h3_8",
    "h3_9",
    "h3_10",
    "force",
)
#: Columns of the stored stop-and-search records, in order.
STOP_SEARCH_COLUMNS: tuple[str, ...] = (
    "type",
    "datetime",
    "month",
    "hour",
    "weekday",
    "part_of_operation",
    "operation",
    "lon",
    "lat",
    "gender",
    "age_range",
    "self_defined_ethnicity",
    "officer_defined_ethnicity",
    "legislation",
    "object_of_search",
    "outcome",
    "outcome_linked",
    "outer_clothing_removed",
    "source",
    "line",
    "ward_code",
    "ward_name",
    "borough_code",
    "borough",
    "bcu",
    "ward_method",
    "h3_8",
    "h3_9",
    "h3_10",
    "force",
)
_KIND_COLUMNS = {"offences": OFFENCE_COLUMNS, "stop_search": STOP_SEARCH_COLUMNS}
#: Leading characters a spreadsheet reads as the start of a formula.
FORMULA_PREFIXES: tuple[str, ...] = FORMULA_STARTS
_META_KEY = b"hotspots"
_CURRENT = "CURRENT"
_GENERATIONS = "generations"
_LOCK = ".lock"
#: The CRC-32 of a generation's ledger, beside it.
_LEDGER_CRC = "ledger.json.crc32"
#: What a ledger whose CRC-32 is not the one recorded beside it is called.
_CRC_DIFFERS = "ledger.json is not as written (its checksum differs)"
_GEN_RE = re.compile(r"^g(\d{6,})$")
#: What older versions kept at the top of the store (one unversioned generation).
_LEGACY = ("offences", "stop_search", "ledger.json", "quarantine.parquet",
           "quarantine.csv", "coverage.parquet")
_LEGACY_LEFTOVER = re.compile(
    r"^\.(offences|stop_search)\.|^\.staging-dask$|^\.(ledger\.json|quarantine)\.")


def _io_point(op: str, path) -> None:
    """Called before every write, fsync, rename and delete of an ingest.

    Does nothing; tests replace it to simulate a crash or a full disk at any of
    those points.
    """


def store_error(exc: OSError, path, doing: str, ingest: bool = True) -> StoreError:
    """A one-line :class:`StoreError` for an operating-system error on the store.

    Examples
    --------
    >>> import errno
    >>> print(store_error(OSError(errno.ENOSPC, "No space left on device"), "/s",
    ...                   "writing"))  # doctest: +ELLIPSIS
    disk full: writing /s failed (No space left on device); the store still holds...
    """
    why = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        head = "disk full"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        head = "the store is read-only"
    else:
        head = "cannot write the store"
    tail = "; the store still holds the last complete ingest" if ingest else ""
    return StoreError(f"{head}: {doing} {path} failed ({why}){tail}")


# ---------------------------------------------------------------------------
# atomic writes


def file_crc32(path: Path | str) -> int:
    """CRC-32 of a file's bytes: what the ledger records of each file of a
    generation, so that an ingest finds a file damaged within its size."""
    import zlib

    crc = 0
    with open(path, "rb") as fh:
        while data := fh.read(1 << 20):
            crc = zlib.crc32(data, crc)
    return crc


def fsync_path(path: Path, directory: bool = False) -> None:
    """Flush a file (or a folder's entries) to disk."""
    _io_point("fsync", path)
    fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path, skip: set | frozenset = frozenset()) -> None:
    """fsync every file and folder under ``folder`` (and ``folder`` itself), but
    the files in ``skip`` (paths relative to ``folder``, already flushed)."""
    for dirpath, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = Path(dirpath) / name
            if path.relative_to(folder).as_posix() not in skip:
                fsync_path(path)
        fsync_path(Path(dirpath), directory=True)


#: A temporary file of a writer no longer running is removed once this old
#: (seconds), so a writer on another machine sharing the folder keeps its own.
STALE_TEMPORARY_S = 60.0


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or cannot tell: leave its files
        return True
    return True


def _sweep_temporaries(target: Path | str) -> None:
    """Remove the temporary files a killed writer of ``target`` left beside it
    (``.<name>.<pid>.<random><suffix>``, of a process no longer running, older
    than :data:`STALE_TEMPORARY_S`)."""
    target = Path(target)
    prefix = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    now = time.time()
    for e in entries:
        if not e.name.startswith(prefix):
            continue
        pid, dot, _rest = e.name[len(prefix):].partition(".")
        if not (dot and pid.isdigit()) or _running(int(pid)):
            continue
        with contextlib.suppress(OSError):
            st = e.stat(follow_symlinks=False)
            if e.is_file(follow_symlinks=False) and \
                    now - st.st_mtime >= STALE_TEMPORARY_S:
                os.unlink(e.path)


def _check_replaceable(target: Path) -> None:
    """Refuse to write over what is not a regular file: a temporary file moved
    over ``/dev/full`` (or a FIFO, a socket) would replace the device itself."""
    try:
        kind = special_kind(os.stat(target).st_mode)
    except OSError:
        return  # not there (or not reachable): the write says what is wrong
    if kind:
        raise ParameterError(f"{target}: is {kind}, not a regular file; give the "
                             "path of a file to write")


@contextlib.contextmanager
def atomic_file(target: Path | str, suffix: str = "",
                private: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success move it over ``target`` atomically,
    with an ordinary file's mode (0666 less the umask), or 0600 if ``private``."""
    target = Path(target)
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_temporaries(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}.", suffix=suffix or ".tmp",
        dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            if private:
                os.chmod(tmp_path, 0o600)
            else:
                ordinary_mode(tmp_path)
        _io_point("rename", target)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a temporary folder; on success swap it in for ``target``.

    Only for folders nothing else depends on: the store's own data is published
    as a whole generation (:meth:`Store.new_generation`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        ordinary_mode(tmp, directory=True)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_outputs(folder: Path | str) -> Iterator[Path]:
    """Yield a staging folder inside ``folder``; on success move every file
    written there into ``folder`` (renames, in a moment), then remove it.

    For a set of files made by one run (ward maps, a brief): a run killed or
    failing while it works leaves the last complete set, not some files of each
    run. A staging folder a killed run left is removed by the next run there.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for e in _children(folder):  # those of writers no longer running
        pid = e.name.removeprefix(".staging-").partition("-")[0]
        if e.name.startswith(".staging-") and pid.isdigit() and not _running(
                int(pid)):
            shutil.rmtree(e, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=folder))
    try:
        yield stage
        for src in sorted(stage.rglob("*")):
            if src.is_file():
                dst = folder / src.relative_to(stage)
                _check_replaceable(dst)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def relocated(value, stage: Path | str, folder: Path | str):
    """``value`` (text, or dicts, lists and tuples of it, or a result dataclass
    holding them) with paths under ``stage`` named as under ``folder``: where
    :func:`staged_outputs` put them. Every field of a result is looked at, so
    one added later cannot keep naming the staging folder."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{
            f.name: relocated(getattr(value, f.name), stage, folder)
            for f in dataclasses.fields(value) if f.init and isinstance(
                getattr(value, f.name), str | dict | list | tuple)})
    if isinstance(value, str):
        return str(Path(folder) / Path(value).relative_to(stage)) \
            if value.startswith(str(stage)) else value
    if isinstance(value, dict):
        return {k: relocated(v, stage, folder) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(relocated(v, stage, folder) for v in value)
    return value


def _json_text(obj, depth: int = 2, indent: str = "") -> str:
    """JSON with one line per key down to ``depth`` levels, compact below (fast:
    the C encoder writes the leaves)."""
    if depth == 0 or not isinstance(obj, dict) or not obj:
        return json.dumps(obj, default=str)
    inner = indent + "  "
    items = [f"{inner}{json.dumps(str(k))}: {_json_text(v, depth - 1, inner)}"
             for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def write_csv_atomic(path: Path | str, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV to ``path`` atomically, text a spreadsheet would
    run as a formula neutralised (:func:`neutralise_formulas`): every CSV the
    tool writes for people to open goes through here."""
    with atomic_file(path, ".csv") as tmp:
        neutralise_formulas(frame).to_csv(tmp, index=False)
    return Path(path)


def write_json_atomic(path: Path | str, obj, durable: bool = False) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (fsynced when ``durable``).

    Keys are on their own lines two levels deep; deeper values stay on one line.
    """
    with atomic_file(path, ".json") as tmp:
        _io_point("write", path)
        tmp.write_text(_json_text(obj, depth=3) + "\n")
        if durable:
            fsync_path(tmp)
    return Path(path)


# ---------------------------------------------------------------------------
# the lock


#: Descriptors of the ingest locks this process holds.
_HELD_LOCKS: set[int] = set()


def close_inherited_locks() -> None:
    """In a forked worker: close the lock files inherited from the parent.

    The lock stays the parent's (closing a copy does not release it) and ends
    with the parent, however it ends, rather than living on in its workers.
    """
    for fd in list(_HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


class _Lock:
    """An exclusive fcntl lock on the store folder itself (released when the
    process ends); ``<store>/.lock`` says who holds it. Locking the folder, not
    the file, means deleting ``.lock`` (it can look stale) cannot let a second
    ingest in beside a running one."""

    def __init__(self, store: Store, timeout: float):
        self.store, self.timeout = store, float(timeout)
        self.fd = self.note = None

    def __enter__(self) -> _Lock:
        path = self.store.path / _LOCK
        if self.store.path.exists() and not self.store.path.is_dir():
            raise StoreError(f"the store {self.store.path} is a file, not a folder: "
                             "give a folder (HOTSPOTS_STORE)")
        try:
            self.store.path.mkdir(parents=True, exist_ok=True)
            note = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_error(exc, path, "opening") from None
        try:
            fd = os.open(self.store.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            os.close(note)
            raise store_error(exc, self.store.path, "opening") from None
        deadline = time.monotonic() + max(0.0, self.timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(note)
                    os.close(fd)
                    os.close(note)
                    raise StoreError(
                        f"another ingest{holder} is writing the store "
                        f"{self.store.path}; gave up after waiting "
                        f"{self.timeout:g} s (wait longer with --wait)") from None
                time.sleep(0.05)
        self.fd, self.note = fd, note
        _HELD_LOCKS.update((fd, note))
        with contextlib.suppress(OSError):
            os.ftruncate(note, 0)
            os.pwrite(note, (f"pid {os.getpid()} on {socket.gethostname()} since "
                             f"{datetime.now(UTC).isoformat(timespec='seconds')}\n"
                             ).encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.note, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            for fd in (self.fd, self.note):
                _HELD_LOCKS.discard(fd)
                os.close(fd)
            self.fd = self.note = None


def _names_a_generation(path: Path) -> bool:
    """Whether ``path`` is a store's pointer: one line naming a generation (its
    generations deleted, it is still the store's, and an ingest replaces it)."""
    try:
        with open(path, "rb") as f:
            text = f.read(64)
    except OSError:
        return False
    return bool(_GEN_RE.match(text.decode("ascii", "replace").strip()))


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


# ---------------------------------------------------------------------------
# generations


class PublishedThenInterrupted(KeyboardInterrupt):
    """Ctrl-C after a new generation was published: the store is the new one
    (what remains, the tidying of old generations, the next ingest does)."""

    def __init__(self, generation: str):
        super().__init__(generation)
        self.generation = generation


class Generation:
    """A new generation being written; :meth:`commit` publishes it as a whole.

    Made by :meth:`Store.new_generation` while the store lock is held. Write every
    file under :attr:`path` (a staging folder), then call :meth:`commit` with the
    ledger; :meth:`abort` (or an exception before the commit) leaves the current
    generation untouched.
    """

    def __init__(self, store: Store, name: str):
        self.store, self.name = store, name
        self.final = store.path / _GENERATIONS / name
        self.path = store.path / _GENERATIONS / f".staging-{name}-{os.getpid()}"
        self.committed = False
        #: files under :attr:`path` (relative) their writers flushed already
        self.synced: set[str] = set()

    def commit(self, ledger: dict) -> None:
        """Write the ledger, make everything durable and publish the generation."""
        store, gens = self.store, self.store.path / _GENERATIONS
        previous = store.current_generation()
        try:
            write_json_atomic(self.path / "ledger.json", ledger, durable=True)
            with atomic_file(self.path / _LEDGER_CRC) as tmp:  # the ledger's own
                tmp.write_text(f"{file_crc32(self.path / 'ledger.json')}\n")
            fsync_tree(self.path, self.synced)
            _io_point("rename", self.final)
            os.replace(self.path, self.final)
            fsync_path(gens, directory=True)
            with atomic_file(store.path / _CURRENT) as tmp:
                _io_point("write", store.path / _CURRENT)
                tmp.write_text(self.name + "\n")
                fsync_path(tmp)
            fsync_path(store.path, directory=True)
        except BaseException as exc:
            if not self._published():
                if isinstance(exc, OSError):
                    raise store_error(exc, store.path, "publishing a new generation "
                                      "in") from None
                raise
            # the pointer names the new generation: it is published, whatever
            # failed after its rename (the folder's sync, a Ctrl-C)
            self.committed = True
            if not isinstance(exc, OSError):
                raise PublishedThenInterrupted(self.name) from None
        self.committed = True
        # after the commit point: tidy up, but never fail the ingest for it
        try:
            store._after_commit({self.name} | ({previous} if previous else set()))
        except KeyboardInterrupt:
            raise PublishedThenInterrupted(self.name) from None

    def _published(self) -> bool:
        try:
            return self.store.current_generation() == self.name
        except StoreError:
            return False

    def abort(self) -> None:
        """Remove the staging folder (best effort; the next ingest retries)."""
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)
            if self.final.exists() and self.store.current_generation() != self.name:
                shutil.rmtree(self.final, ignore_errors=True)


# ---------------------------------------------------------------------------
# the store


@dataclass(frozen=True)
class Store:
    """A handle on the store folder. Cheap to make; reads on demand.

    Parameters
    ----------
    path : Path
        The store folder.
    generation : str, optional
        Read this generation instead of the current one (see :meth:`pinned`).
    """

    path: Path
    generation: str | None = None

    @classmethod
    def open(cls, path: Path | str | None = None) -> Store:
        """The store at ``path`` (default :func:`hotspots.config.store_root`)."""
        return cls(Path(path) if path is not None else store_root())

    # -- which generation ------------------------------------------------------
    def current_generation(self) -> str | None:
        """Name of the published generation (None before the first ingest, or for
        a store written by an older version)."""
        try:
            name = (self.path / _CURRENT).read_bytes().decode("ascii", "replace")
            name = name.strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the store {self.path} ({exc.strerror})"
                             ) from None
        if not _GEN_RE.match(name):
            raise StoreError(f"the store {self.path} is damaged ({_CURRENT} holds "
                             f"{name[:40]!r}); run 'hotspots ingest --rebuild'")
        return name

    def root(self) -> Path:
        """The folder of the generation this handle reads."""
        name = self.generation or self.current_generation()
        if name is None:
            return self.path  # before any ingest, or an older version's layout
        return self.path / _GENERATIONS / name

    def pinned(self) -> Store:
        """A handle that keeps reading the current generation, whatever is
        published after (for several reads that must agree)."""
        return Store(self.path, self.generation or self.current_generation())

    def lock(self, timeout: float = 600.0) -> _Lock:
        """The exclusive ingest lock, waiting up to ``timeout`` seconds.

        Raises
        ------
        StoreError
            When another ingest holds it for longer, or the store is read-only.
        """
        return _Lock(self, timeout)

    def new_generation(self) -> Generation:
        """Start a new generation (call with :meth:`lock` held)."""
        gens = self.path / _GENERATIONS
        try:
            gens.mkdir(parents=True, exist_ok=True)
            taken = [int(m.group(1)) for p in gens.iterdir()
                     if (m := _GEN_RE.match(p.name))]
            current = self.current_generation()
            if current:
                taken.append(int(current[1:]))
            gen = Generation(self, f"g{max(taken, default=0) + 1:06d}")
            _io_point("mkdir", gen.path)
            gen.path.mkdir()
        except OSError as exc:
            raise store_error(exc, self.path, "starting a new generation in") from None
        return gen

    def repair(self) -> list[str]:
        """Remove what killed or failed ingests left (call with :meth:`lock` held).

        Staging folders, generations that were never published, generations
        older than the one before the current, and the temporary folders of older
        versions go; a damaged pointer to the current generation is removed (the
        ingest then writes a whole new generation). Returns the names removed.
        """
        try:
            current = self.current_generation()
        except StoreError:
            gone = _remove(self.path / _CURRENT)
            return [f"{gone} (damaged)"] if gone else []
        newest = int(current[1:]) if current else 0
        gens = _children(self.path / _GENERATIONS)
        numbers = sorted(int(m.group(1)) for p in gens if (m := _GEN_RE.match(p.name)))
        before = [n for n in numbers if n < newest][-1:]
        keep = {newest, *before} if current else set()
        removed = [_remove(p) for p in gens
                   if p.name.startswith(".staging-")
                   or ((m := _GEN_RE.match(p.name)) and int(m.group(1)) not in keep)]
        removed += [_remove(p) for p in _children(self.path) if _leftover(p.name)]
        return [r for r in removed if r]

    def _after_commit(self, keep: set[str]) -> list[str]:
        """Drop every generation but ``keep`` and an older version's layout (only
        where its ledger shows it is one: other files of those names stay)."""
        legacy = _is_legacy_store(self.path)
        removed = [_remove(p) for p in _children(self.path / _GENERATIONS)
                   if p.name not in keep and _generation_name(p.name)]
        removed += [_remove(p) for p in _children(self.path)
                    if _leftover(p.name) or (legacy and p.name in _LEGACY)]
        return [r for r in removed if r]

    def check_folder(self) -> None:
        """Refuse to write a store into a folder holding files of other kinds: an
        existing store (any version) or an empty or new folder is fine. (A user
        pointing ``HOTSPOTS_STORE`` at a folder of their own keeps its files.)"""
        try:
            names = sorted(os.listdir(self.path))
        except (FileNotFoundError, NotADirectoryError):
            if self.path.is_file():
                raise StoreError(f"the store {self.path} is a file, not a folder "
                                 "(HOTSPOTS_STORE)") from None
            return  # made by the ingest (or it says why it cannot be)
        except OSError as exc:
            raise StoreError(f"cannot read the store {self.path} ({exc.strerror})"
                             ) from None
        legacy = _is_legacy_store(self.path)
        foreign = [n for n in names if not (n in _STORE_MARKERS or _leftover(n)
                                            or (legacy and n in _LEGACY))]
        gens = self.path / _GENERATIONS
        foreign += [f"{_GENERATIONS}/{p.name}" for p in _children(gens)
                    if not (_generation_name(p.name) and p.is_dir())]
        if _CURRENT in names and not gens.is_dir() and not _names_a_generation(
                self.path / _CURRENT):  # a file of that name, not a pointer
            foreign.append(_CURRENT)
        if not foreign:
            return
        shown = ", ".join(foreign[:4]) + (", …" if len(foreign) > 4 else "")
        raise StoreError(
            f"{self.path} holds files a store does not ({shown}); set "
            "HOTSPOTS_STORE to a new or empty folder, or to a store")

    # -- what is there -------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        return self.root() / "ledger.json"

    @property
    def quarantine_path(self) -> Path:
        """The quarantine of the generation read, as CSV for people."""
        return self.root() / "quarantine.csv"

    def exists(self) -> bool:
        """True when an ingest has written offences and a ledger here."""
        try:
            root = self.root()
        except StoreError:
            return False
        return (root / "ledger.json").is_file() and (root / "offences").is_dir()

    def ledger(self) -> dict:
        """The ingest ledger (raises :class:`StoreError` before any ingest, or
        when it cannot be read)."""
        self._require()
        try:
            return _load_ledger(self.ledger_path)
        except (OSError, ValueError) as exc:
            raise self._damaged(_ledger_trouble(exc)) from None

    def _layout(self) -> dict:
        """The ledger's ``groups`` and ``outputs`` (read-only: shared between
        calls while the ledger file stays the same)."""
        self._require()
        path = self.ledger_path
        try:
            st = path.stat()
            return _read_layout(str(path), st.st_mtime_ns, st.st_size)
        except (OSError, ValueError) as exc:
            raise self._damaged(_ledger_trouble(exc)) from None

    def _groups(self) -> dict | None:
        return self._layout()["groups"]

    def _damaged(self, what: str) -> StoreError:
        return StoreError(f"the store {self.path} is damaged ({what}); run "
                          "'hotspots ingest' to repair it")

    def damaged_parts(self, groups: dict | None = None,
                      folder: str | None = None, months=None,
                      deep: bool = True) -> dict[str, str]:
        """The data parts the ledger lists that are missing or not as written
        (another size, or — with ``deep`` — not ending as a Parquet file does),
        and any part it does not list, each with what is wrong; ``folder``
        (``offences`` or ``stop_search``) and ``months`` narrow the check. Empty
        for a store whose ledger lists no parts (an older version's)."""
        groups = self._groups() if groups is None else groups
        if not isinstance(groups, dict):
            return {}
        root = self.root()
        want: dict[str, int | None] = {}
        crcs: dict[str, int] = {}
        for rec in groups.values():
            sizes = rec.get("sizes") or {}
            crcs.update(rec.get("crc32") or {})
            for rel in rec.get("parts", []):
                want[rel] = sizes.get(rel)
        kinds = [folder] if folder else ["offences", "stop_search"]
        inside = set(months) if months is not None else None
        bad: dict[str, str] = {}
        for kind in kinds:
            found: dict[str, int] = {}  # the parts on disk, with their sizes
            with contextlib.suppress(FileNotFoundError), \
                    os.scandir(root / kind) as months_on_disk:
                for d in months_on_disk:
                    if not d.name.startswith("month=") or (
                            inside is not None and d.name[6:] not in inside):
                        continue
                    with os.scandir(d.path) as parts:
                        found.update((f"{kind}/{d.name}/{e.name}", e.stat().st_size)
                                     for e in parts if e.name.endswith(".parquet"))
            for rel in sorted(r for r in want if r.startswith(f"{kind}/month=")
                              and (inside is None or r.split("/")[1][6:] in inside)):
                if rel not in found:
                    bad[rel] = "is missing"
                elif (want[rel] is not None and found[rel] != want[rel]) or (
                        deep and not _part_intact(root / rel, want[rel])):
                    bad[rel] = "is not as written"
                elif deep and rel in crcs and _crc_differs(root / rel, crcs[rel]):
                    bad[rel] = "is not as written (its checksum differs)"
            bad |= {rel: "is not in the ledger" for rel in sorted(found)
                    if rel not in want}
        return bad

    def damaged_outputs(self, ledger: dict, names=None,
                        deep: bool = False) -> dict[str, str]:
        """The generation's other files (quarantine, coverage) that are missing
        or of another size than the ledger records (with ``deep``, or another
        checksum), each with what is wrong (none for an older ledger)."""
        sizes = ledger.get("outputs")
        if not isinstance(sizes, dict):
            return {}
        crcs = ledger.get("output_crc32") if deep else None
        crcs = crcs if isinstance(crcs, dict) else {}
        bad = {}
        for name in names or OUTPUT_FILES:
            try:
                size = (self.root() / name).stat().st_size
            except OSError:
                bad[name] = "is missing"
                continue
            if sizes.get(name) is not None and size != sizes[name]:
                bad[name] = "is not as written"
            elif name in crcs and _crc_differs(self.root() / name, crcs[name]):
                bad[name] = "is not as written (its checksum differs)"
        return bad

    def _check_output(self, name: str) -> Path:
        """The path of one of :data:`OUTPUT_FILES`, checked against the ledger."""
        bad = self.damaged_outputs(self._layout(), [name])
        if bad:
            raise self._damaged(damage_text(bad, most=1))
        return self.root() / name

    def fingerprint(self) -> str:
        """What the store's contents depend on: the inputs' content hashes, the
        boundaries, the selected forces and the code. Caches key on it."""
        ledger = self.ledger()
        fp = ledger.get("fingerprint")
        if fp:
            return str(fp)
        import hashlib

        return hashlib.sha256(json.dumps(ledger, sort_keys=True, default=str)
                              .encode()).hexdigest()

    def months(self, kind: str = "offences") -> list[str]:
        """Months present in the store, sorted."""
        self._require()
        folder = self.root() / kind
        return sorted(
            p.name.split("=", 1)[1] for p in folder.glob("month=*") if p.is_dir()
        )

    def coverage(self) -> pd.DataFrame:
        """Accepted street rows per force, crime type and month, with the number of
        files behind them (``force, crime_type, month, files, rows``).

        A force, type and month absent here had no file: missing, not zero (see
        :class:`hotspots.coverage.Coverage`).
        """
        path = self._check_output("coverage.parquet")
        if not path.is_file():
            raise StoreError(f"the store {self.path} was written by an older "
                             "version (no coverage table); run 'hotspots ingest "
                             "--rebuild'")
        try:
            return pq.read_table(path).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._damaged(f"coverage.parquet cannot be read: {exc}") from None

    def quarantine(self) -> pd.DataFrame:
        """Every quarantined row: ``kind, source, line, reason, detail, raw``."""
        path = self._check_output("quarantine.parquet")
        try:
            return pq.read_table(path).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._damaged(f"quarantine.parquet cannot be read: {exc}") from None

    def _require(self) -> None:
        root = self.root()  # a damaged pointer says so
        if self.exists():
            return
        if self.generation and not root.is_dir() \
                and self.current_generation() != self.generation:
            raise StoreError(
                f"the store {self.path} changed while this was reading it (newer "
                f"ingests replaced generation {self.generation}); run it again")
        damage = self.pointer_damage()
        if damage:
            raise self._damaged(damage)
        raise StoreError(
            f"no ingested data in the store {self.path}; "
            "run 'hotspots ingest' first"
        )

    def pointer_damage(self) -> str | None:
        """What is wrong with the current generation's pointer, folder or ledger
        (None when they are whole, or before the first ingest)."""
        try:
            current = self.current_generation()
        except StoreError:
            return f"{_CURRENT} cannot be read"
        if current is None:
            return None
        gen = self.path / _GENERATIONS / current
        if not gen.is_dir():
            return f"{_CURRENT} names generation {current}, which is missing"
        try:
            _load_ledger(gen / "ledger.json")
        except FileNotFoundError:
            return "ledger.json is missing"
        except _LedgerDamage as exc:
            return str(exc)
        except (OSError, ValueError):
            return "ledger.json cannot be read"
        if not _ledger_crc_ok(gen):
            return _CRC_DIFFERS
        if not (gen / "offences").is_dir():
            return "offences/ is missing"
        return None

    # -- reading -------------------------------------------------------------
    def offences(
        self,
        area=None,
        crime: str | Sequence[str] = "everything",
        start: str | None = None,
        end: str | None = None,
        columns: Sequence[str] | None = None,
        geometry: bool = False,
        forces: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Accepted offences, filtered.

        Parameters
        ----------
        area : Area or str, optional
            Keep offences in this area's 2022 wards (a name is resolved with
            :func:`hotspots.areas.resolve_area`).
        crime : str or sequence of str
            A family (``robbery``, ``vehicle``, ``asb``, ``all``…) or police.uk
            type(s).
        start, end : str, optional
            Inclusive ``YYYY-MM`` bounds.
        columns : sequence of str, optional
            Columns to read (default: all but the geometry).
        geometry : bool
            Return a GeoDataFrame of points (EPSG:4326).
        forces : sequence of str, optional
            Keep the rows of these forces' files only (police.uk slugs such as
            ``metropolitan``; default every force ingested).
        """
        return self._read(
            "offences",
            area,
            start,
            end,
            columns,
            geometry,
            crime=crime,
            forces=forces,
        )

    def distinct_offences(self, columns: Sequence[str]) -> pd.DataFrame:
        """The distinct combinations of ``columns`` among offences joined to a
        ward (one hashed pass in Arrow; each column as plain text)."""
        cols = list(columns)
        table = self.scan("offences", cols, joined=True)
        table = table.group_by(cols).aggregate([])
        return pa.table({c: table[c].cast(pa.string()) for c in cols}).to_pandas()

    def stop_search(
        self, area=None, start=None, end=None, columns=None, geometry: bool = False,
        forces: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Accepted stop-and-search records, filtered like :meth:`offences`."""
        return self._read(
            "stop_search", area, start, end, columns, geometry, forces=forces,
        )

    def columns(self, kind: str = "offences") -> tuple[str, ...]:
        """The columns the store holds for ``kind`` (``month`` included)."""
        self._require()
        schema = _stored_schema(self.root() / kind)
        names = schema.names if schema is not None else ()
        return tuple(dict.fromkeys([*names, "month"]))

    def scan(
        self,
        kind: str,
        columns: Sequence[str] | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        crime: str | Sequence[str] | None = None,
        forces: Sequence[str] | None = None,
        area=None,
        joined: bool = False,
    ) -> pa.Table:
        """Accepted rows of ``kind`` (``offences`` or ``stop_search``) as one Arrow
        table, filtered as :meth:`offences` describes (``joined``: only rows in a
        ward). Row groups whose crime types cannot match are not read.

        The month folders and files are read in order with ``pyarrow.parquet``
        (``pyarrow.dataset`` gives the same rows, and is the reference in the
        tests, but costs a quarter of a second to import with pandas behind it).
        """
        self._require()
        cols = list(dict.fromkeys(columns or _KIND_COLUMNS[kind]))
        types = None
        if crime is not None:
            types = list(crime_types_for(crime))
            if set(types) == set(crime_types_for("everything")):
                types = None
        wards = None
        if area is not None:
            from .areas import Area, resolve_area

            area = area if isinstance(area, Area) else resolve_area(area)
            if area.code == "LONDON":  # every ward, the City's included
                joined = True
            else:
                wards = list(area.ward_codes)
        tests = _row_tests(types, forces, wards, joined)
        folder = self.root() / kind
        months = [m for m in self.months(kind) if (start is None or m >= start)
                  and (end is None or m <= end)]
        groups = self._groups()
        listed = {k.split("|", 1)[1] for k in (groups or {})
                  if k.startswith(_GROUP_KIND[kind] + "|")}
        months = sorted(set(months) | {
            m for m in listed
            if (start is None or m >= start) and (end is None or m <= end)})
        # a quick look (sizes); a part damaged within its size fails to read
        bad = self.damaged_parts(groups, kind, months, deep=False)
        if bad:
            raise self._damaged(damage_text(bad))
        files = [(month, path) for month in months
                 for path in sorted((folder / f"month={month}").glob("*.parquet"))]

        import numpy as np

        from ._arrow import fixed_strings

        def read(item):
            month, path = item
            try:
                part = _scan_file(path, cols, types, tests, forces is not None)
            except (pa.ArrowInvalid, OSError) as exc:
                raise self._damaged(f"{path.relative_to(self.root()).as_posix()} "
                                    f"cannot be read: {exc}") from None
            if part is None:
                return None
            if "month" in cols:
                part = part.append_column("month", fixed_strings(
                    np.full(part.num_rows, month.encode())))
            return part.select([c for c in cols if c in part.schema.names])

        if len(files) > 16:  # a long scan: files side by side (Arrow frees the GIL)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as pool:
                parts = [p for p in pool.map(read, files) if p is not None]
        else:
            parts = [p for p in map(read, files) if p is not None]
        if not parts:  # no rows: the columns as stored, empty
            schema = _stored_schema(folder)
            return pa.table({c: pa.array([], schema.field(c).type if schema is not None
                                         and c in schema.names else pa.string())
                             for c in cols})
        try:
            return pa.concat_tables(parts, promote_options="default")
        except pa.ArrowInvalid as exc:
            raise StoreError(f"the store {self.path} holds {kind} files of "
                             f"different layouts ({exc}); run 'hotspots ingest "
                             "--rebuild'") from None

    def _read(
        self, kind, area, start, end, columns, geometry, crime=None, forces=None,
    ) -> pd.DataFrame:
        cols = list(columns or _KIND_COLUMNS[kind])
        if geometry and "geometry" not in cols:
            cols.append("geometry")
        df = rows_frame(self.scan(kind, cols, start=start, end=end, crime=crime,
                                  forces=forces, area=area))
        if geometry:
            import geopandas as gpd

            df["geometry"] = gpd.GeoSeries.from_wkb(df["geometry"], crs=4326)
            return gpd.GeoDataFrame(df, geometry="geometry", crs=4326)
        return df

    # -- analysis outputs ------------------------------------------------------
    def table_path(self, name: str, folder: Path | str | None = None) -> Path:
        """Where the output table ``name`` goes: the store's tables (where the
        app finds it), or ``folder``."""
        return (Path(folder) if folder is not None else self.path / "tables") / (
            f"{name}.parquet")

    def write_table(self, name: str, frame: pd.DataFrame, metadata: dict) -> Path:
        """Write an output table with its metadata, atomically.

        A GeoDataFrame becomes GeoParquet; the metadata dict is stored as JSON
        under the ``hotspots`` key of the Parquet schema metadata, with the
        :meth:`fingerprint` of the data it was computed from
        (``store_fingerprint``) unless the metadata names one.
        """
        target = self.table_path(name)
        if _is_geo(frame):
            table = _geo_table(frame)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        info = dict(metadata)
        if "store_fingerprint" not in info and self.exists():
            info["store_fingerprint"] = self.fingerprint()
        meta[_META_KEY] = json.dumps(info, default=str).encode()
        table = table.replace_schema_metadata(meta)
        try:
            with atomic_file(target, ".parquet") as tmp:
                pq.write_table(table, tmp)
        except OSError as exc:
            raise store_error(exc, target, "writing the table", ingest=False) from None
        return target

    def read_table(self, name: str) -> tuple[pd.DataFrame, dict]:
        """Read an output table and its metadata.

        The metadata gains ``stale``: True when the table was computed from data
        the store no longer holds (an ingest has published other inputs since).
        """
        path = self.table_path(name)
        if not path.is_file():
            raise StoreError(f"no table {name!r} in the store {self.path}")
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
        if "store_fingerprint" in meta:
            meta["stale"] = (not self.exists()
                             or meta["store_fingerprint"] != self.fingerprint())
        if b"geo" in (table.schema.metadata or {}):
            import geopandas as gpd

            return gpd.read_parquet(path), meta
        return table.to_pandas(), meta


def damage_text(bad: dict[str, str], most: int = 3) -> str:
    """``damaged_parts``'s or ``damaged_outputs``' findings as text."""
    said = [f"{name} {what}" for name, what in list(bad.items())[:most]]
    return "; ".join(said + ([f"and {len(bad) - most} more"] if len(bad) > most
                             else []))


def _crc_differs(path: Path, crc) -> bool:
    try:
        return file_crc32(path) != crc
    except OSError:
        return True


def _part_intact(path: Path, size: int | None) -> bool:
    """A data part as it was written: its size (when the ledger has it), and the
    Parquet magic at its end."""
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            if (size is not None and end != size) or end < 8:
                return False
            fh.seek(end - 4)
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


#: The files of a generation besides its data parts and ledger (their sizes are in
#: the ledger's ``outputs``).
OUTPUT_FILES = ("quarantine.parquet", "quarantine.csv", "coverage.parquet")

#: The ledger's name for the kind of rows of each store folder.
_GROUP_KIND = {"offences": "street", "stop_search": "stop_search"}


class _LedgerDamage(ValueError):
    """A ledger that reads as JSON but is not what an ingest wrote (its message
    says how)."""


def _load_ledger(path: Path | str) -> dict:
    """A ledger file, read and checked (``ValueError`` when it is not JSON,
    :class:`_LedgerDamage` when it is not an ingest ledger)."""
    with open(path, encoding="utf-8") as fh:
        ledger = json.load(fh)
    if not _ledger_shape(ledger):
        raise _LedgerDamage("ledger.json is not an ingest ledger")
    return ledger


def _ledger_trouble(exc: Exception) -> str:
    """What an error reading a ledger says is wrong with it."""
    return str(exc) if isinstance(exc, _LedgerDamage) else \
        f"ledger.json cannot be read: {exc}"


def _ledger_shape(ledger) -> bool:
    """True for what an ingest writes: the sections readers use, of their kinds."""
    return (isinstance(ledger, dict)
            and all(isinstance(ledger.get(k), dict)
                    for k in ("street", "stop_search", "files"))
            and isinstance(ledger.get("groups", {}), dict))


def _ledger_crc_ok(gen: Path) -> bool:
    """The generation's ledger as written: its CRC-32 as recorded beside it (a
    generation of an older version records none)."""
    try:
        want = int((gen / _LEDGER_CRC).read_text().strip())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return not _crc_differs(gen / "ledger.json", want)


@functools.lru_cache(maxsize=8)
def _read_layout(path: str, _mtime_ns: int, _size: int) -> dict:
    """A ledger file's ``groups`` and ``outputs``: what its generation holds
    (read again when the file's time or size changes)."""
    ledger = _load_ledger(path)
    if not _ledger_crc_ok(Path(path).parent):
        raise _LedgerDamage(_CRC_DIFFERS)
    return {"groups": ledger.get("groups"), "outputs": ledger.get("outputs")}


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


#: Names a store of this version has in its folder (its pointer, generations and
#: lock; the caches of views and the tables written beside them).
_STORE_MARKERS = frozenset((_CURRENT, _GENERATIONS, _LOCK, "cache", "tables"))


def _is_legacy_store(path: Path) -> bool:
    """True for a store of an older version (offences and ledger in its folder,
    no generations): its ledger reads as an ingest ledger."""
    try:
        _load_ledger(path / "ledger.json")
    except (OSError, ValueError):
        return False
    return (path / "offences").is_dir()


def _generation_name(name: str) -> bool:
    """A generation's folder, or a staging folder of one being written."""
    return bool(_GEN_RE.match(name)) or name.startswith(".staging-")


def _leftover(name: str) -> bool:
    return bool(_LEGACY_LEFTOVER.match(name)) or name.startswith(f".{_CURRENT}.")


def _remove(p: Path) -> str | None:
    try:
        _io_point("delete", p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    except OSError:
        return None
    return p.name


def rows_frame(table: pa.Table) -> pd.DataFrame:
    """Rows read from the store as a DataFrame, ``month`` as text (what
    :meth:`Store.offences` gives and the in-memory readers give alike)."""
    df = table.to_pandas()
    if "month" in df.columns:
        df["month"] = df["month"].astype(str)
    return df


def _row_tests(types, forces, wards, joined) -> list:
    """``(column, test)`` pairs a scanned row must pass, built once per scan."""
    import pyarrow.compute as pc

    from ._arrow import strings

    def one_of(values):
        value_set = strings(values)
        return lambda c: pc.is_in(c, value_set=value_set)

    tests = []
    if types is not None:
        tests.append(("crime_type", one_of(types)))
    if forces is not None:
        tests.append(("force", one_of(forces)))
    if wards is not None:
        tests.append(("ward_code", one_of(wards)))
    elif joined:
        tests.append(("ward_code", pc.is_valid))
    return tests


def _scan_file(path: Path, cols, types, tests, by_force: bool) -> pa.Table | None:
    """The rows of one month file passing ``tests`` (None: none can); row groups
    whose crime-type statistics rule out every one of ``types`` are not read."""
    import pyarrow.compute as pc

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if "force" not in names and (by_force or "force" in cols):
        raise StoreError(f"the store at {path.parents[2]} was written by an older "
                         "version (no force column); run 'hotspots ingest "
                         "--rebuild'")
    groups = list(range(pf.num_row_groups))
    if types is not None and "crime_type" in names:
        at = names.index("crime_type")
        groups = [g for g in groups if _may_hold(pf.metadata.row_group(g), at, types)]
        if not groups:
            return None
    tests = [t for t in tests if t[0] in names]  # a store without crime types
    read = [c for c in dict.fromkeys([*cols, *(t[0] for t in tests)]) if c in names]
    table = pf.read_row_groups(groups, columns=read)
    mask = None
    for col, test in tests:
        m = test(table[col])
        mask = m if mask is None else pc.and_(mask, m)
    if mask is not None:
        table = table.filter(mask)  # a null (no value) drops the row
    return table if table.num_rows else None


def _stored_schema(folder: Path) -> pa.Schema | None:
    path = next(folder.glob("month=*/*.parquet"), None)
    return None if path is None else pq.read_schema(path)


def _may_hold(row_group, column: int, types) -> bool:
    """Whether a row group's crime-type min/max can include one of ``types``."""
    stats = row_group.column(column).statistics
    if stats is None or not stats.has_min_max:
        return True
    return any(stats.min <= t <= stats.max for t in types)


def _is_geo(frame) -> bool:
    """A GeoDataFrame? (Without importing geopandas: none exists before it is.)"""
    gpd = sys.modules.get("geopandas")
    return gpd is not None and isinstance(frame, gpd.GeoDataFrame)


def _geo_table(frame: gpd.GeoDataFrame) -> pa.Table:
    """A GeoDataFrame as an Arrow table with GeoParquet 1.0 metadata (WKB)."""
    geom_col = frame.geometry.name
    table = pa.Table.from_pandas(frame.to_wkb(), preserve_index=False)
    types = sorted(set(frame.geometry.geom_type.dropna()))
    column = {"encoding": "WKB", "geometry_types": types}
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        column["crs"] = frame.crs.to_json_dict()
    geo = {"version": "1.0.0", "primary_column": geom_col,
           "columns": {geom_col: column}}
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode()
    return table.replace_schema_metadata(meta)
