"""Run the flows for a command: on the configured Prefect API, or in this process without one.

- A Prefect API is configured (PREFECT_API_URL in the environment or the active Prefect profile; in a
  process that has Prefect loaded, Prefect's own setting): the Prefect flows run here as flow runs of
  that server, recorded there with their task runs and artifacts (its UI shows them).
- None is configured: the same bodies (`flows.work`) run here as plain calls, with the same batches,
  retries and services, so the same events and results. No Prefect import, no server started for one
  command, nothing recorded in any Prefect UI (docs/decisions/0013-prefect-engine-for-a-team.md).
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from claims.services import Identity, Outcome, Runtime
from claims.settings import get_settings

if TYPE_CHECKING:
    from flows.work import AssessmentReport, IntakeReport


def prefect_api_url() -> str | None:
    """The Prefect API this process is pointed at, without importing Prefect when it is not loaded yet."""
    if "prefect.settings" in sys.modules:  # Prefect is loaded (tests, a worker's run): its settings decide
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    return os.environ.get("PREFECT_API_URL") or _profile_api_url()


def _profile_api_url() -> str | None:
    """PREFECT_API_URL of the active profile in Prefect's profiles file (`prefect config set` writes it)."""
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = data.get("profiles", {}).get(name, {})
    url = profile.get("PREFECT_API_URL") if isinstance(profile, dict) else None
    return str(url) if url else None


@contextmanager
def flow_api(*, quiet: bool = True) -> Iterator[str | None]:
    """The Prefect API the flows inside will run on (its URL), or None: they run in this process.

    With an API: local run settings (no heartbeat thread, no telemetry) and, when `quiet`, Prefect's
    console log raised to warnings, for the whole block. Without one, nothing is imported.
    """
    url = prefect_api_url()
    if not url:
        yield None
        return
    from prefect.settings import temporary_settings

    from flows.common import local_settings, quiet_console

    with quiet_console() if quiet else nullcontext(), temporary_settings(updates=local_settings(quiet=quiet)):
        yield url


@contextmanager
def progress_bar(enabled: bool, batch_size: int) -> Iterator[Callable[[int, int], None]]:
    """`update(done, total)` for a bar on stderr, shown only for runs of two batches or more."""
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


def assess(
    rt: Runtime,
    who: Identity,
    keys: Sequence[str] | None = None,
    *,
    case: str | None = None,
    progress: bool = False,
    dask: str | None = None,
    batch_size: int | None = None,
    quiet: bool = True,
    full: bool = False,
) -> AssessmentReport:
    """Run the assessment: the given claims (default: those changed since last judged, all of them with
    `full`; or one case's), one batch per task; as a flow run when a Prefect API is configured."""
    size = batch_size or get_settings().batch_size
    with flow_api(quiet=quiet) as url, progress_bar(progress, size) as update:
        if not url:
            from flows.work import assess_here

            bar = update if progress else None  # None: a caller's own `on_progress` callback, if any
            return assess_here(rt, who, keys, case=case, batch_size=size, full=full, dask=dask, progress=bar)
        from flows.assessment import assessment_flow, on_progress, task_runner
        from flows.common import acting_as, use_runtime

        flow_ = assessment_flow.with_options(task_runner=task_runner(dask)) if dask else assessment_flow
        progressing = on_progress(update) if progress else nullcontext()  # keep a caller's own callback
        with use_runtime(rt), acting_as(who), progressing:  # the run's parameters name who; never a token
            return flow_(keys=list(keys) if keys else None, case=case, actor=who.name, batch_size=size, full=full)


def run_assessment(
    rt: Runtime,
    who: Identity,
    keys: Sequence[str] | None,
    *,
    case: str | None = None,
    progress: bool = False,
    dask: str | None = None,
    batch_size: int | None = None,
    full: bool = False,
) -> list[Outcome]:
    """Assess the given claims (default: those changed since last judged; `full`: all)."""
    return assess(rt, who, keys, case=case, progress=progress, dask=dask, batch_size=batch_size, full=full).outcomes


def run_intake(
    rt: Runtime, who: Identity, path: Path, *, assess_after: bool = False, quiet: bool = True
) -> IntakeReport:
    """Run the intake on a case file or an inbox folder; as a flow run when a Prefect API is configured."""
    with flow_api(quiet=quiet) as url:
        if not url:
            from flows import work

            def assess_case(case: str, by: Identity) -> AssessmentReport:
                return work.assess_here(rt, by, None, case=case)

            return work.intake(rt, who, str(path), assess_after, work.steps_here(assess_case))
        from flows.common import acting_as, use_runtime
        from flows.intake import intake_flow

        with use_runtime(rt), acting_as(who):
            return intake_flow(path=str(path), actor=who.name, assess=assess_after)
