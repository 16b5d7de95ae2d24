"""``eat doctor``: is this setup ready to pause, review and resume? One line per check.

::

    eat doctor            # ok / warn / fail per check; exit 0 unless one failed (then 5)
    eat doctor --json     # one JSON object: {"ok": ..., "checks": [{"name", "status", "summary"}]}

The checks: the database (reachable, which one, its server), change streams on the approvals
collection, the state secret, the reviewers, the workers (leases held, recent claims) and the
notification targets. It reads and writes nothing of the records; a state secret not yet
generated is reported, not generated. (The embedded server is started, as by any command.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import typer
from pydantic import BaseModel
from pymongo.errors import OperationFailure, PyMongoError
from rich.markup import escape

from evolving_agents.approvals.changes import ApprovalChanges
from evolving_agents.approvals.codec import SECRET_FILE_NAME, load_state_secret
from evolving_agents.approvals.models import utcnow
from evolving_agents.cli.common import ExitCode, console, fail_cleanly, print_json, run_async
from evolving_agents.cli.connect import database
from evolving_agents.config import NEW_SECRET_HINT, Settings, secret_weakness
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.outbox import DeliveryStatus
from evolving_agents.notify.sinks import configured_sinks
from evolving_agents.present.workers import RECENT_CLAIMS, worker_activity
from evolving_agents.reviewers.directory import REVIEWERS_ENV, REVIEWERS_FILE_ENV, ReviewerDirectory
from evolving_agents.storage.mongodb_client import DatabaseUnreachable, MongoDBClient
from evolving_agents.storage.names import APPROVALS, WEBHOOK_OUTBOX

# How long the change stream check waits for its one (empty) batch.
_STREAM_AWAIT_MS = 200


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    """Not checked: what it needs (the database) failed its own check."""


class Check(BaseModel):
    name: str
    status: CheckStatus
    summary: str


class DoctorReport(BaseModel):
    ok: bool
    """No check failed (warnings allowed): what the exit code says."""
    checks: list[Check]


def doctor(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check the setup: database, change streams, secret, reviewers, workers, notifications.

    Exit 0 when no check failed (warnings allowed), 5 when one did.
    """
    with fail_cleanly():
        settings = Settings()
    report = run_async(examine(ctx, settings))
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        for check in report.checks:
            console.print(_line(check), highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(int(ExitCode.CONFIG))


async def examine(ctx: typer.Context | None, settings: Settings) -> DoctorReport:
    """Every check, in the order ``eat doctor`` prints them."""
    async with database(ctx, settings) as client:
        reached = await check_database(client)
        if reached.status is CheckStatus.FAIL:
            skipped = "not checked: the database did not answer"
            streams = Check(name="change streams", status=CheckStatus.SKIP, summary=skipped)
            workers = Check(name="workers", status=CheckStatus.SKIP, summary=skipped)
            notifications = await check_notifications(settings, None)
        else:
            streams = await check_change_streams(client)
            workers = await check_workers(client)
            notifications = await check_notifications(settings, client)
    checks = [
        reached,
        streams,
        check_state_secret(settings),
        check_reviewers(settings),
        workers,
        notifications,
    ]
    return DoctorReport(ok=all(c.status is not CheckStatus.FAIL for c in checks), checks=checks)


def _line(check: Check) -> str:
    style = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}[check.status]
    return f"[{style}]{check.status.value:<4}[/]  {check.name:<14}  {escape(check.summary)}"


# -- the database ------------------------------------------------------------------------------


async def check_database(client: MongoDBClient) -> Check:
    """Reachable, which database on which server, and whether it ever held approvals."""
    name = "database"
    try:
        await client.ping()
        server = await _server_version(client)
        used = await client.has_collection(APPROVALS)
    except ConfigurationError as exc:  # a malformed URI, an embedded server that cannot start
        return Check(name=name, status=CheckStatus.FAIL, summary=str(exc))
    except PyMongoError as exc:
        unreachable = DatabaseUnreachable.of(client, exc)
        summary = str(unreachable) if unreachable else f"{client.address()}: {_short(exc)}"
        return Check(name=name, status=CheckStatus.FAIL, summary=summary)
    embedded = " (the embedded server)" if client.backend == "embedded" else ""
    summary = f"{client.db_name} on {client.address()}{embedded}: {server}"
    if client.backend == "memory":
        summary += "; in this process only: nothing persists, no worker or inbox sees it"
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    if not used:
        summary += "; no approvals yet (is MONGODB_DATABASE_NAME right?)"
    return Check(name=name, status=CheckStatus.OK, summary=summary)


