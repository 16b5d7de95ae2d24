"""A fake Slack Web API on 127.0.0.1: a real HTTP server that answers as Slack does, and keeps
every call it got.

::

    with FakeSlack(token="xoxb-test") as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        slack.fail("chat.postMessage", "ratelimited", status=429)   # the next call only
        ...
        slack.calls_to("chat.postMessage")[0].body["blocks"]
        slack.responses                                          # POSTs to response_urls

It implements what the Slack sink and ``/slack/actions`` use: ``chat.postMessage`` (channel
names become ids, each message gets the next ``ts``), ``chat.update``, ``chat.postEphemeral``,
``views.open``, and interaction ``response_url``s (``slack.response_url(name)``). A call
without the right bot token gets ``invalid_auth``; one to a channel in ``missing`` gets
``channel_not_found``, as Slack answers.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class SlackCall:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Failure:
    error: str
    status: int


@dataclass
class FakeSlack:
    token: str
    missing: set[str] = field(default_factory=set)
    calls: list[SlackCall] = field(default_factory=list)
    responses: list[SlackCall] = field(default_factory=list)
    _failures: dict[str, list[_Failure]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_ts: int = 100
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- what a test reads ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start it first (with FakeSlack(...) as slack)"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/response/{name}"

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def fail(self, method: str, error: str, *, status: int = 200) -> None:
        """The next call of ``method`` gets ``{"ok": false, "error": error}`` with ``status``."""
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(error, status))

    @staticmethod
    def channel_id(channel: str) -> str:
        if re.fullmatch(r"[CGD][A-Z0-9]+", channel):
            return channel
        return "C" + re.sub(r"[^A-Z0-9]", "", channel.upper())

    # -- the server -------------------------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake._answer(self.path, dict(self.headers.items()), raw)
                data = json.dumps(answer).encode() if isinstance(answer, dict) else answer
                self.send_response(status)
                kind = "application/json" if isinstance(answer, dict) else "text/html"
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        body = _body(headers, raw)
        if path.startswith("/response/"):
            with self._lock:
                self.responses.append(SlackCall(path.removeprefix("/response/"), body, headers))
            return 200, b"ok"
        method = path.removeprefix("/api/")
        with self._lock:
            self.calls.append(SlackCall(method, body, headers))
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
        if failure is not None:
            return failure.status, {"ok": False, "error": failure.error}
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        channel = str(body.get("channel", ""))
        if channel in self.missing:
            return 200, {"ok": False, "error": "channel_not_found"}
        if method == "chat.postMessage":
            with self._lock:
                self._next_ts += 1
                ts = f"1700000000.{self._next_ts:06d}"
            return 200, {"ok": True, "channel": self.channel_id(channel), "ts": ts}
        if method == "chat.update":
            return 200, {"ok": True, "channel": channel, "ts": body.get("ts")}
        if method == "chat.postEphemeral":
            return 200, {"ok": True, "message_ts": "1700000000.999999"}
        if method == "views.open":
            return 200, {"ok": True, "view": {"id": "V0DIALOG"}}
        return 200, {"ok": False, "error": "unknown_method"}


def _body(headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    kind = headers.get("Content-Type", "")
    if not raw:
        return {}
    if kind.startswith("application/json"):
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"_": parsed}
    fields = parse_qs(raw.decode("utf-8"))
    decoded: dict[str, Any] = {}
    for key, values in fields.items():
        value = values[0]
        try:
            decoded[key] = json.loads(value) if key in ("blocks", "view") else value
        except ValueError:
            decoded[key] = value
    return decoded
