"""Approving the decision layer's suggestion in a real browser, then the run uses it, once.

Headless Debian Chromium driven by Playwright, the inbox under uvicorn on 127.0.0.1 against the
wire server, as in ``test_browser.py``; the agent is ``test_suggestions_surfaces``' release
agent, whose decision layer suggests a narrower, shorter grant in full.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright, expect
from pymongo import MongoClient

from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import arguments_digest
from evolving_agents.approvals.suggestions import SUGGESTION_APPLIED
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web import create_app
from tests.test_browser import (
    ALICE,
    BOB,
    CHROMIUM,
    CHROMIUM_ARGS,
    Served,
    _free_port,
    _keep,
    _signed_in_page,
)
from tests.test_suggestions_surfaces import (
    AGENT,
    BETTER_ACTION,
    RAN,
    suggested,
    suggesting_registry,
)

pytestmark = [
    pytest.mark.wire,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]


@pytest.fixture
def served(wire_uri: str) -> Iterator[Served]:
    db_name = f"eat_browser_{uuid.uuid4().hex[:8]}"
    client = MongoDBClient(wire_uri, db_name)  # connects inside the server's loop
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=suggesting_registry())
    reviewers = ReviewerDirectory.of([(ALICE, "alice", ["sre"]), (BOB, "bob", ["security"])])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(provider, reviewers, poll_interval=0.2),
            host="127.0.0.1",
            port=_free_port(),
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, name="inbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the inbox did not start"
        time.sleep(0.02)
    yield Served(f"http://127.0.0.1:{server.config.port}", db_name, wire_uri)
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "the inbox did not stop"
    sync: MongoClient[dict[str, Any]]
    with MongoClient(wire_uri) as sync:
        sync.drop_database(db_name)


@pytest.fixture
async def agents(served: Served) -> AsyncIterator[OpenAIAgentsProvider]:
    """The agent service's side: pauses and resumes runs in the database the inbox reads."""
    client = MongoDBClient(served.uri, served.db_name)
    yield OpenAIAgentsProvider(mongodb_client=client, registry=suggesting_registry())
    await client.close()


@pytest.fixture
def tool_runs() -> Iterator[list[dict[str, Any]]]:
    """Every run of the tool body in this process (the inbox runs in a thread of it)."""
    RAN.clear()
    yield RAN
    RAN.clear()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def test_a_reviewer_sees_the_suggested_diff_approves_it_and_the_run_grants_2h_once(
    served: Served,
    agents: OpenAIAgentsProvider,
    browser: Browser,
    tool_runs: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    run = await agents.execute_agent(AGENT, "grant alice", actor="release-bot")
    assert run.approval_id is not None
    page = await _signed_in_page(browser, served, BOB)
    await page.goto(f"{served.url}/approvals/{run.approval_id}")

    await expect(page.locator(".signal .better")).to_have_text(BETTER_ACTION)
    diff = page.locator(".suggestion table.arg-diff tbody tr")
    await expect(diff).to_have_count(2)
    await expect(diff.nth(0).locator("td")).to_have_text(
        ["role", '"Super Administrator"', '"Helpdesk Administrator"']
    )
    await expect(diff.nth(1).locator("td")).to_have_text(["hours", "48", "2"])
    approve = page.get_by_role("button", name="Approve the suggestion")
    await expect(approve).to_be_visible()
    await page.screenshot(path=tmp_path / "suggestion.png", full_page=True)
    _keep(tmp_path / "suggestion.png", "inbox-suggestion.png")

    await approve.click()
    await expect(page).to_have_url(f"{served.url}/approvals/{run.approval_id}?done=suggested")
    await expect(page.locator(".flash.ok")).to_have_text(
        "Approved with the decision layer's suggested arguments."
    )
    await expect(page.locator("#record-status")).to_have_text("decided")
    await expect(page.get_by_text("suggestion applied")).to_be_visible()
    await expect(page.locator(".suggestion")).to_have_count(0)
    applied = page.locator(".decision ~ table.arg-diff tbody tr")
    await expect(applied).to_have_count(2)
    await expect(applied.nth(1).locator("td")).to_have_text(["hours", "48", "2"])
    await expect(page.get_by_role("button", name="Approve the suggestion")).to_have_count(0)

    record = await agents.store.get(str(run.approval_id))
    decision = record.tool_calls[0].decision
    assert decision is not None and decision.reviewer == "bob"
    assert decision.edited_arguments == suggested("alice")
    assert decision.edited_arguments_sha256 == arguments_digest(suggested("alice"))
    assert decision.message == SUGGESTION_APPLIED

    done = await agents.resume_agent(str(run.approval_id))
    assert done.status.value == "success", done.error
    assert tool_runs == [suggested("alice")], "the tool body ran once, with the suggested arguments"
    assert "granted alice@example.com Helpdesk Administrator for 2h" in str(done.final_output)
    await page.reload()
    await expect(page.locator("#record-status")).to_have_text("completed")
    await expect(page.locator(".outcome")).to_contain_text(
        "ran: granted alice@example.com Helpdesk Administrator for 2h"
    )
    await page.screenshot(path=tmp_path / "applied.png", full_page=True)
    await page.context.close()
