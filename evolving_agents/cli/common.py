"""What every ``eat`` command shares: the console, exit codes, one-line errors, the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Coroutine, Iterator
from enum import IntEnum
from typing import Any, TypeVar

import typer
from rich.console import Console

from evolving_agents.config import Settings
from evolving_agents.errors import (
    ApprovalConflict,
    ApprovalNotFound,
    ConfigurationError,
    EvolvingAgentsError,
    InvalidDecision,
    NotAuthorized,
)
from evolving_agents.providers.agent_registry import AgentRegistry, load_app
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.storage.mongodb_client import MongoDBClient

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
    with fail_cleanly():
        return asyncio.run(coro)
    raise AssertionError("unreachable")  # pragma: no cover


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def fail(message: str, code: ExitCode) -> typer.Exit:
    """One red line on stderr; raise the returned ``typer.Exit``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


@contextlib.asynccontextmanager
async def database(
    ctx: typer.Context | None = None, settings: Settings | None = None
) -> AsyncIterator[MongoDBClient]:
    """The command's database: ``MONGODB_URI`` (else the embedded server), closed at the end.

    ``settings`` are the ones the command built; without them the environment is read here,
    once, for this command. A ``MongoDBClient`` passed as the root context's ``obj``
    (``CliRunner.invoke(app, args, obj=client)``) is used instead and left open: tests share
    one ``memory://`` database.
    """
    injected = None if ctx is None else ctx.find_root().obj
    if isinstance(injected, MongoDBClient):
        yield injected
        return
    client = MongoDBClient(settings=Settings() if settings is None else settings)
    try:
        yield client
    finally:
        await client.close()


def provider_from_app(spec: str, client: MongoDBClient) -> OpenAIAgentsProvider:
    """``--app module:attr``: an ``AgentRegistry`` (run on ``client``), an
    ``OpenAIAgentsProvider`` (used as it is), or a zero-argument callable returning either."""
    target = load_app(spec)
    if callable(target) and not isinstance(target, AgentRegistry | OpenAIAgentsProvider):
        target = target()
    if isinstance(target, OpenAIAgentsProvider):
        return target
    if isinstance(target, AgentRegistry):
        return OpenAIAgentsProvider(mongodb_client=client, registry=target)
    raise ConfigurationError(
        f"--app {spec!r} must name an AgentRegistry, an OpenAIAgentsProvider, or a "
        f"zero-argument callable returning one; got {type(target).__name__}"
    )
