"""The CLI's error handling, option checks and output safety (hotspots.cli).

Every error is one line on stderr, exit status 2 (1 for an unexpected failure),
and with ``--json`` one ``{"error", "type"}`` document on stdout; JSON output is
strict (no NaN or Infinity). The option checks apply by parameter name in every
command, so the tests walk the commands rather than list them.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from hotspots.access import bcrypt_cost, hash_password, load_users
from hotspots.cli import app, emit
from hotspots.provenance import safe_csv_frame

GROUP = get_command(app)


def strict_json(text: str):
    """Parse ``text`` as standard JSON: NaN, Infinity and -Infinity are refused."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(autouse=True)
def isolated(tmp_path, zoo_root, monkeypatch):
    """An empty store and the zoo data root: a check that failed to refuse would
    reach a quick store error, never a long run on real data."""
    from hotspots.areas import _read_wards

    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "no-store"))
    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    for key in ("HOTSPOTS_MAX_MEMORY_MB", "HOTSPOTS_MAX_WORK", "HOTSPOTS_MAX_K",
                "HOTSPOTS_PASSWORD", "HOTSPOTS_DEBUG"):
        monkeypatch.delenv(key, raising=False)
    _read_wards.cache_clear()
    yield
    _read_wards.cache_clear()


def run(args, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], **kw)


def assert_error(r, message: str, kind: str = "ParameterError", code: int = 2):
    """One error line naming ``message``; the JSON document too when asked for."""
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    if r.stdout.strip():
        assert r.stdout.count("\n") == 1
        doc = strict_json(r.stdout)
        assert set(doc) == {"error", "type"}
        assert doc["type"] == kind and message in doc["error"]
    return lines[0]


def _params(command: str):
    return GROUP.commands[command].params


def _has_json(command: str) -> bool:
    return any(p.name == "as_json" for p in _params(command))


def commands_with(*names: str) -> list[str]:
    return sorted(c for c in GROUP.commands
                  if all(any(p.name == n for p in _params(c)) for n in names))


def _is_float(p) -> bool:
    td = getattr(p, "type_descriptor", None)
    if td is not None:
        return td.annotation is float
    return getattr(getattr(p, "type", None), "name", None) == "float"


def float_options() -> list[tuple[str, str]]:
    return sorted((c, p.opts[0]) for c in GROUP.commands for p in _params(c)
                  if _is_float(p) and p.opts and p.opts[0].startswith("--"))


def invocation(command: str, *extra: str) -> list[str]:
    """``command`` with ``extra`` options, dummies for required ones, and --json."""
    args = [command, *extra]
    for p in _params(command):
        if not p.required:
            continue
        if p.opts and p.opts[0].startswith("--"):
            args += [p.opts[0], "x"]
        else:
            args.insert(1, "x")
    if _has_json(command):
        args.append("--json")
    return args


def _opt(command: str, name: str) -> str:
    return next(p.opts[0] for p in _params(command) if p.name == name)


# -- limits: refused before any data is read -------------------------------------------
def test_a_billion_permutations():
    r = run(["analyse", "--permutations", 1_000_000_000, "--json"])
    line = assert_error(r, "'permutations' 1,000,000,000 needs about 162 GB of memory")
    assert line.endswith("the cap is 8 GB (HOTSPOTS_MAX_MEMORY_MB). Use ≤ 19,999,999.")


def test_k_500():
    r = run(["analyse", "--k", 500, "--json"])
    assert_error(r, "'k' 500 makes neighbourhoods of 751,501 cells (3k(k+1)+1); the "
                    "cap is 25 (HOTSPOTS_MAX_K). Use ≤ 25.")


def test_space_time_neighbourhood_counts(monkeypatch):
    # a 3-ring has 37 cells; now and 3 months back: 37 × 4 - 1 = 147 neighbours
    r = run(["emerging", "--k", 3, "--time-window", 3, "--permutations", 9_000_000])
    assert_error(r, "the engine draws 9,000,000 × 147 neighbour values")


def test_caps_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HOTSPOTS_MAX_MEMORY_MB", "16")
    r = run(["rank", "--permutations", 99_999, "--json"])
    assert_error(r, "the cap is 16 MB (HOTSPOTS_MAX_MEMORY_MB). Use ≤ 49,999.")


