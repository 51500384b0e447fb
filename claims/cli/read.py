"""Reading commands: `claims show`, `claims list`, `claims readiness`, `claims audit`.

They import neither Prefect nor Streamlit, so they answer at human speed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from claims import services
from claims.cli.common import JsonOut, emit_json, fail, out, runtime
from claims.domain.stages import Stage

audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


def show(key: str, as_json: JsonOut = False) -> None:
    """A claim: stage, evidence with grades and lineage roots, assessment and history."""
    detail = services.claim_detail(runtime(), key)
    if as_json:
        emit_json(detail)
        return
    from claims.render import render_claim

    render_claim(out, detail)


def list_cmd(
    case: Annotated[str | None, typer.Option(help="Case key.")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    source: Annotated[str | None, typer.Option(help="Only claims with evidence from this source key.")] = None,
    grade: Annotated[str | None, typer.Option(help="Only claims with live evidence of this grade, e.g. B2.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only claims assigned to this person.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in key or statement (% and _ match themselves).")] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many rows (default: all that match).")] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many matching rows first.")] = 0,
    as_json: JsonOut = False,
) -> None:
    """Claims with their stage, evidence counts and any pending review (filtered in SQL).

    Every matching claim is listed unless --limit/--offset ask for a page; a closing line gives
    the total either way. --json keeps its shape (a list of rows) and holds every row asked for.
    """
    from claims.domain.grades import Grade
    from claims.settings import get_settings
    from claims.store.queries import claim_count, claim_table

    stages = [Stage.parse(stage).value] if stage else None
    grade = str(Grade.parse(grade)) if grade else None
    filters = dict(case=case, stages=stages, source=source, grade=grade, assignee=assignee, search=search)
    url = get_settings().database_url
    rows = claim_table(url, **filters, limit=limit, offset=offset)  # type: ignore[arg-type]
    if as_json:
        emit_json(rows)
        return
    total = claim_count(url, **filters)  # type: ignore[arg-type]
    several_cases = len({r["case"] for r in rows}) > 1
    table = Table("claim", *(["case"] if several_cases else []), "stage", "for", "against", "retracted", "review")
    for r in rows:
        stage_text = r["stage"] + (" (at risk)" if r["at_risk"] else "")
        table.add_row(
            r["key"],
            *([r["case"]] if several_cases else []),
            stage_text,
            str(r["supporting"]),
            str(r["contradicting"]),
            str(r["retracted"]),
            r["pending_review"] or "",
        )
    out.print(table)
    shown = f"claims {offset + 1}-{offset + len(rows)} of {total}" if rows else f"no rows shown of {total}"
    out.print(f"{total} matching claim{'s' if total != 1 else ''}" if len(rows) == total else shown, markup=False)


def readiness_cmd(case: Annotated[str | None, typer.Option(help="Case key.")] = None, as_json: JsonOut = False) -> None:
    """Policy actions: ready or not, which claims gate each, and what evidence would close the gap."""
    items = services.action_readiness(runtime(), case)
    if as_json:
        emit_json(services.readiness_json(items))
        return
    from claims.render import render_readiness

    render_readiness(out, items)


@audit_app.command("verify")
def audit_verify(as_json: JsonOut = False) -> None:
    """Check the hash chain, every signed checkpoint, and a replay of the events against the tables."""
    report = services.audit_verify(runtime())
    if as_json:
        emit_json(
            {
                "events": report.events,
                "ok": report.ok,
                "checkpoints": report.checkpoints,
                "first_bad_id": report.first_bad_id,
                "problem": report.problem,
                "failed": report.failed,
            }
        )
    if not report.ok:
        fail(f"audit: {report.message}")
    if not as_json:
        out.print(
            f"audit log intact: {report.events} events verified, {report.checkpoints} signed checkpoints match, "
            "replay matches claims, evidence and reviews",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command("show")(show)
    app.command("list")(list_cmd)
    app.command("readiness")(readiness_cmd)
