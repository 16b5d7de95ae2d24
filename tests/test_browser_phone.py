"""The inbox on a phone: real Chromium at 390 px, as ``test_browser.py`` drives it.

The queue is cards, nothing scrolls sideways (``document.documentElement.scrollWidth``), the
tab title counts the waiting approvals and follows the live rows, and the record page fits too.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from evolving_agents import OpenAIAgentsProvider
from tests.test_browser import (
    ALICE,
    Served,
    _keep,
    _pause,
    agents,
    browser,
    pytestmark,
    served,
)

__all__ = ["agents", "browser", "pytestmark", "served"]  # the fixtures, and the skip marks

PHONE = {"width": 390, "height": 844}


async def _phone_page(browser: Browser, served: Served) -> Page:
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    await page.goto(served.url + "/")
    await page.get_by_label("Reviewer token").fill(ALICE)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(served.url + "/")
    return page


async def _scroll_width(page: Page) -> int:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert isinstance(width, int)
    return width


_WIDE = """() => Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > 391
    || (e.getBoundingClientRect().left + e.scrollWidth > 391
        && getComputedStyle(e).overflowX === "visible"))
  .slice(0, 5).map((e) => e.tagName + "." + e.className + " " + e.getBoundingClientRect().right)"""


async def _fits(page: Page) -> None:
    """No horizontal scroll at 390 px; else the first elements that stick out."""
    width = await _scroll_width(page)
    assert width <= 390, f"{width} px wide: {await page.evaluate(_WIDE)}"


async def test_the_queue_reads_on_a_phone_as_cards_with_the_count_in_the_title(
    served: Served, agents: OpenAIAgentsProvider, browser: Browser, tmp_path: Path
) -> None:
    long_line = "Deploy payments-api 2.4.1 to production " + "x" * 200
    first = await _pause(agents, long_line)
    await _pause(agents, "grant alice admin and deploy payments-api")
    page = await _phone_page(browser, served)

    row = page.locator(f'tr[data-approval-id="{first.approval_id}"]')
    await expect(row).to_be_visible()
    await expect(page).to_have_title("(2) Queue · EAT review inbox")
    await _fits(page)
    # Cards: the header row is out of sight, each row a block with labelled cells.
    assert await page.locator("table.queue thead").evaluate("e => e.offsetHeight") <= 1
    assert await row.evaluate("e => getComputedStyle(e).display") == "block"
    label = await row.locator('td[data-label="Risk"]').evaluate(
        "e => getComputedStyle(e, '::before').content"
    )
    assert label == '"Risk"'
    box = await row.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    await expect(row.locator(".request-line")).to_contain_text("Deploy payments-api 2.4.1")
    await expect(row.locator(".actor")).to_have_text("release-bot")
    await page.screenshot(path=tmp_path / "phone.png", full_page=True)
    _keep(tmp_path / "phone.png", "inbox-phone.png")

    # A new approval arrives: the live rows refresh, and the title counts it.
    third = await _pause(agents, "deploy payments-api")
    await expect(page.locator(f'tr[data-approval-id="{third.approval_id}"]')).to_be_visible(
        timeout=10_000
    )
    await expect(page).to_have_title("(3) Queue · EAT review inbox")
    await _fits(page)

    await page.goto(f"{served.url}/approvals/{first.approval_id}")
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    await _fits(page)  # the record page too
    await page.context.close()


async def test_at_desktop_width_the_queue_stays_a_table(
    served: Served, agents: OpenAIAgentsProvider, browser: Browser
) -> None:
    run = await _pause(agents, "deploy payments-api")
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    await page.goto(served.url + "/")
    await page.get_by_label("Reviewer token").fill(ALICE)
    await page.get_by_role("button", name="Sign in").click()
    row = page.locator(f'tr[data-approval-id="{run.approval_id}"]')
    await expect(row).to_be_visible()
    assert await row.evaluate("e => getComputedStyle(e).display") == "table-row"
    await expect(page.locator("table.queue thead")).to_be_visible()
    await expect(page).to_have_title("(1) Queue · EAT review inbox")
    await context.close()