def test_the_area_estimate_names_the_cells(monkeypatch):
    # the zoo's Merton at r10: a few hundred cells, each drawing 6 neighbours
    monkeypatch.setenv("HOTSPOTS_MAX_CELLS", "50")
    r = run(["analyse", "--area", "Merton", "--res", 10, "--json"])
    assert_error(r, "(HOTSPOTS_MAX_CELLS)")


# -- options checked in every command --------------------------------------------------
@pytest.mark.parametrize("command", commands_with("seed"))
def test_negative_seed(command):
    r = run(invocation(command, "--seed", "-1"))
    assert_error(r, "'--seed' needs to be a whole number ≥ 0. -1 was given instead.")


@pytest.mark.parametrize(("command", "option"), float_options())
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_numbers(command, option, value):
    r = run(invocation(command, option, value))
    assert_error(r, f"'{option}' needs to be a finite number.")


@pytest.mark.parametrize("command", commands_with("crime"))
@pytest.mark.parametrize("value", ["", " ", ",,"], ids=["empty", "blank", "commas"])
def test_empty_crime(command, value):
    r = run(invocation(command, "--crime", value))
    assert_error(r, "'--crime' needs to be one of ('robbery', 'vehicle', 'asb', "
                    "'burglary', 'all', 'everything') or a police.uk crime type. "
                    f"{value!r} was given instead.")


@pytest.mark.parametrize("command", commands_with("area"))
def test_empty_area(command):
    r = run(invocation(command, "--area", ""))
    assert_error(r, "'--area' needs London, a BCU, a borough or a 2022 ward.")


@pytest.mark.parametrize("command", commands_with("start", "end"))
def test_from_after_to(command):
    first, last = ("2023-06-10", "2023-06-01") if command == "dosage" else \
        ("2024-05", "2024-01")
    r = run(invocation(command, _opt(command, "start"), first,
                       _opt(command, "end"), last))
    assert_error(r, f"'--from' {first} is after '--to' {last}: give the earlier one "
                    "first.")


@pytest.mark.parametrize("command", commands_with("start"))
@pytest.mark.parametrize("value", ["", " "], ids=["empty", "blank"])
def test_an_empty_month_is_refused_not_read_as_not_given(command, value):
    option = _opt(command, "start")
    r = run(invocation(command, option, value))
    assert_error(r, f"'{option}' needs a month (YYYY-MM) or, where the command takes "
                    f"one, a day or week. {value!r} was given instead.")


@pytest.mark.parametrize("command", [c for c in commands_with("start", "end")
                                     if c != "dosage"])  # dosage takes days
def test_a_month_before_police_uk_began_is_refused(command):
    r = run(invocation(command, _opt(command, "start"), "0000-01"))
    assert_error(r, "'--from' 0000-01 is before police.uk's first month, 2010-12.")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--from", "0000-01-01", "'--from' 0000-01-01 is before police.uk's first month"),
    ("--to", "9999-12-31", "'--to' 9999-12-31 is after 2100."),
    ("--to", "9999-W01", "'--to' 9999-W01 is after 2100.")])
def test_days_and_weeks_out_of_range_are_refused(option, value, message):
    r = run(invocation("dosage", option, value))
    assert_error(r, message)


def test_counts_from_after_to_is_an_error_not_zero():
    r = run(["counts", "--area", "Merton", "--from", "2024-05", "--to", "2024-01",
             "--json"])
    assert_error(r, "'--from' 2024-05 is after '--to' 2024-01")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--from", "2022-13", "'--from' 2022-13 has no month 13 (01-12)."),
    ("--hot-from", "2022-13", "'--hot-from' 2022-13 has no month 13 (01-12)."),
    ("--hot-to", "abc", "'--hot-to' needs a month (YYYY-MM). 'abc' was given "
                        "instead."),
    # full-width digits are digits to \d: they had read as 'after 2100'
    ("--from", "２０２２-０１", "'--from' needs a month (YYYY-MM)")])
def test_a_month_that_is_none_is_refused(option, value, message):
    """stopsearch's hot-spot period was not checked at all: 2022-13 and abc ran
    with a month of hot spots, exit 0."""
    r = run(["stopsearch", option, value, "--json"])
    assert_error(r, message)


