"""Shared fixtures: an isolated environment, and the two database backends.

Store and provider tests run twice through the ``mongo`` fixture: on ``memory://``
(mongomock-motor) and on a real MongoDB wire server, a SecantusDB subprocess started once per
session on a free port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from agents import set_tracing_disabled
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from evolving_agents.storage.mongodb_client import MongoDBClient

TEST_SECRET = "test-secret-0123456789abcdef0123456789"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The on-demand load tests carry their own deadlines; the per-test hang limit is not theirs."""
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.timeout(0))


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the developer's data, config, keys or databases."""
    home = tmp_path_factory.mktemp("eat-home")
    monkeypatch.setenv("EAT_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("EAT_DATA_DIR", str(home / "data"))
    # Any free port: tests start embedded servers side by side (and beside the developer's
    # own on 27217), each in its own data directory. Tests of the fixed port set their own.
    monkeypatch.setenv("EAT_DB_PORT", "0")
    monkeypatch.setenv("EAT_STATE_SECRET", TEST_SECRET)
    for name in ("OPENAI_API_KEY", "MONGODB_URI", "EAT_ENV", "BIGHUB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    set_tracing_disabled(True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def secantus_executable() -> str:
    found = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    if not Path(found).exists():
        pytest.fail("secantusd-py is missing: pip install -e '.[dev]' installs it")
    return found


@pytest.fixture(scope="session")
def wire_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MongoDB wire server for the whole session (test commands enabled for faults)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("secantus") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                secantus_executable(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                ":memory:",
                "--log-level",
                "WARNING",
                "--enable-test-commands",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    deadline = time.monotonic() + 30
    while True:
        try:
            with MongoClient(uri, serverSelectionTimeoutMS=500) as probe:
                probe.admin.command("ping")
            break
        except PyMongoError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"SecantusDB did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    yield uri
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(params=["memory", "wire"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def mongo(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[MongoDBClient]:
    """A fresh database on each backend; dropped afterwards."""
    db_name = f"eat_test_{uuid.uuid4().hex[:10]}"
    if backend == "memory":
        client = MongoDBClient("memory://", db_name)
    else:
        client = MongoDBClient(request.getfixturevalue("wire_uri"), db_name)
    yield client
    if backend == "wire":
        await client.client.drop_database(db_name)
    await client.close()


@pytest.fixture
def wire_env(wire_uri: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a subprocess that must share the wire server and the signing secret."""
    db_name = f"eat_test_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("MONGODB_URI", wire_uri)
    monkeypatch.setenv("MONGODB_DATABASE_NAME", db_name)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")]
    )
    return env
