"""The package's floors: each folder imports only from its own floor or the floors below it.

The table is the one drawn in ``docs/ARCHITECTURE.md``. Lazy imports inside functions and
imports under ``TYPE_CHECKING`` count: an upward arrow is an upward arrow however late it runs.
The aliases that keep old import paths working are not floors and are checked separately.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "evolving_agents"

# Lowest first. A module may import from its own floor and from any floor below it.
FLOORS: dict[str, int] = {
    "errors": 0,
    "config": 0,
    "version": 0,
    "storage": 1,
    "telemetry": 1,
    "decisions": 2,
    "approvals": 3,
    "plans": 4,
    "notify": 5,
    "adapters": 6,
    "providers": 7,
    "reviewers": 8,
    "present": 9,
    "core": 10,
    "actions": 10,
    "tools": 10,
    "testing": 11,
    "demo": 11,
    "web": 12,
    "cli": 13,
}

# Old import paths, kept working as aliases of the module that moved (the same module object).
ALIASES: dict[str, str] = {
    "evolving_agents.core.mongodb_client": "evolving_agents.storage.mongodb_client",
    "evolving_agents.core.embedded": "evolving_agents.storage.embedded",
    "evolving_agents.core.agent_registry": "evolving_agents.providers.agent_registry",
    "evolving_agents.core.intent_review": "evolving_agents.plans.intent_plans",
    "evolving_agents.agents.intent_review_agent": "evolving_agents.reviewers.ai",
    "evolving_agents.reviewer_auth": "evolving_agents.reviewers.directory",
    "evolving_agents.approvals.edits": "evolving_agents.adapters.edits",
    "evolving_agents.approvals.reviewers": "evolving_agents.approvals.rules",
    "evolving_agents.approvals.errors": "evolving_agents.errors",
    "evolving_agents.decisions.fake_bighub": "evolving_agents.testing.fake_bighub",
    "evolving_agents.web.present": "evolving_agents.present.views",
    "evolving_agents.web.reveal": "evolving_agents.present.reveal",
    "evolving_agents.webhooks.events": "evolving_agents.notify.events",
    "evolving_agents.webhooks.feed": "evolving_agents.notify.feed",
    "evolving_agents.webhooks.outbox": "evolving_agents.notify.outbox",
    "evolving_agents.webhooks.service": "evolving_agents.notify.service",
}
ALIAS_PACKAGES = {"evolving_agents.agents": "reviewers", "evolving_agents.webhooks": "notify"}
TOP = {"__init__", "__main__"}  # the root re-exports the contract; ``python -m`` runs the CLI


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source_of(module: str) -> Path | None:
    relative = Path(*module.split(".")[1:])
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if module.startswith("evolving_agents.") and candidate.is_file():
            return candidate
    return None


def _floor_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # ``from evolving_agents.web import routes`` imports the module ``web.routes``.
                submodule = f"{node.module}.{alias.name}"
                is_module = _source_of(submodule) is not None
                found.append((node.lineno, submodule if is_module else node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "evolving_agents"]


def _layered_modules() -> list[Path]:
    skip = set(ALIASES) | set(ALIAS_PACKAGES)
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if _module_name(path) not in skip
        and _module_name(path) != "evolving_agents"
        and _floor_of(_module_name(path)) not in TOP
    ]


def test_every_folder_and_top_module_has_a_floor() -> None:
    names = {_floor_of(_module_name(path)) for path in _layered_modules()}
    assert names - FLOORS.keys() == set(), "a new folder needs a floor in FLOORS and ARCHITECTURE"


def test_imports_only_point_down() -> None:
    upward: list[str] = []
    for path in _layered_modules():
        module = _module_name(path)
        here = FLOORS[_floor_of(module) or ""]
        for line, target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            floor = _floor_of(target)
            if floor is None:
                upward.append(f"{module}:{line} imports the package root")
                continue
            floor = ALIAS_PACKAGES.get(target, floor)
            if target in ALIASES:
                upward.append(f"{module}:{line} imports the old path {target}")
            elif FLOORS.get(floor, -1) > here:
                upward.append(f"{module}:{line} -> {target} (floor {FLOORS[floor]} > {here})")
    assert upward == []


def test_only_the_providers_floor_runs_agents() -> None:
    runners: list[str] = []
    for path in _layered_modules():
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "agents"
            ):
                names = {alias.name for alias in node.names}
                if "Runner" in names and _floor_of(module) != "providers":
                    runners.append(f"{module}:{node.lineno}")
    assert runners == []


def test_the_web_folder_has_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in _layered_modules():
        module = _module_name(path)
        if _floor_of(module) != "web":
            continue
        targets = {t for _, t in _imports(ast.parse(path.read_text(encoding="utf-8")))}
        graph[module] = {t for t in targets if _floor_of(t) == "web" and t != module}

    seen: set[str] = set()
    path_stack: list[str] = []

    def visit(node: str) -> None:
        if node in path_stack:
            cycle = [*path_stack[path_stack.index(node) :], node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in seen:
            return
        path_stack.append(node)
        for target in sorted(graph.get(node, ())):
            visit(target)
        path_stack.pop()
        seen.add(node)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize(("old", "new"), sorted(ALIASES.items()))
def test_an_old_deep_path_is_the_same_module(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)


# The deep imports today's README, TUTORIAL and examples were written with, before the
# re-layout. They keep importing; new docs import from the package root.
OLD_README_IMPORTS = [
    "from evolving_agents.agents import IntentReviewAgent",
    "from evolving_agents.core.system_agent import SystemAgent",
    "from evolving_agents.decisions.local_rules import LocalRulePolicy",
    "from evolving_agents.webhooks import verify_signature",
    "from evolving_agents.core.mongodb_client import MongoDBClient",
    "from evolving_agents.core import AgentRegistry, MongoDBClient",
    "from evolving_agents.reviewer_auth import ReviewerDirectory, token_digest",
    "from evolving_agents.decisions.fake_bighub import FakeBighubServer",
    "from evolving_agents.core.intent_review import IntentPlan, IntentPlanStore",
    "from evolving_agents.tools.intent_review.approve_plan_tool import ApprovePlanTool",
    "from evolving_agents.tools.intent_review.openai_tool_approval_tool import "
    "OpenAIToolApprovalTool",
    "from evolving_agents.approvals.errors import ApprovalConflict, NotAuthorized",
    "from evolving_agents.approvals.reviewers import Reviewer",
    "from evolving_agents.webhooks.service import WebhookService",
]


@pytest.mark.parametrize("statement", OLD_README_IMPORTS)
def test_old_deep_imports_still_work(statement: str) -> None:
    # A fresh interpreter, so no earlier import in this session hides a broken alias.
    done = subprocess.run(
        [sys.executable, "-c", statement], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_docs_import_only_from_the_package_root() -> None:
    root = PACKAGE.parent
    deep: list[str] = []
    for doc in [root / "README.md", root / "docs" / "TUTORIAL.md"]:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("from evolving_agents.") or stripped.startswith(
                "import evolving_agents."
            ):
                deep.append(f"{doc.name}:{number}: {stripped}")
    assert deep == []


def test_every_public_name_resolves_from_the_root() -> None:
    import evolving_agents

    missing = [name for name in evolving_agents.__all__ if not hasattr(evolving_agents, name)]
    assert missing == []
    for name in ("SystemAgent", "IntentReviewAgent", "LocalRulePolicy", "DecisionProvider"):
        assert name in evolving_agents.__all__
    for name in ("IntentPlan", "ApprovePlanTool", "OpenAIToolApprovalTool", "verify_signature"):
        assert name in evolving_agents.__all__


def test_what_type_checkers_see_is_what_the_root_exports() -> None:
    source = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    checked: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for child in ast.walk(node):
                if isinstance(child, ast.ImportFrom):
                    checked.update(alias.asname or alias.name for alias in child.names)
    import evolving_agents

    assert checked == set(evolving_agents.__all__) - {"__version__"}


def test_importing_the_package_does_not_load_the_agents_sdk() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, evolving_agents; print('agents' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"


def test_the_literal_all_is_the_export_table() -> None:
    import evolving_agents

    exports = evolving_agents._EXPORTS  # type: ignore[attr-defined]
    assert sorted(evolving_agents.__all__) == sorted(["__version__", *exports])
    assert len(set(evolving_agents.__all__)) == len(evolving_agents.__all__)


# -- size: a module past ~400 lines says why; no function past ~50 -------------------------

MODULE_LINES = 420  # "about 400": a little over is within it
FUNCTION_LINES = 50  # the body, docstring left out


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def test_a_module_over_about_400_lines_says_why_at_its_top() -> None:
    silent = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) <= MODULE_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "Size:" not in doc:
            silent.append(f"{path.relative_to(PACKAGE.parent)} ({len(text.splitlines())} lines)")
    assert silent == [], "split them, or say why at the top ('Size: ...'): " + ", ".join(silent)


def test_no_function_is_over_about_50_lines() -> None:
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            first = node.body[0]
            has_doc = isinstance(first, ast.Expr) and isinstance(
                getattr(first, "value", None), ast.Constant
            )
            start = (first.end_lineno or first.lineno) + 1 if has_doc else first.lineno
            length = (node.end_lineno or node.lineno) - start + 1
            if length > FUNCTION_LINES:
                long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert long == [], "functions over ~50 lines: " + ", ".join(long)
