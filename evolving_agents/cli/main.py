"""The ``eat`` command.

::

    eat demo --approve            # the seed scenario, end to end, on the embedded database
    eat db status                 # where the embedded server is, and whether it runs
"""

from __future__ import annotations

import typer

from evolving_agents.cli.common import console, fail_cleanly
from evolving_agents.cli.db import db_app
from evolving_agents.cli.demo import demo

app = typer.Typer(
    name="eat",
    help="evolving-agents: durable approvals for OpenAI agents that take real actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_app, name="db")
app.command(name="demo")(demo)


def main() -> None:
    with fail_cleanly():
        app()


__all__ = ["app", "console", "main"]
