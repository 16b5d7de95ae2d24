"""OpenTelemetry spans of a paused run: its pause, each decision, and its resume, one trace.

::

    with traces.pause_span(agent="ops-agent", run_id=run_id, sequence=0) as span:
        carried = traces.current_carrier()        # (traceparent, tracestate), kept on the record
        ...                                        # the record is written
    # later, in any process: a child of the pause, however long after it
    traces.record_span("eat.decision", carried, start_ns, {"eat.approval_id": approval_id})
    with traces.resume_span(carried, start_ns, {"eat.approval_id": approval_id}):
        ...                                        # the resumed run, and a pause again, inside

The pause's W3C trace context is stored on the approval record (``PendingApproval.trace``), so
the spans of a decision in the inbox and of the resume in a worker are its children: one
paused run reads as one trace across processes and hours. Spans come from the global tracer
(``opentelemetry.trace.get_tracer``): until the application configures a tracer provider they
are the API's invalid no-op spans, nothing is carried and the record keeps no trace context.
The Agents SDK's own tracing is a separate system with its own switch (see the provider); its
trace id, when it has one, rides along as the ``eat.sdk_trace_id`` attribute.

Nothing here raises into the caller (``guard.py``): a processor or exporter that fails while a
span starts or ends is logged, and the span is then the API's invalid one. An exception from
the block a span covers is recorded on it and raised on unchanged.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from evolving_agents.telemetry.guard import harmless
from evolving_agents.version import __version__

TRACER_NAME = "evolving_agents"
APPROVAL_ID = "eat.approval_id"
RUN_ID = "eat.run_id"
SEQUENCE = "eat.sequence"
AGENT = "eat.agent"
SDK_TRACE_ID = "eat.sdk_trace_id"

Carrier = tuple[str | None, str | None]
"""A trace context as stored: the W3C ``traceparent`` and ``tracestate`` headers (or None)."""
Attributes = Mapping[str, AttributeValue]

_tracer = trace.get_tracer(TRACER_NAME, __version__)
_propagator = TraceContextTextMapPropagator()


def now_ns() -> int:
    """A span start time, taken before the work whose span can only be made after it."""
    return time.time_ns()


NO_CARRIER: Carrier = (None, None)
"""No stored trace context: a record paused with no tracer provider configured."""


@harmless(NO_CARRIER)
def current_carrier() -> Carrier:
    """The current span's W3C trace context, or ``(None, None)`` when no span is recording
    (no tracer provider configured)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None, None
    headers: dict[str, str] = {}
    _propagator.inject(headers)
    return headers.get("traceparent"), headers.get("tracestate")


def _parent(carried: Carrier) -> Context | None:
    traceparent, tracestate = carried
    if traceparent is None:
        return None
    headers = {"traceparent": traceparent}
    if tracestate:
        headers["tracestate"] = tracestate
    return _propagator.extract(headers)


def _links() -> list[Link]:
    """A link to the span current where the child of a stored context starts (an inbox
    request, the worker's own), so neither trace loses the other."""
    here = trace.get_current_span().get_span_context()
    return [Link(here)] if here.is_valid else []


_INVALID: Span = trace.INVALID_SPAN


@harmless(_INVALID)
def _start(
    name: str,
    attributes: Attributes,
    *,
    parent: Carrier | None = None,
    start_ns: int | None = None,
) -> Span:
    """A started span: under the current span, or a child of the stored ``parent``."""
    if parent is None:
        return _tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
    return _tracer.start_span(
        name,
        context=_parent(parent),
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        links=_links() if parent[0] is not None else None,
        start_time=start_ns,
    )


@harmless(None)
def _end(span: Span) -> None:
    span.end()


@contextlib.contextmanager
def _current_then_ended(span: Span) -> Iterator[Span]:
    """``span`` current in the block (an escaping exception recorded on it), then ended."""
    with ending(span), current(span):
        yield span


@contextlib.contextmanager
def run_span(*, agent: str, run_id: str) -> Iterator[Span]:
    """A fresh run of ``agent``, current while it runs (a pause inside it is its child)."""
    with _current_then_ended(_start("eat.run", {AGENT: agent, RUN_ID: run_id})) as span:
        yield span


def start_run_span(*, agent: str, run_id: str) -> Span:
    """``run_span`` for a streamed run: the caller makes it current (``current``) around
    what it covers, never across a yield, and ends it."""
    return _start("eat.run", {AGENT: agent, RUN_ID: run_id})


def current(span: Span) -> contextlib.AbstractContextManager[Span]:
    """``span`` current inside the block, not ended after it."""
    return trace.use_span(span, end_on_exit=False)


@contextlib.contextmanager
def ending(span: Span) -> Iterator[Span]:
    """End ``span`` after the block, recording an exception that escapes it. For spans that
    are not current across the block (an async generator's, whose yields run elsewhere)."""
    try:
        yield span
    except Exception as exc:
        # Recorded, then raised on; a stream its consumer closed early just ends.
        _failed(span, exc)
        raise
    finally:
        _end(span)


@harmless(None)
def _failed(span: Span, exc: Exception) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@contextlib.contextmanager
def pause_span(*, agent: str, run_id: str, sequence: int) -> Iterator[Span]:
    """Storing a pause: current, so ``current_carrier`` inside it is what the record keeps."""
    attributes: dict[str, AttributeValue] = {AGENT: agent, RUN_ID: run_id, SEQUENCE: sequence}
    with _current_then_ended(_start("eat.pause", attributes)) as span:
        yield span


@harmless(None)
def record_span(
    name: str,
    carried: Carrier,
    start_ns: int,
    attributes: Attributes,
) -> None:
    """A finished span (a decision, an expiry) from ``start_ns`` to now, a child of the
    stored pause ``carried`` (or of the current span when the record carries none)."""
    _start(name, attributes, parent=carried, start_ns=start_ns).end()


def start_resume_span(carried: Carrier, start_ns: int, attributes: Attributes) -> Span:
    """A resume's span, a child of the stored pause ``carried``; the caller ends it."""
    return _start("eat.resume", attributes, parent=carried, start_ns=start_ns)


@contextlib.contextmanager
def resume_span(carried: Carrier, start_ns: int, attributes: Attributes) -> Iterator[Span]:
    """``start_resume_span``, current while the resumed run goes on (a pause again inside it
    is its child); an exception escaping it is recorded on it."""
    with _current_then_ended(start_resume_span(carried, start_ns, attributes)) as span:
        yield span


@harmless(None)
def mark_failed(span: Span, error: str) -> None:
    """The resumed run ended in an error that did not escape as an exception."""
    span.set_status(Status(StatusCode.ERROR, error))
