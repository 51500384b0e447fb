"""Stages and exactly the transitions docs/design.md section 3 allows."""

from __future__ import annotations

import itertools

import pytest

from claims.domain import DomainError, IllegalTransition, ParseError, Stage, Stance, TransitionKind, transition_kind

R, CO, CF, RF = Stage.REPORTED, Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED

# docs/design.md section 3, transcribed: anything not listed here is illegal.
ALLOWED = {
    (R, CO): TransitionKind.AUTOMATIC,  # automatic when the criteria hold
    (CO, R): TransitionKind.AUTOMATIC,  # automatic when corroboration no longer holds
    (CO, CF): TransitionKind.SIGN_OFF,  # criteria + four eyes
    (R, RF): TransitionKind.SIGN_OFF,
    (CO, RF): TransitionKind.SIGN_OFF,
    (CF, CO): TransitionKind.REOPEN,  # explicit, audited human reopen
    (CF, R): TransitionKind.REOPEN,
    (RF, CO): TransitionKind.REOPEN,
    (RF, R): TransitionKind.REOPEN,
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Stage, Stage)), ids=lambda s: s.value)
def test_every_pair_of_stages(current: Stage, target: Stage):
    expected = ALLOWED.get((current, target))
    if expected is None:
        with pytest.raises(IllegalTransition) as caught:
            transition_kind(current, target)
        message = str(caught.value)
        assert message.startswith("stage: ")
        assert f"{current.value} -> {target.value}" in message
    else:
        assert transition_kind(current, target) is expected


def test_sixteen_pairs_nine_allowed():
    pairs = list(itertools.product(Stage, Stage))
    allowed = [p for p in pairs if _allowed(*p)]
    assert len(pairs) == 16
    assert set(allowed) == set(ALLOWED)


def _allowed(current: Stage, target: Stage) -> bool:
    try:
        transition_kind(current, target)
    except IllegalTransition:
        return False
    return True


def test_illegal_jump_names_where_the_claim_can_go():
    with pytest.raises(IllegalTransition, match="can go to corroborated, refuted"):
        transition_kind(R, CF)


# A claim at stage `row` satisfies a requirement for stage `column`.
SATISFIES = {
    R: {R: True, CO: False, CF: False, RF: False},
    CO: {R: True, CO: True, CF: False, RF: False},
    CF: {R: True, CO: True, CF: True, RF: False},
    RF: {R: False, CO: False, CF: False, RF: True},
}


@pytest.mark.parametrize(("stage", "required"), list(itertools.product(Stage, Stage)), ids=lambda s: s.value)
def test_satisfies(stage: Stage, required: Stage):
    assert stage.satisfies(required) is SATISFIES[stage][required]


def test_only_confirmed_and_refuted_are_final():
    assert [s for s in Stage if s.is_final] == [CF, RF]


@pytest.mark.parametrize("raw", ["approved", "", "confirm", 3, None])
def test_unknown_stage_is_a_domain_error_naming_the_value(raw: object):
    with pytest.raises(ParseError) as caught:
        Stage.parse(raw)  # type: ignore[arg-type]
    assert not isinstance(caught.value, IllegalTransition)
    assert isinstance(caught.value, DomainError)  # exit code 1 through ReportedErrors
    assert repr(raw) in str(caught.value)
    assert str(caught.value).startswith("stage: ")


@pytest.mark.parametrize("raw", ["maybe", "", 5, None])
def test_unknown_stance_is_a_domain_error_naming_the_value(raw: object):
    with pytest.raises(ParseError) as caught:
        Stance.parse(raw)  # type: ignore[arg-type]
    assert not isinstance(caught.value, IllegalTransition)
    assert repr(raw) in str(caught.value)
    assert str(caught.value).startswith("stance: ")


def test_stage_and_stance_parse_ignore_case_and_spaces():
    assert Stage.parse(" Corroborated ") is CO
    assert Stance.parse("CONTRADICTS") is Stance.CONTRADICTS