def test_spaces_around_a_month_are_not_part_of_it(monkeypatch):
    """'2022-01 ' passed the check (which stripped it) and went on unstripped:
    its month counted 0, and ' 2022-03' as the end made every month 0."""
    from hotspots.cli import _check_periods

    class Ctx:
        params = {"start": "2022-01 ", "end": " 2022-03", "hot_from": None}
        command = None

        def get_parameter_source(self, name):
            return None

    ctx = Ctx()
    monkeypatch.setattr("hotspots.cli._label", lambda ctx, name: name)
    _check_periods(ctx)
    assert ctx.params == {"start": "2022-01", "end": "2022-03", "hot_from": None}


def test_hot_period_order():
    r = run(["stopsearch", "--hot-from", "2023-05", "--hot-to", "2023-01", "--json"])
    assert_error(r, "'--hot-from' 2023-05 is after '--hot-to' 2023-01")


@pytest.mark.parametrize(("command", "option", "value", "message"), [
    ("analyse", "--k", "0", "'--k' needs to be a whole number ≥ 1"),
    ("analyse", "--permutations", "-5", "'--permutations' needs to be a whole number"),
    ("analyse", "--distance", "-100", "'--distance' needs to be a number > 0"),
    ("analyse", "--workers", "0", "'--workers' needs to be a whole number ≥ 1"),
    ("recommend", "--cameras", "-2", "'--cameras' needs to be a whole number ≥ 0"),
    ("recommend", "--radius", "0", "'--radius' needs to be a number > 0"),
    ("backtest", "--officer-hours", "-60",
     "'--officer-hours' needs to be a number > 0"),
    # work that grows with an option is capped: these had run for minutes (a time
    # window of 1e8 months, 1e8 tie seeds, 100,000 workers), overflowed a date
    # (weeks), died starting threads, or answered with advice that made things
    # worse (a 20 km camera radius)
    ("emerging", "--time-window", "100000000", "'--time-window' is at most 36."),
    ("backtest", "--tie-seeds", "100000000", "'--tie-seeds' is at most 100."),
    ("analyse", "--workers", "100000", "'--workers' is at most 64."),
    ("ingest", "--workers", "100000", "'--workers' is at most 64."),
    ("recommend", "--radius", "20000", "'--radius' is at most 1000."),
    ("recommend", "--weeks", "1000000", "'--weeks' is at most 52."),
    ("brief", "--rotations", "100000", "'--rotations' is at most 52."),
    ("serve", "--threads", "100000000", "'--threads' is at most 256."),
    ("backtest", "--min-forecast", "-1", "'--min-forecast' needs to be a number ≥ 0"),
    ("backtest", "--res", "7", "'res' needs to be one of (10, 9, 8). 7 was given"),
    # the grids' resolutions, said before the work caps (they had listed 0-15)
    ("analyse", "--res", "-1", "'res' needs to be one of (7, 8, 9, 10). -1 was"),
], ids=["k", "permutations", "distance", "workers", "cameras", "radius", "hours",
        "window", "tie-seeds", "many-workers", "ingest-workers", "big-radius",
        "weeks", "rotations", "threads", "min-forecast", "plan-res", "res"])
def test_bounds(command, option, value, message):
    assert_error(run(invocation(command, option, value)), message)


def test_usage_errors_are_one_line_and_json():
    r = run(["counts", "--no-such-option", "--json"])
    assert_error(r, "No such option: --no-such-option", kind="UsageError")
    r = run(["no-such-command"])
    assert_error(r, "No such command 'no-such-command'", kind="UsageError")
    r = run(["dosage", "--json"])
    assert_error(r, "Missing option '--log'", kind="UsageError")


# -- serve -----------------------------------------------------------------------------
@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text("ana:analyst:" + hash_password("a long passphrase", 4) + "\n")
    return path


