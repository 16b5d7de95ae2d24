"""The embedded server's process, from outside: find the command, spawn it, wait for it to
answer, find it a port, tell whether a pid is still it, stop it, reap it.

::

    executable = resolve_executable(None)              # secantusd-py on PATH or beside python
    process = spawn([executable, ...], cwd=data_dir, log_path=data_dir / "server.log")
    wait_until_answering(process, uri, timeout=30.0, log_path=..., log_offset=0)
    terminate(process.pid, timeout=10.0)               # SIGTERM, then SIGKILL

Everything here is POSIX process and socket plumbing with no state of its own; the state file,
the lock and the decisions (reuse, restart, stop) are ``EmbeddedServer``'s, in ``embedded.py``.
SecantusDB is GPL: it only ever runs as this separate process, and is never imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import bson

from evolving_agents.errors import ConfigurationError, PortInUse

logger = logging.getLogger(__name__)

EXECUTABLE_NAME = "secantusd-py"

PING_TIMEOUT_MS = 2000
_OP_MSG = 2013
_STARTUP_PING_TIMEOUT_MS = 500
POLL_SECONDS = 0.05
KILL_WAIT_SECONDS = 5.0
_LOG_TAIL_LINES = 20
# Where a data directory's first server listens (if free): registered-port range, ephemeral-free.
_HOME_PORTS = (20000, 32000)
_URI_HINT = "To use another MongoDB server instead, set MONGODB_URI=mongodb://HOST:PORT/."
_INSTALL_HINT = "Install it with: pip install 'evolving-agents[local]'."


class EmbeddedServerError(ConfigurationError):
    """The embedded server could not be started, found or stopped.

    The message says why and that setting ``MONGODB_URI`` avoids the embedded server altogether.
    """


class EmbeddedPortInUse(EmbeddedServerError, PortInUse):
    """The embedded server's port (``EAT_DB_PORT``) is taken by another program.

    ``host`` and ``port`` say where; the message also says how to choose another port.
    """


def port_in_use(host: str, port: int) -> EmbeddedPortInUse:
    """The error for a configured port that something other than our server listens on."""
    # A wire server there is most likely the embedded server of another data directory.
    who = (
        "a MongoDB server answers there (another EAT_DATA_DIR's embedded server?)"
        if ping(uri_for(host, port), PING_TIMEOUT_MS)
        else "another program listens there"
    )
    error = server_error(
        f"port {port} on {host} is taken, so the embedded SecantusDB server cannot listen "
        f"there: {who}. Set EAT_DB_PORT to a free port (0 picks any free one), or stop that "
        "program."
    )
    return EmbeddedPortInUse(str(error), host=host, port=port)


def resolve_executable(executable: str | None) -> str:
    """The server command: ``executable`` if given, else ``secantusd-py`` on PATH or beside
    the running Python (a virtualenv's bin is often not on PATH when its python runs)."""
    if executable is not None:
        found = shutil.which(executable)
        if found is None:
            raise server_error(
                f"the SecantusDB server command {executable!r} was not found or is "
                f"not executable. {_INSTALL_HINT}"
            )
        return found
    found = shutil.which(EXECUTABLE_NAME)
    if found is not None:
        return found
    beside = Path(sys.executable).parent / EXECUTABLE_NAME
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise server_error(
        f"the SecantusDB server command {EXECUTABLE_NAME!r} was not found on PATH nor "
        f"next to {sys.executable}. {_INSTALL_HINT}"
    )


def spawn(command: list[str], *, cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start the server in a session of its own (it outlives us, and misses our Ctrl-C)."""
    # The child gets this process's environment as it is, plus unbuffered output, so the log
    # holds the server's last words even if it is killed. No setting is read from it here.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise server_error(f"could not run {command[0]}: {exc}.") from exc


def wait_until_answering(
    process: subprocess.Popen[bytes],
    uri: str,
    *,
    timeout: float,
    log_path: Path,
    log_offset: int,
) -> None:
    """Return once ``uri`` answers a ping; raise (with the log's tail) if the process exits
    first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise server_error(
                f"the SecantusDB server exited with status {code} before answering on "
                f"{uri}. {log_excerpt(log_path, log_offset)}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise server_error(
                f"the SecantusDB server did not answer on {uri} within "
                f"{timeout:g}s. {log_excerpt(log_path, log_offset)}"
            )
        timeout_ms = max(50, min(_STARTUP_PING_TIMEOUT_MS, int(remaining * 1000)))
        if ping(uri, timeout_ms):
            return
        time.sleep(POLL_SECONDS)


def log_excerpt(log_path: Path, offset: int) -> str:
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace").strip()
    except FileNotFoundError:
        text = ""
    if not text:
        return f"It wrote nothing to {log_path}."
    tail = "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
    return f"Last lines of {log_path}:\n{tail}\n"


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, *, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path``; raise if it cannot be had in ``timeout``."""
    deadline = time.monotonic() + timeout
    with lock_path.open("ab") as handle:
        # Polled rather than blocking, so a stuck holder becomes an error, not a hang.
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    raise server_error(
                        f"another process has held {lock_path} for too long."
                    ) from exc
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def server_error(reason: str) -> EmbeddedServerError:
    text = (reason[0].upper() + reason[1:]).rstrip()
    separator = "\n" if "\n" in text else " "
    return EmbeddedServerError(f"{text}{separator}{_URI_HINT}")


def uri_for(host: str, port: int) -> str:
    netloc = f"[{host}]" if ":" in host else host
    return f"mongodb://{netloc}:{port}/?directConnection=true"


def ping(uri: str, timeout_ms: int) -> bool:
    """Whether the server at ``uri`` answers a ``ping`` within ``timeout_ms``.

    One OP_MSG over a plain socket, not a driver client: a client starts monitor threads that
    PyMongo joins at exit in 0.5 s steps, which every ``eat`` command that found the server
    then waited for.
    """
    parts = urlsplit(uri)
    body = bson.encode({"ping": 1, "$db": "admin"})
    # Header (length, request id, response to, OP_MSG), flag bits, a kind-0 section.
    message = struct.pack("<iiiiI", 16 + 4 + 1 + len(body), 1, 0, _OP_MSG, 0) + b"\x00" + body
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout_ms / 1000) as sock:
            sock.sendall(message)
            header = sock.recv(16, socket.MSG_WAITALL)
            length = struct.unpack("<i", header[:4])[0]
            rest = b""
            while len(rest) < length - 16:
                chunk = sock.recv(length - 16 - len(rest))
                if not chunk:
                    return False
                rest += chunk
        reply = bson.decode(rest[5:])  # past the flag bits and the section kind
    except (OSError, struct.error, bson.errors.BSONError):
        return False
    return reply.get("ok") == 1


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port: int = probe.getsockname()[1]
    except OSError as exc:
        raise server_error(f"could not find a free port on {host}: {exc}.") from exc
    return port


def home_port(data_dir: Path) -> int:
    """A port of this data directory's own, below every OS's ephemeral range (which starts at
    32768 on Linux, 49152 on macOS and Windows), so no outgoing connection can be holding it
    when the server restarts."""
    digest = hashlib.sha256(str(data_dir).encode("utf-8")).digest()
    return _HOME_PORTS[0] + int.from_bytes(digest[:4], "big") % (_HOME_PORTS[1] - _HOME_PORTS[0])


def port_if_free(host: str, port: int | None, *, wait: float = 0.0) -> int | None:
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
        time.sleep(POLL_SECONDS)


def secantus_version(executable: str) -> str | None:
    # Package metadata describes the executable only when both come from this environment.
    if Path(executable).parent != Path(sys.executable).parent:
        return None
    try:
        return metadata.version("SecantusDB")
    except metadata.PackageNotFoundError:
        return None


def pid_alive(pid: int) -> bool:
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


def command_line(pid: int) -> str | None:
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


def is_server_process(pid: int, storage_path: str) -> bool:
    """Whether ``pid`` is still the server on ``storage_path``, not an unrelated process that
    reused the pid."""
    line = command_line(pid)
    return line is not None and storage_path in line


def terminate(pid: int, timeout: float) -> None:
    send_signal(pid, signal.SIGTERM)
    if wait_for_exit(pid, timeout):
        return
    logger.warning("SecantusDB server pid %d ignored SIGTERM for %gs; killing it", pid, timeout)
    send_signal(pid, signal.SIGKILL)
    if not wait_for_exit(pid, KILL_WAIT_SECONDS):
        raise server_error(f"the SecantusDB server pid {pid} did not exit after SIGKILL.")


def send_signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    try:
        process.wait(timeout=KILL_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.error("SecantusDB server pid %d survived SIGKILL", process.pid)


def reap_in_background(process: subprocess.Popen[bytes]) -> None:
    # The server is our child until we exit: without a wait() it would linger as a zombie
    # after stop(), and its Popen would warn when collected. Waiting in a daemon thread reaps
    # it the moment it exits and never delays our own exit.
    threading.Thread(
        target=process.wait, name=f"secantusd-reaper-{process.pid}", daemon=True
    ).start()
