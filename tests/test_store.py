"""The store commits as a whole: generations, the lock, crashes, full disks.

Crashes are simulated in-process (an exception at the k-th write, rename, fsync
or delete, with or without the clean-up a living process does) and with a real
``kill -9`` of an ingest subprocess. Whatever the point, the store must read as
the old generation or the new one, never a mix, and the next ingest repairs it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hotspots import store as store_mod
from hotspots.errors import StoreError
from hotspots.ingest import ingest
from hotspots.store import Store, neutralise_formulas

from .conftest import csv_bytes, month_rows, street_row

GOOD = [street_row("a1"), street_row("a2", crime_type="Vehicle crime"),
        street_row("", crime_type="Anti-social behaviour")]


def _write(root: Path, month: str, rows) -> None:
    (root / "crimes" / f"{month}-metropolitan-street.csv").write_bytes(
        csv_bytes(rows))


def _old_inputs(root: Path) -> None:
    _write(root, "2022-06", GOOD)
    _write(root, "2022-07", month_rows("2022-07", 40, seed=1))


def _new_inputs(root: Path) -> None:
    """Other inputs: one file changed, one added."""
    _write(root, "2022-07", month_rows("2022-07", 55, seed=2))
    _write(root, "2022-08", month_rows("2022-08", 30, seed=3))


def _state(store: Store):
    """What a reader sees: counts per month and type, totals, ledger identity."""
    if not store.exists():
        return None
    df = store.offences(columns=["month", "crime_type"])
    led = store.ledger()
    return (led["fingerprint"], led["generation"],
            tuple(sorted(df.groupby(["month", "crime_type"]).size().items())),
            led["street"]["rows_in"], len(store.quarantine()),
            tuple(map(tuple, store.coverage().to_numpy().tolist())))


def _generations(store: Store) -> list[str]:
    return sorted(p.name for p in (store.path / "generations").iterdir())


# ---------------------------------------------------------------------------
# layout


def test_each_ingest_publishes_a_generation_and_keeps_one_before(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    r1 = ingest(root=zoo_root, store=store)
    assert r1.generation == "g000001" == store.current_generation()
    assert (store.path / "CURRENT").read_text() == "g000001\n"
    assert store.root() == store.path / "generations" / "g000001"
    assert ingest(root=zoo_root, store=store).up_to_date  # nothing new written
    assert _generations(store) == ["g000001"]
    ingest(root=zoo_root, store=store, force=True)
    assert _generations(store) == ["g000001", "g000002"]  # readers of g1 still fine
    ingest(root=zoo_root, store=store, force=True)
    assert _generations(store) == ["g000002", "g000003"]
    assert store.ledger()["generation"] == "g000003"


def test_a_pinned_reader_keeps_its_generation(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    before = _state(store)
    pinned = store.pinned()
    _new_inputs(zoo_root)
    ingest(root=zoo_root, store=store)
    assert _state(pinned) == before != _state(store)
    assert pinned.generation == "g000001" and store.current_generation() == "g000002"


def test_fingerprint_follows_content_not_times(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    fp = store.fingerprint()
    path = zoo_root / "crimes" / "2022-06-metropolitan-street.csv"
    st = path.stat()
    data = path.read_bytes()
    # an edit that keeps the size and the modification time
    path.write_bytes(data.replace(b"Zoo Road", b"Zoo Lane"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert path.stat().st_mtime_ns == st.st_mtime_ns
    res = ingest(root=zoo_root, store=store)
    assert not res.up_to_date and store.fingerprint() != fp
    assert "On or near Zoo Lane" in set(store.offences()["location"])


def test_tables_survive_an_ingest_and_say_when_stale(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    store.write_table("t", pd.DataFrame({"x": [1, 2]}), {"kind": "test"})
    frame, meta = store.read_table("t")
    assert meta["store_fingerprint"] == store.fingerprint() and meta["stale"] is False
    ingest(root=zoo_root, store=store, force=True)  # same inputs: still current
    assert store.read_table("t")[1]["stale"] is False
    _new_inputs(zoo_root)
    ingest(root=zoo_root, store=store)
    frame, meta = store.read_table("t")
    assert frame["x"].tolist() == [1, 2] and meta["stale"] is True


def test_a_store_of_the_older_layout_is_read_then_replaced(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    before = _state(store)
    # turn it into the older layout: one unversioned set of files at the top
    gen = store.root()
    (gen / "ledger.json.crc32").unlink()  # which the older version did not write
    for p in gen.iterdir():
        shutil.move(str(p), store.path / p.name)
    shutil.rmtree(store.path / "generations")
    (store.path / "CURRENT").unlink()
    (store.path / ".offences.old-4242").mkdir()  # what a killed old ingest left
    assert store.root() == store.path and _state(store) == before
    res = ingest(root=zoo_root, store=store, force=True)
    assert res.generation == "g000001"
    left = sorted(p.name for p in store.path.iterdir())
    assert left == [".lock", "CURRENT", "generations"]
    assert _state(store)[2:] == before[2:]


def test_leftovers_of_killed_runs_are_removed_by_the_next_ingest(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    gens = store.path / "generations"
    (gens / ".staging-g000002-999").mkdir()
    (gens / ".staging-g000002-999" / "offences").mkdir()
    (gens / "g000005").mkdir()  # renamed but never published
    (store.path / ".CURRENT.abc.tmp").write_text("g000005\n")
    res = ingest(root=zoo_root, store=store)  # up to date: repairs all the same
    assert res.up_to_date
    assert sorted(res.repaired) == [".CURRENT.abc.tmp", ".staging-g000002-999",
                                    "g000005"]
    assert _generations(store) == ["g000001"]


def _damage(kind: str, part: Path) -> None:
    if kind == "deleted":
        part.unlink()
    elif kind == "emptied":
        part.write_bytes(b"")
    elif kind == "overwritten":  # the same size, other bytes
        part.write_bytes(np.random.default_rng(0).bytes(part.stat().st_size))
    elif kind == "month folder deleted":
        shutil.rmtree(part.parent)
    elif kind == "a stray copy":
        shutil.copy(part, part.with_name("99999.parquet"))


@pytest.mark.parametrize("kind", ["deleted", "emptied", "overwritten",
                                  "month folder deleted", "a stray copy"])
def test_a_damaged_part_is_an_error_and_the_next_ingest_repairs_it(
        kind, zoo_root, tmp_path):
    """Reads never count a lost or damaged part as zero (nor a stray one twice):
    they stop with a store error; ``ingest`` with the same inputs sees the
    damage, reads those months again and the store counts as before."""
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    before = _state(store)[2:]
    part = next((store.root() / "offences" / "month=2022-07").glob("*.parquet"))
    _damage(kind, part)
    with pytest.raises(StoreError, match=r"is damaged \(offences/month=2022-07/.*"
                       r"run 'hotspots ingest' to repair it"):
        store.offences(columns=["month", "crime_type"])
    # a read of other months only is not stopped
    assert len(store.offences(start="2022-06", end="2022-06")) == 3
    res = ingest(root=zoo_root, store=store)
    assert not res.up_to_date and res.repaired and all(
        "offences/month=2022-07/" in r and r.endswith("(read again)")
        for r in res.repaired)
    # the month is read again, or (a stray part) carried over without the stray
    assert store.ledger()["reused"] == (["street|2022-06", "street|2022-07"]
                                        if kind == "a stray copy" else
                                        ["street|2022-06"])
    assert _state(store)[2:] == before
    assert ingest(root=zoo_root, store=store).up_to_date


def _ingested_with_a_quarantined_row(zoo_root, tmp_path):
    """A store of the old inputs, one row of them quarantined; what it reads."""
    _old_inputs(zoo_root)
    (zoo_root / "crimes" / "2022-06-metropolitan-street.csv").write_bytes(
        csv_bytes(GOOD + [street_row("b1", lon="")]))
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    return store, _state(store)[2:]


@pytest.mark.parametrize(("name", "damage"), [
    ("quarantine.parquet", b"junk"), ("quarantine.csv", b""),
    ("coverage.parquet", None)], ids=["quarantine-junk", "csv-emptied",
                                      "coverage-deleted"])
def test_a_damaged_quarantine_or_coverage_is_noticed_and_repaired(
        name, damage, zoo_root, tmp_path):
    store, before = _ingested_with_a_quarantined_row(zoo_root, tmp_path)
    path = store.root() / name
    if damage is None:
        path.unlink()
    else:
        path.write_bytes(damage)
    if name != "quarantine.csv":
        with pytest.raises(StoreError, match=f"is damaged \\({name} is "):
            store.quarantine() if name.startswith("q") else store.coverage()
    res = ingest(root=zoo_root, store=store)
    assert not res.up_to_date and f"{name} is " in " ".join(res.repaired)
    assert _state(store)[2:] == before
    assert store.quarantine_path.read_text().count("\n") == 2  # header and row


def _flip_middle(path: Path) -> None:
    """Damage a file within its size, its Parquet footer left whole."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 3
    data[mid:mid + 8] = bytes(b ^ 0xFF for b in data[mid:mid + 8])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["offences part", "quarantine.parquet"])
