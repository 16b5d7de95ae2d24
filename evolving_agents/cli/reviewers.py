"""``eat reviewers add``: a reviewer for the web inbox, with a new token and its file entry.

::

    eat reviewers add alice --role sre --role security           # prints the token and entry
    eat reviewers add alice --role sre --file reviewers.toml     # ... and appends the entry

The token is printed once and stored nowhere: the entry keeps its SHA-256 (``token_sha256``,
of the token's UTF-8 bytes and nothing else; ``echo token | sha256sum`` hashes a newline too,
which no sign-in matches). The entry is the TOML ``EAT_REVIEWERS_FILE`` is read as
(``ReviewerDirectory.from_file``), checked by reading it back with that loader before it is
shown, so the token it prints is one the inbox accepts.
"""

from __future__ import annotations

import secrets
import tomllib
from pathlib import Path

import typer
from rich.markup import escape

from evolving_agents.cli.common import ExitCode, console, fail, fail_cleanly, print_json
from evolving_agents.errors import ConfigurationError
from evolving_agents.reviewers.directory import REVIEWERS_FILE_ENV, ReviewerDirectory, token_digest

reviewers_app = typer.Typer(
    help="Add a reviewer for the web inbox: a new sign-in token and its reviewers-file entry.",
    no_args_is_help=True,
    add_completion=False,
)

_TOKEN_PREFIX = "eat_"
"""Marks a token as this app's (secret scanners key on prefixes); never a leading dash."""


@reviewers_app.callback()
def _reviewers() -> None:
    # A group, not its one command: ``eat reviewers add NAME`` (more commands may follow).
    pass


_RoleOption: list[str] = typer.Option(
    [], "--role", help="A role they review in (repeatable); tools may require one."
)
_FileOption: Path | None = typer.Option(
    None, "--file", help="Append the entry to this reviewers file (TOML; created if missing)."
)


@reviewers_app.command("add")
def add(
    name: str = typer.Argument(
        ..., metavar="NAME", help="The reviewer's name, as decisions show it."
    ),
    roles: list[str] = _RoleOption,
    file: Path | None = _FileOption,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Print a new sign-in token for NAME (once) and the entry for the reviewers file."""
    if not name.strip():
        raise fail("NAME must not be empty", ExitCode.USAGE)
    if any(not role.strip() for role in roles):
        raise fail("--role must not be empty", ExitCode.USAGE)
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    entry = reviewer_entry(name, roles, token_digest(token))
    _check_signs_in(ReviewerDirectory.from_data(tomllib.loads(entry), source="entry"), token, name)
    if file is not None:
        with fail_cleanly():
            _append(file, entry)
            _check_signs_in(ReviewerDirectory.from_file(file), token, name)
    if as_json:
        print_json(
            {
                "name": name,
                "roles": roles,
                "token": token,
                "token_sha256": token_digest(token),
                "entry": entry,
                "file": None if file is None else str(file),
            }
        )
        return
    console.print(
        f"token for [bold]{escape(name)}[/] (shown once; give it to them, it is not stored):",
        highlight=False,
    )
    typer.echo(f"\n    {token}\n")
    if file is None:
        console.print(f"add this to the reviewers file (${REVIEWERS_FILE_ENV}, TOML):\n")
        typer.echo(entry, nl=False)
    else:
        console.print(
            f"added to {escape(str(file))}; a running [bold]eat inbox[/] reads it when it "
            "starts: restart it",
            highlight=False,
        )


def reviewer_entry(name: str, roles: list[str], digest: str) -> str:
    """The reviewers-file table for one token, as TOML."""
    role_list = ", ".join(_toml_string(role) for role in roles)
    return (
        "[[reviewers]]\n"
        f"name = {_toml_string(name)}\n"
        f"roles = [{role_list}]\n"
        f'token_sha256 = "{digest}"\n'
    )


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes and backslashes escaped, control characters as ``\\uXXXX``."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _check_signs_in(directory: ReviewerDirectory, token: str, name: str) -> None:
    """The token signs in as ``name`` with ``directory`` read as the inbox reads it."""
    identity = directory.authenticate(token)
    if identity is None or identity.name != name:  # a bug here, never the user's mistake
        raise AssertionError(f"the reviewers entry for {name!r} does not sign its token in")


def _append(file: Path, entry: str) -> None:
    if file.suffix == ".json":
        raise fail(
            f"--file {escape(str(file))}: a JSON reviewers file is not appended to; use a "
            ".toml file, or add the entry's fields (name, roles, token_sha256) yourself",
            ExitCode.USAGE,
        )
    existing = ""
    if file.exists():
        # Never append to a file the inbox cannot read: the new entry would not help.
        ReviewerDirectory.from_file(file)
        existing = file.read_text(encoding="utf-8")
    separator = (
        ""
        if not existing or existing.endswith("\n\n")
        else ("\n" if existing.endswith("\n") else "\n\n")
    )
    try:
        with file.open("a", encoding="utf-8") as out:
            out.write(separator + entry)
    except OSError as exc:
        raise ConfigurationError(f"cannot write reviewers file {file}: {exc}") from exc
