"""Use cases: collection tasks from the gaps (issue 18) - plan them, assign or take them, list them.

The domain (`claims.domain.plan`) says what is needed; here the needs become stored tasks, each
change audited. `replan` runs inside the caller's unit of work and looks only at the claims it is
given, so the assessment (which judges the changed claims) and the stage moves keep the tasks
true with one call each; `replan_all` is the full plan (a new policy, an edited action).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from claims.domain.assessment import assess
from claims.domain.events import EventKind
from claims.domain.plan import ActionPlan, Gate, Need, Task, carrying_roots, plan_tasks, rank_key
from claims.domain.policy import Policy
from claims.domain.similarity import survivor_of
from claims.domain.stages import Stage
from claims.services.access import authorize_case, case_for, claim_for, readable_source_ids, reader, reader_of
from claims.services.errors import AlreadyDone, InvalidInput, NotFound, PermissionDenied, RuleViolation
from claims.services.facts import load_facts
from claims.services.identity import Identity
from claims.services.runtime import PERMISSIONS, Role, Runtime, authorize
from claims.services.transitions import now
from claims.store.models import Claim, CollectionTask, Source
from claims.store.uow import UnitOfWork

OPEN, CLOSED, WITHDRAWN = "open", "closed", "withdrawn"
STATUSES = (OPEN, CLOSED, WITHDRAWN)

UNREAD = "(a source you may not read)"  # a root named in place of one the reader may not read


@dataclass(frozen=True)
class Replanned:
    opened: int = 0
    updated: int = 0
    closed: int = 0
    withdrawn: int = 0


def _duplicates(uow: UnitOfWork) -> dict[str, str]:
    from claims.services.links import duplicate_map  # links imports transitions, which calls replan

    return duplicate_map(uow)


def replan(uow: UnitOfWork, policy: Policy, claim_keys: Iterable[str] | None, actor: str) -> Replanned:
    """Bring the open tasks of these claims (every claim when None) in line with the plan, audited.

    A need newly planned opens a task; one whose text, actions or due date changed is updated; an
    open task no longer planned is closed when its criterion now holds (or the claim reached the
    stage), else withdrawn with why (the claim moved on, no action needs it, another policy).
    Called by the assessment and by every stage move, inside their transaction.
    """
    dupes = _duplicates(uow)
    if claim_keys is None:
        rows = uow.tasks.gate_rows(None)
        scope: set[str] | None = None
    else:
        scope = set(claim_keys)
        if not scope:
            return Replanned()
        # a required duplicate is judged on its survivor: a change to the survivor re-plans its gates
        required = scope | {d for d in dupes if survivor_of(d, dupes) in scope}
        rows = uow.tasks.gate_rows(required)
    gates = [
        Gate(action, survivor_of(claim, dupes) if claim in dupes else claim, Stage(stage), due)
        for action, claim, stage, due in rows
    ]
    gated = {g.claim for g in gates}
    existing = {t.key: t for t in uow.tasks.open_for(scope)}
    # only the claims that gate an action or hold an open task: most of an assessment batch is neither
    wanted = gated | {t.claim.key for t in existing.values()}
    claims = {c.key: c for c in uow.claims.many(wanted)} if wanted else {}
    facts = load_facts(uow, list(claims.values()))
    planned = plan_tasks(gates, facts, policy).tasks
    at, counts = now(), {"opened": 0, "updated": 0, "closed": 0, "withdrawn": 0}
    for key, task in planned.items():
        claim = claims[task.need.claim]
        row = existing.pop(key, None)
        if row is None:
            row = _new_task(task, claim, policy, at)
            uow.tasks.add(row)
            uow.flush()
            _record(uow, EventKind.TASK_OPENED, actor, row, claim, policy)
            counts["opened"] += 1
        elif _refresh(row, task):
            _record(uow, EventKind.TASK_UPDATED, actor, row, claim, policy)
            counts["updated"] += 1
    for row in existing.values():
        claim = claims.get(row.claim.key, row.claim)
        status, reason = _ending(row, claim, facts, policy, gated)
        row.status, row.closed_at, row.close_reason = status, at, reason
        kind = EventKind.TASK_CLOSED if status == CLOSED else EventKind.TASK_WITHDRAWN
        _record(uow, kind, actor, row, claim, policy, rationale=reason)
        counts[status] += 1
    uow.flush()
    return Replanned(**counts)


def _new_task(task: Task, claim: Claim, policy: Policy, at: Any) -> CollectionTask:
    need = task.need
    return CollectionTask(
        key=task.key,
        claim=claim,
        stage=need.stage.value,
        criterion=need.criterion,
        kind=need.kind.value,
        items=need.items,
        need=need.text,
        stance=need.stance.value if need.stance else None,
        grade=str(need.grade) if need.grade else None,
        independent_of=list(need.independent_of),
        not_by=need.not_by,
        actions=list(task.actions),
        due_on=task.due,
        status=OPEN,
        claim_stage=claim.stage,
        policy_version=policy.version,
        opened_at=at,
    )


def _refresh(row: CollectionTask, task: Task) -> bool:
    """Update a still-open task to the need as planned now; whether anything changed."""
    need = task.need
    new = (need.items, need.text, list(need.independent_of), need.not_by, list(task.actions), task.due)
    old = (row.items, row.need, list(row.independent_of), row.not_by, list(row.actions), row.due_on)
    if new == old:
        return False
    row.items, row.need, row.independent_of, row.not_by, row.actions, row.due_on = new
    return True


def _ending(
    row: CollectionTask, claim: Claim, facts: dict[str, Any], policy: Policy, gated: set[str]
) -> tuple[str, str]:
    """Closed (met) or withdrawn (and why), for an open task the plan no longer has."""
    stage = Stage(claim.stage)
    target = Stage(row.stage)
    judged = assess(facts[claim.key], policy) if claim.key in facts else None
    if judged is not None and stage.satisfies(target) and not judged.at_risk:
        return CLOSED, f"met: claim is {stage}"
    if judged is not None and target in judged.stages and stage is not Stage.REFUTED:
        for result in judged.for_stage(target).criteria:
            if result.criterion == row.criterion and result.met:
                return CLOSED, f"met: {result.criterion}"
    if claim.withdrawn_at is not None:
        return WITHDRAWN, "claim was withdrawn"
    if claim.key not in gated:
        return WITHDRAWN, "no policy action requires this claim any more"
    if stage.value != row.claim_stage:
        return WITHDRAWN, f"claim moved on to {stage}"
    return WITHDRAWN, f"no longer needed under threshold policy {policy.version}"


def _record(
    uow: UnitOfWork,
    kind: EventKind,
    actor: str,
    row: CollectionTask,
    claim: Claim,
    policy: Policy,
    *,
    rationale: str | None = None,
    **extra: Any,
) -> None:
    payload = {"task": row.id, "need": row.need, "actions": list(row.actions), "stage": row.stage, **extra}
    uow.record(kind, actor=actor, claim=claim, rationale=rationale, policy_version=policy.version, payload=payload)


def replan_claims(uow: UnitOfWork, policy: Policy, claim_keys: Iterable[str], actor: str) -> Replanned:
    """The hook: re-plan only these claims (the incremental path)."""
    return replan(uow, policy, list(claim_keys), actor)


def replan_all(rt: Runtime, who: Identity) -> Replanned:
    """The full plan, in one transaction: after a policy change or an edit of actions."""
    actor = who.name
    with rt.uow() as uow:
        authorize(uow, who, "assess")
        result = replan(uow, rt.policy, None, actor)
        uow.commit()
        return result


# --- assign and take -----------------------------------------------------------------------------


def _open_task(uow: UnitOfWork, task_id: int) -> CollectionTask:
    row = uow.tasks.get(task_id)
    if row is None:
        raise NotFound(f"task: unknown task #{task_id}")
    if row.status != OPEN:
        raise AlreadyDone(f"task: #{task_id} is already {row.status} ({row.close_reason})")
    return row


def _check_assignee(uow: UnitOfWork, row: CollectionTask, name: str, field: str) -> str:
    user = uow.users.get(name)
    if user is None:
        raise NotFound(f"{field}: unknown user {name!r}")
    if user.disabled_at is not None:
        raise RuleViolation(f"{field}: user {name!r} is disabled")
    perms = PERMISSIONS[Role(user.role)]
    if "take_task" not in perms:
        raise PermissionDenied(f"{field}: {name!r} has role {user.role}, which may not take tasks")
    if row.kind == "sign_off":
        if "approve" not in perms:
            raise PermissionDenied(f"{field}: task #{row.id} is a sign-off; {name!r} ({user.role}) may not approve")
        if row.not_by and row.not_by.casefold() == name.casefold():
            raise RuleViolation(f"{field}: {name!r} requested the review of task #{row.id}; another must sign off")
    return user.name


def assign(rt: Runtime, who: Identity, task_id: int, assignee: str, *, reassign: bool = False) -> dict[str, Any]:
    """A manager or analyst gives a task to a person; `task.assigned` is what notifies them."""
    actor = who.name
    with rt.uow() as uow:
        authorize(uow, who, "read")
        found = uow.tasks.get(task_id)
        if found is not None:  # issue 20: a task of a case they do not read is unknown, by the role there
            unknown = f"task: unknown task #{task_id}"
            authorize_case(uow, who, "assign_task", found.claim.case, rt.markings, unknown=unknown)
        row = _open_task(uow, task_id)
        name = _check_assignee(uow, row, assignee, "assignee")
        if row.assignee is not None and not reassign:
            if row.assignee == name:
                raise AlreadyDone(f"task: #{task_id} is already assigned to {row.assignee}")
            raise AlreadyDone(f"task: #{task_id} is already {row.assignee}'s; reassign to move it")
        before = row.assignee
        row.assignee, row.assigned_by, row.assigned_at = name, actor, now()
        uow.flush()
        _record(uow, EventKind.TASK_ASSIGNED, actor, row, row.claim, rt.policy, assignee=name, by=actor, was=before)
        out = task_json(row)
        uow.commit()
        return out


def take(rt: Runtime, who: Identity, task_id: int) -> dict[str, Any]:
    """ "I'm on it": the acting person takes an open, unowned task. Two at once: one owner, one event."""
    actor = who.name
    with rt.uow() as uow:
        authorize(uow, who, "read")
        found = uow.tasks.get(task_id)
        if found is not None:  # issue 20: a task of a case they do not read is unknown, by the role there
            unknown = f"task: unknown task #{task_id}"
            authorize_case(uow, who, "take_task", found.claim.case, rt.markings, unknown=unknown)
        row = _open_task(uow, task_id)
        if row.assignee is not None:
            raise AlreadyDone(f"task: #{task_id} is already taken by {row.assignee}")
        name = _check_assignee(uow, row, actor, "user")
        row.assignee, row.assigned_by, row.assigned_at = name, actor, now()
        uow.flush()
        _record(uow, EventKind.TASK_TAKEN, actor, row, row.claim, rt.policy, assignee=name)
        out = task_json(row)
        uow.commit()
        return out


# --- reading -------------------------------------------------------------------------------------


def task_json(row: CollectionTask) -> dict[str, Any]:
    return {
        "id": row.id,
        "claim": row.claim.key,
        "case": row.claim.case.key,
        "stage": row.stage,
        "kind": row.kind,
        "need": row.need,
        "items": row.items,
        "stance": row.stance,
        "grade": row.grade,
        "independent_of": list(row.independent_of),
        "not_by": row.not_by,
        "actions": list(row.actions),
        "due": row.due_on.isoformat() if row.due_on else None,
        "status": row.status,
        "assignee": row.assignee,
        "assigned_by": row.assigned_by,
        "opened_at": row.opened_at.isoformat(),
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
        "close_reason": row.close_reason,
        "policy_version": row.policy_version,
    }


def masked(item: dict[str, Any], roots: Sequence[str], seen: set[str]) -> dict[str, Any]:
    """`item` (a task's or a need's JSON) as a reader sees it: a lineage root they may not read is not named,
    in `independent_of` nor in the `need` sentence (issue 20)."""
    shown = [r if r in seen else UNREAD for r in roots]
    if shown == list(roots):
        return item
    out = dict(item)
    if "independent_of" in out:
        out["independent_of"] = shown
    out["need"] = str(out["need"]).replace(f"independent of {', '.join(roots)}", f"independent of {', '.join(shown)}")
    return out


def items_left(rows: Sequence[CollectionTask]) -> dict[str, int]:
    """Per action, the items its open tasks still need (1: one item from ready)."""
    left: dict[str, int] = {}
    for r in rows:
        if r.status == OPEN:
            for a in r.actions:
                left[a] = left.get(a, 0) + r.items
    return left


def list_tasks(
    rt: Runtime,
    who: Identity,
    *,
    mine: bool = False,
    unassigned: bool = False,
    action: str | None = None,
    case: str | None = None,
    status: str | None = OPEN,
) -> list[dict[str, Any]]:
    """Tasks in work order: most actions unblocked first, then the action nearest to ready, then due date."""
    actor = who.name
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status: {status!r} is not one of {', '.join(STATUSES)} or all")
    if mine and unassigned:
        raise InvalidInput("mine: --mine and --unassigned exclude each other")
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        seen = reader(uow, who.name, rt.markings)
        if case:
            case_for(uow, seen, case)
        found = uow.actions.get(action) if action else None
        if action and (found is None or not seen.sees(found.case_id, found.case.marking)):
            raise NotFound(f"action: unknown policy action {action!r}")
        everything = uow.tasks.listing(OPEN, case, reach=seen)
        left = items_left(everything)
        rows = everything if status == OPEN else uow.tasks.listing(status, case, reach=seen)
        picked = [
            r
            for r in rows
            if (not mine or r.assignee == actor)
            and (not unassigned or r.assignee is None)
            and (action is None or action in r.actions)
        ]
        out = []
        seen_roots = set(uow.session.scalars(select(Source.key).where(seen.marked(Source.marking))))
        for r in picked:
            item = masked(task_json(r), list(r.independent_of), seen_roots)
            item["closest"] = min((left.get(a, 0) for a in r.actions), default=0)
            item["unblocks"] = len(r.actions)
            out.append(item)
        out.sort(key=lambda t: rank_key(t["unblocks"], t["closest"], _day(t["due"]), f"{t['id']:012d}"))
        return out


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# --- plans per action and the stress test, for readiness, the brief and the claim page ------------


def need_json(need: Need, task_ids: dict[str, int]) -> dict[str, Any]:
    return {
        "task": task_ids.get(need.key),
        "claim": need.claim,
        "stage": need.stage.value,
        "kind": need.kind.value,
        "items": need.items,
        "need": need.text,
    }


def action_plans(rt: Runtime, case_key: str | None = None, *, who: Identity | None = None) -> dict[str, dict[str, Any]]:
    """Per action: the smallest set of tasks that would make it ready (with their task ids), its
    items to ready, and the gating claims that rest on one line (claim -> the roots that carry it).

    Only the actions of cases `actor` reads (issue 20); a root they may not read is not named.
    """
    with rt.uow(write=False) as uow:
        scope = reader_of(uow, who, rt.markings)
        dupes = _duplicates(uow)
        rows = [r for r in uow.tasks.gate_rows(None)]
        keep = {a for a, *_ in uow.actions.requirement_rows(case_key, reach=scope)}
        rows = [r for r in rows if r[0] in keep]
        seen = set(uow.session.scalars(select(Source.key).where(scope.marked(Source.marking))))
        gates = [Gate(a, survivor_of(c, dupes) if c in dupes else c, Stage(s), d) for a, c, s, d in rows]
        facts = load_facts(uow, uow.claims.many({g.claim for g in gates}))
        plan = plan_tasks(gates, facts, rt.policy)
        task_ids = {t.key: t.id for t in uow.tasks.open_for(None)}
        fragile = {k: carrying_roots(f, rt.policy) for k, f in facts.items()}
        out: dict[str, dict[str, Any]] = {}
        for key, ap in plan.actions.items():
            out[key] = _plan_json(ap, task_ids, seen) | {
                "rests_on_one_line": {
                    g.claim: [r if r in seen else UNREAD for r in fragile[g.claim]]
                    for g in gates
                    if g.action == key and fragile.get(g.claim)
                },
            }
        return out


def _plan_json(ap: ActionPlan, task_ids: dict[str, int], seen: set[str] | None = None) -> dict[str, Any]:
    """`seen`: the source keys the reader may read (None: the system, who reads every one)."""
    tasks = [need_json(n, task_ids) for n in ap.tasks]
    if seen is not None:
        tasks = [masked(t, list(n.independent_of), seen) for t, n in zip(tasks, ap.tasks, strict=True)]
    return {"items": ap.items, "tasks": tasks}


def rests_on(rt: Runtime, claim_key: str, *, who: Identity | None = None) -> list[str]:
    """The lineage roots that each alone carry this claim at its stage (the claim page's warning).

    Only of a claim `actor` reads; a root source they may not read is not named (issue 20).
    """
    with rt.uow(write=False) as uow:
        scope = reader_of(uow, who, rt.markings)
        claim = claim_for(uow, scope, claim_key)
        readable = readable_source_ids(uow, scope, claim.case_id)
        seen = {s.key for s in uow.sources.for_case(claim.case_id) if s.id in readable}
        roots = carrying_roots(load_facts(uow, [claim])[claim_key], rt.policy)
        return [r if r in seen else UNREAD for r in roots]
