"""Whether two claim statements say the same thing: the rule on top of a similarity score.

An embedding (or lexical) score alone rates "Russia has denied building the factory" as close to
"Russia has built the factory" as a paraphrase, and "a factory in Iran" as close to "a factory in
China". Both are near-misses an analyst must never merge. So the score is combined with three
cheap checks on the text itself:

- negation: one statement carries a negation or denial cue ("not", "never", "has denied",
  "rejects") and the other does not;
- places and other names: each statement names something (a capitalised word that is not the
  first word unless it is a known country or capital; demonyms folded to their country:
  "Russian" -> "russia") that the other does not,
  i.e. one name was swapped for another. A statement that only adds a name ("in China" ->
  "in Xinjiang, China") is not a swap;
- numbers: each statement has a number (digits or a number word) the other lacks.

A check that fires forbids "same": a pair with a conflict is at best "related" (same subject,
possibly a different assertion). It does not lower the score: a paraphrase often names the same
thing differently ("China" / "Xinjiang", "Russia" / "Moscow"), and such a pair must still be
offered as related. The thresholds are settings; this module only applies them. Pure: no
framework, no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

NEGATION_CUES = frozenset(
    {
        "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without",
        "deny", "denies", "denied", "denying", "denial", "reject", "rejects", "rejected",
        "false", "untrue", "refute", "refutes", "refuted", "dismissed", "dismisses",
    }
)  # fmt: skip
NUMBER_WORDS = frozenset(
    {
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "twenty", "thirty", "forty", "fifty", "hundred", "hundreds", "thousand", "thousands",
        "million", "millions", "dozen", "dozens",
    }
)  # fmt: skip
DEMONYMS = {
    "russian": "russia", "russians": "russia", "chinese": "china", "iranian": "iran", "iranians": "iran",
    "ukrainian": "ukraine", "ukrainians": "ukraine", "american": "usa", "us": "usa", "u.s.": "usa",
    "united states": "usa", "belarusian": "belarus", "north korean": "north korea", "korean": "korea",
    "european": "eu", "turkish": "turkey", "syrian": "syria", "german": "germany", "french": "france",
    "british": "uk", "indian": "india", "israeli": "israel",
}  # fmt: skip
# Countries a statement may open with ("Iran has sent..."): the first word is otherwise not taken as a name.
COUNTRIES = frozenset(
    {
        "russia", "china", "iran", "ukraine", "belarus", "syria", "turkey", "israel", "india", "germany",
        "france", "usa", "uk", "korea", "japan", "poland", "georgia", "moldova", "serbia", "hungary",
        "pakistan", "afghanistan", "iraq", "yemen", "libya", "egypt", "taiwan", "moscow", "beijing",
        "tehran", "kyiv", "minsk", "pyongyang", "washington", "brussels",
    }
)  # fmt: skip
# Capitalised words that are not names: sentence openers and function words in titles.
_NOT_NAMES = frozenset({"the", "a", "an", "this", "that", "it", "in", "on", "of", "and", "or", "for", "at"})
_WORD = re.compile(r"[A-Za-z][A-Za-z.'-]*|\d[\d,.]*")
_NEG_CONTRACTION = re.compile(r"n't\b", re.IGNORECASE)


class Kind(StrEnum):
    SAME = "same"
    RELATED = "related"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """`merge`: at or above, "same claim"; `suggest`: at or above (below merge), "related"."""

    merge: float
    suggest: float

    def __post_init__(self) -> None:
        if not (0 <= self.suggest <= self.merge <= 1):
            raise ValueError(f"thresholds: need 0 <= suggest ({self.suggest}) <= merge ({self.merge}) <= 1")


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind | None
    score: float
    conflicts: tuple[str, ...]


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def has_negation(text: str) -> bool:
    if _NEG_CONTRACTION.search(text):
        return True
    return any(t.lower() in NEGATION_CUES for t in _tokens(text))


def names(text: str) -> frozenset[str]:
    """Capitalised words past the first, and every demonym, folded to one spelling each."""
    found: set[str] = set()
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        low = tok.lower().rstrip(".").removesuffix("'s").removesuffix("’s")
        if low in DEMONYMS:
            found.add(DEMONYMS[low])
        elif tok[0].isupper() and (i > 0 or low in COUNTRIES) and low not in _NOT_NAMES and low not in NUMBER_WORDS:
            found.add(low)
    return frozenset(found)


def numbers(text: str) -> frozenset[str]:
    found = set()
    for tok in _tokens(text):
        low = tok.lower()
        if tok[0].isdigit():
            found.add(tok.rstrip(".,").replace(",", ""))
        elif low in NUMBER_WORDS:
            found.add(low)
    return frozenset(found)


def _swapped(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a - b) and bool(b - a)


def conflicts(a: str, b: str) -> tuple[str, ...]:
    """The near-miss checks that fire for this pair, in words."""
    found = []
    if has_negation(a) != has_negation(b):
        found.append("one statement negates or denies, the other does not")
    na, nb = names(a), names(b)
    if _swapped(na, nb):
        found.append(f"different names: {', '.join(sorted(na - nb))} / {', '.join(sorted(nb - na))}")
    xa, xb = numbers(a), numbers(b)
    if _swapped(xa, xb):
        found.append(f"different numbers: {', '.join(sorted(xa - xb))} / {', '.join(sorted(xb - xa))}")
    return tuple(found)


def judge(a: str, b: str, score: float, thresholds: Thresholds) -> Verdict:
    """Combine a similarity score in [-1, 1] with the near-miss checks into same / related / neither."""
    found = conflicts(a, b)
    if score >= thresholds.merge and not found:
        kind: Kind | None = Kind.SAME
    elif score >= thresholds.suggest:
        kind = Kind.RELATED
    else:
        kind = None
    return Verdict(kind, round(score, 4), found)


def duplicate_cycle(claim: str, survivor: str, survivors: dict[str, str]) -> list[str] | None:
    """The path back to `claim` if marking it a duplicate of `survivor` closed a cycle, else None.

    `survivors` maps each claim already marked a duplicate to the claim it duplicates.
    """
    path = [claim, survivor]
    seen = {claim}
    current = survivor
    while current not in seen:
        seen.add(current)
        nxt = survivors.get(current)
        if nxt is None:
            return None
        path.append(nxt)
        current = nxt
    return path


def survivor_of(claim: str, survivors: dict[str, str]) -> str:
    """Follow duplicate-of links to the claim that stands (links are kept acyclic by `duplicate_cycle`)."""
    seen = {claim}
    while claim in survivors and survivors[claim] not in seen:
        claim = survivors[claim]
        seen.add(claim)
    return claim
