"""Reading commands: `claims show`, `claims list`, `claims readiness`, `claims audit`.

They import neither Prefect nor Streamlit, so they answer at human speed.
"""

import json
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from claims import services
from claims.cli.common import AsUser, JsonOut, emit_json, fail, identity, out, runtime
from claims.domain.stages import Stage

if TYPE_CHECKING:
    from claims.domain.readiness import ActionReadiness
    from claims.store.queries import ClaimFilters

audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


def show(key: str, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """A claim: stage, evidence with grades and lineage roots, assessment and history (what you may read)."""
    from claims.cli import remote

    if remote.configured():
        detail = remote.call("GET", f"/claims/{remote.part(key)}", as_user=as_user)
    else:
        detail = services.claim_detail(runtime(), key, who=identity(as_user))
    if as_json:
        emit_json(detail)
        return
    from claims.render import render_claim

    render_claim(out, detail)


PAGE_SIZE = 50
COLUMNS = ("claim", "case", "stage", "for", "against", "retracted", "review")
WIDTHS = {"claim": 24, "case": 16, "stage": 22}  # plain streamed rows: "corroborated (at risk)" fits


def list_cmd(
    case: Annotated[str | None, typer.Option(help="Case key.")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    source: Annotated[str | None, typer.Option(help="Only claims with evidence from this source key.")] = None,
    grade: Annotated[str | None, typer.Option(help="Only claims with live evidence of this grade, e.g. B2.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only claims assigned to this person.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in key or statement (% and _ match themselves).")] = None,
    limit: Annotated[int, typer.Option(min=1, help=f"Rows per page (default {PAGE_SIZE}).")] = PAGE_SIZE,
    page: Annotated[int | None, typer.Option(min=1, help="Which page, from 1.")] = None,
    offset: Annotated[
        int | None, typer.Option(min=0, help="Skip this many matching rows first (instead of --page).")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every matching row (streamed), not one page.")] = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Claims with their stage, evidence counts and any pending review (filtered in SQL), a page at a time.

    The first 50 matches by default, with the total ("showing 1-50 of 100,005"); --page/--limit
    (or --offset) choose another page, --all streams every match. --json prints
    {"total", "offset", "limit", "claims": [...]} (limit null with --all), never a silent cut.
    """
    from claims.domain.grades import Grade
    from claims.services.access import reach
    from claims.store.queries import ClaimFilters, claim_page

    if page is not None and offset is not None:
        fail("page: give --page or --offset, not both", 2)
    start = offset if offset is not None else ((page or 1) - 1) * limit
    stages = [Stage.parse(stage).value] if stage else None
    grade = str(Grade.parse(grade)) if grade else None
    filters = ClaimFilters(case=case, stages=stages, source=source, grade=grade, assignee=assignee, search=search)
    from dataclasses import replace

    from claims.cli import remote

    if remote.configured():
        total, rows = _remote_page(filters, None if every else limit, start, as_user)
    else:
        rt = runtime()
        filters = replace(filters, reach=reach(rt, identity(as_user)))
        total, rows = claim_page(rt.database_url, filters, limit=None if every else limit, offset=start)
    if as_json:
        _stream_json(total, start, None if every else limit, rows)
    elif every:
        shown = _stream_plain(rows, with_case=case is None)
        out.print(_footer(total, start, shown, every=True), markup=False)
    else:
        listed = list(rows)
        _print_table(listed)
        out.print(_footer(total, start, len(listed), every=False), markup=False)


API_PAGE = 1000  # the API's largest page


def _remote_page(
    filters: "ClaimFilters", limit: int | None, offset: int, as_user: str | None
) -> tuple[int, Iterable[dict[str, object]]]:
    """`claim_page` through the API: one page, or (limit None) page after page as they are read."""
    from claims.cli import remote

    query = {
        "case": filters.case,
        "stage": filters.stages[0] if filters.stages else None,
        "source": filters.source,
        "grade": filters.grade,
        "assignee": filters.assignee,
        "search": filters.search,
    }

    def page(start: int, size: int) -> dict[str, Any]:
        return remote.call("GET", "/claims", as_user=as_user, params=query | {"limit": size, "offset": start})

    first = page(offset, min(limit or API_PAGE, API_PAGE))
    total = int(first["total"])

    def rows() -> Iterator[dict[str, object]]:
        data, start, left = first, offset, limit
        while True:
            batch = data["claims"][: left if left is not None else None]
            yield from batch
            start += len(batch)
            left = None if left is None else left - len(batch)
            if not batch or start >= total or left == 0:
                return
            data = page(start, min(left or API_PAGE, API_PAGE))

    return total, rows()


def _stream_json(total: int, offset: int, limit: int | None, rows: Iterable[dict[str, object]]) -> None:
    """The page (or every row) as one JSON object, written row by row so memory stays flat."""
    write = sys.stdout.write
    write(json.dumps({"total": total, "offset": offset, "limit": limit})[:-1] + ', "claims": [')
    for i, row in enumerate(rows):
        write(("," if i else "") + "\n  " + json.dumps(row, default=str, ensure_ascii=False))
    write("\n]}\n")


def _cells(r: dict[str, object], with_case: bool) -> list[str]:
    stage_text = str(r["stage"]) + (" (at risk)" if r["at_risk"] else "")
    return [
        str(r["key"]),
        *([str(r["case"])] if with_case else []),
        stage_text,
        str(r["supporting"]),
        str(r["contradicting"]),
        str(r["retracted"]),
        str(r["pending_review"] or ""),
    ]


def _print_table(rows: list[dict[str, object]]) -> None:
    from rich.table import Table

    with_case = len({r["case"] for r in rows}) > 1
    table = Table(*(c for c in COLUMNS if with_case or c != "case"))
    for r in rows:
        table.add_row(*_cells(r, with_case))
    out.print(table)


def _stream_plain(rows: Iterable[dict[str, object]], *, with_case: bool) -> int:
    """Every row as aligned plain text, written as read (a rich table of 100k rows takes minutes)."""
    header = [c for c in COLUMNS if with_case or c != "case"]
    widths = [WIDTHS.get(c, len(c)) for c in header]
    sys.stdout.write("  ".join(f"{c:<{w}}" for c, w in zip(header, widths, strict=True)).rstrip() + "\n")
    shown = 0
    for r in rows:
        cells = _cells(r, with_case)
        sys.stdout.write("  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)).rstrip() + "\n")
        shown += 1
    return shown


def _footer(total: int, start: int, shown: int, *, every: bool) -> str:
    """Which rows of how many, and how to see the others: a page is never a silent cut."""
    plural = "s" if total != 1 else ""
    if shown == total:
        return f"{total:,} matching claim{plural}"
    if not shown:
        return f"no rows from {start + 1:,} on: {total:,} matching claim{plural}"
    text = f"showing {start + 1:,}-{start + shown:,} of {total:,} matching claim{plural}"
    return text if every else text + "; --page N / --limit N for others, --all for every row"


def readiness_cmd(
    case: Annotated[str | None, typer.Option(help="Case key.")] = None, as_user: AsUser = None, as_json: JsonOut = False
) -> None:
    """Policy actions: ready or not, which claims gate each, and what evidence would close the gap."""
    from claims.cli import remote

    if remote.configured():
        data = remote.call("GET", "/readiness", as_user=as_user, params={"case": case})
        if as_json:
            emit_json(data)
            return
        items = _readiness_items(data)
    else:
        items = services.action_readiness(runtime(), case, who=identity(as_user))
        if as_json:
            emit_json(services.readiness_json(items))
            return
    from claims.render import render_readiness

    render_readiness(out, items)


def _readiness_items(data: list[dict[str, Any]]) -> "list[ActionReadiness]":
    """The API's readiness JSON back into the domain's values, for the same rendering."""
    from claims.domain.readiness import ActionReadiness, RequirementStatus

    return [
        ActionReadiness(
            a["key"],
            a["title"],
            a["ready"],
            tuple(
                RequirementStatus(
                    r["claim"],
                    Stage(r["required_stage"]),
                    Stage(r["stage"]) if r["stage"] else None,
                    r["met"],
                    tuple(r["gaps"]),
                )
                for r in a["requirements"]
            ),
        )
        for a in data
    ]


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
                "uncovered": report.uncovered,
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
        if report.uncovered:
            out.print(
                f"warning: {report.uncovered} events after the newest checkpoint are covered by none "
                "(written without the instance key?); `claims audit checkpoint` signs them",
                markup=False,
            )


def register(app: typer.Typer) -> None:
    app.command("show")(show)
    app.command("list")(list_cmd)
    app.command("readiness")(readiness_cmd)
