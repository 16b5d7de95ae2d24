"""What ``eat demo`` tells its user to run next, and how it words a failed OpenAI API call.

::

    commands = pending_commands("apr_1", reviewer="alice", app=demo_app(offline=True))
    commands[0].step, commands[0].line            # "See it", "eat approvals list"
    api_failure(exc, model="gpt-4.1-mini")        # an openai.APIError, in one line

Plain data: ``cli/demo.py`` prints it. The commands are the ones a user would type, quoted for
a POSIX shell, so they can be copied as they are.
"""

from __future__ import annotations

import shlex
from typing import NamedTuple

from openai import APIConnectionError, APIError, APIStatusError

OFFLINE_HINT = "run `eat demo --offline` for the scripted model"


class Command(NamedTuple):
    """One command to try, under the step it belongs to (consecutive commands share a step)."""

    step: str
    line: str


def pending_commands(approval_id: str, *, reviewer: str, app: str) -> list[Command]:
    """How to see, decide and resume approval ``approval_id``, which a demo left pending."""
    quoted, who = shlex.quote(approval_id), shlex.quote(reviewer)
    return [
        Command("See it:", "eat approvals list"),
        Command("See it:", f"eat approvals show {quoted}"),
        Command("Decide it:", f"eat approvals approve {quoted} --as {who}"),
        Command("Decide it:", f"eat approvals reject {quoted} --as {who} --message TEXT"),
        Command("Decide it:", "eat inbox"),
        Command("Then resume:", f"eat approvals resume {quoted} --app {app}"),
    ]


def finished_commands(approval_id: str) -> list[Command]:
    """What to try after a demo run completed: its record, the inbox, a run left waiting."""
    return [
        Command("See its record:", "eat approvals list --status all"),
        Command("See its record:", f"eat approvals show {shlex.quote(approval_id)}"),
        Command("In a browser:", "eat inbox"),
        Command("Leave one waiting:", "eat demo --leave-pending"),
    ]


def api_failure(exc: APIError, *, model: str) -> str:
    """The OpenAI client's ``exc`` (no network, a refused key, ...) in one line."""
    if isinstance(exc, APIConnectionError):  # timeouts too: APITimeoutError is one
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return (
            f"could not reach the OpenAI API at {exc.request.url} "
            f"({type(cause).__name__}: {_first_line(cause)}): {OFFLINE_HINT}"
        )
    if isinstance(exc, APIStatusError):
        return (
            f"the OpenAI API answered {exc.status_code} ({type(exc).__name__}) for model "
            f"{model}: check OPENAI_API_KEY and EAT_OPENAI_MODEL, or {OFFLINE_HINT}"
        )
    return f"the OpenAI API call failed ({type(exc).__name__}: {_first_line(exc)}): {OFFLINE_HINT}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else "no detail"
