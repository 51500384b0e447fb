"""What every flow module shares: the claims runtime, which failures are worth a retry, local run settings.

No flow lives here; each flow has its own module (intake, assessment, review).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
from sqlalchemy import exc as sa_exc

from claims.domain.errors import ConcurrencyConflict, PermissionDenied
from claims.domain.names import same_person
from claims.services import Runtime
from claims.services.identity import Identity, system_identity

_RUNTIME: ContextVar[Runtime | None] = ContextVar("claims_runtime", default=None)
_IDENTITY: ContextVar[Identity | None] = ContextVar("claims_identity", default=None)

# Failures that may pass on a second try: a lost or locked database connection, a write that lost an
# optimistic-concurrency race, a network hiccup to the Prefect API. Rule and input errors never qualify.
TRANSIENT: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConcurrencyConflict,
    httpx.TransportError,
    OSError,
)
_NOT_TRANSIENT_OS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


@contextmanager
def use_runtime(rt: Runtime) -> Iterator[Runtime]:
    """Run flows called in this context against `rt` instead of the CLAIMS_* settings."""
    token = _RUNTIME.set(rt)
    try:
        yield rt
    finally:
        _RUNTIME.reset(token)


def current_runtime() -> Runtime:
    """The runtime set by `use_runtime`, else one built from the CLAIMS_* environment (served runs)."""
    return _RUNTIME.get() or Runtime.from_settings()


@contextmanager
def acting_as(who: Identity) -> Iterator[Identity]:
    """Flows called in this context act as `who`, the identity the calling command or API request proved.

    A Prefect flow run's parameters are stored on the server, so they never carry a token nor the
    Identity; they carry at most the acting name, as a record (see `acting_identity`).
    """
    token = _IDENTITY.set(who)
    try:
        yield who
    finally:
        _IDENTITY.reset(token)


def acting_identity(actor: str | None = None) -> Identity:
    """Who a flow run acts as: the identity set by `acting_as` in this process, else the system (a run a
    deployment or schedule started: `claims serve`, a worker). The `actor` parameter of the run only names
    who that is; a name that is not the proven one is refused, never believed (docs/design.md section 11)."""
    who = _IDENTITY.get() or system_identity()
    if actor is not None and not same_person(actor, who.name):
        raise PermissionDenied(
            f"actor: {actor!r} is not proven for this flow run; a run started by a deployment acts as {who.name!r}"
        )
    return who


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is an I/O failure worth retrying (never a rule, permission or input error)."""
    if isinstance(exc, _NOT_TRANSIENT_OS):
        return False
    return isinstance(exc, TRANSIENT)


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry a failed task run only when it failed on I/O."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


def local_settings(*, quiet: bool = False) -> dict[str, Any]:
    """Prefect settings for flows a command runs on a configured Prefect API: no heartbeat thread, no telemetry.

    Heartbeats let a server detect crashed runs of a worker; run by a command they only add up to
    a second to every flow run while the heartbeat thread is joined. `quiet` keeps Prefect's server
    chatter off the terminal (see `quiet_console` for Prefect's run log). Applied by
    `flows.runner.flow_api`, in one settings rebuild.
    """
    updates: dict[str, Any] = {"flows.heartbeat_frequency": None, "server.analytics_enabled": False}
    if quiet:
        updates["server.logging_level"] = "CRITICAL"
    return updates


def _console_handlers() -> list[logging.Handler]:
    import prefect.main  # noqa: F401  (configures Prefect's logging; later imports would reset the levels)
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    return list({h for lg in loggers for h in getattr(lg, "handlers", []) if isinstance(h, PrefectConsoleHandler)})


@contextmanager
def quiet_console(level: int = logging.WARNING) -> Iterator[None]:
    """Raise the level of Prefect's console handlers for the duration (stdout stays clean for --json);
    everything still reaches the Prefect API and UI."""
    before = {h: h.level for h in _console_handlers()}
    for h, old in before.items():
        h.setLevel(max(level, old))
    try:
        yield
    finally:
        for h, old in before.items():
            h.setLevel(old)


def silence_console(level: int = logging.CRITICAL) -> None:
    """Raise the level of Prefect's console handlers for the rest of the process (a CLI command that reports)."""
    for h in _console_handlers():
        h.setLevel(max(level, h.level))


_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<|#"})


def plain(text: str) -> str:
    """User text as literal Markdown: no links, no HTML tags, no emphasis or table breaks, one line."""
    return text.translate(_MARKDOWN).replace("\n", " ")
