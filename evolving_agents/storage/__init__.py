"""The ground floor: the database handle, the embedded server, one change-stream-or-poll
feed (``changes.py``) and every collection and index name (``names.py``)."""

from evolving_agents.storage.changes import ChangeFeed
from evolving_agents.storage.mongodb_client import MongoDBClient

__all__ = ["ChangeFeed", "MongoDBClient"]
