"""Reviewer kinds: the AI intent reviewer, the directory of people who may review, and the
seam for a new kind (``PlanDecider``, in ``base.py``)."""

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
