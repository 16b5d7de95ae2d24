"""What every ``eat`` command shares: the console, exit codes and one-line errors.

Light on purpose (Typer, Rich and the error classes): ``eat --help`` imports it. The database
and ``--app`` are in ``connect.py``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Coroutine, Iterator
from enum import IntEnum
from typing import Any, TypeVar

import typer
from rich.console import Console

from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    ConfigurationError,
    EvolvingAgentsError,
    InvalidDecision,
    NotAuthorized,
)

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


@contextlib.contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn the package's own errors into one red line and a meaningful exit code."""
    try:
        yield
    except NotAuthorized as exc:
        _exit(exc, ExitCode.FORBIDDEN)
    except ApprovalNotFound as exc:
        _exit(exc, ExitCode.NOT_FOUND)
    except ApprovalConflict as exc:
        _exit(exc, ExitCode.CONFLICT)
    except InvalidDecision as exc:
        _exit(exc, ExitCode.USAGE)
    except ConfigurationError as exc:
        _exit(exc, ExitCode.CONFIG)
    except EvolvingAgentsError as exc:
        _exit(exc, ExitCode.ERROR)


def _exit(exc: Exception, code: ExitCode) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise SystemExit(int(code))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # here: ~30 ms that ``eat --help``, which runs nothing, does not pay

    with fail_cleanly():
        return asyncio.run(coro)
    raise AssertionError("unreachable")  # pragma: no cover


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def fail(message: str, code: ExitCode) -> typer.Exit:
    """One red line on stderr; raise the returned ``typer.Exit``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(int(code))
