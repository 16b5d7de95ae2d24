"""What every ``eat`` command shares: ``--version``, shell completion, id prefixes, one JSON
shape per record, errors as JSON under ``--json``, and distinct exit codes.

Commands run through Typer's runner on memory:// and a wire server (the ``eat`` fixture of
``test_cli_approvals``); records with chosen ids are written through the store.
"""

# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import socket
from datetime import datetime
from importlib import metadata
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from evolving_agents import MongoDBClient
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode, fail
from evolving_agents.cli.main import app
from tests.test_cli_approvals import APP, Eat, eat  # noqa: F401  (the `eat` fixture)
from tests.test_cli_imports import COMMAND_MODULES, SDK, _modules_after
from tests.test_store import make_record


def _create(cli: Eat, *approval_ids: str) -> None:
    """Records with these ids, written through the store (so they are sealed and readable)."""

    async def go() -> None:
        client = cli.shared or MongoDBClient()
        try:
            store = PendingApprovalStore(client)
            for approval_id in approval_ids:
                await store.create(make_record(approval_id))
        finally:
            if cli.shared is None:
                await client.close()

    asyncio.run(go())


def _json_error(result: Any) -> dict[str, Any]:
    """The one JSON object a failed ``--json`` command wrote on stderr; stdout is empty."""
    assert result.stdout == "", result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    error: dict[str, Any] = json.loads(lines[0])
    assert error["code"] == result.exit_code
    return error


# -- --version and completion --------------------------------------------------------------


def test_eat_version_prints_the_installed_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"eat (evolving-agents) {metadata.version('evolving-agents')}\n"


def test_eat_version_imports_no_command_and_no_driver() -> None:
    found = _modules_after(
        "from typer.testing import CliRunner\n"
        "from evolving_agents.cli.main import app\n"
        "result = CliRunner().invoke(app, ['--version'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)"
    )
    assert str(found["output"]).startswith("eat (evolving-agents) ")
    loaded = found["modules"]
    assert isinstance(loaded, set)
    assert {*SDK, *COMMAND_MODULES, "pymongo", "pydantic_settings"} & loaded == set()


