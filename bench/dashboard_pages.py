"""Dashboard pages in a real browser: navigation-to-rendered time per page, demo vs N claims.

A benchmark, not a timed test: it prints measurements (and writes them as JSON with --output),
with the demo case measured in the same run as the baseline. Per database size:

- server: the page's loaders called in-process with no cache (what a cache miss costs the
  server before the page can draw), best of three, shell loaders (every page's sidebar) included;
- cold: in headless Chromium, signed in as a reviewer, "Refresh data" on the page (every cache
  dropped) until the server reports the run finished and the page has painted;
- warm: a click on the page in the sidebar from the previous page, caches filled, likewise.

The big databases come from `bench.build` (about a minute at 100k). Goal (issue 10): every page
under 1.5 s warm at 20k and 3 s at 100k; server-side work under 300 ms at 100k.

    PYTHONPATH=. .venv/bin/python -m bench.dashboard_pages --claims 20000 100000 --output /tmp/pages.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.browser import ARGS, CHROMIUM, ScriptRuns, dashboard_server, settle, sign_in
from bench.build import build

PICK = 200  # dashboard.data.PICK, the claim pickers' length (importing dashboard.data here warns without Streamlit)
USER, PASSWORD = "bob", "bob-bench-passphrase"  # a reviewer: the review page draws its decision controls
# page -> (sidebar link, what says it has drawn)
PAGES: dict[str, tuple[str, str]] = {
    "readiness": ("Policy readiness", "Policy readiness"),
    "whatif": ("Policy readiness", "What if"),  # the readiness page's second tab
    "pipeline": ("Pipeline", "Pipeline"),
    "claims": ("Claims", "Claims"),
    "claim": ("Claim detail", "Claim detail"),
    "review": ("Review queue", "Review queue"),
}


def loaders(url: str) -> dict[str, Callable[[], object]]:
    """What each page asks for on a cache miss (dashboard/data.py), called without the cache."""
    from claims import services
    from claims.services import Runtime
    from claims.services.access import system_reader
    from claims.store import queries

    rt = Runtime(url)
    who = system_reader(rt.markings)  # every case: the dashboard of a reader with deployment-wide access
    first_case = queries.case_rows(url, reach=who)[0]["key"]  # the what-if tab's case with "All cases"

    def shell() -> None:
        queries.data_version(url)
        queries.pending_review_count(url, reach=who)
        queries.case_rows(url, reach=who)
        queries.user_rows(url)

    def claim() -> None:
        keys = queries.claim_keys(url, None, None, PICK, reach=who)
        detail = services.claim_detail(rt, keys[0])
        queries.lineage_edges(url, detail["case"], reach=who)

    return {
        "readiness": lambda: (shell(), services.action_readiness(rt, None)),
        "whatif": lambda: (
            queries.claim_keys(url, first_case, None, PICK, reach=who),
            queries.lineage_edges(url, first_case, reach=who),
            queries.claim_gates(url, first_case, reach=who),
        ),
        "pipeline": lambda: (
            shell(),
            queries.stage_counts(url, reach=who),
            queries.movements(url, reach=who),
            queries.ageing(url, reach=who),
            queries.at_risk_claims(url, reach=who),
            queries.pending_review_count(url, reach=who),
        ),
        "claims": lambda: (
            shell(),
            queries.filter_options(url, reach=who),
            queries.claim_count(url, reach=who),
            queries.claim_table(url, limit=50, reach=who),
        ),
        "claim": lambda: (shell(), claim()),
        "review": lambda: (
            shell(),
            services.review_page(rt, limit=0),  # the total, for the pager
            services.review_page(rt, limit=10),  # the page shown, assessed
            queries.action_claims(url, reach=who),
            queries.recent_decisions(url, reach=who),
        ),
    }


def server_side(url: str) -> dict[str, tuple[float, float]]:
    """(seconds, CPU seconds) per page: best of three uncached calls of its loaders.

    The CPU time is this process's alone, so it says what the page costs even when the shared
    machine's other work stretches the wall-clock time.
    """
    out = {}
    for page, fn in loaders(url).items():
        runs = []
        for _ in range(3):
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            runs.append((time.perf_counter() - start, time.process_time() - cpu))
        out[page] = min(runs)
    return out


def _painted(page: Any) -> None:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def browser_times(base: str, shots: Path | None, label: str) -> dict[str, dict[str, float]]:
    """Per page: cold (after "Refresh data") and warm (sidebar click, caches filled) seconds."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=300_000)
    out: dict[str, dict[str, float]] = {p: {} for p in PAGES}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(300_000)
        runs = ScriptRuns(page)
        page.goto(f"{base}/readiness")
        sign_in(page, USER, PASSWORD)
        expect(page.get_by_role("heading", name="Policy readiness", exact=True)).to_be_visible()
        settle(page)
        nav = page.get_by_test_id("stSidebarNav")

        def timed(action: Callable[[], None], ready: Callable[[], None]) -> float:
            seen = runs.finished
            start = time.perf_counter()
            action()
            runs.wait_after(seen)
            ready()
            settle(page)
            _painted(page)
            return time.perf_counter() - start

        def overview() -> None:
            """Back to the readiness page's first tab (untimed), so the next visit opens the overview."""
            seen = runs.finished
            page.get_by_role("tab", name="Actions").click()
            runs.wait_after(seen)
            settle(page)

        def visit(name: str, mode: str | None) -> None:
            link, marker = PAGES[name]

            def go() -> None:
                if name == "whatif":
                    page.get_by_role("tab", name="What if").click()
                else:
                    nav.get_by_role("link", name=link).first.click()

            def ready() -> None:
                if name == "whatif":
                    expect(page.get_by_role("button", name="Add hypothetical item")).to_be_visible()
                else:
                    expect(page.get_by_role("heading", name=marker, exact=True)).to_be_visible()

            seconds = timed(go, ready)
            if mode:
                out[name][mode] = seconds
            if shots is not None and mode == "warm":
                settle(page)
                page.screenshot(path=str(shots / f"{name}-{label}.png"))
            if name == "whatif":
                overview()

        def refresh(name: str) -> None:
            if name == "whatif":
                page.get_by_role("tab", name="What if").click()  # (untimed) the refresh reruns this tab
                expect(page.get_by_role("button", name="Add hypothetical item")).to_be_visible()
                settle(page)
            else:
                visit(name, None)
            button = page.get_by_test_id("stSidebar").get_by_role("button", name="Refresh data")
            out[name]["cold"] = timed(button.click, lambda: None)
            if name == "whatif":
                overview()

        for name in PAGES:
            refresh(name)
        for mode in (None, "warm"):  # fill every page's cache, then measure
            for name in PAGES:
                visit(name, mode)
        browser.close()
    return out


