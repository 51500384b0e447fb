"""bench/tasks.py runs end to end at a small size and reports every measure against its baseline."""

from __future__ import annotations

import json

import pytest

from bench import tasks as bench_tasks


def test_the_task_planning_benchmark_reports_each_measure(capsys: pytest.CaptureFixture[str]):
    assert bench_tasks.main(["--claims", "400", "--db-claims", "200"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["measure"] for r in rows] == ["plan_full", "plan_one", "replan_all", "replan_one"]
    for r in rows:
        assert r["seconds"] >= 0 and r["baseline_seconds"] > 0 and "ratio" in r
    assert rows[0]["tasks"] > 0 and rows[2]["tasks_opened"] > 0
