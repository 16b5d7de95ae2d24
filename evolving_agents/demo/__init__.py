"""The seed scenario behind ``eat demo``."""

from evolving_agents.demo.scenario import (
    DEMO_REQUEST,
    OPS_AGENT,
    build_ops_agent,
    build_registry,
    is_offline,
)

__all__ = ["DEMO_REQUEST", "OPS_AGENT", "build_ops_agent", "build_registry", "is_offline"]
