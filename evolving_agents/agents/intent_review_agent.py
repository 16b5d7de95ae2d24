"""Moved to :mod:`evolving_agents.reviewers.ai`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.reviewers import ai as _moved

sys.modules[__name__] = _moved