def test_the_root_offers_shell_completion_and_shows_a_bash_script() -> None:
    helped = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in helped.stdout and "--show-completion" in helped.stdout

    script = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="eat")

    assert script.exit_code == 0, script.output
    assert "_EAT_COMPLETE=complete_bash" in script.stdout
    assert "complete -o default -F _eat_completion eat" in script.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("eat appr", {"approvals"}),
        ("eat rev", {"reviewers"}),
        ("eat approvals ", {"list", "show", "wait", "approve", "reject", "resume", "cancel"}),
        ("eat approvals wait apr_1 --un", {"--until"}),
    ],
)
def test_completion_reaches_commands_that_are_imported_on_use(
    words: str, expected: set[str]
) -> None:
    env = {
        "_EAT_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    result = CliRunner().invoke(app, [], prog_name="eat", env=env)

    assert result.exit_code == 0, result.output
    assert expected <= set(result.stdout.split()), result.stdout


# -- id prefixes ---------------------------------------------------------------------------


def test_a_unique_prefix_names_the_record_in_every_command(eat: Eat) -> None:
    _create(eat, "apr_feed01", "apr_beef01", "apr_cafe01", "apr_dade01")

    assert eat.json("approvals", "show", "apr_fe")["id"] == "apr_feed01"
    approved = eat.json("approvals", "approve", "apr_be", "--as", "alice")
    assert (approved["id"], approved["status"]) == ("apr_beef01", "decided")
    rejected = eat.json("approvals", "reject", "apr_ca", "--as", "alice", "-m", "not today")
    assert (rejected["id"], rejected["status"]) == ("apr_cafe01", "decided")
    cancelled = eat.json("approvals", "cancel", "apr_da")
    assert (cancelled["id"], cancelled["status"]) == ("apr_dade01", "cancelled")
    waited = eat.json("approvals", "wait", "apr_b", "--until", "decided", "--timeout", "5s")
    assert waited["id"] == "apr_beef01"


def test_a_prefix_resumes_a_real_run(eat: Eat) -> None:
    run = eat.pause("deploy payments-api")
    prefix = str(run.approval_id)[:10]
    assert eat("approvals", "approve", prefix, "--as", "alice").exit_code == 0

    outcome = eat.json("approvals", "resume", prefix, "--app", APP)

    assert outcome["status"] == "success"
    assert eat.json("approvals", "show", prefix)["status"] == "completed"


def test_an_ambiguous_prefix_lists_the_candidates_and_a_whole_id_always_wins(eat: Eat) -> None:
    _create(eat, "apr_abc", "apr_abcd", "apr_abce")

    assert eat.json("approvals", "show", "apr_abc")["id"] == "apr_abc", "the exact id wins"
    ambiguous = eat("approvals", "approve", "apr_abc", "--as", "alice")
    assert ambiguous.exit_code == 0, "the exact id: nothing ambiguous"

    several = eat("approvals", "show", "apr_ab")
    assert several.exit_code == ExitCode.USAGE
    [line] = [line for line in several.stderr.splitlines() if line.strip()]
    assert "is the start of 3 approvals: apr_abc, apr_abcd, apr_abce" in line
    as_json = _json_error(eat("approvals", "show", "apr_ab", "--json"))
    assert as_json["kind"] == "usage" and as_json["candidates"] == [
        "apr_abc",
        "apr_abcd",
        "apr_abce",
    ]
    assert eat.json("approvals", "show", "apr_abcd")["status"] == "pending", "nothing decided"


def test_a_prefix_nothing_starts_with_is_not_found(eat: Eat) -> None:
    _create(eat, "apr_feed02")

    missing = eat("approvals", "show", "apr_zz")

    assert missing.exit_code == ExitCode.NOT_FOUND
    assert "approval apr_zz: not found" in missing.stderr
    assert _json_error(eat("approvals", "cancel", "apr_zz", "--json")) == {
        "error": "approval apr_zz: not found",
        "code": ExitCode.NOT_FOUND,
        "kind": "not_found",
    }


# -- one JSON shape ------------------------------------------------------------------------


def test_every_command_prints_a_record_in_the_same_json_shape(eat: Eat) -> None:
    run = eat.pause("deploy payments-api")
    approval_id = str(run.approval_id)

    [listed] = eat.json("approvals", "list")
    shown = eat.json("approvals", "show", approval_id)
    approved = eat.json("approvals", "approve", approval_id, "--as", "alice")
    waited = eat.json("approvals", "wait", approval_id, "--until", "decided")
    other = eat.pause("deploy payments-api")
    cancelled = eat.json("approvals", "cancel", str(other.approval_id))

    keys = set(shown)
    for record in (listed, approved, waited, cancelled):
        assert set(record) == keys
    assert listed["id"] == shown["id"] == approval_id and "_id" not in keys
    assert "state" not in keys
    assert shown["tools"] == ["deploy_service"] and shown["agent_name"] == "release-agent"
    assert shown["risk"] == {"level": "high", "score": 0.8}
    for moment in ("created_at", "updated_at", "deadline"):
        assert datetime.fromisoformat(shown[moment]).utcoffset() is not None, moment
    assert datetime.fromisoformat(shown["audit"][0]["at"]).utcoffset() is not None
    assert isinstance(shown["age_seconds"], float) and 0 <= shown["age_seconds"] < 60
    assert isinstance(shown["expires_in_seconds"], float)
    assert 23 * 3600 < shown["expires_in_seconds"] <= 24 * 3600, "the default timeout, 24h"
    assert isinstance(shown["tool_calls"], list) and isinstance(shown["hidden_characters"], list)
    assert shown["integrity"] == {"intact": True, "problems": []}
    assert shown["unreadable"] is False
    assert approved["status"] == waited["status"] == "decided"
    assert cancelled["status"] == "cancelled" and cancelled["expires_in_seconds"] is None


# -- errors under --json, exit codes ---------------------------------------------------------


def test_errors_are_json_under_json_with_their_exit_code(eat: Eat) -> None:
    unknown = _json_error(eat("approvals", "list", "--status", "maybe", "--json"))
    assert unknown["kind"] == "usage" and "unknown status 'maybe'" in unknown["error"]

    missing_option = _json_error(eat("approvals", "approve", "apr_x", "--json"))
    assert missing_option["code"] == ExitCode.USAGE and "--as" in missing_option["error"]

    no_command = _json_error(eat("approvals", "nope", "--json"))
    assert no_command["code"] == ExitCode.USAGE and "nope" in no_command["error"]

    run = eat.pause("grant alice admin")
    forbidden = eat("approvals", "approve", str(run.approval_id), "--as", "carol", "--json")
    assert forbidden.exit_code == ExitCode.FORBIDDEN
    assert "needs one of the roles: security" in _json_error(forbidden)["error"]

    # Without --json the same error is still one red line, not JSON.
    plain = eat("approvals", "list", "--status", "maybe")
    assert plain.stderr.startswith("error: unknown status") and plain.exit_code == ExitCode.USAGE


def test_an_unreachable_database_is_a_json_error_under_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{port}/")
    monkeypatch.setenv("EAT_SERVER_SELECTION_TIMEOUT", "1")

    result = CliRunner().invoke(app, ["approvals", "show", "apr_x", "--json"])

    error = _json_error(result)
    assert (error["code"], error["kind"]) == (ExitCode.CONFIG, "config")
    assert (
        f"cannot reach the database evolving_agents at mongodb://127.0.0.1:{port}/"
        in (error["error"])
    )


def test_port_in_use_has_an_exit_code_of_its_own() -> None:
    codes = [int(code) for code in ExitCode]
    assert len(codes) == len(set(codes)), "no two meanings share a code"
    assert ExitCode.PORT_IN_USE not in (ExitCode.CONFIG, ExitCode.NOT_FOUND, ExitCode.ERROR)

    serve = typer.Typer()

    @serve.command()
    def inbox(as_json: bool = typer.Option(False, "--json")) -> None:
        raise fail("port 8765 is in use on 127.0.0.1", ExitCode.PORT_IN_USE)

    plain = CliRunner().invoke(serve, [])
    assert plain.exit_code == ExitCode.PORT_IN_USE
    assert plain.stderr == "error: port 8765 is in use on 127.0.0.1\n"
    assert _json_error(CliRunner().invoke(serve, ["--json"])) == {
        "error": "port 8765 is in use on 127.0.0.1",
        "code": ExitCode.PORT_IN_USE,
        "kind": "port_in_use",
    }
