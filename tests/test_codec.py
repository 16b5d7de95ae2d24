"""The state codec: round trip, tamper refusal, versions, and where the secret comes from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from evolving_agents.approvals import codec as codec_module
from evolving_agents.approvals.codec import StateCodec, load_state_secret
from evolving_agents.config import Settings
from evolving_agents.errors import (
    ConfigurationError,
    IncompatibleStateVersion,
    StateIntegrityError,
    StateTooLarge,
)

STATE = {"$schemaVersion": "1.21", "current_turn": 1, "original_input": "grant alice" * 50}


def test_round_trip_is_exact_and_smaller() -> None:
    codec = StateCodec(b"k" * 32)
    stored = codec.encode("apr_1", STATE)
    assert codec.decode("apr_1", stored) == STATE
    assert stored.encoding == "json+zlib6" and stored.schema_version == "1.21"
    assert len(stored.data) < stored.raw_bytes


def test_a_blob_copied_to_another_record_fails_its_signature() -> None:
    codec = StateCodec(b"k" * 32)
    stored = codec.encode("apr_1", STATE)
    with pytest.raises(StateIntegrityError, match="approval apr_2: state signature mismatch"):
        codec.decode("apr_2", stored)


def test_a_different_secret_fails_the_signature() -> None:
    stored = StateCodec(b"k" * 32).encode("apr_1", STATE)
    with pytest.raises(StateIntegrityError, match="EAT_STATE_SECRET"):
        StateCodec(b"z" * 32).decode("apr_1", stored)


def test_relabelling_the_schema_version_fails_the_signature() -> None:
    codec = StateCodec(b"k" * 32)
    stored = codec.encode("apr_1", STATE).model_copy(update={"schema_version": "1.20"})
    with pytest.raises(StateIntegrityError, match="signature"):
        codec.decode("apr_1", stored)


def test_a_newer_schema_is_incompatible_even_when_signed() -> None:
    codec = StateCodec(b"k" * 32)
    stored = codec.encode("apr_1", {**STATE, "$schemaVersion": "2.0"})
    with pytest.raises(IncompatibleStateVersion, match=r"schema 2\.0 cannot be read") as caught:
        codec.decode("apr_1", stored)
    assert caught.value.approval_id == "apr_1"


def test_missing_state_and_unknown_encoding_are_refused() -> None:
    codec = StateCodec(b"k" * 32)
    with pytest.raises(StateIntegrityError, match="holds no run state"):
        codec.decode("apr_1", None)
    stored = codec.encode("apr_1", STATE).model_copy(update={"encoding": "json+lz4"})
    with pytest.raises(StateIntegrityError, match="unknown state encoding"):
        codec.decode("apr_1", stored)
    with pytest.raises(StateIntegrityError, match="no \\$schemaVersion"):
        codec.encode("apr_1", {"current_turn": 1})


def test_an_oversized_state_is_refused_with_the_run_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec_module, "MAX_STATE_BYTES", 64)
    with pytest.raises(StateTooLarge, match=r"approval apr_big: .* over the"):
        StateCodec(b"k" * 32).encode("apr_big", {**STATE, "blob": list(range(5000))})


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        StateCodec(b"short")


def test_without_a_secret_one_is_generated_once_with_mode_0600(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EAT_STATE_SECRET")
    monkeypatch.setenv("EAT_CONFIG_DIR", str(tmp_path / "cfg"))
    first = load_state_secret(Settings())
    second = load_state_secret(Settings())
    assert first == second and len(first) == 64
    path = tmp_path / "cfg" / "state_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path], "no temp files left behind"


def test_production_requires_an_explicit_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EAT_STATE_SECRET")
    monkeypatch.setenv("EAT_ENV", "production")
    monkeypatch.setenv("EAT_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigurationError, match="EAT_STATE_SECRET is required"):
        load_state_secret(Settings())
    assert not (tmp_path / "state_secret").exists()
