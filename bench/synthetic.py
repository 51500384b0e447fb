"""Synthetic cases of N claims with realistic evidence mixes, for benchmarks.

`write_case_json` streams the file claim by claim, so a 100k-claim case never sits in memory
(the benchmark's own footprint would otherwise hide the importer's).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RELIABILITY = "ABCDEF"


def _sources(rng: random.Random) -> list[dict[str, Any]]:
    sources = []
    for i in range(40):
        entry: dict[str, Any] = {
            "key": f"s{i}",
            "name": f"Source {i}",
            "kind": "media",
            "reliability": rng.choice(RELIABILITY[:4]),
        }
        if i >= 10 and rng.random() < 0.4:
            entry["derived_from"] = f"s{rng.randrange(0, 10)}"
        sources.append(entry)
    return sources


def _claims(rng: random.Random, n_claims: int, key: str) -> Iterator[dict[str, Any]]:
    """0-7 evidence items per claim (about 4 on average, as in the issue's measurements)."""
    for c in range(n_claims):
        evidence = [
            {
                "source": f"s{rng.randrange(40)}",
                "stance": "supports" if rng.random() < 0.8 else "contradicts",
                "credibility": rng.randint(1, 5),
                "summary": f"item {j} on claim {c}",
            }
            for j in range(rng.randint(1, 7))
        ]
        yield {"key": f"{key}-c{c}", "statement": f"Synthetic claim {c}", "evidence": evidence}


def _actions(rng: random.Random, n_claims: int, key: str) -> list[dict[str, Any]]:
    return [
        {
            "key": f"{key}-a{a}",
            "title": f"Action {a}",
            "requires": [{"claim": f"{key}-c{c}", "stage": "confirmed"} for c in rng.sample(range(n_claims), 3)],
        }
        for a in range(5)
    ]


def synthetic_case(n_claims: int, *, key: str = "bench", seed: int = 7) -> dict[str, Any]:
    """Sources with lineage chains, claims with evidence, a few actions (in memory: small sizes)."""
    rng = random.Random(seed)
    sources = _sources(rng)
    claims = list(_claims(rng, n_claims, key))
    return {
        "case": {"key": key, "title": "Synthetic"},
        "sources": sources,
        "claims": claims,
        "policy_actions": _actions(rng, n_claims, key),
    }


def write_case_json(path: Path, n_claims: int, *, key: str = "bench", seed: int = 7) -> None:
    """The same case as `synthetic_case`, written to `path` one claim at a time."""
    rng = random.Random(seed)
    sources = _sources(rng)
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"case": ' + json.dumps({"key": key, "title": "Synthetic"}))
        fh.write(',\n"sources": ' + json.dumps(sources) + ',\n"claims": [\n')
        for i, claim in enumerate(_claims(rng, n_claims, key)):
            fh.write((",\n" if i else "") + json.dumps(claim))
        fh.write('\n],\n"policy_actions": ' + json.dumps(_actions(rng, n_claims, key)) + "}\n")
