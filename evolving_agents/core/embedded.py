"""Moved to :mod:`evolving_agents.storage.embedded`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.storage import embedded as _moved

sys.modules[__name__] = _moved
