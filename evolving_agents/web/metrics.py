"""``GET /metrics``: the inbox's Prometheus endpoint, when this process's metrics are on.

::

    enable_prometheus(service_name="eat-inbox")      # what `eat inbox --metrics` does first
    app = create_app(provider, reviewers)             # /metrics now serves eat_* metrics

Without ``enable_prometheus`` in this process the endpoint is a 404 saying how to switch it
on. With ``EAT_METRICS_TOKEN`` set, a scrape without ``Authorization: Bearer <token>`` is a
401. Each scrape first counts the calls still waiting in the inbox's store (one read, at
scrape time only) for the pending gauge, then renders every metric of the process. No
sign-in: like ``/healthz`` it is for the operator's scraper, and it shows counts by agent,
tool, verdict and surface, never a record's content. It is served while the database does
not answer (the pending gauge is then left out and the failure logged).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from evolving_agents.telemetry import prometheus_export
from evolving_agents.web.requests import inbox_of
from evolving_agents.web.scrape import answer_scrape

router = APIRouter()

_OFF = (
    "metrics are off in this process: start the inbox with `eat inbox --metrics`, or call "
    "evolving_agents.telemetry.enable_prometheus() before create_app\n"
)


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    export = prometheus_export()
    if export is None:
        return PlainTextResponse(_OFF, status_code=404)
    return await answer_scrape(request, export, inbox_of(request).store)
