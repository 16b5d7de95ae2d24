"""Moved to :mod:`evolving_agents.storage.mongodb_client`."""

# The old import path keeps working: it is the same module object.

import sys

from evolving_agents.storage import mongodb_client as _moved

sys.modules[__name__] = _moved
