"""``eat approvals list`` in an 80-column terminal: every line fits, no word is broken.

The queue table is rendered for a handful of records that stretch each column (an expired
call, a tool error, two tools, a long agent name, a critical risk, hidden characters, an
unreadable document), and through the command itself on paused runs of the review app.
"""

# ruff: noqa: F811

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from rich.console import Console

from evolving_agents.approvals.models import (
    ApprovalStatus,
    CallOutcome,
    CallOutcomeStatus,
    PendingApproval,
    ToolCallRecord,
    utcnow,
)
from evolving_agents.cli import common
from evolving_agents.cli.queue_table import queue_table
from evolving_agents.present.views import ApprovalRow, UnreadableRow
from tests.apps.review_app import AGENT_NAME
from tests.test_cli_approvals import Eat, eat  # noqa: F401  (the `eat` fixture)

NOW = utcnow()


def _record(
    number: int,
    tools: list[str],
    *,
    agent: str = "ops-agent",
    status: ApprovalStatus = ApprovalStatus.PENDING,
    age: timedelta = timedelta(minutes=5),
    expires: timedelta = timedelta(hours=4, minutes=10),
    risk: float | None = 0.8,
    tool_error: bool = False,
    arguments: dict[str, str] | None = None,
) -> PendingApproval:
    calls = [
        ToolCallRecord(
            call_id=f"call_{index}",
            tool_name=tool,
            agent_name=agent,
            arguments=arguments or {},
            arguments_sha256="0" * 64,
            # No score: the band is the tool's declared risk ("critical" is the widest).
            signal=None if risk is None else {"risk": risk},
            metadata={} if risk is not None else {"risk": "critical"},
            outcome=CallOutcome(status=CallOutcomeStatus.TOOL_ERROR, error="boom")
            if tool_error
            else None,
        )
        for index, tool in enumerate(tools)
    ]
    return PendingApproval(
        id=f"apr_{number:016x}",
        run_id=f"run_{number}",
        agent_name=agent,
        tool_calls=calls,
        status=status,
        created_at=NOW - age,
        updated_at=NOW,
        expires_at=NOW + expires,
    )


RECORDS = [
    _record(0xA1B2C3D4E5F60718, ["deploy_service"]),
    _record(0x5EC, ["grant_access", "rotate_credentials"], agent="security-review-agent"),
    _record(0xDEAD, ["delete_customer_records"], risk=None, expires=-timedelta(minutes=5)),
    _record(0xE770, ["deploy_service"], status=ApprovalStatus.COMPLETED, tool_error=True),
    _record(0xDEC1, ["send_email"], status=ApprovalStatus.DECIDED, age=timedelta(hours=23)),
    _record(0x41DE, ["write_file"], arguments={"path": "/srv/\u202etxt.exe"}, risk=0.3),
]


def _rendered(rows: list[ApprovalRow | UnreadableRow], width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(queue_table(rows, "all", width=width))
    return console.export_text().splitlines()


def _words(rows: list[ApprovalRow | UnreadableRow]) -> set[str]:
    """Every word the table may show: its headers and title, and each row's values."""
    words = {"id", "age", "agent", "tool(s)", "risk", "status", "expires", "approval(s),"}
    words |= {"approval(s)", "unreadable", "of", "-", "hidden", "characters", str(len(rows))}
    words.add(str(sum(1 for row in rows if row.unreadable)))
    for row in rows:
        if isinstance(row, UnreadableRow):
            words |= {*row.label.split(), *row.problem.split()}
            continue
        values = [row.id, row.age, row.agent, row.tools.replace(",", ""), row.risk.level]
        words |= {word for value in values for word in value.split()}
        words |= {*row.status_label.split(), *row.expires_in.split()}
    return words


def _row_block(lines: list[str], approval_id: str) -> list[str]:
    """The lines of one row: its first (which starts with the id) and those that continue it."""
    start = next(index for index, line in enumerate(lines) if line.startswith(approval_id))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    return block


def _column_text(lines: list[str], block: list[str], column: str, until: str = "") -> str:
    """What one column shows in a row, its lines joined by a space."""
    header = next(line for line in lines if line.startswith("id "))
    start = header.index(f" {column}") + 1
    end = header.index(f" {until}") + 1 if until else None
    return " ".join(part for line in block if (part := line[start:end].strip()))


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_queue_fits_the_terminal_and_never_breaks_a_word(width: int) -> None:
    rows: list[ApprovalRow | UnreadableRow] = [ApprovalRow.of(r, now=NOW) for r in RECORDS]
    rows.append(UnreadableRow(id="bad-typo", problem="status: input should be 'pending'"))

    lines = _rendered(rows, width)

    assert max(len(line.rstrip()) for line in lines) <= width
    allowed = _words(rows)
    shown = {word for line in lines if not set(line.strip()) <= {"─"} for word in line.split()}
    assert shown <= allowed, f"cut or broken words: {sorted(shown - allowed)}"
    for row in rows:
        if isinstance(row, ApprovalRow):
            block = _row_block(lines, row.id)
            assert block[0].startswith(row.id + " "), "the id whole, on the row's first line"
            assert _column_text(lines, block, "expires") == row.expires_in, "the expiry whole"
            tools = _column_text(lines, block, "tool(s)", until="risk").split()
            assert tools[: len(row.tools.split(", "))] == row.tools.split(", ")
    assert any("unreadable record" in line for line in lines)


def test_a_narrow_terminal_drops_the_agent_first_and_names_it_when_it_is_one() -> None:
    # One agent, short tool names: at 80 columns the age still fits beside them, the agent not.
    rows: list[ApprovalRow | UnreadableRow] = [
        ApprovalRow.of(record, now=NOW)
        for record in RECORDS
        if record.agent_name == "ops-agent"
        and record.tool_calls[0].tool_name != "delete_customer_records"
    ]

    narrow, wide = _rendered(rows, 80), _rendered(rows, 160)

    assert narrow[0].strip() == f"{len(rows)} approval(s) of ops-agent"
    assert "agent" not in narrow[1].split() and "age" in narrow[1].split()
    assert wide[1].split() == ["id", "age", "agent", "tool(s)", "risk", "status", "expires"]


def test_eat_approvals_list_reads_at_80_columns(eat: Eat, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.console, "width", 80)
    runs = [eat.pause("deploy payments-api and grant alice admin") for _ in range(3)]

    listed = eat("approvals", "list")

    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    header = lines[1].split()
    assert header == ["id", "age", "agent", "tool(s)", "risk", "status", "expires"]
    for run in runs:
        [line] = [line for line in lines if str(run.approval_id) in line]
        words = line.split()
        assert words[0] == run.approval_id and re.fullmatch(r"\d+s", words[1])
        assert words[2:6] == [AGENT_NAME, "deploy_service", "high", "pending"]
        assert words[6:] in (["23h", "59m"], ["24h"]), "the expiry whole"
    assert sum(line.split() == ["grant_access"] for line in lines) == 3
