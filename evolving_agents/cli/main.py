"""The ``eat`` command.

::

    eat demo --approve            # the seed scenario, end to end, on the embedded database
    eat db status                 # where the embedded server is, and whether it runs
    eat approvals list            # the queue; show, approve, reject, resume, cancel
    eat inbox                     # the same in a browser, live
    eat worker --app mod:attr     # resume decided runs as they appear
    eat webhooks run              # signed webhooks for approval events
"""

from __future__ import annotations

import typer

from evolving_agents.cli.approvals import approvals_app
from evolving_agents.cli.common import console, fail_cleanly
from evolving_agents.cli.db import db_app
from evolving_agents.cli.demo import demo
from evolving_agents.cli.inbox import inbox
from evolving_agents.cli.webhooks import webhooks_app
from evolving_agents.cli.worker import worker

app = typer.Typer(
    name="eat",
    help="evolving-agents: durable approvals for OpenAI agents that take real actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_app, name="db")
app.add_typer(approvals_app, name="approvals")
app.add_typer(webhooks_app, name="webhooks")
app.command(name="demo")(demo)
app.command(name="inbox")(inbox)
app.command(name="worker")(worker)


def main() -> None:
    with fail_cleanly():
        app()


__all__ = ["app", "console", "main"]
