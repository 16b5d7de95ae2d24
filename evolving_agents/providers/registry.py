"""Providers by framework name (EAT's ``ProviderRegistry``).

::

    providers = ProviderRegistry()
    providers.register(OpenAIAgentsProvider(mongodb_client=client, registry=agents))
    provider = providers.get("openai-agents")
"""

from __future__ import annotations

from evolving_agents.errors import ConfigurationError
from evolving_agents.providers.base import FrameworkProvider


class ProviderRegistry:
    def __init__(self) -> None:
        self._providers: dict[str, FrameworkProvider] = {}

    def register(self, provider: FrameworkProvider, *, replace: bool = False) -> None:
        if not provider.name:
            raise ConfigurationError(f"{type(provider).__name__} has no provider name")
        if provider.name in self._providers and not replace:
            raise ConfigurationError(f"a provider named {provider.name!r} is already registered")
        self._providers[provider.name] = provider

    def get(self, name: str) -> FrameworkProvider:
        provider = self._providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self._providers)) or "none"
            raise ConfigurationError(f"no provider named {name!r} (registered: {known})")
        return provider

    def for_framework(self, framework: str) -> FrameworkProvider:
        for provider in self._providers.values():
            if provider.supports(framework):
                return provider
        return self.get(framework)

    def names(self) -> list[str]:
        return sorted(self._providers)