def database(tmp: Path, n: int) -> str:
    from bench.acting import proven
    from claims.services import Runtime
    from claims.services.identity import set_password
    from claims.store.db import dispose_engines

    url = f"sqlite:///{tmp / f'db{n}'}.db"
    build(url, n)
    set_password(Runtime(url), proven(Runtime(url), "admin"), USER, PASSWORD)
    dispose_engines()
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, nargs="*", default=[20000, 100000])
    parser.add_argument("--screenshots", type=Path, help="also save a screenshot of each page (warm) here")
    parser.add_argument("--output", type=Path, help="write the measurements as JSON here")
    args = parser.parse_args(argv)
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for n in [0, *args.claims]:
            start = time.perf_counter()
            url = database(tmp, n)
            print(f"built {n or 'demo'}: {time.perf_counter() - start:.0f}s", flush=True)
            server = server_side(url)
            with dashboard_server(url, tmp, timeout=120) as base:
                pages = browser_times(base, args.screenshots, f"{n}" if n else "demo")
            for page, times in pages.items():
                row = {"claims": n, "page": page, "server": server[page][0], "server_cpu": server[page][1], **times}
                results.append(row)
                print(
                    f"{n or 'demo':>6} {page:<10} cold {row['cold']:6.2f}s  warm {row['warm']:6.2f}s  "
                    f"server {row['server'] * 1000:7.0f} ms (cpu {row['server_cpu'] * 1000:5.0f} ms)",
                    flush=True,
                )
            if args.output:
                args.output.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
