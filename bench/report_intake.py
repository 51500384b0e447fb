"""Time the intake of a 20-page report (issue 17): extraction + sentence split + ranking, against pysbd alone.

The report is generated (about 20 pages of 500 words, from the demo report's paragraphs with their
numbers varied), so the figure is reproducible. `python -m bench.report_intake` prints seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

from claims.domain.checkworthiness import rank
from claims.services.reports import extract_text, split_sentences

SEED = Path(__file__).resolve().parents[1] / "examples" / "reports" / "eu-drones-report.txt"
PAGE_WORDS = 500


def twenty_pages(pages: int = 20) -> str:
    seed = SEED.read_text(encoding="utf-8").splitlines()
    lines, words, n = [], 0, 0
    while words < pages * PAGE_WORDS:
        line = seed[n % len(seed)].replace("three", str(3 + n // len(seed)))
        lines.append(line)
        words += len(line.split())
        n += 1
    return "\n".join(lines)


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    import pysbd

    text = twenty_pages()
    content = text.encode()
    baseline, _ = timed(pysbd.Segmenter(language="en", clean=False).segment, text)
    t_extract, extracted = timed(extract_text, "bench.txt", "text/plain", content)
    t_split, sentences = timed(split_sentences, extracted)
    t_rank, _ = timed(rank, sentences)
    print(f"20-page report: {len(text.split())} words, {len(sentences)} sentences")
    print(f"pysbd alone (baseline): {baseline:.2f} s")
    print(f"intake: extract {t_extract:.3f} s + split with spans {t_split:.2f} s + rank {t_rank:.3f} s "
          f"= {t_extract + t_split + t_rank:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
