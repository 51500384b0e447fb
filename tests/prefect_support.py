"""Test support: one Prefect test harness per process, however many test directories ask for it.

`prefect_test_harness` starts a Prefect API server on a temporary SQLite database (several
seconds); the flow tests and the sign-off feature share one. Heartbeats are switched off as for
the CLI: in-process they only add a second to every flow run.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from contextlib import ExitStack
from typing import Any

_STACK: ExitStack | None = None


def start_harness(startup_timeout: int = 90) -> None:
    """Start the shared harness unless it is already running."""
    global _STACK
    if _STACK is not None:
        return
    from prefect.settings import temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    stack = ExitStack()
    stack.enter_context(prefect_test_harness(server_startup_timeout=startup_timeout))
    stack.enter_context(temporary_settings(updates={"flows.heartbeat_frequency": None}))
    _STACK = stack


def stop_harness() -> None:
    """Stop the shared harness (a no-op when it is not running)."""
    global _STACK
    if _STACK is not None:
        stack, _STACK = _STACK, None
        stack.close()


class BackgroundRun:
    """A flow called in a thread (it may pause), found on the Prefect API by a tag unique to this call."""

    def __init__(self, flow: Any, **parameters: Any) -> None:
        from prefect import tags

        self.tag = f"test-{uuid.uuid4().hex[:12]}"
        self.result: Any = None
        self.error: BaseException | None = None

        def call() -> None:
            try:
                with tags(self.tag):
                    self.result = flow(**parameters)
            except BaseException as exc:  # handed to the test through join()
                self.error = exc

        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(call,), daemon=True)
        self.thread.start()

    def flow_run(self) -> Any:
        """The flow run as the API sees it now (None until it is created)."""
        from prefect import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[self.tag])))
        return runs[0] if runs else None

    def wait_paused(self, pause: int = 1, timeout: float = 60) -> Any:
        """Wait until the run is paused for the `pause`-th time (each wait for input is one pause)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise AssertionError(f"flow ended before pause {pause}: {self.error or self.result!r}")
            run = self.flow_run()
            if run is not None and run.state.is_paused() and run.state.state_details.pause_key == str(pause):
                return run
            time.sleep(0.1)
        raise AssertionError(f"flow run not paused for the {pause}. time within {timeout}s")

    def description(self, pause: int) -> str | None:
        """The markdown a person sees with the input form of the `pause`-th pause."""
        from prefect.input.actions import read_flow_run_input

        return read_flow_run_input(f"paused-{pause}-description", flow_run_id=self.flow_run().id)

    def resume(self, **run_input: Any) -> None:
        """Resume the paused run with `run_input`, as a person submitting the form in the UI would."""
        from prefect.flow_runs import resume_flow_run

        resume_flow_run(self.flow_run().id, run_input=run_input)

    def join(self, timeout: float = 60) -> Any:
        """Wait for the flow to end; its return value, or raise what it raised."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"flow still running after {timeout}s")
        if self.error is not None:
            raise self.error
        return self.result
