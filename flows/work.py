"""What the assessment and intake flows do, as plain Python: one body, run by Prefect or by the command.

Where a Prefect API is configured (a worker's run, `claims serve`, a command with PREFECT_API_URL)
the flows in `flows.assessment` and `flows.intake` run these bodies with each step a Prefect task
run, recorded on the server. A command with no Prefect API runs the same bodies here, in its own
process, with each step a plain call and the same retries on I/O (`retrying`): the same batches,
the same services, so the same events and the same results, but no flow run, no task runs and no
artifacts recorded anywhere (docs/decisions/0013-prefect-engine-for-a-team.md).

This module imports no Prefect: a command that runs the assessment here does not pay its import.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from claims import services
from claims.domain.errors import DomainError
from claims.services import ImportReport, InvalidInput, Outcome, Runtime
from claims.settings import get_settings
from flows.common import is_transient, plain

T = TypeVar("T")

BATCH_RETRY_DELAYS = (1.0, 5.0, 15.0)  # the assess-batch and import-case-file tasks' retries
STEP_RETRY_DELAYS = (1.0, 1.0)  # the smaller steps' (list the inbox, move a file, take a report)
THREADS = 4
CASE_SUFFIXES = (".yaml", ".yml", ".json")
PROCESSED = "processed"
FAILED = "failed"
REPORTS = "reports"  # report files (issue 17) wait in `<inbox>/reports/<case key>/`: the sub-folder names the case
REPORT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")

log = logging.getLogger("claims.flows")

_PROGRESS: ContextVar[Callable[[int, int], None] | None] = ContextVar("claims_assessment_progress", default=None)


@contextmanager
def on_progress(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Call `callback(done, total)` once the claims are listed and after each batch, in assessments run in this
    context (by either engine)."""
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def progress_callback() -> Callable[[int, int], None]:
    """The callback set by `on_progress`, else one that does nothing.

    (The flow body reads the ContextVar only through this function: Dask pickles the flow with
    each task, and a ContextVar cannot be pickled.)
    """
    return _PROGRESS.get() or _no_progress


def _no_progress(done: int, total: int) -> None:
    return None


class Logger(Protocol):
    """What the bodies log through: Prefect's run logger in a flow run, `log` here."""

    def info(self, msg: str, *args: Any) -> None: ...
    def warning(self, msg: str, *args: Any) -> None: ...
    def error(self, msg: str, *args: Any) -> None: ...


class BatchesFailed(RuntimeError):
    """Some batches failed even after their retries; the others are committed and reported."""


@dataclass(frozen=True)
class AssessmentReport:
    """What one assessment run did: an outcome per claim, and which batches and sign-off runs there were.

    `flow_run_id` is None when the assessment ran in the command's own process (no Prefect API).
    """

    outcomes: list[Outcome]
    batches: int
    policy_version: str
    flow_run_id: str | None = None
    signoff_runs: dict[int, str] = field(default_factory=dict)

    @property
    def changed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.changes]


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