def test_damage_within_a_files_size_is_found_and_repaired_by_the_next_ingest(
        name, zoo_root, tmp_path):
    """Bytes changed inside a data part or the quarantine, size and footer kept
    (a read may fail, or read wrong values without a word): ``ingest`` checks
    every file of the generation against its checksum in the ledger, reads those
    months again, and the store equals a rebuild; also when a new month comes
    at the same time (a damaged quarantine used to stop that ingest)."""
    store, before = _ingested_with_a_quarantined_row(zoo_root, tmp_path)

    def target() -> Path:  # in the current generation
        return (next((store.root() / "offences" / "month=2022-07").glob("*.parquet"))
                if name == "offences part" else store.root() / name)

    path = target()
    size = path.stat().st_size
    _flip_middle(path)
    assert path.stat().st_size == size
    res = ingest(root=zoo_root, store=store)
    assert not res.up_to_date
    assert any("(its checksum differs) (read again)" in r for r in res.repaired)
    assert _state(store)[2:] == before
    _flip_middle(target())
    _write(zoo_root, "2022-08", month_rows("2022-08", 30, seed=3))  # a new month
    res = ingest(root=zoo_root, store=store)
    assert any("(its checksum differs) (read again)" in r for r in res.repaired)
    rebuilt = Store.open(tmp_path / "rebuilt")
    ingest(root=zoo_root, store=rebuilt)
    assert _state(store)[2:] == _state(rebuilt)[2:]
    assert ingest(root=zoo_root, store=store).up_to_date


