"""``eat approvals list`` as a table that reads at any width, 80 columns included.

::

    console.print(queue_table(page_rows(page, now=utcnow()), "pending"))

No word is ever broken or cut (a word broken mid-way, or "expired 5m a...", reads as something
else): ids, ages and risks keep one line; statuses and expiries wrap between words when the
terminal is narrow; each tool name keeps its own line. Where the terminal is too narrow for
every tool name whole, columns go, least needed first: the agent (named in the title when
every row has the same one), then the age. Only past all of that (names longer than the
terminal allows) does a cell end in an ellipsis.
"""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from evolving_agents.cli.approval_views import HIDDEN_STYLE, RISK_STYLE, STATUS_STYLE, revealed
from evolving_agents.cli.common import console
from evolving_agents.present.views import ApprovalRow, UnreadableRow


def queue_table(
    rows: list[ApprovalRow | UnreadableRow], status: str, *, width: int | None = None
) -> Table:
    """The queue as a table that fits ``width`` columns (the console's by default)."""
    layout = _QueueLayout.of(rows, console.width if width is None else width)
    unreadable = sum(1 for row in rows if row.unreadable)
    title = f"{len(rows)} approval(s)" if status == "all" else f"{len(rows)} {status} approval(s)"
    if unreadable:
        title += f", {unreadable} unreadable"
    if "agent" not in layout.widths and len(layout.agents) == 1:
        title += f" of {next(iter(layout.agents))}"
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for column, column_width in layout.widths.items():
        table.add_column(column, width=column_width, overflow="ellipsis")
    for row in rows:
        cells = _unreadable_cells(row) if isinstance(row, UnreadableRow) else _row_cells(row)
        table.add_row(*(cells[column] for column in layout.widths))
    return table


def _one_line(text: str | Text, style: str = "") -> Text:
    """A cell that never wraps: cut with an ellipsis when the column is too narrow."""
    shown = Text(text, style=style) if isinstance(text, str) else text
    shown.no_wrap = True
    shown.overflow = "ellipsis"
    return shown


def _row_cells(row: ApprovalRow) -> dict[str, Text]:
    tools = Text("\n").join(_one_line(revealed(tool)) for tool in row.tools.split(", "))
    if row.hidden_characters:
        tools.append("\nhidden characters", style=HIDDEN_STYLE)
    status = (
        Text(row.status_label, style="bold red")
        if row.tool_errors
        else Text(row.status, style=STATUS_STYLE.get(row.status, "dim"))
    )
    expired = row.expires_in.startswith("expired")
    return {
        "id": _one_line(row.id, "cyan"),
        "age": _one_line(row.age),
        "agent": _one_line(revealed(row.agent)),
        "tool(s)": tools,
        "risk": _one_line(row.risk.level, RISK_STYLE.get(row.risk.level, "dim")),
        "status": status,
        "expires": Text(row.expires_in, style="red" if expired else ""),
    }


def _unreadable_cells(row: UnreadableRow) -> dict[str, Text]:
    # In the queue where it sits, so nobody wonders where a record went.
    dash = Text("-")
    return {
        "id": Text(row.label, style="bold red"),
        "age": dash,
        "agent": dash,
        "tool(s)": Text(row.problem, style="red"),
        "risk": dash,
        "status": Text("unreadable", style="bold red"),
        "expires": dash,
    }


_QUEUE_COLUMNS = ("id", "age", "agent", "tool(s)", "risk", "status", "expires")
_GAP = 2
"""Spaces between two columns of the queue table."""
_TOOLS_WANTED = 18
"""The narrowest the tool names are squeezed to (longer ones then end in an ellipsis); the
agent and age columns are shown only where the tool names are whole (up to twice this)."""


class _QueueLayout:
    """Which queue columns fit a terminal, and how wide each one is."""

    def __init__(self, widths: dict[str, int], agents: set[str]) -> None:
        self.widths = widths
        self.agents = agents

    @classmethod
    def of(cls, rows: list[ApprovalRow | UnreadableRow], width: int) -> _QueueLayout:
        readable = [row for row in rows if isinstance(row, ApprovalRow)]

        def longest(column: str, values: list[str]) -> int:
            return max([len(column), *(len(value) for value in values)])

        tool_lines = [tool for row in readable for tool in row.tools.split(", ")]
        if any(row.hidden_characters for row in readable):
            tool_lines.append("hidden characters")
        labels = [row.status_label for row in readable] + ["unreadable"] * (
            len(rows) - len(readable)
        )
        whole = {  # what each column needs to show every value on one line
            "id": longest("id", [row.id for row in readable]),
            "age": longest("age", [row.age for row in readable]),
            "agent": longest("agent", [row.agent for row in readable]),
            "tool(s)": longest("tool(s)", tool_lines),
            "risk": longest("risk", [row.risk.level for row in readable]),
            "status": longest("status", labels),
            "expires": longest("expires", [row.expires_in for row in readable]),
        }
        least = {  # what each column cannot do without
            **whole,
            "agent": min(whole["agent"], 24),
            "tool(s)": min(whole["tool(s)"], _TOOLS_WANTED),
            "status": longest("status", [word for label in labels for word in label.split()]),
            "expires": longest(
                "expires", [word for row in readable for word in row.expires_in.split()]
            ),
        }
        columns = list(_QUEUE_COLUMNS)
        # The agent and the age columns only where every tool name is whole beside them.
        whole_tools = {**least, "tool(s)": min(whole["tool(s)"], 2 * _TOOLS_WANTED)}
        for optional in ("agent", "age"):
            if sum(whole_tools[c] for c in columns) + _GAP * (len(columns) - 1) <= width:
                break
            columns.remove(optional)
        widths = {column: least[column] for column in columns}
        spare = width - sum(widths.values()) - _GAP * (len(columns) - 1)
        for column in ("tool(s)", "expires", "status", "agent", "id"):
            if column in widths and spare > 0:
                grown = min(whole[column], widths[column] + spare)
                spare -= grown - widths[column]
                widths[column] = grown
        unreadable_ids = [len(row.label) for row in rows if isinstance(row, UnreadableRow)]
        if unreadable_ids and spare > 0:  # "unreadable record <id>" on one line if it fits
            widths["id"] = min(max([widths["id"], *unreadable_ids]), widths["id"] + spare)
        return cls(widths, {row.agent for row in readable})
