"""The manager's answer in words: per action the shortest gap, per claim what it blocks.

Pure presentation over the domain's readiness result (no Streamlit), so it is unit-tested
directly. The services decide readiness; this only orders and phrases it.
"""

from __future__ import annotations

from dataclasses import dataclass

from claims.domain.readiness import ActionReadiness, RequirementStatus

_SIGN_OFF = "sign-off"


def _is_sign_off(gap: str) -> bool:
    return _SIGN_OFF in gap


def phrase(gaps: tuple[str, ...] | list[str]) -> str:
    """Gaps as one sentence: the evidence still missing, then sign-off if that is also needed.

    "needs 1 more independent supporting source graded C3 or better, then sign-off"; a claim
    that waits only for its reviewer keeps the service's own words ("awaiting sign-off by ...").
    """
    evidence = [g for g in gaps if not _is_sign_off(g)]
    sign_off = [g for g in gaps if _is_sign_off(g)]
    if not evidence:
        return "; ".join(sign_off)
    return "; ".join(evidence) + (", then sign-off" if sign_off else "")


def distance(r: RequirementStatus) -> tuple[int, int]:
    """How far a requirement is from met: evidence gaps first, then any sign-off still needed."""
    evidence = sum(1 for g in r.gaps if not _is_sign_off(g))
    return (evidence, len(r.gaps) - evidence)


def blocking(a: ActionReadiness) -> list[RequirementStatus]:
    """The requirements an action still waits for, nearest first."""
    return sorted((r for r in a.requirements if not r.met), key=distance)


def shortest_gap(a: ActionReadiness) -> str:
    """The one requirement nearest to being met, said in one line ("claim: what is missing")."""
    open_ = blocking(a)
    if not open_:
        return ""
    r = open_[0]
    return f"{r.claim}: {phrase(r.gaps)}"


def ordered(actions: list[ActionReadiness]) -> list[ActionReadiness]:
    """Not-ready actions first (fewest blocking claims first), then the ready ones; stable otherwise."""
    return sorted(actions, key=lambda a: (a.ready, len(blocking(a))))


@dataclass(frozen=True)
class ClaimGap:
    """One claim said once, however many actions it blocks."""

    claim: str
    stage: str
    needs: str
    actions: tuple[str, ...]
    gaps: tuple[str, ...]

    @property
    def sentence(self) -> str:
        n = len(self.actions)
        return f"{self.claim} blocks {n} action{'s' if n != 1 else ''}: {phrase(self.gaps)}"


def gaps_by_claim(actions: list[ActionReadiness]) -> list[ClaimGap]:
    """Each blocking claim once, with the actions it blocks; the claim blocking most actions first.

    When actions need the same claim at different stages, the highest requirement's gaps are
    given (closing it closes the others).
    """
    found: dict[str, list[tuple[ActionReadiness, RequirementStatus]]] = {}
    for a in actions:
        for r in a.requirements:
            if not r.met:
                found.setdefault(r.claim, []).append((a, r))
    out = []
    for claim, pairs in found.items():
        widest = max((r for _, r in pairs), key=lambda r: (len(r.gaps), r.required_stage.value))
        out.append(
            ClaimGap(
                claim=claim,
                stage=widest.stage.value if widest.stage else "unknown",
                needs=widest.required_stage.value,
                actions=tuple(dict.fromkeys(a.key for a, _ in pairs)),
                gaps=widest.gaps,
            )
        )
    return sorted(out, key=lambda g: (-len(g.actions), distance_of(g), g.claim))


def distance_of(g: ClaimGap) -> tuple[int, int]:
    evidence = sum(1 for x in g.gaps if not _is_sign_off(x))
    return (evidence, len(g.gaps) - evidence)
