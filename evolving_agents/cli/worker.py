"""``eat worker --app module:attr``: resume decided runs until stopped (or drained).

::

    eat worker --app myapp.agents:registry --concurrency 8
    eat worker --app myapp.agents:build_provider --drain --json    # a batch job: one JSON line
    eat worker --app myapp.agents:registry --metrics-port 9464     # Prometheus: /metrics

``--app`` names an ``AgentRegistry``, an ``OpenAIAgentsProvider``, or a zero-argument callable
returning either; a registry gets a provider on ``MONGODB_URI`` (or the embedded database).
SIGTERM or Ctrl-C: finish the runs in flight and exit 0; a second signal releases them instead.
A search for work waiting on a database that does not answer does not hold up the stop. While
the database does not answer the worker keeps trying, and its log says so in one line when the
outage starts and one when it ends; ``--log-level`` (info by default) says one line per resumed
run, and ``warning`` keeps only what went wrong. ``--metrics-port`` serves ``/metrics`` on
``--metrics-host`` (127.0.0.1 unless told otherwise) while the worker runs
(``metrics_server.py``; the ``telemetry`` extra); a port already taken is exit 8.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from evolving_agents.approvals.worker import ResumeWorker
from evolving_agents.approvals.worker_stats import WorkerStats, install_signal_handlers
from evolving_agents.cli.common import (
    LOG_LEVELS,
    configured_logging,
    console,
    err_console,
    fail_cleanly,
)
from evolving_agents.cli.connect import AppDirOption
from evolving_agents.cli.db import start_embedded
from evolving_agents.cli.lifetime import outage_lines, run_to_the_end
from evolving_agents.errors import ConfigurationError
from evolving_agents.providers.agent_registry import AgentRegistry, load_app
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.outage import DatabaseWatch, cancel_and_wait
from evolving_agents.telemetry import enable_prometheus

if TYPE_CHECKING:
    from evolving_agents.cli.metrics_server import MetricsServer

_REFRESH_SECONDS = 0.25
_COUNTS = (
    "claimed",
    "completed",
    "tool_errors",
    "failed",
    "conflicts",
    "released",
    "expired",
    "refused",
    "unreadable",
    "lease_renewal_failures",
)


def worker(
    app: str = typer.Option(
        ...,
        "--app",
        help="Your agents: module:attribute naming an AgentRegistry, an OpenAIAgentsProvider, "
        "or a zero-argument callable returning one.",
    ),
    app_dir: str = AppDirOption,
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Runs at once."),
    drain: bool = typer.Option(
        False, "--drain", help="Exit once nothing is left to resume (batch jobs, scripts)."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="No live display; print the final counts as one JSON object."
    ),
    poll_interval: float = typer.Option(
        0.5, "--poll-interval", min=0.01, help="First polling delay without change streams."
    ),
    max_poll_interval: float = typer.Option(
        5.0, "--max-poll-interval", min=0.01, help="Longest polling delay (seconds)."
    ),
    worker_id: str = typer.Option("", "--worker-id", help="Name in claims (default: host:pid)."),
    change_stream: bool = typer.Option(
        True,
        "--change-stream/--no-change-stream",
        help="Wake on the database's change stream where it has one; or only poll.",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port). "
        "Needs the telemetry extra.",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address the metrics endpoint listens on."
    ),
    log_level: str = typer.Option(
        "info",
        "--log-level",
        help=f"Log lines at this level and up, on stderr ({', '.join(LOG_LEVELS)}); "
        "info says one line per resumed run.",
    ),
) -> None:
    """Claim decided runs and resume each exactly once, alongside any other workers."""
    if max_poll_interval < poll_interval:
        raise typer.BadParameter("--max-poll-interval must be at least --poll-interval")
    # Restored when the command returns (a test or an app running it in-process keeps its own).
    with configured_logging(log_level, live=None if json_output else console):
        with fail_cleanly():
            provider, owned = _provider_for(load_app(app))
            metrics = None
            if metrics_port is not None:
                # After the app (a meter provider it sets up itself is kept), before any work: a
                # missing extra or a taken port is said first.
                from evolving_agents.cli.metrics_server import MetricsServer  # uvicorn, only now

                export = enable_prometheus(service_name="eat-worker")
                metrics = MetricsServer.bind(metrics_host, metrics_port, export, provider.store)
                err_console.print(f"metrics on {metrics.url}", highlight=False)
            start_embedded(provider.mongodb_client)
        resume_worker = ResumeWorker(
            provider,
            concurrency=concurrency,
            worker_id=worker_id or None,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            use_change_stream=change_stream,
        )
        with fail_cleanly():
            running = _run(
                resume_worker, provider, owned, drain=drain, live=not json_output, metrics=metrics
            )
            stats = run_to_the_end(running)
    if json_output:
        typer.echo(json.dumps(stats.model_dump(mode="json")))
    else:
        console.print(_stats_table(stats, final=True))


def _provider_for(target: object) -> tuple[OpenAIAgentsProvider, MongoDBClient | None]:
    """The provider to resume with, and the client this command opened (to close), if any."""
    if callable(target) and not isinstance(target, AgentRegistry | OpenAIAgentsProvider):
        target = target()
    if isinstance(target, OpenAIAgentsProvider):
        return target, None
    if isinstance(target, AgentRegistry):
        client = MongoDBClient()
        return OpenAIAgentsProvider(mongodb_client=client, registry=target), client
    raise ConfigurationError(
        f"--app must name an AgentRegistry, an OpenAIAgentsProvider, or a zero-argument "
        f"callable returning one; got {type(target).__name__}"
    )


async def _run(
    resume_worker: ResumeWorker,
    provider: OpenAIAgentsProvider,
    owned: MongoDBClient | None,
    *,
    drain: bool,
    live: bool,
    metrics: MetricsServer | None = None,
) -> WorkerStats:
    undo = install_signal_handlers(resume_worker)
    database = DatabaseWatch(provider.mongodb_client, label=f"worker {resume_worker.worker_id}")
    watching = asyncio.create_task(database.run(), name="eat-worker-database")
    try:
        async with contextlib.AsyncExitStack() as serving:
            if metrics is not None:
                await serving.enter_async_context(metrics.running())
            return await _run_worker(resume_worker, database, drain=drain, live=live)
    finally:
        undo()
        await cancel_and_wait([watching], timeout=1.0)
        await provider.aclose()
        if owned is not None:
            await owned.close()


async def _run_worker(
    resume_worker: ResumeWorker, database: DatabaseWatch, *, drain: bool, live: bool
) -> WorkerStats:
    with outage_lines(database):
        if not live:
            return await resume_worker.run(drain=drain)
        with Live(_stats_table(resume_worker.stats), console=console, transient=True) as display:
            refresher = asyncio.create_task(_refresh(resume_worker, display))
            try:
                return await resume_worker.run(drain=drain)
            finally:
                refresher.cancel()


async def _refresh(resume_worker: ResumeWorker, display: Live) -> None:
    shown: tuple[Any, ...] = ()
    while True:
        stats = resume_worker.stats
        current = (
            stats.wakeup,
            resume_worker.in_flight,
            *(getattr(stats, n) for n in _COUNTS),
            *stats.dead_tasks,
        )
        if current != shown:
            display.update(_stats_table(stats, in_flight=resume_worker.in_flight))
            shown = current
        await asyncio.sleep(_REFRESH_SECONDS)


def _stats_table(stats: WorkerStats, *, in_flight: int = 0, final: bool = False) -> Table:
    title = f"worker {stats.worker_id}" + (
        f": stopped after {stats.seconds:.1f}s" if final else f" ({stats.wakeup})"
    )
    # One row per count: it stays readable in a narrow terminal or a CI log.
    # As wide as its title, so the title never wraps (a long host or pid would break it).
    table = Table(title=title, title_justify="left", show_header=False, min_width=len(title))
    table.add_column("count")
    table.add_column("value", justify="right")
    if not final:
        table.add_row("in flight", str(in_flight))
    for name in (*_COUNTS, "errors"):
        table.add_row(name, str(getattr(stats, name)))
    notes = [f"dead background task: {dead}" for dead in stats.dead_tasks]
    if stats.last_error:
        notes.append(f"last error: {stats.last_error}")
    if notes:
        table.caption = Text("\n".join(notes))
    return table
