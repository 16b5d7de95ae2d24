"""What every ``eat`` command shares: the console, exit codes and one-line errors.

Light on purpose (Typer, Rich and the error classes): ``eat --help`` imports it. The database
and ``--app`` are in ``connect.py``.

A database that does not answer is one line, exit 5, never the driver's dump::

    error: cannot reach the database evolving_agents at mongodb://ops:****@db.example.com/:
    connection refused (no answer within 5 s); is the server running and reachable from
    here? check MONGODB_URI

Under ``--json`` the same error is one JSON object on stderr (stdout stays the data alone, so
a failed command prints nothing there), with the same exit code::

    {"error": "approval apr_9f: not found", "code": 3, "kind": "not_found"}
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Coroutine, Iterator
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape, render

from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    ApprovalStoreError,
    ConfigurationError,
    EvolvingAgentsError,
    InvalidDecision,
    NotAuthorized,
    PortInUse,
)

if TYPE_CHECKING:
    from typer._click import Context
try:  # Typer 0.29 vendors Click; older versions use Click itself
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover
    from click import get_current_context  # type: ignore[no-redef]

console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    CONFIG = 5
    REJECTED = 6
    FORBIDDEN = 7
    PORT_IN_USE = 8
    """A configuration error of its own: a port to listen on is taken (``PortInUse``)."""
    TIMEOUT = 9
    """``eat approvals wait --timeout``: the record did not change in time."""


# The package's errors, most specific first, and the exit code each one means.
_EXIT_CODES: tuple[tuple[type[EvolvingAgentsError], ExitCode], ...] = (
    (NotAuthorized, ExitCode.FORBIDDEN),
    (ApprovalNotFound, ExitCode.NOT_FOUND),
    (ApprovalConflict, ExitCode.CONFLICT),
    (InvalidDecision, ExitCode.USAGE),
    (PortInUse, ExitCode.PORT_IN_USE),
    (ConfigurationError, ExitCode.CONFIG),
    (EvolvingAgentsError, ExitCode.ERROR),
)


@contextlib.contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn the package's own errors into one red line and a meaningful exit code.

    A database that does not answer (or refuses the URI's credentials) and settings that do
    not parse are configuration problems: exit 5, one line saying where and what to check.
    Anything else not ours is a bug and keeps its traceback.
    """
    with _terminal_warnings() as warnings:
        try:
            yield
        except Exception as exc:
            shown = _shown(exc)
            if shown is None:
                raise
            warnings.report(exc)
            _exit(*shown)


def _shown(exc: Exception) -> tuple[Exception | str, ExitCode] | None:
    """The line and exit code for ``exc``, or None when it is not an error to show so."""
    if isinstance(exc, ApprovalStoreError) or not isinstance(exc, EvolvingAgentsError):
        # A driver error, wrapped by the store or not, or settings that do not parse.
        problem = _unreachable(exc) or _settings_problem(exc)
        if problem is not None:
            return problem, ExitCode.CONFIG
    for kind, code in _EXIT_CODES:
        if isinstance(exc, kind):
            return exc, code
    return None


def _exit(exc: Exception | str, code: ExitCode) -> None:
    # Escaped: a message quoting "[...]" (a driver's "[Errno 111]", a JSON list) is text.
    print_error(escape(str(exc)), code)
    raise SystemExit(int(code))


def _unreachable(exc: BaseException) -> Exception | None:
    """``DatabaseUnreachable`` for the command's database when ``exc`` says it did not answer."""
    if not any(type(error).__module__.startswith("pymongo") for error in _chain(exc)):
        return None  # no driver error: no need to load the driver (``eat --help`` stays light)
    from evolving_agents.config import Settings
    from evolving_agents.storage.mongodb_client import DatabaseUnreachable, MongoDBClient

    # The database the command was given: every command builds its client from these
    # settings (building one connects nothing).
    return DatabaseUnreachable.of(MongoDBClient(settings=Settings()), exc)