async def _server_version(client: MongoDBClient) -> str:
    try:
        info: dict[str, Any] = await client.db.command("buildInfo")
    except OperationFailure as exc:  # a user without the privilege: reachable all the same
        return f"server version unknown ({_short(exc)})"
    version = info.get("version", "unknown")
    if "secantusVersion" in info:
        return f"SecantusDB {info['secantusVersion']} (MongoDB {version} wire protocol)"
    if client.backend == "memory":
        return f"mongomock (emulating MongoDB {version})"
    return f"MongoDB {version}"


async def check_change_streams(client: MongoDBClient) -> Check:
    """Open a change stream on the approvals collection and read one (empty) batch."""
    name = "change streams"
    changes = ApprovalChanges.on(client)
    polling = "the worker and the inbox poll instead"
    if not changes.offers_streams():
        return Check(name=name, status=CheckStatus.WARN, summary=f"none on memory://: {polling}")
    try:
        async with asyncio.timeout(client.selection_timeout_seconds() + 5):
            await changes.probe_stream(max_await_ms=_STREAM_AWAIT_MS)
    except OperationFailure as exc:
        # A standalone mongod refuses $changeStream: it needs a replica set's oplog.
        summary = f"refused ({_short(exc)}): {polling}; a replica set has them"
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    except (PyMongoError, TimeoutError) as exc:
        summary = f"could not open one ({_short(exc)}): {polling}"
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    summary = f"available on {APPROVALS}: workers and the inbox wake on each change"
    return Check(name=name, status=CheckStatus.OK, summary=summary)


# -- workers -----------------------------------------------------------------------------------


