"""A real browser on the running dashboard: readiness, pipeline, then a reviewer signs off a confirmation.

Headless Chromium from Debian's `chromium` package, driven by Playwright (no browser
download). Screenshots go to a temporary folder, or to CLAIMS_SCREENSHOT_DIR when set:
`CLAIMS_SCREENSHOT_DIR=docs/screenshots pytest -m browser` refreshes the ones the README shows.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_helpers import APP, make_confirmable, seed_demo
from sqlalchemy import create_engine, text

from claims.services import Runtime
from claims.store.db import dispose_engines

pytestmark = [pytest.mark.browser, pytest.mark.slow]

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
RATIONALE = "Three independent lines now (Reuters, EEAS, OFAC), one of them B2; the only denial is graded D4."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dashboard_url(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free loopback port, on a seeded SQLite file with a pending review."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    rt = Runtime(sqlite_url)
    seed_demo(rt)
    make_confirmable(rt)  # factory-exists meets the confirm criteria; review #1 requested by system
    dispose_engines()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    env["CLAIMS_DATABASE_URL"] = sqlite_url
    log = tmp_path / "streamlit.log"
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
        server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on port {port}:\n{log.read_text()}")
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def settle(page, ms: int = 1200) -> None:  # type: ignore[no-untyped-def]
    """Wait until the script run finished (no 'Running' status) and the charts had time to draw."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_timeout(ms)


def test_reviewer_confirms_the_factory_in_a_real_browser(dashboard_url: str, sqlite_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("CLAIMS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(dashboard_url)
            expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()
            sidebar = page.get_by_test_id("stSidebar")

            sidebar.get_by_role("link", name="Policy readiness").click()
            expect(page.get_by_role("heading", name="Policy readiness")).to_be_visible()
            expect(page.get_by_text("EU restrictive measures against the entities running the factory")).to_be_visible()
            expect(page.get_by_text("awaiting sign-off by a reviewer other than system").first).to_be_visible()
            expect(
                page.get_by_text("needs 2 more independent supporting sources graded C3 or better").first
            ).to_be_visible()
            page.set_viewport_size({"width": 1440, "height": 2000})
            settle(page)
            page.screenshot(path=str(shots / "readiness.png"))

            page.set_viewport_size({"width": 1440, "height": 1250})
            sidebar.get_by_role("link", name="Pipeline").click()
            expect(page.get_by_role("heading", name="Claims per stage")).to_be_visible()
            expect(page.get_by_test_id("stMetric").filter(has_text="Awaiting sign-off")).to_contain_text("1")
            settle(page)
            page.screenshot(path=str(shots / "pipeline.png"))

            sidebar.get_by_role("link", name=re.compile(r"^Review queue")).click()
            expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
            expect(page.get_by_text("#1 · factory-exists")).to_be_visible()
            sidebar.get_by_role("combobox", name=re.compile("Acting user")).click()
            page.get_by_role("option", name="bob (reviewer)").click()
            expect(page.get_by_text("Acting as bob (reviewer)")).to_be_visible()
            # the assessment table is drawn on a canvas; its accessible copy carries the text
            expect(page.get_by_text("awaiting sign-off by a reviewer other than system")).to_be_attached()
            settle(page, 300)
            rationale = page.get_by_label("Rationale")
            rationale.fill(RATIONALE)
            rationale.press("Control+Enter")  # commit the text area's value before the click
            settle(page)
            page.screenshot(path=str(shots / "review.png"))
            page.get_by_role("button", name="Approve").click()
            expect(page.get_by_text("Review #1 approved by bob: factory-exists is now confirmed.")).to_be_visible()
            expect(page.get_by_text("No review requests are waiting.")).to_be_visible()

            page.get_by_role("link", name="Claim detail").click()
            page.get_by_test_id("stSelectbox").filter(has_text="Claim").click()
            page.get_by_role("option", name="factory-exists").click()
            expect(
                page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(r"^confirmed$"))
            ).to_be_visible()
            settle(page)
            page.screenshot(path=str(shots / "claim-detail.png"), full_page=True)
        finally:
            browser.close()

    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT stage FROM claims WHERE key = 'factory-exists'")).scalar() == "confirmed"
        review = conn.execute(text("SELECT status, requested_by, decided_by, rationale FROM review_requests")).one()
    engine.dispose()
    assert tuple(review) == ("approved", "system", "bob", RATIONALE)
    for name in ("readiness.png", "pipeline.png"):
        assert (shots / name).stat().st_size > 20_000
