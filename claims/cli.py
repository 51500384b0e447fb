"""The `claims` command line: thin typer wrappers over the services.

Exit codes: 0 success; 1 a rule or input problem; 2 usage; 3 not found; 4 permission
denied; 5 a concurrent change won. Every failure is one line on stderr naming the problem.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from claims import services
from claims.domain.errors import DomainError
from claims.domain.stages import Stage
from claims.services import NotFound, PermissionDenied, Runtime
from claims.settings import get_settings
from claims.store.uow import ConcurrencyConflict

app = typer.Typer(
    help="Claim verification: graded evidence, threshold policy, four-eyes sign-off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
evidence_app = typer.Typer(help="Add or retract evidence.", no_args_is_help=True)
review_app = typer.Typer(help="Four-eyes review of confirm/refute requests.", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles (admin).", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(evidence_app, name="evidence")
app.add_typer(review_app, name="review")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_CASE = EXAMPLES / "eu-drones-2024.yaml"
DEMO_USERS = {"admin": "admin", "alice": "analyst", "bob": "reviewer", "carol": "reviewer", "mia": "manager"}

AsUser = Annotated[str | None, typer.Option("--as", help="Acting user (default: $CLAIMS_USER).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DaskOpt = Annotated[
    str | None,
    typer.Option(help="Fan batches out on Dask: a scheduler address (tcp://host:8786), or 'local' for a LocalCluster."),
]
BatchOpt = Annotated[int | None, typer.Option(min=1, help="Claims per task (default $CLAIMS_BATCH_SIZE, 200).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's run log on stderr.")]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn every expected failure into one line and a distinct exit code."""
    try:
        yield
    except NotFound as exc:
        fail(str(exc), 3)
    except PermissionDenied as exc:
        fail(str(exc), 4)
    except ConcurrencyConflict as exc:
        fail(str(exc), 5)
    except DomainError as exc:
        fail(str(exc), 1)


def runtime() -> Runtime:
    with reported_errors():
        return Runtime.from_settings()


def actor(name: str | None) -> str:
    return name or get_settings().user or fail("user: no acting user; pass --as NAME or set CLAIMS_USER", 4)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def stage_arg(value: str) -> Stage:
    with reported_errors():
        return Stage.parse(value)


# --- database -----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema to the latest revision."""
    from alembic import command

    from migrations import alembic_config

    url = get_settings().database_url
    command.upgrade(alembic_config(url), revision)
    err.print(f"database at {revision}: {_safe_url(url)}", markup=False)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Step the schema back (drops data in removed tables)."""
    from alembic import command

    from migrations import alembic_config

    command.downgrade(alembic_config(get_settings().database_url), revision)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- users -------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: str, role: Annotated[str, typer.Option(help="analyst, reviewer, manager or admin")], as_user: AsUser = None
) -> None:
    """Add a user (the first admin may be added by anyone)."""
    with reported_errors():
        user = services.add_user(runtime(), as_user or get_settings().user, name, role)
    err.print(f"added {user.name} ({user.role})", markup=False)


@user_app.command("list")
def user_list(as_json: JsonOut = False) -> None:
    """List users and roles."""
    users = services.list_users(runtime())
    if as_json:
        emit_json([{"name": u.name, "role": u.role} for u in users])
        return
    table = Table("name", "role")
    for u in users:
        table.add_row(u.name, u.role)
    out.print(table)


# --- intake ------------------------------------------------------------------------------


@app.command("import")
def import_(file: Path, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Import a case file (YAML or JSON). Importing the same file twice changes nothing."""
    rt = runtime()
    with reported_errors():
        report = services.import_case(rt, actor(as_user), services.read_case_file(file))
    if as_json:
        emit_json({"case": report.case, "created": report.created})
    else:
        made = ", ".join(f"{n} {k}" for k, n in report.created.items() if n) or "nothing new"
        out.print(f"{report.case}: {made}", markup=False)


