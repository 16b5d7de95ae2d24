"""Moved to :mod:`evolving_agents.reviewers`; this import path keeps working."""

from evolving_agents.reviewers.ai import (
    DEFAULT_INSTRUCTIONS,
    CallReview,
    IntentReviewAgent,
    IntentReviewDecision,
    ReviewReport,
    ReviewVerdict,
    ai_review_allowed,
)

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "CallReview",
    "IntentReviewAgent",
    "IntentReviewDecision",
    "ReviewReport",
    "ReviewVerdict",
    "ai_review_allowed",
]
