"""The AI cap: what an AI reviewer may approve, wherever its decision comes from.

::

    reason = ai_approval_refusal(call, risk=0.2, threshold=0.3)   # None: it may approve
    reason = ai_approval_refusal(call, edited=True, edit_signal=fresh)   # by the edit's risk

The store applies it to every ``ai`` approval (``rules.check_ai_cap``); ``IntentReviewAgent``
applies it first, with its own threshold and the model's risk, so it escalates instead of
being refused.

An AI approving edited arguments (in practice: the decision layer's suggestion) approves a
different call, so it is judged by that call's risk: the fresh signal the store's edit checker
scored the edited arguments with (``edit_signal``), never the original call's signal. Without a
fresh score the approval is refused: nothing is known about the arguments that would run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evolving_agents.approvals.models import ToolCallRecord
from evolving_agents.approvals.risk import MEDIUM_RISK, as_risk, known_risk, metadata_risk
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
    edit_signal: Mapping[str, Any] | None = None,
) -> str | None:
    """Why an AI reviewer may not approve ``call``, or None when it may.

    The one definition of the AI cap. An AI may approve only a tool whose metadata opts into
    AI review, below both thresholds, once (not ``always``). Its approval of ``edited``
    arguments is judged by ``edit_signal``, the decision layer's fresh score of the edited
    arguments (with the tool's metadata floor), instead of the call's own signal; an edit
    without a fresh score is refused (fail closed).
    """
    if not ai_review_allowed(call.metadata):
        return (
            f"tool {call.tool_name!r} does not allow AI approval "
            "(metadata ai_review=True or reviewer='ai')"
        )
    if edited:
        if edit_signal is None or "risk" not in edit_signal:
            return (
                "an AI reviewer may approve edited arguments only once the decision layer "
                "scored them, and they have no fresh score"
            )
        scored = max(as_risk(edit_signal["risk"]), metadata_risk(call.metadata))
    else:
        scored = known_risk(call)
    combined = scored if risk is None else max(as_risk(risk), scored)
    limit = min(threshold, AI_RISK_CEILING)
    if not combined < limit:
        what = "the edited arguments' fresh risk" if edited else "the risk"
        return f"{what} {combined:.2f} is not below the AI approval threshold {limit:.2f}"
    if always:
        return "an AI reviewer may not approve every later call of the tool (always)"
    return None
