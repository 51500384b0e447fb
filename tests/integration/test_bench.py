"""The benchmark's smoke run (`make bench SIZE=quick`): it runs, writes every field, and its results
agree with the hand-written baselines. Timings are not asserted (bench/ reports them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run

FIELDS = {"name", "size", "backend", "seconds", "baseline_seconds", "ratio", "target", "met", "peak_rss_mb"}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_quick_benchmark_runs_and_agrees_with_its_baselines(backend: str, tmp_path: Path):
    output = tmp_path / "results.json"
    assert run.main(["--size", "quick", "--backend", backend, "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    names = {r["name"] for r in results}
    assert {"import", "import_again", "assess_full", "reassess_unchanged", "reassess_one", "whatif"} <= names
    assert {"read:help", "read:show", "read:list_json", "read:readiness_json"} <= names  # issue 11's reads
    for row in results:
        assert row.keys() >= FIELDS
        assert row["backend"] == backend
        assert row["agrees"], row
    if backend == "postgresql":
        assert {"explain:list_page", "explain:show", "explain:readiness", "explain:whatif"} <= names
