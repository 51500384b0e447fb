"""Dashboard pages in a real browser: navigation-to-rendered time per page, demo vs N claims.

Not a timed test: it prints measurements and ratios against a baseline measured in the same
run (the demo case), and the server-side work of each page (its loaders, called in-process).

    PYTHONPATH=. .venv/bin/python -m bench.dashboard_pages --claims 20000

Goal (issue 10): every page under 1.5 s warm at 20k, under 3 s at 100k; server-side under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command

from bench.synthetic import synthetic_case
from claims import services
from claims.demo import DEMO_CASE, DEMO_USERS
from claims.services import Runtime
from claims.services.casefile import validate_case
from claims.store import queries
from claims.store.db import dispose_engines
from migrations import alembic_config

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
CHROMIUM = "/usr/bin/chromium"
PAGES = {  # path -> the heading that says the page has rendered
    "readiness": "Policy readiness",
    "pipeline": "Pipeline",
    "claims": "Claims",
    "claim": "Claim detail",
    "review": "Review queue",
}


def build(tmp: Path, name: str, n_claims: int) -> str:
    """A migrated SQLite file with the demo case, plus n synthetic claims when n > 0, assessed once."""
    url = f"sqlite:///{tmp / name}.db"
    command.upgrade(alembic_config(url), "head")
    rt = Runtime(url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, "alice", services.read_case_file(DEMO_CASE))
    if n_claims:
        services.import_case(rt, "alice", validate_case(synthetic_case(n_claims)))
    services.assess_claims(rt, "system", services.open_claim_keys(rt))
    dispose_engines()
    return url


def server_side(url: str) -> dict[str, float]:
    """Seconds of each page's loaders, called in-process (what the page waits for before drawing)."""
    rt = Runtime(url)
    loaders: dict[str, Callable[[], object]] = {
        "readiness": lambda: services.action_readiness(rt, None),
        "pipeline": lambda: (
            queries.stage_counts(url),
            queries.movements(url),
            queries.ageing(url),
            queries.at_risk_claims(url),
        ),
        "claims": lambda: (queries.claim_count(url), queries.claim_table(url, limit=50)),
        "claim": lambda: services.claim_detail(rt, "factory-exists"),
        "review": lambda: services.review_queue(rt),
    }
    out = {}
    for page, fn in loaders.items():
        fn()  # warm
        start = time.perf_counter()
        fn()
        out[page] = time.perf_counter() - start
    return out


@contextmanager
def dashboard(url: str, tmp: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    env["CLAIMS_DATABASE_URL"] = url
    log = (tmp / f"streamlit-{port}.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--server.headless=true",
            "--server.fileWatcherType=none",
        ],
        env=env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.25)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def browser_times(base: str, shots: Path | None, label: str) -> dict[str, tuple[float, float]]:
    """Per page: (cold, warm) seconds from navigation until the heading shows and the script run ended."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(180_000)
        for path, heading in PAGES.items():
            runs = []
            for _ in range(2):
                start = time.perf_counter()
                page.goto(f"{base}/{path}")
                page.get_by_role("heading", name=heading, exact=True).wait_for()
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
                runs.append(time.perf_counter() - start)
            out[path] = (runs[0], runs[1])
            if shots is not None:
                page.screenshot(path=str(shots / f"{path}-{label}.png"))
        browser.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, nargs="+", default=[20000])
    parser.add_argument("--screenshots", type=Path, help="also save a screenshot of each page here")
    args = parser.parse_args()
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        sizes = [0, *args.claims]
        results = {}
        for n in sizes:
            start = time.perf_counter()
            url = build(tmp, f"db{n}", n)
            print(f"built {n or 'demo'}: {time.perf_counter() - start:.0f}s", flush=True)
            server = server_side(url)
            with dashboard(url, tmp) as base:
                results[n] = (server, browser_times(base, args.screenshots, f"{n}" if n else "demo"))
        baseline = results[0][1]
        for n in sizes:
            server, pages = results[n]
            for path, (cold, warm) in pages.items():
                ratio = warm / baseline[path][1]
                print(
                    f"{n or 'demo':>6} {path:<10} cold {cold:6.2f}s  warm {warm:6.2f}s  "
                    f"({ratio:4.1f}x demo)  server {server[path] * 1000:7.0f} ms",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
