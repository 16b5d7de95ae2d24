"""Infrastructure shared by every layer: the database handle and the agent registry."""

from evolving_agents.providers.agent_registry import AgentNotRegistered, AgentRegistry, load_app
from evolving_agents.storage.mongodb_client import MongoDBClient

__all__ = ["AgentNotRegistered", "AgentRegistry", "MongoDBClient", "load_app"]
