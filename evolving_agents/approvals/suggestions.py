"""Better actions a reviewer can apply: the decision layer's suggested arguments for a call.

::

    suggested = suggested_arguments(call)          # dict | None, from the call's signal
    [change] = argument_changes(call.arguments, suggested)
    change.path, change.before, change.after       # "duration_hours", 48, 2
    await store.decide(approval_id, call_id=call.call_id, verdict="approved", reviewer=me,
                       edited_arguments=suggested, message=SUGGESTION_APPLIED)

A decision signal may carry, besides its ``better_action`` sentence, ``better_arguments``: the
same tool with changed arguments, in full. Approving them is approving an edit, nothing more:
every surface passes exactly the arguments it showed as ``edited_arguments``, so the store
checks them against the tool's schema and the decision layer again, binds the vote to their
digest, and the model is told what ran. The suggestion lives in the call's sealed signal; a
suggestion equal to the call's own arguments is no suggestion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evolving_agents.approvals.models import ToolCallRecord, canonical_json

SUGGESTION_APPLIED = "approved the decision layer's suggested arguments"
"""The vote message surfaces record when a reviewer applies a suggestion without comment."""

_ABSENT = object()


@dataclass(frozen=True)
class ArgumentChange:
    """One difference between two argument sets, addressed by a dotted path; ``before`` or
    ``after`` is ``ArgumentChange.ABSENT`` for a key only one side has."""

    path: str
    before: Any
    after: Any

    ABSENT = _ABSENT

    @property
    def added(self) -> bool:
        return self.before is _ABSENT

    @property
    def removed(self) -> bool:
        return self.after is _ABSENT


def suggested_arguments(call: ToolCallRecord) -> dict[str, Any] | None:
    """The decision layer's suggested arguments for ``call``, when it made a real one: a JSON
    object that differs from what the model proposed. None otherwise (no signal, no
    suggestion, a malformed one, or the same arguments)."""
    signal = call.signal
    if not isinstance(signal, Mapping):
        return None
    suggested = signal.get("better_arguments")
    if not isinstance(suggested, dict) or not call.kind.editable:
        return None
    if canonical_json(suggested) == canonical_json(call.arguments):
        return None
    return suggested


def better_action(call: ToolCallRecord) -> str | None:
    """The decision layer's better action, as a sentence, if it gave one."""
    signal = call.signal
    if not isinstance(signal, Mapping):
        return None
    text = signal.get("better_action")
    return text if isinstance(text, str) and text.strip() else None


def argument_changes(before: Any, after: Any, *, prefix: str = "") -> list[ArgumentChange]:
    """What changes from ``before`` to ``after``, key by key (nested objects by dotted path,
    anything else compared whole), in a stable order: ``before``'s keys, then the new ones."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        if canonical_json(before) == canonical_json(after):
            return []
        return [ArgumentChange(prefix or "(arguments)", before, after)]
    changes: list[ArgumentChange] = []
    keys = [*before.keys(), *(key for key in after if key not in before)]
    for key in keys:
        path = f"{prefix}.{key}" if prefix else str(key)
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if old is _ABSENT or new is _ABSENT:
            changes.append(ArgumentChange(path, old, new))
        elif isinstance(old, Mapping) and isinstance(new, Mapping):
            changes.extend(argument_changes(old, new, prefix=path))
        elif canonical_json(old) != canonical_json(new):
            changes.append(ArgumentChange(path, old, new))
    return changes
