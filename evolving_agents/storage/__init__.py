"""The ground floor: the database handle, the embedded server and the collection names."""

from evolving_agents.storage.mongodb_client import MongoDBClient

__all__ = ["MongoDBClient"]
