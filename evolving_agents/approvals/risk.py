"""The one definition of risk bands, and how a call's known risk is read.

::

    risk_band(0.2)            # RiskBand.LOW
    risk_band(0.55)           # RiskBand.MEDIUM: a call in this band needs approval
    risk_band(0.9)            # RiskBand.HIGH
    known_risk(call)          # the highest of the decision signal's risk and the metadata's floor

Three bands, two thresholds: ``low < MEDIUM_RISK <= medium < HIGH_RISK <= high``. Every rule
that compares a risk uses these: the metadata rule asks for approval from ``MEDIUM_RISK`` up,
an AI reviewer may approve only below it (``AI_RISK_CEILING``), a declared ``"high"`` or
``"critical"`` label counts as ``HIGH_RISK``, and the inbox and CLI colour their badge by band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from evolving_agents.approvals.models import ToolCallRecord

MEDIUM_RISK = 0.5
"""From here up a call is at least medium risk, and the metadata rule asks for approval."""

HIGH_RISK = 0.7
"""From here up a call is high risk; a declared "high" or "critical" label counts as this."""

UNKNOWN_RISK = 1.0
"""Anything unreadable about a risk counts as the highest: nothing is known about the call."""

HIGH_RISK_LABELS = frozenset({"high", "critical"})


class RiskBand(StrEnum):
    """Where a risk in 0..1 falls; stored and shown as its value."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def risk_band(risk: float) -> RiskBand:
    """The band of ``risk``. Written as "not below" so a NaN falls in the highest band."""
    if not risk < HIGH_RISK:
        return RiskBand.HIGH
    if not risk < MEDIUM_RISK:
        return RiskBand.MEDIUM
    return RiskBand.LOW


def as_risk(value: object) -> float:
    """A stored risk as a number in 0..1; anything unreadable or out of range is the maximum."""
    if isinstance(value, bool):
        return UNKNOWN_RISK
    if isinstance(value, int | float | str):
        try:
            number = float(value)
        except ValueError:
            return UNKNOWN_RISK
        return number if math.isfinite(number) and 0.0 <= number <= 1.0 else UNKNOWN_RISK
    return UNKNOWN_RISK


def metadata_risk(metadata: Mapping[str, Any]) -> float:
    """A floor from the tool's own ``risk``: ``HIGH_RISK`` for "high"/"critical", the number
    if numeric.

    Other labels ("low", "medium") add nothing: the signal's (and a model's) risk still count.
    """
    risk = metadata.get("risk")
    if risk is None:
        return 0.0
    if isinstance(risk, str):
        label = risk.strip().lower()
        if label in HIGH_RISK_LABELS:
            return HIGH_RISK
        try:
            float(label)
        except ValueError:
            return 0.0
    return as_risk(risk)


def signal_risk(signal: Mapping[str, Any] | None) -> float:
    """The decision layer's risk for a call, 0 when it gave none."""
    if signal is None or "risk" not in signal:
        return 0.0
    return as_risk(signal["risk"])


def known_risk(call: ToolCallRecord) -> float:
    """What is known about a call's risk before anyone reviews it: the highest of the decision
    layer's signal and the floor its tool's metadata sets."""
    return max(signal_risk(call.signal), metadata_risk(call.metadata))


def risk_words(call: ToolCallRecord) -> str:
    """A call's known risk as a message words it: the band of ``known_risk`` (so a tool
    declared high reads high whatever its score), with the decision layer's score beside it.
    Without a score, the tool's own word for it when it declared one ("medium", "critical"),
    as the inbox shows it. "unknown" when neither the decision layer nor the tool said
    anything."""
    scored = call.signal is not None and "risk" in call.signal
    declared = call.metadata.get("risk")
    if not scored and declared is None:
        return "unknown"
    band = risk_band(known_risk(call)).value
    if not scored:
        label = declared.strip().lower() if isinstance(declared, str) else ""
        return label or band
    score = signal_risk(call.signal)
    if risk_band(score).value == band:
        return f"{band} {score:.2f}"
    return f"{band} (scored {score:.2f}, the tool is declared {band})"
