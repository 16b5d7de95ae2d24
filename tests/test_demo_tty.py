"""``eat demo`` at a real terminal (a pseudo-terminal driven by pexpect), as a new user meets it:
Ctrl-C at a prompt, ``--leave-pending`` then the printed commands, ``--offline`` with a key set,
and a key set with no API to reach.

Every run shares the session's wire server (a fresh database per test), so a record left
pending by one process is there for the next.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

ROOT = Path(__file__).parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
EAT = [sys.executable, "-m", "evolving_agents"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens


def _at_a_terminal(env: dict[str, str], *args: str) -> pexpect.spawn:
    """``eat ARGS`` with a pseudo-terminal for stdin and stdout, 80 columns wide."""
    child = pexpect.spawn(
        EAT[0],
        [*EAT[1:], *args],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 80),
    )
    child.logfile_read = io.StringIO()  # the whole screen, not only since the last expect
    return child


def _screen(child: pexpect.spawn) -> str:
    """Everything the terminal showed, without colours and carriage returns."""
    return ANSI.sub("", child.logfile_read.getvalue()).replace("\r\n", "\n")


def _finished(child: pexpect.spawn, within: float = 120) -> tuple[str, int]:
    """What the terminal showed and the exit code, once the command ends (within seconds)."""
    try:
        child.expect(pexpect.EOF, timeout=within)
    except pexpect.TIMEOUT:
        child.close(force=True)
        pytest.fail(f"still running after {within}s: {_screen(child)[-600:]}")
    out = _screen(child)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}: {out}"
    return out, child.exitstatus


def _eat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EAT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _records(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``eat approvals list --status all --json``, by id, from the same database."""
    listed = _eat(env, "approvals", "list", "--status", "all", "--json")
    assert listed.returncode == 0, listed.stderr
    return {row.get("id", row.get("_id")): row for row in json.loads(listed.stdout)}


def _approval_id(out: str) -> str:
    (approval_id,) = set(re.findall(r"apr_[0-9a-f]+", out))
    return approval_id


def _printed(out: str, start: str) -> list[str]:
    """The command the demo printed that starts with ``start``, as argv for this Python."""
    (line,) = [line for line in out.splitlines() if start in line]
    words = shlex.split(line[line.index(start) :])
    assert words[0] == "eat"
    return words[1:]


def test_ctrl_c_at_the_prompt_exits_at_once_and_leaves_the_approval_pending(
    wire_env: dict[str, str],
) -> None:
    child = _at_a_terminal(wire_env, "demo", "--as", "alice")
    child.expect(r"\[s\]uggested")  # the first prompt: the Okta grant
    interrupted = time.monotonic()
    child.sendintr()  # Ctrl-C, once
    out, code = _finished(child, within=10)
    assert time.monotonic() - interrupted < 5, "the first Ctrl-C stops the demo at once"
    assert code == 130, out
    approval_id = _approval_id(out)
    assert f"approval {approval_id} is still pending" in out
    assert "0 of 3 call(s) decided" in out
    assert "eat approvals list\n" in out
    assert f"eat approvals approve {approval_id} --as alice\n" in out
    assert "eat inbox\n" in out
    assert f"eat approvals resume {approval_id} --app evolving_agents.demo:" in out
    assert "Resuming" not in out and "What ran" not in out, "Ctrl-C is no rejection"
    assert "Traceback" not in out and "Aborted" not in out
    record = _records(wire_env)[approval_id]
    assert record["status"] == "pending"
    assert record["waiting"] == 3, "no call was decided"


