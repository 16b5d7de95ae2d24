"""Agents that work on the approval domain: the AI intent reviewer."""

from evolving_agents.agents.intent_review_agent import (
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
