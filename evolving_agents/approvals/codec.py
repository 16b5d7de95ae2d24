"""The stored form of a paused run's ``RunState``: compressed, hashed, signed and versioned.

::

    codec = StateCodec.from_settings()
    stored = codec.encode(approval_id, result.to_state().to_json())
    state_json = codec.decode(approval_id, stored)     # raises before anything is loaded
    state = await RunState.from_json(agent, state_json)

Why compact JSON through zlib level 6, measured with ``python -m bench.codec`` (SDK 0.24, one
run on the 2-core dev machine): a short gated run's ``to_string()`` of 9.2 KB is stored in
1.2 KB (13%) at 0.04 ms to encode and 0.01 ms to decode; a 200-turn history of 593 KB in 23 KB
(3.9%) at 3.8 ms / 0.5 ms. lzma-1 would store the long state in 13 KB, but costs 25x the time
on short states (the common case) and is larger there; bz2 is slower still; zlib-9 saves <2%
for twice the time. zlib is also in every Python, so any process can read what another wrote.

The signature covers the approval id, the schema version, the encoding and the digest of the
compressed bytes, so a blob cannot be moved to another record or relabelled to another version
without failing ``decode``. The digest is checked before decompression, so a tampered blob is
never inflated.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import tempfile
import zlib
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from evolving_agents.approvals.models import StoredState
from evolving_agents.approvals.seals import RecordSigner
from evolving_agents.config import NEW_SECRET_HINT, Settings, secret_weakness
from evolving_agents.errors import (
    ConfigurationError,
    IncompatibleStateVersion,
    StateIntegrityError,
    StateTooLarge,
)

logger = logging.getLogger(__name__)

ENCODING = "json+zlib6"
_ZLIB_LEVEL = 6
# MongoDB refuses documents over 16 MiB; keep room for the rest of the record.
WARN_STATE_BYTES = 8 * 1024 * 1024
MAX_STATE_BYTES = 15 * 1024 * 1024
# Refuse to inflate more than this: a valid signature is required first, but a bound costs nothing.
_MAX_INFLATED_BYTES = 512 * 1024 * 1024
SECRET_FILE_NAME = "state_secret"


@functools.cache
def _supported_schema_versions() -> frozenset[str]:
    # Imported on the first decode, not with the store: the SDK takes seconds to import, and
    # listing, showing or deciding approvals never decodes a state.
    from agents.run_state import SUPPORTED_SCHEMA_VERSIONS

    return frozenset(SUPPORTED_SCHEMA_VERSIONS)


def _sdk_version() -> str:
    try:
        return version("openai-agents")
    except PackageNotFoundError:
        return "unknown"


class StateCodec:
    """Encodes ``RunState`` JSON for storage and verifies it before every load.

    Stateless apart from the signing key, so one instance is safe to share across tasks.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ConfigurationError("EAT_STATE_SECRET must be at least 16 bytes long")
        self._secret = secret
        self._sdk_version = _sdk_version()

    @property
    def signer(self) -> RecordSigner:
        """The record signer under the same secret (a key derived for records)."""
        return RecordSigner(self._secret)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> StateCodec:
        settings = Settings() if settings is None else settings
        return cls(load_state_secret(settings))

    def encode(
        self, approval_id: str, state_json: Mapping[str, Any], *, run_id: str | None = None
    ) -> StoredState:
        schema_version = state_json.get("$schemaVersion")
        if not isinstance(schema_version, str):
            raise StateIntegrityError(approval_id, "the run state has no $schemaVersion")
        raw = json.dumps(state_json, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        data = zlib.compress(raw, _ZLIB_LEVEL)
        if len(data) > MAX_STATE_BYTES:
            run = f" of run {run_id}" if run_id else ""
            raise StateTooLarge(
                approval_id,
                f"the run state{run} is {len(data) / 1_048_576:.1f} MiB compressed, over the "
                f"{MAX_STATE_BYTES // 1_048_576} MiB limit this store keeps under MongoDB's "
                "16 MiB document limit; shorten the run's history before it pauses",
            )
        if len(data) > WARN_STATE_BYTES:
            logger.warning(
                "approval %s (run %s): run state is %.1f MiB compressed; MongoDB's limit is 16 MiB",
                approval_id,
                run_id,
                len(data) / 1_048_576,
            )
        digest = hashlib.sha256(data).hexdigest()
        return StoredState(
            schema_version=schema_version,
            sdk_version=self._sdk_version,
            encoding=ENCODING,
            data=data,
            sha256=digest,
            hmac=self._sign(approval_id, schema_version, ENCODING, digest),
            raw_bytes=len(raw),
        )

    def decode(self, approval_id: str, stored: StoredState | None) -> dict[str, Any]:
        """Verify and return the state JSON, or raise without side effects."""
        if stored is None:
            raise StateIntegrityError(approval_id, "the record holds no run state")
        if stored.encoding != ENCODING:
            raise StateIntegrityError(approval_id, f"unknown state encoding {stored.encoding!r}")
        if not hmac.compare_digest(hashlib.sha256(stored.data).hexdigest(), stored.sha256):
            raise StateIntegrityError(approval_id, "state hash mismatch: the blob was altered")
        expected = self._sign(approval_id, stored.schema_version, stored.encoding, stored.sha256)
        if not hmac.compare_digest(expected, stored.hmac):
            raise StateIntegrityError(
                approval_id,
                "state signature mismatch: altered, copied from another record, "
                "or signed with a different EAT_STATE_SECRET",
            )
        if stored.schema_version not in _supported_schema_versions():
            raise self._incompatible(approval_id, stored.schema_version)
        try:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(stored.data, _MAX_INFLATED_BYTES)
            state_json = json.loads(raw)
        except (zlib.error, ValueError) as exc:
            raise StateIntegrityError(approval_id, f"state cannot be decoded: {exc}") from exc
        if not isinstance(state_json, dict):
            raise StateIntegrityError(approval_id, "state is not a JSON object")
        inner_version = state_json.get("$schemaVersion")
        if inner_version != stored.schema_version:
            raise StateIntegrityError(
                approval_id,
                f"state says $schemaVersion {inner_version!r}, "
                f"record says {stored.schema_version!r}",
            )
        return state_json

    def _incompatible(self, approval_id: str, schema_version: str) -> IncompatibleStateVersion:
        supported = ", ".join(sorted(_supported_schema_versions(), key=_version_key))
        return IncompatibleStateVersion(
            approval_id,
            f"run state schema {schema_version} cannot be read by openai-agents "
            f"{self._sdk_version} (reads {supported}); resume it with the SDK that wrote it",
            schema_version=schema_version,
        )

    def _sign(self, approval_id: str, schema_version: str, encoding: str, digest: str) -> str:
        message = "\n".join((approval_id, schema_version, encoding, digest)).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _version_key(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split(".") if part.isdigit())


def load_state_secret(settings: Settings) -> bytes:
    """``EAT_STATE_SECRET``, else ``EAT_STATE_SECRET_FILE``, else (outside production) a key
    generated once and kept 0600.

    In production a generated key would differ per machine and silently break resumes on
    another host, so a secret is required there, and it must be strong (32+ bytes, not a
    repeated pattern or a few symbols, see ``config.secret_weakness``) and, from a file,
    readable by this user only: whoever reads the key can sign what the workers will trust.
    """
    if settings.state_secret and settings.state_secret_file is not None:
        raise ConfigurationError(
            "EAT_STATE_SECRET and EAT_STATE_SECRET_FILE are both set: keep one of them"
        )
    if settings.state_secret:
        secret, source = settings.state_secret.encode("utf-8"), "EAT_STATE_SECRET"
    elif settings.state_secret_file is not None:
        path = settings.state_secret_file
        secret = _read_secret_file(path, production=settings.is_production)
        source = f"EAT_STATE_SECRET_FILE ({path})"
    elif settings.is_production:
        raise ConfigurationError(
            "EAT_STATE_SECRET is required when EAT_ENV=production: set it (or "
            "EAT_STATE_SECRET_FILE, a file only this user can read) to the same random value "
            f"(32+ bytes, e.g. {NEW_SECRET_HINT}) on every process that pauses or resumes runs"
        )
    else:
        path = settings.resolved_config_dir() / SECRET_FILE_NAME
        return _read_or_create_secret(path)
    if settings.is_production and (weakness := secret_weakness(secret)) is not None:
        raise ConfigurationError(
            f"{source} is too weak for EAT_ENV=production: {weakness}. Set it to 32+ random "
            f"bytes, e.g. {NEW_SECRET_HINT}, the same on every process that pauses or resumes"
        )
    return secret


def _read_secret_file(path: Path, *, production: bool) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(f"EAT_STATE_SECRET_FILE: cannot read {path}: {exc}") from exc
    if not secret:
        raise ConfigurationError(f"EAT_STATE_SECRET_FILE: {path} is empty")
    _check_private(path, "EAT_STATE_SECRET_FILE", production=production)
    return secret


def _check_private(path: Path, setting: str, *, production: bool) -> None:
    """Refuse (production) or warn about a secret file that other users can read."""
    if os.name != "posix":  # POSIX modes only; elsewhere the file's ACL is the operator's job
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    problem = (
        f"{setting}: {path} has mode {mode:04o}, so other users on this machine can read the "
        f"key; make it private with: chmod 600 {path}"
    )
    if production:
        raise ConfigurationError(problem + " (refused because EAT_ENV=production)")
    logger.warning("%s", problem)


def _read_or_create_secret(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except FileNotFoundError:
        pass
    else:
        # Outside production only: a key others can read lets them sign what workers trust.
        _check_private(path, "the generated state secret", production=False)
        return secret
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    candidate = secrets.token_hex(32).encode("ascii")
    # Write a private temp file, then hard-link it into place: the link either appears whole or
    # fails because another process won the race, in which case both use the winner's key.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".state_secret.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(candidate)
        os.chmod(tmp_name, 0o600)
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return path.read_bytes().strip()
    finally:
        os.unlink(tmp_name)
    logger.info("generated a state-signing secret at %s", path)
    return candidate
