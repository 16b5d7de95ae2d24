"""``--app`` finds the project it runs in, as uvicorn and celery do (issue 14).

A subprocess started in a temporary project folder, with nothing on ``PYTHONPATH``, loads
``myapp.agents:registry`` from that folder; ``--app-dir`` points elsewhere; a wrong
``--app-dir`` is a usage error that names it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

APP = """
from agents import Agent
from agents.testing import ScriptedModel, assistant_message
from evolving_agents import AgentRegistry

registry = AgentRegistry()
registry.register(Agent(name="folder-agent", model=ScriptedModel([[assistant_message("hi")]])))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    package = tmp_path / "project" / "myapp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "agents.py").write_text(APP)
    return package.parent


def _eat(args: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "MONGODB_URI", "OPENAI_API_KEY")
    }
    env.update(
        MONGODB_URI="memory://",
        EAT_CONFIG_DIR=str(tmp_path / "config"),
        EAT_DATA_DIR=str(tmp_path / "data"),
        EAT_STATE_SECRET=secrets.token_hex(32),
    )
    return subprocess.run(
        # -P: nothing prepended to sys.path, as when the installed `eat` script starts.
        [sys.executable, "-P", "-m", "evolving_agents", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_app_is_imported_from_the_folder_the_command_runs_in(project: Path, tmp_path: Path) -> None:
    done = _eat(
        ["worker", "--app", "myapp.agents:registry", "--drain", "--json"], project, tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "No module named" not in done.stderr


def test_app_dir_names_another_folder(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = ["approvals", "resume", "--all-decided", "--json"]
    found = _eat(
        [*args, "--app", "myapp.agents:registry", "--app-dir", str(project)], elsewhere, tmp_path
    )
    assert found.returncode == 0, found.stderr
    missing = _eat([*args, "--app", "myapp.agents:registry"], elsewhere, tmp_path)
    assert missing.returncode != 0 and "myapp" in missing.stderr
    wrong = _eat(
        [*args, "--app", "myapp.agents:registry", "--app-dir", str(tmp_path / "nope")],
        elsewhere,
        tmp_path,
    )
    assert wrong.returncode == 2 and "--app-dir" in wrong.stderr and "nope" in wrong.stderr
