"""The inbox shows shell commands as a script and a patch as a coloured diff, over HTTP.

The app runs in Starlette's TestClient against memory:// and the wire server; records are paused
runs of ``tests.apps.kinds_app`` stored through ``PendingApprovalStore.create``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from agents.items import TResponseOutputItem
from pymongo import MongoClient
from starlette.testclient import TestClient

from evolving_agents import AgentRegistry, MongoDBClient, OpenAIAgentsProvider
from evolving_agents.approvals.models import PendingApproval
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web import create_app
from tests.apps import kinds_app

ALICE = "alice-token-0123456789"
SECRET = "inbox-test-secret-0123456789"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Inbox:
    http: TestClient
    provider: OpenAIAgentsProvider

    def pause(self, outputs: list[TResponseOutputItem], request: str) -> PendingApproval:
        record: PendingApproval = self.http.portal.call(
            lambda: kinds_app.pause(self.provider.store, outputs, request)
        )
        return record

    def sign_in(self) -> None:
        page = self.http.get("/login")
        match = _CSRF.search(page.text)
        assert match is not None
        response = self.http.post(
            "/login",
            data={"token": ALICE, "csrf_token": match.group(1), "next": "/"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text


@pytest.fixture(params=["memory", "wire"])
def inbox(request: pytest.FixtureRequest) -> Iterator[Inbox]:
    db_name = f"eat_web_{uuid.uuid4().hex[:8]}"
    uri = "memory://" if request.param == "memory" else request.getfixturevalue("wire_uri")
    client = MongoDBClient(uri, db_name)
    registry = AgentRegistry()
    registry.register(kinds_app.ops_agent([]))
    provider = OpenAIAgentsProvider(mongodb_client=client, registry=registry)
    reviewers = ReviewerDirectory.of([(ALICE, "alice", ["sre"])])
    app = create_app(provider, reviewers, session_secret=SECRET, poll_interval=0.1)
    with TestClient(app, base_url="http://127.0.0.1:8765") as http:
        yield Inbox(http, provider)
        http.portal.call(client.close)
    if request.param == "wire":
        with MongoClient(uri) as sync:
            sync.drop_database(db_name)


def _section(html: str, call_id: str) -> str:
    start = html.index(f'id="call-{call_id}"')
    end = html.find('<section class="card call"', start)
    return html[start : end if end != -1 else len(html)]


def test_the_detail_page_shows_commands_a_coloured_diff_and_edits_only_function_calls(
    inbox: Inbox,
) -> None:
    outputs = [kinds_app.shell_call(), kinds_app.patch_call(), kinds_app.page_call()]
    record = inbox.pause(outputs, "restart payments, turn debug off, tell on-call")
    inbox.sign_in()
    page = inbox.http.get(f"/approvals/{record.id}")
    assert page.status_code == 200

    shell = _section(page.text, "sh1")
    script = "\n".join(kinds_app.COMMANDS)
    assert f'<pre class="script" tabindex="0">{script}</pre>' in shell
    assert "timeout_ms 60000" in shell and "kind-shell" in shell
    assert 'name="edited_arguments"' not in shell, "a shell call offers no edit form"

    patch = _section(page.text, "ap1")
    assert f'<span class="mono">{kinds_app.PATCH_PATH}</span>' in patch
    assert '<span class="d-hunk">@@ -1,3 +1,3 @@</span>' in patch
    assert '<span class="d-remove">-DEBUG = True</span>' in patch
    assert '<span class="d-add">+DEBUG = False</span>' in patch
    assert '<span class="d-context"> import os</span>' in patch
    assert 'name="edited_arguments"' not in patch

    function = _section(page.text, "fn1")
    assert 'name="edited_arguments"' in function, "a function call can still be edited"
    assert "j-key" in function

    queue = inbox.http.get("/")
    row = queue.text[queue.text.index(f'data-approval-id="{record.id}"') :]
    assert '<span class="tag kind">shell</span>' in row
    assert '<span class="tag kind">patch</span>' in row


def test_commands_and_diffs_are_escaped_never_rendered_as_html(inbox: Inbox) -> None:
    hostile = "echo '<script>alert(1)</script>' > /srv/www/index.html"
    record = inbox.pause([kinds_app.shell_call(commands=[hostile])], "write the page")
    inbox.sign_in()
    page = inbox.http.get(f"/approvals/{record.id}").text
    assert "<script>alert(1)</script>" not in page
    assert "echo &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39; &gt; /srv/www/index.html" in page
