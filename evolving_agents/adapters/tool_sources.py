"""What ``OpenAIToolAdapter.adapt`` accepts, read into one shape: the SDK tool to wrap, its
name, description and metadata, or a ``ToolAdapterError`` naming the tool and what is wrong.

::

    source = source_of(record, func=None, name=None, description=None)
    source.tool        # an SDK FunctionTool (built by the SDK's own function_tool for callables)
    source.metadata    # the record's or tool's EAT metadata, not yet checked for JSON safety
    json_safe_metadata(source.metadata, tool_name=source.name)   # a checked deep copy

The checks here turn late, obscure failures into errors at adaptation: a tool name the OpenAI
APIs would refuse on the first model call, a signature the SDK would mishandle (``**kwargs``,
an unbound method, a generator), metadata that would not survive the pending record's JSON.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from agents import FunctionTool, function_tool
from agents.exceptions import UserError
from pydantic import PydanticUserError

from evolving_agents.adapters.tool_lookup import tool_metadata
from evolving_agents.errors import EvolvingAgentsError

AdaptableTool: TypeAlias = Callable[..., Any] | FunctionTool | Mapping[str, Any]
"""What :meth:`OpenAIToolAdapter.adapt` accepts: a callable, an SDK tool or an EAT tool record."""

# The OpenAI APIs reject other function names, but only when the model is first called;
# checking here turns a late HTTP 400 into an error that names the record.
_TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RECORD_CALLABLE_KEYS = ("func", "callable")


class ToolAdapterError(EvolvingAgentsError):
    """A tool cannot be adapted; the message names the tool (when known) and what is wrong."""


@dataclass(frozen=True)
class ToolSource:
    """The SDK tool to wrap, with the name, description and metadata the wrapper takes."""

    tool: FunctionTool
    name: str
    description: str
    metadata: Mapping[str, Any]


def source_of(
    tool: AdaptableTool,
    func: Callable[..., Any] | None,
    name: str | None,
    description: str | None,
) -> ToolSource:
    if isinstance(tool, Mapping):
        return _source_of_record(tool, func, name, description)
    if func is not None:
        raise ToolAdapterError("func= is only for tool records")
    if isinstance(tool, FunctionTool):
        return _source_of_function_tool(tool, name, description, {})
    if callable(tool):
        return _source_of_callable(tool, name, description, {})
    raise ToolAdapterError(
        f"cannot adapt a {type(tool).__name__}: pass a callable, a FunctionTool "
        "or a tool record mapping"
    )


def _source_of_function_tool(
    tool: FunctionTool, name: str | None, description: str | None, metadata: Mapping[str, Any]
) -> ToolSource:
    if name is not None:
        _check_tool_name(name)
    return ToolSource(
        tool=tool,
        name=name if name is not None else tool.name,
        description=description if description is not None else tool.description,
        metadata={**tool_metadata(tool), **metadata},
    )


def _source_of_callable(
    func: Callable[..., Any], name: str | None, description: str | None, metadata: Mapping[str, Any]
) -> ToolSource:
    label = name or getattr(func, "__name__", None) or repr(func)
    problem = _signature_problem(func)
    if problem is not None:
        raise ToolAdapterError(f"tool {label!r}: {problem}")
    try:
        tool = function_tool(func, name_override=name, description_override=description)
    except UserError as error:
        raise ToolAdapterError(
            f"tool {label!r}: cannot build a tool from {func!r}: {error}"
        ) from error
    except (NameError, TypeError, ValueError, PydanticUserError) as error:
        # An annotation that does not resolve, or a type pydantic cannot describe as JSON
        # (a socket, a callable): the SDK lets these through raw.
        raise ToolAdapterError(
            f"tool {label!r}: its parameters cannot be described as a JSON schema: "
            f"{type(error).__name__}: {error}"
        ) from error
    _check_tool_name(tool.name)
    return ToolSource(tool=tool, name=tool.name, description=tool.description, metadata=metadata)


def _signature_problem(func: Callable[..., Any]) -> str | None:
    """What about ``func``'s signature the SDK would mishandle or refuse obscurely, if anything.

    Positional-only parameters and ``*args`` are fine: the SDK passes them by position (``*args``
    as a JSON array). Generators are not: the SDK would hand the model the generator object's
    repr instead of what it yields.
    """
    if inspect.isclass(func):
        return (
            "a class is not a tool (calling it builds an instance); pass a function, "
            "or an instance whose __call__ is the tool"
        )
    body: Any = func
    target = inspect.unwrap(body.__call__ if _is_call_object(body) else body)
    if inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target):
        kind = "an async generator" if inspect.isasyncgenfunction(target) else "a generator"
        return (
            f"it is {kind}: a tool returns one result, and the SDK would give the model the "
            "generator object instead of its items; collect them and return a list"
        )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as error:
        return f"its signature cannot be read ({error}); wrap it in a def with typed parameters"
    parameters = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return (
            "it takes **kwargs, which a strict JSON schema cannot describe; "
            "name each parameter (or take one dict parameter)"
        )
    if parameters and parameters[0].name in ("self", "cls") and not inspect.ismethod(func):
        return (
            f"its first parameter is {parameters[0].name!r}: an unbound method would let the "
            "model supply it; pass the bound method (instance.method) instead"
        )
    return None


def _is_call_object(func: object) -> bool:
    return not (
        inspect.isfunction(func) or inspect.ismethod(func) or inspect.isbuiltin(func)
    ) and callable(func)


def _source_of_record(
    record: Mapping[str, Any],
    func: Callable[..., Any] | None,
    name: str | None,
    description: str | None,
) -> ToolSource:
    record_name = record.get("name")
    if not isinstance(record_name, str) or not record_name.strip():
        raise ToolAdapterError(f"tool record has no name (keys: {sorted(map(str, record))})")
    record_description = record.get("description")
    if record_description is not None and not isinstance(record_description, str):
        raise ToolAdapterError(f"tool record {record_name!r}: description must be a string")
    metadata = metadata_mapping(record.get("metadata"), record_name)
    implementation: object = func
    for key in _RECORD_CALLABLE_KEYS:
        if implementation is None:
            implementation = record.get(key)
    if implementation is None:
        raise ToolAdapterError(
            f"tool record {record_name!r} has no callable: pass func= or put it under "
            "the 'func' or 'callable' key"
        )
    chosen_name = name if name is not None else record_name
    chosen_description = description if description is not None else record_description
    if isinstance(implementation, FunctionTool):
        return _source_of_function_tool(implementation, chosen_name, chosen_description, metadata)
    if not callable(implementation):
        raise ToolAdapterError(
            f"tool record {record_name!r}: the callable is a {type(implementation).__name__}"
        )
    return _source_of_callable(implementation, chosen_name, chosen_description, metadata)


def metadata_mapping(metadata: object, tool_name: str) -> Mapping[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ToolAdapterError(
            f"tool {tool_name!r}: metadata must be a mapping, not a {type(metadata).__name__}"
        )
    return metadata


def json_safe_metadata(metadata: object, *, tool_name: str) -> dict[str, Any]:
    """A deep copy of ``metadata`` that survives a JSON round trip unchanged, or an error."""
    mapping = metadata_mapping(metadata, tool_name)
    safe: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ToolAdapterError(f"tool {tool_name!r}: metadata key {key!r} is not a string")
        try:
            copied = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise ToolAdapterError(
                f"tool {tool_name!r}: metadata[{key!r}] is not JSON-safe: {error}"
            ) from error
        if copied != value:
            raise ToolAdapterError(
                f"tool {tool_name!r}: metadata[{key!r}] changes in a JSON round trip "
                "(tuples or non-string keys?)"
            )
        safe[key] = copied
    needs_approval = safe.get("needs_approval")
    if needs_approval is not None and not isinstance(needs_approval, bool):
        raise ToolAdapterError(f"tool {tool_name!r}: metadata['needs_approval'] must be a bool")
    return safe


def _check_tool_name(name: str) -> None:
    if not _TOOL_NAME_PATTERN.fullmatch(name):
        raise ToolAdapterError(
            f"tool name {name!r} is not valid for the OpenAI APIs: use 1-64 letters, digits, "
            "'_' or '-' (pass name=)"
        )
