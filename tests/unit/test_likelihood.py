"""The likelihood rule (ICD 203) and analytic confidence: boundaries pinned, properties checked."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims.domain.assessment import EvidenceFacts
from claims.domain.errors import InvalidPolicy
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.likelihood import TERMS, Confidence, band_for, likelihood
from claims.domain.policy import default_policy, parse_likelihood, parse_policy
from claims.domain.stages import Stance

POLICY = default_policy()
S, C = Stance.SUPPORTS, Stance.CONTRADICTS


def ev(root: str, stance: Stance, grade: str, source: str | None = None, retracted: bool = False) -> EvidenceFacts:
    return EvidenceFacts(source or root, root, stance, Grade.parse(grade), retracted)


def judge(*items: EvidenceFacts):
    return likelihood(items, POLICY.likelihood, POLICY.confidence)


@pytest.mark.parametrize(
    ("percent", "term"),
    [
        (Fraction(1), "almost no chance"),
        (Fraction(4999, 1000), "almost no chance"),
        (Fraction(5), "very unlikely"),
        (Fraction(19999, 1000), "very unlikely"),
        (Fraction(20), "unlikely"),
        (Fraction(44999, 1000), "unlikely"),
        (Fraction(45), "roughly even chance"),
        (Fraction(50), "roughly even chance"),
        (Fraction(55), "roughly even chance"),
        (Fraction(55001, 1000), "likely"),
        (Fraction(80), "likely"),
        (Fraction(80001, 1000), "very likely"),
        (Fraction(95), "very likely"),
        (Fraction(95001, 1000), "almost certain"),
        (Fraction(99), "almost certain"),
    ],
)
def test_icd203_band_boundaries(percent: Fraction, term: str) -> None:
    assert band_for(percent / 100).term == term


def test_bands_mirror_around_even_chance() -> None:
    for k in range(1, 100):
        p = Fraction(k, 100)
        assert TERMS.index(band_for(p).term) == len(TERMS) - 1 - TERMS.index(band_for(1 - p).term)


def test_no_evidence_is_the_prior() -> None:
    result = judge()
    assert result.probability == Fraction(1, 2)
    assert result.term == "roughly even chance"
    assert result.confidence.level is Confidence.LOW


def test_ratios_multiply_the_odds_exactly() -> None:
    # B2 = 3, C3 = 1.5 supporting; C3 = 1.5 contradicting: odds 1 * 3 * 1.5 / 1.5 = 3 -> 75%.
    result = judge(ev("a", S, "B2"), ev("b", S, "C3"), ev("c", C, "C3"))
    assert result.probability == Fraction(3, 4)
    assert result.term == "likely"
    # A1 + B1 = 6 * 4 = 24 -> 24/25 = 96%: over 95, almost certain.
    assert judge(ev("a", S, "A1"), ev("b", S, "B1")).probability == Fraction(24, 25)
    assert judge(ev("a", S, "A1"), ev("b", S, "B1")).term == "almost certain"
    # one B1 supporting -> 4/5 = exactly 80%: the upper edge of likely.
    assert judge(ev("a", S, "B1")).term == "likely"


def test_held_within_one_and_ninety_nine_percent() -> None:
    many = [ev(f"r{i}", S, "A1") for i in range(6)]
    assert judge(*many).probability == Fraction(99, 100)
    assert judge(*[ev(f"r{i}", C, "A1") for i in range(6)]).probability == Fraction(1, 100)


def test_one_line_per_root_and_stance_the_strongest_item() -> None:
    # the derived copy (same root) graded B1 replaces the C3 as the line's weight; it adds no second line.
    result = judge(ev("wire", S, "C3", "wire"), ev("wire", S, "B1", "paper"))
    assert len(result.lines) == 1
    assert result.lines[0].grade == Grade.parse("B1")
    assert result.probability == Fraction(4, 5)


def test_retracted_and_unjudgeable_items_carry_no_weight() -> None:
    assert judge(ev("a", S, "A1", retracted=True)).probability == Fraction(1, 2)
    assert judge(ev("a", S, "F1"), ev("b", S, "A6")).probability == Fraction(1, 2)


def test_confidence_levels_at_their_boundaries() -> None:
    three = [ev("a", S, "B2"), ev("b", S, "C3"), ev("c", S, "C3")]
    assert judge(*three).confidence.level is Confidence.HIGH
    # no B2 or better among the three: not high
    assert judge(ev("a", S, "C2"), ev("b", S, "C3"), ev("c", S, "C3")).confidence.level is Confidence.MODERATE
    # one open contradiction graded C3 knocks high down to moderate
    assert judge(*three, ev("d", C, "C3")).confidence.level is Confidence.MODERATE
    # a D-graded contradiction is not open (below C3)
    assert judge(*three, ev("d", C, "D3")).confidence.level is Confidence.HIGH
    assert judge(ev("a", S, "B2"), ev("b", S, "C3")).confidence.level is Confidence.MODERATE
    assert judge(ev("a", S, "B2")).confidence.level is Confidence.LOW
    two_open = judge(ev("a", S, "A1"), ev("b", S, "A1"), ev("c", C, "C3"), ev("d", C, "C3"))
    assert two_open.confidence.level is Confidence.LOW
    assert any("2 open contradicting lines" in r for r in two_open.confidence.reasons)


def test_confidence_follows_the_side_the_evidence_leans_to() -> None:
    result = judge(ev("a", C, "B2"), ev("b", C, "C3"), ev("c", C, "C2"))
    assert result.probability < Fraction(1, 2)
    assert result.confidence.level is Confidence.HIGH
    assert result.confidence.reasons[0].startswith("3 independent contradicting lines")


def test_term_and_confidence_word_never_share_a_sentence() -> None:
    result = judge(ev("a", S, "B2"), ev("b", S, "C3"), ev("c", C, "C3"))
    text = result.sentence("factory-exists") + " " + result.confidence.sentence()
    sentences = [s for s in re.split(r"(?<=\.)\s+", text) if s]
    assert len(sentences) == 2
    for sentence in sentences:
        has_term = any(re.search(rf"\b{t}\b", sentence) for t in TERMS)
        has_conf = any(re.search(rf"\b{c.value}\b", sentence) for c in Confidence)
        assert not (has_term and has_conf), sentence


def test_policy_file_carries_the_table_and_rejects_bad_ratios() -> None:
    assert POLICY.likelihood.ratio(Grade.parse("B2")) == Fraction(3)
    rows = {r.value: [1, 1, 1, 1, 1, 1] for r in Reliability}
    with pytest.raises(InvalidPolicy, match=r"likelihood\.ratios\.C\[1\]: 0\.5 must be at least 1"):
        parse_likelihood({"prior": 0.5, "ratios": {**rows, "C": [1, 0.5, 1, 1, 1, 1]}})
    with pytest.raises(InvalidPolicy, match=r"likelihood\.prior: 1\.0 must be between 0 and 1"):
        parse_likelihood({"prior": 1.0, "ratios": rows})
    custom = {
        "version": "v9",
        "stages": {s: {"criteria": [{"kind": "sign_off"}]} for s in ("corroborated", "confirmed", "refuted")},
        "likelihood": {"prior": 0.2, "ratios": rows},
    }
    assert parse_policy(custom).likelihood.prior == Fraction(1, 5)


# --- properties ---------------------------------------------------------------------------

GRADES = [Grade(r, c) for r in Reliability for c in Credibility]
items = st.lists(
    st.builds(
        lambda root, stance, grade, retracted: ev(f"r{root}", stance, str(grade), retracted=retracted),
        st.integers(0, 5),
        st.sampled_from([S, C]),
        st.sampled_from(GRADES),
        st.booleans(),
    ),
    max_size=12,
)


@given(items, st.data())
def test_adding_a_derived_item_never_changes_the_probability(base: list[EvidenceFacts], data: st.DataObject) -> None:
    """A source repeating a line already present (same root and stance, no stronger grade) adds nothing."""
    live = [e for e in base if not e.retracted]
    if not live:
        return
    line = data.draw(st.sampled_from(live))
    ratio = POLICY.likelihood.ratio(line.grade)
    weaker = [g for g in GRADES if POLICY.likelihood.ratio(g) <= ratio]
    grade = data.draw(st.sampled_from(weaker))
    derived = EvidenceFacts("repeater", line.root, line.stance, grade)
    position = data.draw(st.integers(0, len(base)))
    assert judge(*base[:position], derived, *base[position:]).probability == judge(*base).probability


@given(items, st.sampled_from(GRADES))
def test_adding_an_independent_supporting_line_never_lowers_it(base: list[EvidenceFacts], grade: Grade) -> None:
    before = judge(*base)
    after = judge(*base, EvidenceFacts("new", "new-root", S, grade))
    assert after.probability >= before.probability
    assert TERMS.index(after.term) >= TERMS.index(before.term)
