"""Every script under examples/openai_agents runs to the end offline, as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "openai_agents"

pytestmark = pytest.mark.wire


def run_example(env: dict[str, str], name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "ScriptedModel" in done.stdout, "offline examples say so"
    return done.stdout


def test_every_example_is_covered() -> None:
    covered = {
        "needs_approval_true.py",
        "needs_approval_async_fn.py",
        "long_running_approval.py",
        "ai_reviewer.py",
        "intent_plan_review.py",
        "bighub_decisions.py",
        "decision_first_quickstart.py",
    }
    assert {path.name for path in EXAMPLES.glob("*.py")} == covered


def test_needs_approval_true(wire_env: dict[str, str]) -> None:
    out = run_example(wire_env, "needs_approval_true.py")
    assert "waiting: restart_service" in out
    assert "tool restart_service: restarted checkout in prod" in out
    rejected = run_example(wire_env, "needs_approval_true.py", "--reject")
    assert "tool restart_service: Not during the sale" in rejected


def test_needs_approval_async_fn(wire_env: dict[str, str]) -> None:
    out = run_example(wire_env, "needs_approval_async_fn.py")
    assert "waiting on call_b2" in out and "call_a1 {" not in out
    assert "tool call_b2: refunded 900.00 on B-2" in out


def test_long_running_approval_pauses_in_one_process_and_resumes_in_another(
    wire_env: dict[str, str],
) -> None:
    first = run_example(wire_env, "long_running_approval.py")
    assert "this process exits now" in first
    approval_id = first.split("approval ")[1].split()[0]
    second = run_example(wire_env, "long_running_approval.py", "--resume")
    assert f"resumed {approval_id}: success" in second
    assert "promoted v5.2.0 to prod" in second


def test_ai_reviewer(wire_env: dict[str, str]) -> None:
    out = run_example(wire_env, "ai_reviewer.py")
    assert "scale_deployment: approved by intent-review-agent:ScriptedModel (ai)" in out
    assert "grant_okta_admin: waiting for a person" in out
    assert "tool grant_okta_admin: Admin for 48h is not allowed" in out
    assert "final: success" in out


def test_intent_plan_review(wire_env: dict[str, str]) -> None:
    out = run_example(wire_env, "intent_plan_review.py")
    assert "plan is now partially_approved" in out
    assert "tool call_plan: terraform plan in prod: ok" in out
    assert "tool call_apply: apply needs a reviewed plan output first" in out


def test_bighub_decisions(wire_env: dict[str, str]) -> None:
    pytest.importorskip("bighub")
    out = run_example(wire_env, "bighub_decisions.py")
    assert "fake BIGHUB" in out
    assert "final: success" in out


def test_decision_first_quickstart(wire_env: dict[str, str]) -> None:
    out = run_example(wire_env, "decision_first_quickstart.py")
    assert "run: approval_required (record apr_" in out
    assert "mode review, risk 0.9" in out
    assert "better action: Grant scoped Okta admin access for 2h instead of 48h" in out
    assert "applying the better action" in out
    assert out.count("grant_okta_admin ran:") == 1, "once, with the suggested arguments"
    assert "grant_okta_admin ran: alice for 2h" in out
    assert "run_with_approval: completed; last call executed" in out
    assert "answer: Alice has scoped Okta admin access for 2h" in out
