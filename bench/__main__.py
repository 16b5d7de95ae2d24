"""Every benchmark in one run: ``python -m bench [--quick] [--records N] [--runs N]``.

Starts a fresh SecantusDB wire server (``EmbeddedServer`` in a temporary directory, stopped at
the end) and runs, on it and on ``memory://``: the pause -> approve -> resume cycle for
(a) the raw SDK, (b) this project, (c) LangGraph (wire only: its saver needs a real server);
bytes stored per paused run; the reviewer's queue at scale with ``explain()`` of every store
query; throughput with 1, 2 and 4 resume workers; and a profile of (b)'s cycle. Prints a table
of medians and ratios against the issue's targets, writes ``bench/results.json`` and draws
``docs/img/bench.png``. ``--quick`` is the small size CI runs (tests/test_bench.py).
"""

from __future__ import annotations

import argparse
import asyncio
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PLOT = ROOT / "docs" / "img" / "bench.png"

# (name, what is compared, limit): each ratio must be <= its limit.
TARGETS = [
    ("cycle (b)/(a)", "wire", 1.25),
    ("cycle (b)/(c)", "wire", 0.5),
    ("bytes (b)/(a) short", "wire", 0.35),
    ("bytes (b)/(c) short", "wire", 0.5),
    ("bytes (b)/(c) long", "wire", 0.5),
    ("list 50 pending / find_one _id", "wire", 3.0),
]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: seconds, not minutes")
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
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args(argv)
    quick = args.quick
    args.runs = args.runs or (3 if quick else 60)
    args.records = args.records or (500 if quick else 20_000)
    args.memory_records = args.memory_records or (500 if quick else 2_000)
    args.throughput_runs = args.throughput_runs or (12 if quick else 200)
    args.long_turns = args.long_turns or (20 if quick else 200)
    return args


async def _cycles(client: Any, uri: str | None, runs: int) -> dict[str, list[float]]:
    """The contenders in alternating rounds, so a burst of machine noise hits all of them."""
    from bench.cycle import eat_cycle, raw_sdk_cycle

    rounds = min(runs, 3)
    samples: dict[str, list[float]] = {"raw_sdk": [], "evolving_agents": [], "langgraph": []}
    for r in range(rounds):
        n = runs // rounds + (1 if r < runs % rounds else 0)
        warmup = 3 if r == 0 else 0
        samples["raw_sdk"] += await raw_sdk_cycle(client, n, warmup)
        samples["evolving_agents"] += await eat_cycle(client, n, warmup)
        if uri is not None:
            from bench.langgraph_contender import langgraph_cycle

            samples["langgraph"] += await langgraph_cycle(uri, client.db_name + "_lg", n, warmup)
    return {name: values for name, values in samples.items() if values}


async def _backend(name: str, uri: str, args: argparse.Namespace) -> dict[str, Any]:
    from bench.cycle import median, stored_bytes
    from bench.queue import queue_timings
    from bench.throughput import throughput
    from evolving_agents import MongoDBClient

    wire = not uri.startswith("memory://")
    lg_uri = uri if wire else None
    out: dict[str, Any] = {"backend": name}
    async with MongoDBClient(uri, f"bench_{secrets.token_hex(3)}") as client:
        _say(f"[{name}] cycle x{args.runs} per contender")
        samples = await _cycles(client, lg_uri, args.runs)
        out["cycle_ms"] = {k: median(v) for k, v in samples.items()}
        out["cycle_samples_ms"] = samples
        _say(f"[{name}] bytes stored (1 and {args.long_turns} turns)")
        out["bytes_short"] = await stored_bytes(client, lg_uri, 1)
        out["bytes_long"] = await stored_bytes(client, lg_uri, args.long_turns)
        out["long_turns"] = args.long_turns
        records = args.records if wire else args.memory_records
        _say(f"[{name}] queue of {records:,} records")
        out["queue"] = await queue_timings(client, records)
        if wire:
            await client.client.drop_database(client.db_name)
    _say(f"[{name}] throughput, {args.throughput_runs} runs per worker count")
    out["throughput"] = await throughput(uri, args.throughput_runs)
    return out


