"""The benchmarks run, small: ``python -m bench --quick`` end to end, structure and sanity only.

Benchmarks, not timed tests: nothing here asserts a timing target. The full run is
``python -m bench``; its figures are in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import TARGETS, main

CONTENDERS = {"raw_sdk", "evolving_agents", "langgraph"}
LATENCY_RUNS = 4


def _finite_and_positive(values: list[float]) -> bool:
    return bool(values) and all(math.isfinite(v) and v > 0 for v in values)


@pytest.mark.wire
def test_quick_benchmark_writes_every_figure_plot_and_plan(tmp_path: Path) -> None:
    results_path, plot = tmp_path / "results.json", tmp_path / "bench.png"
    main(["--quick", "--runs", "3", "--records", "500", "--memory-records", "300",
          "--latency-runs", str(LATENCY_RUNS), "--results", str(results_path),
          "--plot", str(plot)])

    results = json.loads(results_path.read_text(encoding="utf-8"))
    assert plot.stat().st_size > 10_000
    _check_servers_and_cycles(results)
    _check_bytes_queue_and_throughput(results)
    _check_latency(results["latency"])
    for command in ("help", "approvals_list"):
        assert _finite_and_positive(results["cli"][command]["samples_ms"])
    _check_targets(results)

    profile = results["profile"]
    assert set(profile["phases_ms"]) == {"execute_agent", "decide", "resume_agent", "cycle"}
    write_verbs = ("insert", "update", "findAndModify")
    writes = [name for name in profile["commands"] if name.startswith(write_verbs)]
    assert len(writes) >= 4, profile["commands"]


def _check_servers_and_cycles(results: dict[str, Any]) -> None:
    # The in-memory server really keeps nothing on disk; the default one does.
    assert results["servers"]["wire"]["persistent"] is True
    assert results["servers"]["wire_inmem"]["persistent"] is False
    for backend in ("wire", "wire_inmem", "memory"):
        found = results[backend]
        # LangGraph's saver needs a real server, so it does not run on memory://.
        expected = CONTENDERS if backend != "memory" else CONTENDERS - {"langgraph"}
        assert set(found["cycle_ms"]) == set(found["cpu_ms"]) == expected
        for key in ("cycle_samples_ms", "cpu_samples_ms"):
            assert all(len(samples) == 3 for samples in found[key].values()), found[key]
            assert all(_finite_and_positive(samples) for samples in found[key].values())

    counts = results["commands_per_cycle"]
    assert set(counts) == CONTENDERS
    # Each contender at least stores its paused run and reads it back.
    assert all(row["commands"] >= 2 for row in counts.values()), counts
    assert counts["evolving_agents"]["commands"] == results["figures"][
        "wire: commands per cycle (b)"
    ]
    # Handing on the record saves the reads a reviewer and a worker elsewhere must make.
    by_id = results["commands_per_cycle_by_id"]
    assert by_id["commands"] > counts["evolving_agents"]["commands"], (by_id, counts)
    finds = "find eat_openai_pending_approvals"
    assert by_id.get(finds, 0) == 2 and finds not in counts["evolving_agents"], (by_id, counts)


def _check_bytes_queue_and_throughput(results: dict[str, Any]) -> None:
    wire, memory = results["wire"], results["memory"]
    for sizes in (wire["bytes_short"], wire["bytes_long"]):
        assert set(sizes) == CONTENDERS and all(size > 0 for size in sizes.values())
    # A longer history costs the raw SDK and LangGraph more than it costs this project.
    assert wire["bytes_long"]["raw_sdk"] > wire["bytes_long"]["evolving_agents"]

    assert wire["queue"]["records"] == 500 and memory["queue"]["records"] == 300
    plans = wire["queue"]["plans"]
    queries = {"get", "list pending oldest", "decide filter", "claim decided",
               "worker oldest decided", "expire sweep"}
    assert queries <= set(plans)
    assert all(stages and all(stages) for stages in plans.values()), plans

    for rows in (wire["throughput"], memory["throughput"]):
        assert [row["workers"] for row in rows] == [1, 2, 4]
        assert all(row["completed"] == row["runs"] for row in rows)
        assert all(row["completed_per_second"] > 0 for row in rows)


def _check_latency(latency: dict[str, Any]) -> None:
    assert set(latency) == {"change_stream", "polling"}
    for mode, found in latency.items():
        # The worker woke the way it was meant to, and every run completed exactly once.
        assert found["worker_stats"]["wakeup"] == mode
        assert found["runs"] == LATENCY_RUNS == found["completed"], found["statuses"]
        assert found["duplicates"] == 0
        assert found["worker_stats"]["completed"] == LATENCY_RUNS + found["warmup"]
        # A body starts after the decision that let it run: a negative figure would mean the
        # two clocks or the keys disagree.
        assert len(found["samples_ms"]) == LATENCY_RUNS
        assert _finite_and_positive(found["samples_ms"])
        assert found["p50_ms"] <= found["p99_ms"] <= found["max_ms"]
    assert latency["polling"]["poll_interval_s"] == 0.2


def _check_targets(results: dict[str, Any]) -> None:
    assert results["ratios"] and all(math.isfinite(v) for v in results["ratios"].values())
    rows = {row["target"]: row for row in results["targets"]}
    assert len(rows) == len(TARGETS) + 1  # and the COLLSCAN row
    for row in rows.values():
        assert row["value"] is not None and math.isfinite(row["value"]), row
        assert row["met"] is (row["value"] <= row["limit"])
    for name in ("cpu (b)/(a) (wire, disk)", "commands per cycle (b) (wire, disk)",
                 "wall (b)/(a) (wire, in-memory)", "wall (b)/(c) (wire, in-memory)",
                 "decision-to-resume p50 ms, change stream (wire, disk)",
                 "eat --help ms", "eat approvals list ms"):
        assert name in rows, sorted(rows)
    plans = results["wire"]["queue"]["plans"]
    collscans = rows["no COLLSCAN in explain() (wire, disk)"]["collscans"]
    assert collscans == sorted(q for q, stages in plans.items() if "COLLSCAN" in stages)
