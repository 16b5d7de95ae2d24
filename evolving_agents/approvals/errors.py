"""Moved to :mod:`evolving_agents.errors`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents import errors as _moved

sys.modules[__name__] = _moved
