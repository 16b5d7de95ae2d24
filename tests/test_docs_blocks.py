"""Every ```python block of README.md, docs/TUTORIAL.md and docs/ARCHITECTURE.md runs as written.

A document's blocks run in a fresh interpreter of their own, in an empty temporary folder that
is first on the import path, offline: no ``OPENAI_API_KEY``, the wire server as ``MONGODB_URI``,
``EAT_STATE_SECRET`` set. A block runs as a notebook cell does (top-level ``await`` works, on
one event loop for the document), each in a fresh ``__main__`` unless the markdown says
otherwise:

- A block (Python, TOML or YAML) whose first line is ``# path/name.ext`` is that file
  (``# myapp/agents.py``, ``# rules.toml``): it is written into the folder before any block
  runs, and not executed.
- ``<!-- docs-test: continues -->`` on the line before a block runs it in the namespace of the
  block before it: the next lines of one session (a tutorial's steps).
- ``<!-- docs-test: skip (why) -->`` on the line before a block does not run it. The reason is
  required, and skips are few (``MAX_SKIPS``): the point is that the docs run.

Markers are HTML comments, so a reader never sees them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import yaml

from evolving_agents import LocalRulePolicy, ReviewerDirectory

ROOT = Path(__file__).parent.parent
DOCUMENTS = ["README.md", "docs/TUTORIAL.md", "docs/ARCHITECTURE.md"]
MAX_SKIPS = 1

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
_MARKER = re.compile(r"<!-- docs-test: (skip|continues)(?: \((.+)\))? -->")
_FILE_LINE = re.compile(r"#\s*([\w./-]+\.(?:py|toml|ya?ml))\s*$")


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    language: str
    source: str
    file: str | None
    """The path it is written to, when its first line names one."""
    marker: str | None
    reason: str | None

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def blocks_of(document: str) -> list[Block]:
    text = (ROOT / document).read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        language, source = match.group(1), match.group(2)
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.fullmatch(before.strip())
        first = source.split("\n", 1)[0]
        named = _FILE_LINE.fullmatch(first) if language in {"python", "toml", "yaml"} else None
        found.append(
            Block(
                document=document,
                line=text.count("\n", 0, match.start()) + 2,
                language=language,
                source=source,
                file=named.group(1) if named else None,
                marker=marker.group(1) if marker else None,
                reason=marker.group(2) if marker else None,
            )
        )
    return found


def runnable(document: str) -> list[Block]:
    return [
        block
        for block in blocks_of(document)
        if block.language == "python" and block.file is None and block.marker != "skip"
    ]


# Runs in the document's interpreter: files first, then every runnable block, one result each.
RUNNER = r"""
import ast, asyncio, contextlib, io, json, sys, traceback, types
from pathlib import Path

