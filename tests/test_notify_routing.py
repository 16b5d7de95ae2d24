"""Routing of notifications by tool and risk band: the file, its default, tool metadata."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from evolving_agents.config import NotifySettings
from evolving_agents.errors import ConfigurationError
from evolving_agents.notify.routing import NotifyRoutes, Target
from tests.test_store import make_record

TOML = """
[default]
slack_channel = "#approvals"
emails = ["oncall@example.com"]
warn_before = "10m"

[[routes]]
tools = ["grant_*"]
risk = ["high"]
slack_channel = "#prod-access"
escalate_after = "15m"
escalate_to = { slack_channel = "#security-leads", role = "security-lead" }

[[routes]]
tools = "deploy"
emails = ["release@example.com"]
"""

YAML = """
default:
  slack_channel: "#approvals"
routes:
  - tools: [grant_*]
    slack_channel: "#prod-access"
    escalate_after: 900
"""


def _routes(tmp_path: Path, text: str, name: str = "notify.toml") -> NotifyRoutes:
    path = tmp_path / name
    path.write_text(text)
    return NotifyRoutes.from_settings(NotifySettings(routes_file=path))


def test_the_first_matching_route_wins_and_the_default_fills_the_rest(tmp_path: Path) -> None:
    routes = _routes(tmp_path, TOML)
    high = make_record("a1", tool_name="grant_okta_admin", metadata={"risk": "high"})
    route = routes.route_for(high)
    assert route.matched == 0
    assert route.slack_channel == "#prod-access"
    assert route.emails == ("oncall@example.com",)  # from the default
    assert route.escalate_after == timedelta(minutes=15)
    assert route.escalate_to == Target(slack_channel="#security-leads", role="security-lead")
    assert route.warn_before == timedelta(minutes=10)

    # The same tool at low risk misses the first route's band and falls to the default.
    low = make_record("a2", tool_name="grant_okta_admin")
    assert routes.route_for(low).matched is None
    assert routes.route_for(low).slack_channel == "#approvals"
    assert routes.route_for(low).escalate_after is None

    deploy = routes.route_for(make_record("a3", tool_name="deploy"))
    assert (deploy.matched, deploy.emails, deploy.slack_channel) == (
        1,
        ("release@example.com",),
        "#approvals",
    )
    assert len(routes) == 2 and routes.escalates


def test_yaml_reads_the_same_and_numbers_are_seconds(tmp_path: Path) -> None:
    routes = _routes(tmp_path, YAML, "notify.yaml")
    route = routes.route_for(make_record("a1", tool_name="grant_x"))
    assert route.slack_channel == "#prod-access"
    assert route.escalate_after == timedelta(seconds=900)


def test_tool_metadata_wins_over_the_file(tmp_path: Path) -> None:
    routes = _routes(tmp_path, TOML)
    record = make_record(
        "a1",
        tool_name="grant_x",
        metadata={"risk": "high", "slack_channel": "#okta", "notify_emails": "idp@example.com"},
    )
    route = routes.route_for(record)
    assert route.slack_channel == "#okta" and route.emails == ("idp@example.com",)
    assert route.escalate_after == timedelta(minutes=15)  # the rest still from the route


def test_without_a_file_the_environment_defaults_apply() -> None:
    settings = NotifySettings(slack_channel="#ops", email_to=["a@example.com"])
    route = NotifyRoutes.from_settings(settings).route_for(make_record("a1"))
    assert (route.slack_channel, route.emails, route.escalate_after) == (
        "#ops",
        ("a@example.com",),
        None,
    )
    assert not NotifyRoutes.from_settings(settings).escalates


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[routes]]\nrisk = ["extreme"]\n', "routes.0.risk.0"),
        ('[[routes]]\nslack_chanel = "#typo"\n', "routes.0.slack_chanel"),
        ('[default]\nwarn_before = "soon"\n', "default.warn_before"),
        ("[default\n", "routing file"),
    ],
)
def test_a_bad_routing_file_is_one_error_naming_where(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _routes(tmp_path, text)
    assert named in str(raised.value) and "EAT_NOTIFY_FILE" in str(raised.value)


def test_a_missing_routing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the routing file"):
        NotifyRoutes.from_settings(NotifySettings(routes_file=tmp_path / "nope.toml"))
