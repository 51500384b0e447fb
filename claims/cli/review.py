"""`claims review`: four-eyes decisions on confirm/refute requests."""

from collections.abc import Callable
from typing import Annotated

import typer

from claims import services
from claims.cli.common import AsUser, JsonOut, emit_json, err, identity, out, runtime

review_app = typer.Typer(help="Four-eyes review of confirm/refute requests.", no_args_is_help=True)


PAGE = 20


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="pending, approved, rejected, withdrawn or all")] = "pending",
    case: Annotated[str | None, typer.Option(help="Only requests on this case's claims.")] = None,
    action: Annotated[str | None, typer.Option(help="Only requests on claims this policy action requires.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many requests.")] = PAGE,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many requests first.")] = 0,
    every: Annotated[bool, typer.Option("--all", help="Every matching request, not one page.")] = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Review requests by impact (claims gating the most policy actions first, then the oldest), one page.

    Each request comes with the assessment of its target stage. When more requests match than are
    shown, a closing line gives the true total (on stderr with --json, whose stdout stays the list).
    """
    from claims.cli import remote

    if remote.configured():
        query = {"status": status, "case": case, "action": action, "offset": offset, "limit": 1000 if every else limit}
        data = remote.call("GET", "/reviews", as_user=as_user, params=query)
        page = services.ReviewPage(data["total"], data["offset"], data["items"])
    else:
        page = services.review_page(
            runtime(),
            None if status == "all" else status,
            case=case,
            action=action,
            limit=None if every else limit,
            offset=offset,
            who=identity(as_user),
        )
    shown = len(page.items)
    cut = shown < page.total
    summary = (
        f"requests {offset + 1}-{offset + shown} of {page.total}" if shown else f"no requests shown of {page.total}"
    ) + (f" (--offset {offset + shown} for more, --all for every one)" if offset + shown < page.total else "")
    if as_json:
        emit_json(page.items)
        if cut:
            err.print(summary, markup=False)
        return
    from claims.render import render_reviews

    render_reviews(out, page.items)
    if cut:
        out.print(summary, markup=False)


def _decide(
    fn: Callable[..., "services.Decision"], review_id: int, as_user: str | None, rationale: str | None, as_json: bool
) -> None:
    from claims.cli import remote

    if remote.configured():
        verb = "approve" if fn is services.approve else "reject"
        data = remote.call("POST", f"/reviews/{review_id}/{verb}", as_user=as_user, json={"rationale": rationale})
    else:
        decision = fn(runtime(), identity(as_user), review_id, rationale)
        data = {
            "review": decision.review_id,
            "claim": decision.claim,
            "status": decision.status,
            "stage": decision.stage.value,
        }
    if as_json:
        emit_json(data)
    else:
        out.print(f"review #{data['review']} {data['status']}: {data['claim']} is {data['stage']}", markup=False)


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

    code, expires = issue_signoff_code(runtime(), identity(as_user), review_id, minutes=minutes)
    err.print(f"code for review #{review_id}, valid once until {expires:%H:%M} UTC:", markup=False)
    out.print(code, markup=False, highlight=False)
