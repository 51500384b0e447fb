"""Notifications (issue 18): subscriptions, the notifier that reads the event log, the inbox, delivery.

Every use case already writes its change to the hash-chained event log, so notices are derived
from the log instead of from hooks in each use case (decision 0011):

- The notifier reads the events after its stored cursor (`notify_cursor`), a batch per
  transaction. Events that concern a person (a sign-off requested, a claim at risk, an
  assignment) become notices for the people subscribed; for the policy actions an event's claim
  gates, readiness is judged now and compared with the last readiness stored per action
  (`readiness_state`): a flip is a notice, with the gaps that closed or opened. Pending work
  older than its stage's limit (policy file, `[limits.<stage>]`) is a notice once per item.
- Each notice is one `notifications` row per (person, kind, change), UNIQUE in the database and
  written with INSERT ... ON CONFLICT DO NOTHING: a change is never notified twice, even when two
  notifiers run at once or a cursor is set back. The same transaction queues one `deliveries`
  row per (notification, channel), UNIQUE too.
- Delivery leases a row (a guarded UPDATE), sends it through Apprise outside any transaction,
  and records the outcome: sent, or failed with the error and a doubling back-off, or dead after
  CLAIMS_NOTIFY_MAX_ATTEMPTS, shown to admins (`claims notify deliveries`, the inbox page).

A notice never reaches a person whose role may not act on it: each notice names the permission
it needs (a sign-off needs `approve`), checked against the person's role when it is produced, and
disabled accounts get nothing. The channel URLs are secrets in settings (CLAIMS_NOTIFY_SECRETS);
the database holds only their names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from claims.domain.events import EventKind
from claims.domain.markings import Scale
from claims.domain.readiness import ActionReadiness, readiness
from claims.domain.stages import ReviewStatus, Stage
from claims.services.access import reader
from claims.services.errors import InvalidInput, NotFound, PermissionDenied, refuse_nul
from claims.services.identity import Identity
from claims.services.runtime import PERMISSIONS, Role, Runtime, authorize
from claims.services.transitions import now
from claims.settings import get_settings
from claims.store.models import (
    ActionRequirement,
    Case,
    Channel,
    Claim,
    ClaimLink,
    CollectionTask,
    Delivery,
    Event,
    Notification,
    NotifyCursor,
    PolicyAction,
    ReadinessState,
    ReviewRequest,
    Subscription,
    User,
)
from claims.store.uow import UnitOfWork

CURSOR = "events"

# Apprise logs why a URL is refused or a send failed, and the message can hold the URL with its secret:
# its records never reach a terminal or another library's handler (send() captures them itself).
_APPRISE_LOG = logging.getLogger("apprise")
_APPRISE_LOG.addHandler(logging.NullHandler())
_APPRISE_LOG.propagate = False


@dataclass(frozen=True)
class Kind:
    """A kind of subscription: the permission a person needs to take it, and the scopes it takes."""

    label: str
    permission: str
    scopes: tuple[str, ...]


KINDS: dict[str, Kind] = {
    "readiness": Kind("an action became ready or lost readiness", "read", ("action", "case", "all")),
    "signoff": Kind("a sign-off is waiting for me", "approve", ("case", "all")),
    "assigned": Kind("a task was assigned to me", "read", ("all",)),
    "at-risk": Kind("a claim I own (or any claim of a case) is at risk", "read", ("case", "all")),
    "overdue": Kind("a task or review is older than its stage's limit", "read", ("case", "all")),
}

#: Event kinds that assign work to a person -> the payload field naming that person. Each becomes an
#: `assigned` notice for that person. The lead maps the tasks branch's event here, e.g.
#: `EventKind.TASK_ASSIGNED: "assignee"`, and nothing else is needed.
ASSIGNMENTS: dict[str, str] = {EventKind.TASK_ASSIGNED.value: "assignee"}

#: Sources of pending work for `overdue`: each yields (item, stage, since, case, claim, permission) for
#: open items, `item` a stable name like "review:12". The tasks branch adds open tasks ("task:ID") here.
OverdueSource = Callable[[UnitOfWork], Iterable[tuple[str, Stage, datetime, str | None, str | None, str]]]


def _pending_reviews(uow: UnitOfWork) -> Iterable[tuple[str, Stage, datetime, str | None, str | None, str]]:
    rows = uow.session.execute(
        select(ReviewRequest.id, ReviewRequest.to_stage, ReviewRequest.requested_at, Case.key, Claim.key)
        .join(Claim, Claim.id == ReviewRequest.claim_id)
        .join(Case, Case.id == Claim.case_id)
        .where(ReviewRequest.status == ReviewStatus.PENDING.value)
    )
    for rid, to, at, case, claim in rows:
        yield f"review:{rid}", Stage(to), at, case, claim, "approve"


def _open_tasks(uow: UnitOfWork) -> Iterable[tuple[str, Stage, datetime, str | None, str | None, str]]:
    rows = uow.session.execute(
        select(CollectionTask.id, CollectionTask.stage, CollectionTask.opened_at, Case.key, Claim.key)
        .join(Claim, Claim.id == CollectionTask.claim_id)
        .join(Case, Case.id == Claim.case_id)
        .where(CollectionTask.status == "open")
    )
    for tid, stage, at, case, claim in rows:
        yield f"task:{tid}", Stage(stage), at, case, claim, "take_task"


OVERDUE_SOURCES: dict[str, tuple[str, OverdueSource]] = {
    "review": ("review", _pending_reviews),
    "task": ("task", _open_tasks),
}


# --- subscriptions and channels --------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    person: str
    kind: str
    scope: str

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "person": self.person, "kind": self.kind, "scope": self.scope}


def _scope(uow: UnitOfWork, kind: str, action: str | None, case: str | None) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind: {kind!r} is not a kind of subscription ({', '.join(KINDS)})")
    if action and case:
        raise InvalidInput("scope: give --action or --case, not both")
    allowed = KINDS[kind].scopes
    if action:
        if "action" not in allowed:
            raise InvalidInput(f"action: {kind} notices are not per action (scopes: {', '.join(allowed)})")
        if uow.actions.get(action) is None:
            raise NotFound(f"action: unknown policy action {action!r}")
        return f"action:{action}"
    if case:
        if "case" not in allowed:
            raise InvalidInput(f"case: {kind} notices are not per case (scopes: {', '.join(allowed)})")
        if uow.cases.get(case) is None:
            raise NotFound(f"case: unknown case {case!r}")
        return f"case:{case}"
    return "all"


def subscribe(
    rt: Runtime, who: Identity, kind: str, *, action: str | None = None, case: str | None = None
) -> SubscriptionView:
    """Subscribe the acting person to `kind` for an action, a case or everything; audited."""
    actor = who.name
    with rt.uow() as uow:
        user = authorize(uow, who, "read")
        scope = _scope(uow, kind, action, case)
        if KINDS[kind].permission not in PERMISSIONS[Role(user.role)]:
            raise PermissionDenied(f"kind: {actor!r} has role {user.role}, which gets no {kind} notices")
        existing = uow.session.scalar(
            select(Subscription).where(
                Subscription.person == user.name, Subscription.kind == kind, Subscription.scope == scope
            )
        )
        if existing is not None:
            raise InvalidInput(f"subscription: {user.name} is already subscribed to {kind} {scope} (#{existing.id})")
        _ensure_started(uow, rt)
        row = Subscription(person=user.name, kind=kind, scope=scope, created_at=now())
        uow.session.add(row)
        uow.flush()
        uow.record(
            EventKind.SUBSCRIPTION_ADDED,
            actor=actor,
            case_key=case,
            payload={"id": row.id, "person": user.name, "kind": kind, "scope": scope},
        )
        uow.commit()
        return SubscriptionView(row.id, row.person, kind, scope)


def unsubscribe(rt: Runtime, who: Identity, subscription_id: int) -> SubscriptionView:
    actor = who.name
    with rt.uow() as uow:
        user = authorize(uow, who, "read")
        row = uow.session.get(Subscription, subscription_id)
        if row is None or (row.person != user.name and user.role != Role.ADMIN):
            raise NotFound(f"subscription: unknown subscription {subscription_id} of {user.name}")
        view = SubscriptionView(row.id, row.person, row.kind, row.scope)
        uow.session.delete(row)
        uow.record(EventKind.SUBSCRIPTION_REMOVED, actor=actor, payload=view.json())
        uow.commit()
        return view


def subscriptions(rt: Runtime, who: Identity) -> list[SubscriptionView]:
    with rt.uow(write=False) as uow:
        user = authorize(uow, who, "read")
        rows = uow.session.scalars(
            select(Subscription).where(Subscription.person == user.name).order_by(Subscription.id)
        )
        return [SubscriptionView(r.id, r.person, r.kind, r.scope) for r in rows]


@dataclass(frozen=True)
class ChannelView:
    id: int
    person: str
    name: str
    secret: str
    digest: bool

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "person": self.person, "name": self.name, "secret": self.secret, "digest": self.digest}


def secret_url(secret: str) -> str:
    """The Apprise URL a channel's secret name stands for (settings only); InvalidInput if there is none."""
    secrets = get_settings().notify_secrets
    if secret not in secrets:
        known = ", ".join(sorted(secrets)) or "none set"
        raise InvalidInput(f"secret: {secret!r} is not a name in CLAIMS_NOTIFY_SECRETS (known: {known})")
    return secrets[secret].get_secret_value()


