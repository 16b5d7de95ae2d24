"""One answer to a Prometheus scrape, for the inbox's ``/metrics`` and the worker's.

::

    response = await answer_scrape(request, export, store)   # 401 without the bearer token

Only Starlette: the worker's one-route metrics server imports this without the inbox's
FastAPI app and everything behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from evolving_agents.telemetry import PrometheusExport, scrape, scrape_allowed

if TYPE_CHECKING:
    from evolving_agents.approvals.store import PendingApprovalStore

_TOKEN = "metrics need Authorization: Bearer <EAT_METRICS_TOKEN>\n"


async def answer_scrape(
    request: Request, export: PrometheusExport, store: PendingApprovalStore
) -> Response:
    """One scrape of ``export``, the pending gauge read from ``store``; a 401 without the
    ``EAT_METRICS_TOKEN`` bearer when one is set."""
    token = store.client.settings.metrics_token
    if not scrape_allowed(request.headers.get("authorization"), token):
        return PlainTextResponse(_TOKEN, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    body, content_type = await scrape(
        export, store.pending_call_counts, accept=request.headers.get("accept")
    )
    return Response(content=body, headers={"content-type": content_type})
