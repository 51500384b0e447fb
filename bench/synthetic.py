"""A synthetic case of N claims with realistic evidence mixes, for benchmarks."""

from __future__ import annotations

import random
from typing import Any

RELIABILITY = "ABCDEF"


def synthetic_case(n_claims: int, *, key: str = "bench", seed: int = 7) -> dict[str, Any]:
    """Sources with lineage chains, claims with 0-6 evidence items each, a few actions."""
    rng = random.Random(seed)
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
    claims = []
    for c in range(n_claims):
        evidence = [
            {
                "source": f"s{rng.randrange(40)}",
                "stance": "supports" if rng.random() < 0.8 else "contradicts",
                "credibility": rng.randint(1, 5),
                "summary": f"item {j} on claim {c}",
            }
            for j in range(rng.randint(0, 6))
        ]
        claims.append({"key": f"{key}-c{c}", "statement": f"Synthetic claim {c}", "evidence": evidence})
    actions = [
        {
            "key": f"{key}-a{a}",
            "title": f"Action {a}",
            "requires": [{"claim": f"{key}-c{rng.randrange(n_claims)}", "stage": "confirmed"} for _ in range(3)],
        }
        for a in range(5)
    ]
    return {"case": {"key": key, "title": "Synthetic"}, "sources": sources, "claims": claims, "policy_actions": actions}