def _ratios(wire: dict[str, Any], memory: dict[str, Any]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for label, result in (("wire", wire), ("memory", memory)):
        cycle = result["cycle_ms"]
        ratios[f"{label}: cycle (b)/(a)"] = cycle["evolving_agents"] / cycle["raw_sdk"]
        if "langgraph" in cycle:
            ratios[f"{label}: cycle (b)/(c)"] = cycle["evolving_agents"] / cycle["langgraph"]
        for size in ("short", "long"):
            sizes = result[f"bytes_{size}"]
            ratios[f"{label}: bytes (b)/(a) {size}"] = sizes["evolving_agents"] / sizes["raw_sdk"]
            if "langgraph" in sizes:
                ratios[f"{label}: bytes (b)/(c) {size}"] = (
                    sizes["evolving_agents"] / sizes["langgraph"]
                )
        ratios[f"{label}: list 50 pending / find_one _id"] = result["queue"]["list_vs_find_one"]
    return ratios


def _targets(ratios: dict[str, float], plans: dict[str, list[str]]) -> list[dict[str, Any]]:
    rows = []
    for name, backend, limit in TARGETS:
        value = ratios[f"{backend}: {name}"]
        rows.append(
            {"target": f"{name} ({backend})", "value": value, "limit": limit, "met": value <= limit}
        )
    scans = sorted(query for query, stages in plans.items() if "COLLSCAN" in stages)
    rows.append(
        {
            "target": "no COLLSCAN in explain() (wire)",
            "value": len(scans),
            "limit": 0,
            "met": not scans,
            "collscans": scans,
        }
    )
    return rows


def _table(results: dict[str, Any]) -> str:
    wire, memory = results["wire"], results["memory"]
    lines = ["", "cycle, median ms        wire      memory://"]
    for key, label in (("raw_sdk", "(a) raw SDK"), ("evolving_agents", "(b) this"),
                       ("langgraph", "(c) LangGraph")):
        w = wire["cycle_ms"].get(key)
        m = memory["cycle_ms"].get(key)
        lines.append(f"  {label:<18} {_num(w):>9} {_num(m):>11}")
    lines.append("")
    lines.append(f"bytes per paused run     short     {wire['long_turns']} turns")
    for key, label in (("raw_sdk", "(a) raw SDK"), ("evolving_agents", "(b) this"),
                       ("langgraph", "(c) LangGraph")):
        short, long = wire["bytes_short"].get(key, 0), wire["bytes_long"].get(key, 0)
        lines.append(f"  {label:<18} {short:>9,} {long:>13,}")
    lines.append("")
    lines.append("queue                  wire      memory://")
    for key in ("records", "find_one_by_id_ms", "list_oldest_50_pending_ms", "decide_ms",
                "claim_ms", "fill_seconds"):
        lines.append(f"  {key:<20} {_num(wire['queue'][key]):>9} {_num(memory['queue'][key]):>11}")
    lines.append("")
    lines.append("throughput (in-process workers), completed runs/s   wire   memory://")
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
    lines.append("")
    lines.append("targets (ratios from this run)")
    for row in results["targets"]:
        verdict = "met" if row["met"] else "MISSED"
        value, limit = _num(row["value"]), row["limit"]
        lines.append(f"  {row['target']:<42} {value:>8} <= {limit:<5} {verdict}")
    lines.append("")
    lines.append("explain() winning plan per store query (wire)")
    for query, stages in wire["queue"]["plans"].items():
        flag = "  <- COLLSCAN" if "COLLSCAN" in stages else ""
        lines.append(f"  {query:<22} {' > '.join(stages)}{flag}")
    return "\n".join(lines)


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wire, memory = results["wire"], results["memory"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    names = ["raw_sdk", "evolving_agents", "langgraph"]
    labels = ["(a) raw SDK", "(b) this", "(c) LangGraph"]
    colors = ["#888888", "#2a7ab9", "#d9822b"]

    ax = axes[0]
    data = [wire["cycle_samples_ms"].get(n, [0.0]) for n in names]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, 4), labels)
    ax.set_ylabel("ms per pause -> approve -> resume")
    ax.set_title(f"Cycle on the wire server (n={results['args']['runs']} each)")

    ax = axes[1]
    width = 0.38
    for offset, size, hatch in ((-width / 2, "short", ""), (width / 2, "long", "//")):
        values = [max(wire[f"bytes_{size}"].get(n, 0), 1) / 1024 for n in names]
        turns = 1 if size == "short" else wire["long_turns"]
        ax.bar([i + offset for i in range(3)], values, width, color=colors, hatch=hatch,
               edgecolor="black", label=f"{turns} turn(s)")
    ax.set_yscale("log")
    ax.set_xticks(range(3), labels)
    ax.set_ylabel("KiB stored per paused run (log)")
    ax.set_title("Bytes stored")
    ax.legend()

    ax = axes[2]
    for label, result, style in (("wire", wire, "o-"), ("memory://", memory, "s--")):
        rows = result["throughput"]
        ax.plot([r["workers"] for r in rows], [r["completed_per_second"] for r in rows], style,
                label=f"in-process, {label}")
    if results.get("worker_processes"):
        rows = results["worker_processes"]
        ax.plot([r["workers"] for r in rows], [r["completed_per_second"] for r in rows], "^:",
                label="processes, wire")
    ax.set_xticks([1, 2, 4])
    ax.set_xlabel("resume workers")
    ax.set_ylabel("completed runs / s")
    ax.set_ylim(bottom=0)
    ax.set_title("Resume throughput (2 cores)")
    ax.legend()

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("openai-agents", "pymongo", "SecantusDB", "mongomock", "mongomock-motor",
                    "langgraph", "langgraph-checkpoint-mongodb", "langchain-core"):
        found[package] = version(package)
    return found


