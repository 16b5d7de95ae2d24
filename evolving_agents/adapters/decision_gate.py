"""Where a ``DecisionProvider`` meets an SDK tool: ``needs_approval`` and the block guardrail.

::

    adapter = OpenAIToolAdapter(decision_provider=LocalRulePolicy.from_file("rules.toml"))
    tool = adapter.adapt(grant_okta_admin, metadata={"system": "okta"})
    # allow -> runs; needs_approval -> the run pauses; block -> the model reads the reason;
    # mode needs_context -> not run, not paused: the model reads what context is missing

The provider is asked once per call of a run: the verdict is kept in the run's own recorder
(``call_signals.RunSignals``, opened by the provider around each run), so the block guardrail
and the pending-approval record use the same verdict, and the record carries it from there. A
call is its tool, its call id and the digest of its arguments; one that differs in any of them
is evaluated afresh (see ``call_signals.py`` for why a call id alone would not do). A resumed
run is a new run: the guardrail of an approved call asks again, in this process or any other
(rule policies are deterministic; BIGHUB deduplicates on the run, the call and what is sent),
so a policy that now blocks the call still stops it. Outside a provider run (a plain ``Runner.run``
without ``recording_signals()``) nothing is remembered and each consultation asks again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from agents import RunContextWrapper
from agents.tool_guardrails import (
    ToolGuardrailFunctionOutput,
    ToolInputGuardrail,
    ToolInputGuardrailData,
)

from evolving_agents.adapters.call_signals import call_key, current_signals
from evolving_agents.approvals.ledger import current_scope
from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionMode,
    DecisionProvider,
    DecisionSignal,
    DecisionVerdict,
    ToolCallRequest,
)

logger = logging.getLogger(__name__)

_CONTEXT_KEYS = ("actor", "run_id", "domain", "environment")


def current_run_id() -> str | None:
    """The run id of the provider run in progress (its ledger scope), if any."""
    scope = current_scope.get()
    return None if scope is None else scope.run_id


class DecisionGate:
    """Asks one decision provider per tool call of a run, keeping the answer in the run's
    recorder (:class:`~evolving_agents.adapters.call_signals.RunSignals`), never in the gate:
    a gate is shared by every run of the process, a recorder belongs to one."""

    def __init__(self, provider: DecisionProvider) -> None:
        self.provider = provider

    async def signal_for(
        self, request: ToolCallRequest, context: DecisionContext
    ) -> DecisionSignal:
        """This gate's signal for this call of the current run, else a fresh one (recorded)."""
        signals = current_signals()
        if signals is None:
            return await self.evaluate(request, context)
        key = call_key(request.tool_name, request.call_id, request.arguments)
        known = signals.given(self, key)
        if known is not None:
            return known
        signal = await self.evaluate(request, context)
        signals.record(self, key, signal)
        return signal

    async def evaluate(self, request: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        """Ask the provider now, remembering nothing (an edit is a new call to score)."""
        try:
            return await self.provider.decide(request, context)
        except Exception as exc:
            # Boundary that must fail closed: a broken provider sends the call to a person.
            logger.exception(
                "decision provider %s failed on %s call %s; requiring approval",
                self.provider.name,
                request.tool_name,
                request.call_id,
            )
            return DecisionSignal.failed(self.provider.name, exc)

    def needs_approval(
        self, tool_name: str, metadata: Mapping[str, Any], tool_requires_approval: bool
    ) -> Any:
        """The SDK ``needs_approval`` callable for one tool: True only for ``needs_approval``."""

        async def needs_approval(
            ctx: RunContextWrapper[Any], arguments: dict[str, Any], call_id: str
        ) -> bool:
            request = _request(tool_name, arguments, metadata, call_id, tool_requires_approval)
            signal = await self.signal_for(request, context_of(ctx))
            # A block does not pause: the guardrail refuses it with the reason, no review needed.
            # Nor does a call that needs more context: the model is told what is missing.
            return signal.verdict is DecisionVerdict.NEEDS_APPROVAL and not needs_context(signal)

        return needs_approval

    def guardrail(
        self, tool_name: str, metadata: Mapping[str, Any], tool_requires_approval: bool
    ) -> ToolInputGuardrail[Any]:
        """A tool input guardrail that refuses blocked calls, telling the model why."""

        async def enforce_block(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
            call_id = data.context.tool_call_id
            arguments = _parsed(data.context.tool_arguments)
            request = _request(tool_name, arguments, metadata, call_id, tool_requires_approval)
            signal = await self.signal_for(request, context_of(data.context))
            refusal = refusal_message(signal)
            if refusal is None:
                return ToolGuardrailFunctionOutput.allow(output_info=signal.model_dump(mode="json"))
            return ToolGuardrailFunctionOutput.reject_content(
                refusal, output_info=signal.model_dump(mode="json")
            )

        return ToolInputGuardrail(guardrail_function=enforce_block, name=f"eat_block_{tool_name}")


def needs_context(signal: DecisionSignal) -> bool:
    """Whether the decision layer asks for more context before the call may run: the call does
    not run and does not pause; the model reads what is missing and may propose it again."""
    return signal.mode is DecisionMode.NEEDS_CONTEXT and signal.error is None


def refusal_message(signal: DecisionSignal) -> str | None:
    """What the model reads instead of the tool's output, for a call the decision layer does
    not let run (a block, or a request for more context); None for a call that may run."""
    if signal.verdict is DecisionVerdict.BLOCK:
        message = f"Blocked by policy ({signal.provider}): {signal.reason}"
    elif needs_context(signal):
        message = (
            f"Not run: the decision layer ({signal.provider}) needs more context first: "
            f"{signal.reason.rstrip('. ')}. Gather what is missing, then propose the call again."
        )
    else:
        return None
    if signal.better_action:
        message += f" Instead: {signal.better_action}"
    return message


def context_of(ctx: RunContextWrapper[Any]) -> DecisionContext:
    """Who and where, read from a mapping run context when the app provides one; the run id is
    the provider run's when the app gives none."""
    context = ctx.context
    values: dict[str, str] = {}
    if isinstance(context, Mapping):
        values = {key: context[key] for key in _CONTEXT_KEYS if isinstance(context.get(key), str)}
    run_id = current_run_id()
    if run_id is not None:
        values.setdefault("run_id", run_id)
    return DecisionContext(**values)


def _request(
    tool_name: str,
    arguments: dict[str, Any],
    metadata: Mapping[str, Any],
    call_id: str,
    tool_requires_approval: bool,
) -> ToolCallRequest:
    return ToolCallRequest(
        tool_name=tool_name,
        arguments=arguments,
        metadata=dict(metadata),
        call_id=call_id,
        tool_requires_approval=tool_requires_approval,
    )


def _parsed(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_value": value}
