"""The decision provider a ``DecisionAgent`` runs with, and how it fails.

::

    inner = default_decision_provider(settings, fail_mode="closed", rules="rules.toml",
                                      argument_fields={"grant_okta_admin": ["duration_hours"]})
    decisions = ActionDecisions(inner, specs, fail_mode="closed", actor="ops", domain="it")

``ActionDecisions`` wraps the configured provider (local rules offline, BIGHUB with
``BIGHUB_API_KEY``): it tells it each action's per-call facts (``ActionSpec.enrich``), applies
``fail_mode`` to a provider that raised, gives every evaluation an idempotency key, and notes
each verdict in the run's log (``run_log.py``) for the response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from evolving_agents.actions.run_log import current_log
from evolving_agents.actions.specs import ActionSpec, ExtractorFailed
from evolving_agents.approvals.models import arguments_digest
from evolving_agents.config import Settings
from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionProvider,
    DecisionSignal,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.decisions.local_rules import LocalRulePolicy, Rule
from evolving_agents.errors import ConfigurationError

logger = logging.getLogger(__name__)

FailMode = Literal["closed", "open"]
Rules = LocalRulePolicy | str | Path | Sequence[Rule | Mapping[str, Any]] | None


def checked_fail_mode(fail_mode: object) -> FailMode:
    if fail_mode == "closed":
        return "closed"
    if fail_mode == "open":
        return "open"
    raise ConfigurationError(f"fail_mode={fail_mode!r}: use 'closed' (the default) or 'open'")


def default_decision_provider(
    settings: Settings,
    *,
    fail_mode: FailMode,
    rules: Rules = None,
    argument_fields: Mapping[str, Iterable[str]] | None = None,
) -> DecisionProvider:
    """BIGHUB when ``settings`` has a BIGHUB key (and no ``rules`` were given), else local
    rules: from a policy, a ``.toml``/``.yaml`` file, or a list of rules; no rules at all means
    each tool's own setting (its metadata: high risk, production or a sensitive system asks)."""
    if rules is None and settings.bighub.api_key:
        from evolving_agents.decisions.bighub import BighubDecisionProvider

        return BighubDecisionProvider.from_settings(
            settings,
            on_error="needs_approval" if fail_mode == "closed" else "allow",
            allowed_argument_fields=dict(argument_fields or {}),
        )
    if isinstance(rules, LocalRulePolicy):
        return rules
    if isinstance(rules, str | Path):
        return LocalRulePolicy.from_file(rules)
    return LocalRulePolicy(rules or ())


class ActionDecisions:
    """A ``DecisionProvider`` over the configured one, for a ``DecisionAgent``'s actions."""

    def __init__(
        self,
        inner: DecisionProvider | Callable[[], DecisionProvider],
        specs: Mapping[str, ActionSpec],
        *,
        fail_mode: FailMode,
        actor: str | None,
        domain: str | None,
    ) -> None:
        self._inner = inner
        self.resolved: DecisionProvider | None = (
            None if callable(inner) and not isinstance(inner, DecisionProvider) else inner
        )
        self.name = "decision-layer" if self.resolved is None else self.resolved.name
        self._specs = specs
        self._fail_mode = fail_mode
        self._defaults = {"actor": actor, "domain": domain}

    @property
    def inner(self) -> DecisionProvider:
        """The configured provider; a factory given instead is called once, on first use."""
        if self.resolved is None:
            factory: Any = self._inner
            self.resolved = factory()
            assert self.resolved is not None
            self.name = self.resolved.name
        return self.resolved

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        signal = await self._decide(tool_call, context)
        if signal.idempotency_key is None:
            signal = signal.model_copy(
                update={"idempotency_key": evaluation_key(tool_call, context)}
            )
        log = current_log()
        if log is not None:
            log.decided(tool_call.tool_name, tool_call.call_id, tool_call.arguments, signal)
        return signal

    async def _decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        defaults = {key: value for key, value in self._defaults.items() if value is not None}
        context = context.model_copy(
            update={key: value for key, value in defaults.items() if getattr(context, key) is None}
        )
        inner = self.inner  # chosen now, on the first call, with every action known
        spec = self._specs.get(tool_call.tool_name)
        try:
            request, context = (
                (tool_call, context) if spec is None else spec.enrich(tool_call, context)
            )
        except ExtractorFailed as exc:
            # The app's own extractor broke: whatever fail_mode says, a person decides.
            logger.exception("%s; requiring approval", exc)
            return DecisionSignal.failed(self.name, exc)
        try:
            return await inner.decide(request, context)
        except Exception as exc:
            # Boundary: fail_mode says what an unavailable decision layer means.
            logger.exception("decision provider %s failed on %s", self.name, tool_call.tool_name)
            return self._failed(exc)

    def _failed(self, exc: Exception) -> DecisionSignal:
        if self._fail_mode == "closed":
            return DecisionSignal.failed(self.name, exc)
        return DecisionSignal.of(
            DecisionVerdict.ALLOW,
            provider=self.name,
            reason=f"{self.name} failed; fail_mode='open' lets the call run",
            error=f"{type(exc).__name__}: {exc}",
        )

    async def report_outcome(self, **report: Any) -> bool:
        """Outcome reports go to the configured provider, when it takes them (BIGHUB)."""
        reporter = getattr(self.inner, "report_outcome", None)
        if reporter is None:
            return False
        return bool(await reporter(**report))


def evaluation_key(tool_call: ToolCallRequest, context: DecisionContext) -> str:
    """One evaluation of one call of one run: the run, the call id and what was asked."""
    digest = arguments_digest(
        {
            "tool": tool_call.tool_name,
            "arguments": tool_call.arguments,
            "metadata": tool_call.metadata,
        }
    )[:16]
    run = context.run_id or "-"
    return f"{run}:{tool_call.call_id}:{digest}"
