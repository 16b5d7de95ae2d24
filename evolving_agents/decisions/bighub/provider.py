"""``BighubDecisionProvider``: the ``DecisionProvider`` that asks BIGHUB (see the package doc).

::

    bighub = BighubDecisionProvider.from_settings(settings, allowed_argument_fields=[...])
    signal = await bighub.decide(tool_call, DecisionContext(environment="production"))
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from evolving_agents.config import BighubSettings, Settings
from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionSignal,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.decisions.bighub.client import (
    ProviderFailure,
    build_client,
    evaluate_once,
    load_sdk,
)
from evolving_agents.decisions.bighub.payload import (
    OUTCOME_STATUS,
    SENT_METADATA,
    better_arguments,
    clamp_risk,
    idempotency_key,
    json_scalar,
    normalize_allow_list,
    optional_str,
    read_verdict,
    stricter,
)
from evolving_agents.errors import ConfigurationError

if TYPE_CHECKING:
    from bighub import AsyncBighubClient

logger = logging.getLogger(__name__)

OnError = Literal["needs_approval", "block", "allow"]
Outcome = Literal["success", "failure", "rejected", "corrected"]

PROVIDER_NAME = "bighub"
_ON_ERROR_VALUES = frozenset(verdict.value for verdict in DecisionVerdict)
# call_id -> request_id, so report_outcome(call_id=...) works in the process that decided;
# bounded because a long-lived worker decides without end.
_REMEMBERED_REQUEST_IDS = 10_000


class BighubDecisionProvider:
    """Scores tool calls with BIGHUB; satisfies ``DecisionProvider``.

    One attempt plus ``retries`` more on timeouts, network errors, 408, 429 and 5xx, each bounded
    by ``timeout`` seconds; the SDK's own retries are switched off on the client built here. An
    injected ``client`` is used as is (build it with ``max_retries=0`` to keep the count exact)
    and is not closed by :meth:`aclose`.

    Without ``client``, a missing ``api_key`` or ``base_url`` comes from ``settings`` (the
    ``bighub`` group); built with neither, the constructor is the program's entry point and
    reads that group (``BIGHUB_API_KEY``, ``BIGHUB_BASE_URL``) from the environment itself.
    """

    name = PROVIDER_NAME

    def __init__(
        self,
        client: AsyncBighubClient | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 3.0,
        retries: int = 1,
        allowed_argument_fields: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
        on_error: OnError = "needs_approval",
        domain: str | None = None,
        settings: BighubSettings | None = None,
    ) -> None:
        self._sdk = load_sdk()
        if on_error not in _ON_ERROR_VALUES:
            raise ConfigurationError(
                f"on_error={on_error!r} is not one of {sorted(_ON_ERROR_VALUES)}"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError(f"timeout must be positive seconds, not {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries must be an int >= 0, not {retries!r}")
        self._on_error = DecisionVerdict(on_error)
        self._timeout = float(timeout)
        self._retries = retries
        self._domain = domain
        self._global_fields, self._tool_fields = normalize_allow_list(allowed_argument_fields)
        self._request_ids: OrderedDict[str, str] = OrderedDict()
        self._owns_client = client is None
        if client is None:
            if settings is None and (api_key is None or base_url is None):
                settings = BighubSettings()  # the user's entry point: see the class docstring
            if settings is not None:
                api_key = settings.api_key if api_key is None else api_key
                base_url = base_url or settings.base_url
            client = build_client(
                self._sdk, api_key=api_key, base_url=base_url, timeout=self._timeout
            )
        elif api_key is not None or base_url is not None:
            raise ConfigurationError("pass either client=... or api_key/base_url, not both")
        self._client: AsyncBighubClient = client

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> BighubDecisionProvider:
        """Configured from ``settings.bighub`` (``BIGHUB_API_KEY``, ``BIGHUB_BASE_URL``,
        ``EAT_BIGHUB_TIMEOUT``, ``EAT_BIGHUB_ON_ERROR``, ``EAT_BIGHUB_DOMAIN``); keyword
        arguments win over the settings."""
        group = settings.bighub
        options: dict[str, Any] = {"settings": group}
        for key, value in (
            ("timeout", group.timeout),
            ("on_error", group.on_error),
            ("domain", group.domain),
        ):
            if value is not None:
                options[key] = value
        options.update(overrides)
        return cls(**options)

    @classmethod
    def from_env(cls, **overrides: Any) -> BighubDecisionProvider:
        """``from_settings`` on the environment, read once here: an entry point."""
        return cls.from_settings(Settings(), **overrides)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> BighubDecisionProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- deciding -------------------------------------------------------------------------

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        started = time.perf_counter()
        request: dict[str, Any] | None = None
        try:
            request = self._request(tool_call, context)
            raw = await self._evaluate(request)
            signal = self._signal_from_response(raw, tool_call)
        except ProviderFailure as failure:
            signal = self._fallback(failure, tool_call)
        except Exception as exc:
            # Boundary that must fail closed: whatever broke (an SDK bug, an unserialisable
            # metadata value), the call goes in front of a person instead of crashing the run.
            logger.exception("BIGHUB decide failed unexpectedly on call %s", tool_call.call_id)
            signal = self._fallback(
                ProviderFailure("unexpected", f"{type(exc).__name__}: {exc}", attempts=1),
                tool_call,
                floor=DecisionVerdict.NEEDS_APPROVAL,
            )
        if signal.request_id is not None:
            self._remember(tool_call.call_id, signal.request_id)
        # Every signal names the key it was asked under, a fallback's too: BIGHUB may have
        # scored a call whose answer never arrived, and will answer that key the same way.
        key = None if request is None else request["idempotency_key"]
        return signal.model_copy(
            update={"latency_ms": (time.perf_counter() - started) * 1000, "idempotency_key": key}
        )

    def _request(self, tool_call: ToolCallRequest, context: DecisionContext) -> dict[str, Any]:
        sent: dict[str, Any] = {
            "tool": tool_call.tool_name,
            "arguments": self._allowed_arguments(tool_call),
        }
        for key in SENT_METADATA:
            if tool_call.metadata.get(key) is not None:
                sent[key] = json_scalar(tool_call.metadata[key])
        environment = tool_call.metadata.get("environment") or context.environment
        if environment is not None:
            sent["environment"] = json_scalar(environment)
        request: dict[str, Any] = {
            "action": tool_call.tool_name,
            "context": sent,
            "domain": self._domain or context.domain,
            "raw": True,
        }
        request["idempotency_key"] = idempotency_key(tool_call.call_id, context.run_id, request)
        return request

    def _allowed_fields(self, tool_name: str) -> frozenset[str]:
        return self._global_fields | self._tool_fields.get(tool_name, frozenset())

    def _allowed_arguments(self, tool_call: ToolCallRequest) -> dict[str, Any]:
        allowed = self._allowed_fields(tool_call.tool_name)
        return {key: value for key, value in tool_call.arguments.items() if key in allowed}

    async def _evaluate(self, request: dict[str, Any]) -> object:
        for attempt in range(1, self._retries + 2):
            try:
                return await evaluate_once(
                    self._sdk, self._client, request, attempt=attempt, timeout=self._timeout
                )
            except ProviderFailure as failure:
                if not failure.retryable or attempt > self._retries:
                    raise
                logger.info("BIGHUB %s, retrying call %s", failure.kind, request["idempotency_key"])
                await asyncio.sleep(failure.backoff(self._timeout))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _signal_from_response(self, raw: object, tool_call: ToolCallRequest) -> DecisionSignal:
        if not isinstance(raw, dict) or not raw:
            return self._unreadable("empty or non-object response", request_id=None)
        try:
            decision = self._sdk.BackendDecisionNormalizer.normalize(
                raw, proposed_action=tool_call.tool_name
            )
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            return self._unreadable(f"the SDK could not read it ({exc})", request_id=None)
        request_id = optional_str(decision.request_id)
        read = read_verdict(raw, optional_str(decision.mode))
        if read is None:
            return self._unreadable(
                f"no known decision (mode={decision.mode!r}, "
                f"recommendation={raw.get('recommendation')!r})",
                request_id=request_id,
            )
        verdict, mode = read
        return DecisionSignal(
            verdict=verdict,
            mode=mode,
            risk=clamp_risk(decision.risk),
            reason=optional_str(decision.reason) or f"BIGHUB: {mode.value}",
            better_action=optional_str(decision.better_action),
            better_arguments=better_arguments(
                raw,
                tool_call.tool_name,
                tool_call.arguments,
                self._allowed_fields(tool_call.tool_name),
            ),
            provider=PROVIDER_NAME,
            request_id=request_id,
        )

    def _unreadable(self, what: str, *, request_id: str | None) -> DecisionSignal:
        verdict = stricter(DecisionVerdict.NEEDS_APPROVAL, self._on_error)
        logger.warning("BIGHUB answer unreadable (%s); returning %s", what, verdict.value)
        return DecisionSignal.of(
            verdict,
            provider=PROVIDER_NAME,
            reason=f"BIGHUB's answer could not be read; {verdict.value} so a person decides",
            request_id=request_id,
            error=f"malformed_response: {what}",
        )

    def _fallback(
        self,
        failure: ProviderFailure,
        tool_call: ToolCallRequest,
        *,
        floor: DecisionVerdict = DecisionVerdict.ALLOW,
    ) -> DecisionSignal:
        verdict = stricter(floor, self._on_error)
        # A bad key will not heal by itself, so it is an error; the rest are passing outages.
        log = logger.error if failure.kind == "auth" else logger.warning
        log(
            "BIGHUB unavailable for call %s (%s after %d attempt(s)): %s; on_error=%s",
            tool_call.call_id,
            failure.kind,
            failure.attempts,
            failure.detail,
            verdict.value,
        )
        return DecisionSignal.of(
            verdict,
            provider=PROVIDER_NAME,
            reason=(
                f"BIGHUB unavailable ({failure.kind} after {failure.attempts} attempt(s)); "
                f"on_error={verdict.value} applied"
            ),
            error=f"{failure.kind}: {failure.detail}",
        )

    def _remember(self, call_id: str, request_id: str) -> None:
        self._request_ids[call_id] = request_id
        self._request_ids.move_to_end(call_id)
        while len(self._request_ids) > _REMEMBERED_REQUEST_IDS:
            self._request_ids.popitem(last=False)

    # -- learning loop --------------------------------------------------------------------

    async def report_outcome(
        self,
        *,
        outcome: Outcome,
        request_id: str | None = None,
        call_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> bool:
        """Tell BIGHUB what happened to a decided call (``POST /outcomes/report``).

        Best effort: never raises, one attempt bounded by ``timeout``, failures are logged.
        ``details`` is sent as given. Without ``request_id`` the one remembered for ``call_id``
        by this provider's :meth:`decide` is used. Returns whether the report was accepted.
        """
        status = OUTCOME_STATUS.get(outcome)
        if status is None:
            logger.error("BIGHUB outcome %r is not one of %s", outcome, ", ".join(OUTCOME_STATUS))
            return False
        if request_id is None and call_id is not None:
            request_id = self._request_ids.get(call_id)
        if request_id is None:
            logger.warning("no BIGHUB request id for call %s; %s not reported", call_id, outcome)
            return False
        sent = {"outcome": outcome, **(details or {})}
        if call_id is not None:
            sent["call_id"] = call_id
        try:
            report = self._client.outcomes.report(
                status=status,
                request_id=request_id,
                description=description,
                details=sent,
                reported_by="evolving-agents",
                outcome_label_quality="runtime",
            )
            await asyncio.wait_for(report, timeout=self._timeout)
        except (TimeoutError, self._sdk.BighubError) as exc:
            logger.warning("BIGHUB outcome report for %s failed: %r", request_id, exc)
            return False
        except Exception:
            # Best-effort boundary: the call already ran; a broken report must not undo the run.
            logger.exception("BIGHUB outcome report for %s failed unexpectedly", request_id)
            return False
        return True
