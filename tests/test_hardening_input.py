"""Hostile input (issue 10, class 8): what a model, a URL or a header can send.

- Arguments too large for MongoDB, though their state compresses well, and argument keys with
  NUL bytes: refused at ``create`` with a typed error naming the run or the call, before
  anything is written (memory:// and the wire server; Hypothesis draws hostile arguments).
- Invisible and direction-changing characters in arguments: shown escaped and flagged in the
  inbox and in ``eat approvals`` (the page and the terminal never carry them raw).
- A garbage list cursor: 400 in the inbox, exit 2 in the CLI, ``ValueError`` in the store.
- A rules file in the wrong encoding, nested too deep, or an alias bomb: ``ConfigurationError``
  naming the file.
- ``verify_signature`` with headers no sender produced: False, never an exception.
"""

# Fixtures are imported from the suites that own them (eat, inbox), and pytest passes them by
# name, which ruff reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider, OpenAIToolAdapter
from evolving_agents.approvals.documents import MAX_RECORD_BYTES
from evolving_agents.approvals.models import PendingApproval, ToolCallRecord, canonical_json
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode
from evolving_agents.decisions.local_rules import LocalRulePolicy
from evolving_agents.errors import (
    ApprovalError,
    ConfigurationError,
    RecordTooLarge,
    StateTooLarge,
    UnstorableRecord,
    UnstorableToolCall,
)
from evolving_agents.notify import sign, verify_signature
from evolving_agents.present.reveal import escape_hidden, is_hidden, reveal
from evolving_agents.present.views import highlight_json, pretty_json
from tests.test_cli_approvals import Eat, eat  # noqa: F401  (the `eat` fixture)
from tests.test_store import make_record
from tests.test_web_inbox import ALICE, Inbox, inbox  # noqa: F401

HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def with_arguments(approval_id: str, arguments: Any, *, tool_name: str = "write_file") -> Any:
    """A paused run whose one call carries ``arguments`` exactly as a model sent them."""
    record = make_record(approval_id, tool_name=tool_name)
    # The digest as the provider computes it; surrogatepass so that even text with a lone
    # surrogate gets one (the store must refuse such text, not the test).
    digest = hashlib.sha256(canonical_json(arguments).encode("utf-8", "surrogatepass")).hexdigest()
    call = ToolCallRecord.model_validate(
        {**record.tool_calls[0].model_dump(), "arguments": arguments, "arguments_sha256": digest}
    )
    return record.model_copy(update={"tool_calls": [call]})


# -- what create refuses ------------------------------------------------------------------


async def test_seventeen_megabytes_of_repetitive_arguments_are_refused_naming_the_run(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)
    record = with_arguments("apr_big", {"content": "A" * (17 * 1024 * 1024)})
    assert record.state is not None and len(record.state.data) < 1024, "the state is tiny"

    with pytest.raises(RecordTooLarge) as refused:
        await store.create(record)

    error = refused.value
    assert isinstance(error, StateTooLarge) and isinstance(error, ApprovalError)
    assert error.run_id == record.run_id and error.size > MAX_RECORD_BYTES
    assert f"the record of run {record.run_id} is 17.0 MiB" in str(error)
    assert "call 'c1' of tool 'write_file' has 17.0 MiB of arguments" in str(error)
    assert await store._collection.count_documents({}) == 0, "nothing was written"


async def test_an_argument_key_with_a_nul_byte_is_refused_naming_the_call(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)

    with pytest.raises(UnstorableToolCall) as refused:
        await store.create(with_arguments("apr_nul", {"path": "/tmp/x", "mo\x00de": "0777"}))

    assert (refused.value.call_id, refused.value.tool_name) == ("c1", "write_file")
    assert "call 'c1' of tool 'write_file' cannot be stored" in refused.value.reason
    assert "key 'mo\\x00de' contains a NUL byte" in refused.value.reason
    assert await store._collection.count_documents({}) == 0


