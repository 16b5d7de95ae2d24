"""Infrastructure shared by every layer: the database handle and the agent registry.

Names load on first use (PEP 562), so importing one module of this package does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives; its module is imported when the name is first used.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["AgentNotRegistered", "AgentRegistry", "load_app"],
        "evolving_agents.providers.agent_registry",
    ),
    "MongoDBClient": "evolving_agents.storage.mongodb_client",
}

__all__ = ["AgentNotRegistered", "AgentRegistry", "MongoDBClient", "load_app"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from evolving_agents.providers.agent_registry import AgentNotRegistered, AgentRegistry, load_app
    from evolving_agents.storage.mongodb_client import MongoDBClient