def check_url(secret: str) -> None:
    """Refuse a secret whose URL Apprise cannot use, naming the secret and the scheme, never the URL."""
    import apprise

    url = secret_url(secret)
    if not apprise.Apprise().add(url):
        scheme = url.split("://", 1)[0] if "://" in url else url[:0]
        raise InvalidInput(
            f"secret: {secret!r} holds no URL Apprise can use (scheme {scheme!r}; e.g. mailto://, json://, slack://)"
        )


def add_channel(rt: Runtime, who: Identity, name: str, secret: str, *, digest: bool = False) -> ChannelView:
    """A channel for the acting person: a name and the settings secret holding its Apprise URL."""
    actor = who.name
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InvalidInput(f"name: {name!r} must be 1-80 characters")
    refuse_nul("name", name)
    check_url(secret)
    with rt.uow() as uow:
        user = authorize(uow, who, "read")
        if uow.session.scalar(select(Channel.id).where(Channel.person == user.name, Channel.name == name)):
            raise InvalidInput(f"name: {user.name} already has a channel {name!r}")
        row = Channel(person=user.name, name=name, secret=secret, digest=digest, created_at=now())
        uow.session.add(row)
        uow.flush()
        uow.record(
            EventKind.CHANNEL_ADDED,
            actor=actor,
            payload={"id": row.id, "person": user.name, "name": name, "secret": secret, "digest": digest},
        )
        uow.commit()
        return ChannelView(row.id, row.person, name, secret, digest)