async def check_workers(client: MongoDBClient) -> Check:
    """Workers leave no heartbeat: a lease held now, or a claim in the last minutes, is one
    (``present.workers``, what the inbox's record page reads too)."""
    name = "workers"
    try:
        activity = await worker_activity(client, now=utcnow())
    except PyMongoError as exc:
        return Check(name=name, status=CheckStatus.WARN, summary=f"not checked: {_short(exc)}")
    now, holders, last = activity.now, activity.holders, activity.recent_claim
    notes = _worker_notes(activity.waiting, activity.lapsed)
    if holders:
        summary = f"{len(holders)} alive, holding leases now: {', '.join(holders)}"
        return Check(name=name, status=CheckStatus.OK, summary=summary + notes)
    if last is not None:
        summary = f"worker {last[0]} claimed a run {_ago(now - last[1])} ago"
        return Check(name=name, status=CheckStatus.OK, summary=summary + notes)
    minutes = int(RECENT_CLAIMS.total_seconds() // 60)
    summary = f"no worker has claimed anything in the last {minutes} minutes"
    if activity.waiting or activity.lapsed:
        summary += notes + "; start one: eat worker --app module:attr"
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    return Check(name=name, status=CheckStatus.OK, summary=summary + "; nothing waits for one")


def _worker_notes(waiting: int, lapsed: int) -> str:
    notes = ""
    if waiting:
        notes += f"; {waiting} decided run(s) wait to be resumed"
    if lapsed:
        notes += f"; {lapsed} run(s) resuming with a lapsed lease (their worker stopped?)"
    return notes


def _ago(elapsed: timedelta) -> str:
    seconds = max(int(elapsed.total_seconds()), 0)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


# -- secrets and people ------------------------------------------------------------------------


def check_state_secret(settings: Settings) -> Check:
    """Present, readable, private and strong (what ``load_state_secret`` enforces in
    production, and warns about elsewhere); never printed, only a fingerprint to compare
    across machines. A generated one is reported, not generated."""
    name = "state secret"
    generated = settings.resolved_config_dir() / SECRET_FILE_NAME
    explicit = bool(settings.state_secret) or settings.state_secret_file is not None
    if not explicit and not settings.is_production and not generated.exists():
        summary = (
            f"not set: one is generated at {generated} on first use, for this machine only; "
            "set EAT_STATE_SECRET, the same on every machine, to resume runs on another one"
        )
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    with _heard() as heard:
        try:
            secret = load_state_secret(settings)
        except ConfigurationError as exc:
            return Check(name=name, status=CheckStatus.FAIL, summary=str(exc))
    if settings.state_secret:
        source = "EAT_STATE_SECRET"
    elif settings.state_secret_file is not None:
        source = f"EAT_STATE_SECRET_FILE ({settings.state_secret_file})"
    else:
        source = f"generated for this machine only ({generated})"
    fingerprint = hashlib.sha256(b"eat doctor fingerprint\0" + secret).hexdigest()[:8]
    summary = f"{source}: {len(secret)} bytes (fingerprint {fingerprint})"
    problems = list(heard)
    if (weakness := secret_weakness(secret)) is not None:
        problems.append(f"too weak for EAT_ENV=production: {weakness}; use {NEW_SECRET_HINT}")
    if problems:
        summary = "; ".join([summary, *problems])
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    return Check(name=name, status=CheckStatus.OK, summary=f"{summary}, strong")


def check_reviewers(settings: Settings) -> Check:
    """Who may sign in to the inbox: the reviewers file (or ``EAT_REVIEWERS``) parses and
    names someone."""
    name = "reviewers"
    if settings.reviewers_file:
        source = f"reviewers file {settings.reviewers_file}"
    elif settings.reviewers:
        source = REVIEWERS_ENV
    else:
        summary = f"none configured: eat inbox will not start; set {REVIEWERS_FILE_ENV}"
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    try:
        directory = ReviewerDirectory.from_settings(settings)
    except ConfigurationError as exc:
        return Check(name=name, status=CheckStatus.FAIL, summary=str(exc))
    if not len(directory):
        summary = f"{source} names nobody: eat inbox will not start"
        return Check(name=name, status=CheckStatus.WARN, summary=summary)
    names = sorted({identity.name for _, identity in directory.digests()})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    summary = f"{source}: {len(directory)} reviewer token(s) for {shown}"
    return Check(name=name, status=CheckStatus.OK, summary=summary)


# -- notifications -----------------------------------------------------------------------------


async def check_notifications(settings: Settings, client: MongoDBClient | None) -> Check:
    """The sinks the settings switch on (webhook: ``EAT_WEBHOOK_URL``) and, with a database,
    the outbox's backlog and the deliveries it gave up on."""
    name = "notifications"
    with _heard() as heard:
        try:
            sinks = configured_sinks(settings)
        except ConfigurationError as exc:
            return Check(name=name, status=CheckStatus.FAIL, summary=str(exc))
    try:
        targets = [f"{sink.name} to {_site(sink.destination)}" for sink in sinks]
    finally:
        for sink in sinks:
            await sink.aclose()
    if not targets:
        summary = "none configured: set EAT_WEBHOOK_URL to send approval events"
        return Check(name=name, status=CheckStatus.OK, summary=summary)
    problems = list(heard)
    summary = ", ".join(targets)
    if client is not None:
        backlog, dead = await _outbox_counts(client)
        summary += f"; outbox: {backlog} waiting"
        if dead:
            problems.append(f"{dead} delivery(ies) given up: see eat webhooks status")
    status = CheckStatus.WARN if problems else CheckStatus.OK
    return Check(name=name, status=status, summary="; ".join([summary, *problems]))


async def _outbox_counts(client: MongoDBClient) -> tuple[int, int]:
    outbox = client.collection(WEBHOOK_OUTBOX)
    waiting = [DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]
    try:
        backlog = await outbox.count_documents({"kind": "delivery", "status": {"$in": waiting}})
        dead = await outbox.count_documents(
            {"kind": "delivery", "status": DeliveryStatus.DEAD.value}
        )
    except PyMongoError:
        return 0, 0  # the database check says what is wrong with it
    return backlog, dead


def _site(destination: str) -> str:
    """Scheme and host only: a webhook URL's path and query often hold its secret."""
    parts = urlsplit(destination)
    if not parts.scheme or not parts.hostname:
        return parts.scheme + ":…" if parts.scheme else "…"
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if parts.path.strip("/") or parts.query else "/"
    return f"{parts.scheme}://{parts.hostname}{port}{rest}"


# -- helpers -----------------------------------------------------------------------------------


class _Heard(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _heard() -> Iterator[list[str]]:
    """The package's warnings while a check runs: part of its line, not stray stderr."""
    logger = logging.getLogger("evolving_agents")
    handler = _Heard()
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _short(exc: BaseException) -> str:
    """A driver error in a few words (its server's message, not the topology dump)."""
    if isinstance(exc, OperationFailure) and isinstance(exc.details, dict):
        text = str(exc.details.get("errmsg") or exc)
    else:
        text = str(exc) or type(exc).__name__
    text = text.split(", full error:")[0].split(" (configured timeouts")[0]
    return text if len(text) <= 120 else text[:117] + "..."
