"""Precision and recall of the similar-claims verdicts on the project's labelled pairs.

`python -m bench.similar_quality [--model wordllama|lexical] [--merge X --suggest Y]` prints, at
the configured thresholds (CLAIMS_SIMILAR_MERGE / CLAIMS_SIMILAR_SUGGEST unless given):

- "same": of the pairs judged same, how many are labelled same (precision); of the pairs
  labelled same, how many are judged same (recall);
- "related-or-same": the same, counting a pair offered at all (same or related) against the
  pairs labelled same or related.

Each pair is scored as the lookup scores it: the stored side quantised to int8, the query side
not (claims.services.similar).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz, utils

from claims.domain.similarity import Thresholds, judge
from claims.services.similar import LEXICAL, dequantise, load_embedder, quantise
from claims.settings import get_settings

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "similar_pairs.yaml"
OFFERED = {"same", "related"}


def load_pairs(path: Path = PAIRS) -> list[dict[str, str]]:
    return yaml.safe_load(path.read_text())["pairs"]


def scores(pairs: list[dict[str, str]], model: str) -> list[float]:
    """The raw score of each pair under `model` (what `SimilarIndex.scores` computes)."""
    embedder = load_embedder(model)
    if embedder is None:
        return [fuzz.token_set_ratio(p["a"], p["b"], processor=utils.default_process) / 100 for p in pairs]
    queries = embedder.embed([p["a"] for p in pairs])
    stored = embedder.embed([p["b"] for p in pairs])
    stored = dequantise(quantise(stored), stored.shape[1])
    return [float(q @ s) for q, s in zip(queries, stored, strict=True)]


def _pr(predicted: list[bool], actual: list[bool]) -> tuple[float, float]:
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    return (tp / sum(predicted) if any(predicted) else 0.0), (tp / sum(actual) if any(actual) else 0.0)


def measure(model: str, limits: Thresholds, pairs: list[dict[str, str]] | None = None) -> dict[str, Any]:
    pairs = pairs if pairs is not None else load_pairs()
    kinds = [
        (v.kind.value if v.kind else "different")
        for p, s in zip(pairs, scores(pairs, model), strict=True)
        for v in [judge(p["a"], p["b"], s, limits)]
    ]
    labels = [p["label"] for p in pairs]
    same_p, same_r = _pr([k == "same" for k in kinds], [lab == "same" for lab in labels])
    any_p, any_r = _pr([k in OFFERED for k in kinds], [lab in OFFERED for lab in labels])
    misses = [
        {"a": p["a"], "b": p["b"], "label": lab, "judged": k}
        for p, lab, k in zip(pairs, labels, kinds, strict=True)
        if lab != k
    ]
    return {
        "model": model,
        "pairs": len(pairs),
        "merge": limits.merge,
        "suggest": limits.suggest,
        "same": {"precision": round(same_p, 3), "recall": round(same_r, 3)},
        "related_or_same": {"precision": round(any_p, 3), "recall": round(any_r, 3)},
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=settings.similar_model, choices=["wordllama", LEXICAL])
    parser.add_argument("--merge", type=float, default=settings.similar_merge)
    parser.add_argument("--suggest", type=float, default=settings.similar_suggest)
    parser.add_argument("--misses", action="store_true", help="also list the pairs judged otherwise than labelled")
    args = parser.parse_args(argv)
    result = measure(args.model, Thresholds(merge=args.merge, suggest=args.suggest))
    if not args.misses:
        result.pop("misses")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
