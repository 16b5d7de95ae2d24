"""What every ``eat`` command shares: the console, exit codes, one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine, Iterator
from enum import IntEnum
from typing import Any, TypeVar

import typer
from rich.console import Console

from evolving_agents.approvals.errors import ApprovalConflict, ApprovalNotFound
from evolving_agents.errors import ConfigurationError, EvolvingAgentsError

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


@contextlib.contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn the package's own errors into one red line and a meaningful exit code."""
    try:
        yield
    except ApprovalNotFound as exc:
        _exit(exc, ExitCode.NOT_FOUND)
    except ApprovalConflict as exc:
        _exit(exc, ExitCode.CONFLICT)
    except ConfigurationError as exc:
        _exit(exc, ExitCode.CONFIG)
    except EvolvingAgentsError as exc:
        _exit(exc, ExitCode.ERROR)


def _exit(exc: Exception, code: ExitCode) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise SystemExit(int(code))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    with fail_cleanly():
        return asyncio.run(coro)
    raise AssertionError("unreachable")  # pragma: no cover


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))