blocks = json.loads(Path(sys.argv[1]).read_text())
for block in blocks:
    if block["file"]:
        path = Path(block["file"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block["source"])
loop = asyncio.new_event_loop()
namespace = None
results = []
for block in blocks:
    if block["file"] or block["language"] != "python" or block["marker"] == "skip":
        continue
    if block["marker"] != "continues" or namespace is None:
        # A fresh __main__ module, as a script or a notebook has: what the block defines is
        # importable by name (a run's context type is imported back when it resumes).
        module = types.ModuleType("__main__")
        sys.modules["__main__"] = module
        namespace = module.__dict__
    printed = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(printed):
            code = compile(block["source"], block["where"], "exec",
                           flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
            result = eval(code, namespace)
            if asyncio.iscoroutine(result):
                loop.run_until_complete(result)
    except BaseException:
        error = traceback.format_exc()
    results.append({"where": block["where"], "stdout": printed.getvalue(), "error": error})
Path(sys.argv[2]).write_text(json.dumps(results))
# The blocks leave clients open, as a notebook would; end their background tasks quietly.
pending = asyncio.all_tasks(loop)
for task in pending:
    task.cancel()
if pending:
    loop.run_until_complete(asyncio.wait(pending))
loop.close()
"""


def run_document(document: str, env: dict[str, str], folder: Path) -> dict[str, dict[str, str]]:
    blocks = [{**asdict(block), "where": block.where} for block in blocks_of(document)]
    (folder / "blocks.json").write_text(json.dumps(blocks))
    runner = folder.parent / f"{folder.name}-runner.py"
    runner.write_text(RUNNER)
    done = subprocess.run(
        [sys.executable, str(runner), str(folder / "blocks.json"), str(folder / "results.json")],
        cwd=folder,
        env={**env, "PYTHONPATH": f"{folder}:{env.get('PYTHONPATH', '')}"},
        capture_output=True,
        text=True,
        timeout=200,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((folder / "results.json").read_text())
    return {result["where"]: result for result in results}


@pytest.mark.wire
@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_python_block_runs_offline(
    document: str, wire_env: dict[str, str], tmp_path: Path
) -> None:
    env = {key: value for key, value in wire_env.items() if key != "OPENAI_API_KEY"}
    folder = tmp_path / "reader"
    folder.mkdir()
    expected = runnable(document)
    results = run_document(document, env, folder)
    assert [block.where for block in expected] == list(results), "every block ran, in order"
    failures = [
        f"{where}\n{result['stdout']}{result['error']}"
        for where, result in results.items()
        if result["error"] is not None
    ]
    assert failures == [], "\n\n".join(failures)
    for block in expected:
        for line in EXPECTED_OUTPUT.get((document, _heading_of(block)), []):
            assert line in results[block.where]["stdout"], (block.where, line)


# What some blocks print, by the heading they sit under: what their comments say they print.
EXPECTED_OUTPUT: dict[tuple[str, str], list[str]] = {
    ("README.md", "## Decision first: the `bighub-openai` surface, durable"): [
        "approval_required\n",
        "review Grant scoped Okta admin access for 2h instead of 48h\n",
        "executed\n",
    ],
    ("README.md", "## Configuring EAT with the OpenAI provider and a reviewer"): [
        "awaiting_openai_tool_approval person\n",
    ],
    ("docs/TUTORIAL.md", "## 3. Pause in one process"): [
        "awaiting_openai_tool_approval apr_",
    ],
    ("docs/TUTORIAL.md", "## 4. Decide and resume from anywhere"): [
        "success Done: granted alice for 48h\n",
    ],
    ("docs/TUTORIAL.md", "## 5. Let rules and an AI reviewer take the easy ones"): [
        "person\n",
        "success ['scaled web in staging to 5 replicas', '48h is too long",
    ],
}


def _heading_of(block: Block) -> str:
    """The markdown heading the block sits under (lines inside fences are not headings)."""
    text = (ROOT / block.document).read_text(encoding="utf-8")
    heading, fenced = "", False
    for line in text.splitlines()[: block.line - 1]:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#+ ", line):
            heading = line
    return heading


def test_blocks_are_found_and_skips_are_rare_and_say_why() -> None:
    every = [block for document in DOCUMENTS for block in blocks_of(document)]
    python = [block for block in every if block.language == "python"]
    assert len(python) >= 8
    skipped = [block for block in every if block.marker == "skip"]
    assert all(block.reason for block in skipped), [block.where for block in skipped]
    assert len(skipped) <= MAX_SKIPS, [block.where for block in skipped]
    # Every expectation names a block that runs (a renamed heading must not silence it).
    headings = {(block.document, _heading_of(block)) for d in DOCUMENTS for block in runnable(d)}
    assert set(EXPECTED_OUTPUT) <= headings
    # A marker that sits before nothing it can apply to is a typo.
    for document in DOCUMENTS:
        text = (ROOT / document).read_text(encoding="utf-8")
        assert text.count("<!-- docs-test:") == sum(
            1 for block in blocks_of(document) if block.marker is not None
        ), document


def test_the_readme_rules_files_load_and_say_the_same_in_toml_and_yaml(tmp_path: Path) -> None:
    files = {block.file: block for block in blocks_of("README.md") if block.file}
    assert {"rules.toml", "rules.yaml"} <= set(files)
    loaded = []
    for name in ("rules.toml", "rules.yaml"):
        (tmp_path / name).write_text(files[name].source, encoding="utf-8")
        policy = LocalRulePolicy.from_file(tmp_path / name)
        loaded.append([rule.model_dump() for rule in policy.rules])
    toml_rules, yaml_rules = loaded
    assert toml_rules == yaml_rules
    assert len(toml_rules) >= 3


def test_the_readme_reviewers_entry_is_one_the_inbox_reads(tmp_path: Path) -> None:
    [block] = [
        block
        for block in blocks_of("README.md")
        if block.language == "toml" and block.source.startswith("# reviewers.toml")
    ]
    path = tmp_path / "reviewers.toml"
    path.write_text(block.source, encoding="utf-8")
    directory = ReviewerDirectory.from_file(path)
    [(digest, alice)] = list(directory.digests())
    assert alice.name == "alice" and set(alice.roles) == {"sre", "security"}
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_the_readme_notification_examples_are_what_the_code_reads(tmp_path: Path) -> None:
    from evolving_agents.notify.routing import NotifyRoutes

    files = {block.file: block for block in blocks_of("README.md") if block.file}
    path = tmp_path / "notify.toml"
    path.write_text(files["notify.toml"].source, encoding="utf-8")
    routes = NotifyRoutes.from_file(path)
    assert routes.escalates, "the example escalates and warns"

    [entry] = [
        block
        for block in blocks_of("README.md")
        if block.language == "toml" and "slack_user_id" in block.source
    ]
    directory = ReviewerDirectory.from_data(tomllib.loads(entry.source), source="README")
    alice = directory.by_slack_user("U024BE7LH")
    assert alice is not None and alice.name == "alice"
    [contact] = directory.contacts("sre")
    assert contact.email == "alice@example.com"

    [manifest] = [block for block in blocks_of("README.md") if "request_url:" in block.source]
    app = yaml.safe_load(manifest.source)
    assert app["settings"]["interactivity"]["request_url"].endswith("/slack/actions")
    assert "chat:write" in app["oauth_config"]["scopes"]["bot"]
