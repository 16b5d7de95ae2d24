"""Every benchmark in one run: ``python -m bench [--quick] [--only PART,...] [--runs N]``.

Starts two fresh SecantusDB wire servers (``EmbeddedServer`` in a temporary directory: one on
disk with durable commits, as the package runs it; one with ``--storage-path :memory:``, its
in-memory storage), stopped at the end, and measures:

- ``cycle``: pause -> approve -> resume for (a) the raw SDK, (b) this project, (c) LangGraph,
  on both servers and on ``memory://`` ((c) needs a server), interleaved cycle by cycle; wall
  and client-process CPU per cycle; and database commands per cycle on the disk server;
- ``bytes``: bytes stored per paused run (1 turn and a long history);
- ``queue``: the reviewer's queue at scale, with ``explain()`` of every store query;
- ``throughput``: 1, 2 and 4 in-process resume workers (and worker processes, not in --quick);
- ``profile``: where (b)'s cycle spends its time;
- ``latency``: decision-to-resume with one worker process, change stream and polling;
- ``cli``: ``eat --help`` and ``eat approvals list`` as fresh processes (``bench/cli.py``).

CPU is ``time.process_time()`` of this process (all its threads) around each cycle. The
servers are other processes, so on the wire it is the client's CPU alone; on ``memory://``
mongomock runs in this process, so its work is in the figure too.

Prints a table of medians and of ratios against issue 13's targets, writes
``bench/results.json`` and draws ``docs/img/bench.png``. ``--quick`` is the small size CI runs
(tests/test_bench.py): it checks structure and sanity, never timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.cycle import Cycle, CycleSamples

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PLOT = ROOT / "docs" / "img" / "bench.png"

PARTS = ("cycle", "bytes", "queue", "throughput", "profile", "latency", "cli")
CONTENDERS = ("raw_sdk", "evolving_agents", "langgraph")
LABELS = {"raw_sdk": "(a) raw SDK", "evolving_agents": "(b) this", "langgraph": "(c) LangGraph"}
LETTERS = {"raw_sdk": "a", "evolving_agents": "b", "langgraph": "c"}
# wire: SecantusDB on disk (durable commits); wire_inmem: SecantusDB, in-memory storage;
# memory: mongomock in this process.
BACKENDS = {"wire": "wire, disk", "wire_inmem": "wire, in-memory", "memory": "memory://"}

# Issue 13 (name, backend, limit): each figure must be <= its limit.
TARGETS: list[tuple[str, str, float]] = [
    ("cpu (b)/(a)", "wire", 1.15),
    ("commands per cycle (b)", "wire", 6),
    ("wall (b)/(a)", "wire", 1.5),
    ("wall (b)/(c)", "wire", 0.6),
    ("wall (b)/(a)", "wire_inmem", 1.5),
    ("wall (b)/(c)", "wire_inmem", 0.6),
    ("decision-to-resume p50 ms, change stream", "wire", 100),
    ("eat --help ms", "cli", 300),
    ("eat approvals list ms", "cli", 1000),
    # Kept from issue 6.
    ("bytes (b)/(a) short", "wire", 0.35),
    ("bytes (b)/(c) short", "wire", 0.5),
    ("bytes (b)/(c) long", "wire", 0.5),
    ("list 50 pending / find_one _id", "wire", 3.0),
]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: seconds, not minutes")
    parser.add_argument(
        "--only", type=_parts, default=PARTS, help=f"comma-separated parts: {','.join(PARTS)}"
    )
    parser.add_argument("--runs", type=int, help="timed cycles per contender (default 60)")
    parser.add_argument(
        "--records", type=int, help="queue size on the wire server (default 20,000; 100,000 full)"
    )
    parser.add_argument(
        "--memory-records",
        type=int,
        help="queue size on memory:// (default 2,000: each mongomock insert is O(n))",
    )
    parser.add_argument(
        "--throughput-runs", type=int, help="runs per worker count (default 200)"
    )
    parser.add_argument("--long-turns", type=int, help="turns of the long history (default 200)")
    parser.add_argument(
        "--latency-runs", type=int, help="decisions per wake-up mode (default 200)"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.2, help="the polling worker's interval (s)"
    )
    parser.add_argument("--cli-runs", type=int, help="runs of each eat command (default 10)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args(argv)
    quick = args.quick
    args.runs = args.runs or (3 if quick else 60)
    args.records = args.records or (500 if quick else 20_000)
    args.memory_records = args.memory_records or (500 if quick else 2_000)
    args.throughput_runs = args.throughput_runs or (12 if quick else 200)
    args.long_turns = args.long_turns or (20 if quick else 200)
    args.latency_runs = args.latency_runs or (5 if quick else 200)
    args.cli_runs = args.cli_runs or (1 if quick else 10)
    return args


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(unknown)}")
    return parts


# -- cycle -----------------------------------------------------------------------------------


async def _cycles(
    servers: dict[str, tuple[Any, str | None]], runs: int, warmup: int = 3
) -> dict[str, dict[str, CycleSamples]]:
    """Every contender on every backend, interleaved cycle by cycle, so a burst of machine
    noise hits all of them; the order rotates each cycle, so none always follows another."""
    from bench.cycle import eat_once, raw_sdk_once, timed
    from bench.langgraph_contender import langgraph_once

    with contextlib.ExitStack() as stack:
        contenders: list[tuple[str, str, Cycle]] = []
        for backend, (client, uri) in servers.items():
            contenders.append((backend, "raw_sdk", raw_sdk_once(client)))
            contenders.append((backend, "evolving_agents", eat_once(client)))
            if uri is not None:  # langgraph-checkpoint-mongodb's upserts need a real server
                once = stack.enter_context(langgraph_once(uri, client.db_name + "_lg"))
                contenders.append((backend, "langgraph", once))
        for _, _, once in contenders:
            for i in range(warmup):
                await once(-1 - i)
        samples = {
            backend: {name: CycleSamples() for b, name, _ in contenders if b == backend}
            for backend in servers
        }
        for i in range(runs):
            shift = i % len(contenders)
            for backend, name, once in contenders[shift:] + contenders[:shift]:
                await timed(once, i, samples[backend][name])
    return samples


def _cycle_figures(samples: dict[str, CycleSamples]) -> dict[str, Any]:
    from bench.cycle import median

    return {
        "cycle_ms": {name: median(s.wall_ms) for name, s in samples.items()},
        "cpu_ms": {name: median(s.cpu_ms) for name, s in samples.items()},
        "cycle_samples_ms": {name: s.wall_ms for name, s in samples.items()},
        "cpu_samples_ms": {name: s.cpu_ms for name, s in samples.items()},
    }


# -- the other parts, per backend --------------------------------------------------------------


async def _backend(
    name: str, client: Any, uri: str, args: argparse.Namespace, out: dict[str, Any]
) -> None:
    from bench.cycle import stored_bytes
    from bench.queue import queue_timings

    wire = not uri.startswith("memory://")
    lg_uri = uri if wire else None
    if "bytes" in args.only:
        _say(f"[{name}] bytes stored (1 and {args.long_turns} turns)")
        out["bytes_short"] = await stored_bytes(client, lg_uri, 1)
        out["bytes_long"] = await stored_bytes(client, lg_uri, args.long_turns)
        out["long_turns"] = args.long_turns
    if "queue" in args.only:
        records = args.records if wire else args.memory_records
        _say(f"[{name}] queue of {records:,} records")
        out["queue"] = await queue_timings(client, records)


async def _throughput(name: str, uri: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    from bench.throughput import throughput

    _say(f"[{name}] throughput, {args.throughput_runs} runs per worker count")
    out["throughput"] = await throughput(uri, args.throughput_runs)


async def _cli(uri: str, runs: int) -> dict[str, Any]:
    """``eat --help`` and ``eat approvals list`` as fresh processes (``bench/cli.py``), the
    listing against the disk server (a fresh, empty database)."""
    from bench.cli import cli_times

    _say(f"[cli] eat --help and eat approvals list, {runs} runs each")
    return await cli_times(uri, runs)


# -- figures and targets ---------------------------------------------------------------------


def _ratios(results: dict[str, Any]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for backend in BACKENDS:
        result = results.get(backend, {})
        for kind, key in (("wall", "cycle_ms"), ("cpu", "cpu_ms")):
            figures = result.get(key, {})
            for other in ("raw_sdk", "langgraph"):
                if "evolving_agents" in figures and other in figures:
                    ratios[f"{backend}: {kind} (b)/({LETTERS[other]})"] = (
                        figures["evolving_agents"] / figures[other]
                    )
        for size in ("short", "long"):
            sizes = result.get(f"bytes_{size}", {})
            for other in ("raw_sdk", "langgraph"):
                if "evolving_agents" in sizes and other in sizes:
                    ratios[f"{backend}: bytes (b)/({LETTERS[other]}) {size}"] = (
                        sizes["evolving_agents"] / sizes[other]
                    )
        if "queue" in result:
            ratios[f"{backend}: list 50 pending / find_one _id"] = result["queue"][
                "list_vs_find_one"
            ]
    return ratios


def _absolutes(results: dict[str, Any]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, counts in (results.get("commands_per_cycle") or {}).items():
        figures[f"wire: commands per cycle ({LETTERS[name]})"] = counts["commands"]
    by_id = results.get("commands_per_cycle_by_id")
    if by_id:
        figures["wire: commands per cycle (b), by approval id"] = by_id["commands"]
    for mode, found in (results.get("latency") or {}).items():
        words = mode.replace("_", " ")
        for q in ("p50", "p99"):
            figures[f"wire: decision-to-resume {q} ms, {words}"] = found[f"{q}_ms"]
    cli = results.get("cli")
    if cli:
        figures["cli: eat --help ms"] = cli["help"]["median_ms"]
        figures["cli: eat approvals list ms"] = cli["approvals_list"]["median_ms"]
    return figures


def _targets(figures: dict[str, float], plans: dict[str, list[str]] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, backend, limit in TARGETS:
        value = figures.get(f"{backend}: {name}")
        where = "" if backend == "cli" else f" ({BACKENDS[backend]})"
        rows.append(
            {
                "target": f"{name}{where}",
                "value": value,
                "limit": limit,
                "met": None if value is None else value <= limit,
            }
        )
    if plans is not None:
        scans = sorted(query for query, stages in plans.items() if "COLLSCAN" in stages)
        rows.append(
            {
                "target": "no COLLSCAN in explain() (wire, disk)",
                "value": len(scans),
                "limit": 0,
                "met": not scans,
                "collscans": scans,
            }
        )
    return rows


# -- the report ------------------------------------------------------------------------------


def _table(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for section in (_cycle_lines, _bytes_lines, _queue_lines, _throughput_lines,
                    _latency_lines, _cli_lines, _target_lines, _plan_lines):
        lines += section(results)
    return "\n".join(lines)


def _cycle_lines(results: dict[str, Any]) -> list[str]:
    backends = [b for b in BACKENDS if "cycle_ms" in results.get(b, {})]
    if not backends:
        return []
    lines = []
    for key, title in (("cycle_ms", "wall"), ("cpu_ms", "client-process CPU")):
        lines += ["", f"cycle {title}, median ms".ljust(36)
                  + "".join(f"{BACKENDS[b]:>17}" for b in backends)]
        for name in CONTENDERS:
            cells = "".join(f"{_num(results[b][key].get(name)):>17}" for b in backends)
            lines.append(f"  {LABELS[name]:<34}{cells}")
    counts = results.get("commands_per_cycle")
    if counts:
        lines += ["", "database commands per cycle (wire, disk)"]
        for name in CONTENDERS:
            row = counts[name]
            detail = ", ".join(f"{k} {v:g}" for k, v in row.items() if k not in ("commands",
                                                                                  "db_ms"))
            lines.append(f"  {LABELS[name]:<20}{row['commands']:>6g}   {detail}")
        by_id = results.get("commands_per_cycle_by_id")
        if by_id:
            detail = ", ".join(f"{k} {v:g}" for k, v in by_id.items() if k not in ("commands",
                                                                                  "db_ms"))
            lines.append(f"  {'(b) by approval id':<20}{by_id['commands']:>6g}   {detail}")
    return lines


def _bytes_lines(results: dict[str, Any]) -> list[str]:
    wire = results.get("wire", {})
    if "bytes_short" not in wire:
        return []
    lines = ["", f"bytes per paused run     short     {wire['long_turns']} turns"]
    for name in CONTENDERS:
        short, long = wire["bytes_short"].get(name, 0), wire["bytes_long"].get(name, 0)
        lines.append(f"  {LABELS[name]:<18} {short:>9,} {long:>13,}")
    return lines


def _queue_lines(results: dict[str, Any]) -> list[str]:
    wire, memory = results.get("wire", {}), results.get("memory", {})
    if "queue" not in wire or "queue" not in memory:
        return []
    lines = ["", "queue                       wire      memory://"]
    for key in ("records", "find_one_by_id_ms", "list_oldest_50_pending_ms", "decide_ms",
                "claim_ms", "fill_seconds"):
        lines.append(f"  {key:<25} {_num(wire['queue'][key]):>9} {_num(memory['queue'][key]):>11}")
    return lines


def _throughput_lines(results: dict[str, Any]) -> list[str]:
    wire, memory = results.get("wire", {}), results.get("memory", {})
    if "throughput" not in wire or "throughput" not in memory:
        return []
    lines = ["", "throughput (in-process workers), completed runs/s   wire   memory://"]
    for w_row, m_row in zip(wire["throughput"], memory["throughput"], strict=True):
        lines.append(
            f"  {w_row['workers']} worker(s)                                "
            f"{w_row['completed_per_second']:>7.1f} {m_row['completed_per_second']:>8.1f}"
        )
    for row in results.get("worker_processes", []):
        lines.append(
            f"  {row['workers']} worker process(es), wire                      "
            f"{row['completed_per_second']:>7.1f}"
        )
    return lines


def _latency_lines(results: dict[str, Any]) -> list[str]:
    found = results.get("latency")
    if not found:
        return []
    lines = ["", "decision-to-resume, ms (wire, disk; 1 worker process)    p50      p99   runs"]
    for mode, row in found.items():
        how = f"{row['worker']}, change stream" if mode == "change_stream" else (
            f"{row['worker']}, polls every {row['poll_interval_s']:g} s")
        lines.append(f"  {how:<52} {_num(row['p50_ms']):>6} {_num(row['p99_ms']):>8} "
                     f"{row['runs']:>6}")
    return lines


def _cli_lines(results: dict[str, Any]) -> list[str]:
    found = results.get("cli")
    if not found:
        return []
    lines = ["", f"eat as a fresh process ({found['command']}), ms    median   runs"]
    for name, label in (("help", "eat --help"), ("approvals_list", "eat approvals list")):
        lines.append(f"  {label:<46} {_num(found[name]['median_ms']):>7} {found['runs']:>6}")
    return lines


def _target_lines(results: dict[str, Any]) -> list[str]:
    lines = ["", "targets (issue 13; ratios from this run)"]
    for row in results["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        value, limit = _num(row["value"]), row["limit"]
        lines.append(f"  {row['target']:<52} {value:>8} <= {limit:<5} {verdict}")
    return lines


def _plan_lines(results: dict[str, Any]) -> list[str]:
    queue = results.get("wire", {}).get("queue")
    if queue is None:
        return []
    lines = ["", "explain() winning plan per store query (wire)"]
    for query, stages in queue["plans"].items():
        flag = "  <- COLLSCAN" if "COLLSCAN" in stages else ""
        lines.append(f"  {query:<25} {' > '.join(stages)}{flag}")
    return lines


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


# -- the plot --------------------------------------------------------------------------------

_COLORS = {"raw_sdk": "#888888", "evolving_agents": "#2a7ab9", "langgraph": "#d9822b"}


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9))
    _plot_cycles(axes[0][0], results, "cycle_samples_ms", "wall ms per pause -> approve -> resume")
    _plot_cycles(axes[0][1], results, "cpu_samples_ms", "client-process CPU ms per cycle")
    _plot_latency(axes[0][2], results)
    _plot_commands(axes[1][0], results)
    _plot_bytes(axes[1][1], results)
    _plot_throughput(axes[1][2], results)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_cycles(ax: Any, results: dict[str, Any], key: str, ylabel: str) -> None:
    backends = [b for b in BACKENDS if key in results.get(b, {})]
    if not backends:
        ax.set_visible(False)
        return
    ticks: list[float] = []
    for g, backend in enumerate(backends):
        found = results[backend][key]
        names = [n for n in CONTENDERS if n in found]
        positions = [g * 4 + i for i in range(len(names))]
        boxes = ax.boxplot([found[n] for n in names], positions=positions, widths=0.7,
                           showfliers=False, patch_artist=True,
                           medianprops={"color": "black"})
        for patch, name in zip(boxes["boxes"], names, strict=True):
            patch.set_facecolor(_COLORS[name])
        ticks.append(sum(positions) / len(positions))
    ax.set_xticks(ticks, [BACKENDS[b] for b in backends])
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{'Wall' if key.startswith('cycle') else 'CPU'} per cycle "
                 f"(n={results['args']['runs']} each)")
    ax.legend([_patch(_COLORS[n]) for n in CONTENDERS], [LABELS[n] for n in CONTENDERS],
              fontsize="small")


def _patch(color: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=color, edgecolor="black")


def _plot_latency(ax: Any, results: dict[str, Any]) -> None:
    found = results.get("latency")
    if not found:
        ax.set_visible(False)
        return
    for mode, style in (("change_stream", "-"), ("polling", "--")):
        row = found[mode]
        values = sorted(row["samples_ms"])
        share = [(i + 1) / len(values) for i in range(len(values))]
        words = "change stream" if mode == "change_stream" else (
            f"polling every {row['poll_interval_s']:g} s")
        ax.step(values, share, style, where="post",
                label=f"{words}: p50 {row['p50_ms']:.0f}, p99 {row['p99_ms']:.0f} ms")
    ax.axvline(100, color="red", linewidth=0.8, linestyle=":", label="target p50 <= 100 ms")
    ax.set_xlabel("ms from decide() returning to the tool body starting")
    ax.set_ylabel("share of runs")
    ax.set_xlim(left=0)
    ax.set_title(f"Decision to resume, 1 worker process (n={found['change_stream']['runs']})")
    ax.legend(fontsize="small", loc="lower right")


def _plot_commands(ax: Any, results: dict[str, Any]) -> None:
    counts = results.get("commands_per_cycle")
    if not counts:
        ax.set_visible(False)
        return
    values = [counts[n]["commands"] for n in CONTENDERS]
    ax.bar(range(3), values, color=[_COLORS[n] for n in CONTENDERS], edgecolor="black")
    ax.axhline(6, color="red", linewidth=0.8, linestyle=":", label="target (b) <= 6")
    ax.set_xticks(range(3), [LABELS[n] for n in CONTENDERS])
    ax.set_ylabel("database commands per cycle")
    ax.set_title("Round trips per cycle (wire)")
    ax.legend(fontsize="small")


def _plot_bytes(ax: Any, results: dict[str, Any]) -> None:
    wire = results.get("wire", {})
    if "bytes_short" not in wire:
        ax.set_visible(False)
        return
    width = 0.38
    for offset, size, hatch in ((-width / 2, "short", ""), (width / 2, "long", "//")):
        values = [max(wire[f"bytes_{size}"].get(n, 0), 1) / 1024 for n in CONTENDERS]
        turns = 1 if size == "short" else wire["long_turns"]
        ax.bar([i + offset for i in range(3)], values, width,
               color=[_COLORS[n] for n in CONTENDERS], hatch=hatch, edgecolor="black",
               label=f"{turns} turn(s)")
    ax.set_yscale("log")
    ax.set_xticks(range(3), [LABELS[n] for n in CONTENDERS])
    ax.set_ylabel("KiB stored per paused run (log)")
    ax.set_title("Bytes stored")
    ax.legend(fontsize="small")


def _plot_throughput(ax: Any, results: dict[str, Any]) -> None:
    drawn = False
    for backend, style in (("wire", "o-"), ("memory", "s--")):
        rows = results.get(backend, {}).get("throughput")
        if rows:
            ax.plot([r["workers"] for r in rows], [r["completed_per_second"] for r in rows],
                    style, label=f"in-process, {BACKENDS[backend]}")
            drawn = True
    if results.get("worker_processes"):
        rows = results["worker_processes"]
        ax.plot([r["workers"] for r in rows], [r["completed_per_second"] for r in rows], "^:",
                label="processes, wire, disk")
    if not drawn:
        ax.set_visible(False)
        return
    ax.set_xticks([1, 2, 4])
    ax.set_xlabel("resume workers")
    ax.set_ylabel("completed runs / s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Resume throughput ({os.cpu_count()} cores)")
    ax.legend(fontsize="small")


# -- running it ------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("openai-agents", "pymongo", "SecantusDB", "mongomock", "mongomock-motor",
                    "langgraph", "langgraph-checkpoint-mongodb", "langchain-core"):
        found[package] = version(package)
    return found


async def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from evolving_agents.storage.embedded import EmbeddedServer

    results: dict[str, Any] = {backend: {"backend": backend} for backend in BACKENDS}
    servers = {"wire": EmbeddedServer(scratch / "server")}
    if "cycle" in args.only:
        servers["wire_inmem"] = EmbeddedServer(
            scratch / "server-inmem", extra_args=("--storage-path", ":memory:")
        )
    try:
        _say(f"starting {len(servers)} SecantusDB server(s)")
        uris = {backend: server.ensure_running() for backend, server in servers.items()}
        results["servers"] = {backend: _server_facts(uri) for backend, uri in uris.items()}
        await _on_both_databases(args, uris, servers, results)
        await _on_the_disk_server(args, uris["wire"], results)
    finally:
        for server in servers.values():
            server.stop()
    if "throughput" in args.only:
        await _throughput("memory", "memory://", args, results["memory"])
    return results


def _server_facts(uri: str) -> dict[str, Any]:
    """What the server says about its storage: ``persistent`` is False for in-memory."""
    from pymongo import MongoClient

    probe: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as probe:
        status = probe.admin.command("serverStatus")
    engine = status.get("storageEngine", {})
    return {"uri": uri, "engine": engine.get("name"), "persistent": engine.get("persistent")}


async def _on_both_databases(
    args: argparse.Namespace,
    uris: dict[str, str],
    servers: dict[str, Any],
    results: dict[str, Any],
) -> None:
    """Cycles (all three backends), bytes and queue (disk server and memory://)."""
    from bench.profile import BY_ID, commands_per_cycle
    from evolving_agents import MongoDBClient

    db_name = f"bench_{secrets.token_hex(3)}"
    async with MongoDBClient(uris["wire"], db_name) as wire, MongoDBClient(
        "memory://", db_name
    ) as memory:
        if "cycle" in args.only:
            _say(f"cycle x{args.runs} per contender on {', '.join(BACKENDS.values())}, "
                 "interleaved")
            async with MongoDBClient(uris["wire_inmem"], db_name) as inmem:
                found = await _cycles(
                    {
                        "wire": (wire, uris["wire"]),
                        "wire_inmem": (inmem, uris["wire_inmem"]),
                        "memory": (memory, None),
                    },
                    args.runs,
                )
            servers.pop("wire_inmem").stop()
            for backend, samples in found.items():
                results[backend] |= _cycle_figures(samples)
            _say("[wire] database commands per cycle")
            counts = await commands_per_cycle(uris["wire"])
            results["commands_per_cycle_by_id"] = counts.pop(BY_ID)
            results["commands_per_cycle"] = counts
        await _backend("wire", wire, uris["wire"], args, results["wire"])
        await _backend("memory", memory, "memory://", args, results["memory"])
        await wire.client.drop_database(db_name)


async def _on_the_disk_server(args: argparse.Namespace, uri: str, results: dict[str, Any]) -> None:
    """Throughput, worker processes, profile, latency and CLI timings: the disk server only."""
    from bench.latency import latency
    from bench.profile import profile_eat_cycle
    from bench.throughput import worker_processes

    if "throughput" in args.only:
        await _throughput("wire", uri, args, results["wire"])
        if not args.quick:
            _say(f"[wire] throughput with worker processes, {args.throughput_runs} runs each")
            results["worker_processes"] = await worker_processes(uri, args.throughput_runs)
    if "profile" in args.only:
        _say(f"[wire] profile of (b), {args.runs} cycles")
        results["profile"] = await profile_eat_cycle(uri, args.runs)
    if "latency" in args.only:
        _say(f"[wire] decision-to-resume, {args.latency_runs} runs per wake-up mode")
        results["latency"] = await latency(
            uri, args.latency_runs, poll_interval=args.poll_interval,
            warmup=1 if args.quick else 5,
        )
    if "cli" in args.only:
        results["cli"] = await _cli(uri, args.cli_runs)


_ENVIRONMENT = ("EAT_CONFIG_DIR", "EAT_DATA_DIR", "EAT_STATE_SECRET", "MONGODB_URI")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()
    saved = {name: os.environ.get(name) for name in _ENVIRONMENT}
    try:
        with tempfile.TemporaryDirectory(prefix="eat-bench-") as scratch:
            # Never the developer's config, data or server; one signing key for the run, which
            # the worker processes inherit.
            os.environ["EAT_CONFIG_DIR"] = str(Path(scratch) / "config")
            os.environ["EAT_DATA_DIR"] = str(Path(scratch) / "data")
            os.environ.setdefault("EAT_STATE_SECRET", secrets.token_hex(32))
            os.environ.pop("MONGODB_URI", None)
            measured = asyncio.run(run(args, Path(scratch)))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    ratios = _ratios(measured)
    figures = {**ratios, **_absolutes(measured)}
    plans = measured["wire"].get("queue", {}).get("plans")
    results = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "versions": _versions(),
        **measured,
        "ratios": ratios,
        "figures": figures,
        "targets": _targets(figures, plans),
        "seconds": time.perf_counter() - started,
    }
    assert all(math.isfinite(v) for v in figures.values()), figures
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    _plot(results, args.plot)
    print(_table(results))
    print(f"\n{results['seconds']:.0f} s; wrote {args.results} and {args.plot}")
    return results


if __name__ == "__main__":
    main()
