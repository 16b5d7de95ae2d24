"""``eat`` imports what the command it runs needs, and the lazy packages still export everything.

Each import check runs in a fresh interpreter: in this one the SDK is loaded long ago. Timings
are the benchmark's (``python -m bench.cli``); these tests check what is imported, never how
long it takes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pkgutil
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

import evolving_agents
from evolving_agents.cli.main import COMMANDS, load_command

PACKAGE = Path(evolving_agents.__file__).parent
SDK = ("agents", "openai")
COMMAND_MODULES = sorted({spec.split(":")[0] for spec, _ in COMMANDS.values()})


def _modules_after(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; what it printed last, and which modules it loaded."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    *output, modules = done.stdout.strip().splitlines()
    return {"output": "\n".join(output), "modules": set(json.loads(modules))}


def _lazy_packages() -> list[str]:
    """Every package whose ``__init__`` exports through an ``_EXPORTS`` table."""
    names = ["evolving_agents"]
    for info in pkgutil.walk_packages([str(PACKAGE)], "evolving_agents."):
        init = PACKAGE.joinpath(*info.name.split(".")[1:], "__init__.py")
        if info.ispkg and "_EXPORTS" in init.read_text(encoding="utf-8"):
            names.append(info.name)
    return names


def test_importing_the_cli_loads_neither_the_sdk_nor_any_command() -> None:
    loaded = _modules_after("import evolving_agents.cli.main")["modules"]
    assert isinstance(loaded, set)
    assert {*SDK, *COMMAND_MODULES} & loaded == set()


def test_eat_help_lists_every_command_without_importing_one() -> None:
    found = _modules_after(
        "from typer.testing import CliRunner\n"
        "from evolving_agents.cli.main import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)",
        {**os.environ, "COLUMNS": "200"},  # one line per command, unwrapped
    )
    loaded = found["modules"]
    assert isinstance(loaded, set)
    assert {*SDK, *COMMAND_MODULES, "pydantic_settings", "pymongo"} & loaded == set()
    for name, (_, summary) in COMMANDS.items():
        assert f"{name} " in str(found["output"]) and summary in str(found["output"])


def test_eat_approvals_list_does_not_import_the_sdk(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MONGODB_URI": "memory://",
        "EAT_CONFIG_DIR": str(tmp_path / "config"),
        "EAT_DATA_DIR": str(tmp_path / "data"),
        "EAT_STATE_SECRET": secrets.token_hex(32),
    }
    found = _modules_after(
        "from typer.testing import CliRunner\n"
        "from evolving_agents.cli.main import app\n"
        "result = CliRunner().invoke(app, ['approvals', 'list'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)",
        env,
    )
    assert "no pending approvals" in str(found["output"])
    loaded = found["modules"]
    assert isinstance(loaded, set)
    assert "evolving_agents.cli.approvals" in loaded
    assert set(SDK) & loaded == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_listed_line_is_the_commands_own_help(name: str) -> None:
    command = load_command(name)
    own = command.short_help or inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert COMMANDS[name][1] == " ".join(own.split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_loaded_command_has_no_completion_options_of_its_own(name: str) -> None:
    # The root turns completion off; a sub-app loaded on its own would otherwise add it back.
    options = {opt for param in load_command(name).params for opt in param.opts}
    assert options & {"--install-completion", "--show-completion"} == set()


@pytest.mark.parametrize("package", _lazy_packages())
def test_a_lazy_package_exports_every_name_it_lists(package: str) -> None:
    module = importlib.import_module(package)
    exports: dict[str, str] = module._EXPORTS
    assert set(module.__all__) - {"__version__"} == set(exports)
    for name, owner in exports.items():
        assert getattr(module, name) is getattr(importlib.import_module(owner), name), name
    assert set(exports) <= set(dir(module))


@pytest.mark.parametrize("package", _lazy_packages())
def test_what_type_checkers_see_is_what_a_lazy_package_exports(package: str) -> None:
    init = PACKAGE.joinpath(*package.split(".")[1:], "__init__.py")
    seen: dict[str, str] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for child in ast.walk(node):
                if isinstance(child, ast.ImportFrom) and child.module is not None:
                    seen |= {alias.asname or alias.name: child.module for alias in child.names}
    assert seen == importlib.import_module(package)._EXPORTS


def test_an_unknown_name_is_an_attribute_error_and_a_submodule_still_imports() -> None:
    import evolving_agents.approvals as approvals

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = approvals.Nope
    from evolving_agents.approvals import rules

    assert rules is sys.modules["evolving_agents.approvals.rules"]


def test_the_root_names_resolve_in_a_fresh_interpreter() -> None:
    found = _modules_after(
        "import evolving_agents\n"
        "from evolving_agents import MongoDBClient, OpenAIAgentsProvider, PendingApprovalStore\n"
        "missing = [n for n in evolving_agents.__all__ if not hasattr(evolving_agents, n)]\n"
        "print(missing)"
    )
    assert found["output"] == "[]"