def retrying(fn: Callable[..., T], delays: Sequence[float] = BATCH_RETRY_DELAYS) -> Callable[..., T]:
    """`fn` tried again after each delay while it fails on I/O (`is_transient`), as its Prefect task would be."""

    def call(*args: Any) -> T:
        for delay in (*delays, None):
            try:
                return fn(*args)
            except Exception as exc:
                if delay is None or not is_transient(exc):
                    raise
                log.warning("%s failed (%s); trying again in %g s", getattr(fn, "__name__", "step"), exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    return call


# --- assessment -----------------------------------------------------------------------------------


def batches(keys: Sequence[str], size: int) -> list[list[str]]:
    """`keys` cut into consecutive lists of at most `size`."""
    if size < 1:
        raise ValueError(f"batch_size: must be at least 1, not {size}")
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


def list_claims(rt: Runtime, case: str | None, full: bool, logger: Logger, retries: int = 2) -> list[str]:
    """Keys of the claims to assess (all, or one case's): those changed since last judged, or every one if `full`.

    Plain code, not a task: one indexed read, where a task run would cost more orchestration than
    the read itself. `retries` more tries, a second apart, when it failed on I/O.
    """
    for attempt in range(retries + 1):
        try:
            return services.open_claim_keys(rt, case, changed_only=not full)
        except Exception as exc:
            if attempt == retries or not is_transient(exc):
                raise
            logger.warning("listing claims failed (%s); trying again", exc)
            time.sleep(1)
    raise AssertionError("unreachable")


def window(rt: Runtime, n_chunks: int, parallel: int | None = None) -> int:
    """How many batches at once: one on SQLite (one writer at a time; parallel batches only queue on its
    lock, and its busy handler sleeps in coarse steps), every batch on PostgreSQL."""
    return parallel or (1 if rt.database_url.startswith("sqlite") else n_chunks or 1)


Batches = Iterator[tuple[list[str], list[Outcome] | BaseException]]
RunBatches = Callable[[Runtime, str, list[list[str]], int], Batches]


def assess_in_batches(
    rt: Runtime,
    actor: str,
    todo: list[str],
    chunks: list[list[str]],
    window_size: int,
    run: RunBatches,
    progress: Callable[[int, int], None],
) -> tuple[list[Outcome], list[tuple[list[str], BaseException]]]:
    """Every batch through `run`; the outcomes in the order of `todo`, and the batches that failed after retries."""
    by_claim: dict[str, Outcome] = {}
    failed: list[tuple[list[str], BaseException]] = []
    progress(0, len(todo))
    for chunk, done in run(rt, actor, chunks, window_size):
        if isinstance(done, BaseException):  # one batch's failure must not hide what the others committed
            failed.append((chunk, done))
            continue
        by_claim.update((o.claim, o) for o in done)
        progress(len(by_claim), len(todo))
    return [by_claim[k] for k in todo if k in by_claim], failed


def raise_failed(failed: list[tuple[list[str], BaseException]], n_chunks: int) -> None:
    """The run's error once every batch had its chance: the caller's own (a rule, a claim), or BatchesFailed."""
    if not failed:
        return
    first_keys, first_exc = failed[0]
    if isinstance(first_exc, DomainError):
        raise first_exc  # an unknown claim or a role without permission: the caller's error, not an outage
    raise BatchesFailed(
        f"{len(failed)} of {n_chunks} batch(es) failed after retries, first at claim {first_keys[0]!r}: {first_exc}"
    ) from first_exc


def batches_here(rt: Runtime, actor: str, chunks: list[list[str]], window_size: int) -> Batches:
    """Each batch assessed in this process (one at a time, or on a few threads), each with the task's retries."""
    assess = retrying(services.assess_claims)
    if window_size == 1:
        for chunk in chunks:
            try:
                yield chunk, assess(rt, actor, chunk)
            except Exception as exc:
                yield chunk, exc
        return
    with ThreadPoolExecutor(max_workers=min(window_size, THREADS), thread_name_prefix="assess-batch") as pool:
        running: dict[Future[list[Outcome]], list[str]] = {pool.submit(assess, rt, actor, c): c for c in chunks}
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                chunk = running.pop(future)
                try:
                    yield chunk, future.result()
                except Exception as exc:
                    yield chunk, exc


def batches_on_dask(address: str) -> RunBatches:
    """Batches run on a Dask cluster (`local`: a temporary LocalCluster of two processes), without Prefect."""

    def run(rt: Runtime, actor: str, chunks: list[list[str]], window_size: int) -> Batches:
        from distributed import Client, LocalCluster, as_completed

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True) if address == "local" else None
        try:
            with Client(cluster or address) as client:
                futures = {
                    client.submit(retrying(services.assess_claims), rt, actor, c, pure=False): i
                    for i, c in enumerate(chunks)
                }
                for future in as_completed(list(futures)):
                    chunk = chunks[futures[future]]
                    try:
                        yield chunk, future.result()
                    except Exception as exc:
                        yield chunk, exc
        finally:
            if cluster is not None:
                cluster.close()

    return run


def assess_here(
    rt: Runtime,
    actor: str,
    keys: Sequence[str] | None,
    *,
    case: str | None = None,
    batch_size: int | None = None,
    full: bool = False,
    dask: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AssessmentReport:
    """The assessment flow's body in this process: same listing, batches, retries and services; nothing recorded
    on a Prefect server (there is none), no artifact, no sign-off runs (those need a deployment)."""
    todo = list(keys) if keys else list_claims(rt, case, full, log)
    chunks = batches(todo, batch_size or get_settings().batch_size)
    run = batches_on_dask(dask) if dask else batches_here
    outcomes, failed = assess_in_batches(
        rt, actor, todo, chunks, window(rt, len(chunks)), run, progress or progress_callback()
    )
    services.after_run(rt, sum(1 for o in outcomes if o.changes))
    raise_failed(failed, len(chunks))
    return AssessmentReport(outcomes, len(chunks), rt.policy.version)


def summary_line(outcomes: list[Outcome]) -> str:
    """One line: how many claims were assessed, moved, sent to review, at risk."""
    moved = sum(o.moved for o in outcomes)
    reviews = sum(o.review_requested is not None for o in outcomes)
    at_risk = sum(o.at_risk for o in outcomes)
    return f"{len(outcomes)} claim(s) assessed: {moved} moved, {reviews} review request(s) opened, {at_risk} at risk"


def report_markdown(
    outcomes: list[Outcome], n_batches: int, failed: list[tuple[list[str], BaseException]], policy_version: str
) -> str:
    """The artifact body: a summary, a table of every change with its reason, claims at risk, failed batches."""
    lines = [
        f"# Assessment under policy {policy_version}",
        "",
        f"{summary_line(outcomes)}, in {n_batches} batch(es).",
        "",
    ]
    changed = [o for o in outcomes if o.changes]
    if changed:
        lines += ["| claim | was | now | what happened and why |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {o.claim} | {o.from_stage} | {o.stage} | {'<br>'.join(plain(c) for c in o.changes)} |" for o in changed
        ]
    else:
        lines.append("Nothing moved: every claim already stands where the policy puts it.")
    at_risk = [o.claim for o in outcomes if o.at_risk]
    if at_risk:
        lines += [
            "",
            "## At risk",
            "",
            "Confirmed or refuted claims that no longer meet their stage (never demoted "
            "automatically; a reviewer decides whether to reopen):",
            "",
        ]
        lines += [f"- {k}" for k in at_risk]
    if failed:
        lines += ["", "## Failed batches", "", "These were rolled back and will be assessed again on the next run:", ""]
        lines += [f"- {len(keys)} claim(s) from {keys[0]!r}: {plain(str(exc))}" for keys, exc in failed]
    return "\n".join(lines) + "\n"


# --- intake -----------------------------------------------------------------------------------------


def list_inbox(inbox: str) -> list[str]:
    """Case files waiting in the inbox folder, oldest first (subfolders and hidden files are ignored)."""
    folder = Path(inbox)
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in CASE_SUFFIXES
    ]
    return [str(p) for p in sorted(files, key=lambda p: (p.stat().st_mtime, p.name))]


