"""Where a command's records and agents come from: the database and ``--app``.

::

    async with database(ctx) as client:              # MONGODB_URI, else the embedded server
        store = PendingApprovalStore(client)
        provider = provider_from_app("myapp.agents:registry", client)   # loads the Agents SDK

The Agents SDK is imported by ``provider_from_app`` only, when a command needs your agents
(resume, an edited or suggested approval, the inbox with ``--app``): listing, showing and
deciding read the store alone, so they start without it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from evolving_agents.config import Settings
from evolving_agents.errors import ConfigurationError
from evolving_agents.storage.mongodb_client import MongoDBClient

if TYPE_CHECKING:
    from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider


def _use_app_dir(value: str) -> str:
    """Put ``--app-dir`` (the current directory unless given) first on the import path, as
    uvicorn and celery do, so ``--app myapp.agents:registry`` finds the project it runs in."""
    directory = str(Path(value).expanduser().resolve())
    if not Path(directory).is_dir():
        raise typer.BadParameter(f"{value!r} is not a directory", param_hint="--app-dir")
    if sys.path[:1] != [directory]:
        sys.path.insert(0, directory)
    return directory


AppDirOption: str = typer.Option(
    ".",
    "--app-dir",
    callback=_use_app_dir,
    help="Where --app's module is looked for (put first on the import path).",
)


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
    # Here, not at the top: the SDK costs seconds to import and only this path runs agents.
    from evolving_agents.providers.agent_registry import AgentRegistry, load_app
    from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider

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
