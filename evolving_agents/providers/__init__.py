"""Framework providers: the only layer that runs agents."""

from evolving_agents.providers.base import FrameworkProvider
from evolving_agents.providers.context_codec import (
    ContextCodec,
    ContextNotSerializable,
    TypeContextCodec,
)
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.providers.registry import ProviderRegistry
from evolving_agents.providers.run_options import RunSupplies, SessionFactory

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
