"""The embedded server stays put, and the inbox and the worker live through its outages.

The server listens on one port (``EAT_DB_PORT``) every time it starts, so after ``eat db stop``
and ``eat db start`` every process finds it where it was; a port some other program holds is
an error naming it, exit 8. While the server is down, ``eat inbox`` answers each page at once
with its 503 page naming the database and ``/healthz`` fails; ``eat worker`` says so in one
line and keeps trying; both work again seconds after the restart, and both stop on the first
SIGTERM or Ctrl-C within seconds, without a traceback, even while the database is down.

Each test runs its own server in a temporary data directory, on a free port it sets as
``EAT_DB_PORT`` (the default, 27217, belongs to the developer's own server).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from evolving_agents import ApprovalStatus, MongoDBClient, OpenAIAgentsProvider
from evolving_agents.config import DEFAULT_DB_PORT, Settings
from evolving_agents.storage.embedded import EmbeddedPortInUse, EmbeddedServer
from evolving_agents.storage.outage import DatabaseWatch, OutageRecords, cancel_and_wait
from tests.apps.worker_app import build_registry, pause_decided_runs
from tests.test_hardening_durability import PortSquatter

pytestmark = pytest.mark.wire

ROOT = Path(__file__).parent.parent
TOKEN = "outage-token-0123456789abcdef"
# What the brief promises: an answer, a stop, a recovery, each within this many seconds.
PROMPTLY = 5.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedServer]:
    """An embedded server on a port of its own, set as EAT_DB_PORT for this test and its
    subprocesses (they find it through EAT_DATA_DIR, as every eat command does)."""
    data = tmp_path / "eat-data"
    port = _free_port()
    monkeypatch.setenv("EAT_DATA_DIR", str(data))
    monkeypatch.setenv("EAT_DB_PORT", str(port))
    monkeypatch.delenv("MONGODB_URI", raising=False)
    embedded = EmbeddedServer.from_settings(Settings())
    assert embedded.port == port
    embedded.ensure_running()
    yield embedded
    embedded.stop(timeout=0.1)


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "EAT_REVIEWERS": json.dumps({TOKEN: {"name": "dana", "roles": ["sre"]}}),
        "COLUMNS": "200",
    }


class Eat:
    """An ``eat`` command running in the background, its output in files read at any time."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        name = args[0]
        self.stdout_path = tmp_path / f"{name}.out"
        self.stderr_path = tmp_path / f"{name}.err"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "evolving_agents", *args],
                cwd=ROOT,
                env=_env(),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, signum: signal.Signals) -> float:
        """Send ``signum``; the seconds until the process exited (killed after 30)."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail(f"eat did not exit within 30 s of {signum.name}:\n{self.stderr[-3000:]}")
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


# -- one port, always ------------------------------------------------------------------------


def test_eat_db_port_is_27217_unless_set_and_0_means_any_free_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EAT_DB_PORT")
    assert DEFAULT_DB_PORT == 27217
    assert Settings().db_port == 27217
    assert EmbeddedServer.from_settings(Settings(EAT_DATA_DIR=tmp_path)).port == 27217
    monkeypatch.setenv("EAT_DB_PORT", "0")
    assert EmbeddedServer.from_settings(Settings()).port == 0
    with pytest.raises(ValueError, match="EAT_DB_PORT"):
        Settings(EAT_DB_PORT=70000)


def test_the_server_comes_back_on_its_port_after_a_stop(server: EmbeddedServer) -> None:
    first = server.status()
    assert first.port == server.port == first.configured_port

    assert server.stop(timeout=5)
    server.ensure_running()  # eat db start, or any later command

    again = server.status()
    assert again.running and again.pid != first.pid
    assert again.port == server.port and again.uri == first.uri


def test_a_port_another_program_holds_is_an_error_naming_it_and_exit_8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    squatter = PortSquatter(port)
    try:
        server = EmbeddedServer(tmp_path / "data", port=port)
        with pytest.raises(EmbeddedPortInUse) as raised:
            server.ensure_running()
        assert raised.value.port == port
        assert f"port {port} on 127.0.0.1 is taken" in str(raised.value).lower()
        assert "EAT_DB_PORT" in str(raised.value)
        assert not server.status().running

        env = {**_env(), "EAT_DATA_DIR": str(tmp_path / "data"), "EAT_DB_PORT": str(port)}
        done = subprocess.run(
            [sys.executable, "-m", "evolving_agents", "db", "start"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        squatter.close()
    assert done.returncode == 8, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: Port {port} on 127.0.0.1 is taken") and "EAT_DB_PORT" in line
    assert "Traceback" not in done.stderr


def test_every_command_that_needs_the_squatted_port_exits_8(tmp_path: Path) -> None:
    """PortInUse maps to exit 8 wherever it surfaces, not only from the commands that start
    the server first: a listing that starts it on first use says the same line."""
    port = _free_port()
    squatter = PortSquatter(port)
    env = {**_env(), "EAT_DATA_DIR": str(tmp_path / "data"), "EAT_DB_PORT": str(port)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "evolving_agents", "approvals", "list"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        squatter.close()
    assert done.returncode == 8, done.stderr
    assert f"Port {port} on 127.0.0.1 is taken" in done.stderr and "EAT_DB_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_inbox_port_already_taken_is_one_line_and_exit_8_before_it_says_it_serves(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    port = _free_port()
    squatter = PortSquatter(port)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "evolving_agents", "inbox", "--port", str(port)],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        squatter.close()
    assert done.returncode == 8, done.stderr
    assert "review inbox on" not in done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: port {port} on 127.0.0.1 is taken") and "--port" in line


# -- the inbox through an outage ---------------------------------------------------------------


def _sign_in(http: httpx.Client) -> bool:
    try:
        page = http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if token is None:
            return False
        http.post("/login", data={"token": TOKEN, "csrf_token": token[1]})
        return http.get("/").status_code == 200
    except httpx.HTTPError:
        return False


def _timed_get(http: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.get(path)
    return response, time.monotonic() - started


def test_the_inbox_shows_its_outage_page_at_once_and_serves_again_after_the_restart(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    port = _free_port()
    inbox = Eat(tmp_path, "inbox", "--port", str(port))
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
    try:
        _until(lambda: _sign_in(http), "the inbox to start and sign in", timeout=90)
        assert http.get("/healthz").json()["database"] == "answering"
        address = server.status().uri
        assert address is not None

        server.stop(timeout=5)  # eat db stop
        page, took = _timed_get(http, "/")
        assert page.status_code == 503, page.text
        assert took < PROMPTLY, f"the first page after the stop took {took:.1f} s"
        assert "Database unreachable" in page.text
        assert f"cannot reach the database evolving_agents at {address}" in page.text
        assert "eat db status" in page.text
        assert page.headers["retry-after"] == "5"
        assert '<meta http-equiv="refresh" content="5">' in page.text
        again, took = _timed_get(http, "/")
        assert again.status_code == 503 and took < 1.0, "known down: answered without waiting"
        health = http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"] == "unreachable" and health.json()["ok"] is False
        assert address not in health.text, "the health check needs no sign-in: no address"

        server.ensure_running()  # eat db start: the same port
        back = _until(lambda: http.get("/").status_code == 200, "the queue again", PROMPTLY)
        print(f"the queue answered {back:.1f} s after the restart")
        _until(lambda: http.get("/healthz").status_code == 200, "a healthy inbox", PROMPTLY)
        assert inbox.process.poll() is None, "eat inbox is still running"

        assert inbox.stop(signal.SIGTERM) < PROMPTLY
    finally:
        http.close()
        inbox.kill()
    assert inbox.process.returncode == 0, inbox.stderr[-3000:]
    stderr = inbox.stderr
    assert "Traceback" not in stderr and "Internal Server Error" not in stderr
    assert stderr.count("inbox: cannot reach the database") == 1, stderr[-3000:]
    assert "answers again" in stderr


# -- the worker through an outage --------------------------------------------------------------


async def _completed(provider: OpenAIAgentsProvider, approval_ids: list[str]) -> bool:
    records = [await provider.store.get(approval_id) for approval_id in approval_ids]
    return all(record.status is ApprovalStatus.COMPLETED for record in records)


async def _until_async(check: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _worker(tmp_path: Path) -> Eat:
    return Eat(
        tmp_path,
        "worker",
        "--app",
        "tests.apps.worker_app:build_registry",
        "--poll-interval",
        "0.1",
        "--max-poll-interval",
        "0.5",
        "--json",
    )


async def test_the_worker_says_an_outage_once_keeps_trying_and_resumes_after_the_restart(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    worker = _worker(tmp_path)
    try:
        before = await pause_decided_runs(provider, 1)
        await _until_async(lambda: _completed(provider, before), "a run before the outage", 90)

        address = server.status().uri
        await asyncio.to_thread(server.stop, 5)  # eat db stop
        noticed = await asyncio.to_thread(
            _until, lambda: "cannot reach the database" in worker.stderr, "the outage line", 10
        )
        await asyncio.sleep(4)  # several rounds of looking for work, each failing
        outage = worker.stderr
        print(f"the worker said so {noticed:.1f} s after the stop:\n{outage}")
        assert outage.count("cannot reach the database") == 1, outage
        assert f"cannot reach the database evolving_agents at {address}" in outage
        assert "Topology Description" not in outage and "Traceback" not in outage

        await asyncio.to_thread(server.ensure_running)  # eat db start
        after = await pause_decided_runs(provider, 1)
        await _until_async(lambda: _completed(provider, after), "a run after the restart", 30)
        assert "answers again" in worker.stderr
        assert worker.process.poll() is None, "eat worker is still running"

        assert await asyncio.to_thread(worker.stop, signal.SIGTERM) < PROMPTLY
    finally:
        worker.kill()
        await client.close()
    assert worker.process.returncode == 0, worker.stderr[-3000:]
    assert json.loads(worker.stdout.strip().splitlines()[-1])["completed"] == 2


# -- stopping while the database is down -------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_inbox_stops_on_the_first_signal_while_the_database_is_down(
    server: EmbeddedServer, tmp_path: Path, signum: signal.Signals
) -> None:
    port = _free_port()
    inbox = Eat(tmp_path, "inbox", "--port", str(port))
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
    try:
        _until(lambda: _sign_in(http), "the inbox to start and sign in", timeout=90)
        server.stop(timeout=5)
        _until(lambda: http.get("/healthz").status_code == 503, "the outage", PROMPTLY)

        took = inbox.stop(signum)
    finally:
        http.close()
        inbox.kill()
    print(f"eat inbox exited {took:.1f} s after {signum.name}")
    assert took < PROMPTLY
    assert inbox.process.returncode == 0, inbox.stderr[-3000:]
    assert "Traceback" not in inbox.stderr
    assert f"stopping the inbox ({signum.name}" in inbox.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_worker_stops_on_the_first_signal_while_the_database_is_down(
    server: EmbeddedServer, tmp_path: Path, signum: signal.Signals
) -> None:
    client = MongoDBClient()
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    worker = _worker(tmp_path)
    try:
        # A run it resumed: its loop is running (and past starting the server itself).
        ready = await pause_decided_runs(provider, 1)
        await _until_async(lambda: _completed(provider, ready), "the worker to run", 90)
        await asyncio.to_thread(server.stop, 5)
        await asyncio.to_thread(
            _until, lambda: "cannot reach the database" in worker.stderr, "the outage", 10
        )

        took = await asyncio.to_thread(worker.stop, signum)
    finally:
        worker.kill()
        await client.close()
    print(f"eat worker exited {took:.1f} s after {signum.name}")
    assert took < PROMPTLY
    assert worker.process.returncode == 0, worker.stderr[-3000:]
    assert "Traceback" not in worker.stderr
    assert f"got {signum.name}" in worker.stderr


# -- the parts ---------------------------------------------------------------------------------


async def test_a_watch_names_a_dead_server_within_seconds_with_the_password_masked() -> None:
    client = MongoDBClient(f"mongodb://ops:hunter2@127.0.0.1:{_free_port()}/", "eat_orders")
    watch = DatabaseWatch(client, label="test")
    try:
        started = time.monotonic()
        problem = await watch.check()
        took = time.monotonic() - started
    finally:
        await client.close()
    assert problem is not None and watch.problem is problem
    assert took < 3.0
    text = str(problem)
    assert text.startswith("cannot reach the database eat_orders at mongodb://ops:****@127.0.0.1")
    assert "hunter2" not in text and "connection refused" in text
    assert "no answer within 2 s" in text


async def test_a_task_that_swallows_its_cancellation_still_ends() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            swallowed.set()  # as a PyMongo wait can on Python 3.11
        await asyncio.sleep(30)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    started = time.monotonic()
    left = await cancel_and_wait([task], timeout=3.0)

    assert left == set() and task.cancelled() and swallowed.is_set()
    assert time.monotonic() - started < 1.5


def test_records_about_an_outage_are_dropped_and_others_kept() -> None:
    watch = DatabaseWatch(MongoDBClient("memory://"), label="test")
    quiet = OutageRecords(watch)
    outage = ServerSelectionTimeoutError("127.0.0.1:9: [Errno 111] Connection refused")
    refused = OperationFailure("not authorized", code=13)

    def record(*args: object) -> logging.LogRecord:
        return logging.LogRecord("w", logging.WARNING, __file__, 1, "failed: %s", args, None)

    assert not quiet.filter(record(outage))
    assert quiet.filter(record(refused))
    assert quiet.filter(record("no exception here"))
