"""Intake flow: import case files from one path, or from an inbox folder where each file is processed once.

Importing is idempotent (the service matches cases, sources and claims by key and evidence by
fingerprint), so a report that arrives twice creates nothing twice and a known claim only gains
its new evidence. In an inbox, a file is moved to `processed/` after its import commits, or to
`failed/` with a note when it is malformed; a file whose import failed for another reason (the
database was unreachable) stays where it is and is tried again on the next run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from claims import services
from claims.domain.errors import DomainError
from claims.services import ImportReport, InvalidInput, Runtime
from claims.services.runtime import SYSTEM_USER
from claims.settings import get_settings
from flows.assessment import AssessmentReport, assessment_flow
from flows.common import current_runtime, retry_on_io

CASE_SUFFIXES = (".yaml", ".yml", ".json")
PROCESSED = "processed"
FAILED = "failed"
ARTIFACT_KEY = "claims-intake"
# Report files (issue 17) wait in `<inbox>/reports/<case key>/`: the sub-folder names the case.
REPORTS = "reports"
REPORT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
CANDIDATES_ARTIFACT_KEY = "claims-report-candidates"


@dataclass(frozen=True)
class FileResult:
    """What became of one case file: what it created, or why it was refused, and where it went."""

    file: str
    case: str | None = None
    created: dict[str, int] = field(default_factory=dict)
    moved_to: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class IntakeReport:
    """The files one intake run handled, and the assessment it ran on the cases that changed."""

    files: list[FileResult]
    assessments: list[AssessmentReport] = field(default_factory=list)

    @property
    def changed_cases(self) -> list[str]:
        return sorted({f.case for f in self.files if f.case and any(f.created.values())})


@task(name="list-inbox", retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def list_inbox(inbox: str) -> list[str]:
    """Case files waiting in the inbox folder, oldest first (subfolders and hidden files are ignored)."""
    folder = Path(inbox)
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in CASE_SUFFIXES
    ]
    return [str(p) for p in sorted(files, key=lambda p: (p.stat().st_mtime, p.name))]


@task(
    name="import-case-file",
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
)
def import_file(rt: Runtime, actor: str, path: str) -> ImportReport:
    """Read one case file (JSON streamed) and import what is new in it, in one transaction."""
    return services.import_path(rt, actor, path)


@task(name="move-aside", retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def move_aside(path: str, folder: str, note: str | None = None) -> str:
    """Move a handled file into `folder` under a time-stamped name (with an `.error.txt` note if refused)."""
    target_dir = Path(folder)
    target_dir.mkdir(parents=True, exist_ok=True)
    source = Path(path)
    target = target_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{source.name}"
    shutil.move(source, target)
    if note is not None:
        target.with_name(target.name + ".error.txt").write_text(note + "\n", encoding="utf-8")
    return str(target)


@flow(name="claims-intake")
def intake_flow(path: str | None = None, actor: str = SYSTEM_USER, assess: bool = True) -> IntakeReport:
    """Import a case file, or every file in an inbox folder (default CLAIMS_INBOX), then assess the changed cases."""
    rt = current_runtime()
    logger = get_run_logger()
    target = Path(path) if path else get_settings().inbox
    inbox = path is None or target.is_dir()
    if not inbox and not target.is_file():
        raise InvalidInput(f"path: no case file or inbox folder at {str(target)!r}")
    results: list[FileResult] = []
    for file in list_inbox(str(target)) if inbox else [str(target)]:
        name = Path(file).name
        try:
            report = import_file(rt, actor, file)
        except DomainError as exc:
            if not inbox:
                raise
            logger.error("refused %s: %s", name, exc)
            moved = move_aside(file, str(target / FAILED), note=str(exc))
            results.append(FileResult(name, moved_to=moved, error=str(exc)))
            continue
        moved = move_aside(file, str(target / PROCESSED)) if inbox else None
        results.append(FileResult(name, report.case, dict(report.created), moved))
    if inbox:
        results += take_reports(rt, actor, target / REPORTS)
    intake = IntakeReport(results)
    if assess:
        intake = IntakeReport(results, [assessment_flow(case=case, actor=actor) for case in intake.changed_cases])
    publish_report(intake, str(target))
    return intake


def list_reports_waiting(folder: Path) -> list[tuple[str, Path]]:
    """(case key, file) for each report file in `folder/<case key>/`, oldest first."""
    if not folder.is_dir():
        return []
    found = [
        (case_dir.name, p)
        for case_dir in sorted(folder.iterdir())
        if case_dir.is_dir() and not case_dir.name.startswith(".")
        for p in case_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in REPORT_SUFFIXES
    ]
    return sorted(found, key=lambda cp: (cp[1].stat().st_mtime, cp[1].name))


@task(name="take-report", retries=2, retry_delay_seconds=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def take_report(rt: Runtime, actor: str, case_key: str, path: str) -> object:
    """Store one report whole and rank its sentences (services.reports.add_report), in one transaction."""
    from claims.services import reports

    file = Path(path)
    return reports.add_report(rt, actor, case_key, reports.read_report_file(file), filename=file.name)


def take_reports(rt: Runtime, actor: str, folder: Path) -> list[FileResult]:
    """Each waiting report taken in once (moved to processed/ or failed/ of its case folder); candidates published."""
    logger = get_run_logger()
    results, pages = [], []
    for case_key, file in list_reports_waiting(folder):
        try:
            page = take_report(rt, actor, case_key, str(file))
        except DomainError as exc:
            logger.error("refused report %s: %s", file.name, exc)
            moved = move_aside(str(file), str(file.parent / FAILED), note=str(exc))
            results.append(FileResult(file.name, case_key, moved_to=moved, error=str(exc)))
            continue
        pages.append(page)
        moved = move_aside(str(file), str(file.parent / PROCESSED))
        results.append(FileResult(file.name, case_key, {"reports": 1}, moved))
    if pages:
        publish_candidates(pages)
    return results


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
