"""The dashboard in headless Chromium: shared by the browser journeys (tests/dashboard/test_browser.py)
and the page benchmark (bench/dashboard_pages.py), so both start, sign in and wait the same way.

Debian's `chromium` package, driven by Playwright (no browser download).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard_server(url: str, workdir: Path, *, timeout: float = 60) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free loopback port against `url`; yields its address.

    Raises RuntimeError with the server's log when it exits or does not answer in time.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    env["CLAIMS_DATABASE_URL"] = url
    log = workdir / f"streamlit-{port}.log"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on port {port}:\n{log.read_text()}")
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


_SETTLED = """() => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;          // a script run is on
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;              // an element is pending
  const shown = e => {  // on screen: grids draw only in the viewport, nothing draws in a closed expander
    const r = e.getBoundingClientRect();
    return r.height > 0 && r.top < window.innerHeight && r.bottom > 0;
  };
  const drawn = (sel, inner) => [...document.querySelectorAll(sel)].filter(shown).every(e => e.querySelector(inner));
  return drawn('[data-testid="stVegaLiteChart"]', 'canvas, svg');
}"""


def settle(page: Any) -> None:
    """Wait on the page's own state, not on time: no script run in progress, nothing pending, every chart on
    screen drawn; checked again on the next frames so a rerun that was just starting is seen."""
    page.wait_for_load_state("networkidle")
    for _ in range(2):
        page.wait_for_function(_SETTLED, timeout=60_000, polling="raf")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_function(_SETTLED, timeout=60_000, polling="raf")


def sign_in(page: Any, name: str, password: str) -> None:
    """Fill and submit the sign-in form every new browser session starts at."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


class ScriptRuns:
    """Counts the script runs the server reports finished on this page's websocket.

    A rerun of the page already on screen (a refresh, a tab) leaves its heading in place, so the
    heading alone cannot tell that the new run ended; the server's `script_finished` message can.
    """

    def __init__(self, page: Any) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self.finished = 0
        self.page = page
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            return
        msg = self._msg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # not a ForwardMsg (never expected); ignore rather than break the run
            return
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished == self._msg.FINISHED_SUCCESSFULLY:
            self.finished += 1

    def wait_after(self, seen: int, timeout: float = 120) -> None:
        """Block until a run that finished successfully is reported after `seen` runs."""
        deadline = time.monotonic() + timeout
        while self.finished <= seen:
            if time.monotonic() > deadline:
                raise TimeoutError("the script run did not finish")
            self.page.wait_for_timeout(10)  # lets Playwright deliver the websocket events
