"""Moved to :mod:`evolving_agents.notify.service`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.notify import service as _moved

sys.modules[__name__] = _moved
