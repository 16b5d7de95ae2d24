"""``eat db start|stop|status``: the embedded SecantusDB server shared by this machine.

It listens on ``EAT_DB_PORT`` (27217) every time it starts, so every process finds it where it
was. A port something else took is one line naming it and the setting, exit 8
(``ExitCode.PORT_IN_USE``, for every ``PortInUse``), from any command that starts the server:
``eat db start``, and ``eat inbox`` and ``eat worker`` before anything else.
"""

from __future__ import annotations

import typer

from evolving_agents.cli.common import console, fail_cleanly, print_json
from evolving_agents.config import Settings
from evolving_agents.storage.embedded import EmbeddedServer
from evolving_agents.storage.mongodb_client import MongoDBClient

db_app = typer.Typer(
    help="Start, stop or inspect the embedded local database server.", add_completion=False
)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


@db_app.command("start")
def start(as_json: bool = JsonOption) -> None:
    """Start the embedded server (or find the one already running)."""
    with fail_cleanly():
        server = EmbeddedServer.from_settings(Settings())
        server.ensure_running()
        _show(server, as_json)


@db_app.command("stop")
def stop(as_json: bool = JsonOption) -> None:
    """Stop the embedded server; its data stays on disk."""
    with fail_cleanly():
        stopped = EmbeddedServer.from_settings(Settings()).stop()
    if as_json:
        print_json({"stopped": stopped})
    else:
        console.print(
            "stopped the embedded server" if stopped else "the embedded server was not running"
        )


@db_app.command("status")
def status(as_json: bool = JsonOption) -> None:
    """Say whether the embedded server runs, where, and where its data lives."""
    with fail_cleanly():
        server = EmbeddedServer.from_settings(Settings())
        _show(server, as_json)
        if not server.status().running:
            raise typer.Exit(1)


def start_embedded(client: MongoDBClient) -> None:
    """Start (or find) the embedded server ``client`` uses, if it uses it: a long-running
    command says at once that it cannot, rather than from inside its first request."""
    if client.backend == "embedded":
        EmbeddedServer.from_settings(client.settings).ensure_running()


def _show(server: EmbeddedServer, as_json: bool) -> None:
    info = server.status()
    if as_json:
        print_json(info.model_dump(mode="json"))
        return
    if info.running:
        console.print(f"[green]running[/] pid {info.pid} at [bold]{info.uri}[/]")
        if info.durable_writes:
            console.print("writes: durable (each commit is synced to disk before it is answered)")
        else:
            # A server an older version started: the client's j:true writes are still synced,
            # but anything else that writes to it is not.
            console.print(
                "[yellow]writes: not synced on every commit[/] (started without "
                "--sync-on-commit); restart it with: eat db stop && eat db start"
            )
        if info.configured_port and info.port != info.configured_port:
            console.print(
                f"[yellow]note:[/] EAT_DB_PORT is {info.configured_port}; the server keeps "
                f"port {info.port} until it restarts (eat db stop && eat db start)"
            )
    else:
        console.print("[yellow]not running[/] (eat db start, or any eat command, starts it)")
        port = info.configured_port or "any free one"
        console.print(f"port: {port} (EAT_DB_PORT)", highlight=False)
    console.print(f"data: {info.storage_path}\nlog:  {info.log_path}", highlight=False)