def _settings_problem(exc: BaseException) -> str | None:
    """One line for settings that do not parse (``EAT_APPROVAL_TIMEOUT=soon``), else None."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(exc, pydantic.ValidationError):
        return None
    if not exc.title.endswith("Settings"):
        return None
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


class _HeldWarnings(logging.Handler):
    """What a command shows of the package's log when nothing configured logging.

    Python's last-resort handler prints each warning on stderr; this one does the same, but
    holds a warning that carries a driver error until the command's end or the next warning:
    the store logs a failure (the driver's whole dump) and raises it, and when the command
    then reports that same error as its one line, the held warning is dropped.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(message)s"))
        self._held: list[tuple[logging.LogRecord, list[BaseException]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        errors = _driver_errors_in(record)
        if errors:
            self._held.append((record, errors))
            return
        self._print_held()
        self._write(record)

    def report(self, exc: BaseException) -> None:
        """The command reports ``exc``: drop the held warnings about it or its causes, and
        print the others (before the command's own line)."""
        chain = {id(error) for error in _chain(exc)}
        with self.lock or contextlib.nullcontext():
            self._held = [
                (record, errors)
                for record, errors in self._held
                if not any(id(error) in chain for error in errors)
            ]
            self._print_held()

    def print_held(self) -> None:
        """Print what is still held (a ``fail_cleanly`` block ended without reporting it)."""
        with self.lock or contextlib.nullcontext():
            self._print_held()

    def _print_held(self) -> None:
        held, self._held = self._held, []
        for record, _ in held:
            self._write(record)

    def _write(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            self.handleError(record)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, nearest first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _driver_errors_in(record: logging.LogRecord) -> list[BaseException]:
    found = [arg for arg in _args_of(record) if isinstance(arg, BaseException)]
    if record.exc_info and record.exc_info[1] is not None:
        found.append(record.exc_info[1])
    return [error for error in found if type(error).__module__.startswith("pymongo")]


def _args_of(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return () if args is None else tuple(args.values())


@contextlib.contextmanager
def _terminal_warnings() -> Iterator[_HeldWarnings]:
    """Stand in for Python's last-resort log handler while a command runs (the outermost
    ``fail_cleanly`` installs it; a command that configures logging bypasses it)."""
    current = logging.lastResort
    handler = current if isinstance(current, _HeldWarnings) else _HeldWarnings()
    logging.lastResort = handler
    try:
        yield handler
    finally:
        # Whatever this block did not report as its error is shown now, not at the exit.
        handler.print_held()
        logging.lastResort = current


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # here: ~30 ms that ``eat --help``, which runs nothing, does not pay

    with fail_cleanly():
        return asyncio.run(coro)
    raise AssertionError("unreachable")  # pragma: no cover


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def fail(message: str, code: ExitCode, **fields: Any) -> typer.Exit:
    """One red line on stderr (Rich markup); raise the returned ``typer.Exit``. Under
    ``--json`` a JSON object instead, with ``fields`` (JSON values) added to it."""
    print_error(message, code, **fields)
    return typer.Exit(int(code))


JSON_ERRORS = "evolving_agents.json_errors"
"""Key of the root context's ``meta``: whether the command line asked for ``--json``."""


def print_error(message: str, code: int, **fields: Any) -> None:
    """``message`` (Rich markup) as the command's one error line on stderr, or as
    ``{"error", "code", "kind", **fields}`` when the command runs with ``--json``."""
    if not json_errors():
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        return
    try:
        plain = render(message).plain
    except MarkupError:
        plain = message
    try:
        kind = ExitCode(code).name.lower()
    except ValueError:
        kind = "error"
    error = {"error": plain, "code": code, "kind": kind, **fields}
    sys.stderr.write(json.dumps(error, default=str) + "\n")
    sys.stderr.flush()


def json_errors(ctx: Context | None = None) -> bool:
    """Whether the running command was given ``--json`` (its errors are then JSON too).

    The command's own parsed ``--json`` when it has one; before a command parsed its
    options (a missing option, an unknown command), whether ``--json`` was on the line.
    """
    current = ctx or get_current_context(silent=True)
    if current is None:
        return False
    node: Context | None = current
    while node is not None:
        if "as_json" in node.params:
            return bool(node.params["as_json"])
        node = node.parent
    return bool(current.meta.get(JSON_ERRORS))


LOG_LEVELS = ("debug", "info", "warning", "error")


@contextlib.contextmanager
def configured_logging(level: str, *, live: Console | None = None) -> Iterator[None]:
    """The package's log lines at ``level`` on stderr, or above a Rich ``Live`` display, while
    the block runs; the root logger's handlers and level as they were afterwards.

    Under a live display the lines go through that display's console (a ``RichHandler``), so
    they print above the table instead of tearing it; otherwise one plain line each.
    """
    name = level.strip().upper()
    if name.lower() not in LOG_LEVELS:
        raise typer.BadParameter(
            f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {level!r}"
        )
    handler: logging.Handler
    if live is not None:
        from rich.logging import RichHandler

        handler = RichHandler(console=live, show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    root.handlers[:] = [handler]  # only these lines, as basicConfig(force=True) would
    root.setLevel(getattr(logging, name))
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        handler.close()
