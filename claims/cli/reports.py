"""`claims report`: take in a report, list and show reports, accept a candidate sentence (issue 17)."""

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

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

report_app = typer.Typer(help="Reports: intake, candidate claims, accept a sentence.", no_args_is_help=True)
TOP = 10


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"date: {value!r} is not a date YYYY-MM-DD")


def _print_candidates(page: Any, top: int = TOP) -> None:
    out.print(f"candidates (best {min(top, len(page.candidates))} of {len(page.candidates)} sentences):", markup=False)
    for rank, c in enumerate(page.candidates[:top], start=1):
        out.print(f"{rank:>2}. #{c.number} [{c.score:g}] {c.text}", markup=False)
        if c.reasons:
            out.print("      why: " + "; ".join(c.reasons), markup=False)
        for hit in page.similar.get(c.number, ()):
            hint = "same claim as" if hit.kind == "same" else "related to"
            out.print(f"      {hint} {hit.case_key}/{hit.claim_key} ({hit.score:.2f}): {hit.statement}", markup=False)
    if page.sources:
        out.print("speakers -> sources:", markup=False)
        for s in page.sources:
            target = f"source {s.source!r}" if s.source else "new source"
            out.print(f"  {s.speaker} -> {target}", markup=False)


def _page_json(page: Any) -> dict[str, Any]:
    r = page.report
    return {
        "id": r.id,
        "case": r.case,
        "title": r.title,
        "published": str(r.published) if r.published else None,
        "url": r.url,
        "media_type": r.media_type,
        "sha256": r.sha256,
        "added_by": r.added_by,
        "text": page.text,
        "accepted": [a.__dict__ for a in page.accepted],
        "candidates": [
            {
                "number": c.number,
                "start": c.start,
                "end": c.end,
                "text": c.text,
                "score": c.score,
                "reasons": list(c.reasons),
                "speakers": list(c.speakers),
                "similar": [
                    {"kind": h.kind, "score": round(h.score, 3), "case": h.case_key, "claim": h.claim_key}
                    for h in page.similar.get(c.number, ())
                ],
            }
            for c in page.candidates
        ],
        "sources": [s.__dict__ for s in page.sources],
    }


@report_app.command("add")
def report_add(
    file: Annotated[str, typer.Argument(help="Report file (.txt .md .html .pdf), or - for standard input.")],
    case: Annotated[str, typer.Option(help="Case key the report belongs to.")],
    title: Annotated[str | None, typer.Option(help="Title (default: the first sentence).")] = None,
    date_: Annotated[str | None, typer.Option("--date", help="Published YYYY-MM-DD.")] = None,
    url: Annotated[str | None, typer.Option(help="Where the report came from.")] = None,
    marking: MarkingOpt = None,
    caveat: CaveatOpt = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Store a report whole and print its ranked candidate claims with reasons (marked --marking, else as its case)."""
    from claims.services import reports

    published = _date(date_)
    rt, who = runtime(), identity(as_user)
    marking = marking_option(rt, marking)
    if file == "-":
        content, name = reports.read_report_stream(sys.stdin.buffer), None
    else:
        path = Path(file)
        content, name = reports.read_report_file(path), path.name
    page = reports.add_report(
        rt,
        who,
        case,
        content,
        filename=name,
        title=title,
        published=published,
        url=url,
        marking=marking,
        caveat=caveat,
    )
    if as_json:
        emit_json(_page_json(page))
        return
    out.print(f"report #{page.report.id} added to {page.report.case}: {page.report.title}", markup=False)
    _print_candidates(page)


@report_app.command("list")
def report_list(
    case: Annotated[str | None, typer.Option(help="Only this case.")] = None,
    to_triage: Annotated[bool, typer.Option("--to-triage", help="Only reports with no accepted sentence.")] = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """The reports, newest first, with how many sentences were accepted."""
    from claims.services import reports

    rows = reports.list_reports(runtime(), identity(as_user), case, untriaged=to_triage)
    if as_json:
        emit_json([{**r.__dict__, "published": str(r.published) if r.published else None} for r in rows])
        return
    for r in rows:
        out.print(f"#{r.id}\t{r.case}\t{r.published or '-'}\t{r.accepted} accepted\t{r.title}", markup=False)


@report_app.command("show")
def report_show(report_id: int, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """The report's text with accepted sentences marked [[...]], then its candidates."""
    from claims.services import reports

    page = reports.show_report(runtime(), identity(as_user), report_id)
    if as_json:
        emit_json(_page_json(page))
        return
    r = page.report
    out.print(f"report #{r.id} ({r.case}) {r.title}\nsha256 {r.sha256}, added by {r.added_by}", markup=False)
    text = page.text
    for a in sorted(page.accepted, key=lambda a: -a.start):
        text = f"{text[: a.start]}[[{text[a.start : a.end]}]](-> {a.claim}){text[a.end :]}"
    out.print(text, markup=False)
    _print_candidates(page)


@report_app.command("accept")
def report_accept(
    report_id: int,
    sentence: Annotated[int, typer.Argument(help="Sentence number (#N in the candidate list).")],
    as_claim: Annotated[bool, typer.Option("--as-claim", help="Make it a new claim.")] = False,
    key: Annotated[str | None, typer.Option(help="Key of the new claim (default: from the statement).")] = None,
    as_evidence: Annotated[
        str | None, typer.Option("--as-evidence", help="Claim key to add it to as evidence.")
    ] = None,
    stance: Annotated[str | None, typer.Option(help="supports or contradicts")] = None,
    source: Annotated[str | None, typer.Option(help="Source key in the case.")] = None,
    credibility: Annotated[str | None, typer.Option(help="1-6 (Admiralty).")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Accept a sentence as a new claim, or as evidence on an existing claim, in one step."""
    from claims.services import reports

    if as_claim == (as_evidence is not None):
        fail("accept: give either --as-claim or --as-evidence CLAIM", 2)
    done = reports.accept_sentence(
        runtime(),
        identity(as_user),
        report_id,
        sentence,
        as_claim=as_claim,
        key=key,
        claim_key=as_evidence,
        stance=stance,
        source=source,
        credibility=credibility,
    )
    loc = reports.locator(report_id, done.start, done.end)
    if as_json:
        emit_json({**done.__dict__, "locator": loc})
    elif done.evidence is None:
        out.print(f"sentence #{sentence} -> new claim {done.claim} ({loc})", markup=False)
    else:
        out.print(f"sentence #{sentence} -> evidence #{done.evidence} on {done.claim} ({loc})", markup=False)
