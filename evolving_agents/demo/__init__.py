"""The seed scenario behind ``eat demo``.

Names load on first use (PEP 562), so importing one module of this package does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives; its module is imported when the name is first used.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "DEMO_REQUEST",
            "DEMO_RULES",
            "GRANT_BETTER_ACTION",
            "OPS_AGENT",
            "build_ops_agent",
            "build_registry",
            "demo_app",
            "demo_policy",
            "is_offline",
            "offline_registry",
        ],
        "evolving_agents.demo.scenario",
    ),
    **dict.fromkeys(
        ["api_failure", "finished_commands", "pending_commands"], "evolving_agents.demo.guide"
    ),
}

__all__ = [
    "DEMO_REQUEST",
    "DEMO_RULES",
    "GRANT_BETTER_ACTION",
    "OPS_AGENT",
    "api_failure",
    "build_ops_agent",
    "build_registry",
    "demo_app",
    "demo_policy",
    "finished_commands",
    "is_offline",
    "offline_registry",
    "pending_commands",
]


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
    from evolving_agents.demo.guide import api_failure, finished_commands, pending_commands
    from evolving_agents.demo.scenario import (
        DEMO_REQUEST,
        DEMO_RULES,
        GRANT_BETTER_ACTION,
        OPS_AGENT,
        build_ops_agent,
        build_registry,
        demo_app,
        demo_policy,
        is_offline,
        offline_registry,
    )
