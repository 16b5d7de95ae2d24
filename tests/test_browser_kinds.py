"""A shell call and a patch in a real browser: the commands as a script, the diff in colour.

Headless Debian Chromium driven by Playwright, the inbox under uvicorn on 127.0.0.1 against the
wire server, as in ``test_browser.py``; the records are paused runs of ``tests.apps.kinds_app``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from pymongo import MongoClient

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import PendingApproval
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web import create_app
from tests.apps import kinds_app
from tests.test_browser import (
    ALICE,
    CHROMIUM,
    CHROMIUM_ARGS,
    Served,
    _free_port,
    _signed_in_page,
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
    registry = AgentRegistry()
    registry.register(kinds_app.ops_agent([]))
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    app = create_app(provider, ReviewerDirectory.of([(ALICE, "alice", ["sre"])]))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
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
    with MongoClient(wire_uri) as sync:
        sync.drop_database(db_name)


@pytest.fixture
async def store(served: Served) -> AsyncIterator[PendingApprovalStore]:
    """The agent service's side: stores paused runs in the database the inbox reads."""
    client = MongoDBClient(served.uri, served.db_name)
    yield PendingApprovalStore(client)
    await client.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _background(page: Page, selector: str) -> str:
    value: str = await page.locator(selector).first.evaluate(
        "element => getComputedStyle(element).backgroundColor"
    )
    return value


async def test_a_reviewer_reads_the_shell_commands_and_the_coloured_diff_before_deciding(
    served: Served, store: PendingApprovalStore, browser: Browser, tmp_path: Path
) -> None:
    shell: PendingApproval = await kinds_app.pause(
        store, [kinds_app.shell_call()], "restart the payments api"
    )
    patch: PendingApproval = await kinds_app.pause(
        store, [kinds_app.patch_call()], "turn debug off in payments"
    )
    page = await _signed_in_page(browser, served, ALICE)

    await page.goto(f"{served.url}/approvals/{shell.id}")
    script = page.locator("#call-sh1 pre.script")
    await expect(script).to_be_visible()
    await expect(script).to_have_text("\n".join(kinds_app.COMMANDS))
    await expect(page.locator("#call-sh1 .kind")).to_have_text("shell")
    await expect(page.get_by_text("Approve with edited arguments")).to_have_count(0)
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    await page.screenshot(path=tmp_path / "shell.png", full_page=True)

    await page.goto(f"{served.url}/approvals/{patch.id}")
    await expect(page.locator("#call-ap1 .patch-path")).to_contain_text(kinds_app.PATCH_PATH)
    removed = page.locator("#call-ap1 .d-remove")
    added = page.locator("#call-ap1 .d-add")
    await expect(removed).to_have_text("-DEBUG = True")
    await expect(added).to_have_text("+DEBUG = False")
    await expect(removed).to_be_visible()
    await expect(added).to_be_visible()
    context_colour = await _background(page, "#call-ap1 .d-context")
    added_colour = await _background(page, "#call-ap1 .d-add")
    removed_colour = await _background(page, "#call-ap1 .d-remove")
    assert len({context_colour, added_colour, removed_colour}) == 3, "each line kind has a colour"
    assert added_colour != "rgba(0, 0, 0, 0)" and removed_colour != "rgba(0, 0, 0, 0)"
    above = await removed.bounding_box()
    below = await added.bounding_box()
    assert above is not None and below is not None and below["y"] > above["y"], "one per line"
    await page.screenshot(path=tmp_path / "patch.png", full_page=True)
    await page.context.close()
