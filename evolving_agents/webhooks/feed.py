"""Moved to :mod:`evolving_agents.notify.feed`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.notify import feed as _moved

sys.modules[__name__] = _moved
