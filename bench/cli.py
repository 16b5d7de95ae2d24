"""How fast ``eat`` starts: ``python -m bench.cli [--runs 10] [--uri mongodb://...]``.

::

    from bench.cli import cli_times

    found = await cli_times(uri, runs=10)      # uri=None: the embedded server, in a temp dir
    found["help"]["median_ms"], found["approvals_list"]["median_ms"]   # and ["samples_ms"]
    found["imports"]["cli.main"]["top"]        # -X importtime: the 10 costliest, cumulative

Wall time of ``eat --help`` and ``eat approvals list`` as fresh processes, ``runs`` of each
after one warm-up of each (which starts the embedded server when ``uri`` is None), the two
interleaved so a burst of load on a shared machine falls on both. Issue 13's targets: 300 ms
and 1,000 ms.

Each process is ``python -m evolving_agents``, the code ``eat`` runs without its console-script
wrapper (a few milliseconds), started from this checkout. It gets its own config directory and
signing key (and data directory for the embedded server, stopped at the end), so it never reads
or writes a developer's; with ``uri``, ``MONGODB_URI`` points at it and the database is a fresh
name, so the listed queue is empty.

``imports`` runs each command once more under ``python -X importtime`` (never timed): how many
modules it imports, whether the Agents SDK (``agents``) is among them, and the ten costliest
imports by cumulative time, for ``import evolving_agents.cli.main`` and for each command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EAT = [sys.executable, "-m", "evolving_agents"]
COMMANDS: dict[str, list[str]] = {"help": ["--help"], "approvals_list": ["approvals", "list"]}
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


async def cli_times(uri: str | None, runs: int = 10) -> dict[str, Any]:
    """Medians and samples (ms) of each command, and what each imports."""
    with tempfile.TemporaryDirectory(prefix="eat-bench-cli-") as scratch:
        env = _environment(uri, Path(scratch))
        try:
            for args in COMMANDS.values():
                await asyncio.to_thread(_wall_ms, args, env)  # warm-up: server, disk cache
            samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
            for _ in range(runs):
                for name, args in COMMANDS.items():
                    samples[name].append(await asyncio.to_thread(_wall_ms, args, env))
            imports = {
                "cli.main": await asyncio.to_thread(
                    _imports, ["-c", "import evolving_agents.cli.main"], env
                ),
                **{
                    name: await asyncio.to_thread(_imports, ["-m", "evolving_agents", *args], env)
                    for name, args in COMMANDS.items()
                },
            }
        finally:
            if uri is None:
                await asyncio.to_thread(_run, ["db", "stop"], env)
    return {
        "command": "python -m evolving_agents",
        "database": "embedded" if uri is None else "MONGODB_URI",
        "runs": runs,
        **{
            name: {"median_ms": statistics.median(found), "samples_ms": found}
            for name, found in samples.items()
        },
        "imports": imports,
    }


def _environment(uri: str | None, scratch: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MONGODB_")}
    env |= {
        "EAT_CONFIG_DIR": str(scratch / "config"),
        "EAT_DATA_DIR": str(scratch / "data"),
        "EAT_STATE_SECRET": secrets.token_hex(32),
        "COLUMNS": "100",  # help is laid out the same whatever terminal started the bench
    }
    if uri is not None:
        env |= {"MONGODB_URI": uri, "MONGODB_DATABASE_NAME": f"bench_cli_{secrets.token_hex(3)}"}
    return env


def _run(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [*EAT, *args], cwd=ROOT, env=env, capture_output=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"eat {' '.join(args)} exited {done.returncode}: {done.stderr!r}")
    return done


def _wall_ms(args: list[str], env: Mapping[str, str]) -> float:
    started = time.perf_counter()
    _run(args, env)
    return (time.perf_counter() - started) * 1000


def _imports(python_args: list[str], env: Mapping[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *python_args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = [
        (int(match[2]) / 1000, int(match[1]) / 1000, len(match[3]) // 2, match[4])
        for match in map(_IMPORT_LINE.match, done.stderr.splitlines())
        if match is not None
    ]
    top = sorted(rows, reverse=True)[:10]
    return {
        "modules": len(rows),
        "agents_sdk": any(module == "agents" for *_, module in rows),
        "total_ms": sum(cumulative for cumulative, _, depth, _ in rows if depth == 0),
        "top": [
            {"module": module, "cumulative_ms": cumulative, "self_ms": own, "depth": depth}
            for cumulative, own, depth, module in top
        ],
    }


def _report(found: dict[str, Any]) -> str:
    lines = [f"{found['command']}, {found['runs']} runs, database: {found['database']}"]
    for name, target in (("help", 300), ("approvals_list", 1000)):
        samples = ", ".join(f"{ms:.0f}" for ms in found[name]["samples_ms"])
        median = found[name]["median_ms"]
        lines.append(f"{name:<15} median {median:7.0f} ms (target {target}) samples: {samples}")
    for name, seen in found["imports"].items():
        lines.append(
            f"\nimports of {name}: {seen['modules']} modules, {seen['total_ms']:.0f} ms, "
            f"Agents SDK {'imported' if seen['agents_sdk'] else 'not imported'}"
        )
        lines += [
            f"  {row['cumulative_ms']:8.1f} ms  {'  ' * row['depth']}{row['module']}"
            for row in seen["top"]
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command")
    parser.add_argument("--uri", help="a MongoDB server (default: the embedded one, temporary)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    found = asyncio.run(cli_times(args.uri, args.runs))
    print(json.dumps(found, indent=2) if args.json else _report(found))
    return found


if __name__ == "__main__":
    main()
