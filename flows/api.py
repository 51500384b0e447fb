"""Which Prefect API the flows of one command talk to, and a temporary one that never outlives the command.

In order: the configured PREFECT_API_URL (a `prefect server start` anywhere, or Prefect Cloud); a
server already answering at CLAIMS_PREFECT_API_URL (by default where `claims serve` runs its own,
http://127.0.0.1:4200/api); otherwise a temporary API started here, ONCE per command however many
flows the command runs, and stopped when the command ends.

Why not Prefect's own ephemeral mode: it waits 20 s for its server (too short on a busy 2-core
machine), starts it lazily inside the first flow run, and leaves it orphaned to PID 1 when the
command is killed with SIGKILL (no atexit runs). The server started here watches its parent and
stops itself within a second of the parent's death, whatever killed it.

Run as a module (`python -m flows.api --port N --parent PID`) this file IS that server.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import IO, Any

import httpx

MIN_STARTUP_SECONDS = 120  # Prefect's default is 20; a loaded 2-core machine needs far more
MARKER = "flows.api"  # in the temporary server's command line: how tests find leftovers


class PrefectApiUnavailable(RuntimeError):
    """No Prefect API could be reached or started; the message says what to do."""


def healthy(api_url: str, timeout: float = 2) -> bool:
    """Whether a Prefect API answers its health check at `api_url` (…/api)."""
    url = f"{api_url.rstrip('/')}/health"
    try:  # plain HTTP needs no certificates: loading them is 70 ms of a command's start
        return httpx.get(url, timeout=timeout, verify=not url.startswith("http://")).status_code == 200
    except httpx.HTTPError:
        return False


def startup_seconds() -> float:
    """Seconds to wait for a temporary API: PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, at least 120."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    return max(float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()), MIN_STARTUP_SECONDS)


def running_server() -> str | None:
    """The URL of a Prefect server that already answers at CLAIMS_PREFECT_API_URL (`claims serve`), else None."""
    from claims.settings import get_settings

    url = get_settings().prefect_api_url
    if not url or url.lower() in ("none", "off"):
        return None
    return url if healthy(url, timeout=1) else None


@contextmanager
def command_api(say: Callable[[str], None] | None = None, settings: dict[str, Any] | None = None) -> Iterator[str]:
    """The Prefect API for the flows run inside this block; a temporary one is stopped when the block ends.

    `settings` are Prefect setting updates for the block, applied in the same step as the API URL:
    each `temporary_settings` rebuilds Prefect's whole settings tree (a few hundred ms on a busy
    machine), so a command with a running server pays for one. `say` hears what we are waiting
    for (the temporary API takes seconds, more on a busy machine).
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    updates = dict(settings or {})
    configured = PREFECT_API_URL.value()
    if configured:
        with temporary_settings(updates=updates) if updates else nullcontext():
            yield configured
        return
    found = running_server()
    if found:
        with _pointing_at(found, updates):
            yield found
        return
    with temporary_settings(updates=updates) if updates else nullcontext():  # the temporary server inherits them
        server = TemporaryApi.start(say=say)
    try:
        with _pointing_at(server.url, updates):
            try:
                yield server.url
            finally:
                _drain()
    finally:
        server.stop()


def _drain(timeout: float = 30) -> None:
    """Send the queued run logs and events while the temporary API still listens (as prefect_test_harness does)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with suppress(RuntimeError):  # the log worker never started
        APILogWorker.instance().drain()
    EventsWorker.drain_all(timeout=timeout)


@contextmanager
def _pointing_at(url: str, updates: dict[str, Any]) -> Iterator[None]:
    """PREFECT_API_URL = `url` (and `updates`) for this process; the URL also for the processes it starts
    (a Dask LocalCluster's workers)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={**updates, PREFECT_API_URL: url}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


class TemporaryApi:
    """A Prefect API server (no UI, no background services) in a child process that dies with us.

    Start-ups are serialised per PREFECT_HOME by a file lock, so commands started at the same moment
    queue (the first gets going soonest; none races another's migration check of Prefect's database)
    instead of sharing two cores four ways until all time out; each then has its own server.
    """

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    @classmethod
    def start(cls, *, timeout: float | None = None, say: Callable[[str], None] | None = None) -> TemporaryApi:
        limit = timeout or startup_seconds()
        log = log_path()
        log.parent.mkdir(parents=True, exist_ok=True)
        with _startup_lock(log.with_suffix(".lock"), say):
            began = time.monotonic()  # waiting for another command's start-up does not count against ours
            if say:
                say(f"starting a temporary Prefect API for this command (up to {limit:.0f} s on a busy machine)…")
            for _attempt in range(3):  # a port taken between our probe and the server's bind: try another
                port = _free_port()
                url = f"http://127.0.0.1:{port}/api"
                with log.open("ab") as out:
                    proc = _spawn(port, out)
                server = cls(proc, url, log)
                while proc.poll() is None and time.monotonic() - began < limit:
                    if healthy(url, timeout=2):
                        if say:
                            say(f"Prefect API ready after {time.monotonic() - began:.1f} s")
                        return server
                    time.sleep(0.2)
                server.stop()
                if time.monotonic() - began >= limit:
                    break
        raise PrefectApiUnavailable(
            f"prefect: the temporary Prefect API did not start within {limit:.0f} s (log: {log}); "
            "start a server with `claims serve` in another terminal, or allow more time with "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
        )

    def stop(self, grace: float = 10) -> None:
        """SIGTERM (the server shuts down cleanly), SIGKILL after `grace` seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def log_path() -> Path:
    """Where temporary API servers write what they have to say (errors only): $PREFECT_HOME/claims-temporary-api.log."""
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()) / "claims-temporary-api.log"


@contextmanager
def _startup_lock(path: Path, say: Callable[[str], None] | None) -> Iterator[None]:
    import fcntl

    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if say:
                say("waiting for another command to finish starting its Prefect API…")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """This module as the server, in a session of its own (a Ctrl-C for the command must not stop it mid-run)."""
    from prefect.settings import get_current_settings

    env = {
        **os.environ,
        **get_current_settings().to_environment_variables(exclude_unset=True),
        "PREFECT_UI_ENABLED": "0",  # as Prefect's own ephemeral server: API only, no background services
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", MARKER, "--port", str(port), "--parent", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _watch_parent(parent: int, grace: float = 10, every: float = 0.5) -> None:
    """Stop this process when `parent` is gone (re-parented: getppid changes), even after a SIGKILL of it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down cleanly on SIGTERM
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A temporary Prefect API that stops when its parent process ends.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    if os.getppid() != args.parent:  # the parent died before we got here
        sys.exit(1)
    _watch_parent(args.parent)
    from flows import lean_prefect_import

    lean_prefect_import()
    import uvicorn

    with suppress(KeyboardInterrupt):
        uvicorn.run(
            "prefect.server.api.server:create_app",
            factory=True,
            host="127.0.0.1",
            port=args.port,
            log_level="error",
            lifespan="on",
        )


if __name__ == "__main__":
    main()


__all__ = ["PrefectApiUnavailable", "TemporaryApi", "command_api", "healthy", "running_server"]
