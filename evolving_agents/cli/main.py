"""The ``eat`` command.

::

    eat demo --approve            # the seed scenario, end to end, on the embedded database
    eat db status                 # where the embedded server is, and whether it runs
    eat doctor                    # is the setup ready? database, secret, reviewers, workers
    eat approvals list            # the queue; show, approve, reject, resume, cancel, wait
    eat inbox                     # the same in a browser, live
    eat reviewers add alice --role sre   # a sign-in token for the inbox, and its file entry
    eat worker --app mod:attr     # resume decided runs as they appear
    eat webhooks run              # signed webhooks for approval events
    eat --version                 # eat --install-completion: tab completion for your shell

Each command's module is imported when that command runs, never before: ``eat --help`` loads
Typer, Rich and this file, and ``eat approvals list`` loads the store but not the Agents SDK
(seconds to import). So the listing ``eat --help`` prints comes from ``COMMANDS`` below, not
from the commands themselves; a test keeps each line equal to its command's own help.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
from collections.abc import Iterator
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from evolving_agents.cli.common import JSON_ERRORS, console, fail_cleanly, json_errors, print_error

try:  # Typer 0.29 vendors Click; older versions use Click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException  # type: ignore[assignment]

# name -> (module:attribute of its Typer app or function, the line ``eat --help`` shows).
# In the order ``eat --help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "evolving_agents.cli.demo:demo",
        "Run the ops-agent scenario: score risky calls, pause, store, decide, resume.",
    ),
    "inbox": (
        "evolving_agents.cli.inbox:inbox",
        "Serve the web inbox: a live queue, details, approve and reject, sign-in by token.",
    ),
    "worker": (
        "evolving_agents.cli.worker:worker",
        "Claim decided runs and resume each exactly once, alongside any other workers.",
    ),
    "db": (
        "evolving_agents.cli.db:db_app",
        "Start, stop or inspect the embedded local database server.",
    ),
    "doctor": (
        "evolving_agents.cli.doctor:doctor",
        "Check the setup: database, change streams, secret, reviewers, workers, notifications.",
    ),
    "approvals": (
        "evolving_agents.cli.approvals:approvals_app",
        "See, decide, resume or cancel paused runs.",
    ),
    "reviewers": (
        "evolving_agents.cli.reviewers:reviewers_app",
        "Add a reviewer for the web inbox: a new sign-in token and its reviewers-file entry.",
    ),
    "webhooks": (
        "evolving_agents.cli.webhooks:webhooks_app",
        "Deliver signed webhooks for approval events (EAT_WEBHOOK_URL).",
    ),
}


class Listed(TyperCommand):
    """A command not imported yet: its name and its line in ``eat --help``, nothing to run."""


class LazyCommands(TyperGroup):
    """``eat`` itself: every command in ``COMMANDS`` is listed, and imported once it is run."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_, summary) in COMMANDS.items():
            self.add_command(Listed(name, short_help=summary))

    # ``ctx`` and the command are typed loosely: Typer 0.29 vendors Click (``typer._click``),
    # older versions use ``click`` itself; this only passes them through.
    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, Listed) and command.name is not None:
            command = self.commands[command.name] = load_command(command.name)
        return name, command, rest

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # Before any option is parsed: a usage error in a command's options is JSON too.
        options = args[: args.index("--")] if "--" in args else args
        ctx.meta[JSON_ERRORS] = "--json" in options
        with _usage_errors_as_json(ctx):
            rest: list[str] = super().parse_args(ctx, args)
            return rest

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors_as_json(ctx):
            return super().invoke(ctx)


@contextlib.contextmanager
def _usage_errors_as_json(ctx: Any) -> Iterator[None]:
    """Click's own errors (a missing option, an unknown command) as JSON under ``--json``."""
    try:
        yield
    except ClickException as exc:
        if not json_errors(ctx):
            raise
        print_error(escape(exc.format_message()), exc.exit_code)
        raise typer.Exit(exc.exit_code) from None


def load_command(name: str) -> Any:
    """The Click command behind ``eat NAME``, its module imported now."""
    module, attribute = COMMANDS[name][0].split(":")
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_command(target)
    single = typer.Typer(add_completion=False)  # a function: Typer makes it one command
    single.command(name=name)(target)
    return typer.main.get_command(single)


app = typer.Typer(
    name="eat",
    cls=LazyCommands,
    help="evolving-agents: durable approvals for OpenAI agents that take real actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # The root offers --install-completion and --show-completion; commands are completed
    # through ``LazyCommands`` (a command's module is imported when its words are completed).
    add_completion=True,
)


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib import metadata  # here: only ``eat --version`` pays for it

    try:
        version = metadata.version("evolving-agents")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        from evolving_agents.version import __version__ as version
    typer.echo(f"eat (evolving-agents) {version}")
    raise typer.Exit()


@app.callback()
def _eat(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    # Typer builds a group only around a callback or registered commands; ours are lazy.
    pass


def main() -> None:
    try:
        with fail_cleanly():
            app()
    finally:
        # The process is about to exit: left tracked, the objects the imports made (Pydantic's
        # models above all) are collected again at shutdown, 0.1-0.2 s for nothing. Python
        # never promised ``__del__`` at exit, so the OS may reclaim them instead.
        gc.freeze()


__all__ = ["COMMANDS", "app", "console", "load_command", "main"]