def test_a_damaged_ledger_or_pointer_is_a_store_error_an_ingest_repairs(
        zoo_root, tmp_path):
    from typer.testing import CliRunner

    from hotspots.cli import app

    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    before = _state(store)[2:]
    store.ledger_path.write_text("{ not json")
    with pytest.raises(StoreError, match="ledger.json cannot be read"):
        store.offences()
    env = {"HOTSPOTS_STORE": str(store.path), "HOTSPOTS_DATA": str(zoo_root)}
    r = CliRunner().invoke(app, ["counts", "--json"], env=env)
    assert r.exit_code == 2 and json.loads(r.stdout)["type"] == "StoreError"
    assert not ingest(root=zoo_root, store=store).up_to_date
    assert _state(store)[2:] == before
    (store.path / "CURRENT").write_text("hello\n")
    with pytest.raises(StoreError, match="CURRENT holds 'hello'"):
        store.offences()
    r = CliRunner().invoke(app, ["ingest"], env=env)  # the advice given works
    assert r.exit_code == 0, r.output
    assert "repaired: 1 thing(s) a killed or failed run left or damaged (CURRENT " \
           "(damaged))" in r.stderr
    assert _state(store)[2:] == before
    assert len(_generations(store)) == 1


@pytest.mark.parametrize("damage", ["pointer to nothing", "ledger deleted",
                                    "ledger emptied", "ledger edited"])
