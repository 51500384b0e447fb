"""Stages of a claim and exactly the transitions between them (docs/design.md section 3)."""

from __future__ import annotations

from enum import StrEnum

from claims.domain.errors import IllegalTransition, ParseError


class Stage(StrEnum):
    REPORTED = "reported"
    CORROBORATED = "corroborated"
    CONFIRMED = "confirmed"
    REFUTED = "refuted"

    @classmethod
    def parse(cls, value: object, field: str = "stage") -> Stage:
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ParseError(f"{field}: unknown stage {value!r} (expected one of {allowed})") from None

    @property
    def is_final(self) -> bool:
        """Confirmed and refuted only move again through an explicit human reopen."""
        return self in (Stage.CONFIRMED, Stage.REFUTED)

    def satisfies(self, required: Stage) -> bool:
        """Whether a claim at this stage meets a requirement for `required`.

        Confirmed satisfies corroborated; refuted satisfies only refuted.
        """
        if required is Stage.REFUTED or self is Stage.REFUTED:
            return self is required
        return _RANK[self] >= _RANK[required]


_RANK = {Stage.REPORTED: 0, Stage.CORROBORATED: 1, Stage.CONFIRMED: 2}


class Stance(StrEnum):
    SUPPORTS = "supports"
    CONTRADICTS = "contradicts"

    @classmethod
    def parse(cls, value: object, field: str = "stance") -> Stance:
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return cls(value.strip().lower())
        except ValueError:
            raise ParseError(f"{field}: unknown stance {value!r} (expected supports or contradicts)") from None


class ReviewStatus(StrEnum):
    """Where a review request stands: waiting, or closed one of three ways."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class TransitionKind(StrEnum):
    AUTOMATIC = "automatic"  # the assessment applies it when the criteria hold
    SIGN_OFF = "sign_off"  # criteria hold and a second person approves (four eyes)
    REOPEN = "reopen"  # explicit, audited human decision with a rationale


_TRANSITIONS: dict[tuple[Stage, Stage], TransitionKind] = {
    (Stage.REPORTED, Stage.CORROBORATED): TransitionKind.AUTOMATIC,
    (Stage.CORROBORATED, Stage.REPORTED): TransitionKind.AUTOMATIC,
    (Stage.CORROBORATED, Stage.CONFIRMED): TransitionKind.SIGN_OFF,
    (Stage.REPORTED, Stage.REFUTED): TransitionKind.SIGN_OFF,
    (Stage.CORROBORATED, Stage.REFUTED): TransitionKind.SIGN_OFF,
    (Stage.CONFIRMED, Stage.CORROBORATED): TransitionKind.REOPEN,
    (Stage.CONFIRMED, Stage.REPORTED): TransitionKind.REOPEN,
    (Stage.REFUTED, Stage.CORROBORATED): TransitionKind.REOPEN,
    (Stage.REFUTED, Stage.REPORTED): TransitionKind.REOPEN,
}


def transition_kind(current: Stage, target: Stage) -> TransitionKind:
    """The kind of a transition, or IllegalTransition when it is not allowed at all."""
    kind = _TRANSITIONS.get((current, target))
    if kind is None:
        allowed = sorted(t.value for (f, t) in _TRANSITIONS if f is current)
        hint = f"; from {current.value} a claim can go to {', '.join(allowed)}" if allowed else ""
        raise IllegalTransition(f"stage: {current.value} -> {target.value} is not allowed{hint}")
    return kind


def next_stages(current: Stage) -> tuple[Stage, ...]:
    """Stages the assessment looks at from `current` (reopens are not assessed)."""
    return _NEXT[current]


_NEXT: dict[Stage, tuple[Stage, ...]] = {
    Stage.REPORTED: (Stage.CORROBORATED, Stage.REFUTED),
    Stage.CORROBORATED: (Stage.CONFIRMED, Stage.REFUTED),
    Stage.CONFIRMED: (),
    Stage.REFUTED: (),
}
