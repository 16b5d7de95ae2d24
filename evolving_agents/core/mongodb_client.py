"""One MongoDB handle for the whole package, on PyMongo's native async client.

::

    client = MongoDBClient()                          # MONGODB_URI, else the embedded server
    client = MongoDBClient("memory://")               # in-process, nothing persists (tests)
    client = MongoDBClient("mongodb+srv://...", db_name="ops")
    client = MongoDBClient(client=motor_client)       # an existing EAT app's Motor client
    store = PendingApprovalStore(client)
    await client.close()

The connection is opened on first use, so building a client never blocks or starts a process.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from pymongo import AsyncMongoClient

from evolving_agents.config import Settings
from evolving_agents.errors import ConfigurationError

logger = logging.getLogger(__name__)

MEMORY_URI = "memory://"
_EMBEDDED = "embedded"


class MongoDBClient:
    """A database handle that works the same on a real server, the embedded one, or in memory.

    Store code uses only single-document atomic operations, which all three backends support.
    Injected clients (PyMongo ``AsyncMongoClient`` or Motor) are used as they are and never
    closed by ``close()``: their owner closes them.
    """

    def __init__(
        self,
        uri: str | None = None,
        db_name: str | None = None,
        *,
        client: Any = None,
        settings: Settings | None = None,
    ) -> None:
        self._settings = Settings() if settings is None else settings
        self.db_name = db_name or self._settings.mongodb_database_name
        self._owns_client = client is None
        self._client: Any = client
        if client is not None:
            self.uri = "injected"
        else:
            self.uri = uri or self._settings.mongodb_uri or _EMBEDDED
        self._database: Any = None

    @property
    def backend(self) -> str:
        """``memory``, ``embedded``, ``injected`` or ``mongodb``: where the data lives."""
        if self.uri == MEMORY_URI:
            return "memory"
        if self.uri in (_EMBEDDED, "injected"):
            return self.uri
        return "mongodb"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    @property
    def db(self) -> Any:
        if self._database is None:
            self._database = self.client[self.db_name]
        return self._database

    def collection(self, name: str) -> Any:
        return self.db[name]

    async def ping(self) -> None:
        """Raise if the server does not answer."""
        await self.db.command("ping")

    async def close(self) -> None:
        if self._client is None or not self._owns_client:
            return
        closing = self._client.close()
        if inspect.isawaitable(closing):
            await closing
        self._client = None
        self._database = None

    def _connect(self) -> Any:
        if self.uri == MEMORY_URI:
            return _memory_client()
        uri = self.uri
        if uri == _EMBEDDED:
            uri = _embedded_uri(self._settings)
        elif not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigurationError(
                f"MONGODB_URI {uri!r} is not a MongoDB URI: use mongodb://..., "
                "mongodb+srv://..., or memory:// for an in-process database"
            )
        return AsyncMongoClient(uri, tz_aware=True, appname="evolving-agents")

    async def __aenter__(self) -> MongoDBClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _memory_client() -> Any:
    try:
        from mongomock_motor import AsyncMongoMockClient
    except ImportError as exc:
        raise ConfigurationError(
            "memory:// needs mongomock-motor: pip install 'evolving-agents[dev]'"
        ) from exc
    return AsyncMongoMockClient(tz_aware=True)


def _embedded_uri(settings: Settings) -> str:
    from evolving_agents.core.embedded import EmbeddedServer

    # Finding a running server is one ping; starting one takes about a second, once per machine.
    # It blocks the caller's event loop that once, the price of a lazily connected client.
    return EmbeddedServer.from_settings(settings).ensure_running()
