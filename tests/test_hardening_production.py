"""``EAT_ENV=production`` refuses what would be a quiet hole: weak or shared-readable signing
keys, unsigned webhooks, an inbox with a key of its own process. Each refusal is a
``ConfigurationError`` naming the setting and how to fix it; outside production the same
settings still work (with a warning where one is due).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import pytest

from evolving_agents import MongoDBClient
from evolving_agents.approvals.codec import StateCodec, load_state_secret
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.config import Settings, secret_weakness
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.service import (
    WebhookService,
    WebhookSettings,
    start_webhooks_from_env,
)
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web import create_app

STRONG = secrets.token_hex(32)
WEAK = [
    "short-but-16-bytes",  # the old minimum passed 16 bytes
    "a" * 64,
    "0123456789abcdef" * 4,
    "changeme" * 6,
    "passwordpassword" * 3,
    "abababababababababababababababab9",
]
REVIEWERS = ReviewerDirectory.of([("alice-token-0123456789", "alice", ["sre"])])


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("EAT_ENV", "production")
    monkeypatch.delenv("EAT_STATE_SECRET", raising=False)
    monkeypatch.delenv("EAT_WEB_SECRET", raising=False)
    monkeypatch.delenv("EAT_WEBHOOK_SECRET", raising=False)
    return monkeypatch


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    os.chmod(path, mode)
    return path


# -- the state secret --------------------------------------------------------------------------


@pytest.mark.parametrize("weak", WEAK)
def test_production_refuses_a_short_or_low_entropy_state_secret(
    production: pytest.MonkeyPatch, weak: str
) -> None:
    production.setenv("EAT_STATE_SECRET", weak)
    with pytest.raises(ConfigurationError, match=r"EAT_STATE_SECRET is too weak .* 32\+ random"):
        load_state_secret(Settings())
    with pytest.raises(ConfigurationError, match="EAT_STATE_SECRET is too weak"):
        StateCodec.from_settings()


def test_production_takes_a_generated_state_secret(production: pytest.MonkeyPatch) -> None:
    production.setenv("EAT_STATE_SECRET", STRONG)
    assert load_state_secret(Settings()) == STRONG.encode()
    production.setenv("EAT_STATE_SECRET", secrets.token_urlsafe(32))
    StateCodec.from_settings()


def test_outside_production_a_weak_state_secret_still_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EAT_STATE_SECRET", "a" * 20)
    assert load_state_secret(Settings()) == b"a" * 20


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=lambda mode: f"{mode:04o}")
def test_production_refuses_a_state_secret_file_other_users_can_read(
    production: pytest.MonkeyPatch, tmp_path: Path, mode: int
) -> None:
    path = private_file(tmp_path / "state_secret", STRONG, mode)
    production.setenv("EAT_STATE_SECRET_FILE", str(path))
    with pytest.raises(
        ConfigurationError, match=rf"EAT_STATE_SECRET_FILE: .* mode {mode:04o}"
    ) as e:
        load_state_secret(Settings())
    assert f"chmod 600 {path}" in str(e.value)


def test_production_reads_a_private_state_secret_file_and_checks_its_strength(
    production: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    production.setenv("EAT_STATE_SECRET_FILE", str(private_file(tmp_path / "key", STRONG)))
    assert load_state_secret(Settings()) == STRONG.encode()
    production.setenv("EAT_STATE_SECRET_FILE", str(private_file(tmp_path / "weak", "x" * 40)))
    with pytest.raises(ConfigurationError, match=r"EAT_STATE_SECRET_FILE \(.*\) is too weak"):
        load_state_secret(Settings())
    production.setenv("EAT_STATE_SECRET", STRONG)
    with pytest.raises(ConfigurationError, match="both set: keep one"):
        load_state_secret(Settings())


def test_production_without_any_state_secret_names_both_settings(
    production: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError, match="EAT_STATE_SECRET is required") as refused:
        load_state_secret(Settings())
    assert "EAT_STATE_SECRET_FILE" in str(refused.value)


def test_outside_production_a_readable_secret_file_is_used_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("EAT_STATE_SECRET")
    monkeypatch.setenv("EAT_CONFIG_DIR", str(tmp_path / "cfg"))
    generated = load_state_secret(Settings())
    os.chmod(tmp_path / "cfg" / "state_secret", 0o644)
    with caplog.at_level(logging.WARNING, logger="evolving_agents.approvals.codec"):
        assert load_state_secret(Settings()) == generated
    assert "mode 0644" in caplog.text and "chmod 600" in caplog.text


def test_the_strength_check_passes_generated_values_and_names_what_is_wrong() -> None:
    for _ in range(200):
        assert secret_weakness(secrets.token_hex(32).encode()) is None
        assert secret_weakness(secrets.token_urlsafe(32).encode()) is None
    assert secret_weakness(b"k" * 31) == "it is 31 bytes long, under 32"
    assert secret_weakness(b"changeme" * 5) == "it repeats a 8-byte pattern"
    assert "low-entropy" in str(secret_weakness(b"0101010101010101010101010101010110"))


# -- webhooks ----------------------------------------------------------------------------------


async def test_production_refuses_to_send_unsigned_webhooks(
    production: pytest.MonkeyPatch,
) -> None:
    client = MongoDBClient("memory://", "eat_hooks")
    unsigned = WebhookSettings(url="https://hooks.example/eat")
    with pytest.raises(ConfigurationError, match="EAT_WEBHOOK_SECRET is required") as refused:
        WebhookService(client, unsigned)
    assert "verify_signature" in str(refused.value)
    production.setenv("EAT_WEBHOOK_URL", "https://hooks.example/eat")
    with pytest.raises(ConfigurationError, match="EAT_WEBHOOK_SECRET is required"):
        start_webhooks_from_env(client)

    signed = WebhookService(client, WebhookSettings(url="https://hooks.example/eat", secret=STRONG))
    await signed.aclose()
    await client.close()


async def test_outside_production_unsigned_webhooks_are_sent_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = MongoDBClient("memory://", "eat_hooks")
    with caplog.at_level(logging.WARNING, logger="evolving_agents.notify.service"):
        service = WebhookService(client, WebhookSettings(url="https://hooks.example/eat"))
    assert "unsigned" in caplog.text
    await service.aclose()
    await client.close()


# -- the inbox's session secret ----------------------------------------------------------------


def test_production_refuses_an_inbox_without_a_strong_shared_session_secret(
    production: pytest.MonkeyPatch,
) -> None:
    production.setenv("EAT_STATE_SECRET", STRONG)
    store = PendingApprovalStore(MongoDBClient("memory://", "eat_inbox"))
    with pytest.raises(ConfigurationError, match="EAT_WEB_SECRET is required when EAT_ENV"):
        create_app(store, REVIEWERS)
    production.setenv("EAT_WEB_SECRET", "inbox-secret-0123")
    with pytest.raises(ConfigurationError, match="EAT_WEB_SECRET is too weak"):
        create_app(store, REVIEWERS)
    with pytest.raises(ConfigurationError, match="session_secret is too weak"):
        create_app(store, REVIEWERS, session_secret="z" * 40)
    production.setenv("EAT_WEB_SECRET", STRONG)
    create_app(store, REVIEWERS)
