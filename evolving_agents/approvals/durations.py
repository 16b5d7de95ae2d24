"""Durations as people write them: ``"24h"``, ``"30m"``, ``"1h30m"``, ``"never"``.

::

    parse_duration("1h30m")        # timedelta(seconds=5400); "never" / "0" -> None
    format_duration(timedelta(seconds=90))   # "1m30s"
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_DURATION_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_NEVER = frozenset({"0", "never", "none", "off"})


def parse_duration(value: str | float | timedelta) -> timedelta | None:
    """``"24h"``, ``"30m"``, ``"90s"``, ``"2d"``, ``"1h30m"`` or seconds; ``None`` means never.

    ``"0"``, ``"never"``, ``0`` and a zero ``timedelta`` all mean "never expires". Anything else
    that is not a positive duration raises ``ValueError`` naming the value.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        # bool is an int: True would silently mean one second.
        raise ValueError(f"invalid duration {value!r}: use e.g. '24h', '30m', '90s' or 'never'")
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        if text in _NEVER:
            return None
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ValueError(
                    f"invalid duration {value!r}: use e.g. '24h', '30m', '90s', '2d' or 'never'"
                ) from None
            seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: it must be a finite, positive duration")
    return None if seconds == 0 else timedelta(seconds=seconds)


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
