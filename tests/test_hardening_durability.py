"""The embedded default keeps every acknowledged pause, and its users survive its restart.

Each test gets its own disk-backed embedded server (``EAT_DATA_DIR`` under ``tmp_path``),
started the way every ``eat`` command starts it. Pauses are written by ``PendingApprovalStore``
on ``MongoDBClient()`` (the embedded default) from several tasks at once; the server is killed
with SIGKILL in the middle of the burst, started again, and every pause whose ``create``
returned must be there. Then ``eat worker`` and ``eat inbox`` run as processes while the
server is killed and restarted (on its old port), or stopped and started while something else
holds its port (so it comes back on a new one): both must carry on.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from evolving_agents import ApprovalStatus, MongoDBClient, OpenAIAgentsProvider, RunStatus
from evolving_agents.approvals.store import COLLECTION_NAME, PendingApprovalStore
from evolving_agents.errors import EvolvingAgentsError
from evolving_agents.storage.embedded import EmbeddedServer
from evolving_agents.storage.mongodb_client import DURABLE_WRITES, durable_write_options
from tests.apps.worker_app import AGENT_NAME, build_registry, pause_decided_runs, tool_executions
from tests.test_store import make_record

pytestmark = pytest.mark.wire

ROOT = Path(__file__).parent.parent
TOKEN = "durability-token-0123456789"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "eat-data"
    monkeypatch.setenv("EAT_DATA_DIR", str(data))
    monkeypatch.delenv("MONGODB_URI", raising=False)
    yield data
    EmbeddedServer(data).stop(timeout=0.1)


def _state(data_dir: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((data_dir / "server.json").read_text())
    return state


def _kill_server(data_dir: Path) -> int:
    pid = int(_state(data_dir)["pid"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid):
        assert time.monotonic() < deadline, "the killed server did not exit"
        time.sleep(0.01)
    return pid


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "Z"


# -- acknowledged pauses across a SIGKILL ------------------------------------------------------


async def _burst_then_kill(data_dir: Path, *, writers: int, seconds: float) -> tuple[int, int]:
    """Pauses created by ``writers`` tasks until the server is SIGKILLed after ``seconds``;
    returns (acknowledged, acknowledged but missing after the restart)."""
    db_name = f"eat_kill_{uuid.uuid4().hex[:8]}"
    client = MongoDBClient(db_name=db_name)  # no MONGODB_URI: the embedded default
    store = PendingApprovalStore(client)
    await store.ensure_indexes()
    acknowledged: list[str] = []
    stop = asyncio.Event()

    async def writer(index: int) -> None:
        number = 0
        while not stop.is_set():
            approval_id = f"apr_{index}_{number}"
            number += 1
            try:
                await store.create(make_record(approval_id))
            except (EvolvingAgentsError, PyMongoError):
                return  # the server went away under this write: not acknowledged
            acknowledged.append(approval_id)

    tasks = [asyncio.create_task(writer(index)) for index in range(writers)]
    await asyncio.sleep(seconds)
    _kill_server(data_dir)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    await client.close()

    uri = await asyncio.to_thread(EmbeddedServer(data_dir).ensure_running)
    with MongoClient(uri) as fresh:
        stored = {doc["_id"] for doc in fresh[db_name][COLLECTION_NAME].find({}, {"_id": 1})}
    return len(acknowledged), sum(approval_id not in stored for approval_id in acknowledged)


async def test_killing_the_embedded_server_mid_burst_loses_no_acknowledged_pause(
    data_dir: Path,
) -> None:
    acknowledged, lost = await _burst_then_kill(data_dir, writers=8, seconds=1.5)

    assert acknowledged >= 50, f"the burst was real ({acknowledged} pauses acknowledged)"
    assert lost == 0, f"{lost} of {acknowledged} acknowledged pauses were lost"


@pytest.mark.slow
async def test_twenty_four_kills_lose_no_acknowledged_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    trials: list[tuple[int, int]] = []
    for trial in range(24):
        data = tmp_path / f"trial-{trial}"
        monkeypatch.setenv("EAT_DATA_DIR", str(data))
        try:
            trials.append(await _burst_then_kill(data, writers=8, seconds=1.0 + trial % 3))
        finally:
            EmbeddedServer(data).stop(timeout=0.1)
    print("acknowledged, lost per trial:", trials)
    assert all(acknowledged >= 20 for acknowledged, _ in trials)
    assert sum(lost for _, lost in trials) == 0


async def test_the_embedded_server_syncs_every_commit_and_the_client_writes_journaled(
    data_dir: Path,
) -> None:
    client = MongoDBClient()
    try:
        await client.ping()
        assert client.client.write_concern.document == {"w": "majority", "j": True}
    finally:
        await client.close()
    status = EmbeddedServer(data_dir).status()
    assert status.running and status.durable_writes is True
    command_line = Path(f"/proc/{status.pid}/cmdline").read_bytes().split(b"\0")
    assert b"--sync-on-commit" in command_line


def test_a_mongodb_uri_gets_durable_writes_unless_it_sets_its_own() -> None:
    assert DURABLE_WRITES == {"w": "majority", "journal": True}
    assert durable_write_options("mongodb://db.example:27017/") == DURABLE_WRITES
    assert durable_write_options("mongodb+srv://c.example/?retryWrites=true") == DURABLE_WRITES
    assert durable_write_options("mongodb://h/?wtimeoutMS=500") == DURABLE_WRITES
    assert durable_write_options("mongodb://h/?w=1") == {}
    assert durable_write_options("mongodb://h/?retryWrites=true&journal=false") == {}
    assert durable_write_options("mongodb://h/?W=2") == {}, "option names are case-insensitive"

    real = MongoDBClient("mongodb://127.0.0.1:9/")  # never connects: building is lazy
    own = MongoDBClient("mongodb://127.0.0.1:9/?w=1")
    assert real.client.write_concern.document == {"w": "majority", "j": True}
    assert own.client.write_concern.document == {"w": 1}


# -- eat worker and eat inbox across a restart -------------------------------------------------


class PortSquatter:
    """Something else listening on the server's port while it is down: it answers nothing
    and drops every connection, as an unrelated program would."""

    def __init__(self, port: int) -> None:
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.socket.listen()
        self.socket.settimeout(0.1)
        self.running = True
        self.thread = threading.Thread(target=self._drop, daemon=True)
        self.thread.start()

    def _drop(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        self.socket.close()


def _restart(data_dir: Path, how: str) -> tuple[int, int, PortSquatter | None]:
    """Restart the embedded server; returns (old port, new port, the squatter to close)."""
    server = EmbeddedServer(data_dir)
    old_port = int(_state(data_dir)["port"])
    squatter = None
    if how == "killed":
        _kill_server(data_dir)  # a crash: whoever needs the server next starts it again
    else:
        server.stop(timeout=5)  # eat db stop, then another program takes the port
        squatter = PortSquatter(old_port)
    server.ensure_running()  # eat db start (a watching client may have been quicker)
    return old_port, int(_state(data_dir)["port"]), squatter


async def _until(check: Any, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _env(tool_log: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "EAT_TEST_TOOL_LOG": str(tool_log),
        "EAT_REVIEWERS": json.dumps({TOKEN: {"name": "dana", "roles": ["sre"]}}),
    }


@pytest.mark.parametrize("how", ["killed", "moved"])
async def test_eat_worker_carries_on_after_the_embedded_server_restarts(
    data_dir: Path, tmp_path: Path, how: str
) -> None:
    tool_log = tmp_path / "tools.jsonl"
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evolving_agents",
            "worker",
            "--app",
            "tests.apps.worker_app:build_registry",
            "--poll-interval",
            "0.1",
            "--max-poll-interval",
            "0.5",
            "--json",
        ],
        cwd=ROOT,
        env=_env(tool_log),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    squatter = None
    try:

        async def all_completed(ids: list[str]) -> bool:
            records = [await provider.store.get(approval_id) for approval_id in ids]
            return all(r.status is ApprovalStatus.COMPLETED for r in records)

        before = await pause_decided_runs(provider, 3)
        await _until(lambda: all_completed(before), what="the runs before the restart")

        old_port, new_port, squatter = await asyncio.to_thread(_restart, data_dir, how)
        assert (new_port == old_port) is (how == "killed")
        moved = await client.reconnect()  # this test's own client, as any other process
        assert moved is (how == "moved")

        after = await pause_decided_runs(provider, 3)
        await _until(lambda: all_completed(after), what="the runs after the restart")
        assert worker.poll() is None, "eat worker is still running"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
        await client.close()
        if squatter is not None:
            squatter.close()

    assert worker.returncode == 0, err[-3000:]
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["completed"] == 6
    executions = tool_executions(tool_log)
    assert len(executions) == 6 and set(executions.values()) == {1}


@pytest.mark.parametrize("how", ["killed", "moved"])
async def test_eat_inbox_serves_current_records_after_the_embedded_server_restarts(
    data_dir: Path, tmp_path: Path, how: str
) -> None:
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = subprocess.Popen(
        [sys.executable, "-m", "evolving_agents", "inbox", "--port", str(port)],
        cwd=ROOT,
        env=_env(tmp_path / "tools.jsonl"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    squatter = None
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0)
    try:
        first = await provider.execute_agent(AGENT_NAME, "apply the change", actor="ops")
        assert first.status is RunStatus.AWAITING_APPROVAL

        async def signed_in() -> bool:
            try:
                page = await http.get("/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                if token is None:
                    return False
                await http.post("/login", data={"token": TOKEN, "csrf_token": token[1]})
                return (await http.get("/approvals/rows")).status_code == 200
            except httpx.HTTPError:
                return False

        def lists(approval_id: str | None) -> Any:
            async def check() -> bool:
                try:
                    rows = await http.get("/approvals/rows")
                except httpx.HTTPError:
                    return False
                return rows.status_code == 200 and f'data-approval-id="{approval_id}"' in rows.text

            return check

        await _until(signed_in, what="the inbox to start and sign in")
        await _until(lists(first.approval_id), what="the first pause in the queue")

        _, _, squatter = await asyncio.to_thread(_restart, data_dir, how)
        await client.reconnect()
        second = await provider.execute_agent(AGENT_NAME, "apply another change", actor="ops")
        await _until(lists(second.approval_id), what="a pause made after the restart")
        assert inbox.poll() is None, "eat inbox is still running"
        # And it stops on the first SIGTERM, its database having moved under it (issue 14).
        os.killpg(inbox.pid, signal.SIGTERM)
        await asyncio.to_thread(inbox.communicate, timeout=20)
        assert inbox.returncode == 0, f"eat inbox exited {inbox.returncode} on SIGTERM"
    finally:
        await http.aclose()
        if inbox.poll() is None:  # the test failed before its SIGTERM, or that did not stop it
            os.killpg(inbox.pid, signal.SIGKILL)
            inbox.communicate(timeout=20)
        await client.close()
        if squatter is not None:
            squatter.close()
