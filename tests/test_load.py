"""Load: worker processes drain decided runs on a real wire server; every run completes once.

The CI size (2 workers, 200 runs) runs by default; the issue's full size (8 workers, 2,000
runs) is marked ``slow``: ``pytest -m slow tests/test_load.py`` or ``python -m bench.load``.
"""

from __future__ import annotations

import pytest

from bench.load import LoadReport, run_load


def assert_every_run_completed_once(report: LoadReport) -> None:
    print(
        f"\nload: runs={report.runs} workers={report.workers} completed={report.completed} "
        f"executions={report.executions} duplicates={report.duplicates} lost={report.lost} "
        f"stuck={report.stuck} failed={report.failed} conflicts={report.conflicts} "
        f"seconds={report.seconds} ({report.runs_per_second} runs/s, "
        f"setup {report.setup_seconds}s) per worker={report.per_worker_completed}"
    )
    assert report.completed == report.runs
    assert report.executions == report.runs
    assert (report.duplicates, report.lost, report.stuck, report.failed) == (0, 0, 0, 0)
    assert report.statuses == {"completed": report.runs}
    assert all(done > 0 for done in report.per_worker_completed), "a worker did nothing"


@pytest.mark.wire
async def test_two_worker_processes_drain_200_runs_each_exactly_once(wire_uri: str) -> None:
    report = await run_load(wire_uri, workers=2, runs=200, timeout=300)
    assert_every_run_completed_once(report)


@pytest.mark.wire
@pytest.mark.slow
async def test_eight_worker_processes_drain_2000_runs_each_exactly_once(wire_uri: str) -> None:
    report = await run_load(wire_uri, workers=8, runs=2000, timeout=1800)
    assert_every_run_completed_once(report)
