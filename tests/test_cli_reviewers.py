"""``eat reviewers add``: the token it prints once signs in with the entry it prints.

Each entry is put in a reviewers file and read back with the project's own loader
(``ReviewerDirectory.from_file``, what ``eat inbox`` reads ``EAT_REVIEWERS_FILE`` with), and
the inbox itself signs the token in.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from starlette.testclient import TestClient
from typer.testing import CliRunner

from evolving_agents import MongoDBClient
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.cli.common import ExitCode
from evolving_agents.cli.main import app
from evolving_agents.reviewers.directory import ReviewerDirectory
from evolving_agents.web.app import create_app


def _add(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["reviewers", "add", *args])
    return result.exit_code, result.stdout, result.stderr


def _printed(out: str) -> tuple[str, str]:
    """The token and the reviewers-file entry, as a person copies them off the screen."""
    [token] = re.findall(r"^    (eat_\S+)$", out, flags=re.MULTILINE)
    entry = out[out.index("[[reviewers]]") :]
    return token, entry


def test_the_printed_entry_put_in_a_file_signs_the_printed_token_in(tmp_path: Path) -> None:
    code, out, _ = _add("alice", "--role", "sre", "--role", "security")
    assert code == 0, out
    token, entry = _printed(out)
    reviewers = tmp_path / "reviewers.toml"
    reviewers.write_text(entry, encoding="utf-8")

    directory = ReviewerDirectory.from_file(reviewers)

    alice = directory.authenticate(token)
    assert alice is not None and alice.name == "alice"
    assert alice.roles == frozenset({"sre", "security"})
    assert token not in reviewers.read_text(), "the file keeps the hash, never the token"
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert f'token_sha256 = "{digest}"' in entry
    assert directory.authenticate(token + "x") is None
    # What `echo TOKEN | sha256sum` gives hashes a newline too: it signs nobody in.
    echoed = hashlib.sha256((token + "\n").encode()).hexdigest()
    assert directory.by_digest(echoed) is None


def test_each_token_is_new_and_a_name_with_quotes_stays_itself(tmp_path: Path) -> None:
    first = _printed(_add('o"brien\\ops')[1])
    second = _printed(_add('o"brien\\ops')[1])
    assert first[0] != second[0]
    reviewers = tmp_path / "reviewers.toml"
    reviewers.write_text(first[1] + "\n" + second[1], encoding="utf-8")

    directory = ReviewerDirectory.from_file(reviewers)

    for token, _ in (first, second):
        signed_in = directory.authenticate(token)
        assert signed_in is not None and signed_in.name == 'o"brien\\ops'


def test_file_appends_the_entry_and_the_inbox_signs_the_token_in(tmp_path: Path) -> None:
    reviewers = tmp_path / "reviewers.toml"
    code, out, _ = _add("bob", "--role", "sre", "--file", str(reviewers), "--json")
    assert code == 0, out
    added = json.loads(out)
    code, out, _ = _add("carol", "--file", str(reviewers), "--json")
    assert code == 0, out
    also = json.loads(out)

    directory = ReviewerDirectory.from_file(reviewers)
    assert len(directory) == 2
    assert reviewers.read_text() == added["entry"] + "\n" + also["entry"]
    assert added["token_sha256"] == hashlib.sha256(added["token"].encode()).hexdigest()

    store = PendingApprovalStore(MongoDBClient("memory://", "eat_reviewers_add"))
    web = create_app(store, directory, session_secret="reviewers-test-secret-0123456789")
    with TestClient(web, base_url="http://127.0.0.1:8765") as http:

        def sign_in(token: str) -> int:
            page = http.get("/login")
            csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            data = {"token": token, "csrf_token": csrf, "next": "/"}
            return http.post("/login", data=data, follow_redirects=False).status_code

        assert sign_in(added["token"][:-1]) != 303, "a token not in the file is refused"
        assert sign_in(added["token"]) == 303
        assert "bob" in http.get("/").text


def test_a_file_the_inbox_cannot_read_is_not_appended_to(tmp_path: Path) -> None:
    broken = tmp_path / "reviewers.toml"
    broken.write_text("[[reviewers]\nname = ", encoding="utf-8")

    code, _, err = _add("dave", "--file", str(broken))

    assert code == ExitCode.CONFIG
    assert f"reviewers file {broken}" in err
    assert broken.read_text() == "[[reviewers]\nname = ", "left as it was"
    json_file = tmp_path / "reviewers.json"
    code, _, err = _add("dave", "--file", str(json_file))
    assert code == ExitCode.USAGE and "a JSON reviewers file is not appended to" in err
    assert not json_file.exists()
    assert _add("  ")[0] == ExitCode.USAGE
