"""Moved to :mod:`evolving_agents.adapters.edits`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.adapters import edits as _moved

sys.modules[__name__] = _moved
