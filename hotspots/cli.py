"""The ``hotspots`` command line: thin adapters over the package.

Every command prints a short human summary, or with ``--json`` exactly one JSON
document on stdout (progress and logs go to stderr). Errors print one line naming
what is wrong and exit with status 2 (``{"error": …, "type": …}`` on stdout with
``--json``): bad options, errors of the package, and files or folders that cannot
be read or written. An unexpected failure prints one line too and exits with 1
(``HOTSPOTS_DEBUG=1`` shows its traceback). JSON output is strict: NaN and
infinities are written as ``null``.

Options are checked before a command runs, wherever they appear (see
``_check_params``): numbers must be finite, seeds ≥ 0, ``--from`` not after
``--to``, ``--crime`` and ``--area`` not empty, and a Gi* run's permutations, k-ring
or distance band must fit the work and memory caps of :mod:`hotspots.limits`.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from .config import DEFAULT_SEED
from .errors import HotspotsError, ParameterError
from .months import FIRST_MONTH, describe_months

try:  # typer ≥ 0.26 carries its own click
    from typer._click.exceptions import UsageError as _UsageError
except ImportError:  # pragma: no cover - typer on the click package
    from click.exceptions import UsageError as _UsageError


class _HandledGroup(TyperGroup):
    """The command group: options checked before, every error one line after.

    Click's own usage errors (a bad or missing option), the package's errors,
    ``OSError`` (a path that cannot be read or written) and anything unexpected
    all end as one line on stderr, ``{"error", "type"}`` on stdout with
    ``--json``, and a non-zero exit.
    """

    def invoke(self, ctx: typer.Context):
        protected = getattr(ctx, "_protected_args", None)
        if protected is None:  # pragma: no cover - another click: plain path
            return super().invoke(ctx)
        args = [*protected, *ctx.args]
        as_json = "--json" in args
        try:
            if not protected:
                return super().invoke(ctx)
            ctx.args, ctx._protected_args = [], []
            with ctx:
                name, cmd, rest = self.resolve_command(ctx, args)
                ctx.invoked_subcommand = name
                super(TyperGroup, self).invoke(ctx)  # the group's own callback
                sub = cmd.make_context(name, rest, parent=ctx)
                with sub:
                    as_json = bool(sub.params.get("as_json", as_json))
                    _check_params(sub)
                    return sub.command.invoke(sub)
        except (typer.Exit, typer.Abort, BrokenPipeError):
            raise  # BrokenPipeError: stdout closed (| head); typer exits quietly
        except _UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            _fail(exc.format_message() + where, "UsageError", as_json)
        except HotspotsError as exc:
            _fail(str(exc), type(exc).__name__, as_json)
        except OSError as exc:
            _fail(_os_message(exc), type(exc).__name__, as_json)
        except KeyboardInterrupt as exc:
            gen = getattr(exc, "generation", None)
            _fail(f"interrupted (Ctrl-C) after the new store generation {gen} was "
                  "published: the store holds this ingest's result; the next ingest "
                  "tidies what was left" if gen else
                  "interrupted (Ctrl-C): files and the store are replaced whole, so "
                  "what was there before is unchanged", "Interrupted", as_json,
                  code=130)
        except MemoryError:
            _fail("out of memory: lower the HOTSPOTS_MAX_MEMORY_MB cap or ask for "
                  "less (a smaller area, coarser 'res', fewer permutations)",
                  "MemoryError", as_json)
        except Exception as exc:
            cause = _os_error_within(exc)
            if cause is not None:  # e.g. a full disk under a PDF writer's own error
                _fail(_os_message(cause), type(cause).__name__, as_json)
            if os.environ.get("HOTSPOTS_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}: {exc}); run again with "
                  "HOTSPOTS_DEBUG=1 for the traceback and report it", "InternalError",
                  as_json, code=1)


app = typer.Typer(
    cls=_HandledGroup,
    name="hotspots",
    help="Where crime concentrates in London, and where to send patrols and cameras.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _Console:
    """A rich console made on first use (rich costs start-up a command printing
    only JSON never needs)."""

    def __init__(self, **kw):
        self._kw, self._console = kw, None

    def get(self):
        """The rich Console itself."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kw)
        return self._console

    def __getattr__(self, name):
        return getattr(self.get(), name)


def Table(*args, **kw):  # noqa: N802 - rich's class, imported when a table is drawn
    from rich.table import Table as _Table

    return _Table(*args, **kw)


err = _Console(stderr=True)
out = _Console()

LayersOutOpt = Annotated[str | None, typer.Option(
    "--out", help="Folder for the GeoParquet layer (default: the store's tables, "
                  "where the app finds it; give one for a read-only store).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AreaOpt = Annotated[
    str,
    typer.Option("--area", help="London, a BCU (SW), a borough or a 2022 ward."),
]
CrimeOpt = Annotated[
    str,
    typer.Option("--crime", help="robbery, vehicle, asb, all, or a police.uk type."),
]
FromOpt = Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM.")]
DaskOpt = Annotated[bool, typer.Option("--dask", help="Run on a Dask cluster.")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address (default: LocalCluster)."),
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="LocalCluster workers.")]
HoursOpt = Annotated[float, typer.Option(
    "--officer-hours", help="Officer-hours a week for the surge.")]
CamerasOpt = Annotated[int, typer.Option(help="NOMAD cameras to site (0: none).")]
RotationsOpt = Annotated[int, typer.Option(help="Camera site lists (rounds).")]
#: H3 resolution of analyses (res 9 cells, ~0.1 km²) and of plans (res 10).
ResOpt = Annotated[int, typer.Option(
    help="H3 resolution: 8, 9 or 10 (7 for London-wide overviews).")]
PlanResOpt = Annotated[int, typer.Option(help="H3 resolution: 10, 9 or 8.")]


@contextmanager
def dask_client(use: bool, scheduler: str | None, workers: int):
    """A Dask client when asked for (``--dask`` or ``--scheduler``), else None."""
    if not (use or scheduler):
        yield None
        return
    from .distributed import cluster

    with cluster(scheduler=scheduler, workers=workers) as client:
        err.print(f"[dim]dask: {client.scheduler.address}[/]")
        yield client
ToOpt = Annotated[str | None, typer.Option("--to", help="Last month, YYYY-MM.")]


