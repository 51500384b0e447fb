"""Admiralty grades: parsing and `graded X n or better` at its boundaries."""

from __future__ import annotations

import pytest

from claims.domain import Credibility, Grade, InvalidGrade, Reliability


def test_parse_splits_reliability_and_credibility_and_prints_back():
    grade = Grade.parse("b2")
    assert grade.reliability is Reliability.B
    assert grade.credibility is Credibility.PROBABLY_TRUE
    assert str(grade) == "B2"


@pytest.mark.parametrize(
    ("grade", "threshold", "qualifies"),
    [
        # Exactly at the threshold qualifies; one step worse on either scale does not.
        ("C3", "C3", True),
        ("B2", "C3", True),
        ("A1", "C3", True),
        ("D3", "C3", False),
        ("C4", "C3", False),
        ("B2", "B2", True),
        ("C2", "B2", False),
        ("B3", "B2", False),
        ("A1", "B2", True),
        ("A2", "B2", True),
        ("B1", "B2", True),
        # Better on one scale does not make up for worse on the other.
        ("A4", "C3", False),
        ("D1", "C3", False),
    ],
)
def test_at_least_is_inclusive_on_both_scales(grade: str, threshold: str, qualifies: bool):
    assert Grade.parse(grade).at_least(Grade.parse(threshold)) is qualifies


@pytest.mark.parametrize("grade", ["F1", "A6", "F6", "F3", "C6"])
def test_f_and_6_never_qualify_even_against_f6(grade: str):
    assert not Grade.parse(grade).at_least(Grade.parse("F6"))
    assert not Grade.parse(grade).at_least(Grade.parse("C3"))


def test_e5_qualifies_against_f6_because_only_f_and_6_are_excluded():
    assert Grade.parse("E5").at_least(Grade.parse("F6"))


@pytest.mark.parametrize("raw", ["Z9", "B7", "", "B", "22", "BB", "B0", "G1", "B22"])
def test_invalid_grade_raises_naming_field_and_value(raw: str):
    with pytest.raises(InvalidGrade) as caught:
        Grade.parse(raw)
    message = str(caught.value)
    assert message.startswith("grade: ")
    assert repr(raw) in message
    assert "\n" not in message


def test_invalid_grade_uses_the_callers_field_name():
    with pytest.raises(InvalidGrade, match=r"^evidence\[3\]\.grade: 'Z9' "):
        Grade.parse("Z9", field="evidence[3].grade")


@pytest.mark.parametrize("raw", ["Z", "", "AB", "1", None])
def test_bad_reliability_raises_naming_the_value(raw: object):
    with pytest.raises(InvalidGrade) as caught:
        Reliability.parse(raw)
    assert str(caught.value).startswith("reliability: ")
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize("raw", [0, 7, 9, "x", "2.0", 2.5, True, None, ""])
def test_bad_credibility_raises_naming_the_value(raw: object):
    with pytest.raises(InvalidGrade) as caught:
        Credibility.parse(raw)
    assert str(caught.value).startswith("credibility: ")
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize(("raw", "expected"), [(1, 1), ("6", 6), (" 3 ", 3)])
def test_credibility_accepts_the_scale_ends_as_int_or_text(raw: object, expected: int):
    assert Credibility.parse(raw) == expected
