"""Moved to :mod:`evolving_agents.testing.fake_bighub`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.testing import fake_bighub as _moved

sys.modules[__name__] = _moved
