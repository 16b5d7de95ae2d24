"""``FakeBighubServer``: a local stand-in for the BIGHUB API, for examples and offline tests.

::

    with FakeBighubServer() as fake:
        bighub = BighubDecisionProvider(api_key="test", base_url=fake.base_url)
        signal = await bighub.decide(call, DecisionContext(environment="production"))
        fake.decide_requests()[0].json["context"]["arguments"]   # exactly what left the machine
        fake.fail_next(503)                                      # the next request gets a 503
        fake.alternative_next({"duration_hours": 2})  # scored as usual, plus this alternative

It serves the two endpoints the ``bighub`` SDK (0.1.0b5) calls for this package,
``POST /actions/evaluate`` and ``POST /outcomes/report``, with the advisory response shape the
real API documents (``recommendation``, ``risk_score``, ``enforcement_mode``,
``decision_intelligence.alternatives``, and the legacy ``allowed``/``result`` fields beside them).

Scoring is deterministic: a tool name containing ``delete`` or ``drop`` is ``do_not_proceed``;
``environment == "production"``, metadata ``risk == "high"`` or an allow-listed
``duration_hours > 24`` is ``review_recommended``; anything else is ``proceed``. A repeated
``Idempotency-Key`` gets the first answer again, as a real idempotent API does.

The alternatives it makes up are the documented text ones (``action``, ``rationale``);
``alternative_next`` puts a structured one first (the same tool with ``arguments``), the shape
``BighubDecisionProvider`` reads into ``better_arguments``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

logger = logging.getLogger(__name__)

EVALUATE_PATH = "/actions/evaluate"
OUTCOME_PATH = "/outcomes/report"
_DESTRUCTIVE_WORDS = ("delete", "drop")
_ERROR_DETAIL = {
    401: "Invalid API key",
    403: "Forbidden",
    422: [{"loc": ["body", "action"], "msg": "field required", "type": "value_error.missing"}],
    429: "Rate limit exceeded",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-api-key")


@dataclass
class _Script:
    """A canned answer for the next ``times`` requests to ``path`` (any path when None)."""

    times: int
    path: str | None
    status: int = 200
    body: Any = None
    raw_body: bytes | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    scored: bool = False  # after the delay, answer as usual instead of with ``body``
    alternative: dict[str, Any] | None = None  # put first in a scored answer's alternatives


class FakeBighubServer:
    """A ``http.server`` on 127.0.0.1 in a background thread; ``base_url`` once started.

    ``api_key``: when set, requests without that ``X-API-Key`` get a 401, as the real API does.
    ``enforcement_mode``: ``advisory`` (default), ``review`` or ``enforced``; ``enforced`` adds
    ``enforced_verdict`` to every scored answer.
    """

    def __init__(
        self, *, api_key: str | None = None, enforcement_mode: str = "advisory", port: int = 0
    ) -> None:
        self.api_key = api_key
        self.enforcement_mode = enforcement_mode
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._scripts: list[_Script] = []
        self._answers: dict[str, dict[str, Any]] = {}
        self._counter = 0
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeBighubServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _HTTPServer(("127.0.0.1", self._port), _Handler, fake=self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-bighub", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a scripted delay
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> FakeBighubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeBighubServer is not started; call start() or use `with`")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting ------------------------------------------------------------------------

    def respond_next(
        self, body: Mapping[str, Any] | list[Any], *, times: int = 1, status: int = 200,
        path: str | None = EVALUATE_PATH,
    ) -> None:
        """Answer the next ``times`` requests with ``body`` (any JSON value) and ``status``."""
        self._add(_Script(times=times, path=path, status=status, body=body))

    def fail_next(
        self, status: int, *, times: int = 1, path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` requests with an error ``status`` in the API's error shape."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        body = {"detail": _ERROR_DETAIL.get(status, "Internal Server Error")}
        self._add(_Script(times=times, path=path, status=status, body=body, headers=headers))

    def delay_next(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Hold the next ``times`` requests for ``seconds`` before answering as usual."""
        self._add(_Script(times=times, path=path, delay=seconds, scored=True))

    def alternative_next(
        self,
        arguments: Mapping[str, Any],
        *,
        tool: str | None = None,
        action: str | None = None,
        rationale: str = "A narrower call does the job",
        times: int = 1,
    ) -> None:
        """Score the next ``times`` evaluations as usual, with a structured alternative first
        in ``decision_intelligence.alternatives``: ``tool`` (default: the evaluated action)
        with ``arguments``. ``action`` is its text (default: ``<tool> with k=v, ...``)."""
        alternative: dict[str, Any] = {"arguments": dict(arguments), "rationale": rationale}
        if tool is not None:
            alternative["tool"] = tool
        if action is not None:
            alternative["action"] = action
        self._add(_Script(times=times, path=EVALUATE_PATH, scored=True, alternative=alternative))

    def empty_next(self, *, times: int = 1, path: str | None = EVALUATE_PATH) -> None:
        """Answer the next ``times`` requests with 200 and an empty body."""
        self._add(_Script(times=times, path=path, raw_body=b""))

    def _add(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    def _take_script(self, path: str) -> _Script | None:
        with self._lock:
            for script in self._scripts:
                if script.times > 0 and script.path in (None, path):
                    script.times -= 1
                    return script
        return None

    # -- what it saw ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def decide_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == EVALUATE_PATH]

    def outcome_reports(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == OUTCOME_PATH]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._scripts.clear()
            self._answers.clear()

    # -- answering ------------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._requests.append(request)
        script = self._take_script(request.path)
        if script is not None and script.delay > 0:
            self._stopping.wait(script.delay)
        if script is not None and not script.scored:
            if script.raw_body is not None:
                return script.status, script.headers, script.raw_body
            return script.status, script.headers, _json_bytes(script.body)
        if self.api_key is not None and request.api_key != self.api_key:
            return 401, {}, _json_bytes({"detail": _ERROR_DETAIL[401]})
        if request.method != "POST" or request.path not in (EVALUATE_PATH, OUTCOME_PATH):
            return 404, {}, _json_bytes({"detail": "Not Found"})
        if not isinstance(request.json, dict):
            return 422, {}, _json_bytes({"detail": _ERROR_DETAIL[422]})
        if request.path == OUTCOME_PATH:
            return 200, {}, _json_bytes(self._record_outcome(request.json))
        alternative = None if script is None else script.alternative
        return 200, {}, _json_bytes(self._evaluate(request, alternative))

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}_{self._counter:04d}"

    def _evaluate(
        self, request: RecordedRequest, alternative: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        key = request.idempotency_key
        with self._lock:
            if key is not None and key in self._answers:
                return self._answers[key]
        answer = self.score(request.json, request_id=self._next_id("req"))
        if alternative is not None:
            answer["decision_intelligence"]["alternatives"].insert(
                0, _structured(alternative, str(request.json.get("action") or ""))
            )
        if key is not None:
            with self._lock:
                answer = self._answers.setdefault(key, answer)
        return answer

    def _record_outcome(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "outcome_id": self._next_id("out"),
            "request_id": body.get("request_id"),
            "status": body.get("status"),
            "report_source": "fake_bighub",
        }

    def score(self, body: Mapping[str, Any], *, request_id: str = "req_fake") -> dict[str, Any]:
        """The answer ``POST /actions/evaluate`` gives for ``body`` (public for examples)."""
        action = str(body.get("action") or "")
        context = _object(body.get("context"))
        duration = _object(context.get("arguments")).get("duration_hours")
        long_grant = isinstance(duration, int | float) and duration > 24
        concerns = [
            concern
            for concern, hit in (
                ("duration over 24h", long_grant),
                ("production environment", context.get("environment") == "production"),
                ("declared high risk", context.get("risk") == "high"),
            )
            if hit
        ]
        if any(word in action.lower() for word in _DESTRUCTIVE_WORDS):
            answer = _answer("do_not_proceed", 0.95, f"{action} is destructive")
        elif concerns:
            answer = _answer("review_recommended", 0.7, f"{action}: {', '.join(concerns)}")
            if long_grant:
                answer["decision_intelligence"]["alternatives"] = [
                    {"action": f"{action} with duration_hours=4", "rationale": "Shorter grant"}
                ]
        else:
            answer = _answer("proceed", 0.1, f"{action} is routine")
        answer["request_id"] = request_id
        answer["enforcement_mode"] = self.enforcement_mode
        if self.enforcement_mode == "enforced":
            answer["enforced_verdict"] = answer["result"]
        return answer


def _structured(alternative: dict[str, Any], action: str) -> dict[str, Any]:
    tool = alternative.get("tool", action)
    changes = ", ".join(f"{key}={value}" for key, value in alternative["arguments"].items())
    return {"tool": tool, "action": f"{tool} with {changes}", **alternative}


def _object(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _answer(recommendation: str, risk: float, reason: str) -> dict[str, Any]:
    result = {"proceed": "allowed", "review_recommended": "requires_approval"}.get(
        recommendation, "blocked"
    )
    review = recommendation == "review_recommended"
    return {
        "recommendation": recommendation,
        "recommendation_confidence": "high",
        "risk_score": risk,
        "allowed": recommendation == "proceed",
        "result": result,
        "reason": reason,
        "requires_approval": review,
        "human_review": review,
        "blocked_by": "fake_bighub" if result == "blocked" else None,
        "decision_intelligence": {
            "rationale": reason, "projected_regret": round(risk / 2, 3), "alternatives": [],
        },
    }


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler asleep on a scripted delay must not hold up stop()

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
        fake: FakeBighubServer,
    ) -> None:
        super().__init__(address, handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={name.lower(): value for name, value in self.headers.items()},
            json=body,
        )
        status, headers, payload = cast(_HTTPServer, self.server).fake._handle(request)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (a timeout test); nobody is left to answer.
            logger.debug("fake BIGHUB client left before %s was answered", request.path)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake BIGHUB: " + format, *args)