def big_paused_registry() -> AgentRegistry:
    """A model that asks to write 17 MB of one repeated line, behind an approval."""

    def write_file(path: str, content: str) -> str:
        """Write a file."""
        return f"wrote {len(content)} bytes to {path}"

    def build() -> Agent[Any]:
        tool = OpenAIToolAdapter().adapt(write_file, needs_approval=True)
        arguments = {"path": "/srv/big.log", "content": "all good\n" * (17 * 1024 * 1024 // 9)}
        model = ScriptedModel(
            [
                ModelStep.respond(
                    lambda _: [function_call("write_file", arguments, call_id="call_big")]
                ),
                ModelStep.respond(lambda _: [assistant_message("done")]),
            ]
        )
        return Agent(name="big-writer", instructions="write", tools=[tool], model=model)

    registry = AgentRegistry()
    registry.register_factory("big-writer", build)
    return registry


async def test_a_run_pausing_on_17_megabytes_of_arguments_gets_a_typed_refusal_not_a_driver_error(
    mongo: MongoDBClient,
) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=big_paused_registry())

    with pytest.raises(RecordTooLarge, match=r"the record of run \S+ is 17\.\d MiB"):
        await provider.execute_agent("big-writer", "write the log", actor="ops")

    assert await provider.store._collection.count_documents({}) == 0


# Hostile argument values: every JSON type, integers past 64 bits, text with NUL bytes,
# controls, bidi overrides, lone surrogates; keys from the same text and the awkward ones.
_HOSTILE_TEXT = st.text(max_size=6) | st.sampled_from(
    ["a\x00b", "\x00", "\ud800", "x\udfffy", "\u202egpj.exe", "$where", "a.b", "", "\U000e0041"]
)
_ARGUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_HOSTILE_TEXT, inner, max_size=3),
    max_leaves=8,
)


