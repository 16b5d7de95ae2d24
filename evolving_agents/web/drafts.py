"""A reviewer's edited arguments on their way to an approval: the text exactly as typed, what
it changes, and why it was refused, so a page shown again never loses their work.

::

    draft = EditDraft.of(call, form_text(form, "edited_arguments"), error="not valid JSON")
    draft.text        # what goes back in the textarea, untouched
    draft.changes     # the argument diff ("Proposed" -> "Runs with"), when the text parses
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from evolving_agents.approvals.models import ToolCallRecord
from evolving_agents.present.views import ChangedArgument, changed_arguments


class EditDraft(BaseModel):
    call_id: str
    text: str
    message: str = ""
    error: str | None = None
    """Why the edit was refused (invalid JSON, the tool's schema, the decision layer)."""
    changes: list[ChangedArgument] | None = None
    """What the edit changes; None when the text is not a JSON object."""
    checked: bool = False
    """The tool's schema and the decision layer accepted the edited arguments."""

    @classmethod
    def of(
        cls,
        call: ToolCallRecord,
        text: str,
        *,
        message: str = "",
        error: str | None = None,
        checked: bool = False,
    ) -> EditDraft:
        edited = parsed_object(text)
        return cls(
            call_id=call.call_id,
            text=text,
            message=message,
            error=error,
            changes=None if edited is None else changed_arguments(call.arguments, edited),
            checked=checked and error is None,
        )

    @property
    def unchanged(self) -> bool:
        """The text parses to the proposed arguments: approving it approves the call as is."""
        return self.changes is not None and not self.changes


def parsed_object(text: str) -> dict[str, Any] | None:
    """The text as a JSON object, or None when it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
