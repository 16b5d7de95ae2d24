"""How a run's context is stored across a pause, and rebuilt as its own type at resume.

::

    @dataclass
    class OpsContext:
        team: str
        ticket: str

    run = await provider.execute_agent("ops-agent", "...", context=OpsContext("sre", "T-1"))
    done = await provider.resume_agent(run.approval_id)    # tools see an OpsContext again

Dataclass and Pydantic contexts need nothing more: ``TypeContextCodec`` is chosen for them and
the type is named in the signed state, so the resuming process imports it back (only a
dataclass or a Pydantic model is accepted there). Anything else needs a ``ContextCodec`` on the
agent's registration or the provider, or ``context=`` at resume for handles that cannot be
stored (a database client, an HTTP session). The context is stored data: never put secrets in
it. A context the codec cannot round-trip is refused before the run starts and again at the
pause, with ``ContextNotSerializable``, and nothing is stored.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, TypeAdapter, ValidationError

from evolving_agents.errors import EvolvingAgentsError

TYPE_CODEC = "type"
CUSTOM_CODEC = "custom"


class ContextNotSerializable(EvolvingAgentsError, TypeError):
    """The run's context cannot be stored and rebuilt; the message says what and how to fix."""


@runtime_checkable
class ContextCodec(Protocol):
    """Turns a context into a JSON-safe mapping and back (the SDK's ``context_serializer`` and
    ``context_deserializer``, as one object so both sides always agree)."""

    def serialize(self, context: Any) -> Mapping[str, Any]: ...

    def deserialize(self, data: Mapping[str, Any]) -> Any: ...


class TypeContextCodec:
    """The codec of one dataclass or Pydantic model type: fields as JSON, the type back."""

    def __init__(self, context_type: type[Any]) -> None:
        if not (_is_model_type(context_type) or dataclasses.is_dataclass(context_type)):
            raise ContextNotSerializable(
                f"TypeContextCodec needs a dataclass or a Pydantic model type, "
                f"not {context_type!r}"
            )
        self.context_type = context_type
        self._adapter: TypeAdapter[Any] = TypeAdapter(context_type)

    def serialize(self, context: Any) -> Mapping[str, Any]:
        if not isinstance(context, self.context_type):
            raise ContextNotSerializable(
                f"expected a {_path(self.context_type)} context, got {type(context).__name__}"
            )
        dumped = self._adapter.dump_python(context, mode="json")
        if not isinstance(dumped, dict):
            raise ContextNotSerializable(f"{_path(self.context_type)} did not dump to a mapping")
        return dumped

    def deserialize(self, data: Mapping[str, Any]) -> Any:
        try:
            return self._adapter.validate_python(dict(data))
        except ValidationError as exc:
            raise ContextNotSerializable(
                f"the stored context does not fit {_path(self.context_type)}: {exc}"
            ) from exc


def codec_for(
    context: Any, configured: ContextCodec | None
) -> tuple[ContextCodec | None, str | None]:
    """The codec to store ``context`` with and its kind (see ``StoredRunOptions``).

    A configured codec wins; mappings and None need none; dataclasses and Pydantic models get
    ``TypeContextCodec``; anything else is refused.
    """
    if configured is not None:
        return configured, CUSTOM_CODEC
    if context is None or isinstance(context, Mapping):
        return None, None
    if isinstance(context, BaseModel) or (
        dataclasses.is_dataclass(context) and not isinstance(context, type)
    ):
        return TypeContextCodec(type(context)), TYPE_CODEC
    raise ContextNotSerializable(
        f"a {type(context).__name__} context cannot be stored across a pause: use a mapping, "
        "a dataclass or a Pydantic model, register a ContextCodec with the agent or the "
        "provider, or pass handles that cannot be stored as context= to resume_agent"
    )


def check_round_trip(context: Any, codec: ContextCodec | None) -> dict[str, Any] | None:
    """The stored form of ``context``, after proving it comes back equal; or the error."""
    if context is None:
        return None
    try:
        data = dict(context) if codec is None else dict(codec.serialize(context))
        text = json.dumps(data, allow_nan=False, sort_keys=True)
    except ContextNotSerializable:
        raise
    except (TypeError, ValueError) as exc:
        raise ContextNotSerializable(
            f"the {type(context).__name__} context is not JSON-safe and cannot be stored: {exc}"
        ) from exc
    if codec is not None:
        try:
            again = json.dumps(
                dict(codec.serialize(codec.deserialize(json.loads(text)))),
                allow_nan=False,
                sort_keys=True,
            )
        except ContextNotSerializable:
            raise
        except Exception as exc:
            # Boundary: an application codec may raise anything; the run must not start.
            raise ContextNotSerializable(
                f"the context codec cannot rebuild a {type(context).__name__} context: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if again != text:
            raise ContextNotSerializable(
                f"the {type(context).__name__} context changes when stored and rebuilt "
                "(fields the codec drops?); it would not come back as it is"
            )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def codec_from_state(state_json: Mapping[str, Any]) -> TypeContextCodec | None:
    """The ``TypeContextCodec`` for the context type named in a (verified) state, if any."""
    context = state_json.get("context")
    meta = context.get("context_meta") if isinstance(context, Mapping) else None
    class_path = meta.get("class_path") if isinstance(meta, Mapping) else None
    if not isinstance(class_path, str):
        return None
    module_name, _, qualname = class_path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ContextNotSerializable(
            f"the run's context type {class_path} cannot be imported here: {exc}"
        ) from exc
    if not isinstance(target, type):
        raise ContextNotSerializable(f"the run's context type {class_path} is not a class")
    # Only types that are plain data: a stored name never makes this process build anything
    # else, even from a signed state.
    return TypeContextCodec(target)


def _is_model_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _path(context_type: type[Any]) -> str:
    return f"{context_type.__module__}.{context_type.__qualname__}"
