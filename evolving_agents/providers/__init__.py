"""Framework providers: the only layer that runs agents.

Names load on first use (PEP 562), so importing one module of this package does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives; its module is imported when the name is first used.
_EXPORTS: dict[str, str] = {
    "FrameworkProvider": "evolving_agents.providers.base",
    **dict.fromkeys(
        ["ContextCodec", "ContextNotSerializable", "TypeContextCodec"],
        "evolving_agents.providers.context_codec",
    ),
    "OpenAIAgentsProvider": "evolving_agents.providers.openai_agents_provider",
    "ProviderRegistry": "evolving_agents.providers.registry",
    **dict.fromkeys(
        ["RunSupplies", "SessionFactory"],
        "evolving_agents.providers.run_options",
    ),
}

__all__ = [
    "ContextCodec",
    "ContextNotSerializable",
    "FrameworkProvider",
    "OpenAIAgentsProvider",
    "ProviderRegistry",
    "RunSupplies",
    "SessionFactory",
    "TypeContextCodec",
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
    from evolving_agents.providers.base import FrameworkProvider
    from evolving_agents.providers.context_codec import (
        ContextCodec,
        ContextNotSerializable,
        TypeContextCodec,
    )
    from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
    from evolving_agents.providers.registry import ProviderRegistry
    from evolving_agents.providers.run_options import RunSupplies, SessionFactory
