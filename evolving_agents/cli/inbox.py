"""``eat inbox``: serve the review inbox in a browser.

::

    EAT_REVIEWERS_FILE=reviewers.toml eat inbox --host 127.0.0.1 --port 8765 \
        --app myapp.agents:registry          # optional: lets reviewers resume decided runs

Reviewers sign in with a token from ``EAT_REVIEWERS_FILE`` (TOML) or ``EAT_REVIEWERS`` (JSON).
``EAT_WEB_SECRET`` keeps sessions valid across restarts and processes; it is required to listen
beyond loopback (``--host`` other than 127.0.0.1/::1/localhost). With ``EAT_WEBHOOK_URL`` set, the
webhook service runs inside the inbox too. ``--metrics`` serves Prometheus metrics at ``/metrics``
(the ``telemetry`` extra; without it, exit 5 naming the install command).

A port already taken is one line and exit 8 before anything says it serves. While the database
does not answer, pages are a 503 naming it and ``/healthz`` fails; the log says so once per
outage. The first Ctrl-C or SIGTERM stops it within seconds (``inbox_server.py``).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode, console, err_console, fail_cleanly
from evolving_agents.cli.connect import AppDirOption, provider_from_app
from evolving_agents.cli.db import start_embedded
from evolving_agents.cli.sockets import listen
from evolving_agents.config import Settings
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.service import WebhookService
from evolving_agents.notify.sinks import configured_sinks
from evolving_agents.reviewers.directory import REVIEWERS_ENV, REVIEWERS_FILE_ENV, ReviewerDirectory
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.telemetry import enable_prometheus

if TYPE_CHECKING:
    from fastapi import FastAPI


def inbox(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
    app: str | None = typer.Option(
        None, "--app", help="Your agents (module:attr), to resume decided runs from the inbox."
    ),
    app_dir: str = AppDirOption,
    reviewers_file: str | None = typer.Option(
        None, "--reviewers-file", help=f"Reviewers TOML (default: ${REVIEWERS_FILE_ENV})."
    ),
    poll_interval: float = typer.Option(
        1.0,
        "--poll-interval",
        min=0.05,
        help="Seconds between scans when there is no change stream.",
    ),
    metrics: bool = typer.Option(
        False, "--metrics", help="Serve Prometheus metrics at /metrics (the telemetry extra)."
    ),
) -> None:
    """Serve the web inbox: a live queue, details, approve and reject, sign-in by token."""
    from evolving_agents.web.app import create_app

    with fail_cleanly():
        settings = Settings()  # the one reading of the environment for this process
        reviewers = _reviewers(settings, reviewers_file)
        _refuse_open_listening_without_secret(host, settings)
        client = MongoDBClient(settings=settings)
        target = provider_from_app(app, client) if app else _store_only(client, settings)
        if metrics:
            # After the app (a meter provider it sets up itself is kept); a missing extra is
            # said before anything serves.
            enable_prometheus(service_name="eat-inbox")
        sinks = configured_sinks(settings, client=client, reviewers=reviewers)
        webhooks = WebhookService(client, settings.webhooks, sinks=sinks) if sinks else None
        web_app = create_app(
            target, reviewers, poll_interval=poll_interval, webhooks=webhooks, settings=settings
        )
        start_embedded(web_app.state.inbox.database.client)  # the client the inbox reads
        sock = listen(
            host,
            port,
            taken="port {port} on {host} is taken: is another inbox running? Choose another "
            "with --port",
            refused="cannot listen on {host}:{port}: {reason}; check --host and --port",
        )
    _announce(host, port, len(reviewers), app, webhooks)
    _run_server(web_app, sock, client)


def _reviewers(settings: Settings, reviewers_file: str | None) -> ReviewerDirectory:
    if reviewers_file:
        reviewers = ReviewerDirectory.from_file(reviewers_file)
    else:
        reviewers = ReviewerDirectory.from_settings(settings)
    if not len(reviewers):
        raise ConfigurationError(
            f"no reviewers configured: set {REVIEWERS_FILE_ENV} to a TOML file or "
            f"{REVIEWERS_ENV} to JSON (see the README, 'Reviewing from the terminal and the "
            "browser')"
        )
    return reviewers


def _refuse_open_listening_without_secret(host: str, settings: Settings) -> None:
    if not _is_loopback(host) and not settings.web_secret:
        # Without a shared secret every process signs its own sessions: behind a balancer
        # reviewers would sign each other out, so the app would serve loopback only.
        raise ConfigurationError(
            f"eat inbox --host {host} listens beyond this machine: set EAT_WEB_SECRET "
            "(32+ random bytes, the same for every inbox process), e.g. "
            "EAT_WEB_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


def _announce(
    host: str, port: int, reviewers: int, app: str | None, webhooks: WebhookService | None
) -> None:
    if not _is_loopback(host):
        err_console.print(
            "[yellow]warning:[/] the inbox listens beyond this machine; put it behind HTTPS "
            "(sign-in tokens and session cookies cross the network)"
        )
    console.print(
        f"review inbox on [bold]http://{host}:{port}/[/] ({reviewers} reviewer(s)"
        f"{', resuming with ' + app if app else ''}"
        f"{', webhooks to ' + webhooks.url if webhooks is not None else ''}); Ctrl-C stops"
    )


def _run_server(web_app: FastAPI, sock: socket.socket, client: MongoDBClient) -> None:
    from evolving_agents.cli.inbox_server import serve
    from evolving_agents.cli.lifetime import outage_lines

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    inbox = web_app.state.inbox
    with outage_lines(inbox.database):
        started = serve(web_app, sock, client, on_stop=inbox.events.close)
    if not started:
        raise SystemExit(int(ExitCode.ERROR))


def _store_only(client: MongoDBClient, settings: Settings) -> PendingApprovalStore:
    return PendingApprovalStore(client, purge_after=timedelta(days=settings.purge_after_days))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
