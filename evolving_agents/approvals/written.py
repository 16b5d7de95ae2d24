"""The document a conditional update leaves, computed from the document it matched.

::

    after = applied(before, {"$set": {"status": "resuming"}, "$inc": {"version": 1}})

A transition's update is a compare-and-set pinned to the record's ``version`` (every writer
of a record bumps it, save the lease renewal, which only moves ``claim.lease_until``), so when
it matches, the stored document was exactly ``before`` and is now exactly
``applied(before, update)``: the store returns that instead of reading it back, one round trip
less per transition. ``remember`` ties a parsed record to the document it came from, for as
long as that very object lives (a copy is another object, and is read back). Values go
through a BSON round trip on the way in, so the result equals what a read would return
(milliseconds, UTC, lists for tuples). Only the operators the store writes are known
(``$set``, ``$inc``, ``$push`` with or without ``$each``, ``$unset``); anything else raises
``UnknownUpdate`` and the caller reads back.
Containers are copied only along the paths an update touches; ``before`` is never changed.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import bson
from bson.codec_options import CodecOptions

Document = dict[str, Any]

# What the store's clients decode with (``storage/mongodb_client.py``: tz_aware=True).
_CODEC: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=UTC)
_KNOWN = frozenset({"$set", "$inc", "$push", "$unset"})


# id(record) -> (a weak reference to that record, the document it was parsed from).
_sources: dict[int, tuple[weakref.ref[Any], Document]] = {}


def remember(record: Any, document: Document) -> None:
    """Note that ``record`` (a parsed model, never changed in place) is ``document``."""
    key = id(record)
    _sources[key] = (weakref.ref(record, lambda _ref: _sources.pop(key, None)), document)


def source_of(record: Any) -> Document | None:
    """The document ``record`` was parsed from, if this process read or wrote it."""
    found = _sources.get(id(record))
    if found is None or found[0]() is not record:
        return None
    return found[1]


class UnknownUpdate(ValueError):
    """An update this module cannot apply in memory: the caller reads the result back."""


def applied(before: Mapping[str, Any], update: Mapping[str, Any]) -> Document:
    """``before`` with ``update`` applied as the server applies it."""
    unknown = set(update) - _KNOWN
    if unknown:
        raise UnknownUpdate(f"operators {sorted(unknown)}")
    # One encode and decode for every value the update writes.
    values = as_stored({op: dict(fields) for op, fields in update.items()})
    after: Document = dict(before)
    for path, value in values.get("$set", {}).items():
        _put(after, path, lambda _old, new=value: new)
    for path, step in values.get("$inc", {}).items():
        _put(after, path, lambda old, step=step: step if old is None else old + step)
    for path, value in values.get("$push", {}).items():
        items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
        _put(after, path, lambda old, items=items: [*(old or []), *items])
    for path in values.get("$unset", {}):
        _drop(after, path)
    return after


def as_stored(value: Document) -> Document:
    """``value`` as a read returns it once stored (BSON's milliseconds, UTC, lists)."""
    decoded: Document = bson.decode(bson.encode(value), codec_options=_CODEC)
    return decoded


def _put(document: Document, path: str, change: Any) -> None:
    """Replace the value at dotted ``path`` by ``change(old)``, copying containers on the way."""
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = _child_copy(node, part)
    if isinstance(node, list):
        index = _index(node, last)
        node[index] = change(node[index])
    elif isinstance(node, dict):
        node[last] = change(node.get(last))
    else:
        raise UnknownUpdate(f"{path}: cannot set inside a {type(node).__name__}")


def _drop(document: Document, path: str) -> None:
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = _child_copy(node, part)
    if isinstance(node, dict):
        node.pop(last, None)
    else:
        raise UnknownUpdate(f"{path}: cannot unset inside a {type(node).__name__}")


def _child_copy(node: Any, part: str) -> Any:
    """A copy of ``node[part]`` put back into ``node`` (a missing sub-document is created)."""
    if isinstance(node, list):
        index = _index(node, part)
        child = node[index]
        copied = _copy(child, part)
        node[index] = copied
        return copied
    if not isinstance(node, dict):
        raise UnknownUpdate(f"{part}: inside a {type(node).__name__}")
    child = node.get(part)
    copied = {} if child is None and part not in node else _copy(child, part)
    node[part] = copied
    return copied


def _copy(child: Any, part: str) -> Any:
    if isinstance(child, dict):
        return dict(child)
    if isinstance(child, list):
        return list(child)
    raise UnknownUpdate(f"{part}: a {type(child).__name__} has no fields")


def _index(node: list[Any], part: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise UnknownUpdate(f"{part}: not an index of a list of {len(node)}")
    return int(part)
