"""Use cases: proving who acts. Passwords (argon2), personal and service tokens, one-time sign-off codes.

Nothing secret is stored or audited in clear: passwords are kept as argon2 hashes (argon2-cffi),
tokens and codes (256 and 40 random bits from `secrets`) as their sha256. Every sign-in, failure,
lock, token issue and revocation is an event in the hash-chained log. Callers get an `Identity`
only from a verified password, token or code; the CLI and the dashboard never believe a typed name.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import InitVar, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from claims.domain.events import EventKind
from claims.domain.names import fold_name, same_person
from claims.services.errors import CodeSpent, InvalidInput, NotAuthenticated, NotFound, PermissionDenied, RuleViolation
from claims.services.runtime import PERMISSIONS, SYSTEM_USER, Role, Runtime, authorize
from claims.services.transitions import now
from claims.store.models import SignInFailure, SignoffCode, Token, User
from claims.store.uow import UnitOfWork

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 12
CODE_MINUTES = 10
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_WRONG = "sign-in: wrong user name or password, or too many failed tries from here (try again later)"

_hasher = PasswordHasher()


# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against (same cost as a real check); made on first use, not at import."""
    return _hasher.hash(secrets.token_urlsafe(16))


_SEAL = object()  # only this module holds it: an Identity is built here, from a proof, or not at all


@dataclass(frozen=True)
class Identity:
    """A person (or the system) proven by a password, a token or a one-time code.

    What every use case takes as its acting user. Built only in this module: `Identity("alice", "admin")`
    anywhere else raises TypeError, so a typed name can never stand in for a proof. The role is the one
    at proof time; `authorize` re-reads the user (disabled, role changed since) before every use case.
    """

    name: str
    role: str
    seal: InitVar[object] = None

    def __post_init__(self, seal: object) -> None:
        if seal is not _SEAL:
            raise TypeError(
                "Identity: only claims.services.identity builds one, from a verified password, token or code"
            )

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS[Role(self.role)]


def _proven(user: User) -> Identity:
    """The identity of a user whose proof (password, token, code, provider) this module has just checked."""
    return Identity(user.name, user.role, _SEAL)


def system_identity() -> Identity:
    """The built-in system user, for what runs on its own: scheduled and deployment flow runs, `claims serve`'s
    jobs, the demo. `authorize` still checks its role (read, import, assess) on every use case."""
    return Identity(SYSTEM_USER, Role.SYSTEM.value, _SEAL)