def import_file(rt: Runtime, actor: str, path: str) -> ImportReport:
    """Read one case file (JSON streamed) and import what is new in it, in one transaction."""
    return services.import_path(rt, actor, path)


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


def take_report(rt: Runtime, actor: str, case_key: str, path: str) -> object:
    """Store one report whole and rank its sentences (services.reports.add_report), in one transaction."""
    from claims.services import reports

    file = Path(path)
    return reports.add_report(rt, actor, case_key, reports.read_report_file(file), filename=file.name)


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


@dataclass(frozen=True)
class IntakeSteps:
    """The steps of the intake body: Prefect tasks in a flow run, `retrying` plain calls here."""

    list_inbox: Callable[[str], list[str]]
    import_file: Callable[[Runtime, str, str], ImportReport]
    move_aside: Callable[..., str]
    take_report: Callable[[Runtime, str, str, str], object]
    assess_case: Callable[[str, str], AssessmentReport]  # (case, actor)
    publish_candidates: Callable[[list[object]], None]
    logger: Logger


def steps_here(assess_case: Callable[[str, str], AssessmentReport]) -> IntakeSteps:
    """The intake steps as plain calls in this process, with their tasks' retries; nothing published."""
    return IntakeSteps(
        list_inbox=retrying(list_inbox, STEP_RETRY_DELAYS),
        import_file=retrying(import_file, BATCH_RETRY_DELAYS),
        move_aside=retrying(move_aside, STEP_RETRY_DELAYS),
        take_report=retrying(take_report, STEP_RETRY_DELAYS),
        assess_case=assess_case,
        publish_candidates=lambda pages: None,
        logger=log,
    )


def intake(rt: Runtime, actor: str, path: str | None, assess: bool, steps: IntakeSteps) -> IntakeReport:
    """Import a case file, or every file in an inbox folder (default CLAIMS_INBOX), then assess the changed cases."""
    target = Path(path) if path else get_settings().inbox
    inbox = path is None or target.is_dir()
    if not inbox and not target.is_file():
        raise InvalidInput(f"path: no case file or inbox folder at {str(target)!r}")
    results: list[FileResult] = []
    for file in steps.list_inbox(str(target)) if inbox else [str(target)]:
        name = Path(file).name
        try:
            report = steps.import_file(rt, actor, file)
        except DomainError as exc:
            if not inbox:
                raise
            steps.logger.error("refused %s: %s", name, exc)
            moved = steps.move_aside(file, str(target / FAILED), str(exc))
            results.append(FileResult(name, moved_to=moved, error=str(exc)))
            continue
        if report.left_out:  # a foreign STIX bundle: what it left out is said, never dropped silently
            kinds = sorted({x.type for x in report.left_out})
            steps.logger.warning("%s: left out %d STIX objects (%s)", name, len(report.left_out), ", ".join(kinds))
        moved = steps.move_aside(file, str(target / PROCESSED)) if inbox else None
        results.append(FileResult(name, report.case, dict(report.created), moved))
    if inbox:
        results += take_reports(rt, actor, target / REPORTS, steps)
    report = IntakeReport(results)
    if assess:
        report = IntakeReport(results, [steps.assess_case(case, actor) for case in report.changed_cases])
    return report


def take_reports(rt: Runtime, actor: str, folder: Path, steps: IntakeSteps) -> list[FileResult]:
    """Each waiting report taken in once (moved to processed/ or failed/ of its case folder); candidates published."""
    results, pages = [], []
    for case_key, file in list_reports_waiting(folder):
        try:
            page = steps.take_report(rt, actor, case_key, str(file))
        except DomainError as exc:
            steps.logger.error("refused report %s: %s", file.name, exc)
            moved = steps.move_aside(str(file), str(file.parent / FAILED), str(exc))
            results.append(FileResult(file.name, case_key, moved_to=moved, error=str(exc)))
            continue
        pages.append(page)
        moved = steps.move_aside(str(file), str(file.parent / PROCESSED))
        results.append(FileResult(file.name, case_key, {"reports": 1}, moved))
    if pages:
        steps.publish_candidates(pages)
    return results
