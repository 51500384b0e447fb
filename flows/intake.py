"""Intake flow: import case files from one path, or from an inbox folder where each file is processed once.

Importing is idempotent (the service matches cases, sources and claims by key and evidence by
fingerprint), so a report that arrives twice creates nothing twice and a known claim only gains
its new evidence. In an inbox, a file is moved to `processed/` after its import commits, or to
`failed/` with a note when it is malformed; a file whose import failed for another reason (the
database was unreachable) stays where it is and is tried again on the next run. The body and its
steps are `flows.work`'s; here each step is a task.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from claims.services.identity import Identity
from claims.settings import get_settings
from flows import work
from flows.assessment import assessment_flow
from flows.common import acting_as, acting_identity, current_runtime, retry_on_io
from flows.work import (
    CASE_SUFFIXES,
    FAILED,
    PROCESSED,
    REPORT_SUFFIXES,
    REPORTS,
    FileResult,
    IntakeReport,
    IntakeSteps,
    list_reports_waiting,
)

ARTIFACT_KEY = "claims-intake"
CANDIDATES_ARTIFACT_KEY = "claims-report-candidates"

__all__ = [
    "CASE_SUFFIXES",
    "FAILED",
    "PROCESSED",
    "REPORTS",
    "REPORT_SUFFIXES",
    "FileResult",
    "IntakeReport",
    "intake_flow",
    "list_inbox",
    "list_reports_waiting",
    "move_aside",
]

_io = {"retry_condition_fn": retry_on_io, "cache_policy": NO_CACHE}
list_inbox = task(name="list-inbox", retries=2, retry_delay_seconds=1, **_io)(work.list_inbox)
import_file = task(name="import-case-file", retries=3, retry_delay_seconds=[1, 5, 15], **_io)(work.import_file)
move_aside = task(name="move-aside", retries=2, retry_delay_seconds=1, **_io)(work.move_aside)
take_report = task(name="take-report", retries=2, retry_delay_seconds=1, **_io)(work.take_report)


def _assess_case(case: str, who: Identity) -> work.AssessmentReport:
    with acting_as(who):
        return assessment_flow(case=case, actor=who.name)  # a subflow: recorded under this intake run


@flow(name="claims-intake")
def intake_flow(path: str | None = None, actor: str | None = None, assess: bool = True) -> IntakeReport:
    """Import a case file, or every file in an inbox folder (default CLAIMS_INBOX), then assess the changed cases.

    Acts as the identity the calling process proved, else as the system (a deployment's run); `actor`
    only names who that is (`flows.common.acting_identity`).
    """
    who = acting_identity(actor)
    steps = IntakeSteps(
        list_inbox=list_inbox,
        import_file=import_file,
        move_aside=move_aside,
        take_report=take_report,
        assess_case=_assess_case,
        publish_candidates=publish_candidates,
        logger=get_run_logger(),
    )
    report = work.intake(current_runtime(), who, path, assess, steps)
    publish_report(report, str(path or get_settings().inbox))
    return report


def publish_candidates(pages: list[object], top: int = 10) -> None:
    """A markdown artifact per run: each new report's best candidates with their reasons, to triage."""
    lines = ["# Reports to triage", ""]
    for page in pages:
        r = page.report  # type: ignore[attr-defined]
        lines += [
            f"## Report #{r.id} ({r.case}): {r.title}",
            "",
            "| # | sentence | score | why |",
            "| --- | --- | --- | --- |",
        ]
        for c in page.candidates[:top]:  # type: ignore[attr-defined]
            cells = [str(c.number), c.text, f"{c.score:g}", "; ".join(c.reasons)]
            lines.append("| " + " | ".join(x.replace("|", "/") for x in cells) + " |")
        lines.append("")
    create_markdown_artifact(
        key=CANDIDATES_ARTIFACT_KEY, markdown="\n".join(lines), description=f"{len(pages)} new report(s) to triage"
    )


def publish_report(report: IntakeReport, where: str) -> None:
    """Publish a markdown artifact: each file, what it created or why it was refused."""
    lines = [f"# Intake from `{where}`", ""]
    if not report.files:
        lines.append("No case files waiting.")
    else:
        lines += ["| file | case | created | moved to / refused because |", "| --- | --- | --- | --- |"]
        for f in report.files:
            made = ", ".join(f"{n} {k}" for k, n in f.created.items() if n) or "nothing new"
            fate = f"refused: {f.error}" if f.error else (f.moved_to or "left in place")
            lines.append(f"| {f.file} | {f.case or ''} | {'' if f.error else made} | {fate.replace('|', '/')} |")
    refused = sum(f.error is not None for f in report.files)
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown="\n".join(lines) + "\n",
        description=f"{len(report.files)} file(s), {refused} refused, cases changed: {len(report.changed_cases)}",
    )