def test_leave_pending_then_the_printed_commands_decide_and_resume_it(
    wire_env: dict[str, str],
) -> None:
    # A key is set and no API is reachable: --offline, and the registry the demo names for
    # resuming, must both stay on the scripted model.
    env = {
        **wire_env,
        "OPENAI_API_KEY": "sk-test-not-a-key",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
    }
    out, code = _finished(
        _at_a_terminal(env, "demo", "--offline", "--leave-pending", "--as", "alice")
    )
    assert code == 0, out
    assert "Approve" not in out, "no prompt"
    approval_id = _approval_id(out)
    assert f"Left in the queue (--leave-pending): approval {approval_id} is still pending" in out
    for command in ("eat approvals list", f"eat approvals show {approval_id}", "eat inbox"):
        assert f"{command}\n" in out
    assert _records(env)[approval_id]["status"] == "pending"

    approved = _eat(env, *_printed(out, "eat approvals approve"))
    assert approved.returncode == 0, approved.stderr
    resume = _printed(out, "eat approvals resume")
    assert resume[-2:] == ["--app", "evolving_agents.demo:offline_registry"]
    resumed = _eat(env, *resume)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "granted alice@example.com the Okta role 'Super Administrator'" in resumed.stdout
    assert "rotated prod/payments/db-password" in resumed.stdout
    assert _records(env)[approval_id]["status"] == "completed"


def test_offline_with_a_key_set_stays_offline_and_completes(wire_env: dict[str, str]) -> None:
    env = {
        **wire_env,
        "OPENAI_API_KEY": "sk-test-not-a-key",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
    }
    child = _at_a_terminal(env, "demo", "--offline", "--as", "alice")
    child.expect(r"\[s\]uggested")
    child.sendline("y")
    child.expect(r"Approve .*deploy_service")
    child.sendline("y")
    child.expect(r"Approve .*rotate_credential")
    child.sendline("n")
    child.expect("Message for the agent")
    child.sendline("Not during the freeze")
    out, code = _finished(child)
    assert code == 0, out
    assert "going online" not in out
    assert "ScriptedModel" in out and "OPENAI_API_KEY is set and not used" in out
    ran = out[out.index("What ran:") : out.index("What did not run")]
    assert "granted alice@example.com" in ran and "deployed payments-api 2.4.1" in ran
    refused = out[out.index("What did not run") : out.index("final answer")]
    assert "rotate_credential: rejected by alice: Not during the freeze" in refused
    assert "rotated prod/payments" not in out, "the rejected tool never ran"
    assert "eat approvals list --status all" in out and "eat inbox" in out
    assert "Tracing" not in out and "Traceback" not in out


def test_a_key_set_and_no_api_to_reach_is_one_line_and_exit_1(wire_env: dict[str, str]) -> None:
    port = _closed_port()
    env = {
        **wire_env,
        "OPENAI_API_KEY": "sk-test-not-a-key",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
    }
    out, code = _finished(_at_a_terminal(env, "demo", "--as", "alice"))
    assert code == 1, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("going online: OPENAI_API_KEY is set, so the model is gpt-4.1-mini")
    (failure,) = [line for line in lines if "error" in line.lower()]
    assert failure.startswith(f"error: could not reach the OpenAI API at http://127.0.0.1:{port}/")
    assert "ConnectError" in failure and "eat demo --offline" in failure
    assert failure == lines[-1], "the failure is the last thing said"
    assert "Traceback" not in out and "Tracing" not in out
    assert len(lines) < 15, out  # the notice, the intro panel and the failure


def test_ctrl_c_after_a_vote_keeps_the_vote_and_the_rest_pending(
    wire_env: dict[str, str],
) -> None:
    child = _at_a_terminal(wire_env, "demo", "--as", "alice")
    child.expect(r"\[s\]uggested")
    child.sendline("s")  # the grant as suggested
    child.expect(r"Approve .*deploy_service")
    child.sendintr()
    out, code = _finished(child, within=10)
    assert code == 130, out
    approval_id = _approval_id(out)
    assert "approved grant_okta_admin with the suggested arguments by alice" in out
    assert f"approval {approval_id} is still pending; nothing ran (1 of 3 call(s) decided)" in out
    record = _records(wire_env)[approval_id]
    assert (record["status"], record["waiting"]) == ("pending", 2)
