"""One person, one name: the canonical form reviewer and actor names are compared in.

::

    same_identity("alice", " Alice ")        # True: case and surrounding whitespace
    same_identity("alice", "\uff41lice")     # True: a fullwidth a (NFKC)
    same_identity("alice", "\u0430lice")     # True: a Cyrillic a that renders like a Latin one
    same_identity("alice", "ali\u200bce")    # True: an invisible zero-width space
    canonical_identity("Bob")                # "bob"

The store compares names this way wherever who someone is decides something (the run's actor
may not approve their own call; one vote per person per call), so another spelling of the same
name is the same person on every surface. Names are still recorded exactly as given.

The form is: NFKC, casefold, then without combining marks, format and control characters
(zero-width spaces and joiners, bidirectional controls, soft hyphens), with the common
Cyrillic, Greek and Armenian letters that render like Latin ones mapped to those, and with
whitespace runs collapsed and stripped. It errs towards "the same person": two different
people whose names differ only by an accent or a look-alike letter are treated as one, which
can only refuse a vote, never allow one. The full list of look-alikes is Unicode's UTS #39
confusables; this table covers the letters an attacker would reach for in a Latin name.
"""

from __future__ import annotations

import unicodedata

# Letters that render like a Latin letter in common fonts, in lower case (names are compared
# case-folded, so a letter whose capital looks Latin, like Cyrillic ve for "B", is here too).
_LOOK_ALIKES = {
    "a": "\u0430\u03b1\u0251",  # Cyrillic a, Greek alpha, Latin alpha
    "b": "\u0432\u044c",  # Cyrillic ve (capital looks like B), soft sign
    "c": "\u0441\u03f2",  # Cyrillic es, Greek lunate sigma
    "d": "\u0501",  # Cyrillic komi de
    "e": "\u0435\u03b5\u04bd",  # Cyrillic ie, Greek epsilon, Cyrillic abkhasian che
    "g": "\u0261\u050d",  # Latin script g, Cyrillic komi sje
    "h": "\u04bb\u043d",  # Cyrillic shha, en (capital looks like H)
    "i": "\u0456\u03b9\u0131\u0269\u04cf",  # Cyrillic i, Greek iota, dotless i, iota, palochka
    "j": "\u0458\u03f3",  # Cyrillic je, Greek yot
    "k": "\u043a\u03ba",  # Cyrillic ka, Greek kappa
    "m": "\u043c",  # Cyrillic em (capital looks like M)
    "n": "\u03b7",  # Greek eta
    "o": "\u043e\u03bf\u0585",  # Cyrillic o, Greek omicron, Armenian oh
    "p": "\u0440\u03c1",  # Cyrillic er, Greek rho
    "q": "\u051b",  # Cyrillic qa
    "s": "\u0455",  # Cyrillic dze
    "t": "\u0442\u03c4",  # Cyrillic te, Greek tau (capitals look like T)
    "u": "\u03c5\u057d",  # Greek upsilon, Armenian seh
    "v": "\u03bd\u0475",  # Greek nu, Cyrillic izhitsa
    "w": "\u051d",  # Cyrillic we
    "x": "\u0445\u03c7",  # Cyrillic ha, Greek chi
    "y": "\u0443\u04af",  # Cyrillic u, straight u
}
_TO_LATIN = str.maketrans(
    {alike: latin for latin, alikes in _LOOK_ALIKES.items() for alike in alikes}
)
# Combining marks, format characters (zero-width, bidi controls, soft hyphen), controls.
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc"})


def canonical_identity(name: str) -> str:
    """The form ``name`` is compared in; equal forms are the same person."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    kept = []
    for char in unicodedata.normalize("NFKD", folded):
        if char.isspace():
            kept.append(" ")
        elif unicodedata.category(char) not in _DROPPED_CATEGORIES:
            kept.append(char)
    latin = "".join(kept).translate(_TO_LATIN)
    return unicodedata.normalize("NFC", " ".join(latin.split()))


def same_identity(first: str | None, second: str | None) -> bool:
    """Whether two names are the same person (None is nobody, and matches nothing)."""
    if first is None or second is None:
        return False
    return canonical_identity(first) == canonical_identity(second)
