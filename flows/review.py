"""Sign-off flow: a confirm or refute request waits for a person, with typed input in Prefect's UI.

The run waits with a `ReviewDecision` form whose description shows the claim, its assessment and
the open gaps. The decision goes through the same services as `claims review approve|reject`
(roles, four eyes, criteria still hold); a decision those refuse is logged and the run waits
again.

Run by a deployment (a worker, `claims serve`), the run SUSPENDS (`suspend_flow_run`): its process
ends and no worker slot is held while a reviewer takes days. Resumed, the run starts again from the
top and replays: tasks whose results were persisted (`apply_decision`, keyed on the run and the
wait) return what they returned before, so a decision is never applied twice. A review decided
elsewhere meanwhile (CLI, dashboard, withdrawn by the assessment) is noticed by the next scheduled
assessment, which resumes the run (`flows.assessment.resume_decided_signoffs`); it sees the
recorded decision, applies nothing and ends.

Called directly (no deployment: tests, a script), the run PAUSES in its process instead, and a
watcher thread polls the store to resume it when the review is decided elsewhere.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext, get_run_context
from prefect.exceptions import NotPausedError
from prefect.flow_runs import pause_flow_run, resume_flow_run, suspend_flow_run
from prefect.input import RunInput
from pydantic import Field

from claims import services
from claims.domain.errors import CodeSpent, DomainError
from claims.services import Runtime
from claims.services.review import decide_with_code
from claims.services.signoff import ReviewState, review_state
from flows.common import current_runtime, plain, retry_on_io

STATUS_OF = {"approve": "approved", "reject": "rejected"}


class ReviewDecision(RunInput):
    """A reviewer's decision on a confirm/refute request: approve or reject, the proof of who decides, and why.

    There is no name field: anyone who can open the Prefect UI could type any name. The reviewer
    proves themselves with a one-time code from `claims review code ID` (or the dashboard's review
    page), bound to them and to this review, valid for minutes and spent by the decision.
    """

    decision: Literal["approve", "reject"]
    code: str = Field(default="", description="One-time code from `claims review code ID` (or the dashboard)")
    rationale: str = ""


@dataclass(frozen=True)
class Verdict:
    """Whether a submitted decision was applied, and if not the rule that refused it."""

    applied: bool
    message: str


@dataclass(frozen=True)
class SignoffResult:
    """How a review request ended: its status, who decided, whether through this run, what was refused first."""

    review_id: int
    claim: str
    status: str
    decided_by: str | None
    decided_here: bool
    refused: list[str] = field(default_factory=list)


@task(name="load-review", retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def load_review(rt: Runtime, review_id: int) -> ReviewState:
    """The review request as stored now."""
    return review_state(rt, review_id)


@task(name="describe-review", retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def describe_review(rt: Runtime, review: ReviewState, refused: list[str]) -> str:
    """Markdown for the reviewer: the claim, the requested move, the assessment with its gaps, the evidence."""
    return describe(review, services.claim_detail(rt, review.claim), refused)


def decision_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """One cached verdict per flow run, review and wait: a resumed (replayed) run gets the verdict it had."""
    return f"claims-signoff-{context.task_run.flow_run_id}-{parameters['review_id']}-{parameters['wait']}"


@task(
    name="apply-decision",
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_on_io,
    cache_key_fn=decision_key,
    persist_result=True,
)
def apply_decision(rt: Runtime, review_id: int, answer: ReviewDecision, wait: int = 1) -> Verdict:
    """Decide through the services as whoever the one-time code proves (roles, four eyes, criteria).

    A refusal is returned, not raised. A retry after a commit finds the code spent and the review
    decided as asked, and reports that instead of failing. The verdict is persisted, keyed on the
    run and the `wait` it answers: a suspended run replayed after its resume does not decide again.
    """
    try:
        who, decision = decide_with_code(rt, review_id, answer.code, answer.decision, answer.rationale.strip() or None)
    except DomainError as exc:
        now = review_state(rt, review_id)
        if now.status == STATUS_OF[answer.decision] and isinstance(exc, CodeSpent):
            return Verdict(True, f"review #{review_id} {now.status} by {now.decided_by}")  # a retry after commit
        return Verdict(False, str(exc))
    return Verdict(True, f"review #{review_id} {decision.status} by {who}: {decision.claim} is {decision.stage}")


@flow(name="claims-signoff", flow_run_name="review-{review_id}", persist_result=True)
def signoff_flow(review_id: int, poll_seconds: float = 10.0, timeout_hours: float = 168.0) -> SignoffResult:
    """Wait for a reviewer's decision on review request `review_id`, apply it under four eyes, end when decided."""
    rt = current_runtime()
    logger = get_run_logger()
    run = get_run_context().flow_run  # type: ignore[union-attr]
    deployed = run.deployment_id is not None  # suspending needs a deployment to start the run again
    refused: list[str] = []
    applied_here = False
    wait = 0
    while True:
        review = load_review(rt, review_id)
        if not review.pending:
            how = "through this run" if applied_here else "outside this run"
            logger.info("review #%d %s by %s (%s)", review_id, review.status, review.decided_by, how)
            return SignoffResult(review_id, review.claim, review.status, review.decided_by, applied_here, refused)
        form = ReviewDecision.with_initial_data(description=describe_review(rt, review, refused), rationale="")
        wait += 1
        if deployed:
            answer = suspend_flow_run(wait_for_input=form, timeout=int(timeout_hours * 3600))
        else:
            with watch_review(rt, review_id, run.id, poll_seconds):
                answer = pause_flow_run(
                    wait_for_input=form,
                    timeout=int(timeout_hours * 3600),
                    poll_interval=poll_seconds,  # type: ignore[arg-type]
                )
        if not load_review(rt, review_id).pending:
            continue  # decided elsewhere while we waited (resumed by the watcher or the sweep): nothing to apply
        verdict = apply_decision(rt, review_id, answer, wait)
        if verdict.applied:
            applied_here = True
            logger.info(verdict.message)
        else:
            refused.append(f"{answer.decision} refused: {verdict.message}")
            logger.warning("%s; waiting for another decision", refused[-1])


