"""`claims evidence`: add or retract graded evidence."""

from datetime import date
from typing import Annotated

import typer

from claims import services
from claims.cli.common import (
    AsUser,
    CaveatOpt,
    JsonOut,
    MarkingOpt,
    emit_json,
    fail,
    identity,
    marking_option,
    out,
    runtime,
)

evidence_app = typer.Typer(help="Add or retract evidence.", no_args_is_help=True)


@evidence_app.command("add")
def evidence_add(
    claim: Annotated[str, typer.Option(help="Claim key.")],
    source: Annotated[str, typer.Option(help="Source key in the claim's case.")],
    stance: Annotated[str, typer.Option(help="supports or contradicts")],
    summary: Annotated[str, typer.Option(help="What the source says.")],
    credibility: Annotated[str | None, typer.Option(help="1-6 (Admiralty).")] = None,
    grade: Annotated[str | None, typer.Option(help="Full grade like B2; the letter must match the source.")] = None,
    locator: Annotated[str | None, typer.Option(help="URL, document id, page.")] = None,
    observed_at: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    quote: Annotated[str | None, typer.Option(help="The source's own words.")] = None,
    marking: MarkingOpt = None,
    caveat: CaveatOpt = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Attach one graded evidence item to a claim (marked --marking, default its case's)."""
    rt = runtime()
    marking = marking_option(rt, marking)
    observed = None
    if observed_at:
        try:
            observed = date.fromisoformat(observed_at)
        except ValueError:
            fail(f"observed_at: {observed_at!r} is not a date YYYY-MM-DD")
    from claims.cli import remote

    if remote.configured():
        body = {
            "source": source,
            "stance": stance,
            "summary": summary,
            "credibility": credibility,
            "grade": grade,
            "locator": locator,
            "observed_at": observed.isoformat() if observed else None,
            "quote": quote,
            "marking": marking,
            "caveat": caveat,
        }
        data = remote.call("POST", f"/claims/{remote.part(claim)}/evidence", as_user=as_user, json=body)
    else:
        added = services.add_evidence(
            rt,
            identity(as_user),
            claim,
            source,
            stance,
            credibility=credibility,
            grade=grade,
            summary=summary,
            locator=locator,
            observed_at=observed,
            quote=quote,
            marking=marking,
            caveat=caveat,
        )
        data = {"id": added.id, "claim": added.claim, "grade": added.grade}
    if as_json:
        emit_json(data)
    else:
        out.print(f"evidence #{data['id']} ({data['grade']}) added to {data['claim']}", markup=False)


@evidence_app.command("retract")
def evidence_retract(
    evidence_id: int, reason: Annotated[str, typer.Option(help="Why it no longer stands.")], as_user: AsUser = None
) -> None:
    """Retract an evidence item; it stays on record but never counts again."""
    from claims.cli import remote

    if remote.configured():
        data = remote.call("POST", f"/evidence/{evidence_id}/retract", as_user=as_user, json={"reason": reason})
        out.print(f"evidence #{data['id']} on {data['claim']} retracted", markup=False)
        return
    item = services.retract_evidence(runtime(), identity(as_user), evidence_id, reason)
    out.print(f"evidence #{item.id} on {item.claim} retracted", markup=False)
