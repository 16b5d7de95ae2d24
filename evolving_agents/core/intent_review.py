"""Moved to :mod:`evolving_agents.plans.intent_plans`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.plans import intent_plans as _moved

sys.modules[__name__] = _moved