@app.command("export")
def export(
    case: Annotated[str | None, typer.Option(help="Case key (needed when several exist).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
) -> None:
    """Write a case as a case file, losslessly: retracted evidence and stage history included."""
    from claims.services.casefile import dump_case

    if fmt not in ("yaml", "json"):
        fail(f"format: {fmt!r} is not yaml or json", 2)
    with reported_errors():
        text = dump_case(services.export_case(runtime(), case), fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(text)


# --- evidence ----------------------------------------------------------------------------


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
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Attach one graded evidence item to a claim."""
    observed = None
    if observed_at:
        try:
            observed = date.fromisoformat(observed_at)
        except ValueError:
            fail(f"observed_at: {observed_at!r} is not a date YYYY-MM-DD")
    with reported_errors():
        added = services.add_evidence(
            runtime(),
            actor(as_user),
            claim,
            source,
            stance,
            credibility=credibility,
            grade=grade,
            summary=summary,
            locator=locator,
            observed_at=observed,
        )
    if as_json:
        emit_json({"id": added.id, "claim": added.claim, "grade": added.grade})
    else:
        out.print(f"evidence #{added.id} ({added.grade}) added to {added.claim}", markup=False)


@evidence_app.command("retract")
def evidence_retract(
    evidence_id: int, reason: Annotated[str, typer.Option(help="Why it no longer stands.")], as_user: AsUser = None
) -> None:
    """Retract an evidence item; it stays on record but never counts again."""
    with reported_errors():
        item = services.retract_evidence(runtime(), actor(as_user), evidence_id, reason)
    out.print(f"evidence #{item.id} on {item.claim} retracted", markup=False)


# --- assessment and transitions -----------------------------------------------------------


@app.command("assess")
def assess_cmd(
    keys: Annotated[list[str] | None, typer.Argument(help="Claim keys (default: every claim).")] = None,
    case: Annotated[str | None, typer.Option(help="Only this case.")] = None,
    dask: DaskOpt = None,
    batch_size: BatchOpt = None,
    verbose: VerboseOpt = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Assess claims against the threshold policy through the assessment flow, and apply what it says."""
    from claims.runner import assess

    rt = runtime()
    prefect_console(verbose)
    with flow_errors():
        report = assess(
            rt,
            actor(as_user or "system"),
            keys or None,
            case=case,
            progress=not as_json,
            dask=dask,
            batch_size=batch_size,
            quiet=not verbose,
        )
    print_outcomes(report.outcomes, as_json)


def prefect_console(verbose: bool) -> None:
    """Prefect's own run log goes to stderr only with --verbose; otherwise the summary and errors are ours."""
    if not verbose:
        from flows.common import silence_console

        silence_console()


@contextmanager
def flow_errors() -> Iterator[None]:
    """Rule and input errors keep their exit codes; batches that failed on I/O after retries exit 1."""
    from flows.assessment import BatchesFailed

    with reported_errors():
        try:
            yield
        except BatchesFailed as exc:
            fail(f"assessment: {exc}", 1)


def print_outcomes(outcomes: list[services.Outcome], as_json: bool) -> None:
    changed = [o for o in outcomes if o.changes]
    if as_json:
        emit_json(
            {
                "assessed": len(outcomes),
                "moved": [
                    {"claim": o.claim, "from": o.from_stage.value, "to": o.stage.value} for o in outcomes if o.moved
                ],
                "review_requested": [
                    {"claim": o.claim, "to": o.review_requested.value} for o in outcomes if o.review_requested
                ],
                "at_risk": [o.claim for o in outcomes if o.at_risk],
                "changes": {o.claim: list(o.changes) for o in changed},
            }
        )
        return
    out.print(f"assessed {len(outcomes)} claim(s); {len(changed)} changed", markup=False)
    for o in changed:
        for change in o.changes:
            out.print(f"  {o.claim}: {change}", markup=False)


@app.command("advance")
def advance_cmd(
    key: str,
    to: Annotated[str, typer.Option(help="Target stage.")],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    if_version: Annotated[int | None, typer.Option(help="Fail if the claim changed since this version.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Request a transition: corroborate/demote apply now, confirm/refute open a review."""
    target = stage_arg(to)
    with reported_errors():
        result = services.advance(runtime(), actor(as_user), key, target, expect_version=if_version, reason=reason)
    if as_json:
        emit_json(
            {
                "claim": result.claim,
                "from": result.from_stage.value,
                "stage": result.stage.value,
                "review": result.review_id,
            }
        )
    elif result.review_id:
        out.print(f"review #{result.review_id} requested: {key} {result.from_stage} -> {target}", markup=False)
    else:
        out.print(f"{key}: {result.from_stage} -> {result.stage}", markup=False)


@app.command("reopen")
def reopen_cmd(
    key: str,
    to: Annotated[str, typer.Option(help="corroborated or reported")],
    rationale: Annotated[str, typer.Option(help="Why the claim is reopened.")],
    if_version: Annotated[int | None, typer.Option(help="Fail if the claim changed since.")] = None,
    as_user: AsUser = None,
) -> None:
    """Reopen a confirmed or refuted claim (reviewer; audited with the rationale)."""
    target = stage_arg(to)
    with reported_errors():
        services.reopen(runtime(), actor(as_user), key, target, rationale, expect_version=if_version)
    out.print(f"{key} reopened to {target}", markup=False)


# --- reviews -----------------------------------------------------------------------------


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="pending, approved, rejected, withdrawn or all")] = "pending",
    as_json: JsonOut = False,
) -> None:
    """Review requests with the assessment of their target stage."""
    with reported_errors():
        items = services.review_queue(runtime(), None if status == "all" else status)
    if as_json:
        emit_json(items)
        return
    from claims.render import render_reviews

    render_reviews(out, items)


def _decide(
    fn: Callable[..., services.Decision], review_id: int, as_user: str | None, rationale: str | None, as_json: bool
) -> None:
    with reported_errors():
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


# --- read side ----------------------------------------------------------------------------


@app.command("show")
def show(key: str, as_json: JsonOut = False) -> None:
    """A claim: stage, evidence with grades and lineage roots, assessment and history."""
    with reported_errors():
        detail = services.claim_detail(runtime(), key)
    if as_json:
        emit_json(detail)
        return
    from claims.render import render_claim

    render_claim(out, detail)


@app.command("list")
def list_cmd(
    case: Annotated[str | None, typer.Option(help="Case key.")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    source: Annotated[str | None, typer.Option(help="Only claims with evidence from this source key.")] = None,
    grade: Annotated[str | None, typer.Option(help="Only claims with live evidence of this grade, e.g. B2.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only claims assigned to this person.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in key or statement.")] = None,
    as_json: JsonOut = False,
) -> None:
    """Claims with their stage, evidence counts and any pending review (filtered in SQL)."""
    from claims.domain.grades import Grade
    from claims.store.queries import claim_table

    with reported_errors():
        stages = [Stage.parse(stage).value] if stage else None
        grade = str(Grade.parse(grade)) if grade else None
    rows = claim_table(
        get_settings().database_url,
        case=case,
        stages=stages,
        source=source,
        grade=grade,
        assignee=assignee,
        search=search,
    )
    if as_json:
        emit_json(rows)
        return
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


@app.command("readiness")
def readiness_cmd(case: Annotated[str | None, typer.Option(help="Case key.")] = None, as_json: JsonOut = False) -> None:
    """Policy actions: ready or not, which claims gate each, and what evidence would close the gap."""
    with reported_errors():
        items = services.action_readiness(runtime(), case)
    if as_json:
        emit_json(services.readiness_json(items))
        return
    from claims.render import render_readiness

    render_readiness(out, items)


@audit_app.command("verify")
def audit_verify(as_json: JsonOut = False) -> None:
    """Recompute the hash chain of the audit log; non-zero exit if any event was altered."""
    report = services.audit_verify(runtime())
    if as_json:
        emit_json(
            {"events": report.events, "ok": report.ok, "first_bad_id": report.first_bad_id, "problem": report.problem}
        )
    if not report.ok:
        fail(f"audit: chain broken at {report.problem}")
    if not as_json:
        out.print(f"audit log intact: {report.events} events verified", markup=False)


# --- demo, flows and dashboard -----------------------------------------------------------


@app.command("demo")
def demo(
    file: Annotated[Path, typer.Option(help="Case file to load.")] = DEMO_CASE,
    dashboard: Annotated[bool, typer.Option(help="Start the dashboard afterwards.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Migrate, create the demo users, load the EU drones case and assess it through the flows, print readiness."""
    from claims.runner import assess, run_intake

    db_upgrade("head")
    rt = runtime()
    prefect_console(verbose)
    with flow_errors():
        created = services.ensure_users(rt, DEMO_USERS)
        if created:
            err.print(f"users created: {', '.join(created)}", markup=False)
        intake = run_intake(rt, "alice", file, quiet=not verbose)
        loaded = intake.files[0]
        made = ", ".join(f"{n} {k}" for k, n in loaded.created.items() if n) or "nothing new"
        out.print(f"imported {loaded.case}: {made}", markup=False)
        report = assess(rt, "system", None, case=loaded.case, progress=True, quiet=not verbose)
    print_outcomes(report.outcomes, False)
    readiness_cmd(case=loaded.case, as_json=False)
    if dashboard:
        dashboard_cmd()


@app.command("serve")
def serve_cmd(
    every: Annotated[float, typer.Option(min=0.1, help="Minutes between scheduled assessments.")] = 10,
    inbox: Annotated[Path | None, typer.Option(help="Inbox folder for case files (default $CLAIMS_INBOX).")] = None,
    intake_every: Annotated[float, typer.Option(min=1, help="Seconds between looks into the inbox.")] = 60,
    dask: DaskOpt = None,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between checks of a waiting sign-off run.")] = 10,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many flow runs at once.")] = None,
    port: Annotated[
        int, typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is unset.")
    ] = 4200,
) -> None:
    """Serve the flows: assessment on a schedule, intake of the inbox, sign-off runs on request (Ctrl-C stops).

    Runs against PREFECT_API_URL when set (a `prefect server start` anywhere, or Prefect Cloud); otherwise
    starts a local Prefect server with its UI on 127.0.0.1:PORT for as long as it serves.
    """
    from flows.serve import ServerDidNotStart, serve

    with reported_errors():
        try:
            serve(
                limit=limit,
                every_minutes=every,
                inbox=inbox,
                intake_seconds=intake_every,
                dask=dask,
                poll_seconds=poll,
                port=port,
            )
        except ServerDidNotStart as exc:
            fail(f"serve: {exc}", 1)


@app.command("dashboard")
def dashboard_cmd(
    port: Annotated[int, typer.Option(help="Port.")] = 8501,
    headless: Annotated[bool, typer.Option(help="Do not open a browser.")] = True,
) -> None:
    """Start the Streamlit dashboard on the configured database."""
    app_path = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    if not app_path.exists():
        fail("dashboard: dashboard/app.py is not installed")
    args = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.port",
        str(port),
        "--server.headless",
        str(headless).lower(),
        "--browser.gatherUsageStats",
        "false",
    ]
    err.print(f"dashboard on http://localhost:{port}", markup=False)
    os.execv(sys.executable, args)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
