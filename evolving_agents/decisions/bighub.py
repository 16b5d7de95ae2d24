"""``BighubDecisionProvider``: ask the hosted BIGHUB service before a risky tool call runs.

::

    from evolving_agents.decisions.bighub import BighubDecisionProvider

    bighub = BighubDecisionProvider(                  # key from BIGHUB_API_KEY
        allowed_argument_fields={"grant_okta_admin": ["duration_hours", "group"]},
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

Failing closed: an outage (timeout, network error, 429 or 5xx after the retry, 401/403, 422)
returns the ``on_error`` verdict with ``error`` set. An answer this provider cannot read, or an
unexpected error, returns ``needs_approval`` (``block`` if that is ``on_error``), never ``allow``.

A 401/403 is an outage, not an exception: a revoked key shows up mid-run, where raising would
crash the agent instead of pausing it. Its ``error`` starts with ``auth`` and it logs as an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

from evolving_agents.decisions.base import (
    DEFAULT_MODE,
    DecisionContext,
    DecisionMode,
    DecisionSignal,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.errors import ConfigurationError

if TYPE_CHECKING:
    from bighub import AsyncBighubClient

logger = logging.getLogger(__name__)

OnError = Literal["needs_approval", "block", "allow"]
Outcome = Literal["success", "failure", "rejected", "corrected"]

PROVIDER_NAME = "bighub"
_INSTALL_HINT = "pip install 'evolving-agents[bighub]'"
_ON_ERROR_VALUES = frozenset(verdict.value for verdict in DecisionVerdict)
# Outcome names the BIGHUB OpenAI adapter reports (SUCCESS/FAILURE/ESCALATION/CORRECTION);
# a reviewer's rejection is a human escalation overriding the agent.
_OUTCOME_STATUS: dict[str, str] = {
    "success": "SUCCESS",
    "failure": "FAILURE",
    "rejected": "ESCALATION",
    "corrected": "CORRECTION",
}
_SENT_METADATA = ("system", "risk")
_RETRY_BACKOFF_SECONDS = 0.1
# call_id -> request_id, so report_outcome(call_id=...) works in the process that decided;
# bounded because a long-lived worker decides without end.
_REMEMBERED_REQUEST_IDS = 10_000

_VERDICT_BY_MODE = {
    "autonomous": DecisionVerdict.ALLOW,
    "constrained": DecisionVerdict.ALLOW,
    "review": DecisionVerdict.NEEDS_APPROVAL,
    "needs_context": DecisionVerdict.NEEDS_APPROVAL,
    "blocked": DecisionVerdict.BLOCK,
}
_ENFORCED_VERDICTS = {
    "allowed": DecisionVerdict.ALLOW,
    "proceed": DecisionVerdict.ALLOW,
    "requires_approval": DecisionVerdict.NEEDS_APPROVAL,
    "blocked": DecisionVerdict.BLOCK,
    "denied": DecisionVerdict.BLOCK,
    "do_not_proceed": DecisionVerdict.BLOCK,
}


class BighubDecisionProvider:
    """Scores tool calls with BIGHUB; satisfies ``DecisionProvider``.

    One attempt plus ``retries`` more on timeouts, network errors, 408, 429 and 5xx, each bounded
    by ``timeout`` seconds; the SDK's own retries are switched off on the client built here. An
    injected ``client`` is used as is (build it with ``max_retries=0`` to keep the count exact)
    and is not closed by :meth:`aclose`.
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
    ) -> None:
        self._sdk = _load_sdk()
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
        self._global_fields, self._tool_fields = _normalize_allow_list(allowed_argument_fields)
        self._request_ids: OrderedDict[str, str] = OrderedDict()
        self._owns_client = client is None
        if client is None:
            client = self._build_client(api_key, base_url)
        elif api_key is not None or base_url is not None:
            raise ConfigurationError("pass either client=... or api_key/base_url, not both")
        self._client: AsyncBighubClient = client

    @classmethod
    def from_env(cls, **overrides: Any) -> BighubDecisionProvider:
        """Configured from ``BIGHUB_API_KEY``, ``BIGHUB_BASE_URL`` and the optional
        ``EAT_BIGHUB_TIMEOUT``, ``EAT_BIGHUB_ON_ERROR``, ``EAT_BIGHUB_DOMAIN``; keyword
        arguments win over the environment."""
        settings: dict[str, Any] = {}
        raw_timeout = os.environ.get("EAT_BIGHUB_TIMEOUT")
        if raw_timeout:
            try:
                settings["timeout"] = float(raw_timeout)
            except ValueError as exc:
                raise ConfigurationError(
                    f"EAT_BIGHUB_TIMEOUT={raw_timeout!r} is not a number of seconds"
                ) from exc
        for variable, key in (("EAT_BIGHUB_ON_ERROR", "on_error"), ("EAT_BIGHUB_DOMAIN", "domain")):
            value = os.environ.get(variable)
            if value:
                settings[key] = value
        settings.update(overrides)
        return cls(**settings)

    def _build_client(self, api_key: str | None, base_url: str | None) -> AsyncBighubClient:
        key = (api_key if api_key is not None else os.environ.get("BIGHUB_API_KEY", "")).strip()
        if not key:
            raise ConfigurationError(
                "BIGHUB API key missing: pass api_key=... or set BIGHUB_API_KEY"
            )
        options: dict[str, Any] = {"api_key": key, "timeout": self._timeout, "max_retries": 0}
        url = base_url or os.environ.get("BIGHUB_BASE_URL")
        if url:
            options["base_url"] = url
        try:
            client: AsyncBighubClient = self._sdk.AsyncBighubClient(**options)
        except ValueError as exc:  # the SDK refuses plain http:// outside localhost
            raise ConfigurationError(f"BIGHUB base_url {url!r} refused: {exc}") from exc
        return client

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
        try:
            raw = await self._evaluate(self._request(tool_call, context))
            signal = self._signal_from_response(raw, tool_call)
        except _ProviderFailure as failure:
            signal = self._fallback(failure, tool_call)
        except Exception as exc:
            # Boundary that must fail closed: whatever broke (an SDK bug, an unserialisable
            # metadata value), the call goes in front of a person instead of crashing the run.
            logger.exception("BIGHUB decide failed unexpectedly on call %s", tool_call.call_id)
            signal = self._fallback(
                _ProviderFailure("unexpected", f"{type(exc).__name__}: {exc}", attempts=1),
                tool_call,
                floor=DecisionVerdict.NEEDS_APPROVAL,
            )
        if signal.request_id is not None:
            self._remember(tool_call.call_id, signal.request_id)
        return signal.model_copy(update={"latency_ms": (time.perf_counter() - started) * 1000})

    def _request(self, tool_call: ToolCallRequest, context: DecisionContext) -> dict[str, Any]:
        sent: dict[str, Any] = {
            "tool": tool_call.tool_name,
            "arguments": self._allowed_arguments(tool_call),
        }
        for key in _SENT_METADATA:
            if tool_call.metadata.get(key) is not None:
                sent[key] = _json_scalar(tool_call.metadata[key])
        environment = tool_call.metadata.get("environment") or context.environment
        if environment is not None:
            sent["environment"] = _json_scalar(environment)
        request: dict[str, Any] = {
            "action": tool_call.tool_name,
            "context": sent,
            "domain": self._domain or context.domain,
            "raw": True,
        }
        request["idempotency_key"] = _idempotency_key(tool_call.call_id, context.run_id, request)
        return request

    def _allowed_arguments(self, tool_call: ToolCallRequest) -> dict[str, Any]:
        allowed = self._global_fields | self._tool_fields.get(tool_call.tool_name, frozenset())
        return {key: value for key, value in tool_call.arguments.items() if key in allowed}

    async def _evaluate(self, request: dict[str, Any]) -> object:
        for attempt in range(1, self._retries + 2):
            try:
                return await self._attempt(request, attempt)
            except _ProviderFailure as failure:
                if not failure.retryable or attempt > self._retries:
                    raise
                logger.info("BIGHUB %s, retrying call %s", failure.kind, request["idempotency_key"])
                await asyncio.sleep(failure.backoff(self._timeout))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, request: dict[str, Any], attempt: int) -> object:
        sdk = self._sdk
        try:
            return await asyncio.wait_for(self._client.decide(**request), timeout=self._timeout)
        except (TimeoutError, sdk.BighubTimeoutError) as exc:
            raise _ProviderFailure(
                "timeout", f"no answer within {self._timeout:g}s", attempt, retryable=True
            ) from exc
        except sdk.BighubNetworkError as exc:
            raise _ProviderFailure("network", str(exc), attempt, retryable=True) from exc
        except sdk.BighubAuthError as exc:
            raise _ProviderFailure("auth", str(exc) or "unauthorized", attempt) from exc
        except sdk.BighubRateLimitError as exc:
            retry_after = exc.retry_after_seconds
            raise _ProviderFailure(
                "rate_limited", str(exc), attempt, retryable=True, retry_after=retry_after
            ) from exc
        except sdk.BighubValidationError as exc:
            raise _ProviderFailure("validation", str(exc), attempt) from exc
        except sdk.BighubAPIError as exc:
            status = int(exc.status_code)
            kind = "server_error" if status >= 500 else f"http_{status}"
            retryable = status >= 500 or status == 408
            raise _ProviderFailure(kind, str(exc), attempt, retryable=retryable) from exc

    def _signal_from_response(self, raw: object, tool_call: ToolCallRequest) -> DecisionSignal:
        if not isinstance(raw, dict) or not raw:
            return self._unreadable("empty or non-object response", request_id=None)
        try:
            decision = self._sdk.BackendDecisionNormalizer.normalize(
                raw, proposed_action=tool_call.tool_name
            )
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            return self._unreadable(f"the SDK could not read it ({exc})", request_id=None)
        request_id = _optional_str(decision.request_id)
        read = _read_verdict(raw, _optional_str(decision.mode))
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
            risk=_clamp_risk(decision.risk),
            reason=_optional_str(decision.reason) or f"BIGHUB: {mode.value}",
            better_action=_optional_str(decision.better_action),
            provider=PROVIDER_NAME,
            request_id=request_id,
        )

    def _unreadable(self, what: str, *, request_id: str | None) -> DecisionSignal:
        verdict = _stricter(DecisionVerdict.NEEDS_APPROVAL, self._on_error)
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
        failure: _ProviderFailure,
        tool_call: ToolCallRequest,
        *,
        floor: DecisionVerdict = DecisionVerdict.ALLOW,
    ) -> DecisionSignal:
        verdict = _stricter(floor, self._on_error)
        # A bad key will not heal by itself, so it is an error; the rest are passing outages.
        log = logger.error if failure.kind == "auth" else logger.warning
        log(
            "BIGHUB unavailable for call %s (%s after %d attempt(s)): %s; on_error=%s",
            tool_call.call_id, failure.kind, failure.attempts, failure.detail, verdict.value,
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
        status = _OUTCOME_STATUS.get(outcome)
        if status is None:
            logger.error("BIGHUB outcome %r is not one of %s", outcome, ", ".join(_OUTCOME_STATUS))
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


@dataclass
class _ProviderFailure(Exception):
    """One failed attempt, classified; ``kind`` is what ``DecisionSignal.error`` starts with."""

    kind: str
    detail: str
    attempts: int
    retryable: bool = False
    retry_after: float | None = None

    def backoff(self, timeout: float) -> float:
        if self.retry_after is not None:
            return max(0.0, min(float(self.retry_after), timeout))
        return _RETRY_BACKOFF_SECONDS


def _idempotency_key(call_id: str, run_id: str | None, request: Mapping[str, Any]) -> str:
    """One call of one run: BIGHUB answers a repeated key with its first answer, so the key
    must change whenever the run or what is sent does. The digest covers only what is sent
    (never the arguments left out), so it reveals nothing new."""
    sent = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(sent.encode("utf-8")).hexdigest()[:16]
    return f"{call_id}:{digest}" if run_id is None else f"{run_id}:{call_id}:{digest}"


def _load_sdk() -> ModuleType:
    try:
        return importlib.import_module("bighub")
    except ImportError as exc:
        raise ConfigurationError(
            f"BighubDecisionProvider needs the bighub SDK: {_INSTALL_HINT}"
        ) from exc


def _normalize_allow_list(
    value: Mapping[str, Iterable[str]] | Iterable[str] | None,
) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """(fields allowed for every tool, fields per tool name); the Mapping key ``"*"`` is global."""
    if value is None:
        return frozenset(), {}
    if isinstance(value, Mapping):
        per_tool: dict[str, frozenset[str]] = {}
        for tool, fields in value.items():
            if not isinstance(tool, str):
                raise ConfigurationError(f"allowed_argument_fields keys are tool names: {tool!r}")
            per_tool[tool] = _field_names(fields, where=f"allowed_argument_fields[{tool!r}]")
        return per_tool.pop("*", frozenset()), per_tool
    return _field_names(value, where="allowed_argument_fields"), {}


def _field_names(fields: object, *, where: str) -> frozenset[str]:
    # A bare string is iterable too, and would silently allow-list its letters.
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise ConfigurationError(
            f"{where} must be a list of argument names such as ['duration_hours'], "
            f"not {type(fields).__name__}"
        )
    names = list(fields)
    wrong = [name for name in names if not isinstance(name, str)]
    if wrong:
        raise ConfigurationError(f"{where} holds non-string argument names: {wrong!r}")
    return frozenset(names)


def _read_verdict(
    raw: dict[str, Any], sdk_mode: str | None
) -> tuple[DecisionVerdict, DecisionMode] | None:
    """The verdict a response carries, or None when it carries none this module knows.

    ``enforced``: the server dictates through ``enforced_verdict``. ``review``: anything short
    of a plain ``proceed`` needs a person. ``advisory`` and legacy (``allowed``/``result``)
    shapes: the SDK's normalized ``mode``.
    """
    enforcement = str(raw.get("enforcement_mode") or "advisory").strip().lower()
    if enforcement == "enforced":
        enforced = _ENFORCED_VERDICTS.get(str(raw.get("enforced_verdict") or "").strip().lower())
        return None if enforced is None else (enforced, _mode_for(enforced, sdk_mode))
    verdict = _VERDICT_BY_MODE.get(sdk_mode or "")
    if verdict is None:
        return None
    if enforcement == "review" and sdk_mode == "constrained":
        return DecisionVerdict.NEEDS_APPROVAL, DecisionMode.REVIEW
    return verdict, _mode_for(verdict, sdk_mode)


def _mode_for(verdict: DecisionVerdict, sdk_mode: str | None) -> DecisionMode:
    """The SDK's mode when it agrees with the verdict (allow may be constrained), else the
    verdict's default mode."""
    if sdk_mode is not None and _VERDICT_BY_MODE.get(sdk_mode) is verdict:
        return DecisionMode(sdk_mode)
    return DEFAULT_MODE[verdict]


def _stricter(first: DecisionVerdict, second: DecisionVerdict) -> DecisionVerdict:
    return first if first.strictness >= second.strictness else second


def _clamp_risk(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def _optional_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _json_scalar(value: object) -> str | int | float | bool:
    return value if isinstance(value, str | int | float | bool) else str(value)
