"""The OpenTelemetry instruments of approvals, and the one function that records each.

::

    from evolving_agents.telemetry import metrics
    metrics.record_decision(verdict="approved", reviewer_kind="human", surface="web",
                            waited_seconds=42.0)
    metrics.record_escalation(agent="ops-agent", tool="grant_admin")   # for the notifiers

The instruments come from the global meter (``opentelemetry.metrics.get_meter``), so they are
the API's no-op ones until a meter provider is configured: by the application, or by
``enable_prometheus`` (what ``eat inbox --metrics`` and ``eat worker --metrics-port`` call).
The API's proxy instruments bind to the provider whenever it is set, so this module can be
imported first. Nothing here reads the database: every call is a counter add or a histogram
record with a handful of string attributes. The pending gauge is the exception by design: its
values are the counts the last ``/metrics`` scrape read (``PENDING``, refreshed by the
endpoint before it collects), since an observable callback runs synchronously inside the
collection and cannot await the database.

Names, units and attributes are listed in ``docs/OPERATIONS.md``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from evolving_agents.telemetry.guard import harmless
from evolving_agents.version import __version__

logger = logging.getLogger(__name__)

METER_NAME = "evolving_agents"

# Human decisions take seconds to days; resumes, milliseconds to minutes.
DECISION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
                    14400.0, 28800.0, 86400.0, 172800.0, 604800.0)  # fmt: skip
RESUME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                  300.0, 900.0, 3600.0)  # fmt: skip

_meter = metrics.get_meter(METER_NAME, __version__)


class PendingCounts:
    """What the pending gauge reports: undecided calls of pending records, by agent and tool.

    ``replace`` is called by a metrics endpoint with the counts it just read (one query over
    pending records); an (agent, tool) seen before and now without waiting calls reports 0,
    not nothing. ``forget`` when that read failed, so the gauge reports nothing rather than a
    stale number. The gauge's callback only reads this snapshot.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the HTTP thread of an app's own exporter may collect
        self._counts: dict[tuple[str, str], int] = {}
        self._seen: set[tuple[str, str]] = set()

    def replace(self, counts: Mapping[tuple[str, str], int]) -> None:
        with self._lock:
            self._seen.update(counts)
            self._counts = {key: counts.get(key, 0) for key in self._seen}

    def forget(self) -> None:
        with self._lock:
            self._counts = {}

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)


PENDING = PendingCounts()


class _InFlight:
    """Resumes running in this process (a worker's, the inbox's resume button, the app's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, delta: int) -> None:
        with self._lock:
            self.count += delta


IN_FLIGHT = _InFlight()


def _observe_pending(options: CallbackOptions) -> Iterable[Observation]:
    try:
        counts = PENDING.snapshot()
        return [Observation(n, {"agent": a, "tool": t}) for (a, t), n in counts.items()]
    except Exception:
        # Boundary: a callback error would fail the whole scrape; it is logged, not raised.
        logger.exception("the pending-approvals gauge could not be observed")
        return []


def _observe_in_flight(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(IN_FLIGHT.count)]


_pending = _meter.create_observable_gauge(
    "eat.approvals.pending",
    callbacks=[_observe_pending],
    unit="{call}",
    description="Tool calls of pending approvals still waiting for a decision, as of the "
    "last scrape",
)
_paused = _meter.create_counter(
    "eat.approvals.paused",
    unit="{approval}",
    description="Runs paused for approval: pending-approval records created",
)
_decisions = _meter.create_counter(
    "eat.approvals.decisions",
    unit="{decision}",
    description="Tool calls decided (a timeout rejection included)",
)
_time_to_decision = _meter.create_histogram(
    "eat.approvals.time_to_decision",
    unit="s",
    description="From the pause to each call's decision",
    explicit_bucket_boundaries_advisory=DECISION_BUCKETS,
)
_expired = _meter.create_counter(
    "eat.approvals.expired",
    unit="{call}",
    description="Tool calls rejected because nobody decided before their deadline",
)
_escalations = _meter.create_counter(
    "eat.approvals.escalations",
    unit="{escalation}",
    description="Escalations and deadline warnings sent for undecided calls",
)
_tool_errors = _meter.create_counter(
    "eat.approvals.tool_errors",
    unit="{call}",
    description="Approved calls whose tool raised when the run resumed",
)
_claims = _meter.create_counter(
    "eat.resume.claims",
    unit="{claim}",
    description="Records claimed for resuming (decided, or partial); takeovers not included",
)
_takeovers = _meter.create_counter(
    "eat.resume.takeovers",
    unit="{claim}",
    description="Resumes claimed from a worker whose lease ran out",
)
_lease_losses = _meter.create_counter(
    "eat.resume.lease_losses",
    unit="{lease}",
    description="Resumes stopped because their worker lost the lease",
)
_decision_to_resume = _meter.create_histogram(
    "eat.resume.decision_to_resume",
    unit="s",
    description="From a record's last decision to the claim that resumes it",
    explicit_bucket_boundaries_advisory=RESUME_BUCKETS,
)
_finished = _meter.create_counter(
    "eat.resume.finished",
    unit="{resume}",
    description="Resumes that ended: completed, paused again, or failed",
)
_in_flight = _meter.create_observable_gauge(
    "eat.resume.in_flight",
    callbacks=[_observe_in_flight],
    unit="{resume}",
    description="Resumes running in this process now",
)


@harmless(None)
def record_pause(*, agent: str) -> None:
    """A run of ``agent`` paused: its pending-approval record was created."""
    _paused.add(1, {"agent": agent})


@harmless(None)
def record_decision(
    *, verdict: str, reviewer_kind: str, surface: str, waited_seconds: float
) -> None:
    """One call decided, ``waited_seconds`` after its run paused."""
    attributes = {"verdict": verdict, "reviewer_kind": reviewer_kind, "surface": surface}
    _decisions.add(1, attributes)
    _time_to_decision.record(max(waited_seconds, 0.0), attributes)


@harmless(None)
def record_expiry(*, agent: str, tool: str) -> None:
    """One call expired undecided (its timeout rejection is a ``record_decision`` too)."""
    _expired.add(1, {"agent": agent, "tool": tool})


@harmless(None)
def record_escalation(*, agent: str, tool: str, kind: str = "escalation") -> None:
    """An escalation (``kind="escalation"``) or a deadline warning (``"warning"``) was sent
    for an undecided call of ``agent``'s ``tool``."""
    _escalations.add(1, {"agent": agent, "tool": tool, "kind": kind})


@harmless(None)
def record_tool_error(*, agent: str, tool: str) -> None:
    """An approved call raised when its run resumed: the approved action did not happen."""
    _tool_errors.add(1, {"agent": agent, "tool": tool})


@harmless(None)
def record_claim(*, kind: str, decided_seconds_ago: float | None) -> None:
    """A record was claimed for resuming: ``kind`` is ``decided`` or ``partial``;
    ``decided_seconds_ago``: since its last decision (None: no decision to measure from)."""
    _claims.add(1, {"kind": kind})
    if decided_seconds_ago is not None:
        _decision_to_resume.record(max(decided_seconds_ago, 0.0), {"kind": kind})


@harmless(None)
def record_takeover() -> None:
    """A resume was claimed from a worker whose lease had run out."""
    _takeovers.add(1)


@harmless(None)
def record_lease_loss() -> None:
    """A worker lost the lease of the run it was resuming."""
    _lease_losses.add(1)


@harmless(None)
def record_resume_finished(*, outcome: str) -> None:
    """A resume ended: ``completed``, ``paused`` (again, into the run's next record) or
    ``failed``."""
    _finished.add(1, {"outcome": outcome})