def refusable(value: Any) -> bool:
    """What BSON cannot hold: a key with NUL, a lone surrogate anywhere, a > 64-bit integer."""

    def bad_text(text: str) -> bool:
        return any(0xD800 <= ord(char) <= 0xDFFF for char in text)

    if isinstance(value, dict):
        return any("\x00" in key or bad_text(key) or refusable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(refusable(item) for item in value)
    if isinstance(value, str):
        return bad_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**63
    return False


class Backend:
    """One event loop and one database for every Hypothesis example of a test."""

    def __init__(self, uri: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = MongoDBClient(uri, f"eat_hostile_{uuid.uuid4().hex[:8]}")
        self.store = PendingApprovalStore(self.client)

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        if self.client.backend != "memory":
            self.run(self.client.client.drop_database(self.client.db_name))
        self.run(self.client.close())
        self.loop.close()


@pytest.fixture
def hostile_backend(backend: str, request: pytest.FixtureRequest) -> Iterator[Backend]:
    uri = "memory://" if backend == "memory" else request.getfixturevalue("wire_uri")
    where = Backend(uri)
    yield where
    where.close()


@HYPOTHESIS
@given(arguments=st.dictionaries(_HOSTILE_TEXT, _ARGUMENTS, min_size=1, max_size=4))
@example(arguments={"mo\x00de": 1})
@example(arguments={"n": 2**64})
@example(arguments={"text": "\ud800"})
@example(arguments={"path": "/srv/\u202egpj.exe", "$set": {"a.b": None}})
def test_hostile_arguments_are_stored_exactly_or_refused_typed_and_never_half_written(
    hostile_backend: Backend, arguments: dict[str, Any]
) -> None:
    store = hostile_backend.store
    approval_id = f"apr_{uuid.uuid4().hex[:12]}"
    record = with_arguments(approval_id, arguments)

    async def attempt() -> tuple[PendingApproval | ApprovalError, int]:
        try:
            outcome: PendingApproval | ApprovalError = await store.create(record)
        except ApprovalError as exc:
            outcome = exc
        stored = await store._collection.count_documents({"_id": approval_id})
        return outcome, stored

    outcome, stored = hostile_backend.run(attempt())

    if refusable(arguments):
        assert isinstance(outcome, UnstorableToolCall), outcome
        assert outcome.call_id == "c1" and "cannot be stored" in outcome.reason
        assert stored == 0
    else:
        assert isinstance(outcome, PendingApproval), outcome
        loaded = hostile_backend.run(store.get(approval_id))
        assert loaded.tool_calls[0].arguments == arguments, "stored exactly as the model sent"


async def test_arguments_nested_past_mongodbs_limit_are_refused_naming_the_call(
    mongo: MongoDBClient,
) -> None:
    nested: Any = "bottom"
    for _ in range(120):
        nested = {"n": nested}

    with pytest.raises(UnstorableToolCall, match="nested more than 100 levels deep"):
        await PendingApprovalStore(mongo).create(with_arguments("apr_deep", nested))


async def test_a_record_that_cannot_be_stored_outside_its_calls_is_refused_typed(
    mongo: MongoDBClient,
) -> None:
    record = make_record("apr_agent").model_copy(update={"input_preview": "deploy \ud83d it"})

    with pytest.raises(UnstorableRecord, match="input_preview: a string is not valid Unicode"):
        await PendingApprovalStore(mongo).create(record)


# -- invisible and direction-changing characters, shown escaped and flagged -----------------

# Reads "/srv/reports/exe.txt" on screen; the path that runs ends in ".exe".
SNEAKY_PATH = "/srv/reports/\u202etxt.exe"
SNEAKY = {"path": SNEAKY_PATH, "owner": "ad\u200bmin", "note": "fine\U000e0041\u2066x\u2069"}
HIDDEN_RAW = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060-\u2064\ufeff]|\U000e0041")


def sneaky_registry() -> AgentRegistry:
    def chown_file(path: str, owner: str, note: str) -> str:
        """Change a file's owner."""
        return f"{path} now belongs to {owner}"

    def build() -> Agent[Any]:
        tool = OpenAIToolAdapter().adapt(chown_file, needs_approval=True)
        model = ScriptedModel(
            [
                ModelStep.respond(
                    lambda _: [function_call("chown_file", SNEAKY, call_id="call_chown")]
                ),
                ModelStep.respond(lambda _: [assistant_message("done")]),
            ]
        )
        return Agent(name="sneaky", instructions="own files", tools=[tool], model=model)

    registry = AgentRegistry()
    registry.register_factory("sneaky", build)
    return registry


def test_the_inbox_escapes_and_flags_hidden_characters_and_edits_still_mean_the_same(
    inbox: Inbox,
) -> None:
    client = inbox.provider.mongodb_client

    async def pause() -> Any:
        provider = OpenAIAgentsProvider(mongodb_client=client, registry=sneaky_registry())
        return await provider.execute_agent("sneaky", "own it", actor="ops-bot")

    run = inbox.http.portal.call(pause)
    inbox.sign_in(ALICE)

    queue = inbox.http.get("/").text
    row = queue.split(f'data-approval-id="{run.approval_id}"')[1].split("</tr>")[0]
    assert "hidden characters" in row
    page = inbox.http.get(f"/approvals/{run.approval_id}").text
    assert HIDDEN_RAW.search(page) is None, "no hidden character reaches the page raw"
    assert "contains invisible or direction-changing characters" in page
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in page and "U+200B ZERO WIDTH SPACE" in page
    assert 'class="hidden-char" title="U+202E RIGHT-TO-LEFT OVERRIDE">\\u202e</span>' in page
    # The edit box is JSON: its escapes are the same characters, so it means what runs.
    edit_box = page.split('name="edited_arguments"')[1].split(">", 1)[1].split("</textarea>")[0]
    assert json.loads(edit_box.replace("&#34;", '"').replace("&quot;", '"')) == SNEAKY


def test_eat_approvals_escapes_and_flags_hidden_characters(eat: Eat) -> None:
    run = eat.pause("own it", agent="sneaky", registry=sneaky_registry)

    shown = eat("approvals", "show", str(run.approval_id))
    assert shown.exit_code == 0, shown.output
    assert HIDDEN_RAW.search(shown.stdout) is None, "no hidden character reaches the terminal"
    assert "contains invisible or direction-changing characters" in shown.stdout
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in shown.stdout
    assert "/srv/reports/\\u202etxt.exe" in shown.stdout
    listed = eat("approvals", "list")
    assert "hidden characters" in listed.stdout
    [row] = eat.json("approvals", "list")
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in row["hidden_characters"]


@HYPOTHESIS
@given(value=_ARGUMENTS.filter(lambda value: not refusable(value)))
@example(value={"k\u202e": ["\u2067x\u2069", "\ufeffy", "\U000e0041", "a\r\nb\x1bc\u2028"]})
def test_shown_text_never_carries_a_hidden_character_and_shown_json_parses_back(
    value: Any,
) -> None:
    for shown in (pretty_json(value), str(highlight_json(value)), escape_hidden(str(value))):
        assert not any(is_hidden(char) for char in shown.replace("\n", "")), shown
    assert json.loads(pretty_json(value)) == value
    assert not any(is_hidden(char) for char in str(reveal(str(value))))


# -- garbage cursors ----------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


GARBAGE_CURSORS = [
    "garbage",
    "%%%",
    "\u202e",
    _b64("[" * 3000),
    _b64('["2024-01-01T00:00:00", "naive"]'),
    _b64('["0001-01-01T00:00:00+05:00", "overflow"]'),
    _b64('["2024-01-01T00:00:00Z", 7]'),
    _b64('{"a": 1}'),
    _b64("[1, 2, 3]"),
    "x" * 5000,
]


def test_a_garbage_cursor_is_a_400_in_the_inbox_never_a_500(inbox: Inbox) -> None:
    inbox.pause("deploy payments-api")
    inbox.sign_in(ALICE)
    for cursor in GARBAGE_CURSORS:
        response = inbox.http.get("/", params={"status": "all", "cursor": cursor})
        assert response.status_code in (200, 400), (cursor[:40], response.status_code)
        if response.status_code == 400:
            assert "invalid list cursor" in response.text


@settings(max_examples=60, deadline=None, database=None)
@given(cursor=st.text(max_size=300) | st.binary(max_size=200).map(base64.urlsafe_b64encode))
@example(cursor=_b64("[" * 3000))
@example(cursor=_b64('["2024-01-01T00:00:00", "naive"]'))
def test_any_cursor_is_a_page_or_a_value_error(cursor: Any) -> None:
    text = cursor.decode() if isinstance(cursor, bytes) else cursor

    async def go() -> None:
        store = PendingApprovalStore(MongoDBClient("memory://", f"cursors_{uuid.uuid4().hex}"))
        await store.create(make_record("a1"))
        try:
            await store.list(cursor=text, newest_first=len(text) % 2 == 0)
        except ValueError as exc:
            assert str(exc).startswith("invalid list cursor")

    asyncio.run(go())


def test_eat_approvals_list_refuses_a_garbage_cursor_with_exit_2(eat: Eat) -> None:
    result = eat("approvals", "list", "--cursor", _b64("[" * 50_000))
    assert result.exit_code == ExitCode.USAGE
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--cursor: invalid list cursor" in lines[0]
    assert "Traceback" not in result.output


def test_eat_approvals_list_pages_with_the_cursor_it_prints(eat: Eat) -> None:
    first, second = eat.pause("deploy it"), eat.pause("deploy it again")
    page = eat("approvals", "list", "--limit", "1")
    cursor = page.stdout.split("next page: --cursor ")[1].split()[0]
    rest = eat.json("approvals", "list", "--limit", "1", "--cursor", cursor)
    assert str(first.approval_id) in page.stdout
    assert [row["id"] for row in rest] == [second.approval_id]


# -- rules files --------------------------------------------------------------------------


BAD_RULES_FILES = [
    ("utf16.toml", '[[rules]]\nname = "x"\nverdict = "block"\n'.encode("utf-16"), "not UTF-8"),
    ("latin1.yaml", "rules:\n- name: caf\xe9\n  verdict: block\n".encode("latin-1"), "UTF-8"),
    ("deep.toml", ("a = " + "[" * 5000 + "]" * 5000).encode(), "nested more than 32"),
    ("deep.yaml", ("a: " + "[" * 5000 + "]" * 5000).encode(), "nested more than 32"),
    ("quite-deep.yaml", ("a: " + "[" * 200 + "]" * 200).encode(), "nested more than 32"),
    (
        "laughs.yaml",
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
                for i in range(8)
            )
            + "rules: []\n"
        ).encode(),
        "more than 100,000 values",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"), BAD_RULES_FILES, ids=[case[0] for case in BAD_RULES_FILES]
)
def test_a_bad_rules_file_is_a_configuration_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    started = time.monotonic()

    with pytest.raises(ConfigurationError) as refused:
        LocalRulePolicy.from_file(path)

    assert f"rules file {path}" in str(refused.value) and expected in str(refused.value)
    assert time.monotonic() - started < 5


