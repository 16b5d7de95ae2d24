"""The review inbox (FastAPI + Jinja2): ``eat inbox`` or ``create_app(provider, reviewers)``.

::

    from evolving_agents.web import create_app
    from evolving_agents.reviewers.directory import ReviewerDirectory

    app = create_app(provider, ReviewerDirectory.from_env())

``create_app`` is imported on first use, so ``evolving_agents.present.views`` (shared with the
CLI) loads without the web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evolving_agents.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from evolving_agents.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