@contextmanager
def watch_review(rt: Runtime, review_id: int, flow_run_id: UUID, every: float) -> Iterator[None]:
    """While the run waits, resume it as soon as the review is decided elsewhere (CLI, dashboard, assessment)."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(every):
            try:
                state = review_state(rt, review_id)
                if not state.pending:
                    resume_flow_run(flow_run_id, run_input=outside_decision(state))
                    return
            except NotPausedError:
                continue  # not paused yet, or a reviewer's input got there first: the run sees the store anyway
            except Exception:  # a database or API hiccup: look again on the next tick
                continue

    watcher = threading.Thread(
        target=contextvars.copy_context().run, args=(watch,), name=f"watch-review-{review_id}", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def outside_decision(review: ReviewState) -> dict[str, Any]:
    """The input the watcher resumes a run with: the decision as recorded by whoever took it."""
    return {
        "decision": "approve" if review.status == "approved" else "reject",
        "code": "",
        "rationale": f"{review.status} by {review.decided_by or 'unknown'} outside this flow run"
        + (f": {review.rationale}" if review.rationale else ""),
    }


def describe(review: ReviewState, detail: dict[str, Any], refused: list[str]) -> str:
    """The pause form's description: what is asked, the assessment of the target stage with gaps, the evidence."""
    target = detail["assessment"].get(review.to_stage, {})
    lines = [
        f"## Review #{review.id}: {review.claim} {review.from_stage} -> {review.to_stage}",
        "",
        f"> {plain(detail['statement'])}",
        "",
        f"Requested by **{review.requested_by}** on {review.requested_at:%Y-%m-%d %H:%M}"
        + (f": {plain(review.reason)}" if review.reason else "."),
        "",
        f"### Assessment for {review.to_stage} (policy {detail['policy_version']})",
        "",
    ]
    for c in target.get("criteria", []):
        lines.append(
            f"- [{'x' if c['met'] else ' '}] {c['criterion']}" + (f" - **gap:** {c['gap']}" if c["gap"] else "")
        )
    if not target.get("evidence_met", False):
        lines += ["", "**The evidence criteria are not met now; an approval will be refused.**"]
    lines += [
        "",
        "### Evidence",
        "",
        "| grade | stance | source | independent line | summary |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in detail["evidence"]:
        summary = plain(e["summary"])
        row = f"| {e['grade']} | {e['stance']} | {e['source']} | {e['independent_root']} | {summary} |"
        lines.append(row if not e["retracted"] else f"| ~~{e['grade']}~~ | retracted | {e['source']} | | {summary} |")
    if refused:
        lines += ["", "### Refused so far", ""] + [f"- {plain(r)}" for r in refused]
    lines += [
        "",
        f"Approve or reject. The reviewer must hold the reviewer role and must not be {review.requested_by} "
        "(four eyes); rejecting needs a rationale. Prove who you are with a one-time code: "
        f"`claims review code {review.id}` (or the dashboard's review page); a name typed here is not believed.",
    ]
    return "\n".join(lines)
