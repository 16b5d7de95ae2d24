"""The README's decision-first quickstart runs as written (its model is a scripted one: no API
key here), on the wire server as ``MONGODB_URI``."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from evolving_agents import ConfigurationError, DecisionAgent

README = Path(__file__).parent.parent / "README.md"


def quickstart_block() -> str:
    text = README.read_text()
    section = text[text.index("## Decision first") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.mark.wire
def test_the_readme_quickstart_pauses_then_applies_the_better_action(
    wire_env: dict[str, str],
) -> None:
    source = quickstart_block()
    assert "ScriptedModel(" in source, "offline as written"
    namespace = {"__name__": "readme_quickstart"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, str(README), "exec"), namespace)
    agent: DecisionAgent = namespace["agent"]
    try:
        lines = printed.getvalue().splitlines()
        assert lines == [
            "approval_required",
            "review Grant scoped Okta admin access for 2h instead of 48h",
            "executed",
        ]
        final = namespace["response"]["execution"]["last"]
        assert final["arguments"]["duration_hours"] == 2
        assert final["review"]["proposed_arguments"]["duration_hours"] == 48
        assert final["output"] == {"ok": True, "user_id": "alice", "group": "okta-admins",
                                   "duration_hours": 2}
    finally:
        agent.close()


def test_bighub_openai_only_options_are_named_not_swallowed() -> None:
    with pytest.raises(ConfigurationError, match="memory_enabled=: not supported"):
        DecisionAgent(actor="ops", memory_enabled=True)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        DecisionAgent(openai_api_key="sk-...")
