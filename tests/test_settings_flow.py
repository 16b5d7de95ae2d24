"""Settings are read once, where a program starts, and passed down.

The scan: no module of the package reads ``os.environ`` / ``os.getenv`` or builds a settings
object (``Settings()``, ``WebhookSettings()``, ``BighubSettings()``: each reads the
environment when built) except the entry points listed below, each with why it may. The
scenarios: what an entry point built is what the layers below it use, even after the
environment changed.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

import evolving_agents.config as config
from evolving_agents import MongoDBClient, OpenAIAgentsProvider
from evolving_agents.config import Settings, WebhookSettings
from evolving_agents.core.system_agent import SystemAgent
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify import WebhookService, configured_sinks
from evolving_agents.providers.registry import ProviderRegistry

PACKAGE = Path(__file__).resolve().parent.parent / "evolving_agents"

# Where reading the environment is the point: a program's first line, or a process boundary.
ENTRY_POINTS: dict[str, str] = {
    # Every ``eat`` command is an entry point: it builds Settings once and passes them down.
    "evolving_agents.cli.*": "the eat commands",
    # The user-facing constructor a program starts with; given settings=, it reads nothing.
    "evolving_agents.storage.mongodb_client:MongoDBClient.__init__": "MongoDBClient()",
    # The embedded server's child process inherits this process's environment; no setting
    # is read from it.
    "evolving_agents.storage.embedded_process:spawn": "the child's environment",
    # ``*_from_env``: the thin wrappers whose name says they read the environment, once.
    "evolving_agents.notify.service:start_webhooks_from_env": "start_webhooks_from_env()",
    "evolving_agents.decisions.bighub.provider:BighubDecisionProvider.from_env": "from_env()",
    "evolving_agents.reviewers.directory:ReviewerDirectory.from_env": "from_env()",
    # BighubDecisionProvider() with neither api_key nor settings: a program's first line.
    "evolving_agents.decisions.bighub.provider:BighubDecisionProvider.__init__": "the class",
    # IntentReviewAgent() with neither model= nor settings=: a program's first line.
    "evolving_agents.reviewers.ai:_resolve_model": "IntentReviewAgent()",
    # create_app(provider, reviewers) without settings=: the inbox's own entry point, read
    # when the app is built (a test sets EAT_WEB_SECRET after building its client).
    "evolving_agents.web.app:create_app": "create_app()",
    # OpenAIAgentsProvider() with neither a client nor settings=: a program's first line.
    "evolving_agents.providers.openai_agents_provider:OpenAIAgentsProvider.__init__": "the class",
    # StateCodec.from_settings() with nothing: a program building its own codec; the package
    # itself always passes the client's settings.
    "evolving_agents.approvals.codec:StateCodec.from_settings": "StateCodec.from_settings()",
    # DecisionAgent() with neither a client nor settings=: a program's first line, read when
    # the agent is first built (its first run), once.
    "evolving_agents.actions.agent:AsyncDecisionAgent._current_settings": "DecisionAgent()",
    # ``eat --app evolving_agents.demo:build_registry`` calls it with no arguments.
    "evolving_agents.demo.scenario:build_registry": "the demo's --app entry",
}

_SETTINGS_CLASSES = frozenset(
    name
    for name, value in vars(config).items()
    if inspect.isclass(value)
    and issubclass(value, BaseSettings)
    and value.__module__ == config.__name__
)
_ENVIRONMENT = frozenset({"environ", "environb", "getenv", "putenv", "unsetenv"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class _Readers(ast.NodeVisitor):
    """Collects ``qualname: line`` of every environment read and settings construction."""

    def __init__(self) -> None:
        self.scope: list[str] = []
        self.found: list[tuple[str, int, str]] = []

    def _note(self, node: ast.AST, what: str) -> None:
        self.found.append((".".join(self.scope), getattr(node, "lineno", 0), what))

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _enter

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in _ENVIRONMENT:
            self._note(node, f"os.{node.attr}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "os" and any(alias.name in _ENVIRONMENT for alias in node.names):
            self._note(node, "from os import environ")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in _SETTINGS_CLASSES:
            self._note(node, f"{name}()")
        self.generic_visit(node)


def _environment_readers() -> list[tuple[str, str]]:
    """``(module:qualname, "file:line what")`` for every read in the package."""
    readers: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        visitor = _Readers()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        for qualname, line, what in visitor.found:
            where = f"{path.relative_to(PACKAGE.parent)}:{line} {what}"
            readers.append((f"{module}:{qualname}", where))
    return readers


def _allowed(site: str) -> bool:
    module = site.partition(":")[0]
    for entry in ENTRY_POINTS:
        if entry == site or (entry.endswith(".*") and module.startswith(entry[:-1])):
            return True
    return False


def test_only_entry_points_read_the_environment_or_build_settings() -> None:
    assert {"Settings", "WebhookSettings", "BighubSettings"} <= _SETTINGS_CLASSES
    stray = [where for site, where in _environment_readers() if not _allowed(site)]
    assert stray == [], "read the environment at an entry point and pass the settings down"


def test_the_scan_sees_what_it_forbids() -> None:
    # The scan itself can fail: a read it should catch, in a module it has not seen.
    visitor = _Readers()
    visitor.visit(
        ast.parse(
            "import os\n"
            "def f():\n"
            "    return os.environ.get('X'), os.getenv('Y'), Settings(), config.WebhookSettings()\n"
        )
    )
    assert [what for _, _, what in visitor.found] == [
        "os.environ",
        "os.getenv",
        "Settings()",
        "WebhookSettings()",
    ]


async def test_the_webhook_service_runs_on_the_clients_settings_not_a_later_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hooks = WebhookSettings(url="https://hooks.example/eat")
    client = MongoDBClient("memory://", "eat_settings", settings=Settings(webhooks=hooks))
    unconfigured = MongoDBClient("memory://", "eat_settings", settings=Settings())
    # Read now, either would change the service: another URL, and production refusing to
    # send unsigned. The client's settings were built before, and are what it runs on.
    monkeypatch.setenv("EAT_WEBHOOK_URL", "https://elsewhere.example/hooks")
    monkeypatch.setenv("EAT_ENV", "production")
    service = WebhookService(client)
    try:
        assert service.url == "https://hooks.example/eat"
        assert [sink.destination for sink in service.sinks.values()] == [service.url]
    finally:
        await service.aclose()

    with pytest.raises(ConfigurationError, match="EAT_WEBHOOK_URL"):
        WebhookService(unconfigured)
    assert configured_sinks(unconfigured.settings) == []
    await client.close()
    await unconfigured.close()


def test_the_system_agent_reviews_by_its_providers_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INTENT_REVIEW_ENABLED", raising=False)
    settings = Settings(INTENT_REVIEW_ENABLED=True, INTENT_REVIEW_LEVELS="intents")
    client = MongoDBClient("memory://", "eat_settings", settings=settings)
    providers = ProviderRegistry()
    providers.register(OpenAIAgentsProvider(mongodb_client=client, settings=settings))
    assert SystemAgent(providers).review_enabled
    with pytest.raises(ConfigurationError, match="pass settings="):
        SystemAgent(ProviderRegistry())


async def test_bighub_from_settings_reads_the_settings_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("bighub")
    from evolving_agents.decisions.base import DecisionContext, DecisionVerdict, ToolCallRequest
    from evolving_agents.decisions.bighub import BighubDecisionProvider

    monkeypatch.delenv("BIGHUB_API_KEY", raising=False)
    # Nobody listens on port 9: every call is an outage, answered with on_error.
    group = {"api_key": "bhk_test", "base_url": "http://127.0.0.1:9", "on_error": "block"}
    settings = Settings(bighub=group)
    monkeypatch.setenv("EAT_BIGHUB_ON_ERROR", "allow")
    monkeypatch.setenv("BIGHUB_BASE_URL", "https://bighub.invalid")
    async with BighubDecisionProvider.from_settings(settings, timeout=0.2, retries=0) as bighub:
        call = ToolCallRequest(tool_name="grant_okta_admin", arguments={}, call_id="c1")
        signal = await bighub.decide(call, DecisionContext())
    assert signal.verdict is DecisionVerdict.BLOCK, "on_error from the settings, not the env"
    assert signal.error is not None and signal.error.startswith("network")
    without_key = Settings()
    monkeypatch.setenv("BIGHUB_API_KEY", "bhk_in_the_environment_only")
    with pytest.raises(ConfigurationError, match="BIGHUB_API_KEY"):
        BighubDecisionProvider.from_settings(without_key)


def test_no_secret_shows_in_the_settings_repr() -> None:
    """Settings land in log lines and tracebacks' locals: their keys and tokens must not."""
    from evolving_agents.config import NotifySettings, WebhookSettings

    secrets = {
        "slack_bot_token": "xoxb-bot-token-value",
        "slack_signing_secret": "slack-signing-value",
        "smtp_password": "smtp-password-value",
    }
    settings = Settings(
        notify=NotifySettings.model_validate(secrets),
        webhooks=WebhookSettings.model_validate({"secret": "webhook-secret-value"}),
        state_secret="state-secret-value",
        web_secret="web-secret-value",
        openai_api_key="sk-openai-value",
    )
    shown = repr(settings) + str(settings)
    leaked = [
        value
        for value in [
            *secrets.values(),
            "webhook-secret-value",
            "state-secret-value",
            "web-secret-value",
            "sk-openai-value",
        ]
        if value in shown
    ]
    assert leaked == []
    assert settings.notify.slack_bot_token == "xoxb-bot-token-value", "still there to use"