def test_a_lost_generation_or_ledger_is_damage_said_and_repaired(damage, zoo_root,
                                                                 tmp_path):
    """Not 'run it again' (which never helps) nor 'no ingested data': the store
    is damaged, and the ingest that repairs it says what it repaired."""
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    before = _state(store)[2:]
    if damage == "pointer to nothing":
        (store.path / "CURRENT").write_text("g000009\n")
        said = "CURRENT names generation g000009, which is missing"
    elif damage == "ledger deleted":
        store.ledger_path.unlink()
        said = "ledger.json is missing"
    elif damage == "ledger emptied":
        store.ledger_path.write_text("")
        said = "ledger.json cannot be read"
    else:  # the same size, a month changed: still a ledger, no longer as written
        text = store.ledger_path.read_text()
        assert '"2022-07"' in text
        store.ledger_path.write_text(text.replace('"2022-07"', '"2021-07"'))
        said = "ledger.json is not as written (its checksum differs)"
    for read in (store.offences, store.pinned().offences):
        with pytest.raises(StoreError, match=re.escape(f"is damaged ({said}")):
            read()
    res = ingest(root=zoo_root, store=store)
    assert f"{said} (read again)" in res.repaired
    assert _state(store)[2:] == before


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_get_the_mode_of_an_ordinary_file(tmp_path, monkeypatch, umask):
    """Written through a temporary file (0600) yet readable as the umask allows,
    like any file the user makes (reports shared with a team, a store read by a
    service account)."""
    import stat

    from hotspots import _files

    monkeypatch.setattr(_files, "_UMASK", umask)
    with store_mod.atomic_file(tmp_path / "a.csv") as tmp:
        tmp.write_text("x")
    store_mod.write_json_atomic(tmp_path / "b.json", {"a": 1})
    with store_mod.atomic_dir(tmp_path / "maps") as tmp:
        (tmp / "m.pdf").write_bytes(b"%PDF")
    _files.keep_cache_file(tmp_path / "c.bin", lambda t: Path(t).write_bytes(b"1"))

    def mode(name):
        return stat.S_IMODE((tmp_path / name).stat().st_mode)

    for name in ("a.csv", "b.json", "c.bin"):
        assert mode(name) == 0o666 & ~umask, name
    assert mode("maps") == 0o777 & ~umask
    with store_mod.atomic_file(tmp_path / "secret.txt", private=True) as tmp:
        tmp.write_text("hashes")
    assert mode("secret.txt") == 0o600  # password hashes: the owner's only


