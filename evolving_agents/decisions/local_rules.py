"""``LocalRulePolicy``: the offline decision provider, rules from a dict or a TOML/YAML file.

::

    policy = LocalRulePolicy.from_file("rules.toml")
    # rules.toml
    # [[rules]]
    # name = "long-okta-grants"
    # tools = ["grant_*"]                       # globs on the tool name
    # match = { system = "okta" }               # tool metadata, equal (or one of a list)
    # when = [{ arg = "duration_hours", op = ">", value = 24 }]
    # verdict = "needs_approval"
    # risk = 0.8
    # reason = "Okta admin for more than 24h"
    # better_action = "grant for 2h instead of 48h"
    # suggest = { duration_hours = 2 }          # the same call with these arguments changed

Every condition of a rule must hold for it to match. The strictest matching rule wins
(block > needs_approval > allow, then the higher risk, then the rule listed first); no match
means the tool's own setting. The winner's ``suggest`` becomes the signal's
``better_arguments``: the call's arguments with those dotted paths set, which a reviewer can
approve in one step. Every key, operator and mode is described in ``docs/RULES.md``.

Size: about 440 lines, over the ~400 mark: the rule model, its loading from TOML, YAML or a
dict with every refusal of a bad file (depth, aliases, a regex that does not compile, a bad
``suggest``), and matching, which share the one model; none is used without the others.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import math
import re
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from evolving_agents.decisions.base import (
    DecisionContext,
    DecisionMode,
    DecisionSignal,
    DecisionVerdict,
    ToolCallRequest,
)
from evolving_agents.errors import ConfigurationError

Operator = Literal[
    ">", ">=", "<", "<=", "==", "!=", "in", "not_in", "contains", "matches", "exists", "missing"
]
_MISSING = object()
# Rules files nest a few levels (rules, a rule, its conditions, a value list); far deeper is a
# mistake or an attack, and would reach Python's recursion limit while validating.
MAX_NESTING = 32
MAX_VALUES = 100_000
# A rule that gives a mode and no verdict gets the verdict that mode belongs to (BIGHUB's
# reading: needing context is a kind of needing approval, so it ranks with it).
_VERDICT_OF_MODE = {
    DecisionMode.AUTONOMOUS: DecisionVerdict.ALLOW,
    DecisionMode.CONSTRAINED: DecisionVerdict.ALLOW,
    DecisionMode.REVIEW: DecisionVerdict.NEEDS_APPROVAL,
    DecisionMode.NEEDS_CONTEXT: DecisionVerdict.NEEDS_APPROVAL,
    DecisionMode.BLOCKED: DecisionVerdict.BLOCK,
}


class ArgumentPredicate(BaseModel):
    """One test on an argument, addressed by a dotted path (``target.environment``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arg: str
    op: Operator = "=="
    value: Any = None

    @field_validator("value")
    @classmethod
    def _compile_check(cls, value: Any, info: Any) -> Any:
        if info.data.get("op") == "matches":
            try:
                re.compile(str(value))
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value

    def holds(self, arguments: Mapping[str, Any]) -> bool:
        actual = _lookup(arguments, self.arg)
        if self.op == "exists":
            return actual is not _MISSING
        if self.op == "missing":
            return actual is _MISSING
        if actual is _MISSING:
            return False
        return _compare(self.op, actual, self.value)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    tools: list[str] = Field(default_factory=lambda: ["*"])
    match: dict[str, Any] = Field(default_factory=dict)
    when: list[ArgumentPredicate] = Field(default_factory=list)
    verdict: DecisionVerdict
    mode: DecisionMode | None = None
    risk: float = Field(default=0.5, ge=0.0, le=1.0)
    reason: str = ""
    better_action: str | None = None
    suggest: dict[str, Any] = Field(default_factory=dict)
    """Dotted argument path -> the value a better call has there (nested tables are read as
    paths too: ``{target = {environment = "staging"}}`` is ``"target.environment"``)."""

    @model_validator(mode="before")
    @classmethod
    def _verdict_from_mode(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "verdict" not in data and "mode" in data:
            try:
                mode = DecisionMode(data["mode"])
            except ValueError:
                return data  # the mode's own error says what is wrong
            return {**data, "verdict": _VERDICT_OF_MODE[mode]}
        return data

    @field_validator("suggest")
    @classmethod
    def _checked_suggestion(cls, table: dict[str, Any]) -> dict[str, Any]:
        return _suggestion_paths(table)

    @model_validator(mode="after")
    def _context_is_named(self) -> Rule:
        if self.mode is DecisionMode.NEEDS_CONTEXT and not self.reason.strip():
            raise ValueError(
                "a needs_context rule needs a reason: the model reads it to learn what "
                "context is missing"
            )
        return self

    def matches(self, call: ToolCallRequest) -> bool:
        if not any(fnmatch.fnmatchcase(call.tool_name, pattern) for pattern in self.tools):
            return False
        for key, expected in self.match.items():
            if not _metadata_matches(call.metadata.get(key, _MISSING), expected):
                return False
        return all(predicate.holds(call.arguments) for predicate in self.when)

    def better_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any] | None:
        """``arguments`` with this rule's suggestion applied, or None: no suggestion, one that
        changes nothing, or one that would go inside an argument that is not an object."""
        if not self.suggest:
            return None
        better = copy.deepcopy(dict(arguments))
        for path, value in self.suggest.items():
            *parents, leaf = path.split(".")
            target = better
            for part in parents:
                child = target.setdefault(part, {})
                if not isinstance(child, dict):
                    return None  # never replace what the model sent with a new object
                target = child
            target[leaf] = copy.deepcopy(value)
        return None if _json(better) == _json(arguments) else better

    def suggestion_sentence(self, arguments: Mapping[str, Any]) -> str:
        """``duration_hours=2 instead of 48``: what the suggestion changes, for reviewers."""
        changes = []
        for path, value in self.suggest.items():
            before = _lookup(arguments, path)
            if before is _MISSING:
                changes.append(f"{path}={_shown(value)} (not set)")
            elif _json(before) != _json(value):
                changes.append(f"{path}={_shown(value)} instead of {_shown(before)}")
        return ", ".join(changes)


class LocalRulePolicy:
    """Decides from local rules, offline and deterministically. Safe to share across tasks."""

    name = "local-rules"

    def __init__(self, rules: Sequence[Rule | Mapping[str, Any]] = ()) -> None:
        self.rules = [_rule(item, index) for index, item in enumerate(rules)]

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> LocalRulePolicy:
        rules = config.get("rules", []) if isinstance(config, Mapping) else config
        if not isinstance(rules, Sequence) or isinstance(rules, str | bytes):
            raise ConfigurationError("rules must be a list of tables")
        return cls(rules)

    @classmethod
    def from_file(cls, path: str | Path) -> LocalRulePolicy:
        """Rules from a UTF-8 TOML or YAML file. Anything wrong with the file (unreadable, not
        UTF-8, not valid TOML/YAML, nested more than ``MAX_NESTING`` levels, rules that do
        not validate) is a ``ConfigurationError`` naming the file."""
        path = Path(path)
        if path.suffix not in {".toml", ".yaml", ".yml"}:
            raise ConfigurationError(f"rules file {path}: use a .toml, .yaml or .yml file")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read rules file {path}: {exc}") from exc
        try:
            # utf-8-sig: a byte-order mark from an editor is not part of the rules.
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigurationError(
                f"rules file {path} is not UTF-8 (byte {exc.start} is {raw[exc.start]:#04x}); "
                "save it as UTF-8"
            ) from None
        try:
            if path.suffix == ".toml":
                data: Any = tomllib.loads(text)
            else:
                data = _load_yaml(path, text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"rules file {path}: {exc}") from exc
        except RecursionError:
            raise ConfigurationError(_too_deep(path)) from None
        if _values(data) > MAX_VALUES:
            # YAML aliases can make a few lines stand for billions of values.
            raise ConfigurationError(
                f"rules file {path}: more than {MAX_VALUES:,} values (aliases included)"
            )
        if _nesting(data) > MAX_NESTING:
            raise ConfigurationError(_too_deep(path))
        try:
            return cls.from_dict(data)
        except ConfigurationError as exc:
            raise ConfigurationError(f"rules file {path}: {exc}") from exc

    async def decide(self, tool_call: ToolCallRequest, context: DecisionContext) -> DecisionSignal:
        started = time.perf_counter()
        matched = [rule for rule in self.rules if rule.matches(tool_call)]
        if not matched:
            own = tool_call.tool_requires_approval
            return DecisionSignal.of(
                DecisionVerdict.NEEDS_APPROVAL if own else DecisionVerdict.ALLOW,
                provider=self.name,
                reason="no rule matched; the tool's own setting applies",
                risk=0.5 if own else 0.0,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        # max keeps the first of equals: a tie goes to the rule listed first.
        winner = max(matched, key=lambda rule: (rule.verdict.strictness, rule.risk))
        better_arguments = winner.better_arguments(tool_call.arguments)
        better_action = winner.better_action
        if better_action is None and better_arguments is not None:
            better_action = winner.suggestion_sentence(tool_call.arguments)
        return DecisionSignal.of(
            winner.verdict,
            provider=self.name,
            mode=winner.mode,
            reason=winner.reason or f"rule {winner.name!r} matched",
            risk=winner.risk,
            better_action=better_action,
            better_arguments=better_arguments,
            request_id=winner.name,
            latency_ms=(time.perf_counter() - started) * 1000,
        )


def _rule(item: Rule | Mapping[str, Any], index: int) -> Rule:
    if isinstance(item, Rule):
        return item
    if not isinstance(item, Mapping):
        raise ConfigurationError(f"rule #{index + 1} must be a table, got {type(item).__name__}")
    try:
        return Rule.model_validate({"name": f"rule-{index + 1}", **item})
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise ConfigurationError(
            f"rule #{index + 1} ({item.get('name', '?')}): {problems}"
        ) from None


def _problem(error: ErrorDetails) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {message}" if where else message


def _too_deep(path: Path) -> str:
    return f"rules file {path}: nested more than {MAX_NESTING} levels deep; rules need a few"


def _nesting(data: Any) -> int:
    """How deeply ``data`` nests dicts and lists (iteratively: it may be hostile)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            items = current.values() if isinstance(current, dict) else current
            stack.extend((item, depth + 1) for item in items)
    return deepest


def _values(data: Any) -> int:
    """How many values ``data`` holds, counting aliased ones each time; stops past the limit."""
    count = 0
    stack = [data]
    while stack and count <= MAX_VALUES:
        current = stack.pop()
        count += 1
        if isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return count


def _load_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"rules file {path}: {exc}") from exc


def _suggestion_paths(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``suggest`` flattened to dotted path -> JSON value; ValueError for a path that cannot be
    set (empty, an empty segment, set twice, or inside another set path) or a non-JSON value."""
    paths: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if not path.strip():
            raise ValueError("suggest has an empty argument path")
        if any(not segment.strip() for segment in path.split(".")):
            raise ValueError(f"suggest path {path!r} has an empty segment")
        if isinstance(value, Mapping):
            if not value:
                raise ValueError(f"suggest path {path!r} is an empty table: it sets nothing")
            found = _suggestion_paths(value, path)
        else:
            problem = _not_json(value)
            if problem is not None:
                raise ValueError(f"suggest path {path!r}: {problem}")
            found = {path: value}
        for new in found:
            if new in paths:
                raise ValueError(f"suggest sets {new!r} twice")
        paths.update(found)
    for path in paths:
        inside = [other for other in paths if path.startswith(other + ".")]
        if inside:
            raise ValueError(f"suggest sets both {inside[0]!r} and {path!r}, inside it")
    return paths


def _not_json(value: Any) -> str | None:
    """Why ``value`` is not a JSON value (TOML dates, YAML sets, NaN...), or None."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a JSON number"
    if isinstance(value, list):
        return next((why for why in map(_not_json, value) if why is not None), None)
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            return "object keys must be strings"
        return next((why for why in map(_not_json, value.values()) if why is not None), None)
    return f"a {type(value).__name__} is not a JSON value"


def _json(value: Any) -> str:
    # Compared as JSON, so 1 and True, or 2 and 2.0, are not taken for the same argument.
    return json.dumps(value, sort_keys=True, default=str)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _lookup(arguments: Mapping[str, Any], path: str) -> Any:
    current: Any = arguments
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _metadata_matches(actual: Any, expected: Any) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(expected, list):
        return any(_same(actual, option) for option in expected)
    return _same(actual, expected)


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    return bool(actual == expected)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op in {">", ">=", "<", "<="}:
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return False
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    if op == "==":
        return _same(actual, expected)
    if op == "!=":
        return not _same(actual, expected)
    if op in {"in", "not_in"}:
        options = expected if isinstance(expected, list) else [expected]
        found = any(_same(actual, option) for option in options)
        return found if op == "in" else not found
    if op == "contains":
        if isinstance(actual, str):
            return str(expected).lower() in actual.lower()
        return isinstance(actual, list) and any(_same(item, expected) for item in actual)
    if op == "matches":
        return isinstance(actual, str) and re.search(str(expected), actual) is not None
    raise ConfigurationError(f"unknown operator {op!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
