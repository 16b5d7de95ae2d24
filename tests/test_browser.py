"""The web inbox in a real browser: headless Debian Chromium driven by Playwright.

The inbox runs under uvicorn in a thread on 127.0.0.1 (a free port) against the wire server;
runs are paused from the test's own process, as an agent service would. Screenshots go to the
test's temporary folder, and to ``docs/img/`` when ``EAT_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from pymongo import MongoClient

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import AgentRunResult
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web import create_app
from tests.apps.review_app import AGENT_NAME, build_registry

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALICE = "alice-token-0123456789"  # sre
BOB = "bob-token-0123456789ab"  # security
DOCS_IMG = Path(__file__).parent.parent / "docs" / "img"

pytestmark = [
    pytest.mark.wire,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]


@dataclass
class Served:
    url: str
    db_name: str
    uri: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(wire_uri: str) -> Iterator[Served]:
    """``eat inbox`` as it runs for real, minus the CLI: uvicorn, the app, the wire server."""
    db_name = f"eat_browser_{uuid.uuid4().hex[:8]}"
    client = MongoDBClient(wire_uri, db_name)  # connects inside the server's loop
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    reviewers = ReviewerDirectory.of([(ALICE, "alice", ["sre"]), (BOB, "bob", ["security"])])
    app = create_app(provider, reviewers, poll_interval=0.2)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="inbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the inbox did not start"
        time.sleep(0.02)
    yield Served(f"http://127.0.0.1:{port}", db_name, wire_uri)
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "the inbox did not stop"
    with MongoClient(wire_uri) as sync:
        sync.drop_database(db_name)


@pytest.fixture
async def agents(served: Served) -> AsyncIterator[OpenAIAgentsProvider]:
    """The agent service's side: pauses runs into the same database the inbox reads."""
    client = MongoDBClient(served.uri, served.db_name)
    yield OpenAIAgentsProvider(mongodb_client=client, registry=build_registry())
    await client.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _signed_in_page(browser: Browser, served: Served, token: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 860}, reduced_motion="reduce"
    )
    page = await context.new_page()
    await page.goto(served.url + "/")
    await expect(page).to_have_url(f"{served.url}/login?next=%2F")
    await page.get_by_label("Reviewer token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(served.url + "/")
    return page


async def _pause(agents: OpenAIAgentsProvider, request: str) -> AgentRunResult:
    run = await agents.execute_agent(AGENT_NAME, request, actor="release-bot")
    assert run.approval_id is not None
    return run


def _keep(shot: Path, name: str) -> None:
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("EAT_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / name)


async def test_reviewer_sees_a_new_approval_arrive_rejects_it_and_the_run_ends_with_the_message(
    served: Served, agents: OpenAIAgentsProvider, browser: Browser, tmp_path: Path
) -> None:
    both = await _pause(agents, "grant alice admin and deploy payments-api")
    await _pause(agents, "grant alice admin")
    page = await _signed_in_page(browser, served, ALICE)
    await expect(page.locator(f'tr[data-approval-id="{both.approval_id}"]')).to_be_visible()
    await expect(page.locator("#live")).to_have_attribute("data-state", "open")
    await page.evaluate("window.stillTheSamePage = true")

    run = await _pause(agents, "deploy payments-api")
    row = page.locator(f'tr[data-approval-id="{run.approval_id}"]')
    await expect(row).to_be_visible(timeout=10_000)
    assert await page.evaluate("window.stillTheSamePage") is True, "no reload happened"
    await expect(page.locator("#live")).to_have_text("1 new approval arrived.")
    await expect(page.locator("#count")).to_have_text("3")
    await page.set_viewport_size({"width": 1280, "height": 470})
    await page.screenshot(path=tmp_path / "list.png")
    await page.set_viewport_size({"width": 1280, "height": 860})
    _keep(tmp_path / "list.png", "inbox-list.png")

    # Keyboard only: j moves down to the new (third) row, Enter opens it, r jumps to the reason.
    for _ in range(3):
        await page.keyboard.press("j")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{served.url}/approvals/{run.approval_id}")
    await expect(page.get_by_text("Production deploy outside the release window")).to_be_visible()
    await expect(page.get_by_text("Deploy to staging first, then promote")).to_be_visible()
    await page.keyboard.press("r")
    await page.keyboard.type("Needs change ticket CHG-1234 first")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator(".flash.ok")).to_have_text(
        "Rejected; the agent will read your message."
    )
    await expect(page.locator("#record-status")).to_have_text("decided")

    await page.get_by_role("button", name="Resume the run now").click()
    await expect(page.locator("#record-status")).to_have_text("completed")
    await expect(page.locator("pre.output")).to_contain_text("Needs change ticket CHG-1234 first")
    record = await agents.store.get(str(run.approval_id))
    assert record.status.value == "completed"
    assert "Needs change ticket CHG-1234 first" in str(record.result.final_output)
    assert "deployed payments-api" not in str(record.result.final_output), "the tool never ran"

    await page.goto(f"{served.url}/approvals/{both.approval_id}")
    await page.get_by_label("Why reject? The agent reads this.").fill("Staging first, please")
    await page.screenshot(path=tmp_path / "detail.png", full_page=True)
    _keep(tmp_path / "detail.png", "inbox-detail.png")
    await page.context.close()


async def test_a_reviewer_without_the_role_cannot_approve_even_with_a_forged_form(
    served: Served, agents: OpenAIAgentsProvider, browser: Browser
) -> None:
    run = await _pause(agents, "grant alice admin")
    page = await _signed_in_page(browser, served, ALICE)
    await page.goto(f"{served.url}/approvals/{run.approval_id}")
    await expect(page.get_by_text("Read-only.")).to_be_visible()
    await expect(page.get_by_text("needs one of the roles: security")).to_be_visible()
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    decide = f"{served.url}/approvals/{run.approval_id}/decide"
    fields = {"call_id": run.pending_tool_calls[0].call_id, "verdict": "approved"}
    no_token = await page.request.post(decide, form=fields)
    assert no_token.status == 403
    assert "CSRF token is missing or wrong" in await no_token.text()
    token = await page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    with_token = await page.request.post(decide, form={**fields, "csrf_token": token})
    assert with_token.status == 403, "the server refuses a reviewer without the role"
    assert (await agents.store.get(str(run.approval_id))).status.value == "pending"
    await page.context.close()