def test_a_killed_writers_temporary_file_is_swept_by_the_next_write(tmp_path):
    """kill -9 inside atomic_file leaves its hidden temporary beside the target;
    the next write of that target removes it once it is stale, and leaves the
    temporaries of running writers (and fresh ones, which may be another
    machine's) alone."""
    target = tmp_path / "abbey.pdf"
    code = ("import os, sys; from hotspots.store import atomic_file\n"
            "with atomic_file(sys.argv[1], '.pdf') as tmp:\n"
            "    tmp.write_bytes(b'half a PDF')\n"
            "    os.kill(os.getpid(), 9)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
    assert proc.wait() == -signal.SIGKILL
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(f".abbey.pdf.{proc.pid}.") and not target.exists()
    fresh = tmp_path / f".abbey.pdf.{proc.pid}.fresh.pdf"
    fresh.write_bytes(b"")
    mine = tmp_path / f".abbey.pdf.{os.getpid()}.mine.pdf"  # a running writer's
    mine.write_bytes(b"")
    old = 1e9  # long ago
    os.utime(left, (old, old))
    os.utime(mine, (old, old))
    with store_mod.atomic_file(target, ".pdf") as tmp:
        tmp.write_bytes(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["abbey.pdf", fresh.name, mine.name])
    assert target.read_bytes() == b"%PDF"


@pytest.mark.parametrize(("what", "damage"), [
    ("CURRENT", b"\xff\xfe"), ("ledger", b"[]"), ("ledger", b"{}"),
    ("ledger", None)], ids=["current-bytes", "ledger-list", "ledger-empty",
                            "ledger-groups-null"])
def test_a_pointer_or_ledger_of_the_wrong_shape_is_repaired(what, damage, zoo_root,
                                                            tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    before = _state(store)[2:]
    if what == "CURRENT":
        (store.path / "CURRENT").write_bytes(damage)
    elif damage is None:  # valid, but a section of the wrong kind
        led = json.loads(store.ledger_path.read_text())
        led["groups"] = None
        store.ledger_path.write_text(json.dumps(led))
    else:
        store.ledger_path.write_bytes(damage)
    with pytest.raises(StoreError, match="is damaged"):
        store.offences()
    res = ingest(root=zoo_root, store=store)
    assert not res.up_to_date
    assert _state(store)[2:] == before


def test_counts_read_one_generation_and_a_replaced_one_says_so(zoo_root, tmp_path):
    """A reader pinned to a generation two ingests replaced is told to run again
    (it is never read as an empty store)."""
    from hotspots.counts import count_offences

    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    old = count_offences("London", "all", "month", store=store).to_json()
    pinned = store.pinned()
    _new_inputs(zoo_root)
    ingest(root=zoo_root, store=store)
    new = count_offences("London", "all", "month", store=store).to_json()
    assert new["rows"] != old["rows"]
    # the generation before stays: the pinned reader still counts the old inputs
    assert count_offences("London", "all", "month", store=pinned).to_json() == old
    ingest(root=zoo_root, store=store, force=True)
    with pytest.raises(StoreError, match="changed while this was reading it .*run "
                       "it again"):
        count_offences("London", "all", "month", store=pinned)
    assert count_offences("London", "all", "month", store=store).to_json() == new


def test_neutralise_formulas_leaves_the_frame_alone():
    df = pd.DataFrame({"a": ["=1", "+1", "-1", "@x", "\tx", "ok", None],
                       "n": [1, 2, 3, 4, 5, 6, 7]})
    out = neutralise_formulas(df)
    assert out["a"].tolist()[:6] == ["'=1", "'+1", "'-1", "'@x", "'\tx", "ok"]
    assert df["a"].iloc[0] == "=1"  # the caller's frame is unchanged
    assert out["n"].tolist() == df["n"].tolist()


# ---------------------------------------------------------------------------
# the lock


def test_a_second_ingest_fails_clearly_while_one_runs(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    with store.lock(timeout=0), pytest.raises(
            StoreError, match=r"^another ingest \(pid \d+ on .*\) is writing the "
                              r"store .*; gave up after waiting 0.2 s"):
        ingest(root=zoo_root, store=store, lock_timeout=0.2)
    assert not store.exists()


def test_a_second_ingest_waits_for_the_first(zoo_root, tmp_path):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    held = store.lock(timeout=0).__enter__()
    t = threading.Timer(0.5, held.__exit__, (None, None, None))
    t.start()
    t0 = time.monotonic()
    res = ingest(root=zoo_root, store=store, lock_timeout=30)
    t.join()
    assert time.monotonic() - t0 >= 0.4 and res.generation == "g000001"


def test_deleting_the_lock_file_does_not_let_a_second_ingest_in(zoo_root, tmp_path):
    """``.lock`` can look stale and be deleted while an ingest runs: the lock is
    the store folder's, so a second ingest still waits (it had locked a new
    ``.lock`` and removed the running ingest's staging folder)."""
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    with store.lock(timeout=0):
        (tmp_path / "store" / ".lock").unlink()
        with pytest.raises(StoreError, match="^another ingest"):
            ingest(root=zoo_root, store=store, lock_timeout=0.2)
    assert ingest(root=zoo_root, store=store).generation == "g000001"


def test_read_only_store_is_a_clear_error(zoo_root, tmp_path, monkeypatch):
    _old_inputs(zoo_root)
    real_open = os.open

    def refuse(path, *a, **k):
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(store_mod.os, "open", refuse)
    with pytest.raises(StoreError, match=r"^the store is read-only: opening .*\.lock "
                                         r"failed \(Permission denied\)"):
        ingest(root=zoo_root, store=Store.open(tmp_path / "store"))


def test_unwritable_store_from_the_cli_is_one_line(zoo_root, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from hotspots.cli import app

    _old_inputs(zoo_root)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "a-file" / "store"))
    r = CliRunner().invoke(app, ["ingest"])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert r.output.startswith("error: cannot write the store: opening ")
    r = CliRunner().invoke(app, ["ingest", "--json"])
    doc = json.loads(r.stdout.splitlines()[0])
    assert r.exit_code == 2 and doc["type"] == "StoreError"
    assert "\n" not in doc["error"]  # one line (the console may wrap it)
    assert doc["error"].endswith("store/.lock failed (Not a directory); the store "
                                 "still holds the last complete ingest")


# ---------------------------------------------------------------------------
# crashes and full disks, in-process


class _Fault:
    """Counts I/O points; raises at the k-th one."""

    def __init__(self, at: int | None = None, exc=None):
        self.at, self.exc, self.n, self.ops = at, exc, 0, []
        self._lock = threading.Lock()

    def __call__(self, op, path):
        with self._lock:
            self.n += 1
            self.ops.append(op)
            hit = self.at is not None and self.n == self.at
        if hit:
            raise self.exc


class _Killed(BaseException):
    """A process death: nothing after it runs (no clean-up)."""


def test_disk_full_at_a_write_leaves_the_old_generation(zoo_root, tmp_path,
                                                        monkeypatch):
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    old = _state(store)
    _new_inputs(zoo_root)
    fault = _Fault(at=3, exc=OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(store_mod, "_io_point", fault)
    with pytest.raises(StoreError, match=r"^disk full: writing a new generation in "
                                         r".* failed \(No space left on device\); "
                                         r"the store still holds the last"):
        ingest(root=zoo_root, store=store)
    assert _state(store) == old
    assert _generations(store) == ["g000001"]  # the failed staging is gone
    monkeypatch.setattr(store_mod, "_io_point", lambda op, path: None)
    assert ingest(root=zoo_root, store=store).generation == "g000002"


def test_disk_full_inside_the_parquet_writer(zoo_root, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    old = _state(store)
    _new_inputs(zoo_root)

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    with pytest.raises(StoreError, match="^disk full"):
        ingest(root=zoo_root, store=store)
    assert _state(store) == old


def _interrupted(zoo_root, tmp_path, old_store: Path, k: int, kill: bool,
                 monkeypatch):
    """Copy the old store, interrupt an ingest at I/O point ``k``; the store."""
    trial = tmp_path / f"trial-{k}-{int(kill)}"
    shutil.copytree(old_store, trial, symlinks=True)
    store = Store.open(trial)
    exc = _Killed() if kill else OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as mp:
        mp.setattr(store_mod, "_io_point", _Fault(at=k, exc=exc))
        if kill:  # a dead process cleans nothing up
            mp.setattr(store_mod.Generation, "abort", lambda self: None)
        with contextlib.suppress(_Killed, StoreError):
            ingest(root=zoo_root, store=store, workers=2)
    return store


def test_interrupted_at_any_point_the_store_is_old_or_new(zoo_root, tmp_path,
                                                          monkeypatch):
    """Property: for interruption points drawn from a seeded RNG over every
    write, fsync, rename and delete of an ingest, the store reads as the old
    generation or the new one, and the next ingest gives the new one with
    nothing left over."""
    _old_inputs(zoo_root)
    old_store = tmp_path / "old"
    ingest(root=zoo_root, store=Store.open(old_store))
    ingest(root=zoo_root, store=Store.open(old_store), force=True)  # g1 and g2
    old = _state(Store.open(old_store))
    _new_inputs(zoo_root)
    # the new generation, and how many I/O points reaching it takes
    ref = tmp_path / "ref"
    shutil.copytree(old_store, ref, symlinks=True)
    count = _Fault()
    monkeypatch.setattr(store_mod, "_io_point", count)
    made = ingest(root=zoo_root, store=Store.open(ref), workers=2)
    monkeypatch.setattr(store_mod, "_io_point", lambda op, path: None)
    assert made.reused == ["street|2022-06"]  # interrupted while carrying over too
    new = _state(Store.open(ref))
    assert old != new and count.n > 20
    assert {"write", "fsync", "rename", "delete"} <= set(count.ops)
    rng = np.random.default_rng(13)
    points = sorted({1, count.n, *rng.choice(np.arange(1, count.n + 1), 10,
                                             replace=False).tolist()})
    seen = set()
    for k in points:
        for kill in (False, True):
            store = _interrupted(zoo_root, tmp_path, old_store, k, kill, monkeypatch)
            now = _state(store)
            assert now in (old, new), (k, kill)
            seen.add(now == new)
            res = ingest(root=zoo_root, store=store)
            assert _state(store)[2:] == new[2:], (k, kill)
            assert not [p for p in (store.path / "generations").iterdir()
                        if p.name.startswith(".")], (k, kill, res.repaired)
            assert len(_generations(store)) <= 2
    assert seen == {False, True}  # points before and after the commit were drawn


def test_what_a_failed_ingest_says_matches_the_store_it_left(zoo_root, tmp_path,
                                                             monkeypatch):
    """A disk-full error or Ctrl-C at each I/O point: before the new generation
    is published, the error says the old store is kept and it is; after (the
    folder's sync, the tidying of old generations), the ingest has published,
    and says so: an error had said 'unchanged' of a store holding the new
    generation, which the next ingest then called up to date."""
    _old_inputs(zoo_root)
    old_store = tmp_path / "old"
    ingest(root=zoo_root, store=Store.open(old_store))
    old = _state(Store.open(old_store))
    _new_inputs(zoo_root)
    count = _Fault()
    ref = tmp_path / "ref"
    shutil.copytree(old_store, ref, symlinks=True)
    monkeypatch.setattr(store_mod, "_io_point", count)
    ingest(root=zoo_root, store=Store.open(ref))
    monkeypatch.setattr(store_mod, "_io_point", lambda op, path: None)
    new = _state(Store.open(ref))
    after = 0
    for k in range(1, count.n + 1):
        for exc in (OSError(errno.ENOSPC, "No space left on device"),
                    KeyboardInterrupt()):
            trial = tmp_path / f"t{k}-{type(exc).__name__}"
            shutil.copytree(old_store, trial, symlinks=True)
            store = Store.open(trial)
            with monkeypatch.context() as mp:
                mp.setattr(store_mod, "_io_point", _Fault(at=k, exc=exc))
                try:
                    ingest(root=zoo_root, store=store)
                    said = "published"
                except store_mod.PublishedThenInterrupted:
                    said = "published"
                except (StoreError, KeyboardInterrupt):
                    said = "unchanged"
            now = _state(store)
            assert now == (new if said == "published" else old), (k, exc, said)
            after += said == "published"
            shutil.rmtree(trial)
    assert after  # points after the commit were among them


def test_ctrl_c_while_the_lock_is_released_after_publishing_says_published(
        zoo_root, tmp_path, monkeypatch):
    """Ctrl-C as the lock is let go, after the new generation is published: it
    is said published (it had said the old store was kept)."""
    _old_inputs(zoo_root)
    store = Store.open(tmp_path / "store")
    real_exit = store_mod._Lock.__exit__

    def interrupted(self, *exc):
        real_exit(self, *exc)
        raise KeyboardInterrupt

    monkeypatch.setattr(store_mod._Lock, "__exit__", interrupted)
    with pytest.raises(store_mod.PublishedThenInterrupted) as e:
        ingest(root=zoo_root, store=store)
    assert e.value.generation == "g000001" == store.current_generation()


# ---------------------------------------------------------------------------
# a real kill -9


def _big_inputs(root: Path, months: int, rows: int) -> None:
    for m in range(1, months + 1):
        month = f"2021-{m:02d}" if m <= 12 else f"2022-{m - 12:02d}"
        _write(root, month, month_rows(month, rows, seed=m))


def _count_by_month(store: Store) -> dict:
    return store.offences(columns=["month"]).groupby("month").size().to_dict()


@pytest.mark.slow
def test_kill_9_mid_ingest_leaves_the_old_store_and_the_next_run_repairs(
        zoo_root, tmp_path):
    _big_inputs(zoo_root, months=16, rows=12_000)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store)
    old = _state(store)
    old_counts = _count_by_month(store)
    _write(zoo_root, "2022-05", month_rows("2022-05", 20_000, seed=99))
    env = {**os.environ, "HOTSPOTS_DATA": str(zoo_root),
           "HOTSPOTS_STORE": str(store.path)}
    rng = np.random.default_rng(7)
    killed_while_staging = 0
    for delay in rng.uniform(0.0, 1.0, 2):
        proc = subprocess.Popen([sys.executable, "-m", "hotspots", "ingest",
                                 "--rebuild", "--json"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        staging = []
        while time.monotonic() < deadline and proc.poll() is None:
            staging = list((store.path / "generations").glob(".staging-*"))
            if staging:
                break
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the ingest ended before the kill"
        killed_while_staging += bool(list(
            (store.path / "generations").glob(".staging-*")))
        assert _state(store) == old
        assert _count_by_month(store) == old_counts
    assert killed_while_staging  # the kill landed mid-ingest at least once
    res = ingest(root=zoo_root, store=store)
    assert any(r.startswith(".staging-") for r in res.repaired)
    counts = _count_by_month(store)
    assert counts["2022-05"] == 20_000 and counts == {**old_counts, "2022-05": 20_000}
    assert not list((store.path / "generations").glob(".staging-*"))


@pytest.mark.parametrize(
    ("crime", "area", "start", "end", "forces"),
    [("robbery", "London", "2022-01", "2022-12", None),
     ("burglary", "Merton", "2021-06", "2023-02", None),
     ("asb", "South West", None, None, None),
     ("everything", None, "2022-03", "2022-04", ["city-of-london", "btp"]),
     ("vehicle", "Figge's Marsh", "2018-01", "2030-01", ["metropolitan"])],
    ids=["london-robbery", "merton-burglary", "sw-asb", "forces", "ward-vehicle"])
def test_shared_scan_gives_the_rows_pyarrow_dataset_gives(shared_store, crime, area,
                                                          start, end, forces):
    """The store's own reader (row groups skipped by crime type, no
    ``pyarrow.dataset``) against pyarrow's dataset scan of the same files."""
    import pyarrow.dataset as ds

    from hotspots.areas import resolve_area
    from hotspots.config import crime_types_for

    cols = ["month", "crime_type", "ward_code", "force", "source", "line", "h3_10"]
    ours = shared_store.scan("offences", cols, start=start, end=end, crime=crime,
                             forces=forces, area=area)
    d = ds.dataset(shared_store.root() / "offences", format="parquet",
                   partitioning="hive")
    expr = ds.field("crime_type").isin(list(crime_types_for(crime)))
    if start:
        expr &= ds.field("month") >= start
    if end:
        expr &= ds.field("month") <= end
    if forces:
        expr &= ds.field("force").isin(forces)
    if area is not None:
        codes = resolve_area(area).ward_codes
        expr &= (ds.field("ward_code").is_valid() if area == "London"
                 else ds.field("ward_code").isin(list(codes)))
    ref = d.to_table(columns=cols, filter=expr)
    assert ours.num_rows == ref.num_rows > 0
    key = [("source", "ascending"), ("line", "ascending")]
    a = ours.sort_by(key)
    b = ref.sort_by(key)
    for c in cols:
        assert a[c].cast("string").to_pylist() == b[c].cast("string").to_pylist(), c


def test_scan_skips_row_groups_of_other_crime_types(zoo_root, write_street, tmp_path,
                                                    monkeypatch):
    """With offences stored type by type, a scan for one type reads only the row
    groups whose statistics can hold it, and still returns every row of it."""
    import pyarrow.parquet as pq

    import hotspots.ingest as ingest_module
    from hotspots.ingest import ingest

    from .conftest import month_rows

    monkeypatch.setattr(ingest_module, "TYPE_GROUP_ROWS", 30)
    rows = month_rows("2022-06", 300, seed=2)
    write_street(rows)
    store = Store.open(tmp_path / "store")
    ingest(root=zoo_root, store=store, force=True)
    read = []
    real = pq.ParquetFile.read_row_groups

    def spy(self, groups, *a, **kw):
        read.append((self.metadata.num_row_groups, list(groups)))
        return real(self, groups, *a, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    got = store.scan("offences", ["crime_type", "line"], crime="Robbery")
    assert sorted(got["line"].to_pylist()) == [
        i + 2 for i, r in enumerate(rows) if r[9] == "Robbery"]
    ((total, groups),) = read
    assert 0 < len(groups) < total
    read.clear()
    assert store.scan("offences", ["line"]).num_rows == 300  # no filter: all groups
    assert read[0][1] == list(range(read[0][0]))


def test_staged_outputs_publish_a_set_whole_or_leave_the_last(tmp_path):
    """A run writing a set of files (ward maps, a brief) that fails half-way
    leaves the last complete set, not some files of each run (a killed brief
    had left CSVs of 80 officer hours beside a PDF of 40); a staging folder a
    killed run left is removed by the next run; paths are named as published."""
    from hotspots.store import relocated, staged_outputs

    out = tmp_path / "out"
    with staged_outputs(out) as stage:
        (stage / "a.csv").write_text("run 1")
        (stage / "sub").mkdir()
        (stage / "sub" / "b.pdf").write_text("run 1")
    assert {p.name: p.read_text() for p in out.rglob("*") if p.is_file()} == {
        "a.csv": "run 1", "b.pdf": "run 1"}
    with pytest.raises(RuntimeError), staged_outputs(out) as stage:
        (stage / "a.csv").write_text("run 2")
        raise RuntimeError("killed half-way")
    assert (out / "a.csv").read_text() == "run 1"
    assert (out / "sub" / "b.pdf").read_text() == "run 1"
    left = out / ".staging-999999999-x"  # a writer no longer running
    left.mkdir()
    (left / "a.csv").write_text("half")
    with staged_outputs(out) as stage:
        (stage / "a.csv").write_text("run 3")
        paths = {"csv": str(stage / "a.csv"), "list": [str(stage / "sub" / "b.pdf")]}
    assert relocated(paths, stage, out) == {"csv": str(out / "a.csv"),
                                            "list": [str(out / "sub" / "b.pdf")]}
    # a result (ward maps, a brief) is named as published, every field of it
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Result:
        pdf: str
        files: dict
        count: int

    made = Result(str(stage / "a.csv"), {"b": str(stage / "sub" / "b.pdf")}, 3)
    assert relocated(made, stage, out) == Result(
        str(out / "a.csv"), {"b": str(out / "sub" / "b.pdf")}, 3)
    assert (out / "a.csv").read_text() == "run 3"
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "sub"]
