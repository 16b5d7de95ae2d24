"""The embedded default: one local SecantusDB server per machine, started on demand.

When ``MONGODB_URI`` is not set, the package uses a SecantusDB server (a MongoDB wire server)
that it starts itself as a background process and finds again through a state file::

    from pymongo import MongoClient

    from evolving_agents.storage.embedded import EmbeddedServer

    server = EmbeddedServer.from_settings(settings)   # EAT_DATA_DIR, port EAT_DB_PORT (27217)
    uri = server.ensure_running()             # starts it once; every later caller reuses it
    client = MongoClient(uri)                 # a single-node replica set: change streams work
    server.status().running                   # True
    server.stop()                             # what ``eat db stop`` does

Writes are durable: the server runs with ``--sync-on-commit`` (each commit fsyncs the
journal before it is acknowledged), and ``MongoDBClient`` also asks for ``j: true`` on every
write, so an acknowledged write survives a SIGKILL of the server (or a power cut) even on a
server an older version started without the flag.

The server listens on one port, ``EAT_DB_PORT`` (27217 by default), on every start: a client
holding the address reconnects by itself after ``eat db stop`` and ``eat db start``, and a
port some other program took is an error naming it (``EmbeddedPortInUse``), never a move.
With port 0 the server takes any free port, the last one again while it stays free;
``recover`` finds (or restarts) it for a client whose server moved.

SecantusDB is GPL, so it only ever runs as a separate ``secantusd-py`` process; this module
never imports it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from evolving_agents.config import Settings
from evolving_agents.storage.embedded_process import (
    EXECUTABLE_NAME,
    KILL_WAIT_SECONDS,
    PING_TIMEOUT_MS,
    EmbeddedPortInUse,
    EmbeddedServerError,
    exclusive_lock,
    free_port,
    home_port,
    is_server_process,
    kill,
    pid_alive,
    ping,
    port_if_free,
    port_in_use,
    reap_in_background,
    resolve_executable,
    secantus_version,
    spawn,
    terminate,
    uri_for,
    wait_until_answering,
)

__all__ = [
    "EXECUTABLE_NAME",
    "EmbeddedPortInUse",
    "EmbeddedServer",
    "EmbeddedServerError",
    "EmbeddedServerStatus",
]

logger = logging.getLogger(__name__)

_STATE_FILE = "server.json"
_PORT_FILE = "server.port"
_LOCK_FILE = "server.lock"
_LOG_FILE = "server.log"
_CONFIG_FILE = "secantusd.toml"
_STORAGE_DIR = "db"
_LOCK_GRACE_SECONDS = 30.0
# How long a restart waits for the last port to be released by a server that just died.
_PORT_WAIT_SECONDS = 1.0
_CONFIG_TEXT = """\
# Config of the embedded SecantusDB server started by evolving-agents.
# Host, port, storage path, log level and --sync-on-commit (durable writes) are passed on the
# command line and win over this file.
# Passing this file with --config also stops secantusd-py from reading ~/.secantus/secantusd.toml,
# which could otherwise turn on auth or TLS behind the package's back.
"""


class EmbeddedServerStatus(BaseModel):
    """What :meth:`EmbeddedServer.status` found; JSON-safe for ``eat db status``."""

    running: bool = Field(description="The recorded process is alive and answers a ping.")
    pid: int | None = Field(description="The recorded process, while it is alive.")
    host: str
    port: int | None = Field(description="The recorded port, while the process is alive.")
    configured_port: int = Field(
        default=0, description="Where a new server listens (EAT_DB_PORT); 0: any free port."
    )
    uri: str | None = Field(description="The connection string, only while running.")
    durable_writes: bool | None = Field(
        default=None,
        description="The recorded server fsyncs each commit (--sync-on-commit), while running.",
    )
    data_dir: str
    storage_path: str
    log_path: str


class _ServerState(BaseModel):
    """The content of ``server.json``; written only while holding ``server.lock``."""

    pid: int = Field(gt=0)
    host: str
    port: int = Field(gt=0, lt=65536)
    storage_path: str
    started_at: datetime
    executable: str
    secantus_version: str | None = None
    # Absent in files written before writes were made durable: those servers ran without it.
    sync_on_commit: bool = False


class EmbeddedServer:
    """A SecantusDB server shared by every process that uses the same data directory.

    Layout under ``data_dir``::

        server.json     state file: pid, host, port, storage path, start time, version
        server.port     the port the server last listened on (with port 0, taken again
                        while it is free)
        server.lock     flock held while starting or stopping
        server.log      the server's stdout and stderr, appended across runs
        secantusd.toml  server config, written once (comments only) and then left to the user
        db/             the server's storage

    Concurrency: starting and stopping hold an exclusive ``flock`` on ``server.lock``, so any
    number of threads or processes calling :meth:`ensure_running` at once end up sharing one
    server. :meth:`status` takes no lock: the state file is replaced atomically, so it never
    reads a half-written one.

    The server runs in a session of its own: it outlives the process that started it and does
    not get that process's Ctrl-C. Only :meth:`stop` (``eat db stop``) ends it. ``extra_args``
    go last on the server's command line, so they override the flags set here.

    ``port``: where a new server listens, every time (taken: ``EmbeddedPortInUse``); 0, the
    default here, any free port. A running server is reused on whatever port it has.
    ``from_settings`` passes ``EAT_DB_PORT``, which defaults to 27217.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        executable: str | None = None,
        startup_timeout: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        # Absolute, because the server runs with data_dir as its working directory.
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.host = host
        if not 0 <= port < 65536:
            raise ValueError(f"port must be 0 (any free port) or 1-65535, got {port}")
        self.port = port
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedServer:
        """The server for ``EAT_DATA_DIR`` (else ``$XDG_DATA_HOME/evolving-agents``), listening
        on ``EAT_DB_PORT``."""
        return cls(settings.resolved_data_dir(), port=settings.db_port)

    @property
    def state_path(self) -> Path:
        return self.data_dir / _STATE_FILE

    @property
    def lock_path(self) -> Path:
        return self.data_dir / _LOCK_FILE

    @property
    def log_path(self) -> Path:
        return self.data_dir / _LOG_FILE

    @property
    def config_path(self) -> Path:
        return self.data_dir / _CONFIG_FILE

    @property
    def storage_path(self) -> Path:
        return self.data_dir / _STORAGE_DIR

    def status(self) -> EmbeddedServerStatus:
        """Read the state file; ``running`` only if its pid is alive and a ping answers."""
        state = self._read_state()
        alive = state is not None and pid_alive(state.pid)
        uri = None if state is None else uri_for(state.host, state.port)
        running = alive and uri is not None and ping(uri, PING_TIMEOUT_MS)
        return EmbeddedServerStatus(
            running=running,
            pid=state.pid if state is not None and alive else None,
            host=self.host if state is None else state.host,
            port=state.port if state is not None and alive else None,
            configured_port=self.port,
            uri=uri if running else None,
            durable_writes=state.sync_on_commit if state is not None and running else None,
            data_dir=str(self.data_dir),
            storage_path=str(self.storage_path),
            log_path=str(self.log_path),
        )

    def ensure_running(self) -> str:
        """Return the server's uri, starting the server first if it is not running."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            state = self._read_state()
            if state is None:
                return self._start()
            return self._reuse_or_restart(state)

    def recover(self) -> str | None:
        """For a client whose server stopped answering: the server's uri now, or None.

        A server that crashed (its state file is left, its process gone) is restarted on its
        port (with port 0: on its old port if that is free). A server stopped on purpose
        (``eat db stop`` removed the state file) is not: None until something starts it
        again. A server whose process is alive is never touched from here, even if it does
        not answer: it may only be busy.
        """
        if not self.state_path.exists():
            return None
        with self._locked():
            state = self._read_state()
            if state is None:
                return None
            if pid_alive(state.pid):
                return uri_for(state.host, state.port)
            logger.warning("SecantusDB server pid %d is gone; restarting it", state.pid)
            self.state_path.unlink(missing_ok=True)
            return self._start()

    def _reuse_or_restart(self, state: _ServerState) -> str:
        uri = uri_for(state.host, state.port)
        if pid_alive(state.pid) and ping(uri, PING_TIMEOUT_MS):
            return uri
        self._discard(state)
        return self._start()

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the server, SIGKILL it after ``timeout``; True if a server was stopped."""
        if not self.data_dir.is_dir():
            return False
        with self._locked():
            state = self._read_state()
            if state is None:
                return False
            stopped = False
            if not pid_alive(state.pid):
                logger.info("removing stale %s: pid %d is gone", self.state_path, state.pid)
            elif is_server_process(state.pid, state.storage_path):
                terminate(state.pid, timeout)
                logger.info("stopped SecantusDB server pid %d on port %d", state.pid, state.port)
                stopped = True
            else:
                logger.warning(
                    "pid %d in %s is not our server; left alone", state.pid, self.state_path
                )
            self.state_path.unlink(missing_ok=True)
            return stopped

    def _discard(self, state: _ServerState) -> None:
        """Clear the way for a new server: the recorded one is gone or does not answer."""
        if pid_alive(state.pid) and is_server_process(state.pid, state.storage_path):
            # It still holds the storage lock, so a new server on the same storage would fail.
            logger.warning(
                "server pid %d does not answer on port %d; restarting", state.pid, state.port
            )
            terminate(state.pid, KILL_WAIT_SECONDS)
        self.state_path.unlink(missing_ok=True)

    def _start(self) -> str:
        executable = resolve_executable(self.executable)
        self.storage_path.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self.config_path.write_text(_CONFIG_TEXT, encoding="utf-8")
        port = self._choose_port()
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        process = spawn(self._command(executable, port), cwd=self.data_dir, log_path=self.log_path)
        # Recorded before the wait, so a caller killed mid-start leaves a server the next
        # caller can find and stop instead of an orphan holding the storage lock.
        self._write_state(
            _ServerState(
                pid=process.pid,
                host=self.host,
                port=port,
                storage_path=str(self.storage_path),
                started_at=datetime.now(UTC),
                executable=executable,
                secantus_version=secantus_version(executable),
                sync_on_commit=True,
            )
        )
        uri = uri_for(self.host, port)
        self._wait_for(process, uri, log_offset)
        (self.data_dir / _PORT_FILE).write_text(f"{port}\n", encoding="ascii")
        logger.info("started SecantusDB server pid %d at %s", process.pid, uri)
        return uri

    def _choose_port(self) -> int:
        if self.port:
            # The configured port or nothing: a server that moved would be lost to every
            # client holding its address. A server that died a moment ago may still hold it.
            if port_if_free(self.host, self.port, wait=_PORT_WAIT_SECONDS) is None:
                raise port_in_use(self.host, self.port)
            return self.port
        # The last port again (after a crash or a stop), so that clients still holding the
        # old address reconnect by themselves; a new one only if something else took it.
        return (
            port_if_free(self.host, self._last_port(), wait=_PORT_WAIT_SECONDS)
            or port_if_free(self.host, home_port(self.data_dir))
            or free_port(self.host)
        )

    def _command(self, executable: str, port: int) -> list[str]:
        flags = {
            "--config": str(self.config_path),
            "--host": self.host,
            "--port": str(port),
            "--storage-path": str(self.storage_path),
            "--log-level": "WARNING",
        }
        # Fsync the journal on every commit: a write is acknowledged only once it is on disk.
        # Without it, a SIGKILL of the server lost acknowledged pauses in most trials.
        switches = ["--sync-on-commit"]
        return [
            executable,
            *itertools.chain.from_iterable(flags.items()),
            *switches,
            *self.extra_args,
        ]

    def _wait_for(self, process: subprocess.Popen[bytes], uri: str, log_offset: int) -> None:
        try:
            wait_until_answering(
                process,
                uri,
                timeout=self.startup_timeout,
                log_path=self.log_path,
                log_offset=log_offset,
            )
        except EmbeddedServerError:
            kill(process)
            self.state_path.unlink(missing_ok=True)
            raise
        reap_in_background(process)

    def _last_port(self) -> int | None:
        try:
            port = int((self.data_dir / _PORT_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 else None

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        # A start or stop holds the lock for at most its own timeout; past that a holder is stuck.
        return exclusive_lock(self.lock_path, timeout=self.startup_timeout + _LOCK_GRACE_SECONDS)

    def _read_state(self) -> _ServerState | None:
        try:
            raw = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return _ServerState.model_validate_json(raw)
        except ValidationError:
            logger.warning("ignoring unreadable state file %s", self.state_path)
            return None

    def _write_state(self, state: _ServerState) -> None:
        # Temp file + rename, so status() in another process never reads half a file.
        temporary = self.state_path.with_name(f".{_STATE_FILE}.{os.getpid()}.tmp")
        temporary.write_text(state.model_dump_json(indent=2), encoding="utf-8")
        os.replace(temporary, self.state_path)
