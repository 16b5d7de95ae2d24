"""The AI cap: what an AI reviewer may approve, wherever its decision comes from.

::

    reason = ai_approval_refusal(call, risk=0.2, threshold=0.3)   # None: it may approve

The store applies it to every ``ai`` approval (``rules.check_ai_cap``); ``IntentReviewAgent``
applies it first, with its own threshold and the model's risk, so it escalates instead of
being refused.
"""

from __future__ import annotations

from evolving_agents.approvals.models import ToolCallRecord
from evolving_agents.approvals.risk import MEDIUM_RISK, as_risk, known_risk
from evolving_agents.approvals.tool_metadata import ai_review_allowed

AI_RISK_CEILING = MEDIUM_RISK
"""No AI approval stands on a call whose known risk is at or above this, whatever threshold the
reviewer was given: an AI approves only in the low band, below where the metadata rule asks a
person (``risk.MEDIUM_RISK``)."""


def ai_approval_refusal(
    call: ToolCallRecord,
    *,
    risk: float | None = None,
    threshold: float = AI_RISK_CEILING,
    always: bool = False,
    edited: bool = False,
) -> str | None:
    """Why an AI reviewer may not approve ``call``, or None when it may.

    The one definition of the AI cap. An AI may approve only a tool whose metadata opts into
    AI review, below both thresholds, once (not ``always``), and only the arguments the model
    proposed (no edits: the decision layer never scored them).
    """
    if not ai_review_allowed(call.metadata):
        return (
            f"tool {call.tool_name!r} does not allow AI approval "
            "(metadata ai_review=True or reviewer='ai')"
        )
    combined = known_risk(call) if risk is None else max(as_risk(risk), known_risk(call))
    limit = min(threshold, AI_RISK_CEILING)
    if not combined < limit:
        return f"the risk {combined:.2f} is not below the AI approval threshold {limit:.2f}"
    if always:
        return "an AI reviewer may not approve every later call of the tool (always)"
    if edited:
        return "an AI reviewer may not approve edited arguments"
    return None
