"""`claims review`: four-eyes decisions on confirm/refute requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from claims import services
from claims.cli.common import AsUser, JsonOut, actor, emit_json, err, out, runtime

review_app = typer.Typer(help="Four-eyes review of confirm/refute requests.", no_args_is_help=True)


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="pending, approved, rejected, withdrawn or all")] = "pending",
    as_json: JsonOut = False,
) -> None:
    """Review requests with the assessment of their target stage."""
    items = services.review_queue(runtime(), None if status == "all" else status)
    if as_json:
        emit_json(items)
        return
    from claims.render import render_reviews

    render_reviews(out, items)


def _decide(
    fn: Callable[..., services.Decision], review_id: int, as_user: str | None, rationale: str | None, as_json: bool
) -> None:
    decision = fn(runtime(), actor(as_user), review_id, rationale)
    if as_json:
        emit_json(
            {
                "review": decision.review_id,
                "claim": decision.claim,
                "status": decision.status,
                "stage": decision.stage.value,
            }
        )
    else:
        out.print(f"review #{decision.review_id} {decision.status}: {decision.claim} is {decision.stage}", markup=False)


@review_app.command("approve")
def review_approve(
    review_id: int,
    rationale: Annotated[str | None, typer.Option(help="Why.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Approve a request (reviewer other than the requester); the claim moves if criteria still hold."""
    _decide(services.approve, review_id, as_user, rationale, as_json)


@review_app.command("reject")
def review_reject(
    review_id: int,
    rationale: Annotated[str, typer.Option(help="Why not.")],
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Reject a request; the claim stays where it is."""
    _decide(services.reject, review_id, as_user, rationale, as_json)


@review_app.command("code")
def review_code(
    review_id: int,
    minutes: Annotated[float, typer.Option(min=1, max=60, help="How long the code is valid.")] = 10,
    as_user: AsUser = None,
) -> None:
    """A one-time code proving you decide REVIEW_ID in the Prefect sign-off form (single use; only its hash is kept)."""
    from claims.services.identity import issue_signoff_code

    code, expires = issue_signoff_code(runtime(), actor(as_user), review_id, minutes=minutes)
    err.print(f"code for review #{review_id}, valid once until {expires:%H:%M} UTC:", markup=False)
    out.print(code, markup=False, highlight=False)