def remove_channel(rt: Runtime, who: Identity, name: str) -> ChannelView:
    actor = who.name
    with rt.uow() as uow:
        user = authorize(uow, who, "read")
        row = uow.session.scalar(
            select(Channel).where(Channel.person == user.name, Channel.name == name, Channel.removed_at.is_(None))
        )
        if row is None:
            raise NotFound(f"channel: {user.name} has no channel {name!r}")
        view = ChannelView(row.id, row.person, row.name, row.secret, row.digest)
        uow.session.execute(
            update(Delivery)
            .where(Delivery.channel_id == row.id, Delivery.status.in_(("pending", "failed")))
            .values(status="dropped", last_error="channel removed")
        )
        # the row stays (its deliveries name it), renamed out of the way of a new channel of that name
        row.name, row.removed_at = f"{row.name}#removed-{row.id}", now()
        uow.record(EventKind.CHANNEL_REMOVED, actor=actor, payload=view.json())
        uow.commit()
        return view


def channels(rt: Runtime, who: Identity) -> list[ChannelView]:
    with rt.uow(write=False) as uow:
        user = authorize(uow, who, "read")
        rows = uow.session.scalars(
            select(Channel).where(Channel.person == user.name, Channel.removed_at.is_(None)).order_by(Channel.id)
        )
        return [ChannelView(r.id, r.person, r.name, r.secret, r.digest) for r in rows]


# --- the notifier --------------------------------------------------------------------------------------


@dataclass
class Notice:
    person: str
    kind: str
    change_key: str
    title: str
    body: str
    permission: str = "read"
    event_id: int | None = None
    case_key: str | None = None
    claim_key: str | None = None
    action_key: str | None = None


@dataclass
class NotifierRun:
    """What one pass did: events read, notices written (new ones only), deliveries queued."""

    events: int = 0
    notifications: int = 0
    deliveries: int = 0
    cursor: int = 0
    more: bool = False
    kinds: dict[str, int] = field(default_factory=dict)


def _ensure_started(uow: UnitOfWork, rt: Runtime) -> NotifyCursor:
    """The first time: readiness as it stands is the baseline, and the log is read from its head on.

    Notices are about changes from now on; the history before the notifier existed is not replayed.
    """
    cursor = uow.session.get(NotifyCursor, CURSOR)
    if cursor is not None:
        return cursor
    head = uow.session.scalar(select(func.max(Event.id))) or 0
    keys = list(uow.session.scalars(select(PolicyAction.key)))
    for a in _readiness_of(uow, rt, keys).values():
        uow.session.add(ReadinessState(action_key=a.key, ready=a.ready, gaps=_gaps(a), event_id=head))
    cursor = NotifyCursor(name=CURSOR, last_event_id=head)
    uow.session.add(cursor)
    uow.flush()
    return cursor


def _gaps(a: ActionReadiness) -> list[str]:
    return [f"{r.claim}: {g}" for r in a.requirements for g in r.gaps]


