"""Telemetry never fails what it observes: a boundary around every recording call.

::

    @harmless(None)
    def record_pause(*, agent: str) -> None: ...     # an exporter that raises is logged, not felt

The OpenTelemetry SDK does not catch what a span processor or an exporter raises (``on_start``,
``on_end``), and an application may install any. A metric or a span is recorded after the
write it reports has landed, so an exception escaping it would turn a decision that was stored
into an error its reviewer retries (and is refused), or a stored pause into a failed resume.
Every recording function is wrapped: an exception is logged with its traceback, once per
function and kind of error, and the call returns its default.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_said: set[tuple[str, type[BaseException]]] = set()


def harmless(default: T) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """``fn`` that returns ``default`` instead of raising (logged once per error type)."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                # Boundary: telemetry is never allowed to fail the approval path it observes.
                said(fn.__qualname__, exc)
                return default

        return guarded

    return wrap


def said(where: str, exc: Exception) -> None:
    """Log ``exc`` from the telemetry call ``where``: with its traceback the first time."""
    key = (where, type(exc))
    if key in _said:
        logger.debug("telemetry: %s failed again: %r", where, exc)
        return
    _said.add(key)
    logger.warning(
        "telemetry: %s failed (the approval path goes on; fix the exporter or processor)",
        where,
        exc_info=exc,
    )
