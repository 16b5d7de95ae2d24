"""``eat approvals wait`` returns when the record changes; ``eat approvals list --watch`` shows
the queue again on every change and ends cleanly on Ctrl-C.

On memory:// (no change stream: the commands poll) the command runs in a thread while the test
decides through the store; on the wire server it runs as its own process.
"""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from click.testing import Result
from typer.testing import CliRunner

from evolving_agents import MongoDBClient
from evolving_agents.approvals.models import Verdict
from evolving_agents.approvals.rules import Reviewer
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app
from tests.test_cli_approvals import Eat
from tests.test_store import make_record

ROOT = Path(__file__).parent.parent
ALICE = Reviewer(name="alice", roles=frozenset())


@pytest.fixture
def memory() -> Eat:
    return Eat(MongoDBClient("memory://", f"eat_wait_{uuid.uuid4().hex[:8]}"))


def _store_do(client: MongoDBClient | None, action: str, approval_id: str) -> None:
    """Behind the waiting command's back: a decision, a vote or a cancel, through the store."""

    async def go() -> None:
        mongo = client or MongoDBClient()
        try:
            store = PendingApprovalStore(mongo)
            if action == "create":
                await store.create(make_record(approval_id, calls=("c1", "c2")))
            elif action == "decide-one":
                await store.decide(
                    approval_id, call_id="c1", verdict=Verdict.APPROVED, reviewer=ALICE
                )
            elif action == "decide-all":
                await store.decide(
                    approval_id, call_id=None, verdict=Verdict.APPROVED, reviewer=ALICE
                )
            elif action == "cancel":
                await store.cancel(approval_id)
        finally:
            if client is None:
                await mongo.close()

    asyncio.run(go())


def _in_thread(cli: Eat, *args: str) -> tuple[threading.Thread, list[Result]]:
    results: list[Result] = []
    thread = threading.Thread(
        target=lambda: results.append(CliRunner().invoke(app, list(args), obj=cli.shared))
    )
    thread.start()
    time.sleep(0.5)  # the command is waiting by now
    return thread, results


def test_wait_returns_when_a_decision_lands(memory: Eat) -> None:
    _store_do(memory.shared, "create", "apr_wait1")
    thread, results = _in_thread(
        memory, "approvals", "wait", "apr_wait1", "--json", "--timeout", "20s"
    )
    assert thread.is_alive(), "nothing changed yet"

    _store_do(memory.shared, "decide-one", "apr_wait1")
    thread.join(10)

    [result] = results
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["id"] == "apr_wait1" and record["status"] == "pending"
    assert record["waiting"] == 1, "the change: one call decided"


def test_wait_until_decided_ignores_a_partial_decision(memory: Eat) -> None:
    _store_do(memory.shared, "create", "apr_wait2")
    thread, results = _in_thread(
        memory, "approvals", "wait", "apr_wait2", "--until", "decided", "--timeout", "20s"
    )
    _store_do(memory.shared, "decide-one", "apr_wait2")
    time.sleep(2.5)  # more than one poll
    assert thread.is_alive(), "one call of two decided: still pending"

    _store_do(memory.shared, "decide-all", "apr_wait2")
    thread.join(10)

    [result] = results
    assert result.exit_code == 0, result.output
    assert result.stdout == "apr_wait2 is decided (2 of 2 call(s) decided)\n"


def test_wait_until_finished_returns_on_a_cancel_and_at_once_when_already_there(
    memory: Eat,
) -> None:
    _store_do(memory.shared, "create", "apr_wait3")
    thread, results = _in_thread(
        memory, "approvals", "wait", "apr_wait3", "--until", "finished", "--json"
    )
    _store_do(memory.shared, "cancel", "apr_wait3")
    thread.join(10)
    assert json.loads(results[0].stdout)["status"] == "cancelled"

    started = time.monotonic()
    again = memory("approvals", "wait", "apr_wait3", "--until", "finished")
    assert again.exit_code == 0 and time.monotonic() - started < 2


def test_wait_times_out_with_its_own_exit_code(memory: Eat) -> None:
    _store_do(memory.shared, "create", "apr_wait4")

    started = time.monotonic()
    result = memory("approvals", "wait", "apr_wait4", "--timeout", "0.5s")

    assert result.exit_code == ExitCode.TIMEOUT
    assert time.monotonic() - started < 5
    assert result.stderr == "error: approval apr_wait4 did not change after 0.5s\n"
    as_json = memory(
        "approvals", "wait", "apr_wait4", "--until", "decided", "--timeout", "0.2", "--json"
    )
    assert json.loads(as_json.stderr) == {
        "error": "approval apr_wait4 is still pending after 0.2",
        "code": ExitCode.TIMEOUT,
        "kind": "timeout",
    }
    bad = memory("approvals", "wait", "apr_wait4", "--timeout", "soon")
    assert bad.exit_code == ExitCode.USAGE and "invalid duration 'soon'" in bad.stderr


# -- in their own processes, on the wire server ------------------------------------------------


def _eat(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evolving_agents", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout, line by line, as it comes."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _ids(line: str) -> list[Any]:
    return [record["id"] for record in json.loads(line)]


def test_wait_in_its_own_process_wakes_on_a_decision(
    wire_env: dict[str, str], processes: list[subprocess.Popen[str]]
) -> None:
    _store_do(None, "create", "apr_wire1")
    waiting = _eat(wire_env, "approvals", "wait", "apr_wire", "--until", "decided", "--json")
    processes.append(waiting)
    time.sleep(1.5)
    assert waiting.poll() is None

    _store_do(None, "decide-all", "apr_wire1")
    out, err = waiting.communicate(timeout=15)

    assert waiting.returncode == 0, err
    assert json.loads(out)["status"] == "decided" and json.loads(out)["id"] == "apr_wire1"


def test_list_watch_prints_the_queue_again_on_change_and_ctrl_c_ends_it(
    wire_env: dict[str, str], processes: list[subprocess.Popen[str]]
) -> None:
    _store_do(None, "create", "apr_watch1")
    watching = _eat(wire_env, "approvals", "list", "--watch", "--json")
    processes.append(watching)
    lines = _lines(watching)

    assert _ids(lines.get(timeout=15)) == ["apr_watch1"]
    _store_do(None, "create", "apr_watch2")
    assert _ids(lines.get(timeout=15)) == ["apr_watch1", "apr_watch2"]
    _store_do(None, "decide-all", "apr_watch1")
    assert _ids(lines.get(timeout=15)) == ["apr_watch2"], "decided: off the pending list"
    with pytest.raises(queue.Empty):
        lines.get(timeout=2.5)  # nothing changed: nothing printed, however many polls

    watching.send_signal(signal.SIGINT)
    watching.wait(timeout=10)
    assert watching.returncode == 0
    assert watching.stderr is not None
    err = watching.stderr.read()
    assert "Traceback" not in err and "Aborted" not in err, err


def test_list_watch_on_a_terminal_redraws_in_place_and_ctrl_c_exits_0(
    wire_env: dict[str, str],
) -> None:
    _store_do(None, "create", "apr_tty1")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "evolving_agents", "approvals", "list", "--watch"],
        cwd=str(ROOT),
        env=wire_env,
        encoding="utf-8",
        dimensions=(24, 80),
    )
    try:
        child.expect("apr_tty1", timeout=15)
        child.expect("watching; Ctrl-C to stop", timeout=5)
        _store_do(None, "create", "apr_tty2")
        child.expect("2 pending approval", timeout=15)
        child.sendintr()
        child.expect(pexpect.EOF, timeout=10)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert "Traceback" not in str(child.before)