def _readiness_of(uow: UnitOfWork, rt: Runtime, action_keys: list[str]) -> dict[str, ActionReadiness]:
    """Readiness of just these actions, judged inside the caller's transaction."""
    from claims.domain.assessment import assess
    from claims.domain.readiness import Requirement
    from claims.services.facts import facts_where
    from claims.services.links import survivors_for
    from claims.services.views import assessments_for

    if not action_keys:
        return {}
    rows = uow.session.execute(
        select(PolicyAction.key, PolicyAction.title, Claim.key, ActionRequirement.stage)
        .outerjoin(ActionRequirement, ActionRequirement.action_id == PolicyAction.id)
        .outerjoin(Claim, Claim.id == ActionRequirement.claim_id)
        .where(PolicyAction.key.in_(action_keys))
        .order_by(PolicyAction.id, ActionRequirement.id)
    )
    actions: dict[str, tuple[str, list[Requirement]]] = {}
    for key, title, claim, stage in rows:
        reqs = actions.setdefault(key, (title, []))[1]
        if claim is not None:
            reqs.append(Requirement(claim, Stage(stage)))
    ids = (
        select(ActionRequirement.claim_id)
        .join(PolicyAction, PolicyAction.id == ActionRequirement.action_id)
        .where(PolicyAction.key.in_(action_keys))
    )
    _, facts = facts_where(uow, ids)
    assessments = {k: assess(f, rt.policy) for k, f in facts.items()}
    survivors = survivors_for(uow, list(assessments))
    missing = sorted(set(survivors.values()) - assessments.keys())
    if missing:
        assessments |= assessments_for(uow, rt, missing)
    return {k: readiness(k, t, reqs, assessments, survivors) for k, (t, reqs) in actions.items()}


def _affected_actions(uow: UnitOfWork, claim_keys: set[str], action_keys: set[str]) -> list[str]:
    """The actions these claims gate (directly, or as the survivor of a required duplicate), and these actions."""
    if claim_keys:
        ids = select(Claim.id).where(Claim.key.in_(sorted(claim_keys)))
        dupes = select(ClaimLink.claim_id).where(ClaimLink.kind == "duplicate", ClaimLink.other_id.in_(ids))
        gated = (
            select(PolicyAction.key)
            .join(ActionRequirement, ActionRequirement.action_id == PolicyAction.id)
            .where(ActionRequirement.claim_id.in_(ids.union(dupes)))
        )
        action_keys = action_keys | set(uow.session.scalars(gated))
    return sorted(action_keys)


def _in_scope(scope: str, *, case: str | None, action: str | None = None) -> bool:
    return scope == "all" or scope == f"case:{case}" or (action is not None and scope == f"action:{action}")


def _person_notices(ev: Any, subs: dict[str, list[Subscription]], owners: dict[str, str | None]) -> list[Notice]:
    """Notices about one event for the people it concerns (sign-off waiting, claim at risk, assignment)."""
    out: list[Notice] = []
    change = f"event:{ev.id}"
    if ev.kind == EventKind.REVIEW_REQUESTED:
        review = (ev.payload or {}).get("review")
        for s in subs.get("signoff", []):
            if s.person != ev.actor and _in_scope(s.scope, case=ev.case_key):
                out.append(
                    Notice(
                        s.person,
                        "signoff",
                        change,
                        f"Sign-off waiting: {ev.claim_key} to {ev.to_stage} (review #{review})",
                        f"Requested by {ev.actor}: {ev.rationale or ''}".strip(),
                        "approve",
                        ev.id,
                        ev.case_key,
                        ev.claim_key,
                    )
                )
    elif ev.kind == EventKind.CLAIM_AT_RISK:
        owner = owners.get(ev.claim_key)
        for s in subs.get("at-risk", []):
            if (s.scope == "all" and s.person == owner) or s.scope == f"case:{ev.case_key}":
                gaps = "; ".join((ev.payload or {}).get("gaps") or []) or ev.rationale or ""
                out.append(
                    Notice(
                        s.person,
                        "at-risk",
                        change,
                        f"At risk: {ev.claim_key} no longer meets its stage",
                        gaps,
                        "read",
                        ev.id,
                        ev.case_key,
                        ev.claim_key,
                    )
                )
    elif ev.kind in ASSIGNMENTS:
        person = (ev.payload or {}).get(ASSIGNMENTS[ev.kind])
        what = (ev.payload or {}).get("task") or (ev.payload or {}).get("id") or ev.claim_key or ""
        for s in subs.get("assigned", []):
            if s.person == person and person != ev.actor:
                out.append(
                    Notice(
                        s.person,
                        "assigned",
                        change,
                        f"Assigned to you by {ev.actor}: {what}".strip(),
                        ev.rationale or "",
                        "read",
                        ev.id,
                        ev.case_key,
                        ev.claim_key,
                    )
                )
    return out


