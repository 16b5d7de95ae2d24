"""The benchmarks run, small: ``python -m bench --quick`` end to end, structure and sanity only.

Benchmarks, not timed tests: nothing here asserts a timing target. The full run is
``python -m bench``; its figures are in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.__main__ import main

CONTENDERS = {"raw_sdk", "evolving_agents", "langgraph"}


@pytest.mark.wire
def test_quick_benchmark_writes_every_figure_plot_and_plan(tmp_path: Path) -> None:
    results_path, plot = tmp_path / "results.json", tmp_path / "bench.png"
    main(["--quick", "--runs", "3", "--records", "500", "--memory-records", "300",
          "--results", str(results_path), "--plot", str(plot)])

    results = json.loads(results_path.read_text(encoding="utf-8"))
    assert plot.stat().st_size > 10_000
    wire, memory = results["wire"], results["memory"]
    assert set(wire["cycle_ms"]) == CONTENDERS
    assert set(memory["cycle_ms"]) == CONTENDERS - {"langgraph"}  # its saver needs a server
    assert all(len(samples) == 3 for samples in wire["cycle_samples_ms"].values())
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

    assert results["ratios"] and all(math.isfinite(v) for v in results["ratios"].values())
    targets = {row["target"]: row for row in results["targets"]}
    assert "cycle (b)/(a) (wire)" in targets and "no COLLSCAN in explain() (wire)" in targets
    collscans = targets["no COLLSCAN in explain() (wire)"]["collscans"]
    assert collscans == sorted(q for q, stages in plans.items() if "COLLSCAN" in stages)

    profile = results["profile"]
    assert set(profile["phases_ms"]) == {"execute_agent", "decide", "resume_agent", "cycle"}
    write_verbs = ("insert", "update", "findAndModify")
    writes = [name for name in profile["commands"] if name.startswith(write_verbs)]
    assert len(writes) >= 4, profile["commands"]

