"""``BighubDecisionProvider``: ask the hosted BIGHUB service before a risky tool call runs.

::

    from evolving_agents.decisions.bighub import BighubDecisionProvider

    bighub = BighubDecisionProvider.from_settings(    # key from settings.bighub
        settings, allowed_argument_fields={"grant_okta_admin": ["duration_hours", "group"]},
    )
    signal = await bighub.decide(tool_call, DecisionContext(environment="production"))
    if signal.verdict is DecisionVerdict.NEEDS_APPROVAL:
        ...                                           # pause the run for a person
    await bighub.report_outcome(request_id=signal.request_id, outcome="success")

Needs the optional extra: ``pip install 'evolving-agents[bighub]'`` (the ``bighub`` SDK).

What leaves the machine, per call: the tool name, the argument fields you allow-listed (no other
argument, ever), the tool metadata ``system`` / ``environment`` / ``risk``, the domain, and an
``Idempotency-Key`` of the run id, the call id and a digest of exactly what is sent (so one call
of one run; a model reusing call ids gets each new call scored afresh, not the first call's
answer). It goes to ``POST /actions/evaluate`` through the SDK's ``AsyncBighubClient.decide(...)``.

Every signal carries the ``idempotency_key`` it was asked under (a fallback's too). An answer's
``better_action`` is the SDK's text; when its first usable alternative is structured (the same
tool and ``arguments``, see ``payload.better_arguments``), the signal's ``better_arguments`` is
the call's arguments with those merged over them, which a reviewer can approve in one step.

Failing closed: an outage (timeout, network error, 429 or 5xx after the retry, 401/403, 422)
returns the ``on_error`` verdict with ``error`` set. An answer this provider cannot read, or an
unexpected error, returns ``needs_approval`` (``block`` if that is ``on_error``), never ``allow``.

A 401/403 is an outage, not an exception: a revoked key shows up mid-run, where raising would
crash the agent instead of pausing it. Its ``error`` starts with ``auth`` and it logs as an error.

The package, by responsibility: ``provider`` (the class: deciding, falling back, reporting),
``client`` (the SDK: loading it, building its client, classifying its failures), ``payload``
(what is sent and how an answer reads: pure functions).
"""

from evolving_agents.decisions.bighub.provider import (
    PROVIDER_NAME,
    BighubDecisionProvider,
    OnError,
    Outcome,
)

__all__ = ["PROVIDER_NAME", "BighubDecisionProvider", "OnError", "Outcome"]
