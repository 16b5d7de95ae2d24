"""``eat webhooks run|status``: the webhook service on its own, and its outbox at a glance.

::

    EAT_WEBHOOK_URL=https://hooks.example.com/eat EAT_WEBHOOK_SECRET=... eat webhooks run
    eat webhooks status --json

``eat inbox`` (and any process calling ``start_webhooks_from_env``) runs the same service in
the background; several may run at once against one database. Escalations to a role reach its
holders through the reviewers file (``EAT_REVIEWERS_FILE``), read once at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import typer
from rich.table import Table

from evolving_agents.cli.common import console, print_json, run_async
from evolving_agents.cli.connect import database
from evolving_agents.config import Settings
from evolving_agents.notify.outbox import OUTBOX_COLLECTION, DeliveryStatus, WebhookOutbox
from evolving_agents.notify.service import WebhookService
from evolving_agents.notify.sinks import configured_sinks
from evolving_agents.reviewers.directory import ReviewerDirectory

webhooks_app = typer.Typer(
    help="Deliver signed webhooks for approval events (EAT_WEBHOOK_URL).",
    no_args_is_help=True,
    add_completion=False,
)


@webhooks_app.command("run")
def run(ctx: typer.Context) -> None:
    """Follow approvals and deliver their events until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    settings = Settings()  # this command's one reading of the environment

    async def go() -> None:
        async with database(ctx, settings) as client:
            # Escalations to a role reach its holders through the reviewers file.
            reviewers = ReviewerDirectory.from_settings(settings)
            sinks = configured_sinks(settings, client=client, reviewers=reviewers)
            service = WebhookService(client, settings.webhooks, sinks=sinks)
            console.print(f"delivering approval events to [bold]{service.url}[/]; Ctrl-C stops")
            await service.run_until_cancelled()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        run_async(go())


@webhooks_app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Deliveries by status, and the latest failures."""

    async def fetch() -> tuple[dict[str, int], list[tuple[str, int, str]]]:
        async with database(ctx) as client:
            outbox = WebhookOutbox(client.collection(OUTBOX_COLLECTION))
            deliveries = await outbox.deliveries()
            counts = {state.value: 0 for state in DeliveryStatus}
            for delivery in deliveries:
                counts[delivery.status.value] += 1
            failing = [
                (d.id, d.attempts, d.last_error or "")
                for d in deliveries
                if d.last_error and d.status is not DeliveryStatus.DELIVERED
            ]
            return counts, failing[-10:]

    counts, failing = run_async(fetch())
    if as_json:
        print_json({"counts": counts, "failing": [list(item) for item in failing]})
        return
    console.print("  ".join(f"{name}: {count}" for name, count in counts.items()))
    if failing:
        table = Table(title="failing deliveries", title_justify="left")
        for column in ("event", "attempts", "last error"):
            table.add_column(column)
        for event_id, attempts, error in failing:
            table.add_row(event_id, str(attempts), error)
        console.print(table)