def _readiness_notices(
    uow: UnitOfWork, rt: Runtime, action_keys: list[str], subs: list[Subscription], last_event: int
) -> list[Notice]:
    """Judge the touched actions now; a flip against the stored readiness is a notice; store the new readiness."""
    if not action_keys:
        return []
    judged = _readiness_of(uow, rt, action_keys)
    states = {
        s.action_key: s
        for s in uow.session.scalars(select(ReadinessState).where(ReadinessState.action_key.in_(action_keys)))
    }
    cases = dict(
        uow.session.execute(
            select(PolicyAction.key, Case.key)
            .join(Case, Case.id == PolicyAction.case_id)
            .where(PolicyAction.key.in_(action_keys))
        ).all()
    )
    out: list[Notice] = []
    for key, a in judged.items():
        gaps = _gaps(a)
        state = states.get(key)
        if state is None:  # an action added since: its readiness now is its baseline
            uow.session.add(ReadinessState(action_key=key, ready=a.ready, gaps=gaps, event_id=last_event))
            continue
        if state.ready != a.ready:
            if a.ready:
                title = f"Ready: {key} ({a.title})"
                body = "Every gating claim now meets its stage. Closed: " + ("; ".join(state.gaps) or "-")
            else:
                title = f"No longer ready: {key} ({a.title})"
                opened = [g for g in gaps if g not in state.gaps] or gaps
                body = "Now missing: " + "; ".join(opened)
            change = f"{key}@{last_event}:{'ready' if a.ready else 'not-ready'}"
            for s in subs:
                if _in_scope(s.scope, case=cases.get(key), action=key):
                    out.append(
                        Notice(
                            s.person, "readiness", change, title, body, "read", last_event, cases.get(key), None, key
                        )
                    )
        if state.ready != a.ready or state.gaps != gaps:
            state.ready, state.gaps, state.event_id = a.ready, gaps, last_event
    return out


def _overdue_notices(uow: UnitOfWork, rt: Runtime, subs: list[Subscription], at: datetime) -> list[Notice]:
    if not subs:
        return []
    out: list[Notice] = []
    for work, source in OVERDUE_SOURCES.values():
        for item, stage, since, case, claim, permission in source(uow):
            hours = rt.policy.limit(stage, work)
            if hours is None or since.astimezone(UTC) > at - timedelta(hours=hours):
                continue
            age = (at - since.astimezone(UTC)).total_seconds() / 3600
            for s in subs:
                if _in_scope(s.scope, case=case):
                    out.append(
                        Notice(
                            s.person,
                            "overdue",
                            item,
                            f"Overdue: {item} toward {stage} on {claim} ({age:.0f} h)",
                            f"The limit for {work}s toward {stage} is {hours:g} h (policy {rt.policy.version}).",
                            permission,
                            None,
                            case,
                            claim,
                        )
                    )
    return out


