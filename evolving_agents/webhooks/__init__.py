"""Moved to :mod:`evolving_agents.notify`; this import path keeps working."""

from evolving_agents.notify import *  # noqa: F403
from evolving_agents.notify import __all__ as __all__
