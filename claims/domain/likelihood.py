"""Likelihood (ICD 203) and analytic confidence of one claim, from its live evidence.

The rule (docs/decisions/0006-likelihood-rule.md): only independent lines count - one per
lineage root and stance, the strongest live item of each - so a source that repeats another
adds nothing. Starting from the policy's prior, each supporting line multiplies the odds by
its grade's likelihood ratio and each contradicting line divides them. Arithmetic is exact
(fractions), so the rule is deterministic and monotone to the last bit. The probability is
held within ICD 203's 1-99% and named by its ICD 203 term.

Confidence is a separate judgement about the evidence base (how many independent lines, how
good, how contested), never worded in the same sentence as the likelihood term.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from claims.domain.assessment import EvidenceFacts
from claims.domain.grades import Grade
from claims.domain.policy import ConfidenceRule, ConfidenceTier, LikelihoodTable
from claims.domain.stages import Stance

FLOOR, CEILING = Fraction(1, 100), Fraction(99, 100)


@dataclass(frozen=True, slots=True)
class Band:
    term: str
    low: int  # percent, as ICD 203 states the range
    high: int


# Symmetric around 50%: an upper bound belongs to the band nearer the middle, so a probability p
# and 1 - p always get mirrored terms. Exactly 45% and 55% are "roughly even chance".
BANDS = (
    Band("almost no chance", 1, 5),
    Band("very unlikely", 5, 20),
    Band("unlikely", 20, 45),
    Band("roughly even chance", 45, 55),
    Band("likely", 55, 80),
    Band("very likely", 80, 95),
    Band("almost certain", 95, 99),
)
TERMS = tuple(b.term for b in BANDS)


def band_for(probability: Fraction) -> Band:
    """The ICD 203 band; see BANDS for which side a boundary falls on."""
    percent = probability * 100
    if percent < 5:
        return BANDS[0]
    if percent < 20:
        return BANDS[1]
    if percent < 45:
        return BANDS[2]
    if percent <= 55:
        return BANDS[3]
    if percent <= 80:
        return BANDS[4]
    if percent <= 95:
        return BANDS[5]
    return BANDS[6]


class Confidence(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Line:
    """One independent line: a lineage root speaking for or against, weighted by its strongest live item."""

    root: str
    stance: Stance
    grade: Grade
    ratio: Fraction
    source: str


@dataclass(frozen=True, slots=True)
class ConfidenceJudgement:
    level: Confidence
    reasons: tuple[str, ...]

    def sentence(self) -> str:
        """One sentence with the confidence word and its reasons (and no likelihood term)."""
        return f"Analytic confidence in this judgement is {self.level.value}: {'; '.join(self.reasons)}."


@dataclass(frozen=True, slots=True)
class Likelihood:
    probability: Fraction
    band: Band
    prior: Fraction
    lines: tuple[Line, ...]
    confidence: ConfidenceJudgement

    @property
    def term(self) -> str:
        return self.band.term

    @property
    def percent(self) -> int:
        return round(self.probability * 100)

    def sentence(self, claim: str) -> str:
        """One sentence with the likelihood term (and no confidence word)."""
        return (
            f"Likelihood that {claim} is true: {self.term} ({self.band.low}-{self.band.high}%; "
            f"the evidence rule gives {self.percent}%)."
        )


def independent_lines(evidence: Iterable[EvidenceFacts], table: LikelihoodTable) -> tuple[Line, ...]:
    """One line per (lineage root, stance): its strongest live item. Ordered, so the result is deterministic."""
    best: dict[tuple[str, Stance], Line] = {}
    for e in evidence:
        if e.retracted:
            continue
        line = Line(e.root, e.stance, e.grade, table.ratio(e.grade), e.source)
        held = best.get((e.root, e.stance))
        if held is None or _strength(line) > _strength(held):
            best[(e.root, e.stance)] = line
    return tuple(best[k] for k in sorted(best, key=lambda k: (k[1].value, k[0])))


def _strength(line: Line) -> tuple[Fraction, int, int, str]:
    # Higher ratio, then better grade, then source key: a total order, so ties never depend on input order.
    return (line.ratio, -ord(line.grade.reliability.value), -line.grade.credibility, line.source)


def probability(lines: Iterable[Line], prior: Fraction) -> Fraction:
    """Prior odds times the ratios of supporting lines, divided by those of contradicting lines; held within 1-99%."""
    odds = prior / (1 - prior)
    for line in lines:
        odds = odds * line.ratio if line.stance is Stance.SUPPORTS else odds / line.ratio
    return min(max(odds / (1 + odds), FLOOR), CEILING)


def _qualifies(line: Line, grade: Grade) -> bool:
    return line.grade.at_least(grade)


def confidence(lines: tuple[Line, ...], leaning: Stance, rule: ConfidenceRule) -> ConfidenceJudgement:
    """Low, moderate or high from the lines on the side the evidence leans to and the open contradictions."""
    other = Stance.CONTRADICTS if leaning is Stance.SUPPORTS else Stance.SUPPORTS
    mine = [ln for ln in lines if ln.stance is leaning and _qualifies(ln, rule.grade)]
    strong = [ln for ln in mine if _qualifies(ln, rule.strong_grade)]
    against = [ln for ln in lines if ln.stance is other and _qualifies(ln, rule.grade)]
    adj, opp = _adj(leaning), _adj(other)

    def reaches(tier: ConfidenceTier) -> bool:
        return len(mine) >= tier.lines and len(strong) >= tier.strong and len(against) <= tier.open_contradictions

    level = Confidence.HIGH if reaches(rule.high) else Confidence.MODERATE if reaches(rule.moderate) else Confidence.LOW
    reasons = [
        f"{len(mine)} independent {adj} line{'s' if len(mine) != 1 else ''} graded {rule.grade} or better",
        f"{len(strong)} of them graded {rule.strong_grade} or better",
        (
            f"{len(against)} open {opp} line{'s' if len(against) != 1 else ''} graded {rule.grade} or better "
            f"({', '.join(ln.root for ln in against)})"
            if against
            else f"no open {opp} line graded {rule.grade} or better"
        ),
    ]
    above = (
        Confidence.HIGH if level is Confidence.MODERATE else Confidence.MODERATE if level is Confidence.LOW else None
    )
    if above is not None:
        tier = rule.high if above is Confidence.HIGH else rule.moderate
        reasons.append(f"{above.value} would need {_needs(tier, rule, adj, opp)}")
    return ConfidenceJudgement(level, tuple(reasons))


def _needs(tier: ConfidenceTier, rule: ConfidenceRule, adj: str, opp: str) -> str:
    parts = [f">= {tier.lines} independent {adj} lines graded {rule.grade} or better"]
    if tier.strong:
        parts.append(f">= {tier.strong} graded {rule.strong_grade} or better")
    allowed = tier.open_contradictions
    parts.append(
        f"no open {opp} line" if allowed == 0 else f"at most {allowed} open {opp} line{'s' if allowed > 1 else ''}"
    )
    return ", ".join(parts)


def _adj(stance: Stance) -> str:
    return "supporting" if stance is Stance.SUPPORTS else "contradicting"


def likelihood(evidence: Iterable[EvidenceFacts], table: LikelihoodTable, rule: ConfidenceRule) -> Likelihood:
    """The claim's probability, its ICD 203 band, and the analytic confidence with reasons."""
    lines = independent_lines(evidence, table)
    p = probability(lines, table.prior)
    leaning = Stance.SUPPORTS if p >= Fraction(1, 2) else Stance.CONTRADICTS
    return Likelihood(p, band_for(p), table.prior, lines, confidence(lines, leaning, rule))
