"""schema.org ClaimReview (JSON-LD) for every confirmed or refuted claim of a case.

The verdict is the rating: confirmed "True" (5 of 1-5), refuted "False" (1). `itemReviewed` is the
claim as it appeared: authored by the source of its earliest supporting evidence, published on the
earliest observed date, appearing at the supporting evidence's locators. The review body carries
the likelihood and, in a separate sentence, the analytic confidence. `url` points at the claim's
page on the dashboard ($CLAIMS_PUBLIC_URL, default http://localhost:8501).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from claims.domain.markings import Scale

RATING = {"confirmed": (5, "True"), "refuted": (1, "False")}
DEFAULT_AUTHOR = "Claims verification team"


def claim_reviews(
    case_file: dict[str, Any],
    likelihoods: dict[str, dict[str, Any]],
    scale: Scale | None = None,
    base_url: str | None = None,
    withheld: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One JSON-LD document with a ClaimReview per confirmed or refuted claim (none for the others).

    Need to know (issue 20): a verdict is published only with its basis, so a claim with any evidence
    left out of this export (`withheld`: claim key -> items) gets no review. Each review says its
    marking (the highest of the case's and of the evidence and sources it shows) in `conditionsOfAccess`.
    """
    scale = scale or Scale()
    withheld = withheld or {}
    base = (base_url or os.environ.get("CLAIMS_PUBLIC_URL") or "http://localhost:8501").rstrip("/")
    sources = {s["key"]: s for s in case_file["sources"]}
    reviews = [
        _review(c, sources, likelihoods.get(c["key"]), base, _marking(scale, case_file, c, sources))
        for c in case_file["claims"]
        if c["stage"] in RATING and not withheld.get(c["key"])
    ]
    return {"@context": "https://schema.org", "@graph": reviews}


def _marking(scale: Scale, case_file: dict[str, Any], c: dict[str, Any], sources: dict[str, dict[str, Any]]) -> str:
    head = case_file["case"]
    found = [head.get("marking")]
    caveats = [head.get("caveat")]
    for e in c.get("evidence", []):
        found += [e.get("marking"), sources[e["source"]].get("marking")]
        caveats += [e.get("caveat"), sources[e["source"]].get("caveat")]
    level = scale.highest(m for m in found if m)
    extra = sorted({x for x in caveats if x})
    return f"{level} ({'; '.join(extra)})" if extra else level


def _review(
    c: dict[str, Any], sources: dict[str, dict[str, Any]], judged: dict[str, Any] | None, base: str, marking: str
) -> dict[str, Any]:
    value, word = RATING[c["stage"]]
    live = [e for e in c.get("evidence", []) if not e.get("retracted")]
    supporting = sorted(
        (e for e in live if e["stance"] == "supports"), key=lambda e: (e.get("observed_at") or "9999", e["source"])
    )
    first = supporting[0] if supporting else (live[0] if live else None)
    item: dict[str, Any] = {"@type": "Claim"}
    if first is not None:
        item["author"] = {"@type": "Organization", "name": sources[first["source"]]["name"]}
        if first.get("observed_at"):
            item["datePublished"] = first["observed_at"]
    # Where the claim appeared: the supporting evidence's locators (a URL, or the citation's words),
    # or the name of the source that carried it when no locator was recorded.
    appearances = dict.fromkeys(e.get("locator") or sources[e["source"]]["name"] for e in supporting or live)
    if appearances:
        item["appearance"] = [
            {"@type": "CreativeWork", "url" if loc.startswith(("http://", "https://")) else "name": loc}
            for loc in appearances
        ]
    reached = next((h for h in reversed(c.get("history", [])) if h["stage"] == c["stage"]), {})
    review: dict[str, Any] = {
        "@type": "ClaimReview",
        "url": f"{base}/claim?claim={quote(c['key'])}",
        "claimReviewed": c["statement"],
        "itemReviewed": item,
        "author": {"@type": "Organization", "name": DEFAULT_AUTHOR},
        "datePublished": (reached.get("at") or "")[:10] or None,
        "conditionsOfAccess": marking,
        "reviewRating": {
            "@type": "Rating",
            "ratingValue": value,
            "bestRating": 5,
            "worstRating": 1,
            "alternateName": word,
        },
    }
    if judged:
        review["reviewBody"] = f"{judged['sentence']} {judged['confidence']['sentence']}"
    return {k: v for k, v in review.items() if v is not None}
