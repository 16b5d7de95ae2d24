"""Invisible and direction-changing characters, found and escaped wherever a reviewer reads a
call: the inbox and the CLI (``present/reveal.py`` adds the inbox's markup), Slack and email.

::

    hidden_characters({"path": "/srv/\u202egpj.exe"})   # ['U+202E RIGHT-TO-LEFT OVERRIDE']
    escape_hidden("a\u202eb")  # 'a\\u202eb' (plain text: a terminal, a textarea, a message)

A model can put a right-to-left override, a zero-width space or an invisible "tag" character
in its arguments; shown as they are, they make text read differently from what runs
(``rm -rf /srv/<U+202E>txt.sh`` reads ``.../hs.txt``). Every one of them is shown as its
escape instead, ``\\u202e``, and the call is flagged. In JSON the escape is the JSON escape of
the same character, so JSON shown this way still parses to exactly the arguments.

What counts as hidden: every format character (Unicode category Cf: the bidirectional
embeddings, overrides and isolates, zero-width spaces and joiners, word joiner, invisible
operators, BOM, soft hyphen, tags), line and paragraph separators (Zl, Zp), control
characters other than tab and newline (Cc), private-use and unassigned code points (Co, Cn:
no font agrees on what they look like), lone surrogates (Cs: no encoding carries them), and
the Hangul fillers that render as nothing.
"""


from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from typing import Any

_HIDDEN_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp", "Co", "Cn", "Cs"})
# Letters (category Lo) that every font renders as blank space.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_SHOWN_NAMES = 8
_CONTROL_NAMES = {
    "\x00": "NULL",
    "\x08": "BACKSPACE",
    "\x0b": "LINE TABULATION",
    "\x0c": "FORM FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
}
_UNNAMED = {"Cs": "LONE SURROGATE", "Co": "PRIVATE USE", "Cn": "UNASSIGNED"}
FLAG_TEXT = "contains invisible or direction-changing characters"


def is_hidden(char: str) -> bool:
    """Whether ``char`` is invisible or changes the direction of the text around it."""
    if char in "\t\n":
        return False
    if char.isprintable() and char not in _BLANK_LETTERS and char != "\u00ad":
        # Fast path: printable characters are none of the hidden categories (soft hyphen
        # aside): str.isprintable is false for Cc, Cf, Zl, Zp, Co and Cn alike.
        return False
    return unicodedata.category(char) in _HIDDEN_CATEGORIES or char in _BLANK_LETTERS


def name_of(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``."""
    fallback = _UNNAMED.get(unicodedata.category(char), "CONTROL CHARACTER")
    name = unicodedata.name(char, None) or _CONTROL_NAMES.get(char, fallback)
    return f"U+{ord(char):04X} {name}"


def escaped(char: str, *, json_escape: bool = False) -> str:
    """``\\u202e``; beyond the BMP ``\\U000e0041``, or with ``json_escape`` the surrogate pair
    JSON spells it with (``\\udb40\\udc41``), so escaped JSON still parses to the same text."""
    if ord(char) > 0xFFFF:
        return json.dumps(char)[1:-1] if json_escape else f"\\U{ord(char):08x}"
    return f"\\u{ord(char):04x}"


def hidden_characters(*values: Any) -> list[str]:
    """The names of the hidden characters in ``values`` (strings, keys and values of nested
    dicts and lists), each once, in the order met; at most a few, then ``and N more``."""
    found: dict[str, None] = {}
    for text in _strings(values):
        if _maybe_hidden(text):
            for match in _hidden_pattern().finditer(text):
                found.setdefault(match.group(), None)
    names = [name_of(char) for char in found]
    if len(names) > _SHOWN_NAMES:
        names = [*names[:_SHOWN_NAMES], f"and {len(names) - _SHOWN_NAMES} more"]
    return names


def escape_hidden(text: str, *, json_escape: bool = False) -> str:
    """``text`` with each hidden character replaced by its escape (no markup)."""
    return "".join(
        escaped(piece, json_escape=json_escape) if hidden else piece
        for piece, hidden in segments(text)
    )


def segments(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` in runs of visible characters and single hidden ones: (piece, hidden).

    A carriage return right before a newline is a Windows line end, not hidden.
    """
    start = 0
    if _maybe_hidden(text):
        for match in _hidden_pattern().finditer(text):
            if match.start() > start:
                yield text[start : match.start()], False
            yield match.group(), True
            start = match.end()
    if start < len(text):
        yield text[start:], False


@functools.cache
def _hidden_pattern() -> re.Pattern[str]:
    """Every hidden character, as one compiled class of ranges (built once, on first use: it
    looks at all of Unicode). A carriage return before a newline does not match."""
    ranges: list[list[int]] = []
    for point in range(sys.maxunicode + 1):
        if not is_hidden(chr(point)):
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    spans = "".join(
        re.escape(chr(low)) + ("" if low == high else "-" + re.escape(chr(high)))
        for low, high in ranges
    )
    # The lookbehind drops a match that is a carriage return with a newline after it.
    return re.compile(f"[{spans}](?<!\\r(?=\\n))")


def _maybe_hidden(text: str) -> bool:
    # Printable ASCII (most text) has nothing hidden; anything else is looked at closely.
    return not (text.isascii() and text.isprintable())


def _strings(values: Any) -> Iterator[str]:
    """Every string in ``values``, keys included, in document order (iteratively: hostile
    nesting cannot exhaust the stack)."""
    stack = [values]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            for key, item in reversed(list(current.items())):
                stack.append(item)
                stack.append(str(key))
        elif isinstance(current, list | tuple):
            stack.extend(reversed(current))
