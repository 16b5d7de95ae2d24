"""One registered action: what the decision layer is told about it, and its SDK tool.

::

    spec = ActionSpec(name="grant_okta_admin", system="okta", risk="high",
                      environment="production", value_from_args=lambda a: a["duration_hours"])
    tool = spec.function_tool(grant_okta_admin)          # an SDK FunctionTool, strict schema
    request, context = spec.enrich(request, context)     # per-call metadata for the decision

The schema comes from the SDK's own ``function_tool`` (Pydantic underneath: ``Optional``,
``Literal``, nested models and defaults all become real JSON Schema), unless the caller gives
``parameters_schema``; then the arguments are validated against it before the body runs, and a
reviewer's edit is checked against the same schema.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from agents import FunctionTool, function_tool
from pydantic_core import to_jsonable_python

from evolving_agents.actions.run_log import observed
from evolving_agents.decisions.base import DecisionContext, ToolCallRequest
from evolving_agents.errors import ConfigurationError

Extractor = Callable[[dict[str, Any]], Any]


class ExtractorFailed(Exception):
    """An action's ``*_from_args`` function raised; the call then fails closed."""


@dataclass(frozen=True)
class ActionSpec:
    """How one action is described to the decision layer.

    ``system``, ``risk`` and ``environment`` (and ``metadata``) are the tool's metadata: the
    decision layer, the reviewers and the approval record all see them. The ``*_from_args``
    functions add per-call facts read from the arguments (``value``, ``target``, anything
    ``metadata_from_args`` returns). ``action_name``, ``domain`` and ``actor`` override what
    the decision layer is told for this tool; the SDK still sees the tool by ``name``.
    """

    name: str
    description: str | None = None
    system: str | None = None
    risk: str | float | None = None
    environment: str | None = None
    domain: str | None = None
    actor: str | None = None
    action_name: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    metadata_from_args: Extractor | None = None
    value_from_args: Extractor | None = None
    target_from_args: Extractor | None = None
    parameters_schema: Mapping[str, Any] | None = None

    def tool_metadata(self) -> dict[str, Any]:
        given = {"system": self.system, "risk": self.risk, "environment": self.environment}
        return {
            **self.metadata,
            **{key: value for key, value in given.items() if value is not None},
        }

    def enrich(
        self, request: ToolCallRequest, context: DecisionContext
    ) -> tuple[ToolCallRequest, DecisionContext]:
        """The request and context the decision layer is asked with for this action's call."""
        extracted: dict[str, Any] = {}
        arguments = dict(request.arguments)
        try:
            if self.metadata_from_args is not None:
                more = self.metadata_from_args(arguments)
                if not isinstance(more, Mapping):
                    raise TypeError(f"returned a {type(more).__name__}, not a mapping")
                extracted.update(more)
            if self.value_from_args is not None:
                extracted["value"] = self.value_from_args(arguments)
            if self.target_from_args is not None:
                extracted["target"] = self.target_from_args(arguments)
        except Exception as exc:
            # Boundary: an extractor is app code; its failure must fail closed, not crash.
            raise ExtractorFailed(
                f"action {self.name!r}: an argument extractor raised {type(exc).__name__}: {exc}"
            ) from exc
        metadata = {**request.metadata, **to_jsonable_python(extracted, fallback=str)}
        request = request.model_copy(
            update={"metadata": metadata, "tool_name": self.action_name or request.tool_name}
        )
        updates = {"domain": self.domain, "actor": self.actor}
        context = context.model_copy(
            update={key: value for key, value in updates.items() if value is not None}
        )
        return request, context

    def function_tool(self, fn: Callable[..., Any]) -> FunctionTool:
        """The SDK tool for ``fn``, its body observed for the run log."""
        if self.parameters_schema is None:
            return function_tool(
                observed(fn, self.name),
                name_override=self.name,
                description_override=self.description,
            )
        return _schema_tool(self, fn, dict(self.parameters_schema))


def _schema_tool(spec: ActionSpec, fn: Callable[..., Any], schema: dict[str, Any]) -> FunctionTool:
    """A tool with the caller's schema: what the model and a reviewer's edit are checked
    against. The SDK still builds the invoker (its failure handling, the ledger's notes), and
    the arguments are validated against the schema inside the body, so a call that does not fit
    is a ``tool_error`` the model reads, never a run that dies."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(
            f"action {spec.name!r}: parameters_schema is not a JSON Schema: {exc.message}"
        ) from None
    if schema.get("type") != "object":
        raise ConfigurationError(f"action {spec.name!r}: parameters_schema must be an object")
    validator = jsonschema.Draft202012Validator(schema)
    signature = inspect.signature(fn)

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        arguments = signature.bind_partial(*args, **kwargs).arguments
        errors = sorted(validator.iter_errors(arguments), key=lambda error: list(error.path))
        if errors:
            where = "/".join(str(part) for part in errors[0].absolute_path) or "(arguments)"
            raise ValueError(f"arguments do not fit {spec.name}: {where}: {errors[0].message}")

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def checked_async(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return await fn(*args, **kwargs)

        checked: Callable[..., Any] = checked_async
    else:

        @functools.wraps(fn)
        def checked_sync(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return fn(*args, **kwargs)

        checked = checked_sync
    tool = function_tool(
        observed(checked, spec.name),
        name_override=spec.name,
        description_override=spec.description,
        strict_mode=False,
    )
    strict = schema.get("additionalProperties") is False and set(schema.get("required", [])) == set(
        schema.get("properties", {})
    )
    return dataclasses.replace(tool, params_json_schema=schema, strict_json_schema=strict)