async def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from bench.profile import profile_eat_cycle
    from bench.throughput import worker_processes
    from evolving_agents.storage.embedded import EmbeddedServer

    server = EmbeddedServer(scratch / "server")
    uri = server.ensure_running()
    try:
        wire = await _backend("wire", uri, args)
        processes = []
        if not args.quick:
            _say(f"[wire] throughput with worker processes, {args.throughput_runs} runs each")
            processes = await worker_processes(uri, args.throughput_runs)
        _say(f"[wire] profile of (b), {args.runs} cycles")
        profile = await profile_eat_cycle(uri, args.runs)
    finally:
        server.stop()
    memory = await _backend("memory", "memory://", args)
    ratios = _ratios(wire, memory)
    return {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "versions": _versions(),
        "wire": wire,
        "memory": memory,
        "worker_processes": processes,
        "profile": profile,
        "ratios": ratios,
        "targets": _targets(ratios, wire["queue"]["plans"]),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eat-bench-") as scratch:
        # Never the developer's config, data or embedded server; one signing key for the run.
        os.environ["EAT_CONFIG_DIR"] = str(Path(scratch) / "config")
        os.environ["EAT_DATA_DIR"] = str(Path(scratch) / "data")
        os.environ.setdefault("EAT_STATE_SECRET", secrets.token_hex(32))
        os.environ.pop("MONGODB_URI", None)
        results = asyncio.run(run(args, Path(scratch)))
    results["seconds"] = time.perf_counter() - started
    assert all(math.isfinite(v) for v in results["ratios"].values()), results["ratios"]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    _plot(results, args.plot)
    print(_table(results))
    print(f"\n{results['seconds']:.0f} s; wrote {args.results} and {args.plot}")
    return results


if __name__ == "__main__":
    main()
