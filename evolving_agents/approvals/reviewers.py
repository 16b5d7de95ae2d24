"""Moved to :mod:`evolving_agents.approvals.rules`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.approvals import rules as _moved

sys.modules[__name__] = _moved