@pytest.mark.parametrize("port", ["70000", "0", "-1"])
def test_serve_port_range(port, user_file):
    # 70000 used to be announced as :70000 while listening on 70000 - 65536 = 4464
    r = run(["serve", "--port", port, "--users", user_file])
    line = assert_error(r, "Invalid value for '--port'", kind="UsageError")
    # click's wording (typer < 0.29) or pydantic's (typer 0.29)
    assert (f"{port} is not in the range 1<=x<=65535" in line
            or ("less than or equal to 65535" if port == "70000"
                else "greater than or equal to 1") in line)


def test_serve_on_a_busy_port(user_file):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run(["serve", "--port", port, "--users", user_file])
    assert_error(r, f"port {port} on 127.0.0.1 is already in use")


def test_serve_refuses_a_bad_cookie_policy(user_file):
    r = run(["serve", "--users", user_file, "--secure-cookies", "sometimes"])
    assert_error(r, "'--secure-cookies' needs to be one of ('auto', 'always', "
                    "'never'). 'sometimes' was given instead.")


@pytest.mark.parametrize(("env", "message"), [
    ({"HOTSPOTS_SECURE_COOKIES": "sometimes"},
     "'secure cookies' needs to be one of ('auto', 'always', 'never'). 'sometimes' "
     "was given instead."),
    ({"HOTSPOTS_TRUSTED_PROXIES": "-2"},
     "'trusted proxies' needs to be a whole number ≥ 0. '-2' was given instead."),
    ({"HOTSPOTS_MAX_REQUEST_MB": "0"},
     "'HOTSPOTS_MAX_REQUEST_MB' needs to be a whole number > 0. '0' was given "
     "instead."),
])
def test_serve_refuses_bad_settings_before_it_announces_itself(user_file, env,
                                                               message):
    r = run(["serve", "--users", user_file], env=env)
    assert_error(r, message)
    assert "hotspots app on" not in r.stderr + r.stdout


def test_serve_says_a_bad_base_map_before_it_announces_itself(user_file, tmp_path,
                                                              monkeypatch):
    """It had printed 'hotspots app on http://…' and then refused the tiles."""
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))
    r = run(["serve", "--users", user_file, "--tiles", "ftp://x"])
    assert_error(r, "'tiles' needs to be none, osm, os:KEY or a {z}/{x}/{y} URL "
                    "template. 'ftp://x' was given instead.")
    assert "hotspots app on" not in r.stderr + r.stdout


def test_serve_caps_request_bodies(user_file, monkeypatch):
    """waitress reads a whole body before the app sees it (1 GiB by default):
    serve caps it at HOTSPOTS_MAX_REQUEST_MB, as the app's own check does."""
    import waitress

    import hotspots.cli as cli

    seen = {}
    monkeypatch.setattr(waitress, "serve", lambda server, **kw: seen.update(kw))
    monkeypatch.setattr(cli, "_app_factory", lambda: lambda **kw: type(
        "App", (), {"server": None})())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run(["serve", "--users", user_file, "--port", port],
            env={"HOTSPOTS_MAX_REQUEST_MB": "3"})
    assert r.exit_code == 0, r.output
    assert seen["max_request_body_size"] == 3 << 20


# -- files and folders that cannot be written ------------------------------------------
LOG = "zone,start,end,officer\nZ01,2023-06-05 14:00,2023-06-05 14:25,PC1\n"


@pytest.fixture
def dosage_args(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(LOG)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"Z01": 60}))
    return ["dosage", "--log", log, "--plan", plan]


def test_an_output_that_is_an_input_or_another_output_is_refused(dosage_args,
                                                                 tmp_path):
    """dosage --quarantine naming the patrol log had overwritten the log; rank's
    CSV and PDF at one path had left the PDF alone, both listed as written."""
    log = tmp_path / "log.csv"
    r = run([*dosage_args, "--quarantine", str(log)])
    assert r.exit_code == 2 and log.read_text() == LOG
    assert_error(r, "is also")
    link = tmp_path / "link.csv"
    link.symlink_to(log)  # the same file by another name
    r = run([*dosage_args, "--quarantine", str(link)])
    assert r.exit_code == 2 and log.read_text() == LOG
    r = run(["rank", "--out", str(tmp_path / "r.csv"), "--pdf",
             str(tmp_path / "r.csv")])
    assert r.exit_code == 2 and not (tmp_path / "r.csv").exists()
    assert_error(r, "is also")


