"""Who a reviewer is: the one identity type every surface and the store use.

::

    alice = Reviewer(name="alice", roles=frozenset({"sre"}))
    Reviewer.of("bob")                 # a plain name: a reviewer without roles

Names are recorded exactly as given and compared in their canonical form (``identity.py``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Reviewer(BaseModel):
    """A reviewer's identity: the name votes are recorded under, and the roles they act in.

    The one identity type: the store records votes under it, ``ReviewerDirectory`` signs people
    in as it (``ReviewerIdentity`` is another name for it), and the rules judge it.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    roles: frozenset[str] = frozenset()

    @classmethod
    def of(cls, reviewer: str | Reviewer) -> Reviewer:
        """A plain name is a reviewer without roles."""
        return reviewer if isinstance(reviewer, Reviewer) else cls(name=reviewer)
