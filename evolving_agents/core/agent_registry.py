"""Moved to :mod:`evolving_agents.providers.agent_registry`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.providers import agent_registry as _moved

sys.modules[__name__] = _moved
