"""Print bench/results.json as the README's markdown table: `python -m bench.table [results.json]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.run import RESULTS


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| step | size | backend | seconds | baseline s | ratio | target | met | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        seconds, base, ratio = float(r["seconds"]), r["baseline_seconds"], r["ratio"]  # type: ignore[arg-type]
        shown = f"{seconds:.4f}" if seconds < 0.1 else f"{seconds:.2f}"  # per-claim scaling rows are tiny
        lines.append(
            f"| {r['name']} | {r['size']:,} | {r['backend']} | {shown} | {f'{base:.2f}' if base else '-'} | "
            f"{f'{ratio:.2f}' if ratio else '-'} | {r['target']} | {'yes' if r['met'] else 'no'} | "
            f"{float(r['peak_rss_mb']):.0f} |"  # type: ignore[arg-type]
        )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(markdown(json.loads(path.read_text(encoding="utf-8"))))
