"""The ``Runner.run`` options of a paused run: which are stored, which are supplied again.

::

    registry.register(
        ops_agent,
        run_config=RunConfig(tool_error_formatter=formatter),   # callables: supplied again
        session_factory=lambda session_id: SQLiteSession(session_id, "ops.db"),
        hooks=OpsHooks(),
    )

A paused run may resume hours later in another process. What is JSON-safe travels on the record
(``StoredRunOptions``: ``max_turns``, the conversation ids, the storable fields of its
``RunConfig``). What is an object (a session, hooks, error handlers, a context codec, callables,
guardrails and providers inside ``RunConfig``) is named in ``supplied`` and must be supplied
again by the resuming process: passed to ``resume_agent``, registered with the agent, or set on
the provider, in that order. If one is missing the resume is refused (``RunOptionMissing``)
before anything runs, and the record stays ``decided``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from agents import ModelSettings, RunConfig, RunErrorHandlers, RunHooks
from agents.memory import Session, SessionSettings
from agents.models.multi_provider import MultiProvider
from agents.run_config import ToolExecutionConfig
from pydantic import TypeAdapter

from evolving_agents.approvals.models import StoredRunOptions
from evolving_agents.providers.context_codec import ContextCodec

SessionFactory: TypeAlias = Callable[[str], Session | Awaitable[Session]]
"""Rebuilds a run's session from its ``session_id`` in the resuming process."""

# RunConfig fields whose value is a dataclass: stored as JSON, rebuilt with their type.
_DATA_FIELDS: dict[str, type[Any]] = {
    "model_settings": ModelSettings,
    "session_settings": SessionSettings,
    "tool_execution": ToolExecutionConfig,
}
# Never stored even when JSON-safe: tracing settings may carry an API key.
_NEVER_STORED = frozenset({"tracing", "model_provider"})
_DEFAULTS = RunConfig()


@dataclasses.dataclass(frozen=True)
class RunSupplies:
    """What a process supplies again for a resumed run, per agent or per provider."""

    run_config: RunConfig | None = None
    hooks: RunHooks[Any] | None = None
    session_factory: SessionFactory | None = None
    context_codec: ContextCodec | None = None
    error_handlers: RunErrorHandlers[Any] | None = None
    partial_resume: bool | None = None

    def over(self, fallback: RunSupplies) -> RunSupplies:
        """These supplies, each missing one taken from ``fallback``."""
        return RunSupplies(
            **{
                spec.name: getattr(fallback, spec.name)
                if getattr(self, spec.name) is None
                else getattr(self, spec.name)
                for spec in dataclasses.fields(self)
            }
        )


def capture(
    *,
    run_config: RunConfig | None,
    max_turns: int | None,
    hooks: RunHooks[Any] | None,
    error_handlers: RunErrorHandlers[Any] | None,
    session: Session | None,
    conversation_id: str | None,
    previous_response_id: str | None,
    auto_previous_response_id: bool,
    context_codec: str | None,
    partial_resume: bool,
) -> StoredRunOptions:
    """What a paused run stores about its options, and what it will need supplied again."""
    stored_config, unstorable = split_run_config(run_config)
    supplied = [f"run_config.{name}" for name in unstorable]
    if hooks is not None:
        supplied.append("hooks")
    if error_handlers is not None:
        supplied.append("error_handlers")
    if session is not None:
        supplied.append("session")
    if context_codec == "custom":
        supplied.append("context_codec")
    return StoredRunOptions(
        max_turns=max_turns,
        conversation_id=conversation_id,
        previous_response_id=previous_response_id,
        auto_previous_response_id=auto_previous_response_id,
        run_config=stored_config,
        session_id=None if session is None else str(session.session_id),
        session_type=None if session is None else type(session).__name__,
        context_codec=context_codec,
        supplied=supplied,
        partial_resume=partial_resume,
    )


def split_run_config(run_config: RunConfig | None) -> tuple[dict[str, Any], list[str]]:
    """The JSON form of ``run_config``'s storable non-default fields, and the names of the
    non-default fields that cannot be stored."""
    if run_config is None:
        return {}, []
    stored: dict[str, Any] = {}
    unstorable: list[str] = []
    for spec in dataclasses.fields(RunConfig):
        name = spec.name
        value = getattr(run_config, name)
        if name == "model_provider":
            # The default is a fresh MultiProvider; anything else is the app's own provider.
            if type(value) is not MultiProvider:
                unstorable.append(name)
            continue
        if _same(value, getattr(_DEFAULTS, name)):
            continue
        encoded = None if name in _NEVER_STORED else _encode(name, value)
        if encoded is None:
            unstorable.append(name)
        else:
            stored[name] = encoded[0]
    return stored, unstorable


def rebuild_run_config(stored: StoredRunOptions, base: RunConfig | None) -> RunConfig:
    """``base`` (the resuming process's config) with the paused run's stored fields on top."""
    values = {name: _decode(name, value) for name, value in stored.run_config.items()}
    return dataclasses.replace(base if base is not None else RunConfig(), **values)


def missing(
    stored: StoredRunOptions,
    *,
    run_config: RunConfig,
    hooks: RunHooks[Any] | None,
    error_handlers: RunErrorHandlers[Any] | None,
    session: Session | None,
    has_context: bool,
) -> list[str]:
    """Which of the paused run's unstorable options the resuming process lacks."""
    lacking = []
    for name in stored.supplied:
        if name == "hooks":
            absent = hooks is None
        elif name == "error_handlers":
            absent = error_handlers is None
        elif name == "session":
            absent = session is None
        elif name == "context_codec":
            absent = not has_context
        elif name.startswith("run_config."):
            field_name = name.removeprefix("run_config.")
            value = getattr(run_config, field_name, None)
            if field_name == "model_provider":
                absent = type(value) is MultiProvider
            else:
                absent = _same(value, getattr(_DEFAULTS, field_name, None))
        else:
            absent = True
        if absent:
            lacking.append(_describe_missing(name, stored))
    return lacking


async def open_session(factory: SessionFactory, session_id: str) -> Session:
    built = factory(session_id)
    return await built if inspect.isawaitable(built) else built


def _describe_missing(name: str, stored: StoredRunOptions) -> str:
    if name == "session":
        return f"session {stored.session_id!r} ({stored.session_type}; give a session_factory)"
    if name == "context_codec":
        return "a context codec (context_codec=, or context= at resume)"
    return name


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        # An object whose comparison raises (an array, say) is not the default.
        return False


def _encode(name: str, value: Any) -> tuple[Any] | None:
    """``(json_value,)`` when ``value`` survives a JSON round trip unchanged, else None."""
    data_type = _DATA_FIELDS.get(name)
    try:
        if data_type is not None and isinstance(value, data_type):
            adapter: TypeAdapter[Any] = TypeAdapter(data_type)
            dumped = adapter.dump_python(value, mode="json", exclude_none=True)
            encoded = json.loads(json.dumps(dumped))
            return (encoded,) if adapter.validate_python(encoded) == value else None
        encoded = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return None
    return (encoded,) if encoded == value else None


def _decode(name: str, value: Any) -> Any:
    data_type = _DATA_FIELDS.get(name)
    if data_type is None or value is None:
        return value
    return TypeAdapter(data_type).validate_python(value)
