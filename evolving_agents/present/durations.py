"""Durations short enough for a table cell: ``45s``, ``12m``, ``3h 20m``, ``2d 4h``."""

from __future__ import annotations

from datetime import timedelta


def humanize(delta: timedelta) -> str:
    """``45s``, ``12m``, ``3h 20m``, ``2d 4h``: short enough for a table cell."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
