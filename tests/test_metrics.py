"""Prometheus metrics after a pause, a decision, a resume and an expiry, scraped and parsed.

The inbox's ``/metrics`` is scraped through Starlette's TestClient in this process, whose
global meter provider ``enable_prometheus`` sets once (counters are process-wide, so these
tests compare a scrape before with one after). ``eat worker --metrics-port 0`` runs in a
subprocess of its own, so its counts are exact from zero, over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from agents.testing import assistant_message
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from typer.testing import CliRunner

from evolving_agents import MongoDBClient, OpenAIAgentsProvider, RunStatus
from evolving_agents.approvals import LeaseLost
from evolving_agents.approvals.lease import hold_lease
from evolving_agents.approvals.models import AgentRunResult, ApprovalStatus, utcnow
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app as eat
from evolving_agents.telemetry import INSTALL_HINT, enable_prometheus, scrape
from evolving_agents.web import create_app
from tests.apps.worker_app import AGENT_NAME, build_registry
from tests.test_run_surface import GRANT, Spy, agent_with, fresh
from tests.test_store import make_record
from tests.test_web_inbox import ALICE, REVIEWERS, SECRET, csrf

ROOT = Path(__file__).parent.parent
TOOL = "apply_change"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parsed(text: str) -> Samples:
    """Every sample of a scrape, by name and labels (``prometheus_client``'s own parser)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the scrape does not have it (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def has(samples: Samples, name: str) -> bool:
    return any(key[0] == name for key in samples)


class OffsetClock:
    """Now, moved forward at will: the store's clock, so deadlines pass without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@pytest.fixture(params=["memory", "wire"])
def inbox_uri(request: pytest.FixtureRequest) -> Iterator[str]:
    yield "memory://" if request.param == "memory" else request.getfixturevalue("wire_uri")


def test_the_inbox_metrics_count_a_pause_a_decision_a_resume_and_an_expiry_exactly(
    inbox_uri: str,
) -> None:
    enable_prometheus(service_name="eat-inbox-test")
    client = MongoDBClient(inbox_uri, f"eat_metrics_{uuid.uuid4().hex[:8]}")
    clock = OffsetClock()
    store = PendingApprovalStore(client, clock=clock, approval_timeout="1h")
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry(), store=store)
    web = create_app(provider, REVIEWERS, session_secret=SECRET, poll_interval=0.1)
    with TestClient(web, base_url="http://127.0.0.1:8765") as http:
        before = parsed(http.get("/metrics").text)

        def pause() -> AgentRunResult:
            run: AgentRunResult = http.portal.call(
                lambda: provider.execute_agent(AGENT_NAME, "apply the change", actor="ops")
            )
            assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
            return run

        approved, expiring = pause(), pause()
        scraped = http.get("/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        paused = parsed(scraped.text)
        assert value(paused, "eat_approvals_pending", agent=AGENT_NAME, tool=TOOL) == 2
        assert (
            value(paused, "eat_approvals_paused_total", agent=AGENT_NAME)
            - value(before, "eat_approvals_paused_total", agent=AGENT_NAME)
            == 2
        )

        # A reviewer approves one in the inbox, and resumes it from there.
        http.cookies.clear()
        login = http.get("/login")
        signed_in = http.post(
            "/login",
            data={"token": ALICE, "csrf_token": csrf(login.text), "next": "/"},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        token = csrf(http.get("/").text)
        decided = http.post(
            f"/approvals/{approved.approval_id}/decide",
            data={
                "csrf_token": token,
                "call_id": approved.pending_tool_calls[0].call_id,
                "verdict": "approved",
            },
            follow_redirects=False,
        )
        assert decided.status_code == 303, decided.text
        resumed = http.post(
            f"/approvals/{approved.approval_id}/resume",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert resumed.status_code == 303, resumed.text
        # Nobody decides the other one: two hours later the sweep rejects it.
        clock.offset = timedelta(hours=2)
        expired_ids = http.portal.call(store.expire_overdue)
        assert expired_ids == [expiring.approval_id]
        record = http.portal.call(store.get, approved.approval_id)
        assert record.status is ApprovalStatus.COMPLETED

        after = parsed(http.get("/metrics").text)
        http.portal.call(client.close)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    web_approval = {"verdict": "approved", "reviewer_kind": "human", "surface": "web"}
    timeout = {"verdict": "rejected", "reviewer_kind": "timeout", "surface": "expiry"}
    assert value(after, "eat_approvals_pending", agent=AGENT_NAME, tool=TOOL) == 0
    assert delta("eat_approvals_paused_total", agent=AGENT_NAME) == 2
    assert delta("eat_approvals_decisions_total", **web_approval) == 1
    assert delta("eat_approvals_decisions_total", **timeout) == 1
    assert delta("eat_approvals_time_to_decision_seconds_count", **web_approval) == 1
    assert delta("eat_approvals_time_to_decision_seconds_count", **timeout) == 1
    waited = delta("eat_approvals_time_to_decision_seconds_sum", **timeout)
    assert 7200 <= waited < 7260, "the timeout's decision came two hours after the pause"
    assert delta("eat_approvals_expired_total", agent=AGENT_NAME, tool=TOOL) == 1
    assert delta("eat_resume_claims_total", kind="decided") == 1
    assert delta("eat_resume_decision_to_resume_seconds_count", kind="decided") == 1
    assert delta("eat_resume_finished_total", outcome="completed") == 1
    assert delta("eat_approvals_tool_errors_total", agent=AGENT_NAME, tool=TOOL) == 0
    assert delta("eat_resume_takeovers_total") == 0
    assert delta("eat_resume_lease_losses_total") == 0
    assert value(after, "eat_resume_in_flight") == 0


async def test_a_takeover_a_lost_lease_and_an_approved_call_that_raised_are_counted(
    mongo: MongoDBClient,
) -> None:
    export = enable_prometheus(service_name="eat-inbox-test")

    async def now() -> Samples:
        body, _ = await scrape(export, None, accept=None)
        return parsed(body.decode())

    before = await now()
    # An approved call whose body raises: the run completes, the approved action did not.
    agent, _ = agent_with([GRANT, [assistant_message("I tried")]], Spy(), raises=True)
    provider = fresh(mongo, agent)
    run = await provider.execute_agent("ops-agent", "grant")
    assert run.approval_id is not None
    await provider.store.decide(run.approval_id, verdict="approved", reviewer="alice")
    done = await provider.resume_agent(run.approval_id)
    assert done.status is RunStatus.TOOL_ERROR

    # w1 claims with a short lease and goes quiet; w2 takes the run over once it lapsed, and
    # w1's lease keeper then finds it lost.
    store = provider.store
    await store.create(make_record("taken"))
    await store.decide("taken", verdict="approved", reviewer="alice")
    await store.claim_for_resume("taken", "w1", lease_seconds=0.2)
    await asyncio.sleep(0.3)
    await store.claim_for_resume("taken", "w2", lease_seconds=30)
    with pytest.raises(LeaseLost):
        async with hold_lease(store, "taken", "w1", 0.2):
            await asyncio.sleep(5)
    after = await now()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("eat_approvals_tool_errors_total", agent="ops-agent", tool="grant_access") == 1
    assert delta("eat_resume_finished_total", outcome="completed") == 1
    assert delta("eat_resume_claims_total", kind="decided") == 2, "the resume and w1's claim"
    assert delta("eat_resume_takeovers_total") == 1
    assert delta("eat_resume_lease_losses_total") == 1


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def metrics_worker(wire_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``eat worker --metrics-port 0`` on the wire database, and the URL it says it serves."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evolving_agents",
            "worker",
            "--app",
            "tests.apps.worker_app:registry",
            "--metrics-port",
            "0",
            "--poll-interval",
            "0.05",
            "--max-poll-interval",
            "0.2",
            "--json",
        ],
        cwd=ROOT,
        env=wire_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    said: list[str] = []
    found = None
    while found is None and len(said) < 20:
        said.append(process.stderr.readline())
        found = re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", said[-1])
        if not said[-1]:
            break  # it exited
    if found is None:
        process.kill()
        pytest.fail(f"the worker did not say where its metrics are: {said!r}")
    try:
        yield process, found.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _scrape_until(url: str, done: str, expected: float, *, within: float = 60) -> Samples:
    deadline = time.monotonic() + within
    while True:
        samples = parsed(httpx.get(url, timeout=5).text)
        found = sum(v for (name, _), v in samples.items() if name == done)
        if found >= expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


async def test_the_worker_metrics_port_counts_its_own_claims_expiries_and_resumes(
    metrics_worker: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = metrics_worker
    client = MongoDBClient()  # MONGODB_URI and the database of wire_env, as the worker's
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    hasty = OpenAIAgentsProvider(
        mongodb_client=client,
        registry=build_registry(),
        store=PendingApprovalStore(client, approval_timeout="1s"),
    )
    try:
        approved = await provider.execute_agent(AGENT_NAME, "apply the change", actor="ops")
        assert approved.approval_id is not None
        waiting = parsed(httpx.get(url, timeout=5).text)
        assert value(waiting, "eat_approvals_pending", agent=AGENT_NAME, tool=TOOL) == 1
        assert not has(waiting, "eat_approvals_paused_total"), "the pause was this process's"

        await provider.store.decide(approved.approval_id, verdict="approved", reviewer="alice")
        expiring = await hasty.execute_agent(AGENT_NAME, "apply the change", actor="ops")
        assert expiring.approval_id is not None
        # The worker's sweep rejects the second after its second, then resumes both.
        samples = _scrape_until(url, "eat_resume_finished_total", 2)
        for approval_id in (approved.approval_id, expiring.approval_id):
            assert (await provider.store.get(approval_id)).status is ApprovalStatus.COMPLETED
    finally:
        await provider.aclose()
        await hasty.aclose()
        await client.close()

    timeout = {"verdict": "rejected", "reviewer_kind": "timeout", "surface": "expiry"}
    assert value(samples, "eat_resume_finished_total", outcome="completed") == 2
    assert value(samples, "eat_resume_claims_total", kind="decided") == 2
    assert value(samples, "eat_resume_decision_to_resume_seconds_count", kind="decided") == 2
    assert value(samples, "eat_approvals_expired_total", agent=AGENT_NAME, tool=TOOL) == 1
    assert value(samples, "eat_approvals_decisions_total", **timeout) == 1
    assert value(samples, "eat_approvals_pending", agent=AGENT_NAME, tool=TOOL) == 0
    assert not has(samples, "eat_resume_takeovers_total")
    assert not has(samples, "eat_resume_lease_losses_total")
    assert any(
        name == "target_info" and ("service_name", "eat-worker") in labels
        for name, labels in samples
    ), "the worker names itself (OTEL_SERVICE_NAME unset)"
    assert httpx.get(url.replace("/metrics", "/"), timeout=5).status_code == 404

    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert '"completed": 2' in out


async def test_eat_inbox_with_metrics_serves_them_on_its_own_port(
    wire_env: dict[str, str],
) -> None:
    port = _free_port()
    env = wire_env | {
        "EAT_REVIEWERS": json.dumps({"inbox-metrics-token-0123": {"name": "dana", "roles": []}})
    }
    inbox = subprocess.Popen(
        [sys.executable, "-m", "evolving_agents", "inbox", "--port", str(port), "--metrics"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = MongoDBClient()  # the database of wire_env, as the inbox's
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    try:
        run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="ops")
        assert run.approval_id is not None
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
                break
            except httpx.HTTPError:
                assert inbox.poll() is None and time.monotonic() < deadline, "inbox did not start"
                await asyncio.sleep(0.2)
        samples = parsed(answer.text)
    finally:
        await provider.aclose()
        await client.close()
        inbox.send_signal(signal.SIGTERM)
        _, err = inbox.communicate(timeout=30)
    assert answer.status_code == 200, answer.text
    assert value(samples, "eat_approvals_pending", agent=AGENT_NAME, tool=TOOL) == 1
    assert any(
        name == "target_info" and ("service_name", "eat-inbox") in labels
        for name, labels in samples
    )
    assert inbox.returncode == 0, err


def test_a_taken_metrics_port_is_exit_8_naming_it() -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        result = CliRunner().invoke(
            eat,
            ["worker", "--app", "tests.apps.worker_app:registry", "--metrics-port", str(port)],
        )
    assert result.exit_code == ExitCode.PORT_IN_USE, result.output
    assert f"metrics port {port} on 127.0.0.1 is taken" in " ".join(result.output.split())


def test_without_the_telemetry_extra_switching_metrics_on_names_the_install_command() -> None:
    # The exporter made unimportable in that interpreter, as if the extra were not installed.
    script = (
        "import sys\n"
        "sys.modules['opentelemetry.exporter.prometheus'] = None\n"
        "sys.argv = ['eat', 'worker', '--app', 'tests.apps.worker_app:registry',"
        " '--metrics-port', '0']\n"
        "from evolving_agents.cli.main import main\n"
        "main()\n"
    )
    env = dict(os.environ, COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert INSTALL_HINT in " ".join(done.stderr.split())


def test_metrics_are_a_404_saying_how_to_switch_them_on_in_a_process_without_them() -> None:
    script = (
        "from starlette.testclient import TestClient\n"
        "from evolving_agents import MongoDBClient\n"
        "from evolving_agents.approvals.store import PendingApprovalStore\n"
        "from evolving_agents.web import create_app\n"
        "from tests.test_web_inbox import REVIEWERS, SECRET\n"
        "store = PendingApprovalStore(MongoDBClient('memory://', 'off'))\n"
        "with TestClient(create_app(store, REVIEWERS, session_secret=SECRET)) as http:\n"
        "    answer = http.get('/metrics')\n"
        "print(answer.status_code, answer.text)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("404 metrics are off") and "eat inbox --metrics" in done.stdout


async def test_a_database_that_does_not_answer_leaves_the_pending_gauge_out_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    export = enable_prometheus(service_name="eat-inbox-test")
    gone = MongoDBClient(
        f"mongodb://127.0.0.1:{_free_port()}/?serverSelectionTimeoutMS=200", "gone"
    )
    store = PendingApprovalStore(gone)
    with caplog.at_level(logging.WARNING, logger="evolving_agents.telemetry.prometheus"):
        body, content_type = await scrape(export, store.pending_call_counts, accept=None)
    await gone.close()
    samples = parsed(body.decode())
    assert content_type.startswith("text/plain")
    assert not has(samples, "eat_approvals_pending"), "no stale number: nothing is reported"
    assert has(samples, "target_info"), "the rest of the scrape is served"
    assert any("pending approvals could not be counted" in r.message for r in caplog.records)


async def test_scrapes_at_once_share_one_read_and_any_failure_only_drops_the_gauge() -> None:
    export = enable_prometheus(service_name="eat-test")
    reads = 0

    async def slow_counts() -> dict[tuple[str, str], int]:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.2)
        return {("ops-agent", "grant_access"): 3}

    pages = await asyncio.gather(*(scrape(export, slow_counts, accept=None) for _ in range(8)))
    assert reads == 1, "eight scrapes at once, one query"
    shown = b'eat_approvals_pending{agent="ops-agent",tool="grant_access"} 3.0'
    assert all(shown in page for page, _ in pages)

    async def broken() -> dict[tuple[str, str], int]:
        raise ValueError("a document that does not parse")

    page, _ = await scrape(export, broken, accept=None)
    assert b"eat_approvals_pending{" not in page, "left out, not stale"
    list(text_string_to_metric_families(page.decode()))  # still a page a scraper parses


async def test_with_eat_metrics_token_both_endpoints_answer_only_its_bearer() -> None:
    from evolving_agents.cli.metrics_server import MetricsServer
    from evolving_agents.config import Settings

    export = enable_prometheus(service_name="eat-test")
    settings = Settings(metrics_token="scrape-token-0123456789")
    client = MongoDBClient("memory://", f"eat_metrics_{uuid.uuid4().hex[:8]}", settings=settings)
    store = PendingApprovalStore(client)
    good = {"Authorization": "Bearer scrape-token-0123456789"}
    wrong = {"Authorization": "Bearer scrape-token-0123456788"}
    try:
        web = create_app(store, REVIEWERS, session_secret=SECRET)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://127.0.0.1:8765"
        ) as http:
            answers = [(await http.get("/metrics", headers=h)).status_code for h in ({}, wrong)]
            assert answers == [401, 401]
            served = await http.get("/metrics", headers=good)
            assert served.status_code == 200
            list(text_string_to_metric_families(served.text))  # a page a scraper parses

        server = MetricsServer.bind("127.0.0.1", 0, export, store)
        async with server.running(), httpx.AsyncClient(timeout=5) as http:
            refused = await http.get(server.url)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert (await http.get(server.url, headers=good)).status_code == 200
    finally:
        await client.close()