def test_out_under_a_file_names_the_path(dosage_args, tmp_path):
    blocker = tmp_path / "report.txt"
    blocker.write_text("a file, not a folder")
    r = run([*dosage_args, "--quarantine", blocker / "q.csv", "--json"])
    kind = strict_json(r.stdout)["type"]
    assert kind in ("FileExistsError", "NotADirectoryError")
    assert_error(r, str(blocker), kind=kind)
    assert "is a file where a folder is needed" in r.stderr \
        or "part of the path is a file, not a folder" in r.stderr


def test_read_only_out_is_one_line(dosage_args, tmp_path, monkeypatch):
    import hotspots.store

    target = tmp_path / "ro" / "q.csv"

    @contextmanager
    def read_only(path, suffix=""):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
        yield  # pragma: no cover

    monkeypatch.setattr(hotspots.store, "atomic_file", read_only)
    r = run([*dosage_args, "--quarantine", target, "--json"])
    assert_error(r, f"{target}: permission denied; write somewhere else (--out, "
                    "HOTSPOTS_STORE) or fix the folder's permissions",
                 kind="PermissionError")


def test_a_device_or_pipe_given_as_the_output_is_refused_and_kept(dosage_args,
                                                                   tmp_path):
    """A temporary file moved over the path given: /dev/full itself had been
    replaced by a file of the quarantine's rows, with exit 0."""
    import stat

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    r = run([*dosage_args, "--quarantine", pipe, "--json"])
    assert_error(r, f"{pipe}: is a named pipe (FIFO), not a regular file; give the "
                    "path of a file to write")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    # (a pipe stands in for a device: a failing test must not replace a device)
    r = run(["adduser", "zed", "--role", "analyst", "--password-stdin", "--users",
             pipe], input="a long passphrase\n")
    assert_error(r, f"{pipe}: is a named pipe (FIFO), not a regular file")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_a_full_disk_under_a_writers_own_error_is_said(dosage_args, tmp_path,
                                                       monkeypatch):
    """matplotlib's PDF writer, closing on a full disk, raises zlib's 'Error -2
    while flushing' while the OSError is handled: the one-line disk-full error,
    not an internal error."""
    import zlib

    import hotspots.store

    target = tmp_path / "q.csv"

    @contextmanager
    def full(path, suffix=""):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        except OSError:
            raise zlib.error("Error -2 while flushing: inconsistent stream state")  # noqa: B904
        yield  # pragma: no cover

    monkeypatch.setattr(hotspots.store, "atomic_file", full)
    r = run([*dosage_args, "--quarantine", target, "--json"])
    assert_error(r, f"{target}: no space left on the device; free some space and run "
                    "again", kind="OSError")


