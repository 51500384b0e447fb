"""Threshold policy: the data that says what a claim needs to enter each stage.

A policy is a versioned TOML file (see claims/policies/v1.toml). The rules are data, not
code: a deployment changes thresholds by shipping a new file with a new version.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from claims.domain.errors import DomainError, InvalidPolicy
from claims.domain.grades import Credibility, Grade, Reliability
from claims.domain.stages import Stage, Stance


@dataclass(frozen=True, slots=True)
class Lines:
    """At least `count` independent lines of `stance` graded `grade` or better."""

    stance: Stance
    count: int
    grade: Grade

    def describe(self) -> str:
        return f">= {self.count} independent {_adjective(self.stance)} line(s) graded {self.grade} or better"


@dataclass(frozen=True, slots=True)
class NoContradiction:
    """No live contradicting evidence graded `grade` or better."""

    grade: Grade

    def describe(self) -> str:
        return f"no live contradicting evidence graded {self.grade} or better"


@dataclass(frozen=True, slots=True)
class Outweighs:
    """More independent lines of `stance` than of the opposite stance, both at `grade`."""

    stance: Stance
    grade: Grade

    def describe(self) -> str:
        other = _adjective(_opposite(self.stance))
        return f"more independent {_adjective(self.stance)} lines than {other} ones (graded {self.grade} or better)"


@dataclass(frozen=True, slots=True)
class SignOff:
    """A reviewer other than the requester approves (four eyes)."""

    def describe(self) -> str:
        return "sign-off by a reviewer other than the requester"


Criterion = Lines | NoContradiction | Outweighs | SignOff


@dataclass(frozen=True, slots=True)
class LikelihoodTable:
    """The prior and each grade's likelihood ratio (exact fractions, so the rule is monotone to the last bit)."""

    prior: Fraction
    ratios: dict[Grade, Fraction]

    def ratio(self, grade: Grade) -> Fraction:
        return self.ratios[grade]


@dataclass(frozen=True, slots=True)
class ConfidenceTier:
    """What a confidence level needs: independent lines, strong ones among them, most open contradictions."""

    lines: int
    strong: int
    open_contradictions: int


@dataclass(frozen=True, slots=True)
class ConfidenceRule:
    grade: Grade
    strong_grade: Grade
    high: ConfidenceTier
    moderate: ConfidenceTier


@dataclass(frozen=True, slots=True)
class StageLimits:
    """How long work toward a stage may wait before it is overdue (issue 18): a sign-off, a task."""

    review_hours: float | None = None
    task_hours: float | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    title: str
    stages: dict[Stage, tuple[Criterion, ...]]
    likelihood: LikelihoodTable = field(default_factory=lambda: _shipped_likelihood())
    confidence: ConfidenceRule = field(default_factory=lambda: _shipped_confidence())
    # `[limits.<stage>]`: None where the file sets none (nothing is ever overdue there).
    limits: dict[Stage, StageLimits] = field(default_factory=dict)

    def limit(self, stage: Stage, work: str) -> float | None:
        """Hours a `work` ("review" or "task") toward `stage` may wait, or None for no limit."""
        limits = self.limits.get(stage)
        return getattr(limits, f"{work}_hours") if limits is not None else None

    # What the policy is: the sha256 of its file's bytes (issue 21.3). A file changed in place under
    # its old version is another policy; the store refuses it (claims.store.uow, table `policies`).
    digest: str = ""
    origin: str = "shipped v1.toml"  # where it was read from, for messages

    def criteria(self, stage: Stage) -> tuple[Criterion, ...]:
        return self.stages.get(stage, ())

    def needs_sign_off(self, stage: Stage) -> bool:
        return any(isinstance(c, SignOff) for c in self.criteria(stage))


def _adjective(stance: Stance) -> str:
    return "supporting" if stance is Stance.SUPPORTS else "contradicting"


def _opposite(stance: Stance) -> Stance:
    return Stance.CONTRADICTS if stance is Stance.SUPPORTS else Stance.SUPPORTS


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidPolicy(f"{where}.count: {value!r} must be a whole number of at least 1")
    return value


