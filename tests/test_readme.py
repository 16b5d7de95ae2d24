"""The README's first example runs as written, with its blanks filled: a scripted model (no API
key here), a tool body, and the wire server as ``MONGODB_URI``."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from typing import Any

from agents.testing import ScriptedModel, assistant_message, function_call

README = Path(__file__).parent.parent / "README.md"


def first_python_block() -> str:
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_readme_example_pauses_with_a_session_and_a_typed_context_and_resumes(
    wire_env: dict[str, str],
) -> None:
    source = first_python_block()
    assert "session=" in source and "context=OpsContext(" in source
    granted: list[Any] = []
    model = ScriptedModel(
        [
            [
                function_call(
                    "grant_okta_admin", {"user": "alice", "duration_hours": 48}, call_id="c1"
                )
            ],
            [assistant_message("Alice is Okta admin for 48h.")],
        ]
    )
    # The blanks: the model, and a tool body that records the context it was given.
    source = source.replace(
        'instructions="You are an operations agent.",',
        'instructions="You are an operations agent.", model=SCRIPTED,',
    )
    source = source.replace(
        '"""Grant a user Okta admin for a limited time."""\n    ...',
        '"""Grant a user Okta admin for a limited time."""\n'
        '    GRANTED.append(ctx.context)\n    return "granted"',
    )
    # A module of its own, as an app's would be: the context type is imported back by name.
    module = types.ModuleType("readme_example")
    module.__dict__.update(SCRIPTED=model, GRANTED=granted)
    sys.modules[module.__name__] = module
    try:
        code = compile(
            source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        coroutine = eval(code, module.__dict__)
        if coroutine is not None:
            await coroutine
    finally:
        del sys.modules[module.__name__]
    names = module.__dict__

    done = names["done"]
    assert done.status == "success" and done.final_output == "Alice is Okta admin for 48h."
    assert done.outcomes["c1"].status == "executed"
    [context] = granted
    assert type(context).__name__ == "OpsContext" and context.ticket == "CHG-1234"
    items = await names["session_for"]("chat-42").get_items()
    assert [item.get("type", item.get("role")) for item in items] == [
        "user",
        "function_call",
        "function_call_output",
        "message",
    ]
