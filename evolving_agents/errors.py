"""The root of every error this package raises on purpose."""

from __future__ import annotations


class EvolvingAgentsError(Exception):
    """Base class: catch this to handle any error raised by evolving_agents."""


class ConfigurationError(EvolvingAgentsError):
    """A setting is missing or wrong; the message names it and how to fix it."""
