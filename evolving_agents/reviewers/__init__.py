"""Reviewer kinds: the AI intent reviewer, the directory of people who may review, and the
seam for a new kind (``PlanDecider``, in ``base.py``).

Names load on first use (PEP 562), so importing one module of this package does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each name lives; its module is imported when the name is first used.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "DEFAULT_INSTRUCTIONS",
            "CallReview",
            "IntentReviewAgent",
            "IntentReviewDecision",
            "ReviewReport",
            "ReviewVerdict",
            "ai_review_allowed",
        ],
        "evolving_agents.reviewers.ai",
    ),
    **dict.fromkeys(
        ["IntentVerdict", "PlanDecider", "PlanVerdicts"],
        "evolving_agents.reviewers.base",
    ),
    **dict.fromkeys(
        ["ReviewerDirectory", "ReviewerIdentity", "cancel_as", "decide_as", "token_digest"],
        "evolving_agents.reviewers.directory",
    ),
}

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "CallReview",
    "IntentReviewAgent",
    "IntentReviewDecision",
    "IntentVerdict",
    "PlanDecider",
    "PlanVerdicts",
    "ReviewReport",
    "ReviewVerdict",
    "ReviewerDirectory",
    "ReviewerIdentity",
    "ai_review_allowed",
    "cancel_as",
    "decide_as",
    "token_digest",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from evolving_agents.reviewers.ai import (
        DEFAULT_INSTRUCTIONS,
        CallReview,
        IntentReviewAgent,
        IntentReviewDecision,
        ReviewReport,
        ReviewVerdict,
        ai_review_allowed,
    )
    from evolving_agents.reviewers.base import IntentVerdict, PlanDecider, PlanVerdicts
    from evolving_agents.reviewers.directory import (
        ReviewerDirectory,
        ReviewerIdentity,
        cancel_as,
        decide_as,
        token_digest,
    )
