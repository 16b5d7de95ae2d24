"""Hidden characters in the inbox's HTML: each a styled, titled escape.

::

    reveal("a\u202eb")         # Markup: a<span class="hidden-char" title="...">\\u202e</span>b

What counts as hidden, and the plain-text escapes every surface shares, are in
``approvals/hidden_text.py``, where the package's own modules import them from; they are
re-exported here so the old paths (``evolving_agents.web.reveal``, this module) keep working.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from evolving_agents.approvals.hidden_text import (
    FLAG_TEXT,
    escape_hidden,
    escaped,
    hidden_characters,
    is_hidden,
    name_of,
    segments,
)

__all__ = [
    "FLAG_TEXT",
    "escape_hidden",
    "escaped",
    "hidden_characters",
    "is_hidden",
    "name_of",
    "reveal",
    "segments",
]


def reveal(text: Any, *, json_escape: bool = False) -> Markup:
    """HTML for ``text``: escaped, and each hidden character a styled, titled escape."""
    value = str(text)
    parts: list[Markup] = []
    for piece, hidden in segments(value):
        if hidden:
            parts.append(
                Markup('<span class="hidden-char" title="{}">{}</span>').format(
                    name_of(piece), escaped(piece, json_escape=json_escape)
                )
            )
        else:
            parts.append(escape(piece))
    return Markup("").join(parts)
