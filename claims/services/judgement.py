"""Likelihood and confidence of claims as plain dicts, for `claims show --json`, the dashboard and every export."""

from __future__ import annotations

from typing import Any

from claims.domain.assessment import ClaimFacts, EvidenceFacts
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.likelihood import likelihood
from claims.domain.lineage import resolve_roots
from claims.domain.policy import Policy
from claims.domain.stages import Stage, Stance
from claims.services.errors import NotFound
from claims.services.facts import load_facts
from claims.services.runtime import Runtime


def likelihood_json(facts: ClaimFacts, policy: Policy) -> dict[str, Any]:
    """The ICD 203 judgement: likelihood (term, range, probability) and, apart from it, the analytic confidence."""
    result = likelihood(facts.evidence, policy.likelihood, policy.confidence)
    return {
        "probability": round(float(result.probability), 4),
        "percent": result.percent,
        "term": result.term,
        "range": f"{result.band.low}-{result.band.high}%",
        "prior": float(result.prior),
        "policy_version": policy.version,
        "sentence": result.sentence(facts.key),
        "lines": [
            {
                "root": ln.root,
                "stance": ln.stance.value,
                "grade": str(ln.grade),
                "source": ln.source,
                "ratio": float(ln.ratio),
            }
            for ln in result.lines
        ],
        "confidence": {
            "level": result.confidence.level.value,
            "reasons": list(result.confidence.reasons),
            "sentence": result.confidence.sentence(),
        },
    }


def shown_likelihoods(case_file: dict[str, Any], policy: Policy) -> dict[str, dict[str, Any]]:
    """Claim key -> likelihood_json judged from what an export shows (issue 20), never from what it left out.

    A judgement is as sensitive as what it rests on: an export at TLP:GREEN judges each claim on
    its GREEN lines only, so no likelihood, line or root reveals an item above the export's marking.
    """
    sources = {s["key"]: s for s in case_file["sources"]}
    roots = resolve_roots({k: s.get("derived_from") for k, s in sources.items()})
    out: dict[str, dict[str, Any]] = {}
    for c in case_file["claims"]:
        items = tuple(
            EvidenceFacts(
                source=e["source"],
                root=roots.get(e["source"], e["source"]),
                stance=Stance(e["stance"]),
                grade=Grade(Reliability(sources[e["source"]]["reliability"]), Credibility(int(e["credibility"]))),
                retracted=bool(e.get("retracted")),
                source_name=sources[e["source"]]["name"],
            )
            for e in c.get("evidence", [])
        )
        out[c["key"]] = likelihood_json(ClaimFacts(c["key"], Stage(c["stage"]), items), policy)
    return out


def case_likelihoods(rt: Runtime, case_key: str) -> dict[str, dict[str, Any]]:
    """Claim key -> likelihood_json for every claim of one case (a fixed number of queries)."""
    with rt.uow(write=False) as uow:
        case = uow.cases.get(case_key)
        if case is None:
            raise NotFound(f"case: unknown case {case_key!r}")
        facts = load_facts(uow, uow.claims.for_case(case.id))
        return {key: likelihood_json(f, rt.policy) for key, f in facts.items()}
