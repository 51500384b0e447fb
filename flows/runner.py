"""Run the Prefect flows from the command line, in this process, with a progress bar for people.

Every flow of one command talks to one Prefect API (`flow_api`): PREFECT_API_URL when configured,
else a running `claims serve` server, else a temporary API started once for the command and
stopped with it (see `flows.api`). Runs on a real server are recorded there and show in its UI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from claims.services import Outcome, Runtime
from claims.settings import get_settings

if TYPE_CHECKING:  # Prefect takes a second or two to import: only the commands that run flows pay for it
    from flows.assessment import AssessmentReport
    from flows.intake import IntakeReport

_FLOW_API: ContextVar[str | None] = ContextVar("claims_flow_api", default=None)


@contextmanager
def flow_api(*, quiet: bool = True) -> Iterator[str]:
    """Local run settings and ONE Prefect API for every flow run inside (its URL); wrap a whole command in it.

    Inside another `flow_api` (`claims demo` runs intake, then assessment) this reuses the outer
    one as it is: no second look for a server, no second rebuild of Prefect's settings.
    """
    outer = _FLOW_API.get()
    if outer:
        yield outer
        return
    from flows.api import command_api
    from flows.common import local_settings, quiet_console

    def say(message: str) -> None:
        Console(stderr=True, soft_wrap=True).print(message, markup=False, highlight=False)

    with quiet_console() if quiet else nullcontext(), command_api(say, local_settings(quiet=quiet)) as url:
        token = _FLOW_API.set(url)
        try:
            yield url
        finally:
            _FLOW_API.reset(token)


@contextmanager
def progress_bar(enabled: bool, batch_size: int) -> Iterator[Callable[[int, int], None]]:
    """`update(done, total)` for a bar on stderr, shown only for runs of two batches or more (no Prefect here:
    `claims assess` through `claims serve` draws it from the served run's progress)."""
    if not enabled:
        yield lambda done, total: None
        return
    bar = Progress(
        TextColumn("assessing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    job = bar.add_task("assessing", total=None, visible=False)

    def update(done: int, total: int) -> None:
        if total > batch_size and not bar.live.is_started:
            bar.reset(job, total=total)  # the clock starts with the batches, not with Prefect's start-up
            bar.start()
        if bar.live.is_started:
            bar.update(job, completed=done, total=total, visible=True)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


@contextmanager
def _progress_bar(enabled: bool, batch_size: int) -> Iterator[None]:
    """The bar fed by the assessment flows run in this block."""
    if not enabled:
        yield
        return
    from flows.assessment import on_progress

    with progress_bar(enabled, batch_size) as update, on_progress(update):
        yield


def assess(
    rt: Runtime,
    actor: str,
    keys: Sequence[str] | None = None,
    *,
    case: str | None = None,
    progress: bool = False,
    dask: str | None = None,
    batch_size: int | None = None,
    quiet: bool = True,
    full: bool = False,
) -> AssessmentReport:
    """Run the assessment flow here: the given claims (default: those changed since last judged, all
    of them with `full`; or one case's), one batch per task."""
    from flows.assessment import assessment_flow, task_runner
    from flows.common import use_runtime

    size = batch_size or get_settings().batch_size
    flow_ = assessment_flow.with_options(task_runner=task_runner(dask)) if dask else assessment_flow
    with flow_api(quiet=quiet), use_runtime(rt), _progress_bar(progress, size):
        return flow_(keys=list(keys) if keys else None, case=case, actor=actor, batch_size=size, full=full)


def run_assessment(
    rt: Runtime,
    actor: str,
    keys: Sequence[str] | None,
    *,
    case: str | None = None,
    progress: bool = False,
    dask: str | None = None,
    batch_size: int | None = None,
    full: bool = False,
) -> list[Outcome]:
    """Assess the given claims (default: those changed since last judged; `full`: all) through the flow."""
    return assess(rt, actor, keys, case=case, progress=progress, dask=dask, batch_size=batch_size, full=full).outcomes


def run_intake(rt: Runtime, actor: str, path: Path, *, assess_after: bool = False, quiet: bool = True) -> IntakeReport:
    """Run the intake flow here on a case file or an inbox folder."""
    from flows.common import use_runtime
    from flows.intake import intake_flow

    with flow_api(quiet=quiet), use_runtime(rt):
        return intake_flow(path=str(path), actor=actor, assess=assess_after)
