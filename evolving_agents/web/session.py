"""The inbox's session cookie and CSRF tokens, both HMACs under one server secret.

::

    codec = SessionCodec(secret)
    cookie = codec.dump(Session.anonymous())                  # before sign-in
    session = codec.load(request.cookies.get(COOKIE_NAME))    # None: missing, forged, expired
    token = codec.csrf_token(session)                         # hidden field of every form
    codec.csrf_ok(session, form["csrf_token"])

The cookie holds a random session id, the reviewer's name and the digest of the token they
signed in with (so removing a reviewer from the config ends their sessions), signed with
HMAC-SHA256; it is sent ``HttpOnly; SameSite=Strict``. The CSRF token is an HMAC of the
session id, so it changes at sign-in and a page of another origin cannot compute it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time

from pydantic import BaseModel, ConfigDict, ValidationError

COOKIE_NAME = "eat_session"
CSRF_FIELD = "csrf_token"
DEFAULT_MAX_AGE_SECONDS = 12 * 3600


class Session(BaseModel):
    model_config = ConfigDict(frozen=True)

    sid: str
    issued_at: float
    reviewer: str | None = None
    token_sha256: str | None = None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(sid=secrets.token_urlsafe(18), issued_at=time.time())

    @classmethod
    def signed_in(cls, reviewer: str, token_sha256: str) -> Session:
        # A fresh id at sign-in: a session id planted before sign-in is worth nothing after.
        return cls(
            sid=secrets.token_urlsafe(18),
            issued_at=time.time(),
            reviewer=reviewer,
            token_sha256=token_sha256,
        )


class SessionCodec:
    """Signs and checks session cookies and CSRF tokens with one secret."""

    def __init__(self, secret: bytes, *, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self.max_age_seconds = max_age_seconds

    def dump(self, session: Session) -> str:
        payload = _b64(session.model_dump_json().encode("utf-8"))
        return payload + "." + self._mac(b"session", payload.encode("ascii"))

    def load(self, cookie: str | None) -> Session | None:
        # compare_digest refuses non-ASCII text; a cookie with any is forged anyway.
        if not cookie or not cookie.isascii() or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(b"session", payload.encode("ascii"))):
            return None
        try:
            session = Session.model_validate(json.loads(_unb64(payload)))
        except (ValueError, ValidationError, binascii.Error):
            return None
        if time.time() - session.issued_at > self.max_age_seconds:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac(b"csrf", session.sid.encode("utf-8"))

    def csrf_ok(self, session: Session | None, token: object) -> bool:
        if session is None or not isinstance(token, str) or not token or not token.isascii():
            return False
        return hmac.compare_digest(token, self.csrf_token(session))

    def _mac(self, purpose: bytes, data: bytes) -> str:
        # The purpose keeps a session MAC from ever being accepted as a CSRF token and back.
        digest = hmac.new(self._secret, purpose + b":" + data, "sha256").digest()
        return _b64(digest)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
