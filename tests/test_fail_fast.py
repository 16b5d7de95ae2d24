"""A database that is not there is one line within seconds, naming where and what to check.

Each scenario runs ``eat`` as a user does, in a subprocess, against a closed port on
127.0.0.1 (nothing listens: connection refused) or the session's wire server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from evolving_agents.cli.common import ExitCode
from evolving_agents.config import Settings
from evolving_agents.storage.mongodb_client import MongoDBClient, mask_uri

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    """A port nothing listens on: bound for a moment to pick it, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eat(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evolving_agents", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "80"},
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "EAT_SERVER"))}
    return {**env, **values}


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_dead_uri_fails_within_seconds_with_one_line_naming_the_uri_and_database() -> None:
    uri = f"mongodb://127.0.0.1:{closed_port()}/"
    env = environment(MONGODB_URI=uri, MONGODB_DATABASE_NAME="eat_orders")

    started = time.monotonic()
    done = eat("approvals", "list", env=env)
    elapsed = time.monotonic() - started

    assert elapsed < 10, f"took {elapsed:.1f}s: the default server selection timeout is seconds"
    assert done.returncode == ExitCode.CONFIG
    assert done.stdout == ""
    line = one_line(done.stderr)
    assert line.startswith("error: cannot reach the database eat_orders at " + uri)
    assert "connection refused" in line and "check MONGODB_URI" in line
    assert "ServerSelectionTimeoutError" not in line and "Topology" not in line
    assert len(line) < 200, line


def test_a_password_in_the_uri_is_masked_in_the_error() -> None:
    port = closed_port()
    env = environment(
        MONGODB_URI=f"mongodb://ops:s3cret-pw@127.0.0.1:{port}/?authSource=admin",
        EAT_SERVER_SELECTION_TIMEOUT="1s",
    )

    done = eat("approvals", "list", "--json", env=env)

    assert done.returncode == ExitCode.CONFIG
    line = one_line(done.stderr)
    assert f"mongodb://ops:****@127.0.0.1:{port}/?authSource=admin" in line
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert "no answer within 1 s" in line
    assert "database evolving_agents" in line


@pytest.mark.parametrize(
    "args",
    [("approvals", "show", "apr_nothing"), ("approvals", "cancel", "apr_nothing", "--as", "ops")],
)
def test_every_command_that_reads_the_store_says_the_same_one_line(args: tuple[str, ...]) -> None:
    env = environment(
        MONGODB_URI=f"mongodb://127.0.0.1:{closed_port()}/",
        MONGODB_DATABASE_NAME="eat_elsewhere",
        EAT_SERVER_SELECTION_TIMEOUT="1",
    )

    done = eat(*args, env=env)

    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert "cannot reach the database eat_elsewhere" in one_line(done.stderr)


def test_a_mistyped_database_name_on_a_live_server_names_the_database(wire_uri: str) -> None:
    typo = f"eat_typo_{uuid.uuid4().hex[:8]}"
    env = environment(MONGODB_URI=wire_uri, MONGODB_DATABASE_NAME=typo)

    shown = eat("approvals", "list", env=env)
    as_json = eat("approvals", "list", "--json", env=env)

    assert shown.returncode == 0, shown.stderr
    note = f"database {typo} on {wire_uri}: no approvals yet"
    assert shown.stdout.splitlines() == ["no pending approvals", note]
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [], "--json: the data alone on stdout"
    assert one_line(as_json.stderr) == note


async def test_a_database_that_has_approvals_gets_no_note(wire_uri: str) -> None:
    db_name = f"eat_used_{uuid.uuid4().hex[:8]}"
    client = MongoDBClient(wire_uri, db_name)
    try:
        # Any write creates the collection: a database the package has used, queue empty.
        await client.collection("eat_openai_pending_approvals").insert_one({"_id": "probe"})
        await client.collection("eat_openai_pending_approvals").delete_one({"_id": "probe"})
        env = environment(MONGODB_URI=wire_uri, MONGODB_DATABASE_NAME=db_name)
        done = eat("approvals", "list", env=env)
    finally:
        await client.client.drop_database(db_name)
        await client.close()

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["no pending approvals"]


async def test_a_server_selection_timeout_in_the_uri_wins_over_the_setting() -> None:
    settings = Settings(server_selection_timeout="3s")
    in_uri = MongoDBClient(
        "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=250&directConnection=true",
        settings=settings,
    )
    from_settings = MongoDBClient("mongodb://127.0.0.1:1/", settings=settings)
    try:
        assert in_uri.client.options.server_selection_timeout == 0.25
        assert in_uri.selection_timeout_seconds() == 0.25
        assert from_settings.client.options.server_selection_timeout == 3
        assert from_settings.selection_timeout_seconds() == 3
    finally:
        await in_uri.close()
        await from_settings.close()
    assert Settings().server_selection_timeout_ms == 5000, "the default: seconds, not 30"


def test_a_timeout_setting_that_would_wait_forever_is_a_one_line_configuration_error() -> None:
    env = environment(MONGODB_URI="memory://", EAT_SERVER_SELECTION_TIMEOUT="never")

    done = eat("approvals", "list", env=env)

    assert done.returncode == ExitCode.CONFIG
    line = one_line(done.stderr)
    assert line.startswith("error: EAT_SERVER_SELECTION_TIMEOUT: ")
    assert "'5s'" in line


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://ops:pa55@db.example.com/", "mongodb://ops:****@db.example.com/"),
        ("mongodb://db.example.com:27017/", "mongodb://db.example.com:27017/"),
        ("mongodb://ops@db.example.com/", "mongodb://ops@db.example.com/"),
        (
            "mongodb+srv://ops:p%40ss@c0.example.net/app?tlsCertificateKeyFilePassword=pem&w=1",
            "mongodb+srv://ops:****@c0.example.net/app?tlsCertificateKeyFilePassword=****&w=1",
        ),
        ("mongodb://ops:pa/ss@db.example.com/app", "mongodb://ops:****@db.example.com/app"),
    ],
)
def test_masking_hides_every_secret_a_uri_can_carry(uri: str, shown: str) -> None:
    assert mask_uri(uri) == shown