def _insert_ignoring_duplicates(uow: UnitOfWork, table: Any, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on either backend; the number of rows really inserted."""
    if not rows:
        return 0
    if uow.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    result = uow.session.execute(dialect_insert(table).on_conflict_do_nothing(), rows)
    return int(result.rowcount or 0)


def _write(uow: UnitOfWork, notices: list[Notice], at: datetime, run: NotifierRun, scale: Scale) -> None:
    """The notices as inbox rows (each once), and a delivery per immediate channel of each new one."""
    if not notices:
        return
    users = {u.name: u for u in uow.session.scalars(select(User).where(User.name.in_({n.person for n in notices})))}
    # Need to know (issue 20): a notice about a case goes only to people who read that case, and the
    # role that decides whether they may act on it is the one they hold there.
    readers = {name: reader(uow, name, scale) for name in users}
    cases = {
        key: (case_id, marking)
        for key, case_id, marking in uow.session.execute(
            select(Case.key, Case.id, Case.marking).where(Case.key.in_({n.case_key for n in notices if n.case_key}))
        )
    }
    rows = []
    for n in notices:
        user = users.get(n.person)
        if user is None or user.disabled_at is not None:
            continue
        role = user.role
        if n.case_key is not None:
            who, case = readers[user.name], cases.get(n.case_key)
            if case is None or not who.sees(*case):
                continue  # never a word about a case they do not read
            role = user.role if who.all_cases else who.roles[case[0]]
        if n.permission not in PERMISSIONS[Role(role)]:
            continue  # a notice never goes to someone who may not act on it
        rows.append(
            {
                "person": n.person,
                "kind": n.kind,
                "change_key": n.change_key,
                "event_id": n.event_id,
                "case_key": n.case_key,
                "claim_key": n.claim_key,
                "action_key": n.action_key,
                "title": n.title[:500],
                "body": n.body,
                "created_at": at,
            }
        )
    unique = list({(r["person"], r["kind"], r["change_key"]): r for r in rows}.values())
    # rowcount of a multi-row INSERT is not reliable on every driver: count the new rows by their stamp
    before = uow.session.scalar(select(func.max(Notification.id))) or 0
    _insert_ignoring_duplicates(uow, Notification.__table__, unique)
    new = uow.session.execute(
        select(Notification.id, Notification.person, Notification.kind).where(Notification.id > before)
    ).all()
    run.notifications += len(new)
    for _, _, kind in new:
        run.kinds[kind] = run.kinds.get(kind, 0) + 1
    run.deliveries += _queue(uow, [(nid, person) for nid, person, _ in new], digest=False, at=at)


def _queue(uow: UnitOfWork, notifications: list[tuple[int, str]], *, digest: bool, at: datetime) -> int:
    if not notifications:
        return 0
    people = {p for _, p in notifications}
    chans: dict[str, list[int]] = {}
    for cid, person in uow.session.execute(
        select(Channel.id, Channel.person).where(
            Channel.person.in_(people), Channel.digest == digest, Channel.removed_at.is_(None)
        )
    ):
        chans.setdefault(person, []).append(cid)
    rows = [
        {"notification_id": nid, "channel_id": cid, "status": "pending", "attempts": 0, "next_attempt_at": at}
        for nid, person in notifications
        for cid in chans.get(person, [])
    ]
    before = uow.session.scalar(select(func.max(Delivery.id))) or 0
    _insert_ignoring_duplicates(uow, Delivery.__table__, rows)
    return uow.session.scalar(select(func.count()).where(Delivery.id > before)) or 0


def run_notifier(rt: Runtime, *, at: datetime | None = None, batch: int | None = None) -> NotifierRun:
    """One pass: the events after the cursor (one batch, one transaction), then overdue work."""
    at = at or now()
    batch = batch or get_settings().notify_batch
    run = NotifierRun()
    with rt.uow() as uow:
        cursor = _ensure_started(uow, rt)
        events = uow.session.execute(
            select(
                Event.id,
                Event.kind,
                Event.actor,
                Event.case_key,
                Event.claim_key,
                Event.to_stage,
                Event.rationale,
                Event.payload,
            )
            .where(Event.id > cursor.last_event_id)
            .order_by(Event.id)
            .limit(batch + 1)
        ).all()
        run.more = len(events) > batch
        events = events[:batch]
        subs: dict[str, list[Subscription]] = {}
        for s in uow.session.scalars(select(Subscription).order_by(Subscription.id)):
            subs.setdefault(s.kind, []).append(s)
        notices: list[Notice] = []
        if events:
            at_risk = {e.claim_key for e in events if e.kind == EventKind.CLAIM_AT_RISK and e.claim_key}
            owners = dict(uow.session.execute(select(Claim.key, Claim.assignee).where(Claim.key.in_(at_risk))).all())
            for ev in events:
                notices.extend(_person_notices(ev, subs, owners))
            claims = {e.claim_key for e in events if e.claim_key}
            actions = {
                str((e.payload or {}).get("action"))
                for e in events
                if e.kind in (EventKind.ACTION_ADDED, EventKind.ACTION_EDITED) and (e.payload or {}).get("action")
            }
            touched = _affected_actions(uow, claims, actions)
            notices.extend(_readiness_notices(uow, rt, touched, subs.get("readiness", []), events[-1].id))
            cursor.last_event_id = events[-1].id
            run.events = len(events)
        notices.extend(_overdue_notices(uow, rt, subs.get("overdue", []), at))
        _write(uow, notices, at, run, rt.markings)
        run.cursor = cursor.last_event_id
        uow.commit()
    return run


def catch_up(rt: Runtime, *, at: datetime | None = None, max_passes: int = 50) -> NotifierRun:
    """Notifier passes until the log is read to its head (or `max_passes`); `deliver` sends what they queued."""
    total = NotifierRun()
    for _ in range(max_passes):
        run = run_notifier(rt, at=at)
        total.events += run.events
        total.notifications += run.notifications
        total.deliveries += run.deliveries
        total.cursor = run.cursor
        for k, v in run.kinds.items():
            total.kinds[k] = total.kinds.get(k, 0) + v
        if not run.more:
            break
    return total


# --- delivery ------------------------------------------------------------------------------------------


@dataclass
class DeliveryRun:
    sent: int = 0
    failed: int = 0
    dead: int = 0


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failures: CLAIMS_NOTIFY_RETRY_SECONDS, doubling, at most a day."""
    return timedelta(seconds=min(get_settings().notify_retry_seconds * 2 ** max(attempts - 1, 0), 86_400))


def send(url: str, title: str, body: str) -> str | None:
    """Send one message through Apprise; None when it went, else Apprise's reason in one line."""
    import apprise

    ap = apprise.Apprise()
    if not ap.add(url):
        return "not a URL Apprise can use"
    with apprise.LogCapture(level=logging.WARNING) as logs:
        ok = bool(ap.notify(title=title, body=body))
        said = logs.getvalue() if not ok else ""
    if ok:
        return None
    # LogCapture lines read "2026-12-03 11:54:17,002 - WARNING - A Connection error occurred ...": keep the text
    lines = [line.split(" - ", 2)[-1].strip() for line in said.splitlines() if line.strip()]
    return (lines[-1] if lines else "the channel refused or did not answer")[:500]


def deliver(rt: Runtime, *, at: datetime | None = None, limit: int = 200) -> DeliveryRun:
    """Send the due deliveries; each is leased first (a guarded UPDATE), so two senders never send one twice."""
    at = at or now()
    settings = get_settings()
    run = DeliveryRun()
    with rt.uow(write=False) as uow:
        due = uow.session.execute(
            select(Delivery.id, Delivery.attempts, Delivery.status)
            .where(
                ((Delivery.status.in_(("pending", "failed"))) & (Delivery.next_attempt_at <= at))
                | ((Delivery.status == "sending") & (Delivery.lease_until < at))
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        ).all()
    for did, attempts, status in due:
        with rt.uow() as uow:
            leased = uow.session.execute(
                update(Delivery)
                .where(Delivery.id == did, Delivery.status == status, Delivery.attempts == attempts)
                .values(status="sending", lease_until=at + timedelta(minutes=5))
            ).rowcount
            if leased != 1:
                continue  # another sender took it
            d = uow.session.get(Delivery, did)
            assert d is not None
            secret, title, body = d.channel.secret, d.notification.title, d.notification.body
            uow.commit()
        try:
            error = send(secret_url(secret), title, body)
        except InvalidInput as exc:
            error = str(exc)
        except Exception as exc:  # a channel's failure is recorded, never raised into the notifier
            error = f"{type(exc).__name__}: {exc}"[:500]
        with rt.uow() as uow:
            values: dict[str, Any]
            if error is None:
                values = {"status": "sent", "sent_at": now(), "attempts": attempts + 1, "last_error": None}
                run.sent += 1
            elif attempts + 1 >= settings.notify_max_attempts:
                values = {"status": "dead", "attempts": attempts + 1, "last_error": error}
                run.dead += 1
            else:
                values = {
                    "status": "failed",
                    "attempts": attempts + 1,
                    "last_error": error,
                    "next_attempt_at": at + backoff(attempts + 1),
                }
                run.failed += 1
            uow.session.execute(
                update(Delivery)
                .where(Delivery.id == did, Delivery.status == "sending")
                .values(lease_until=None, **values)
            )
            uow.commit()
    return run


def delivery_rows(rt: Runtime, who: Identity, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Deliveries for an admin (failed and dead first): who, which channel, attempts, the last error."""
    with rt.uow(write=False) as uow:
        authorize(uow, who, "manage_users")
        stmt = (
            select(Delivery, Notification.person, Notification.title, Channel.name)
            .join(Notification, Notification.id == Delivery.notification_id)
            .join(Channel, Channel.id == Delivery.channel_id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
        if status:
            stmt = stmt.where(Delivery.status == status)
        return [
            {
                "id": d.id,
                "person": person,
                "channel": channel,
                "title": title,
                "status": d.status,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at.isoformat(),
                "last_error": d.last_error,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            }
            for d, person, title, channel in uow.session.execute(stmt)
        ]


def retry_delivery(rt: Runtime, who: Identity, delivery_id: int) -> None:
    """An admin puts a failed or dead delivery back in the queue, due now; audited."""
    actor = who.name
    with rt.uow() as uow:
        authorize(uow, who, "manage_users")
        d = uow.session.get(Delivery, delivery_id)
        if d is None:
            raise NotFound(f"delivery: unknown delivery {delivery_id}")
        if d.status not in ("failed", "dead"):
            raise InvalidInput(f"delivery: {delivery_id} is {d.status}; only failed or dead deliveries are retried")
        d.status, d.attempts, d.next_attempt_at = "pending", 0, now()
        uow.record(EventKind.DELIVERY_RETRIED, actor=actor, payload={"delivery": delivery_id})
        uow.commit()


# --- inbox and digest ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbox:
    unread: int
    items: list[dict[str, Any]]


def _readable_notices(who: Any) -> Any:
    """WHERE clause on Notification: no case, or a case the person reads now (narrowed since: hidden)."""
    seen = select(Case.key).where(who.cases(Case.id), who.marked(Case.marking))
    return Notification.case_key.is_(None) | Notification.case_key.in_(seen)


def inbox(rt: Runtime, who: Identity, *, unread_only: bool = False, limit: int = 50) -> Inbox:
    with rt.uow(write=False) as uow:
        user = authorize(uow, who, "read")
        readable = _readable_notices(reader(uow, user.name, rt.markings))
        unread = uow.session.scalar(
            select(func.count()).where(Notification.person == user.name, Notification.read_at.is_(None), readable)
        )
        stmt = (
            select(Notification)
            .where(Notification.person == user.name, readable)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
        if unread_only:
            stmt = stmt.where(Notification.read_at.is_(None))
        items = [
            {
                "id": n.id,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "at": n.created_at.isoformat(),
                "read": n.read_at is not None,
                "case": n.case_key,
                "claim": n.claim_key,
                "action": n.action_key,
            }
            for n in uow.session.scalars(stmt)
        ]
        return Inbox(int(unread or 0), items)


def unread_count(rt: Runtime, who: Identity) -> int:
    actor = who.name
    with rt.uow(write=False) as uow:
        return int(
            uow.session.scalar(select(func.count()).where(Notification.person == actor, Notification.read_at.is_(None)))
            or 0
        )


def mark_read(rt: Runtime, who: Identity, ids: list[int] | None = None) -> int:
    """Mark the person's notices read (`ids`, or all when None); audited as one event."""
    actor = who.name
    with rt.uow() as uow:
        user = authorize(uow, who, "read")
        stmt = select(Notification.id).where(Notification.person == user.name, Notification.read_at.is_(None))
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
            mine = set(uow.session.scalars(select(Notification.id).where(Notification.person == user.name)))
            unknown = sorted(set(ids) - mine)
            if unknown:
                raise NotFound(f"notification: unknown notification {unknown[0]} in {user.name}'s inbox")
        marked = sorted(uow.session.scalars(stmt))
        if marked:
            uow.session.execute(update(Notification).where(Notification.id.in_(marked)).values(read_at=now()))
            uow.record(EventKind.INBOX_READ, actor=actor, payload={"person": user.name, "notifications": marked})
            uow.commit()
        return len(marked)


def send_digests(rt: Runtime, *, at: datetime | None = None) -> int:
    """The daily digest: per person with a digest channel, the notices of the 24 hours before `at`, once per day.

    The digest is itself a notification (kind `digest`, change `digest:DAY`), so the same UNIQUE
    constraint keeps a second run of the day (a restarted schedule) from sending it again.
    """
    at = (at or now()).astimezone(UTC)
    day = at.date().isoformat()
    made = 0
    with rt.uow() as uow:
        people = sorted(
            set(
                uow.session.scalars(
                    select(Channel.person).where(Channel.digest.is_(True), Channel.removed_at.is_(None))
                )
            )
        )
        rows = []
        for person in people:
            items = uow.session.execute(
                select(Notification.title, Notification.read_at)
                .where(
                    Notification.person == person,
                    Notification.kind != "digest",
                    Notification.created_at > at - timedelta(days=1),
                    Notification.created_at <= at,
                )
                .order_by(Notification.id)
            ).all()
            if not items:
                continue
            unread = sum(1 for _, read in items if read is None)
            body = "\n".join(f"- {title}{'' if read is None else ' (read)'}" for title, read in items)
            rows.append(
                {
                    "person": person,
                    "kind": "digest",
                    "change_key": f"digest:{day}",
                    "event_id": None,
                    "case_key": None,
                    "claim_key": None,
                    "action_key": None,
                    "title": f"Daily digest {day}: {len(items)} notices, {unread} unread",
                    "body": body,
                    "created_at": at,
                    "read_at": at,
                }
            )
        before = uow.session.scalar(select(func.max(Notification.id))) or 0
        _insert_ignoring_duplicates(uow, Notification.__table__, rows)
        new = uow.session.execute(
            select(Notification.id, Notification.person).where(Notification.id > before, Notification.kind == "digest")
        ).all()
        made = len(new)
        _queue(uow, [(nid, person) for nid, person in new], digest=True, at=at)
        uow.commit()
    return made
