"""The resuming process of the SDK parity tests: the same agents, built fresh, in another process.

``eat approvals resume ID --app tests.apps.parity_app:registry --json``

``registry`` is a factory (the CLI calls it), so it reads its environment when the command
runs: ``EAT_PARITY_JOURNAL`` is the journal file the tool bodies and models append to,
``EAT_PARITY_SQLITE`` the SQLite file behind the session agent's sessions. MongoDB and the
state secret come from ``MONGODB_URI``, ``MONGODB_DATABASE_NAME`` and ``EAT_STATE_SECRET``.
"""

from __future__ import annotations

import os

from agents import SQLiteSession

from evolving_agents import AgentRegistry
from tests.parity_scenarios import (
    HITL_AGENT,
    SQLITE_ENV,
    WEATHER_AGENT,
    Journal,
    build_hitl_agent,
    build_weather_agent,
)


def sqlite_session(session_id: str) -> SQLiteSession:
    """The paused run's session, reopened from the same file by its id."""
    return SQLiteSession(session_id, os.environ[SQLITE_ENV])


def registry() -> AgentRegistry:
    agents = AgentRegistry()
    agents.register_factory(WEATHER_AGENT, lambda: build_weather_agent(Journal.from_env()))
    agents.register_factory(
        HITL_AGENT,
        lambda: build_hitl_agent(Journal.from_env()),
        session_factory=sqlite_session,
    )
    return agents