def test_ingest_warnings_are_one_line_each(zoo_root, put, tmp_path, monkeypatch):
    """Piped, a warning was wrapped at 80 columns, and a line break in a folder's
    name printed as it is: each warning is one line, control characters escaped."""
    from .conftest import csv_bytes

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))
    put("bad\nfolder/2022-06-metropolitan-street.csv", csv_bytes([]))
    r = run(["ingest"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert lines == [
        "warning: crimes/bad\\nfolder/2022-06-metropolitan-street.csv: a header and "
        "no rows, read as a month without offences (a download cut short?)"]


@pytest.fixture
def extra_commands():
    """Commands that fail outside ``handled`` (as a read-only store would)."""

    def store_read_only(as_json: bool = typer.Option(False, "--json")):
        raise OSError(errno.EROFS, "Read-only file system", "/srv/store/ledger.json")

    def bug(as_json: bool = typer.Option(False, "--json")):
        raise ValueError("a bug")

    def nan_doc(as_json: bool = typer.Option(False, "--json")):
        emit({"hours": float("inf"), "share": np.float64("nan"), "n": np.int64(3),
              "rows": [{"z": -np.inf}]}, as_json, lambda: None)

    before = list(app.registered_commands)
    app.command("x-store")(store_read_only)
    app.command("x-bug")(bug)
    app.command("x-nan")(nan_doc)
    yield
    app.registered_commands[:] = before


def test_os_errors_anywhere_are_one_line(extra_commands):
    r = run(["x-store", "--json"])
    assert_error(r, "/srv/store/ledger.json: read-only file system; write somewhere "
                    "else", kind="OSError")


def test_unexpected_errors_exit_1_with_one_line(extra_commands, monkeypatch):
    r = run(["x-bug", "--json"])
    assert_error(r, "internal error (ValueError: a bug); run again with "
                    "HOTSPOTS_DEBUG=1", kind="InternalError", code=1)
    monkeypatch.setenv("HOTSPOTS_DEBUG", "1")
    r = run(["x-bug"])
    assert isinstance(r.exception, ValueError)


# -- JSON and CSV safety ---------------------------------------------------------------
def test_json_never_holds_nan_or_infinity(extra_commands):
    r = run(["x-nan", "--json"])
    assert r.exit_code == 0, r.stderr
    assert "NaN" not in r.stdout and "Infinity" not in r.stdout
    assert strict_json(r.stdout) == {"hours": None, "share": None, "n": 3,
                                      "rows": [{"z": None}]}


def test_emit_converts_keys_and_sets(capsys):
    emit({np.int64(7): {1.5, 2.5}, "t": (np.float32(0.25), np.bool_(True)),
          "s": pd.Series([1.0, np.nan]), "na": pd.NA, "nat": pd.NaT}, True,
         lambda: None)
    assert strict_json(capsys.readouterr().out) == {
        "7": [1.5, 2.5], "t": [0.25, True], "s": [1.0, None], "na": None,
        "nat": None}


def test_csv_formulas_are_neutralised():
    frame = pd.DataFrame({
        "location": ['=HYPERLINK("http://x","y")', "+44 20 7230 1212", "-1+2",
                     "@SUM(A1:A9)", "\t=1+1", "On or near High Street", None],
        "count": [1, 2, -3, 4, 5, 6, 7],
    })
    safe = safe_csv_frame(frame)
    assert safe["location"][:6].tolist() == [
        '\'=HYPERLINK("http://x","y")', "'+44 20 7230 1212", "'-1+2", "'@SUM(A1:A9)",
        "'\t=1+1", "On or near High Street"]
    assert pd.isna(safe["location"][6])
    assert safe["count"].tolist() == [1, 2, -3, 4, 5, 6, 7]  # numbers stay numbers
    assert frame["location"][0].startswith("=")  # the caller's frame is untouched
    text = safe.to_csv(index=False)
    assert not any(cell.startswith(("=", "+", "-", "@"))
                   for row in text.splitlines()[1:] for cell in row.split(",")[:1])


def test_a_harm_table_without_harm_is_refused(tmp_path):
    r = run(["analyse", "--harm-table", tmp_path / "missing.toml"])
    assert_error(r, "'--harm-table' weights offences by harm: give --harm with it.")


def test_an_output_that_is_a_folder_is_refused_before_anything_is_written(tmp_path):
    folder = tmp_path / "adir"
    folder.mkdir()
    r = run(["rank", "--out", tmp_path / "r.csv", "--pdf", folder])
    assert_error(r, f"{folder}: is a folder, not a file; give a file name")
    assert not (tmp_path / "r.csv").exists()


def test_an_os_error_names_the_target_not_the_temporary_file(tmp_path):
    from hotspots.cli import _os_message

    exc = OSError(errno.EISDIR, "Is a directory", str(tmp_path / ".r.csv.x1y2.tmp"),
                  None, str(tmp_path / "adir"))
    assert _os_message(exc) == f"{tmp_path / 'adir'}: is a folder, not a file"



@pytest.mark.parametrize("target", ["/proc/r.csv", "/proc/s.html"])
def test_an_output_that_cannot_be_made_is_named_as_given(target):
    """The temporary file beside it cannot be made: the message names the file
    the user asked for, not the hidden temporary name."""
    from hotspots.cli import _os_message
    from hotspots.store import atomic_file

    with pytest.raises(OSError) as exc, atomic_file(target, ".x") as tmp:
        tmp.write_text("x")
    assert os.path.basename(exc.value.filename).startswith(".")
    assert _os_message(exc.value) == f"{target}: no such file or folder"


# -- accounts: passwords never on the command line -------------------------------------
def test_adduser_asks_twice_without_echo(tmp_path):
    path = tmp_path / "users.txt"
    secret = "correct horse battery"
    r = run(["adduser", "ana", "--role", "analyst", "--users", path],
            input=f"{secret}\n{secret}\n")
    assert r.exit_code == 0, r.stderr
    assert secret not in r.stdout and secret not in r.stderr
    assert "Password:" in r.stderr and "Repeat for confirmation:" in r.stderr
    users = load_users(path)
    assert users.authenticate("ana", secret).role == "analyst"
    assert bcrypt_cost(users.get("ana").password_hash) == 12
    assert secret not in path.read_text()


def test_adduser_without_a_terminal_or_password_is_one_line(tmp_path):
    path = tmp_path / "users.txt"
    r = run(["adduser", "ana", "--users", path], input="")
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "error: no terminal to ask for the password on, and none given: pass it "
        "with --password-stdin or HOTSPOTS_PASSWORD.")
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr
    assert not path.exists()


def test_adduser_mismatch_saves_nothing(tmp_path):
    path = tmp_path / "users.txt"
    r = run(["adduser", "ana", "--users", path],
            input="first password 1\nsecond password 2\n")
    assert r.exit_code != 0
    assert "do not match" in r.stderr
    assert not path.exists()


def test_adduser_from_stdin_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "users.txt"
    r = run(["adduser", "pat", "--users", path, "--password-stdin"],
            input="from standard input\n")
    assert r.exit_code == 0, r.stderr
    monkeypatch.setenv("HOTSPOTS_PASSWORD", "from the environment")
    r = run(["adduser", "ana", "--role", "analyst", "--users", path])
    assert r.exit_code == 0, r.stderr
    users = load_users(path)
    assert users.authenticate("pat", "from standard input").role == "partner"
    assert users.authenticate("ana", "from the environment").role == "analyst"
    r = run(["adduser", "bob", "--users", path, "--password-stdin"], input="")
    assert_error(r, "--password-stdin read no password")


def test_password_on_the_command_line_is_refused(tmp_path):
    path = tmp_path / "users.txt"
    r = run(["adduser", "ana", "--users", path, "--password", "in shell history"])
    assert_error(r, "'--password' is not accepted: a password on the command line "
                    "stays in shell history")
    assert not path.exists()


def test_adduser_checks_the_role_before_asking(tmp_path):
    r = run(["adduser", "ana", "--role", "admin", "--users", tmp_path / "u.txt"])
    assert_error(r, "'role' needs to be one of ('analyst', 'partner'). 'admin' was "
                    "given instead.")
    assert "Password" not in r.stderr.split("error:")[0]


def test_deluser(user_file):
    r = run(["deluser", "ana", "--users", user_file])
    assert r.exit_code == 0, r.stderr
    assert "ana:" not in user_file.read_text()
    r = run(["deluser", "ana", "--users", user_file])
    assert_error(r, f"no account 'ana' in {user_file}")


def test_ctrl_c_is_one_line_and_a_json_document(monkeypatch):
    import hotspots.counts

    def interrupted(**_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(hotspots.counts, "count_offences", interrupted)
    r = run(["counts", "--area", "Merton", "--json"])
    assert_error(r, "interrupted (Ctrl-C): files and the store are replaced whole",
                 kind="Interrupted", code=130)


@pytest.mark.parametrize("value", [",", " ", ""])
def test_forces_naming_no_force_is_refused(value):
    """``--forces ','`` had read every force (the API's meaning of none)."""
    assert_error(run(["ingest", "--forces", value, "--json"]),
                 "'--forces' needs police.uk force names")


def test_a_damaged_boundary_file_is_one_line(zoo_root, write_street):
    """GDAL's error on a geodata file it cannot read is one line naming the file,
    exit 2, not an internal error."""
    from tests.conftest import street_row

    write_street([street_row("r1")], month="2022-06")
    (zoo_root / "boundaries" / "london_wards_2022.gpkg").write_bytes(b"not sqlite" * 50)
    line = assert_error(run(["ingest", "--json"]), "cannot read a geodata file",
                        kind="DataError")
    assert "london_wards_2022.gpkg" in line


@pytest.mark.parametrize("command", ["brief", "maps"])
def test_an_output_folder_that_is_a_file_is_refused_first(command, tmp_path,
                                                          monkeypatch):
    """Refused before the analysis runs (it had failed only when writing)."""
    from hotspots import analysis

    def no_analysis(*a, **k):
        raise AssertionError("the analysis ran")

    monkeypatch.setattr(analysis, "analyse", no_analysis)
    target = tmp_path / "afile"
    target.write_text("x")
    args = [command, "--out", target, "--json"]
    if command == "maps":
        args += ["--borough", "Zoo One"]
    assert_error(run(args), f"{target}: is a file, not a folder")


def test_analyse_wards_of_one_ward_says_why_there_is_no_ward_view(zoo_root, put,
                                                                 tmp_path,
                                                                 monkeypatch):
    """One ward: the hexagons are analysed, and the ward view is said to need
    more wards (the run had failed whole: 'a cell neighbours every other
    cell')."""
    from hotspots.ingest import ingest
    from hotspots.store import Store

    from .conftest import csv_bytes, street_row

    monkeypatch.setenv("HOTSPOTS_DATA", str(zoo_root))
    monkeypatch.setenv("HOTSPOTS_STORE", str(tmp_path / "store"))
    put("2022-06-metropolitan-street.csv", csv_bytes(
        [street_row(f"r{i}", lon=f"-0.19{i}") for i in range(6)]))
    ingest(root=zoo_root, store=Store.open(tmp_path / "store"))
    r = run(["analyse", "--area", "E05000001", "--crime", "robbery", "--wards",
             "--permutations", "99", "--json"])
    assert r.exit_code == 0, r.output
    doc = strict_json(r.stdout)
    assert doc["wards"] is None and doc["wards_note"].startswith(
        "no ward-level view: Zoo One (Merton) has 1 ward, too few for a Gi* of "
        "wards")
    assert doc["families"]["robbery"]["cells"] > 0


@pytest.mark.parametrize("args", [
    ["analyse", "--out"], ["analyse", "--geojson"], ["brief", "--out"],
    ["maps", "--out"], ["rank", "--out"], ["pack", "--out"],
    ["recommend", "--cctv"], ["adduser", "dave", "--password-stdin", "--users"],
    ["deluser", "dave", "--users"], ["serve", "--users"]],
    ids=lambda a: "-".join(x.strip("-") for x in a if x != "dave"))
def test_an_empty_path_is_refused(args, tmp_path, monkeypatch):
    """'' had meant the current folder (analyse, brief, maps), the default user
    file (adduser wrote it), nothing at all (--cctv, --quarantine), or
    '.: Device or resource busy' (rank, pack)."""
    option = args[-1]
    monkeypatch.chdir(tmp_path)  # should it regress: nothing written elsewhere
    monkeypatch.setenv("HOTSPOTS_USERS_FILE", str(tmp_path / "users.txt"))
    r = run([*args, ""], input="a long passphrase\n")
    assert_error(r, f"'{option}' needs a path. '' was given instead.")


@pytest.mark.parametrize("args, name", [
    (["analyse", "--distance", "1e200"], "--distance"),
    (["analyse", "--permutations", "9" * 320], "--permutations"),
    (["share", "--rounding", "9" * 400], "--rounding"),
    (["impact", "--controls", "9" * 400], "--controls"),
])
def test_numbers_past_any_sensible_size_are_refused_in_one_line(args, name):
    """Squaring --distance 1e200, or a --permutations of 309 digits, had
    overflowed the work estimate itself: an internal error."""
    r = run([*args, "--json"])
    assert r.exit_code == 2
    doc = strict_json(r.stdout)
    assert doc["error"].startswith(f"'{name}' is at most 1e+15.")
    assert doc["type"] == "ParameterError"


def test_a_pipe_as_the_cctv_layer_is_refused_not_waited_on(tmp_path):
    """recommend --cctv naming a FIFO had waited for a writer for ever."""
    import os

    fifo = tmp_path / "cctv.csv"
    os.mkfifo(fifo)
    r = run(["recommend", "--cctv", str(fifo)])
    assert_error(r, f"{fifo}: is a named pipe (FIFO), not a file of CCTV cameras")
