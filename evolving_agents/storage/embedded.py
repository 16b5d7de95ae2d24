"""The embedded default: one local SecantusDB server per machine, started on demand.

When ``MONGODB_URI`` is not set, the package uses a SecantusDB server (a MongoDB wire server)
that it starts itself as a background process and finds again through a state file::

    from pymongo import MongoClient

    from evolving_agents.storage.embedded import EmbeddedServer

    server = EmbeddedServer.from_settings()   # data under EAT_DATA_DIR or the XDG data home
    uri = server.ensure_running()             # starts it once; every later caller reuses it
    client = MongoClient(uri)                 # a single-node replica set: change streams work
    server.status().running                   # True
    server.stop()                             # what ``eat db stop`` does

Writes are durable: the server runs with ``--sync-on-commit`` (each commit fsyncs the
journal before it is acknowledged), and ``MongoDBClient`` also asks for ``j: true`` on every
write, so an acknowledged write survives a SIGKILL of the server (or a power cut) even on a
server an older version started without the flag. A restarted server takes its previous port
again when it is free, so clients reconnect by themselves; ``recover`` finds (or restarts) it
for a client whose server moved.

SecantusDB is GPL, so it only ever runs as a separate ``secantusd-py`` process; this module
never imports it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from evolving_agents.config import Settings
from evolving_agents.errors import ConfigurationError

logger = logging.getLogger(__name__)

EXECUTABLE_NAME = "secantusd-py"

_STATE_FILE = "server.json"
_PORT_FILE = "server.port"
_LOCK_FILE = "server.lock"
_LOG_FILE = "server.log"
_CONFIG_FILE = "secantusd.toml"
_STORAGE_DIR = "db"
_PING_TIMEOUT_MS = 2000
_STARTUP_PING_TIMEOUT_MS = 500
_POLL_SECONDS = 0.05
_KILL_WAIT_SECONDS = 5.0
# A start or stop holds the lock for at most its own timeout; past this a holder is stuck.
_LOCK_GRACE_SECONDS = 30.0
_LOG_TAIL_LINES = 20
# Where a data directory's first server listens (if free): registered-port range, ephemeral-free.
_HOME_PORTS = (20000, 32000)
# How long a restart waits for the last port to be released by a server that just died.
_PORT_WAIT_SECONDS = 1.0
_URI_HINT = "To use another MongoDB server instead, set MONGODB_URI=mongodb://HOST:PORT/."
_INSTALL_HINT = "Install it with: pip install 'evolving-agents[local]'."
_CONFIG_TEXT = """\
# Config of the embedded SecantusDB server started by evolving-agents.
# Host, port, storage path, log level and --sync-on-commit (durable writes) are passed on the
# command line and win over this file.
# Passing this file with --config also stops secantusd-py from reading ~/.secantus/secantusd.toml,
# which could otherwise turn on auth or TLS behind the package's back.
"""


class EmbeddedServerError(ConfigurationError):
    """The embedded server could not be started, found or stopped.

    The message says why and that setting ``MONGODB_URI`` avoids the embedded server altogether.
    """


class EmbeddedServerStatus(BaseModel):
    """What :meth:`EmbeddedServer.status` found; JSON-safe for ``eat db status``."""

    running: bool = Field(description="The recorded process is alive and answers a ping.")
    pid: int | None = Field(description="The recorded process, while it is alive.")
    host: str
    port: int | None = Field(description="The recorded port, while the process is alive.")
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
        server.port     the port the server last listened on, taken again when it is free
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
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        executable: str | None = None,
        startup_timeout: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        # Absolute, because the server runs with data_dir as its working directory.
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.host = host
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> EmbeddedServer:
        """The server for ``EAT_DATA_DIR``, else ``$XDG_DATA_HOME/evolving-agents``."""
        resolved = Settings() if settings is None else settings
        return cls(resolved.resolved_data_dir())

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
        alive = state is not None and _pid_alive(state.pid)
        uri = None if state is None else _uri(state.host, state.port)
        running = alive and uri is not None and _ping(uri, _PING_TIMEOUT_MS)
        return EmbeddedServerStatus(
            running=running,
            pid=state.pid if state is not None and alive else None,
            host=self.host if state is None else state.host,
            port=state.port if state is not None and alive else None,
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

        A server that crashed (its state file is left, its process gone) is restarted, on its
        old port if that is free. A server stopped on purpose (``eat db stop`` removed the
        state file) is not: None until something starts it again. A server whose process is
        alive is never touched from here, even if it does not answer: it may only be busy.
        """
        if not self.state_path.exists():
            return None
        with self._locked():
            state = self._read_state()
            if state is None:
                return None
            if _pid_alive(state.pid):
                return _uri(state.host, state.port)
            logger.warning("SecantusDB server pid %d is gone; restarting it", state.pid)
            self.state_path.unlink(missing_ok=True)
            return self._start()

    def _reuse_or_restart(self, state: _ServerState) -> str:
        uri = _uri(state.host, state.port)
        if _pid_alive(state.pid) and _ping(uri, _PING_TIMEOUT_MS):
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
            if not _pid_alive(state.pid):
                logger.info("removing stale %s: pid %d is gone", self.state_path, state.pid)
            elif _is_server_for(state):
                _terminate(state.pid, timeout)
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
        if _pid_alive(state.pid) and _is_server_for(state):
            # It still holds the storage lock, so a new server on the same storage would fail.
            logger.warning(
                "server pid %d does not answer on port %d; restarting", state.pid, state.port
            )
            _terminate(state.pid, _KILL_WAIT_SECONDS)
        self.state_path.unlink(missing_ok=True)

    def _start(self) -> str:
        executable = self._resolve_executable()
        self.storage_path.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self.config_path.write_text(_CONFIG_TEXT, encoding="utf-8")
        # The last port again (after a crash or a stop), so that clients still holding the
        # old address reconnect by themselves; a new one only if something else took it.
        port = (
            _port_if_free(self.host, self._last_port(), wait=_PORT_WAIT_SECONDS)
            or _port_if_free(self.host, _home_port(self.data_dir))
            or _free_port(self.host)
        )
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
        command = [
            executable,
            *itertools.chain.from_iterable(flags.items()),
            *switches,
            *self.extra_args,
        ]
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        process = self._spawn(command)
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
                secantus_version=_secantus_version(executable),
                sync_on_commit=True,
            )
        )
        uri = _uri(self.host, port)
        try:
            self._wait_until_answering(process, uri, log_offset)
        except EmbeddedServerError:
            _kill(process)
            self.state_path.unlink(missing_ok=True)
            raise
        _reap_in_background(process)
        (self.data_dir / _PORT_FILE).write_text(f"{port}\n", encoding="ascii")
        logger.info("started SecantusDB server pid %d at %s", process.pid, uri)
        return uri

    def _last_port(self) -> int | None:
        try:
            port = int((self.data_dir / _PORT_FILE).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 else None

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        # Unbuffered, so the log holds the server's last words even if it is killed.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            try:
                return subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise _error(f"could not run {command[0]}: {exc}.") from exc

    def _wait_until_answering(
        self, process: subprocess.Popen[bytes], uri: str, log_offset: int
    ) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = process.poll()
            if code is not None:
                raise _error(
                    f"the SecantusDB server exited with status {code} before answering on "
                    f"{uri}. {self._log_excerpt(log_offset)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _error(
                    f"the SecantusDB server did not answer on {uri} within "
                    f"{self.startup_timeout:g}s. {self._log_excerpt(log_offset)}"
                )
            timeout_ms = max(50, min(_STARTUP_PING_TIMEOUT_MS, int(remaining * 1000)))
            if _ping(uri, timeout_ms):
                return
            time.sleep(_POLL_SECONDS)

    def _log_excerpt(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", errors="replace").strip()
        except FileNotFoundError:
            text = ""
        if not text:
            return f"It wrote nothing to {self.log_path}."
        tail = "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
        return f"Last lines of {self.log_path}:\n{tail}\n"

    def _resolve_executable(self) -> str:
        if self.executable is not None:
            found = shutil.which(self.executable)
            if found is None:
                raise _error(
                    f"the SecantusDB server command {self.executable!r} was not found or is "
                    f"not executable. {_INSTALL_HINT}"
                )
            return found
        found = shutil.which(EXECUTABLE_NAME)
        if found is not None:
            return found
        # A virtualenv's bin directory is often not on PATH when its python is run directly.
        beside = Path(sys.executable).parent / EXECUTABLE_NAME
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
        raise _error(
            f"the SecantusDB server command {EXECUTABLE_NAME!r} was not found on PATH nor "
            f"next to {sys.executable}. {_INSTALL_HINT}"
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        deadline = time.monotonic() + self.startup_timeout + _LOCK_GRACE_SECONDS
        with self.lock_path.open("ab") as handle:
            # Polled rather than blocking, so a stuck holder becomes an error, not a hang.
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError as exc:
                    if time.monotonic() > deadline:
                        raise _error(
                            f"another process has held {self.lock_path} for too long."
                        ) from exc
                    time.sleep(_POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

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


def _error(reason: str) -> EmbeddedServerError:
    text = (reason[0].upper() + reason[1:]).rstrip()
    separator = "\n" if "\n" in text else " "
    return EmbeddedServerError(f"{text}{separator}{_URI_HINT}")


def _uri(host: str, port: int) -> str:
    netloc = f"[{host}]" if ":" in host else host
    return f"mongodb://{netloc}:{port}/?directConnection=true"


def _ping(uri: str, timeout_ms: int) -> bool:
    client: MongoClient[dict[str, Any]] | None = None
    try:
        client = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
        client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        if client is not None:
            client.close()
    return True


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port: int = probe.getsockname()[1]
    except OSError as exc:
        raise _error(f"could not find a free port on {host}: {exc}.") from exc
    return port


def _home_port(data_dir: Path) -> int:
    """A port of this data directory's own, below every OS's ephemeral range (which starts at
    32768 on Linux, 49152 on macOS and Windows), so no outgoing connection can be holding it
    when the server restarts."""
    digest = hashlib.sha256(str(data_dir).encode("utf-8")).digest()
    return _HOME_PORTS[0] + int.from_bytes(digest[:4], "big") % (_HOME_PORTS[1] - _HOME_PORTS[0])


def _port_if_free(host: str, port: int | None, *, wait: float = 0.0) -> int | None:
    """``port`` if nothing listens on it (a dead server's lingering connections allowed),
    trying for ``wait`` seconds: a server killed a moment ago may still be closing it."""
    if port is None:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                if time.monotonic() >= deadline:
                    return None
            else:
                return port
        time.sleep(_POLL_SECONDS)


def _secantus_version(executable: str) -> str | None:
    # Package metadata describes the executable only when both come from this environment.
    if Path(executable).parent != Path(sys.executable).parent:
        return None
    try:
        return metadata.version("SecantusDB")
    except metadata.PackageNotFoundError:
        return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited server whose parent has not reaped it still accepts signals; it is not alive.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _command_line(pid: int) -> str | None:
    if Path("/proc/self").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return raw.replace(b"\0", b" ").decode("utf-8", errors="replace")
    # No procfs (macOS, the BSDs): ask ps, which every POSIX system has.
    try:
        result = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _is_server_for(state: _ServerState) -> bool:
    """Whether ``state.pid`` is still our server, not an unrelated process that reused the pid."""
    command_line = _command_line(state.pid)
    return command_line is not None and state.storage_path in command_line


def _terminate(pid: int, timeout: float) -> None:
    _signal(pid, signal.SIGTERM)
    if _wait_for_exit(pid, timeout):
        return
    logger.warning("SecantusDB server pid %d ignored SIGTERM for %gs; killing it", pid, timeout)
    _signal(pid, signal.SIGKILL)
    if not _wait_for_exit(pid, _KILL_WAIT_SECONDS):
        raise _error(f"the SecantusDB server pid {pid} did not exit after SIGKILL.")


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    try:
        process.wait(timeout=_KILL_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.error("SecantusDB server pid %d survived SIGKILL", process.pid)


def _reap_in_background(process: subprocess.Popen[bytes]) -> None:
    # The server is our child until we exit: without a wait() it would linger as a zombie
    # after stop(), and its Popen would warn when collected. Waiting in a daemon thread reaps
    # it the moment it exits and never delays our own exit.
    threading.Thread(
        target=process.wait, name=f"secantusd-reaper-{process.pid}", daemon=True
    ).start()
