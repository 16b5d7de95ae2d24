"""Reviewer kinds: the AI intent reviewer, and the directory of people who may review."""

from evolving_agents.reviewers.ai import (
    DEFAULT_INSTRUCTIONS,
    CallReview,
    IntentReviewAgent,
    IntentReviewDecision,
    ReviewReport,
    ReviewVerdict,
    ai_review_allowed,
)
from evolving_agents.reviewers.directory import ReviewerDirectory, ReviewerIdentity, token_digest

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "CallReview",
    "IntentReviewAgent",
    "IntentReviewDecision",
    "ReviewReport",
    "ReviewVerdict",
    "ReviewerDirectory",
    "ReviewerIdentity",
    "ai_review_allowed",
    "token_digest",
]
