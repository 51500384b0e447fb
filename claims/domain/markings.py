"""Sensitivity markings (issue 20): an ordered scale, TLP 2.0 by default, and who may read what.

A marking is one level of the deployment's scale, lowest first. TLP 2.0 is the default
(CLEAR < GREEN < AMBER < AMBER+STRICT < RED); a deployment may replace it with its own ordered
scale in settings (`CLAIMS_MARKINGS`), e.g. OFFICIAL < OFFICIAL-SENSITIVE. A handling caveat is
free text carried with the marking ("NO FOREIGN NATIONALS"); it is shown and exported, never
used to decide access.

An item's effective marking is the highest of its own and its containers' (evidence: its own,
its source's and its case's); a person reads an item only if their clearance is at or above
that. Readers filter in SQL with `Scale.allowed(clearance)`: the names at or below a clearance,
so a stored name the scale does not know is never shown (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from claims.domain.errors import InvalidInput

TLP = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
DEFAULT_MARKING = "TLP:AMBER"  # a new case's marking when none is given: not for public release
CAVEAT_MAX = 200
_CAVEAT = re.compile(r"[A-Za-z0-9 ,.;:/()+'-]*")


@dataclass(frozen=True)
class Scale:
    """A deployment's markings, lowest first; every comparison of markings goes through one scale."""

    levels: tuple[str, ...] = TLP

    def __post_init__(self) -> None:
        if not self.levels:
            raise InvalidInput("CLAIMS_MARKINGS: the marking scale is empty")
        folded = [level.upper() for level in self.levels]
        if len(set(folded)) != len(folded):
            raise InvalidInput(f"CLAIMS_MARKINGS: {list(self.levels)!r} names a marking twice")

    def parse(self, value: str, *, field: str = "marking") -> str:
        """The scale's own spelling of `value`: case-insensitive, and `AMBER` for `TLP:AMBER` on the TLP scale."""
        text = str(value).strip().upper()
        for level in self.levels:
            if text in (level.upper(), level.upper().removeprefix("TLP:")):
                return level
        raise InvalidInput(f"{field}: {value!r} is not a marking (one of {', '.join(self.levels)})")

    def rank(self, marking: str) -> int:
        return self.levels.index(self.parse(marking))

    def highest(self, markings: Iterable[str]) -> str:
        """The effective marking of an item: the highest of its own and its containers'."""
        return max((self.parse(m) for m in markings), key=self.levels.index, default=self.levels[0])

    def allowed(self, clearance: str) -> tuple[str, ...]:
        """The markings a person cleared to `clearance` may read (what reads filter on, in SQL)."""
        return self.levels[: self.rank(clearance) + 1]

    def may_read(self, clearance: str, *markings: str) -> bool:
        return self.rank(self.highest(markings)) <= self.rank(clearance)

    def is_lowering(self, old: str, new: str) -> bool:
        return self.rank(new) < self.rank(old)

    @property
    def top(self) -> str:
        return self.levels[-1]

    @property
    def bottom(self) -> str:
        return self.levels[0]


def parse_scale(levels: Sequence[str] | None) -> Scale:
    """The scale from settings: None or empty means TLP 2.0."""
    return Scale(tuple(str(level).strip() for level in levels)) if levels else Scale()


def valid_caveat(caveat: str | None) -> str | None:
    """A handling caveat: short plain text (it is printed in exports and on every page)."""
    if caveat is None or not caveat.strip():
        return None
    caveat = " ".join(caveat.split())
    if len(caveat) > CAVEAT_MAX or not _CAVEAT.fullmatch(caveat):
        raise InvalidInput(
            f"caveat: {caveat[:60]!r} is not a handling caveat (letters, digits, spaces and , . ; : / ( ) + ' -; "
            f"at most {CAVEAT_MAX})"
        )
    return caveat


def further_lines(n: int) -> str:
    """What a claim's view says of the items its assessment counts that this reader may not read (issue 20)."""
    return f"the assessment also counts {n} further line{'s' if n != 1 else ''} you may not read"
