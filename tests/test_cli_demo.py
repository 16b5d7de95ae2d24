"""``eat demo`` end to end on the embedded default database, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evolving_agents.cli.main import app
from evolving_agents.storage.embedded import EmbeddedServer

ROOT = Path(__file__).parent.parent


@pytest.fixture
def embedded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private data dir for the embedded server, stopped after the test."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("EAT_DATA_DIR", str(data_dir))
    yield data_dir
    EmbeddedServer(data_dir).stop()


def _eat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evolving_agents", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def test_demo_approve_runs_every_tool_and_prints_the_final_answer(embedded_home: Path) -> None:
    done = _eat("demo", "--approve", "--as", "alice")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "ScriptedModel" in out, "offline mode says so on screen"
    assert "embedded SecantusDB" in out
    assert "grant_okta_admin" in out and "duration_hours" in out
    assert "granted alice@example.com the Okta role 'Super Administrator'" in out
    assert "deployed payments-api 2.4.1 to production" in out
    assert "rotated prod/payments/db-password" in out
    assert EmbeddedServer(embedded_home).status().running, "the server outlives the command"


def test_demo_reject_never_runs_a_tool_and_the_agent_reads_the_message(
    embedded_home: Path,
) -> None:
    done = _eat("demo", "--reject", "--message", "Needs CHG ticket first")
    assert done.returncode == 0, done.stderr
    assert "granted alice" not in done.stdout and "deployed payments-api" not in done.stdout
    assert done.stdout.count("Needs CHG ticket first") >= 3


def test_demo_without_a_terminal_or_flags_rejects_and_says_why(embedded_home: Path) -> None:
    done = _eat("demo")
    assert done.returncode == 0, done.stderr
    assert "no terminal to ask at" in done.stdout
    assert "granted alice" not in done.stdout


def test_demo_refuses_both_flags() -> None:
    result = CliRunner().invoke(app, ["demo", "--approve", "--reject"])
    assert result.exit_code == 2
    assert "not both" in result.output
