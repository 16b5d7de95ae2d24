"""One MongoDB handle for the whole package, on PyMongo's native async client.

::

    client = MongoDBClient()                          # MONGODB_URI, else the embedded server
    client = MongoDBClient("memory://")               # in-process, nothing persists (tests)
    client = MongoDBClient("mongodb+srv://...", db_name="ops")
    client = MongoDBClient(client=motor_client)       # an existing EAT app's Motor client
    store = PendingApprovalStore(client)
    await client.close()

The connection is opened on first use, so building a client never blocks or starts a process.

Writes are acknowledged once durable: on the embedded server and on a ``mongodb://`` URI the
client writes with ``w="majority", journal=True`` (on disk, on a majority of a replica set;
on a single server, on its disk), unless the URI sets ``w`` or ``journal`` itself. On the
embedded default the client also follows the server: if it stops answering, the client looks
again (restarting a server that crashed) and reconnects, to its new address if it moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from typing import Any, cast

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from evolving_agents.config import Settings
from evolving_agents.errors import ConfigurationError, EvolvingAgentsError

logger = logging.getLogger(__name__)

MEMORY_URI = "memory://"
_EMBEDDED = "embedded"
# What "acknowledged" means unless the URI says otherwise: journaled to disk, on a majority
# of the replica set (a standalone or the embedded server: its own disk). A write lost after
# its acknowledgement is a pause or a decision lost.
DURABLE_WRITES: dict[str, Any] = {"w": "majority", "journal": True}
_WRITE_CONCERN_OPTIONS = frozenset({"w", "journal"})
# How often a client of the embedded server checks whether its server stopped answering.
_WATCH_SECONDS = 1.0
_GOODBYE_SECONDS = 1.0
_EMBEDDED_SELECTION_MS = 5000

Document = dict[str, Any]


class MongoDBClient:
    """A database handle that works the same on a real server, the embedded one, or in memory.

    Store code uses only single-document atomic operations, which all three backends support.
    Injected clients (PyMongo ``AsyncMongoClient`` or Motor) are used as they are (their
    write concern included) and never closed by ``close()``: their owner closes them.

    On the embedded default a background check (one per client, while an event loop runs)
    notices when the server stops answering and calls ``reconnect``. A collection object
    taken before the server moved to a new port belongs to the closed old client and fails
    from then on: take collections from ``collection()`` when they are used, as the store
    does. (The server keeps its port across restarts whenever it can, so moves are rare.)
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
        self._database: AsyncDatabase[Document] | None = None
        self._uri_in_use: str | None = None
        self._reachability: _Reachability | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> Settings:
        """The settings this client was built with: what every store on it reads, so nothing
        below the surfaces reads the environment on its own."""
        return self._settings

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
        """The driver's client: PyMongo's ``AsyncMongoClient``, or Motor or mongomock-motor's
        (injected or ``memory://``), hence ``Any``; take typed handles from ``db`` instead."""
        if self._client is None:
            self._client = self._connect()
        if self.uri == _EMBEDDED:
            self._keep_watching()
        return self._client

    @property
    def db(self) -> AsyncDatabase[Document]:
        """The database, typed as PyMongo's. On ``memory://`` (mongomock-motor) and on an
        injected Motor client the object is theirs, cast: they offer the same async methods
        the store uses (``find``, ``update_one``, ...), not every one PyMongo has."""
        if self._database is None:
            self._database = cast("AsyncDatabase[Document]", self.client[self.db_name])
        elif self.uri == _EMBEDDED:
            self._keep_watching()
        return self._database

    def collection(self, name: str) -> AsyncCollection[Document]:
        """One collection, typed as PyMongo's (see ``db``)."""
        return self.db[name]

    async def ping(self) -> None:
        """Raise if the server does not answer."""
        await self.db.command("ping")

    async def reconnect(self) -> bool:
        """Embedded default: connect to wherever the server answers now, restarting it if it
        crashed; True if the address changed. A server stopped on purpose (``eat db stop``)
        is not started again. Other backends reconnect on their own: False.
        """
        if self.uri != _EMBEDDED or self._client is None:
            return False
        from evolving_agents.storage.embedded import EmbeddedServer

        server = EmbeddedServer.from_settings(self._settings)
        # Blocking (a lock, maybe a server start): off the event loop.
        uri = await asyncio.to_thread(server.recover)
        if uri is None or uri == self._uri_in_use:
            return False
        logger.warning(
            "the embedded database moved from %s to %s; reconnecting", self._uri_in_use, uri
        )
        old, self._client = self._client, self._open(uri)
        self._database = None
        # Closed, not left to retry a dead address forever: anything still holding one of its
        # collections then fails at once (and can take a fresh one). In the background,
        # since closing first tries to end its sessions on the dead address (up to the
        # server selection timeout, 30 s).
        closing = asyncio.create_task(old.close(), name="eat-close-moved-client")
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        return True

    async def close(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog.get_loop() is asyncio.get_running_loop():
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        if self._closing:
            # A client left at a dead address need not say goodbye to it: a moment, no more.
            _, unfinished = await asyncio.wait(self._closing, timeout=_GOODBYE_SECONDS)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
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
        return self._open(uri)

    def _open(self, uri: str) -> Any:
        listeners: list[monitoring.ServerHeartbeatListener] = []
        options: dict[str, Any] = durable_write_options(uri)
        if self.uri == _EMBEDDED:
            self._reachability = _Reachability()
            listeners.append(self._reachability)
            # A local server is back within seconds of a restart, or has moved: an operation
            # waits that long for it, not the 30 s meant for a failover across machines.
            options["serverSelectionTimeoutMS"] = _EMBEDDED_SELECTION_MS
        self._uri_in_use = uri
        return AsyncMongoClient(
            uri, tz_aware=True, appname="evolving-agents", event_listeners=listeners, **options
        )

    def _keep_watching(self) -> None:
        """Start the embedded server check in the running loop (once per loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # used outside an event loop: the next use inside one starts it
        watchdog = self._watchdog
        if watchdog is not None and not watchdog.done() and watchdog.get_loop() is loop:
            return
        self._watchdog = loop.create_task(self._watch(), name="eat-embedded-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(_WATCH_SECONDS)
            if self._reachability is None or self._reachability.answering:
                continue
            try:
                await self.reconnect()
            except (EvolvingAgentsError, OSError) as exc:
                # The next round tries again; meanwhile operations fail and are retried by
                # their callers (the worker backs off, the inbox shows an error page).
                logger.warning("the embedded database does not answer: %s", exc)

    async def __aenter__(self) -> MongoDBClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def durable_write_options(uri: str) -> dict[str, Any]:
    """``w="majority", journal=True`` for ``AsyncMongoClient``, unless ``uri`` sets ``w`` or
    ``journal`` itself (then the URI's choice stands)."""
    _, _, query = uri.partition("?")
    names = {part.split("=", 1)[0].strip().lower() for part in re.split("[&;]", query) if part}
    return {} if names & _WRITE_CONCERN_OPTIONS else dict(DURABLE_WRITES)


class _Reachability(monitoring.ServerHeartbeatListener):
    """Whether the driver's last check of the server got an answer (set from its monitor)."""

    def __init__(self) -> None:
        self.answering = True

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        self.answering = True

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        self.answering = False


def _memory_client() -> Any:
    try:
        from mongomock_motor import AsyncMongoMockClient
    except ImportError as exc:
        raise ConfigurationError(
            "memory:// needs mongomock-motor: pip install 'evolving-agents[dev]'"
        ) from exc
    return AsyncMongoMockClient(tz_aware=True)


def _embedded_uri(settings: Settings) -> str:
    from evolving_agents.storage.embedded import EmbeddedServer

    # Finding a running server is one ping; starting one takes about a second, once per machine.
    # It blocks the caller's event loop that once, the price of a lazily connected client.
    return EmbeddedServer.from_settings(settings).ensure_running()