@dataclass(frozen=True)
class IssuedToken:
    """A token as handed out once: the secret itself is never stored, only its sha256."""

    identity: Identity
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    id: int
    kind: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def utc(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def valid_name(name: str) -> str:
    """A user name, folded (NFKC, case-folded): letters, digits, '.', '_', '-'; at most 80."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(fold_name(name)):
        raise InvalidInput(
            f"name: {name!r} is not a valid user name (letters, digits, '.', '_', '-'; no spaces; at most 80)"
        )
    return fold_name(name)


def valid_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: must be at least {MIN_PASSWORD} characters (got {len(password)})")
    if len(password) > 1024:
        raise InvalidInput("password: at most 1024 characters")
    return password


def valid_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip().lower()
    if not EMAIL_RE.fullmatch(email) or len(email) > 320:
        raise InvalidInput(f"email: {email!r} is not an e-mail address")
    return email


def hash_password(password: str) -> str:
    return _hasher.hash(valid_password(password))


def _user(uow: UnitOfWork, name: str) -> User:
    user = uow.users.get(name)
    if user is None:
        raise NotFound(f"user: unknown user {name!r}")
    return user


def _self_or_admin(uow: UnitOfWork, who: Identity, name: str) -> User:
    """People manage their own password and tokens; an admin manages anyone's."""
    me = authorize(uow, who, "read")  # re-read: a disabled account manages nothing
    if me.name != name and "manage_users" not in PERMISSIONS[Role(me.role)]:
        raise PermissionDenied(f"user: {who.name!r} may manage only their own account, not {name!r}")
    return _user(uow, name)


def bootstrap_open(rt: Runtime) -> bool:
    """True while the database has no people yet (only the built-in system user): the first admin may be added."""
    with rt.uow(write=False) as uow:
        return not any(u.name != SYSTEM_USER for u in uow.users.list())


def check_permission(rt: Runtime, who: Identity, permission: str) -> None:
    """Refuse early (before asking for a password) when `who` may not do what they are about to."""
    with rt.uow(write=False) as uow:
        authorize(uow, who, permission)


def set_password(rt: Runtime, who: Identity, name: str, password: str) -> None:
    """A new password for `name` (themselves, or an admin for anyone); unlocks and clears failures."""
    actor = who.name
    hashed = hash_password(password)
    with rt.uow() as uow:
        user = _self_or_admin(uow, who, name)
        if user.role == Role.SYSTEM:
            raise RuleViolation(f"user: {name!r} is the system user; it signs in only with a service token")
        user.password_hash, user.failed_sign_ins, user.locked_until = hashed, 0, None
        uow.record(EventKind.USER_PASSWORD_SET, actor=actor, payload={"user": name})
        uow.commit()


def set_email(rt: Runtime, who: Identity, name: str, email: str | None) -> None:
    """The e-mail an OIDC identity provider vouches for maps to this user (admin)."""
    actor = who.name
    email = valid_email(email)
    with rt.uow() as uow:
        authorize(uow, who, "manage_users")
        user = _user(uow, name)
        user.email = email
        uow.record(EventKind.USER_EMAIL_SET, actor=actor, payload={"user": name, "email": email})
        uow.commit()


def disable_user(rt: Runtime, who: Identity, name: str) -> int:
    """Disable an account (admin): no sign-in, and every token of it revoked. Returns the tokens revoked."""
    actor = who.name
    with rt.uow() as uow:
        authorize(uow, who, "manage_users")
        user = _user(uow, name)
        if user.name == actor:
            raise RuleViolation(f"user: {actor!r} cannot disable their own account")
        if user.disabled_at is None:
            user.disabled_at = now()
        revoked = _revoke_all(uow, user)
        uow.record(EventKind.USER_DISABLED, actor=actor, payload={"user": name, "tokens_revoked": revoked})
        uow.commit()
        return revoked


def _revoke_all(uow: UnitOfWork, user: User) -> int:
    tokens = uow.session.scalars(select(Token).where(Token.user_id == user.id, Token.revoked_at.is_(None))).all()
    for t in tokens:
        t.revoked_at = now()
    return len(tokens)


# Sign-in limits (issue 21.7), counted per (folded name, source) in a window, never per account alone:
# five failures locked an account for everyone, so anyone could lock anyone out. A source with no
# failures on a name is never refused the right password for it. README "Security model" says why.
WINDOW = timedelta(minutes=15)
NAME_UNDER_ATTACK = 20  # failures on one name from all sources in a window: each failing source gets one try
SOURCE_LIMIT = 50  # failures from one source on all names in a window: that source is refused for a window


@dataclass(frozen=True)
class _Attempt:
    """What the look-up before the hash found (read without the writers' lock)."""

    name: str  # folded, at most 80
    user_id: int | None
    stored: str | None  # the hash checked against, None when the dummy is
    blocked: bool


def _pair(uow: UnitOfWork, name: str, source: str) -> SignInFailure | None:
    return uow.session.get(SignInFailure, (name, source))


def _failures(uow: UnitOfWork, column: Any, value: str, since: datetime) -> int:
    total = uow.session.scalar(
        select(func.coalesce(func.sum(SignInFailure.failures), 0)).where(
            column == value, SignInFailure.window_start > since
        )
    )
    return int(total or 0)


def _blocked(uow: UnitOfWork, name: str, source: str, at: datetime) -> bool:
    """Whether `source` may not try `name` now. Only failures of this very source can block it."""
    since = at - WINDOW
    pair = _pair(uow, name, source)
    if pair is not None and pair.locked_until is not None and utc(pair.locked_until) > at:
        return True
    failing_here = pair is not None and utc(pair.window_start) > since and pair.failures >= 1
    if failing_here and _failures(uow, SignInFailure.name, name, since) >= NAME_UNDER_ATTACK:
        return True
    return _failures(uow, SignInFailure.source, source, since) >= SOURCE_LIMIT


def _look_up(rt: Runtime, name: str, source: str) -> _Attempt:
    folded = fold_name(name or "")[:80]
    with rt.uow(write=False) as uow:
        at = uow.clock()
        user = uow.users.get(folded) if NAME_RE.fullmatch(folded) else None
        blocked = _blocked(uow, folded, source, at)
        stored = user.password_hash if user is not None and not blocked else None
        return _Attempt(folded, user.id if user else None, stored, blocked)


def _check_hash(attempt: _Attempt, password: str) -> bool:
    """Exactly one argon2 check, against the real hash or the dummy: unknown, locked and wrong cost the same."""
    try:
        _hasher.verify(attempt.stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return attempt.stored is not None


def _fail(uow: UnitOfWork, attempt: _Attempt, source: str, why: str, method: str) -> None:
    """Count the failure for (name, source), lock the pair at the limit, and record the event."""
    at = uow.clock()
    actor = attempt.name if attempt.user_id else "anonymous"
    pair = _pair(uow, attempt.name, source)
    if pair is None:
        pair = SignInFailure(name=attempt.name, source=source, failures=0, window_start=at)
        uow.session.add(pair)
    elif utc(pair.window_start) <= at - WINDOW:
        pair.failures, pair.window_start, pair.locked_until = 0, at, None
    pair.failures += 1
    if pair.failures >= MAX_FAILURES and pair.locked_until is None:
        pair.locked_until = at + LOCK_FOR
        uow.record(
            EventKind.USER_LOCKED,
            actor=actor,
            payload={
                "user": attempt.name,
                "source": source,
                "until": pair.locked_until.isoformat(),
                "after_failures": MAX_FAILURES,
            },
        )
    uow.record(
        EventKind.SIGN_IN_FAILED,
        actor=actor,
        payload={"user": attempt.name, "reason": why, "method": method, "source": source},
    )


def _authenticate(rt: Runtime, name: str, password: str, source: str, method: str, then: Any) -> Any:
    """Sign in: a look-up (no lock), the hash (no transaction at all), then a short write of the outcome.

    The argon2 check used to run inside the write unit of work, holding the writers' lock: three
    processes of failed sign-ins slowed `evidence add` from 0.05 s to 17 s. Every refusal says the
    same line after the same work. `then(uow, user)` adds to the successful sign-in's unit of work
    (a token) and gives the result.
    """
    source = (source or "local")[:120]
    attempt = _look_up(rt, name, source)
    right = _check_hash(attempt, password)
    stored = attempt.stored or ""
    rehashed = _hasher.hash(password) if right and _hasher.check_needs_rehash(stored) else None
    with rt.uow() as uow:
        user = uow.session.get(User, attempt.user_id) if attempt.user_id else None
        if right and (user is None or user.password_hash != attempt.stored):
            right = False  # changed meanwhile: the password checked is no longer the one
        if right and user is not None and user.disabled_at is not None:
            uow.record(
                EventKind.SIGN_IN_FAILED,
                actor=user.name,
                payload={"user": attempt.name, "reason": "disabled", "method": method, "source": source},
            )
            uow.commit()
            raise PermissionDenied(f"sign-in: account {user.name!r} is disabled")  # said to the right password only
        if not right or user is None:
            if attempt.blocked:
                why = "locked"
            elif attempt.user_id is None:
                why = "unknown user"
            else:
                why = "no password set" if attempt.stored is None else "wrong password"
            _fail(uow, attempt, source, why, method)
            uow.commit()
            raise PermissionDenied(_WRONG)
        if rehashed is not None:
            user.password_hash = rehashed
        user.failed_sign_ins, user.locked_until = 0, None
        pair = _pair(uow, attempt.name, source)
        if pair is not None:
            uow.session.delete(pair)
        uow.record(EventKind.SIGN_IN, actor=user.name, payload={"user": user.name, "method": method})
        result = then(uow, user)
        uow.commit()
        return result


def _issue(uow: UnitOfWork, user: User, kind: str, ttl: timedelta, actor: str) -> IssuedToken:
    secret = "clm_" + secrets.token_urlsafe(32)
    at = uow.clock()  # the database server's: a client clock set ahead must not issue a longer token
    token = Token(user_id=user.id, token_hash=digest(secret), kind=kind, created_at=at, expires_at=at + ttl)
    uow.session.add(token)
    uow.session.flush()
    uow.record(
        EventKind.TOKEN_ISSUED,
        actor=actor,
        payload={"user": user.name, "token": token.id, "kind": kind, "expires_at": token.expires_at.isoformat()},
    )
    return IssuedToken(_proven(user), secret, token.expires_at)


def sign_in(rt: Runtime, name: str, password: str, *, method: str = "password", source: str = "local") -> Identity:
    """Check a password (dashboard sign-in) from `source` (where the attempt comes from, e.g. an address).

    Audited either way; five failures from one source lock the name from that source for 15 minutes.
    """
    return _authenticate(rt, name, password, source, method, lambda uow, user: _proven(user))


def login(rt: Runtime, name: str, password: str, *, hours: float = 12, source: str = "local") -> IssuedToken:
    """Sign in with a password and get a personal token for the CLI (expires after `hours`)."""
    if not 0 < hours <= 24 * 90:
        raise InvalidInput(f"hours: {hours} is out of range (more than 0, at most 2160)")
    ttl = timedelta(hours=hours)
    return _authenticate(
        rt, name, password, source, "cli", lambda uow, user: _issue(uow, user, "personal", ttl, user.name)
    )


def issue_token(rt: Runtime, who: Identity, name: str, *, days: float = 90, kind: str = "service") -> IssuedToken:
    """An admin issues a token for `name` without its password: service tokens for `system` (serve, workers)."""
    actor = who.name
    if not 0 < days <= 366:
        raise InvalidInput(f"days: {days} is out of range (more than 0, at most 366)")
    with rt.uow() as uow:
        authorize(uow, who, "manage_users")
        user = _user(uow, name)
        if kind == "service" and user.role != Role.SYSTEM:
            raise RuleViolation(
                f"user: {name!r} is a person ({user.role}); people sign in themselves with `claims login {name}`"
            )
        if user.disabled_at is not None:
            raise RuleViolation(f"user: {name!r} is disabled")
        issued = _issue(uow, user, kind, timedelta(days=days), actor)
        uow.commit()
        return issued


def issue_token_unchecked(rt: Runtime, name: str, *, hours: float = 12, reason: str) -> IssuedToken:
    """A personal token without a password, for trusted setup code only (`claims demo`, test fixtures).

    Never reachable from a command a person types with a name of their choosing; audited with the reason.
    """
    with rt.uow() as uow:
        user = _user(uow, name)
        issued = _issue(uow, user, "personal", timedelta(hours=hours), SYSTEM_USER)
        uow.record(EventKind.TOKEN_SETUP, actor=SYSTEM_USER, payload={"user": name, "reason": reason})
        uow.commit()
        return issued


def verify_token(rt: Runtime, secret: str) -> Identity:
    """The identity a token proves, or NotAuthenticated (a PermissionDenied) if it is unknown, expired, revoked
    or its user disabled."""
    with rt.uow(write=False) as uow:
        token = uow.session.scalar(select(Token).where(Token.token_hash == digest(secret or "")))
        if token is None or token.revoked_at is not None:
            raise NotAuthenticated("token: unknown or revoked")
        if utc(token.expires_at) <= uow.clock():
            raise NotAuthenticated(f"token: expired at {utc(token.expires_at):%Y-%m-%d %H:%M} UTC")
        user = token.user
        if user.disabled_at is not None:
            raise NotAuthenticated(f"token: account {user.name!r} is disabled")
        return _proven(user)


def current_identity(rt: Runtime, who: Identity) -> Identity | None:
    """The identity a dashboard session proved at sign-in, re-read each run: None once disabled or gone."""
    with rt.uow(write=False) as uow:
        user = uow.users.get(who.name)
        if user is None or user.disabled_at is not None:
            return None
        return _proven(user)


def sign_in_by_email(rt: Runtime, email: str) -> Identity:
    """An OIDC identity (verified by the provider through `st.login`) mapped to the user with that e-mail."""
    address = (email or "").strip().lower()
    with rt.uow() as uow:
        user = uow.session.scalar(select(User).where(User.email == address)) if address else None
        if user is None or user.disabled_at is not None:
            uow.record(
                EventKind.SIGN_IN_FAILED,
                actor="anonymous",
                payload={"email": address[:320], "reason": "disabled" if user else "no user", "method": "oidc"},
            )
            uow.commit()
            raise PermissionDenied(f"sign-in: no enabled claims user has the e-mail {address!r}")
        uow.record(EventKind.SIGN_IN, actor=user.name, payload={"user": user.name, "method": "oidc"})
        uow.commit()
        return _proven(user)


def revoke_token(rt: Runtime, secret: str) -> str:
    """Sign out: revoke this token. Returns whose it was."""
    with rt.uow() as uow:
        token = uow.session.scalar(select(Token).where(Token.token_hash == digest(secret or "")))
        if token is None:
            raise NotFound("token: unknown token")
        if token.revoked_at is None:
            token.revoked_at = now()
            uow.record(
                EventKind.TOKEN_REVOKED, actor=token.user.name, payload={"user": token.user.name, "token": token.id}
            )
        uow.commit()
        return token.user.name


def list_tokens(rt: Runtime, who: Identity, name: str) -> list[TokenInfo]:
    with rt.uow(write=False) as uow:
        user = _self_or_admin(uow, who, name)
        rows = uow.session.scalars(select(Token).where(Token.user_id == user.id).order_by(Token.id)).all()
        return [TokenInfo(t.id, t.kind, t.created_at, t.expires_at, t.revoked_at) for t in rows]


def revoke_tokens(rt: Runtime, who: Identity, name: str) -> int:
    """Revoke every token of `name` (themselves or an admin). Returns how many were live."""
    actor = who.name
    with rt.uow() as uow:
        user = _self_or_admin(uow, who, name)
        count = _revoke_all(uow, user)
        uow.record(EventKind.TOKEN_REVOKED, actor=actor, payload={"user": name, "tokens": count})
        uow.commit()
        return count


def issue_signoff_code(
    rt: Runtime, who: Identity, review_id: int, *, minutes: float = CODE_MINUTES
) -> tuple[str, datetime]:
    """A one-time code for deciding review `review_id` in the Prefect form, bound to `who` (a reviewer)."""
    actor = who.name
    with rt.uow() as uow:
        user = authorize(uow, who, "approve")
        review = uow.reviews.get(review_id)
        if review is None:
            raise NotFound(f"review: unknown review #{review_id}")
        if review.status != "pending":
            raise RuleViolation(f"review: #{review_id} is already {review.status}")
        if same_person(review.requested_by, actor):
            raise RuleViolation(
                f"reviewer: {actor!r} requested review #{review_id} and cannot also decide it (four eyes)"
            )
        code = "-".join(secrets.token_hex(3) for _ in range(3))
        at = uow.clock()
        row = SignoffCode(
            review_id=review_id,
            user_id=user.id,
            code_hash=digest(code),
            created_at=at,
            expires_at=at + timedelta(minutes=minutes),
        )
        uow.session.add(row)
        uow.session.flush()
        uow.record(
            EventKind.SIGNOFF_CODE_ISSUED,
            actor=actor,
            claim=review.claim,
            payload={"review": review_id, "code": row.id, "expires_at": row.expires_at.isoformat()},
        )
        uow.commit()
        return code, row.expires_at


def redeem_signoff_code(uow: UnitOfWork, review_id: int, code: str) -> Identity:
    """Inside the deciding unit of work: the reviewer a code proves, marking it used (it commits with the decision)."""
    row = uow.session.scalar(select(SignoffCode).where(SignoffCode.code_hash == digest((code or "").strip())))
    if row is None or row.review_id != review_id:
        raise PermissionDenied(f"code: not a sign-off code for review #{review_id}")
    if row.used_at is not None:
        raise CodeSpent("code: already used")
    if utc(row.expires_at) <= uow.clock():
        raise PermissionDenied(f"code: expired at {utc(row.expires_at):%H:%M} UTC")
    if row.user.disabled_at is not None:
        raise PermissionDenied(f"code: account {row.user.name!r} is disabled")
    row.used_at = now()
    return _proven(row.user)