def test_a_rules_file_with_a_byte_order_mark_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes('\ufeff[[rules]]\nname = "x"\nverdict = "block"\n'.encode())
    assert [rule.name for rule in LocalRulePolicy.from_file(path).rules] == ["x"]


# -- webhook signatures -------------------------------------------------------------------

_WEBHOOK_SECRET = "whsec-0123456789abcdef"
_BODY = b'{"type":"approval.created"}'


@settings(max_examples=200, deadline=None, database=None)
@given(timestamp=st.text(max_size=30), signature=st.text(max_size=80))
@example(timestamp="1700000000", signature="sha256=\u00e9")
@example(timestamp="\u0661\u0667\u0660\u0660", signature="sha256=00")
@example(timestamp="1_700_000_000", signature="sha256=00")
@example(timestamp="9" * 5000, signature="x")
def test_verify_signature_is_false_for_any_header_it_did_not_sign(
    timestamp: str, signature: str
) -> None:
    assert (
        verify_signature(_WEBHOOK_SECRET, _BODY, timestamp, signature, now=1_700_000_000) is False
    )


@settings(max_examples=50, deadline=None, database=None)
@given(body=st.binary(max_size=200), secret=st.text(min_size=1, max_size=40))
def test_verify_signature_accepts_exactly_what_was_signed(body: bytes, secret: str) -> None:
    now = time.time()
    timestamp = str(int(now))
    signed = sign(secret, timestamp, body)
    assert verify_signature(secret, body, timestamp, signed, now=now) is True
    assert verify_signature(secret, body + b"x", timestamp, signed, now=now) is False
    assert verify_signature(secret, body, timestamp, signed.upper() + "\u00e9", now=now) is False


def test_verify_signature_is_false_for_headers_of_the_wrong_type() -> None:
    timestamp = str(int(time.time()))
    good = sign(_WEBHOOK_SECRET, timestamp, _BODY)
    for bad in (None, 5, b"bytes", ["list"]):
        assert verify_signature(_WEBHOOK_SECRET, _BODY, bad, good) is False  # type: ignore[arg-type]
        assert verify_signature(_WEBHOOK_SECRET, _BODY, timestamp, bad) is False  # type: ignore[arg-type]
