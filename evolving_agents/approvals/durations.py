"""Durations as people write them: ``"24h"``, ``"30m"``, ``"1h30m"``, ``"never"``.

::

    parse_duration("1h30m")        # timedelta(seconds=5400); "never" / "0" -> None
    format_duration(timedelta(seconds=90))   # "1m30s"
"""

from __future__ import annotations

from datetime import timedelta

# Parsing lives on the lowest floor, because settings parse EAT_APPROVAL_TIMEOUT with it.
from evolving_agents.config import parse_duration as parse_duration


def format_duration(value: timedelta) -> str:
    """The short human spelling: ``24h``, ``30m``, ``1h30m``, ``2d``, ``90s`` -> ``1m30s``."""
    seconds = max(round(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    if days < 2:
        # "24h" and "36h" read better than "1d" and "1d12h" for the usual approval windows.
        days, rest = 0, seconds
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    text = "".join(f"{amount}{unit}" for amount, unit in parts if amount)
    return text or "0s"
