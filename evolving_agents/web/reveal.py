"""Moved to :mod:`evolving_agents.present.reveal`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.present import reveal as _moved

sys.modules[__name__] = _moved
