"""One MongoDB handle for the whole package, on PyMongo's native async client.

::

    client = MongoDBClient()                          # MONGODB_URI, else the embedded server
    client = MongoDBClient("memory://")               # in-process, nothing persists (tests)
    client = MongoDBClient("mongodb+srv://...", db_name="ops")
    client = MongoDBClient(client=motor_client)       # an existing EAT app's Motor client
    store = PendingApprovalStore(client)
    await client.close()

The connection is opened on first use, so building a client never blocks or starts a process.

An operation waits ``EAT_SERVER_SELECTION_TIMEOUT`` (5 s) for a server to answer, unless the
URI sets ``serverSelectionTimeoutMS``; then it fails. ``DatabaseUnreachable.of(client, exc)``
turns that failure into one line naming the URI (password masked), the database and what to
check: what the ``eat`` commands print.

Writes are acknowledged once durable: on the embedded server and on a ``mongodb://`` URI the
client writes with ``w="majority", journal=True`` (on disk, on a majority of a replica set;
on a single server, on its disk), unless the URI sets ``w`` or ``journal`` itself. On the
embedded default the client also follows the server: if it stops answering, the client looks
again (restarting a server that crashed) and reconnects, to its new address if it moved.

Size: about 470 lines, over the ~400 mark: the client and the one error it turns every
unanswered operation into (``DatabaseUnreachable``, with the few words it takes from the
driver's dump) are read together; the embedded server's process lives in ``embedded*.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
from typing import Any, cast

import pymongo
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError as DriverConfigurationError
from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError

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
_SELECTION_TIMEOUT_OPTION = "serverselectiontimeoutms"
# How often a client of the embedded server checks whether its server stopped answering.
_WATCH_SECONDS = 1.0
_GOODBYE_SECONDS = 0.5
# The server's answer to a user or password it does not accept.
_AUTHENTICATION_FAILED = 18

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
    does. (The server keeps its port, ``EAT_DB_PORT``, across restarts; it moves only when
    that is 0 and its last port was taken.)
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
        # name -> the collection of ``_database`` (cleared with it): a handle per use is
        # PyMongo's object construction on every command of the hot path.
        self._collections: dict[str, AsyncCollection[Document]] = {}
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
        """One collection, typed as PyMongo's (see ``db``); the same handle while the
        database is (a client that moved to a new embedded server gives new ones)."""
        db = self.db
        held = self._collections.get(name)
        if held is None:
            held = self._collections[name] = db[name]
        return held

    async def ping(self) -> None:
        """Raise if the server does not answer."""
        await self.db.command("ping")

    async def has_collection(self, name: str) -> bool:
        """Whether the database has a collection of that name (made by its first write)."""
        return name in await self.db.list_collection_names(filter={"name": name})

    def address(self) -> str:
        """Where the data lives, as error messages show it: the URI with any password masked
        (``mongodb://ops:****@db.example.com/``), ``memory://``, or the embedded server's URI
        (read from its state file until this client connects)."""
        if self.uri == "injected":
            return "an injected client"
        if self._uri_in_use is not None:
            return mask_uri(self._uri_in_use)
        if self.uri == _EMBEDDED:
            from evolving_agents.storage.embedded import EmbeddedServer

            found = EmbeddedServer.from_settings(self._settings).status().uri
            return "the embedded server" if found is None else mask_uri(found)
        return mask_uri(self.uri)

    def selection_timeout_seconds(self) -> float:
        """How long an operation waits for the server: the URI's ``serverSelectionTimeoutMS``,
        else ``EAT_SERVER_SELECTION_TIMEOUT``."""
        from_uri = _uri_option(self._uri_in_use or self.uri, _SELECTION_TIMEOUT_OPTION)
        if from_uri is not None:
            with contextlib.suppress(ValueError):
                return float(from_uri) / 1000
        return self._settings.server_selection_timeout_ms / 1000

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
        self._collections.clear()
        # Closed, not left to retry a dead address forever: anything still holding one of its
        # collections then fails at once (and can take a fresh one). In the background,
        # since closing first tries to end its sessions on the dead address (up to the
        # server selection timeout).
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
        # Closing ends the client's sessions on the server: a server that does not answer
        # would hold the close (and the exit of eat inbox or eat worker) for the whole server
        # selection timeout. A moment, then the sessions expire on the server by themselves.
        with pymongo.timeout(_GOODBYE_SECONDS):
            closing = self._client.close()
            if inspect.isawaitable(closing):
                await closing
        self._client = None
        self._database = None
        self._collections.clear()

    def _connect(self) -> Any:
        if self.uri == MEMORY_URI:
            return _memory_client()
        uri = self.uri
        if uri == _EMBEDDED:
            uri = _embedded_uri(self._settings)
        elif not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigurationError(
                f"MONGODB_URI {mask_uri(uri)!r} is not a MongoDB URI: use mongodb://..., "
                "mongodb+srv://..., or memory:// for an in-process database"
            )
        try:
            return self._open(uri)
        except DriverConfigurationError as exc:  # InvalidURI, an unknown option, SRV lookup
            raise ConfigurationError(f"MONGODB_URI {mask_uri(uri)}: {exc}") from None

    def _open(self, uri: str) -> Any:
        listeners: list[monitoring.ServerHeartbeatListener] = []
        options: dict[str, Any] = durable_write_options(uri)
        if _uri_option(uri, _SELECTION_TIMEOUT_OPTION) is None:
            # Seconds, not PyMongo's 30: a server that is not there is an error the user
            # sees at once. (A local embedded server is back within that after a restart.)
            options["serverSelectionTimeoutMS"] = self._settings.server_selection_timeout_ms
        if self.uri == _EMBEDDED:
            self._reachability = _Reachability()
            listeners.append(self._reachability)
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
        said = None
        while True:
            await asyncio.sleep(_WATCH_SECONDS)
            if self._reachability is None or self._reachability.answering:
                said = None
                continue
            try:
                await self.reconnect()
            except (EvolvingAgentsError, OSError) as exc:
                # The next round tries again; meanwhile operations fail and are retried by
                # their callers (the worker backs off, the inbox shows an error page). Said
                # once, not every second: the port it needs may stay taken for hours.
                if str(exc) != said:
                    logger.warning("the embedded database does not answer: %s", exc)
                said = str(exc)

    async def __aenter__(self) -> MongoDBClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def durable_write_options(uri: str) -> dict[str, Any]:
    """``w="majority", journal=True`` for ``AsyncMongoClient``, unless ``uri`` sets ``w`` or
    ``journal`` itself (then the URI's choice stands)."""
    names = set(_uri_options(uri))
    return {} if names & _WRITE_CONCERN_OPTIONS else dict(DURABLE_WRITES)


def _uri_options(uri: str) -> dict[str, str]:
    """The URI's query options, names lowercased (MongoDB's option names ignore case)."""
    _, _, query = uri.partition("?")
    pairs = (part.split("=", 1) for part in re.split("[&;]", query) if part)
    return {pair[0].strip().lower(): pair[1] if len(pair) > 1 else "" for pair in pairs}


def _uri_option(uri: str, name: str) -> str | None:
    return _uri_options(uri).get(name)


# Query options that carry a secret.
_SECRET_OPTION = re.compile(
    r"(?P<name>[?&;](?:[a-z]*password|authmechanismproperties)=)[^&;#]*", re.I
)


def mask_uri(uri: str) -> str:
    """``uri`` with its password, and any option that holds a secret, shown as ``****``:
    ``mongodb://ops:****@db.example.com/?tlsCertificateKeyFilePassword=****``."""
    scheme, separator, rest = uri.partition("://")
    if separator:
        # The user info ends at the last "@" before the options: a valid URI percent-encodes
        # "@", "/" and "?" in a password, but a mistyped one must not show it either.
        before, question, options = rest.partition("?")
        user_info, at, after = before.rpartition("@")
        if at and ":" in user_info:
            before = f"{user_info.split(':', 1)[0]}:****@{after}"
        uri = f"{scheme}://{before}{question}{options}"
    return _SECRET_OPTION.sub(r"\g<name>****", uri)


class DatabaseUnreachable(ConfigurationError):
    """The database did not answer within the server selection timeout, or refused the
    credentials in the URI. The message is one line: where (the URI, password masked, and
    the database), why, and what to check. ``address``, ``db_name`` and ``reason`` hold
    the parts.

    ::

        try:
            await store.list()
        except ApprovalStoreError as exc:
            if (unreachable := DatabaseUnreachable.of(client, exc)) is not None:
                raise unreachable from exc
    """

    def __init__(self, address: str, db_name: str, reason: str, hint: str) -> None:
        super().__init__(f"cannot reach the database {db_name} at {address}: {reason}; {hint}")
        self.address = address
        self.db_name = db_name
        self.reason = reason

    @classmethod
    def of(
        cls, client: MongoDBClient, exc: BaseException, *, waited: float | None = None
    ) -> DatabaseUnreachable | None:
        """What ``exc`` (a driver error, or one of ours caused by it) means for ``client``:
        no server answered (so nothing was sent), or the credentials were refused. None
        otherwise: a server that answered, or a connection that dropped mid-operation (a
        write may have landed: the store's own error says so). ``waited``: how long the
        operation waited, when not the client's server selection timeout."""
        cause = _driver_cause(exc)
        if isinstance(cause, OperationFailure) and cause.code == _AUTHENTICATION_FAILED:
            return cls(
                client.address(),
                client.db_name,
                "the server refused the credentials (authentication failed)",
                "check the user, the password and authSource in MONGODB_URI",
            )
        if not isinstance(cause, ServerSelectionTimeoutError):
            return None
        return cls._no_answer(client, cause, waited)

    @classmethod
    def of_check(
        cls, client: MongoDBClient, exc: PyMongoError, *, waited: float
    ) -> DatabaseUnreachable | None:
        """What a failed check (a ``ping``, which changes nothing) means: any error but the
        server's own answer is "no answer", a connection refused as much as a timeout. None:
        the server answered, with an error other than refused credentials."""
        found = cls.of(client, exc, waited=waited)
        if found is not None or isinstance(_driver_cause(exc), OperationFailure):
            return found
        return cls._no_answer(client, exc, waited)

    @classmethod
    def _no_answer(
        cls, client: MongoDBClient, cause: BaseException, waited: float | None
    ) -> DatabaseUnreachable:
        seconds = client.selection_timeout_seconds() if waited is None else waited
        no_answer = f"no answer within {seconds:g} s"
        why = _connection_reason(str(cause))
        if client.backend == "embedded":
            hint = "is it running? see eat db status"
        else:
            hint = "is the server running and reachable from here? check MONGODB_URI"
        reason = no_answer if why is None else f"{why} ({no_answer})"
        return cls(client.address(), client.db_name, reason, hint)


def _driver_cause(exc: BaseException) -> BaseException | None:
    """The driver's error behind ``exc``: itself, or the first one in its causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ServerSelectionTimeoutError | OperationFailure):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


_ERRNO = re.compile(r"\[Errno (-?\d+)\] ([^(,]*)")
_SERVER_PREFIX = re.compile(r"^[^\s:]+:\d+: ")


def driver_reason(exc: BaseException) -> str:
    """A driver error in a few words for a log line ("connection refused", "timed out"),
    never PyMongo's multi-line topology dump; the error's type when it has nothing shorter."""
    return _connection_reason(str(exc)) or type(exc).__name__


def _connection_reason(message: str) -> str | None:
    """A few words from PyMongo's server selection dump: "connection refused", "timed out",
    "name or service not known"; None when it has nothing shorter to say."""
    first = re.split(r" \(configured timeouts|, Timeout: ", message, maxsplit=1)[0]
    errno = _ERRNO.search(first)
    if errno is not None:
        number = int(errno.group(1))
        text = os.strerror(number) if number > 0 else errno.group(2).strip()
        return text[:1].lower() + text[1:]
    first = _SERVER_PREFIX.sub("", first).strip()
    if not first or len(first) > 80 or "Topology Description" in first:
        return None
    return first[:1].lower() + first[1:]


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
