"""People's names compare folded: `Bob`, `bob` and `ｂｏｂ` are one person (issue 21, point 5)."""

from __future__ import annotations

import unicodedata


def fold_name(name: str) -> str:
    """NFKC-normalised and case-folded, so look-alike spellings of one name cannot be two people."""
    return unicodedata.normalize("NFKC", name).casefold()


def same_person(a: str | None, b: str | None) -> bool:
    """True when two names fold to one (four eyes compares people, not spellings)."""
    return a is not None and b is not None and fold_name(a.strip()) == fold_name(b.strip())
