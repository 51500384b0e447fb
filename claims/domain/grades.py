"""Admiralty grades: source reliability A-F and information credibility 1-6."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from claims.domain.errors import InvalidGrade


class Reliability(StrEnum):
    A = "A"  # completely reliable
    B = "B"  # usually reliable
    C = "C"  # fairly reliable
    D = "D"  # not usually reliable
    E = "E"  # unreliable
    F = "F"  # cannot be judged

    @classmethod
    def parse(cls, value: object, field: str = "reliability") -> Reliability:
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            raise InvalidGrade(f"{field}: {value!r} is not a reliability A-F") from None

    @property
    def label(self) -> str:
        return _RELIABILITY_LABELS[self]


_RELIABILITY_LABELS = {
    Reliability.A: "completely reliable",
    Reliability.B: "usually reliable",
    Reliability.C: "fairly reliable",
    Reliability.D: "not usually reliable",
    Reliability.E: "unreliable",
    Reliability.F: "cannot be judged",
}


class Credibility(IntEnum):
    CONFIRMED = 1
    PROBABLY_TRUE = 2
    POSSIBLY_TRUE = 3
    DOUBTFUL = 4
    IMPROBABLE = 5
    CANNOT_BE_JUDGED = 6

    @classmethod
    def parse(cls, value: object, field: str = "credibility") -> Credibility:
        try:
            if isinstance(value, bool):
                raise ValueError
            return cls(int(str(value).strip()))
        except ValueError:
            raise InvalidGrade(f"{field}: {_shown(value)} is not a credibility 1-6") from None


def _shown(value: object) -> str:
    """The value for a one-line message: a 5,000-digit number neither breaks repr() nor fills the screen."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit number"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text) - 2:,} characters)"


_GRADE = re.compile(r"^\s*([A-Fa-f])\s*([1-6])\s*$")


@dataclass(frozen=True, slots=True)
class Grade:
    """Reliability plus credibility, written like `B2`."""

    reliability: Reliability
    credibility: Credibility
    # 0..35, for table lookups in hot loops (the assessment compares every item of a 100k-claim
    # case against a few thresholds); not part of equality or hashing.
    code: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", _code(self.reliability, self.credibility))

    @classmethod
    def parse(cls, value: object, field: str = "grade") -> Grade:
        match = _GRADE.match(str(value))
        if not match:
            raise InvalidGrade(f"{field}: {value!r} is not a grade (reliability A-F then credibility 1-6, e.g. B2)")
        return cls(Reliability(match[1].upper()), Credibility(int(match[2])))

    def __str__(self) -> str:
        return f"{self.reliability.value}{self.credibility.value}"

    def at_least(self, threshold: Grade) -> bool:
        """`graded X n or better`: reliability in A..X and credibility in 1..n; F and 6 never count."""
        return AT_LEAST[threshold.code][self.code]


def _code(reliability: Reliability, credibility: Credibility) -> int:
    return _RELIABILITY_ORDER.index(reliability) * 6 + int(credibility) - 1


def _at_least(reliability: Reliability, credibility: Credibility, threshold: tuple[Reliability, Credibility]) -> bool:
    """The rule itself: reliability in A..X and credibility in 1..n; F and 6 never count."""
    if reliability is Reliability.F or credibility is Credibility.CANNOT_BE_JUDGED:
        return False
    return reliability <= threshold[0] and credibility <= threshold[1]


_RELIABILITY_ORDER = list(Reliability)
_PAIRS = [(r, c) for r in Reliability for c in Credibility]  # in code order
# AT_LEAST[threshold.code][grade.code]: whether grade is `threshold or better`, for all 36 x 36 pairs
# (threshold first: a hot loop takes one threshold's row, then indexes it by each item's grade).
AT_LEAST: list[list[bool]] = [[_at_least(r, c, t) for r, c in _PAIRS] for t in _PAIRS]
