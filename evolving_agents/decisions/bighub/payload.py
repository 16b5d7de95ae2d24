"""What goes to BIGHUB and what its answers mean: pure functions, no SDK, no I/O.

::

    global_fields, per_tool = normalize_allow_list({"grant_okta_admin": ["group"]})
    key = idempotency_key(call_id, run_id, request)      # one call of one run, what is sent
    verdict, mode = read_verdict(raw_response, sdk_mode)  # or None: an answer we cannot read
    better = better_arguments(raw_response, tool_name, arguments, allowed_fields)  # or None
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from evolving_agents.decisions.base import DEFAULT_MODE, DecisionMode, DecisionVerdict
from evolving_agents.errors import ConfigurationError

# Outcome names the BIGHUB OpenAI adapter reports (SUCCESS/FAILURE/ESCALATION/CORRECTION);
# a reviewer's rejection is a human escalation overriding the agent.
OUTCOME_STATUS: dict[str, str] = {
    "success": "SUCCESS",
    "failure": "FAILURE",
    "rejected": "ESCALATION",
    "corrected": "CORRECTION",
}
SENT_METADATA = ("system", "risk")

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


def idempotency_key(call_id: str, run_id: str | None, request: Mapping[str, Any]) -> str:
    """One call of one run: BIGHUB answers a repeated key with its first answer, so the key
    must change whenever the run or what is sent does. The digest covers only what is sent
    (never the arguments left out), so it reveals nothing new."""
    sent = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(sent.encode("utf-8")).hexdigest()[:16]
    return f"{call_id}:{digest}" if run_id is None else f"{run_id}:{call_id}:{digest}"


def normalize_allow_list(
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


def read_verdict(
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


def better_arguments(
    raw: Mapping[str, Any],
    tool_name: str,
    arguments: Mapping[str, Any],
    allowed_fields: frozenset[str],
) -> dict[str, Any] | None:
    """The call's arguments with BIGHUB's first structured alternative merged over them, in
    full; None when the answer has none this call can take.

    The SDK (0.1.0b5) types an alternative as ``{action, rationale, estimated_risk}``: text.
    A structured one also names the tool (``tool``, else its ``action`` is the tool name) and
    carries ``arguments`` (or ``params``), a JSON object of top-level arguments that replace
    the call's. Taken only when it is the same tool (a reviewer approves this call, not another
    one), touches only allow-listed fields (what BIGHUB was shown; it cannot judge the rest),
    and changes something. Alternatives are read where the SDK reads them: the decision
    intelligence's, the decision brain's, the answer's own, then the decision packet's.
    """
    for alternative in _alternatives(raw):
        if not isinstance(alternative, Mapping):
            continue
        if str(alternative.get("tool") or alternative.get("action") or "") != tool_name:
            continue
        changes = alternative.get("arguments", alternative.get("params"))
        if not isinstance(changes, Mapping) or not changes:
            continue
        if not all(isinstance(key, str) and key in allowed_fields for key in changes):
            continue
        better = {**copy.deepcopy(dict(arguments)), **copy.deepcopy(dict(changes))}
        if _canonical(better) != _canonical(arguments):
            return better
    return None


def _alternatives(raw: Mapping[str, Any]) -> Iterator[object]:
    for owner in ("decision_intelligence", "decision_brain", None, "decision_packet"):
        holder = raw if owner is None else raw.get(owner)
        found = holder.get("alternatives") if isinstance(holder, Mapping) else None
        if isinstance(found, list):
            yield from found


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def stricter(first: DecisionVerdict, second: DecisionVerdict) -> DecisionVerdict:
    return first if first.strictness >= second.strictness else second


def clamp_risk(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def optional_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def json_scalar(value: object) -> str | int | float | bool:
    return value if isinstance(value, str | int | float | bool) else str(value)
