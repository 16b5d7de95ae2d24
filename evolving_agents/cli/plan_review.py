"""The console decider for ``ApprovePlanTool``: a person answers per intent at the terminal."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable

from rich.console import Console
from rich.prompt import Prompt

from evolving_agents.plans.intent_plans import IntentPlan
from evolving_agents.tools.intent_review.approve_plan_tool import (
    IntentVerdict,
    PlanDecider,
    PlanVerdicts,
)

Ask = Callable[[str, list[str], str], str]
_ANSWERS = {"a": "approve", "r": "reject", "e": "escalate"}


def _rich_ask(question: str, choices: list[str], default: str) -> str:
    return Prompt.ask(question, choices=choices or None, default=default)


def console_decider(
    *, reviewer: str | None = None, console: Console | None = None, ask: Ask = _rich_ask
) -> PlanDecider:
    """Show each intent (tool, arguments, signal) and ask approve / reject / escalate."""
    out = Console() if console is None else console
    name = reviewer or getpass.getuser()

    async def decide(plan: IntentPlan) -> PlanVerdicts:
        out.print(f"[bold]{plan.title}[/]\n{plan.objective}")
        verdicts = []
        for intent in plan.intents:
            out.print(f"\n[cyan]{intent.component_name}[/] ({intent.intent_id})")
            out.print_json(json.dumps(intent.params))
            if intent.signal:
                out.print(
                    f"signal: {intent.signal.get('verdict')} risk {intent.signal.get('risk')}: "
                    f"{intent.signal.get('reason')}"
                )
            answer = _ANSWERS[ask("approve, reject or escalate?", list(_ANSWERS), "e")]
            reason = ""
            if answer != "approve":
                reason = ask("reason (the agent reads it)", [], "")
            verdicts.append(
                IntentVerdict(intent_id=intent.intent_id, verdict=answer, reason=reason)
            )
        return PlanVerdicts(verdicts=verdicts, reviewer=name)

    return decide
