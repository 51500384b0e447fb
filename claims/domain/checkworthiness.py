"""Check-worthiness: which sentences of a report an analyst would take as claims, and why (issue 17).

Pure rules, no frameworks: each sentence gets a score made of named reasons, so the analyst sees
why a sentence ranks where it does. The cues are families of wording, not phrases of one report:
hedged or unconfirmed wording, attribution to a speaker, factual content (numbers, dates, named
places and organisations) and denial. Speakers found in attributions are offered as sources.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Hedged or unconfirmed: the sentence asserts something nobody has established yet.
_HEDGES = (
    r"allegedly",
    r"alleged",
    r"reportedly",
    r"purportedly",
    r"supposedly",
    r"unverified",
    r"unconfirmed",
    r"(?:is|are|was|were) (?:said|mentioned|believed|thought|reported|understood|suspected|alleged) to",
    r"(?:is|are|has|have) (?:yet|but) to (?:confirm|substantiate|verify|establish|determine)",
    r"(?:could|can|did) not (?:confirm|verify|independently verify|determine)",
    r"unable to (?:confirm|verify|determine|find out)",
    r"whether or not",
    r"if (?:eventually |ultimately )?confirmed",
    r"suspicions?",
    r"claims? that",
    r"appears? to",
    r"likely",
    r"may have",
    r"might have",
    r"suggest(?:s|ed|ing)?",
)
# Attribution verbs and phrases (including the spun "mentioned" for "said").
_ATTRIBUTION = (
    r"according to",
    r"said",
    r"says",
    r"mentioned",
    r"told",
    r"stated",
    r"announced",
    r"reported",
    r"confirmed",
    r"cautioned",
    r"warned",
    r"added",
    r"noted",
    r"claimed",
    r"insists?",
    r"described",
    r"(?:acquired|obtained|received|has|have|seen) (?:[\w“”\"]+ ){0,2}(?:proof|evidence|documents?)",
    r"(?:proof|evidence|documents?) (?:showing|exhibiting|that showed|indicating)",
    r"obtained",
    r"seen by",
)
_DENIAL = (
    r"(?:has|have|had) denied",
    r"denie[sd]",
    r"rejected (?:the )?(?:claims?|allegations?|reports?)",
    r"dismissed",
    r"refuted",
)
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
)
_DATE = re.compile(rf"\b(?:{_MONTHS})\b|\b(?:19|20)\d\d\b|\b\d{{4}}-\d\d-\d\d\b")
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundreds?|thousands?)\b", re.I
)
_ACRONYM = re.compile(r"\b[A-Z]{2,6}s?\b")
# A run of capitalised words not at the sentence's start: a named place, person or organisation.
_NAME = re.compile(r"(?<=[^.!?\"“‘(]\s)(?:[A-Z][\w’'-]+)(?:\s+(?:of\s+|the\s+)?[A-Z][\w’'-]+)*")
# Who speaks: "said a high-ranking EU official", "according to Reuters", "the EEAS ... is yet to confirm".
_SPEAKER_AFTER = re.compile(
    r"\b(?:according to|said|mentioned|told|seen by|stated by|(?:light|gentle|reported|revealed|published) by)\s+"
    r"((?:an?|the)\s+[\w -]{0,40}?(?:official|diplomat|spokes\w*|source|minister|analyst|officer|expert)s?"
    r"|(?:the\s+)?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)"
)
_SPEAKER_BEFORE = re.compile(
    r"((?:an?|the)\s+[\w -]{0,40}?(?:official|diplomat|spokes\w*|source|minister|analyst|officer|expert)s?"
    r"|(?:the\s+)?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)"
    r"(?:,[^,]{0,60},)?\s+(?:has |have |had )?(?:said|says|mentioned|told|stated|announced|denied|insists|"
    r"cautioned|warned|added|noted|claimed|confirmed|reported|is (?:yet|but) to|acquired|obtained|described)\b"
)
_NOT_SPEAKERS = {"it", "this", "that", "there", "he", "she", "they", "we", "i", "which", "who", "the", "a"}
# A sentence that only quotes someone's feeling, without a fact in it, is less worth checking.
_MIN_WORDS = 6

WEIGHTS = {"hedged": 3.0, "attribution": 1.5, "denial": 2.5, "number": 1.0, "date": 0.5, "named": 0.5}


def _cue(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)


_HEDGE_RE, _ATTR_RE, _DENIAL_RE = _cue(_HEDGES), _cue(_ATTRIBUTION), _cue(_DENIAL)


@dataclass(frozen=True)
class Candidate:
    """One sentence with its score, the reasons that make it up, and the speakers it names."""

    number: int  # 1-based position of the sentence in the report
    start: int
    end: int
    text: str
    score: float
    reasons: tuple[str, ...] = ()
    speakers: tuple[str, ...] = field(default=())


def _clean_speaker(raw: str) -> str | None:
    name = raw.strip(' ,.;:"“”‘’')
    if name.lower() in _NOT_SPEAKERS or len(name) < 2:
        return None
    first = name.split()[0].lower()
    if first in {"with", "without", "if", "until", "till", "when", "while", "but", "and"}:
        return None
    return name


def speakers(sentence: str) -> tuple[str, ...]:
    """The people and bodies a sentence attributes something to, in order of appearance."""
    found: list[tuple[int, str]] = []
    for pattern in (_SPEAKER_AFTER, _SPEAKER_BEFORE):
        for m in pattern.finditer(sentence):
            name = _clean_speaker(m.group(1))
            if name and not any(normalise(name) == normalise(n) for _, n in found):
                found.append((m.start(1), name))
    return tuple(n for _, n in sorted(found))


def score_sentence(sentence: str) -> tuple[float, tuple[str, ...]]:
    """The score and the reasons, each reason naming the cue and the words that triggered it."""
    reasons: list[str] = []
    score = 0.0
    for label, pattern in (("hedged", _HEDGE_RE), ("attribution", _ATTR_RE), ("denial", _DENIAL_RE)):
        hits = sorted({m.group(0).lower() for m in pattern.finditer(sentence)})
        if hits:
            score += WEIGHTS[label] + 0.5 * (len(hits) - 1)
            reasons.append(f"{label}: " + ", ".join(repr(h) for h in hits))
    numbers = [m.group(0) for m in _NUMBER.finditer(sentence) if not _DATE.fullmatch(m.group(0))]
    if numbers:
        score += WEIGHTS["number"]
        reasons.append("number: " + ", ".join(numbers[:3]))
    dates = [m.group(0) for m in _DATE.finditer(sentence)]
    if dates:
        score += WEIGHTS["date"]
        reasons.append("date: " + ", ".join(dates[:3]))
    named = sorted({m.group(0) for m in _NAME.finditer(sentence)} | {m.group(0) for m in _ACRONYM.finditer(sentence)})
    if named:
        score += WEIGHTS["named"] * min(len(named), 4)
        reasons.append("named: " + ", ".join(named[:4]))
    words = len(sentence.split())
    if words < _MIN_WORDS:
        score *= 0.3
        reasons.append(f"short: {words} words")
    elif sentence.strip().startswith(("“", '"')) and not numbers and not named:
        score *= 0.6
        reasons.append("quote without a fact")
    return round(score, 2), tuple(reasons)


def rank(sentences: list[tuple[int, int, str]]) -> list[Candidate]:
    """Every sentence (start, end, text) scored; best first, ties in reading order."""
    scored = []
    for number, (start, end, text) in enumerate(sentences, start=1):
        score, reasons = score_sentence(text)
        scored.append(Candidate(number, start, end, text, score, reasons, speakers(text)))
    return sorted(scored, key=lambda c: (-c.score, c.number))


def normalise(name: str) -> str:
    """A speaker's or source's name compared without case, accents, articles or punctuation."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = [w for w in re.findall(r"[a-z0-9]+", folded) if w not in {"the", "a", "an", "of"}]
    return " ".join(words)