def _criterion(raw: object, where: str) -> Criterion:
    if not isinstance(raw, dict):
        raise InvalidPolicy(f'{where}: {raw!r} must be a table like {{ kind = "lines", ... }}')
    kind = raw.get("kind")

    def stance() -> Stance:
        return Stance.parse(raw["stance"], f"{where}.stance")

    def grade() -> Grade:
        return Grade.parse(raw["grade"], f"{where}.grade")

    try:
        match kind:
            case "lines":
                count = _count(raw["count"], where)
                return Lines(stance(), count, grade())
            case "no_contradiction":
                return NoContradiction(grade())
            case "outweighs":
                return Outweighs(stance(), grade())
            case "sign_off":
                return SignOff()
    except KeyError as missing:
        raise InvalidPolicy(f"{where}.{missing.args[0]}: missing") from None
    raise InvalidPolicy(f"{where}.kind: unknown criterion {kind!r} (lines, no_contradiction, outweighs, sign_off)")


def _number(value: object, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPolicy(f"{where}: {value!r} must be a number")
    return Fraction(str(value))


def parse_likelihood(raw: object) -> LikelihoodTable:
    """`[likelihood]`: a prior strictly between 0 and 1 and a ratio >= 1 for every reliability and credibility."""
    if not isinstance(raw, dict):
        raise InvalidPolicy(f"likelihood: {raw!r} must be a table with prior and ratios")
    prior = _number(raw.get("prior"), "likelihood.prior")
    if not 0 < prior < 1:
        raise InvalidPolicy(f"likelihood.prior: {float(prior)!r} must be between 0 and 1 (exclusive)")
    rows = raw.get("ratios")
    if not isinstance(rows, dict):
        raise InvalidPolicy(f"likelihood.ratios: {rows!r} must be a table with one row per reliability A-F")
    ratios: dict[Grade, Fraction] = {}
    for reliability in Reliability:
        row = rows.get(reliability.value)
        where = f"likelihood.ratios.{reliability.value}"
        if not isinstance(row, list) or len(row) != len(Credibility):
            raise InvalidPolicy(f"{where}: {row!r} must list 6 ratios, one per credibility 1-6")
        for credibility, value in zip(Credibility, row, strict=True):
            ratio = _number(value, f"{where}[{credibility.value - 1}]")
            if ratio < 1:
                raise InvalidPolicy(f"{where}[{credibility.value - 1}]: {value!r} must be at least 1 (1 = no weight)")
            ratios[Grade(reliability, credibility)] = ratio
    return LikelihoodTable(prior, ratios)


def _tier(raw: object, where: str) -> ConfidenceTier:
    if not isinstance(raw, dict):
        raise InvalidPolicy(f"{where}: {raw!r} must be a table with lines, strong, open_contradictions")
    values = []
    for name in ("lines", "strong", "open_contradictions"):
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidPolicy(f"{where}.{name}: {value!r} must be a whole number of at least 0")
        values.append(value)
    return ConfidenceTier(*values)


def parse_confidence(raw: object) -> ConfidenceRule:
    """`[confidence]`: the grades that count and what high and moderate confidence need."""
    if not isinstance(raw, dict):
        raise InvalidPolicy(f"confidence: {raw!r} must be a table")
    try:
        grade = Grade.parse(raw.get("grade"), "confidence.grade")
        strong = Grade.parse(raw.get("strong_grade"), "confidence.strong_grade")
    except DomainError as exc:
        raise InvalidPolicy(str(exc)) from None
    return ConfidenceRule(
        grade, strong, _tier(raw.get("high"), "confidence.high"), _tier(raw.get("moderate"), "confidence.moderate")
    )


def parse_limits(raw: object) -> dict[Stage, StageLimits]:
    """`[limits.<stage>]`: review_hours and task_hours, each a positive number of hours."""
    if not isinstance(raw, dict):
        raise InvalidPolicy(f"limits: {raw!r} must be a table of stages")
    out: dict[Stage, StageLimits] = {}
    for name, body in raw.items():
        where = f"limits.{name}"
        try:
            stage = Stage.parse(name, where)
        except DomainError as exc:
            raise InvalidPolicy(str(exc)) from None
        if not isinstance(body, dict):
            raise InvalidPolicy(f"{where}: {body!r} must be a table with review_hours and/or task_hours")
        unknown = set(body) - {"review_hours", "task_hours"}
        if unknown:
            raise InvalidPolicy(f"{where}.{sorted(unknown)[0]}: unknown limit (review_hours, task_hours)")
        hours: dict[str, float] = {}
        for key, value in body.items():
            number = _number(value, f"{where}.{key}")
            if number <= 0:
                raise InvalidPolicy(f"{where}.{key}: {value!r} must be more than 0 hours")
            hours[key] = float(number)
        out[stage] = StageLimits(**hours)
    return out


def _shipped() -> dict[str, Any]:
    return tomllib.loads(resources.files("claims.policies").joinpath("v1.toml").read_text(encoding="utf-8"))


def _shipped_likelihood() -> LikelihoodTable:
    """A policy file without `[likelihood]` uses the shipped v1 table."""
    return parse_likelihood(_shipped()["likelihood"])


def _shipped_confidence() -> ConfidenceRule:
    return parse_confidence(_shipped()["confidence"])


def parse_policy(data: dict[str, Any], *, digest: str = "", origin: str = "") -> Policy:
    """Build a Policy from parsed TOML, naming the offending field on any error."""
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise InvalidPolicy(f"version: {version!r} must be a non-empty string")
    raw_stages = data.get("stages") or {}
    if not isinstance(raw_stages, dict):
        raise InvalidPolicy(f"stages: {raw_stages!r} must be a table of stages")
    stages: dict[Stage, tuple[Criterion, ...]] = {}
    for name, body in raw_stages.items():
        where = f"stages.{name}"
        try:
            stage = Stage.parse(name, where)
        except DomainError as exc:
            raise InvalidPolicy(str(exc)) from None
        if stage is Stage.REPORTED:
            raise InvalidPolicy(f"{where}: reported is the entry stage and takes no criteria")
        raw_criteria = body.get("criteria") if isinstance(body, dict) else None
        if not isinstance(raw_criteria, list) or not raw_criteria:
            raise InvalidPolicy(f"{where}.criteria: must be a non-empty list")
        try:
            stages[stage] = tuple(_criterion(c, f"{where}.criteria[{i}]") for i, c in enumerate(raw_criteria))
        except DomainError as exc:
            raise InvalidPolicy(str(exc)) from None
    missing = {Stage.CORROBORATED, Stage.CONFIRMED, Stage.REFUTED} - stages.keys()
    if missing:
        raise InvalidPolicy(f"stages: missing {', '.join(sorted(s.value for s in missing))}")
    return Policy(
        version=version.strip(),
        title=str(data.get("title", version)),
        stages=stages,
        likelihood=parse_likelihood(data["likelihood"]) if "likelihood" in data else _shipped_likelihood(),
        confidence=parse_confidence(data["confidence"]) if "confidence" in data else _shipped_confidence(),
        limits=parse_limits(data["limits"]) if "limits" in data else {},
        digest=digest,
        origin=origin or "a policy",
    )


def load_policy(path: str | Path) -> Policy:
    """Read a policy TOML file."""
    try:
        with open(path, "rb") as fh:  # one read: the bytes hashed are the bytes parsed
            raw = fh.read()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise InvalidPolicy(f"policy file: cannot read {str(path)!r} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InvalidPolicy(f"policy file: {str(path)!r} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidPolicy(f"policy file: {str(path)!r} is not valid TOML ({exc})") from None
    return parse_policy(data, digest=hashlib.sha256(raw).hexdigest(), origin=str(path))


def default_policy() -> Policy:
    """The v1 policy shipped with the package."""
    with resources.files("claims.policies").joinpath("v1.toml").open("rb") as fh:
        raw = fh.read()
    return parse_policy(
        tomllib.loads(raw.decode("utf-8")), digest=hashlib.sha256(raw).hexdigest(), origin="shipped v1.toml"
    )