def emit(payload: dict, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``payload`` as strict JSON, or call ``human`` to print a summary.

    Values go through :func:`hotspots.provenance.json_value` (numpy to Python,
    NaN and ±inf to null) and are written with ``allow_nan=False``, so the output
    is standard JSON any parser reads.
    """
    if as_json:
        from .provenance import json_value

        text = json.dumps(json_value(payload), default=str, allow_nan=False)
        sys.stdout.write(text + "\n")
    else:
        human()


def _fail(message: str, kind: str, as_json: bool, code: int = 2) -> NoReturn:
    """Print one error line (and the JSON error document) and exit with ``code``."""
    line = " ".join(str(message).split()) or kind
    if as_json:
        sys.stdout.write(json.dumps({"error": line, "type": kind}) + "\n")
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(line)}", highlight=False,
              soft_wrap=True)
    raise typer.Exit(code)


_OS_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
}


def printable(text: str) -> str:
    r"""``text`` with control characters escaped, so it prints as one line.

    >>> printable("crimes/bad\nfolder/x.csv\t!")
    'crimes/bad\\nfolder/x.csv\\t!'
    """
    return "".join(c if c.isprintable() or c == " " else
                   c.encode("unicode_escape").decode("ascii") for c in text)


def _os_error_within(exc: BaseException) -> OSError | None:
    """An ``OSError`` another error was raised from or while handling (a full
    disk inside matplotlib's PDF writer surfaces as zlib's 'Error -2 while
    flushing' when the writer closes)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _os_message(exc: OSError) -> str:
    """One line naming the path(s) of an ``OSError`` and what went wrong."""
    reason = _OS_REASONS.get(exc.errno, exc.strerror or str(exc) or type(exc).__name__)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p not in (None, "")]
    if len(paths) == 2 and os.path.basename(paths[0]).startswith("."):
        paths = paths[1:]  # a temporary file moved into place: name the target
    paths = [_target_of(p) for p in paths]  # one that could not be made: too
    if exc.errno == errno.EEXIST and paths and os.path.isfile(paths[0]):
        reason = "is a file where a folder is needed"
    if not paths:
        return f"{reason} ({exc})" if exc.strerror else reason
    hint = ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = ("; write somewhere else (--out, HOTSPOTS_STORE) or fix the "
                "folder's permissions")
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "; free some space and run again"
    return f"{' -> '.join(paths)}: {reason}{hint}"


#: A temporary file of :func:`hotspots.store.atomic_file`: ``.<name>.<pid>.<random>``
#: and a suffix, beside its target.
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.\d+\.[a-z0-9_]{8}(\.[^.]*)?$")


def _target_of(path: str) -> str:
    """The file a temporary file was to become (a user gave that name), else
    ``path``."""
    m = _TEMP_NAME.match(os.path.basename(path))
    return os.path.join(os.path.dirname(path), m["name"]) if m else path


def _check_files(*paths: str | None, inputs: tuple = ()) -> None:
    """Refuse, before anything is written, an output file that is a folder (so a
    command writing several files never leaves some of them), that is another
    output of the command, or that is one of its ``inputs`` (it would be lost)."""
    seen: list[tuple[str, str]] = [(str(i), os.path.realpath(i))
                                   for i in inputs if i]
    for p in paths:
        if not p:
            continue
        if Path(p).is_dir():
            raise ParameterError(f"{p}: is a folder, not a file; give a file name")
        real = os.path.realpath(p)
        for name, other in seen:
            if real == other:
                raise ParameterError(f"{p}: is also {name!r}, which this command "
                                     "reads or writes; give another file name")
        seen.append((str(p), real))


def _check_folders(*paths: str | None) -> None:
    """Refuse, before any work, an output folder that is a file (it had failed
    only when writing, after the analysis and plan)."""
    for p in paths:
        if p and Path(p).exists() and not Path(p).is_dir():
            raise ParameterError(f"{p}: is a file, not a folder; give a folder")


def _warn(line: str | None) -> None:
    """Print the semi-synthetic warning (or nothing) in yellow."""
    if line:
        out.print(f"[bold yellow]{line}[/]", highlight=False)


def synthetic_note(share: float, what: str) -> str | None:
    """:func:`hotspots.provenance.synthetic_note`, imported when a warning is due."""
    from .provenance import synthetic_note as note

    return note(share, what)


def _printer(lines: list[str]) -> Callable[[], None]:
    """Print a result's ``summary()`` lines (semi-synthetic warnings in yellow)."""
    def human() -> None:
        for line in lines:
            if line.lstrip().startswith("SEMI-SYNTHETIC"):
                _warn(line)
            else:
                out.print(line, highlight=False, markup=False)
    return human


@contextmanager
def handled(as_json: bool):
    """Turn an error into one clear line and exit status 2.

    :class:`HotspotsError` (its message), ``OSError`` (the path and why, e.g. a
    read-only store or ``--out`` folder) and GDAL's errors reading a geodata file
    (pyogrio's) are caught here; the command group catches whatever escapes a
    command too.
    """
    try:
        yield
    except HotspotsError as exc:
        _fail(str(exc), type(exc).__name__, as_json)
    except OSError as exc:
        _fail(_os_message(exc), type(exc).__name__, as_json)
    except RuntimeError as exc:
        if not type(exc).__module__.startswith("pyogrio"):
            raise
        # GDAL could not open or read a geodata file (boundaries, roads, CCTV):
        # its message names the file
        _fail(f"cannot read a geodata file: {exc}", "DataError", as_json)


# -- options checked wherever they appear ----------------------------------------
#: Smallest value of whole-number options, by parameter name, in every command.
_AT_LEAST = {
    "seed": 0, "permutations": 0, "k": 1, "workers": 1, "threads": 1,
    "time_window": 0, "cameras": 0, "rotations": 1, "weeks": 1, "buffer": 0,
    "train": 1, "length": 1, "threshold": 5, "rounding": 1, "tie_seeds": 1,
}
#: Largest value of options whose work grows with them and that no plan needs
#: more of (the Gi* caps of :mod:`hotspots.limits` cover k, distance and
#: permutations): processes and threads, repeats, months, camera reach.
_AT_MOST = {
    "workers": 64, "threads": 256, "tie_seeds": 100, "time_window": 36,
    "weeks": 52, "rotations": 52, "cameras": 200, "buffer": 10, "train": 120,
    "radius": 1000.0,
}
#: Largest value of any number option (the seed aside): past it the work and
#: memory estimates themselves overflow (``--distance 1e200`` squared,
#: ``--permutations`` of 309 digits).
_HUGE = 1e15
#: Number options that must be > 0, by parameter name.
_POSITIVE = ("distance", "radius", "bandwidth", "minutes", "visits", "days",
             "max_hours", "officer_hours")
#: Number options that must be ≥ 0, by parameter name.
_NOT_NEGATIVE = ("wait", "min_forecast")
#: Options naming a file or folder, by parameter name: given, they need a path
#: ("" had meant the current folder, the default user file, or nothing at all).
_PATHS = frozenset(("out", "out_dir", "out_file", "pdf", "geojson", "users", "cctv",
                    "log", "plan", "quarantine", "harm_table"))
#: Pairs of options that give a period: the first must not be after the second.
_PERIODS = (("start", "end"), ("hot_from", "hot_to"))
#: Options that take a month only (others may also take a day or an ISO week).
_MONTHS_ONLY = frozenset(("hot_from", "hot_to"))
_SAME_FORMAT = (re.compile(r"^[0-9]{4}-[0-9]{2}$"),  # ASCII digits: \d takes '２'
                re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                re.compile(r"^[0-9]{4}-W[0-9]{2}$"))
#: The last year a period may name (dates past it overflow the date arithmetic).
_LAST_YEAR = "2100"


def _label(ctx: typer.Context, name: str) -> str:
    for p in ctx.command.params:
        if p.name == name and getattr(p, "opts", None):
            return p.opts[0]
    return name


def _check_params(ctx: typer.Context) -> None:
    """Refuse option values no command can use, before the command runs.

    Applies by parameter name in every command (so a command added later is
    covered): finite numbers, lower bounds (``_AT_LEAST``, ``_POSITIVE``),
    non-empty ``--crime``/``--area``/``--borough``, periods
    (:func:`_check_periods`), and the work and memory caps of a Gi* run
    (:func:`hotspots.limits.preflight`).
    """
    params = ctx.params
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ParameterError(
                    f"{_label(ctx, name)!r} needs to be a finite number. {v!r} was "
                    "given instead.")
        if value is None or isinstance(value, bool):
            continue
        if name in _AT_LEAST and isinstance(value, int) and value < _AT_LEAST[name]:
            raise ParameterError(
                f"{_label(ctx, name)!r} needs to be a whole number ≥ "
                f"{_AT_LEAST[name]}. {value!r} was given instead.")
        if (isinstance(value, int | float) and name != "seed"
                and abs(value) > _HUGE):  # no count, length or time is this big
            raise ParameterError(
                f"{_label(ctx, name)!r} is at most {_HUGE:g}. {value!r:.40} was "
                "given instead.")
        if name in _AT_MOST and isinstance(value, int | float) \
                and value > _AT_MOST[name]:
            raise ParameterError(
                f"{_label(ctx, name)!r} is at most {_AT_MOST[name]:g}. {value!r} was "
                "given instead.")
        if name in _NOT_NEGATIVE and isinstance(value, int | float) and value < 0:
            raise ParameterError(
                f"{_label(ctx, name)!r} needs to be a number ≥ 0. {value!r} was given "
                "instead.")
        if name in _POSITIVE and isinstance(value, int | float) and not value > 0:
            raise ParameterError(
                f"{_label(ctx, name)!r} needs to be a number > 0. {value!r} was given "
                "instead.")
    _check_text(ctx)
    _check_periods(ctx)
    if isinstance(params.get("res"), int) and not isinstance(params["res"], bool):
        from .errors import check_choice
        from .grid import RESOLUTIONS  # the grids any command makes (each its own)

        check_choice("res", params["res"], RESOLUTIONS)
    if {"permutations", "k", "distance"} & set(params):
        _check_limits(params)


def _check_text(ctx: typer.Context) -> None:
    params = ctx.params
    for name in _PATHS & set(params):
        value = params[name]
        for v in value if isinstance(value, list | tuple) else [value]:
            if isinstance(v, str) and not v.strip():
                raise ParameterError(f"{_label(ctx, name)!r} needs a path. {v!r} was "
                                     "given instead.")
    if "crime" in params:
        crime = params["crime"]
        items = crime if isinstance(crime, list | tuple) else [crime]
        names = [c.strip() for v in items for c in str(v).split(",")]
        if not any(names) or not all(names):
            from .config import FAMILIES

            shown = ",".join(str(v) for v in items)
            raise ParameterError(
                f"'--crime' needs to be one of {tuple(FAMILIES)} or a police.uk "
                f"crime type. {shown!r} was given instead.")
    for name, what in (("area", "London, a BCU, a borough or a 2022 ward"),
                       ("borough", "a London borough")):
        value = params.get(name)
        if isinstance(value, str) and not value.strip():
            raise ParameterError(
                f"{_label(ctx, name)!r} needs {what}. {value!r} was given instead.")


def _check_periods(ctx: typer.Context) -> None:
    """Each end of a period given (not empty, from police.uk's first month to
    :data:`_LAST_YEAR`), then each pair in order."""
    params = ctx.params
    for name in {n for pair in _PERIODS for n in pair} & set(params):
        raw = params[name]
        if not isinstance(raw, str):
            continue
        value = raw.strip()
        needs = (f"{_label(ctx, name)!r} needs a month (YYYY-MM)"
                 + ("" if name in _MONTHS_ONLY and value else
                    " or, where the command takes one, a day or week")
                 + f". {raw!r} was given instead.")
        if not value:
            source = ctx.get_parameter_source(name)  # click's enum (typer may vendor)
            if source is not None and source.name != "DEFAULT":
                raise ParameterError(needs)
            continue
        params[name] = value  # ' 2022-01' is 2022-01 wherever it is used
        formats = _SAME_FORMAT[:1] if name in _MONTHS_ONLY else _SAME_FORMAT
        if not any(f.match(value) for f in formats):
            raise ParameterError(needs)
        if value[5] != "W" and not 1 <= int(value[5:7]) <= 12:
            raise ParameterError(f"{_label(ctx, name)!r} {value} has no month "
                                 f"{value[5:7]} (01-12).")
        if value[:7] < FIRST_MONTH:
            raise ParameterError(
                f"{_label(ctx, name)!r} {value} is before police.uk's first "
                f"month, {FIRST_MONTH}.")
        if value[:4] > _LAST_YEAR:
            raise ParameterError(
                f"{_label(ctx, name)!r} {value} is after {_LAST_YEAR}.")
    for a, b in _PERIODS:
        first, last = params.get(a), params.get(b)
        if not (isinstance(first, str) and isinstance(last, str)):
            continue
        first, last = first.strip(), last.strip()
        if any(f.match(first) and f.match(last) for f in _SAME_FORMAT) \
                and first > last:
            raise ParameterError(
                f"{_label(ctx, a)!r} {first} is after {_label(ctx, b)!r} {last}: "
                "give the earlier one first.")


def _check_limits(params: dict) -> None:
    """The caps of :mod:`hotspots.limits` on a Gi* run's arguments (milliseconds)."""
    from .limits import check_distance, check_permutations, check_ring, preflight

    k, distance = params.get("k"), params.get("distance")
    permutations, res = params.get("permutations"), params.get("res")
    window = params.get("time_window")
    # first what needs no data (instant), then with the area's estimated cells
    if distance is not None:
        nbrs = check_distance(distance, res if isinstance(res, int) else 9)
    elif isinstance(k, int):
        nbrs = check_ring(k)
    else:
        nbrs = 6
    if window:
        nbrs = (nbrs + 1) * (int(window) + 1) - 1
    if isinstance(permutations, int):
        check_permutations(permutations, neighbours=nbrs)
    area = params.get("area")
    if isinstance(res, int) and isinstance(area, str) and area.strip():
        # without an estimate (no ward table) the run's own checks still apply
        with suppress(KeyError, AttributeError, ImportError):
            preflight(area=area, res=res, k=None if distance is not None else k,
                      distance=distance, permutations=permutations,
                      time_window=window)


@contextmanager
def progress_bar():
    """A rich progress bar on stderr; yields a ``progress(stage, done, total)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err.get(),
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@app.command()
def fetch(
    what: Annotated[str, typer.Option(
        help="wards, crimes, all; population (ONS mid-year estimates for the "
             "crime pack's rates); roads (OS Open Roads, streets on the printed "
             "maps) or places (OS Open Names, the search's gazetteer)")] = "all",
    months: Annotated[
        list[str] | None, typer.Option("--month", help="YYYY-MM; repeat")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Download even when a data root exists.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Download official data (ONS wards, data.police.uk archives) into the cache."""
    from .fetch import fetch as do_fetch

    with handled(as_json), progress_bar() as prog:
        res = do_fetch(what=what, months=months or [], force=force, progress=prog)
    emit(
        res,
        as_json,
        lambda: out.print(
            f"data root: {res['data_root']}\n"
            + (
                "a data root exists; nothing downloaded (use --force)"
                if res.get("skipped")
                else f"{len(res['files'])} file(s) fetched"
            )
        ),
    )


def _force_names(text: str) -> list[str]:
    """The police.uk forces a ``--forces`` value names (``all``: every force)."""
    names = [f.strip().lower() for f in text.split(",") if f.strip()]
    if not names:
        raise ParameterError(f"'--forces' needs police.uk force names, comma-separated "
                             f"(or 'all'). {text!r} was given instead.")
    return names


@app.command()
def ingest(
    rebuild: Annotated[
        bool, typer.Option("--rebuild", "--force",
                           help="Read every file again (by default months whose files "
                           "are unchanged are carried over from the store).")
    ] = False,
    forces: Annotated[
        str | None, typer.Option(
            "--forces", help="police.uk forces to read, comma-separated "
            "(metropolitan,city-of-london,btp by default; 'all' for every force).")
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for another "
                            "ingest of the same store to finish.")
    ] = 600.0,
    use_dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Read every police.uk file in the data root, validate, join, write the store.

    The new store is published as a whole when complete: a killed or failed run
    leaves the previous one in place.
    """
    from .config import LONDON_FORCES
    from .ingest import ingest as do_ingest

    with handled(as_json), progress_bar() as prog, \
            dask_client(use_dask, scheduler, workers) as client:
        chosen = LONDON_FORCES if forces is None else _force_names(forces)
        if client is None:
            res = do_ingest(force=rebuild, progress=prog, forces=chosen,
                            lock_timeout=wait)
        else:
            from .distributed import ingest_dask

            res = ingest_dask(client=client, force=rebuild, forces=chosen,
                              lock_timeout=wait)

    def human() -> None:
        t = Table(title="ingest" + (" (store up to date)" if res.up_to_date else ""))
        t.add_column("")
        t.add_column("street", justify="right")
        t.add_column("stop and search", justify="right")
        ss = res.stop_search
        for label, a, b in (
            ("rows in", res.rows_in, ss.get("rows_in")),
            ("accepted", res.accepted, ss.get("accepted")),
            ("quarantined", res.quarantined, ss.get("quarantined")),
        ):
            t.add_row(label, f"{a or 0:,}", f"{b or 0:,}")
        out.print(t)
        for line in res.summary()[2:]:
            out.print(line, highlight=False)
        ow = res.outside_wards
        if ow and ow.get("share_with_ward") is not None:
            out.print(
                f"share of rows with coordinates given a 2022 ward: "
                f"{ow['share_with_ward']:.4%} ({ow['outside_london_wards']:,} outside "
                f"London wards, {ow['snapped_to_nearest_ward']:,} snapped to the "
                "nearest ward within 250 m)"
            )
        if res.synthetic_rows:
            _warn(synthetic_note(res.synthetic_rows / max(res.accepted, 1),
                                 "accepted street rows (marked in Context)"))
        from rich.text import Text

        for w in res.warnings[:20]:  # file names come from outside: no markup
            # one line each (a pipe or a log reads them a line a warning), a line
            # break or other control character in a file name shown escaped
            err.print(Text.assemble(("warning:", "yellow"), " ", printable(w)),
                      highlight=False, soft_wrap=True)
        if len(res.warnings) > 20:
            err.print(f"[yellow]warning:[/] … and {len(res.warnings) - 20} more "
                      "(see the ledger)")
        if res.repaired:
            err.print(Text(f"repaired: {len(res.repaired)} thing(s) a killed or failed "
                           f"run left or damaged ({'; '.join(res.repaired[:5])}"
                           + ("; …" if len(res.repaired) > 5 else "") + ")"),
                      highlight=False)
        if res.skipped:
            why = ", ".join(f"{n} {r}" for r, n in sorted(
                res.to_json()["skipped_by_reason"].items()))
            err.print(f"skipped files (listed in the ledger): {why}",
                      highlight=False)
        gen = f", generation {res.generation}" if res.generation else ""
        out.print(f"store: {res.store}{gen} (quarantine: quarantine.csv, ledger: "
                  "ledger.json)", highlight=False)

    try:
        emit(res.to_json(), as_json, human)
    except KeyboardInterrupt:  # the store holds this ingest's generation already
        if res.up_to_date:
            raise
        from .store import PublishedThenInterrupted

        raise PublishedThenInterrupted(res.generation) from None


@app.command()
def counts(
    area: AreaOpt = "London",
    crime: CrimeOpt = "all",
    by: Annotated[
        str, typer.Option(help="month, ward, borough, bcu, crime_type")
    ] = "month",
    start: FromOpt = None,
    end: ToOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Offence counts after the joins, by month, ward or borough."""
    from .counts import count_offences

    with handled(as_json):
        res = count_offences(area=area, crime=crime, by=by, start=start, end=end)

    def human() -> None:
        t = Table(title=f"{res.crime} in {res.area.name} by {res.by}")
        t.add_column(by)
        t.add_column("count", justify="right")
        for r in res.table.itertuples(index=False):
            if r.status == "missing":  # no file for the month: not a zero
                t.add_row(str(r.label), "missing", style="dim")
            elif r.status == "partial":
                t.add_row(str(r.label), f"{r.count:,} partial (no file of "
                          f"{', '.join(r.missing_forces)})", style="yellow")
            else:
                t.add_row(str(r.label), f"{r.count:,}")
        t.add_row("total", f"{res.total:,}")
        out.print(t)
        if res.missing:
            out.print(f"missing months (no data, not zero; left out of the total): "
                      f"{', '.join(res.missing)}", highlight=False)
        if res.partial and by != "month":  # (the month table marks them)
            out.print("partial months (only some of the area's forces have data; "
                      "their counts are of those forces): "
                      f"{describe_months(res.partial)}", highlight=False)
        if res.synthetic_share:
            _warn(synthetic_note(res.synthetic_share, "offences counted here"))

    emit(res.to_json(), as_json, human)


@app.command()
def crosswalk(
    method: Annotated[str, typer.Option(help="area or points")] = "area",
    borough: Annotated[str | None, typer.Option(help="Only this borough.")] = None,
    out_file: Annotated[
        str | None, typer.Option("--out", help="Write CSV here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Old (2018) to new (2022) ward crosswalk, area- or offence-point-weighted."""
    from .crosswalk import ward_crosswalk, write_crosswalk

    with handled(as_json):
        cw = ward_crosswalk(method=method, borough=borough)
        path = write_crosswalk(cw, out_file) if out_file else None
    payload = {  # every pair: a machine reading it wants the whole crosswalk
        "method": method,
        "rows": len(cw),
        "output": str(path) if path else None,
        "pairs": cw.to_dict(orient="records"),
    }

    def human() -> None:
        out.print(cw.head(40).to_string(index=False))
        out.print(
            f"{len(cw)} old→new ward pairs"
            + (" (the first 40 shown; --json or --out for all)" if len(cw) > 40
               else "")
            + (f"; written to {path}" if path else "")
        )

    emit(payload, as_json, human)


def _crimes(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(c.strip() for c in v.split(",") if c.strip())
    return list(dict.fromkeys(out))


@app.command()
def analyse(
    area: AreaOpt = "Merton",
    crime: Annotated[
        list[str],
        typer.Option("--crime", help="Family or type; repeat or comma-separate."),
    ] = ["robbery"],  # noqa: B006 - typer needs a literal default
    start: FromOpt = None,
    end: ToOpt = None,
    res: ResOpt = 9,
    k: Annotated[int, typer.Option(help="Neighbours: k-ring size.")] = 1,
    distance: Annotated[
        float | None, typer.Option(help="Distance band in metres instead of k-ring.")
    ] = None,
    permutations: Annotated[
        int | None,
        typer.Option(help="Conditional permutations (default: added until the "
                     "calls do not depend on the seed; 0: analytic inference)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = DEFAULT_SEED,
    correction: Annotated[str, typer.Option(help="fdr, bonferroni or none.")] = "fdr",
    harm: Annotated[bool, typer.Option(help="Weight offences by harm.")] = False,
    harm_table: Annotated[
        str | None, typer.Option(help="TOML harm table overriding the default "
                                 "(with --harm).")
    ] = None,
    wards: Annotated[bool, typer.Option(help="Also the ward-level view.")] = False,
    inference: Annotated[str, typer.Option(
        help="permutation (conditional randomisation) or analytic (normal-theory z, "
             "as ArcGIS).")] = "permutation",
    geojson: Annotated[str | None, typer.Option(
        "--geojson", help="Also write GeoJSON layers into this folder.")] = None,
    out_dir: LayersOutOpt = None,
    use_dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Gi* hot and cold spots on the zero-filled H3 grid (several families at once)."""
    from .analysis import analyse_many
    from .store import Store
    from .study import COUNT_FIELDS

    store = Store.open()
    with handled(as_json), dask_client(use_dask, scheduler, workers) as client:
        if harm_table and not harm:
            raise ParameterError("'--harm-table' weights offences by harm: give "
                                 "--harm with it.")
        engine = None
        if client is not None:
            from .distributed import gistar_engine

            engine = gistar_engine(client)
        results = analyse_many(
            area, _crimes(crime), start, end, res=res, k=k, distance=distance,
            permutations=permutations, seed=seed, correction=correction,
            inference=inference, weight="harm" if harm else "count",
            harm_path=harm_table, store=store, engine=engine,
            fields=None if wards else COUNT_FIELDS)
        docs = {}
        for c, an in results.items():
            paths = an.write(store, geojson_dir=geojson, out_dir=out_dir)
            doc = an.to_json(paths["geoparquet"])
            doc["geojson"] = paths.get("geojson")
            if wards:
                from .wardview import ward_view

                try:
                    wv = ward_view(an.area, c, an.start, an.end, store=store)
                except ParameterError as exc:  # one ward: no neighbours to compare
                    n = len(an.area.ward_codes)
                    doc["wards"] = None
                    doc["wards_note"] = (
                        f"no ward-level view: {an.area.name} has {n} ward"
                        f"{'s' if n != 1 else ''}, too few for a Gi* of wards "
                        f"against their neighbours ({exc})")
                else:
                    doc["wards"] = wv.drop(columns="geometry").to_dict(
                        orient="records")
            docs[c] = doc
    first = next(iter(docs.values()))
    payload = {**first, "families": docs}

    lines = []
    for c, an in results.items():
        lines += [*an.summary(), f"  output: {docs[c]['output']}"]
        if docs[c]["geojson"]:
            lines.append(f"  geojson: {docs[c]['geojson']}")
        if docs[c].get("wards_note"):
            lines.append(f"  {docs[c]['wards_note']}")
    emit(payload, as_json, _printer(lines))


@app.command()
def emerging(
    area: AreaOpt = "Merton",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    res: ResOpt = 9,
    k: Annotated[int, typer.Option(help="Spatial neighbours: k-ring size.")] = 1,
    time_window: Annotated[int, typer.Option(help="Previous months in the "
                                             "neighbourhood.")] = 1,
    permutations: Annotated[int | None, typer.Option(help="Conditional "
                                                     "permutations.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = DEFAULT_SEED,
    out_dir: LayersOutOpt = None,
    use_dask: DaskOpt = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    as_json: JsonOpt = False,
) -> None:
    """Emerging hot spots: space-time Gi* per month, Mann-Kendall trend, 17 classes."""
    from .spacetime import emerging_hotspots
    from .store import Store

    store = Store.open()
    with handled(as_json), dask_client(use_dask, scheduler, workers) as client:
        engine_for = None
        if client is not None:
            from .distributed import emerging_engine

            engine_for = emerging_engine(client)
        res_ = emerging_hotspots(area, crime, start, end, res=res, k=k,
                                 time_window=time_window, permutations=permutations,
                                 seed=seed, store=store, engine_for=engine_for)
        name = (f"emerging__{res_.metadata['area']['kind']}-"
                f"{res_.metadata['area']['code']}__{crime}__{res_.months[0]}_"
                f"{res_.months[-1]}__r{res}")
        from .geoio import write_geoparquet

        path = write_geoparquet(store.table_path(name, out_dir or None), res_.table,
                                res_.study.grid.wkb(), res_.metadata)
    doc = res_.to_json(str(path))

    emit(doc, as_json, _printer([*res_.summary(), f"  output: {path}"]))


@app.command()
def recommend(
    area: AreaOpt = "Merton",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    officer_hours: HoursOpt = 60.0,
    cameras: CamerasOpt = 4,
    radius: Annotated[float, typer.Option(
        "--radius", help="Camera coverage radius in metres.")] = 100.0,
    candidates: Annotated[str, typer.Option(
        help="Camera candidates: points (police.uk map points) or cells.")] = "points",
    rotations: RotationsOpt = 3,
    weeks: Annotated[int, typer.Option(help="Weeks per camera deployment.")] = 4,
    cctv: Annotated[str | None, typer.Option(
        help="Your own existing CCTV layer (any file GeoPandas reads).")] = None,
    no_council_cctv: Annotated[bool, typer.Option(
        "--no-council-cctv", help="Do not exclude what the data root's council "
        "CCTV layers (cctv/) already watch.")] = False,
    minutes: Annotated[float, typer.Option(help="Minutes per patrol visit.")] = 15.0,
    visits: Annotated[float, typer.Option(
        help="Visits per day to each 0.105 km² (one res-9 cell) patrolled.")] = 4.0,
    days: Annotated[float, typer.Option(help="Patrol days per week.")] = 7.0,
    level: Annotated[int, typer.Option(help="Hot-spot confidence of the evidence "
                                       "labels: 1 (90 %), 2 (95 %), 3 (99 %).")] = 2,
    min_forecast: Annotated[float, typer.Option(
        "--min-forecast", help="Fewest forecast offences a month per zone.")] = 0.5,
    cluster_first: Annotated[bool, typer.Option(
        "--cluster-first", help="Take cells in or next to a Gi* hot spot first, "
        "then fill from the forecast.")] = False,
    res: PlanResOpt = 10,
    harm: Annotated[bool, typer.Option(help="Weight offences by harm.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = DEFAULT_SEED,
    as_json: JsonOpt = False,
) -> None:
    """Surge patrol zones under an officer-hour budget, NOMAD camera sites, streets.

    The patrols rank cells by a forecast of next month's offences from all the
    history up to --to (Gi* over the last 36 months labels the evidence); the
    cameras use the last 12 months.
    """
    from .plan.patrols import Dosage
    from .plan.tasking import recommend as plan_tasking
    from .store import Store

    store = Store.open()
    with handled(as_json):
        layer = None
        if cctv:
            import geopandas as gpd

            from ._files import special_kind

            kind = special_kind(os.stat(cctv).st_mode)
            if kind:  # a pipe would wait for a writer for ever
                raise ParameterError(f"{cctv}: is {kind}, not a file of CCTV "
                                     "cameras")
            try:
                layer = gpd.read_file(cctv)
            except Exception as exc:  # noqa: BLE001 - any reader error, one message
                raise HotspotsError(f"{cctv}: cannot read the CCTV layer ({exc})"
                                    ) from None
        task = plan_tasking(
            area, crime, start, end, officer_hours=officer_hours, cameras=cameras,
            radius_m=radius, candidates=candidates, rotations=rotations,
            weeks=weeks, cctv=layer, council_cctv=not no_council_cctv,
            dosage=Dosage(minutes, visits, days), level=level,
            min_forecast=min_forecast, cluster_first=cluster_first, res=res,
            weight="harm" if harm else "count", seed=seed, store=store)
    _print_lines = _printer(task.summary())
    emit(task.to_json(), as_json, _print_lines)


@app.command()
def backtest(
    area: AreaOpt = "Merton",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    train: Annotated[int, typer.Option(help="Covered months before the first test "
                                       "month.")] = 12,
    area_share: Annotated[float | None, typer.Option(
        "--area-share", help="Budget as a share of the area (default 0.02).")
                          ] = None,
    officer_hours: Annotated[float | None, typer.Option(
        "--officer-hours", help="Budget as the plan's officer-hours a week.")
                             ] = None,
    min_forecast: Annotated[float, typer.Option(
        "--min-forecast", help="The plan's fewest forecast offences a month per "
        "zone (0: spend the whole budget).")] = 0.0,
    cluster_first: Annotated[bool, typer.Option(
        "--cluster-first", help="The plan takes hot-spot cells first.")] = False,
    res: PlanResOpt = 10,
    harm: Annotated[bool, typer.Option(help="Score harm, not counts.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of tie-breaks and bootstrap.")
                    ] = DEFAULT_SEED,
    tie_seeds: Annotated[int, typer.Option(
        "--tie-seeds", help="Seeds the tie-breaking is repeated with.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Rolling-origin backtest: every covered month scored, plan vs baselines."""
    from .evaluate.backtest import backtest as run_backtest
    from .store import Store

    store = Store.open()
    with handled(as_json), progress_bar() as prog:
        res_ = run_backtest(area, crime, start, end, train=train,
                            area_share=area_share, officer_hours=officer_hours,
                            min_forecast=min_forecast, cluster_first=cluster_first,
                            res=res, weight="harm" if harm else "count", seed=seed,
                            tie_seeds=tie_seeds, store=store,
                            progress=lambda d, t: prog("backtest months", d, t))
    doc = res_.to_json()

    def human() -> None:
        for line in res_.summary():
            style = "bold yellow" if line.startswith("SEMI") else "default"
            out.print(line, style=style, highlight=False, markup=False)

    emit(doc, as_json, human)


@app.command()
def demo(
    area: AreaOpt = "Merton",
    out_dir: Annotated[str, typer.Option("--out", help="Output folder.")] = "out/demo",
    as_json: JsonOpt = False,
) -> None:
    """Run the main job for an area on the data root and say where the outputs are."""
    from .pipeline import run_main_job

    with handled(as_json), progress_bar() as prog:
        summary = run_main_job(
            area=area,
            out=out_dir,
            progress=prog,
            log=lambda m: err.print(f"[dim]{m}[/]"),
        )

    emit(dict(summary), as_json, _printer(summary.summary()))


@app.command()
def share(
    area: AreaOpt = "London",
    crime: CrimeOpt = "all",
    start: FromOpt = None,
    end: ToOpt = None,
    out_file: Annotated[str, typer.Option("--out", help="The .html file to write.")
                        ] = "share.html",
    res: Annotated[int, typer.Option(help="H3 resolution (7-10).")] = 9,
    level: Annotated[int, typer.Option(help="Confidence shown: 90, 95 or 99.")] = 95,
    threshold: Annotated[int, typer.Option(
        help="Smallest count shown (5 or more).")] = 5,
    rounding: Annotated[int, typer.Option(help="Round counts to this.")] = 5,
    method: Annotated[str, typer.Option(help="suppress or merge")] = "suppress",
    harm: Annotated[bool, typer.Option("--harm", help="Harm-weighted.")] = False,
    tiles: Annotated[str, typer.Option(
        help="Base map: none (default: the file needs no network), osm, or a "
             "{z}/{x}/{y} URL template.")
    ] = "none",
    as_json: JsonOpt = False,
) -> None:
    """Write the disclosure-controlled partner map as one self-contained HTML file."""
    from .errors import ParameterError
    from .report.share import DisclosureRule, share_view, write_share_html

    with handled(as_json):
        levels = {90: 1, 95: 2, 99: 3}
        if level not in levels:
            raise ParameterError(f"'level' needs to be one of (90, 95, 99). {level!r} "
                                 "was given instead.")
        rule = DisclosureRule(threshold=threshold, rounding=rounding, method=method)
        view = share_view(area, crime, start, end, res=res, level=levels[level],
                          weight="harm" if harm else "count", rule=rule)
        path = write_share_html(view, out_file, tiles=tiles)
    doc = view.to_json(str(path))

    def human() -> None:
        out.print(f"partner map of {view.area.name} ({view.crime}, {view.start}…"
                  f"{view.end}): {path}")
        out.print(f"  {doc['hot_cells']} hot and {doc['cold_cells']} cold cells; "
                  f"counts withheld in {doc['suppressed_cells']} cells")
        if view.synthetic_share:
            _warn(synthetic_note(view.synthetic_share, "offences in this view"))

    emit(doc, as_json, human)


@app.command()
def pack(
    borough: Annotated[list[str] | None, typer.Option(
        help="A London borough (Met area); repeat for several packs from one read "
             "of the store.")] = None,
    bcu: Annotated[str | None, typer.Option(
        help="Every borough of this Basic Command Unit (e.g. 'South West').")
    ] = None,
    month: Annotated[str | None, typer.Option(
        help="Pack month YYYY-MM (default: the last month every crime covers).")
    ] = None,
    out_file: Annotated[str | None, typer.Option(
        "--out", help="PDF to write (default out/packs/<borough>-<month>.pdf); a "
                      "folder when there are several boroughs.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Borough crime pack: this year vs last, 12-month change, BCU and London, PDF."""
    from pathlib import Path

    from .areas import resolve_area
    from .report.crimepack import crime_packs, write_crime_pack

    with handled(as_json), progress_bar() as prog:
        names = list(borough or [])
        if bcu is not None:
            unit = resolve_area(bcu)
            if unit.kind != "bcu":
                raise ParameterError(
                    f"'--bcu' needs a Basic Command Unit (e.g. SW or 'South West'); "
                    f"{unit.name} is a {unit.kind}. Name boroughs with --borough.")
            names += [b for b in unit.boroughs if b not in names]
        # one pack a borough, however often (or in whatever case) it is named
        first: dict[str, str] = {}
        for n in names or ["Merton"]:
            first.setdefault(n.strip().lower(), n.strip())
        names = list(first.values())
        steps = 1 + len(names)
        prog("crime pack", 0, steps)
        packs = crime_packs(names, month)
        prog("crime pack", 1, steps)
        paths = []
        for i, cp in enumerate(packs, 2):
            slug = cp.areas["borough"].slug.removeprefix("borough-")
            name = f"{slug}-{cp.month}.pdf"
            if out_file is None:
                path = Path("out/packs") / name
            else:
                path = Path(out_file) / name if len(packs) > 1 else Path(out_file)
            paths.append(write_crime_pack(cp, path))
            prog("crime pack", i, steps)
    docs = [cp.to_json(str(p)) for cp, p in zip(packs, paths, strict=True)]
    doc = docs[0] if len(docs) == 1 else {"month": packs[0].month, "packs": docs}

    def human() -> None:
        for cp, path in zip(packs, paths, strict=True):
            out.print(f"[bold]{cp.areas['borough'].name} crime pack[/], {cp.month}: "
                      f"{path}")
            for line in cp.summary()[1:]:
                out.print(f"  {line}", highlight=False)
        fams = sorted({v["label"] for d in docs for v in d["families"].values()
                       if v["semi_synthetic"]})
        if fams and any(any(d["synthetic_share"].values()) for d in docs):
            _warn(synthetic_note(1.0, f"{', '.join(fams)} offences counted here"))

    emit(doc, as_json, human)


def _tasking_layers(area, crime, start, end, res, officer_hours, cameras):
    """The borough's analysis, surge zones and camera sites for the printed maps.

    The maps then draw the analysis the plan was made from, so a zone always sits
    on hexagons the map shows as hot.
    """
    if officer_hours is None and cameras is None:
        return None, None, None
    from .analysis import analyse
    from .areas import resolve_area
    from .plan.cameras import site_cameras
    from .plan.patrols import plan_patrols
    from .report._pdf import report_period
    from .store import Store

    store = Store.open().pinned()  # one generation for the layers and the maps
    borough = resolve_area(area).boroughs[0]
    start, end = report_period(store, crime, start, end, area=borough)
    an = analyse(borough, crime, start, end, res=res, store=store)
    zones = (plan_patrols(an, officer_hours=officer_hours).zones
             if officer_hours is not None else None)
    sites = (site_cameras(an, cameras=cameras, rotations=1).sites
             if cameras else None)  # 0 cameras: none drawn, as the brief has it
    return an, zones, sites


@app.command()
def maps(
    borough: Annotated[str, typer.Option(help="A London borough (or one 2022 ward).")
                       ] = "Merton",
    out_dir: Annotated[str, typer.Option("--out", help="Folder for the PDFs.")
                       ] = "out/maps",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    res: ResOpt = 9,
    officer_hours: Annotated[float | None, typer.Option(
        "--officer-hours", help="Also draw the borough's surge zones for this "
                                "weekly budget.")] = None,
    cameras: Annotated[int | None, typer.Option(
        help="Also draw this many NOMAD camera sites.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Printable ward maps: one A4 PDF per 2022 ward plus a booklet per borough."""
    from .report.wardmaps import ward_maps
    from .store import relocated, staged_outputs

    with handled(as_json), progress_bar() as prog:
        _check_folders(out_dir)
        an, zones, sites = _tasking_layers(borough, crime, start, end, res,
                                           officer_hours, cameras)
        with staged_outputs(out_dir) as stage:  # the set whole, or the last one
            wm = ward_maps(borough, str(stage), crime, start, end, res=res,
                           zones=zones, sites=sites, analysis=an, progress=prog)
        wm = relocated(wm, stage, out_dir)
    doc = wm.to_json()

    def human() -> None:
        out.print(f"[bold]{len(wm.pdfs)} ward map(s)[/] of {wm.area.name}, {crime}, "
                  f"{wm.start}…{wm.end}, in {out_dir}")
        out.print(f"  booklet: {wm.booklet}")
        if wm.synthetic_share:
            _warn(synthetic_note(wm.synthetic_share, "offences mapped"))

    emit(doc, as_json, human)


@app.command()
def brief(
    area: AreaOpt = "Merton",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    officer_hours: HoursOpt = 60.0,
    cameras: CamerasOpt = 4,
    rotations: RotationsOpt = 3,
    res: PlanResOpt = 10,
    out_dir: Annotated[str, typer.Option("--out", help="Folder for the brief.")
                       ] = "out/brief",
    as_json: JsonOpt = False,
) -> None:
    """Printable A4 tasking brief (zones, camera sites, streets) plus CSV/GeoJSON."""
    from .report.brief import brief as write
    from .store import relocated, staged_outputs

    with handled(as_json), progress_bar() as prog:
        _check_folders(out_dir)
        with staged_outputs(out_dir) as stage:  # the set whole, or the last one
            b = write(area, crime, officer_hours, cameras, str(stage), start=start,
                      end=end, res=res, rotations=rotations, progress=prog)
        b = relocated(b, stage, out_dir)
    emit(b.to_json(), as_json, lambda: [out.print(line, highlight=False)
                                        for line in b.summary()])


@app.command()
def rank(
    borough: Annotated[str | None, typer.Option(
        help="Only this borough's wards (ranks stay London-wide).")] = None,
    crime: CrimeOpt = "all",
    start: FromOpt = None,
    end: ToOpt = None,
    out_file: Annotated[str, typer.Option("--out", help="CSV to write.")
                        ] = "out/ward_ranking.csv",
    pdf: Annotated[str | None, typer.Option("--pdf", help="Also write this PDF.")
                   ] = None,
    permutations: Annotated[int | None, typer.Option(
        help="Permutations of the London-wide Gi* (default: chosen for FDR).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ward priority ranking: every London ward on harm per 1,000 residents, harm,
    trend and hot spot share (CSV: read the BCU code "NA" with
    keep_default_na=False)."""
    from .population import WARD_CAVEAT
    from .report.ranking import READ_CSV_HINT, rank_wards, write_ranking_pdf

    with handled(as_json), progress_bar() as prog:
        _check_files(out_file, pdf)
        prog("ranking wards", 0, 2)
        rk = rank_wards(crime, start, end, permutations=permutations)
        if borough:
            rk = rk.for_area(borough)
        prog("ranking wards", 1, 2)
        csv_path = rk.write_csv(out_file)
        pdf_path = write_ranking_pdf(rk, pdf) if pdf else None
        prog("ranking wards", 2, 2)
    doc = rk.to_json(str(csv_path), str(pdf_path) if pdf_path else None)

    def human() -> None:
        t = Table(title=f"ward priority, {crime}, {rk.start}…{rk.end} (top 10)")
        for c in ("rank", "ward", "borough", "score", "reasons"):
            t.add_column(c)
        for r in rk.table.head(10).itertuples(index=False):
            t.add_row(str(r.london_rank), r.ward_name, r.borough, f"{r.score:.1f}",
                      r.reasons)
        out.print(t)
        out.print(WARD_CAVEAT, highlight=False)
        out.print(f"{len(rk.table)} wards written to {csv_path} (read with "
                  f"{READ_CSV_HINT})" + (f"; PDF {pdf_path}" if pdf_path else ""),
                  highlight=False)

    emit(doc, as_json, human)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port (1-65535).")
                    ] = 8050,
    users: Annotated[str | None, typer.Option(
        help="User file (name:role:bcrypt-hash lines); default "
             "$HOTSPOTS_USERS_FILE, $HOTSPOTS_USERS or the config folder.")] = None,
    tiles: Annotated[str | None, typer.Option(
        help="Base map: none, osm, os:KEY or a tile URL template ({z}/{x}/{y}); "
             "default $HOTSPOTS_TILES or none (nothing fetched).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="Server threads.")] = 8,
    precompute: Annotated[list[str] | None, typer.Option(
        "--precompute", help="Area whose default views to compute before serving; "
                             "repeat.")] = None,
    secure_cookies: Annotated[str | None, typer.Option(
        "--secure-cookies",
        help="Secure session cookies: auto (when reached over HTTPS, directly or "
             "per the X-Forwarded-Proto of a --trusted-proxies proxy), always or "
             "never; default "
             "$HOTSPOTS_SECURE_COOKIES or auto.")] = None,
    trusted_proxies: Annotated[int | None, typer.Option(
        "--trusted-proxies", min=0,
        help="Reverse proxies in front of the app whose X-Forwarded-For/-Proto are "
             "believed; default $HOTSPOTS_TRUSTED_PROXIES or 0.")] = None,
) -> None:
    """Start the Dash map (analyst and partner views, log-in required)."""
    from .access import (
        COOKIE_POLICIES,
        cookie_policy,
        load_users,
        trusted_proxy_count,
    )
    from .errors import check_choice
    from .limits import Limits

    with handled(False):
        accounts = load_users(users)
        body_cap = Limits.from_env().max_request_bytes
        if secure_cookies is not None:
            check_choice("--secure-cookies", secure_cookies, COOKIE_POLICIES)
            os.environ["HOTSPOTS_SECURE_COOKIES"] = secure_cookies
        if trusted_proxies is not None:
            os.environ["HOTSPOTS_TRUSTED_PROXIES"] = str(trusted_proxies)
        cookie_policy(), trusted_proxy_count()  # the environment's, checked now
        _check_port_free(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] binding to {host}: the app is reachable from "
                  "other machines; put it behind TLS.")
    shown = f"[{host}]" if ":" in host else host
    from waitress import serve as waitress_serve

    with handled(False):
        create_app = _app_factory()
        # made before it is announced: a bad --tiles or --precompute is said first
        application = create_app(users=accounts, tiles=tiles,
                                 precompute=tuple(precompute or ()))
        err.print(f"hotspots app on http://{shown}:{port} ({len(accounts)} "
                  "account(s))", highlight=False, markup=False)
        try:
            # X-Forwarded-* reach the app, which believes them only from
            # HOTSPOTS_TRUSTED_PROXIES proxies (waitress would drop them all)
            waitress_serve(application.server, host=host, port=port, threads=threads,
                           ident="hotspots", clear_untrusted_proxy_headers=False,
                           max_request_body_size=body_cap)
        except OSError as exc:
            if exc.errno in _BIND_ERRORS:
                raise ParameterError(_bind_message(host, port, exc)) from None
            raise


_BIND_ERRORS = (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)


def _app_factory():
    """The map app's factory. The app registers itself under the ``hotspots.apps``
    entry point (name ``map``), so the package never imports the app."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="hotspots.apps"):
        if ep.name == "map":
            return ep.load()
    raise ParameterError(
        "no map app is installed (entry point 'map' in group 'hotspots.apps'); "
        "install hotspots with its dashboards package: pip install -e .")


def _bind_message(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use (another app or a running "
                "hotspots serve); stop it or choose another --port.")
    if exc.errno == errno.EACCES:
        return (f"binding port {port} on {host} is not permitted (ports below 1024 "
                "need privileges); use a port such as 8050.")
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; use 127.0.0.1 or one of its."
    return f"cannot listen on {host}:{port} ({exc.strerror or exc})."


def _check_port_free(host: str, port: int) -> None:
    """Refuse, with one line, a host or port the server could not listen on."""
    import socket

    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ParameterError(f"'--host' {host!r} is not an address this machine can "
                             f"listen on ({exc}).") from None
    family, kind, proto, _, addr = info
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress
        try:
            sock.bind(addr)
        except OSError as exc:
            raise ParameterError(_bind_message(host, port, exc)) from None


def _read_password(from_stdin: bool) -> str:
    """The new password: stdin (one line), ``HOTSPOTS_PASSWORD``, or asked twice."""
    if from_stdin:
        try:
            secret = sys.stdin.readline().rstrip("\r\n")
        except UnicodeDecodeError:
            raise ParameterError("--password-stdin read bytes that are not UTF-8 "
                                 "text.") from None
        if not secret:
            raise ParameterError("--password-stdin read no password: pipe it in, e.g. "
                                 "`hotspots adduser ana --password-stdin < file`.")
        return secret
    env = os.environ.get("HOTSPOTS_PASSWORD")
    if env:
        return env
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True,
                            err=True)
    # no terminal (a pipe, a script): the same two lines, read without getpass
    lines = []
    for ask in ("Password: ", "Repeat for confirmation: "):
        sys.stderr.write(ask)
        lines.append(sys.stdin.readline())
    sys.stderr.write("\n")
    first, second = (line.rstrip("\r\n") for line in lines)
    if not lines[0]:
        raise ParameterError("no terminal to ask for the password on, and none "
                             "given: pass it with --password-stdin or "
                             "HOTSPOTS_PASSWORD.")
    if first != second:
        raise ParameterError("the two passwords do not match; nothing was saved.")
    return first


@app.command()
def adduser(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="analyst or partner")] = "partner",
    users: Annotated[str | None, typer.Option(
        help="User file (default $HOTSPOTS_USERS_FILE or the config folder).")
    ] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (one "
                                 "line) instead of asking for it.")] = False,
    password: Annotated[str | None, typer.Option(
        "--password", hidden=True,
        help="Refused: a password on the command line is kept in shell history.")
    ] = None,
) -> None:
    """Add or replace an app account (the password is stored as a bcrypt hash).

    The password is asked for twice without echo, or read from standard input
    (--password-stdin) or $HOTSPOTS_PASSWORD: never from the command line, where
    shell history and process lists would keep it. A running app logs out the
    account's old sessions at their next request.
    """
    from .access import add_user, check_account, default_users_path

    with handled(False):
        if password is not None:
            raise ParameterError(
                "'--password' is not accepted: a password on the command line stays "
                "in shell history and process lists. Type it at the prompt, or use "
                "--password-stdin or HOTSPOTS_PASSWORD.")
        check_account(name, role)
        path = add_user(users or default_users_path(), name, role,
                        _read_password(password_stdin))
    out.print(f"{name} ({role}) saved in {path}", highlight=False, markup=False)


@app.command()
def deluser(
    name: Annotated[str, typer.Argument(help="User name.")],
    users: Annotated[str | None, typer.Option(
        help="User file (default $HOTSPOTS_USERS_FILE or the config folder).")
    ] = None,
) -> None:
    """Remove an app account; a running app logs the user out at once."""
    from .access import default_users_path, remove_user

    with handled(False):
        path = remove_user(users or default_users_path(), name)
    out.print(f"{name} removed from {path}; their sessions end at their next request",
              highlight=False, markup=False)


def _split_list(text: str | None) -> list[str]:
    """``a,b`` or ``a;b`` (use ``;`` when a name holds a comma) as a list."""
    if not text:
        return []
    sep = ";" if ";" in text else ","
    return [x.strip() for x in text.split(sep) if x.strip()]


@app.command()
def impact(
    area: AreaOpt = "London",
    crime: CrimeOpt = "all",
    wards: Annotated[str | None, typer.Option(
        help="Surge wards, comma-separated (';' if a name has a comma).")] = None,
    cells: Annotated[str | None, typer.Option(
        help="Surge H3 cells, comma-separated.")] = None,
    start: Annotated[str, typer.Option(help="First surge month, YYYY-MM.")] = "",
    length: Annotated[int, typer.Option(help="Surge months.")] = 3,
    pre_months: Annotated[int, typer.Option(help="Months before the surge.")] = 12,
    buffer: Annotated[int, typer.Option(help="Buffer rings (0: none).")] = 1,
    controls: Annotated[int | None, typer.Option(
        help="Control cells (default 3 per treated cell).")] = None,
    family: Annotated[str, typer.Option(help="poisson or negbin")] = "poisson",
    res: Annotated[int, typer.Option(help="H3 resolution.")] = 9,
    seed: Annotated[int, typer.Option(help="Matching seed.")] = DEFAULT_SEED,
    as_json: JsonOpt = False,
) -> None:
    """Impact of a surge vs matched control cells (DiD), with displacement (WDQ)."""
    from .errors import ParameterError
    from .evaluate.impact import impact as do_impact

    with handled(as_json):
        if not start:
            raise ParameterError("'--start' (first surge month, YYYY-MM) is needed")
        res_ = do_impact(
            area, crime, start, length, cells=_split_list(cells),
            wards=_split_list(wards), res=res, pre_months=pre_months,
            buffer_k=buffer, n_controls=controls, seed=seed, family=family)

    def human() -> None:
        for line in res_.summary():
            out.print(line, highlight=False, markup=False)

    emit(res_.to_json(), as_json, human)


@app.command()
def stopsearch(
    area: AreaOpt = "London",
    crime: CrimeOpt = "robbery",
    start: FromOpt = None,
    end: ToOpt = None,
    level: Annotated[int, typer.Option(
        help="Hot spot level: 1 = 90 %, 2 = 95 %, 3 = 99 %.")] = 2,
    hot_from: Annotated[str | None, typer.Option(
        "--hot-from", help="Hot spot period start (default --from).")] = None,
    hot_to: Annotated[str | None, typer.Option(
        "--hot-to", help="Hot spot period end (default --to).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Share of stop and search in hot spots; find rates inside vs outside."""
    from .evaluate.stopsearch import stop_search_precision

    with handled(as_json):
        res_ = stop_search_precision(area, crime, start, end, level=level,
                                     hot_from=hot_from, hot_to=hot_to)

    def human() -> None:
        t = Table(title=f"Stop and search in {crime} hot spots")
        for c in ("borough", "month", "searches", "in hot", "find in", "find out",
                  "p"):
            t.add_column(c, justify="left" if c in ("borough", "month") else "right")
        for r in res_.table.itertuples(index=False):
            t.add_row(
                r.borough, r.month, f"{r.searches:,}",
                f"{r.in_hot:,} ({100 * r.share_in_hot:.0f} %)",
                "-" if r.rate_in != r.rate_in or r.rate_in is None
                else f"{100 * r.rate_in:.0f} %",
                "-" if r.rate_out != r.rate_out or r.rate_out is None
                else f"{100 * r.rate_out:.0f} %",
                "-" if r.p_value != r.p_value or r.p_value is None
                else f"{r.p_value:.2g}")
        out.print(t)
        for line in res_.summary():
            out.print(line, highlight=False, markup=False)

    emit(res_.to_json(), as_json, human)


@app.command()
def dosage(
    log: Annotated[list[str], typer.Option(
        "--log", help="Patrol log CSV (zone or cell, start, end); repeatable.")],
    plan: Annotated[str, typer.Option(
        "--plan", help="Plan JSON: zone -> minutes a week, or a patrol plan.")],
    start: Annotated[str | None, typer.Option(
        "--from", help="First day or ISO week (YYYY-MM-DD or YYYY-Www).")] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Last day or ISO week.")] = None,
    max_hours: Annotated[float, typer.Option(
        help="Longest believable visit (hours).")] = 12.0,
    quarantine: Annotated[str | None, typer.Option(
        "--quarantine", help="Write the quarantined rows to this CSV.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Dosage delivered: patrol minutes per zone and ISO week vs the plan."""
    from .evaluate.dosage import dosage as do_dosage

    with handled(as_json):
        _check_files(quarantine, inputs=(*log, plan))
        res_ = do_dosage(log, plan, start=start, end=end, max_hours=max_hours)
        if quarantine:
            res_.log.write_quarantine(quarantine)
    payload = res_.to_json() | {"quarantine_file": quarantine}

    def human() -> None:
        t = Table(title="Dosage delivered vs planned (minutes)")
        for c in ("zone", "week", "planned", "delivered", "share", "visits"):
            t.add_column(c, justify="left" if c in ("zone", "week") else "right")
        for r in res_.table.itertuples(index=False):
            share = r.delivered_share
            t.add_row(str(r.zone), r.week, f"{r.planned_minutes:.0f}",
                      f"{r.delivered_minutes:.0f}",
                      "-" if share != share else f"{100 * share:.0f} %",
                      str(r.visits))
        out.print(t)
        for line in res_.summary():
            out.print(line, highlight=False, markup=False)

    emit(payload, as_json, human)


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
