"""The seed scenario behind ``eat demo``."""

from evolving_agents.demo.scenario import (
    DEMO_REQUEST,
    DEMO_RULES,
    GRANT_BETTER_ACTION,
    OPS_AGENT,
    build_ops_agent,
    build_registry,
    demo_policy,
    is_offline,
)

__all__ = [
    "DEMO_REQUEST",
    "DEMO_RULES",
    "GRANT_BETTER_ACTION",
    "OPS_AGENT",
    "build_ops_agent",
    "build_registry",
    "demo_policy",
    "is_offline",
]
