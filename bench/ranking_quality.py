"""Ranking quality of the check-worthiness scorer on the labelled reports in examples/reports (issue 17).

For each report, the top-N candidates are compared with the sentences a careful analyst would take
as claims (examples/reports/labels.yaml): precision = labelled in top-N / N, recall = labelled in
top-N / labelled. `python -m bench.ranking_quality [N]` prints per report and overall (micro).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from claims.domain.checkworthiness import rank
from claims.services.reports import extract_text, media_type_of, split_sentences

REPORTS = Path(__file__).resolve().parents[1] / "examples" / "reports"


@dataclass(frozen=True)
class Quality:
    report: str
    hits: int
    top: int
    labelled: int

    @property
    def precision(self) -> float:
        return self.hits / self.top if self.top else 0.0

    @property
    def recall(self) -> float:
        return self.hits / self.labelled if self.labelled else 0.0


def measure(n: int = 10) -> list[Quality]:
    """One row per labelled report, then the overall row (sums of hits, N and labels)."""
    labels: dict[str, list[str]] = yaml.safe_load((REPORTS / "labels.yaml").read_text(encoding="utf-8"))
    rows = []
    for name, wanted in labels.items():
        content = (REPORTS / name).read_bytes()
        text = extract_text(name, media_type_of(name, content), content)
        ranked = rank(split_sentences(text))[:n]
        missing = [w for w in wanted if w not in text]
        if missing:
            raise ValueError(f"labels: {name}: {missing[0]!r} is not in the extracted text")
        hits = sum(1 for w in wanted if any(w in c.text for c in ranked))
        rows.append(Quality(name, hits, len(ranked), len(wanted)))
    rows.append(Quality("overall", sum(r.hits for r in rows), sum(r.top for r in rows), sum(r.labelled for r in rows)))
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(f"{'report':<30} {'top':>4} {'labels':>6} {'hits':>5} {'precision':>9} {'recall':>7}")
    for q in measure(n):
        print(f"{q.report:<30} {q.top:>4} {q.labelled:>6} {q.hits:>5} {q.precision:>9.2f} {q.recall:>7.2f}")


if __name__ == "__main__":
    main()
