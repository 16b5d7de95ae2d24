"""``EventSink``: the one seam a notification channel plugs into.

::

    class SlackSink:                                   # notify/sinks/slack.py, say
        name = "slack"                                 # stable: part of every delivery's key
        destination = "https://hooks.slack.com/..."   # shown by ``eat webhooks status``

        async def deliver(self, delivery: Delivery) -> None:
            event = delivery.approval_event()          # the typed WebhookEvent
            ...                                        # post it; raise DeliveryFailed if not taken

        async def aclose(self) -> None: ...

The outbox (``notify/outbox.py``) and ``WebhookService`` (``notify/service.py``) do the rest
for every sink alike: each approval event is stored once per sink, claimed by one dispatcher
at a time, retried with exponential backoff up to ``EAT_WEBHOOK_MAX_ATTEMPTS``, then kept as
``dead`` for inspection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from evolving_agents.approvals.models import PendingApproval
from evolving_agents.approvals.protocols import ApprovalStore
from evolving_agents.errors import (
    ApprovalNotFound,
    ApprovalStoreError,
    UnreadableRecord,
)
from evolving_agents.errors import DeliveryFailed as DeliveryFailed
from evolving_agents.notify.outbox import Delivery


@runtime_checkable
class EventSink(Protocol):
    """A channel approval events go out on: the guide for writing a new one.

    **What you write.** One module (``notify/sinks/<channel>.py``) with a class that has:

    - ``name``: a short, stable identifier (``"webhook"``, ``"slack"``, ``"email"``). Each
      event is stored once per sink name, so renaming a sink re-sends every event it
      has not yet delivered under the new name, and two sinks must never share a name.
    - ``destination``: where it delivers, as a URI (an https URL, ``mailto:ops@...``). It is
      stored with each delivery when the event is enqueued and shown by
      ``eat webhooks status``; a delivery goes where its ``delivery.url`` says, even if the
      configuration has changed since.
    - ``async deliver(delivery)``: send one event. ``delivery.event`` is the event's JSON
      body (a dict, exactly as stored); ``delivery.approval_event()`` parses it into a
      ``WebhookEvent`` for channels that format their own message. ``delivery.id`` is stable
      across retries: pass it on (a header, a message key) so the receiving side can drop
      repeats, because delivery is **at least once**. Return when the channel took the
      event. Raise ``DeliveryFailed(reason)`` when it did not and a later attempt may work
      (a timeout, a 5xx, a rate limit); ``DeliveryFailed(reason, permanent=True)`` when no
      attempt ever can. Any other exception counts as a failed attempt and is logged with
      its traceback, so catch what you can name.
    - ``async aclose()``: release what the sink holds (an HTTP client); called once when the
      service stops.

    **What you do not write.** Retries, backoff, claiming, leases, deduplication of events
    and the bookkeeping of attempts: the outbox does them for every sink, the same way.
    ``deliver`` may be called from several processes for different deliveries at once, but
    never for the same delivery at the same time while its lease holds.

    **How it is switched on.** One line in ``SINKS`` (``notify/sinks/__init__.py``): the
    name and a factory that builds the sink from ``Settings`` (returning None when it is not
    configured), plus its settings group in ``config.py``. ``WebhookSettings.url`` is what
    switches on the first sink, the signed webhook (``notify/sinks/webhook.py``).
    """

    name: str
    destination: str

    async def deliver(self, delivery: Delivery) -> None: ...

    async def aclose(self) -> None: ...


class ReviewerContact(Protocol):
    """One reviewer as a channel reaches them outside the inbox."""

    @property
    def name(self) -> str: ...

    @property
    def slack_user_id(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...


class ReviewerContacts(Protocol):
    """Who holds a role, and how to reach them: ``ReviewerDirectory`` is one.

    The reviewers directory lives on a floor above this one, so sinks never read the reviewers
    file themselves: whoever builds them passes one in (``configured_sinks(reviewers=...)``).
    """

    def contacts(self, role: str | None = None) -> Sequence[ReviewerContact]: ...


async def record_of(store: ApprovalStore | None, approval_id: str, *, sink: str) -> PendingApproval:
    """The record an event is about, for a sink that shows it (Slack, email), as it is now.

    ``DeliveryFailed``: permanent when it cannot ever be read (no database given to the sink,
    the record gone or unreadable), retried when the database did not answer.
    """
    if store is None:
        raise DeliveryFailed(
            f"the {sink} sink was built without a database client, so it cannot read the "
            "record the event is about",
            permanent=True,
        )
    try:
        return await store.get(approval_id)
    except ApprovalNotFound as exc:
        raise DeliveryFailed(f"approval {approval_id} no longer exists", permanent=True) from exc
    except UnreadableRecord as exc:
        reason = f"approval {approval_id} is unreadable: {exc}"
        raise DeliveryFailed(reason, permanent=True) from exc
    except ApprovalStoreError as exc:
        raise DeliveryFailed(f"could not read approval {approval_id}: {exc}") from exc
