"""Framework providers: the only layer that runs agents."""

from evolving_agents.providers.base import FrameworkProvider
from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider
from evolving_agents.providers.registry import ProviderRegistry

__all__ = ["FrameworkProvider", "OpenAIAgentsProvider", "ProviderRegistry"]
