"""The decision-first agent: ``DecisionAgent`` and ``AsyncDecisionAgent`` (see ``agent.py``)."""

from evolving_agents.actions.agent import AsyncDecisionAgent
from evolving_agents.actions.approval_loop import approval_context
from evolving_agents.actions.sync import DecisionAgent

__all__ = ["AsyncDecisionAgent", "DecisionAgent", "approval_context"]
