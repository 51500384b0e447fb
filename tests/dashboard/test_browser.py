"""A real browser on the running dashboard, one test per user journey; everyone signs in first.

A manager reads the gap before an action; an analyst adds evidence and requests confirmation;
a reviewer approves; a what-if is started from a gap.

Headless Chromium from Debian's `chromium` package, driven by Playwright (no browser
download). Screenshots go to a temporary folder, or to CLAIMS_SCREENSHOT_DIR when set:
`CLAIMS_SCREENSHOT_DIR=docs/screenshots pytest -m browser` refreshes the ones the README shows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import add_third_line, make_confirmable, row_counts, seed_demo
from identity_helpers import as_user, system_identity
from sqlalchemy import create_engine, text

from bench.browser import ARGS, CHROMIUM, dashboard_server, settle, sign_in
from claims import services
from claims.demo import DEMO_USERS
from claims.domain.stages import Stage
from claims.services import Runtime
from claims.services.identity import set_password
from claims.store.db import dispose_engines

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORDS = {name: f"{name}-browser-passphrase" for name in DEMO_USERS}
RATIONALE = "Three independent lines now (Reuters, EEAS, OFAC), one of them B2; the only denial is graded D4."


@pytest.fixture
def dashboard_url(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free loopback port, on a seeded SQLite file (the demo case)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    rt = Runtime(sqlite_url)
    seed_demo(rt)
    for name in DEMO_USERS:
        set_password(rt, as_user(rt, "admin"), name, PASSWORDS[name])
    dispose_engines()
    with dashboard_server(sqlite_url, tmp_path) as url:
        yield url


def shots_dir(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("CLAIMS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.fixture
def browser_page(dashboard_url: str) -> Iterator[Any]:
    """A headless Chromium page at 1440x900; fails the test if anything is fetched from outside the machine."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # a loaded 2-core machine: the first script run can take a while
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(30_000)
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url)
                    if not r.url.startswith((dashboard_url, "data:", "blob:", "ws://127.0.0.1"))
                    else None
                ),
            )
            signing_in(page)
            yield page
        finally:
            browser.close()
    assert outside == [], f"fetched from outside the machine: {outside}"


def signing_in(page: Any, user: str = "mia") -> None:
    """Every address opens a new session, which starts at the sign-in: sign in as `page.user` after each goto."""
    page.user = user
    goto = page.raw_goto = page.goto

    def goto_signed_in(url: str, **kwargs: Any) -> Any:
        reply = goto(url, **kwargs)
        sign_in(page, page.user, PASSWORDS[page.user])
        return reply

    page.goto = goto_signed_in


def act_as(page: Any, label: str) -> None:
    """Sign out, and sign in as the user of `label` ("bob (reviewer)"): the page stays where it was."""
    from playwright.sync_api import expect

    page.user = label.split()[0]
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    sign_in(page, page.user, PASSWORDS[page.user])
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {label}")).to_be_visible()
    settle(page)


def pick(page: Any, scope: Any, label: str, option: str) -> None:
    """Choose `option` in the select box `label`: open its list once the page is idle, reopening it if a rerun
    closed it, and end only when the box shows the choice (a loaded CI run lost the list under a rerun)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    box = scope.get_by_role("combobox", name=re.compile(label))
    wanted = page.get_by_role("option", name=option)
    for _ in range(8):
        settle(page)
        box.click()
        try:
            wanted.click(timeout=5_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        expect(box).to_have_value(re.compile(re.escape(option)))
        return
    raise AssertionError(f"the option {option!r} of {label!r} never appeared")


def test_manager_reads_the_gap_before_an_action(dashboard_url: str, browser_page: Any, tmp_path: Path) -> None:
    """The first screen at 1440x900 says what is missing before each action, without scrolling."""
    from playwright.sync_api import expect

    page = browser_page
    page.goto(dashboard_url)
    expect(page.get_by_role("heading", name="Policy readiness")).to_be_visible()
    assert page.url.rstrip("/").endswith("/readiness")  # the root forwards to a shareable path
    line = page.get_by_text("shortest gap: factory-exists: needs 1 more independent supporting source").first
    expect(line).to_be_visible()
    claim = page.get_by_text(re.compile(r"blocks 3 actions: needs 1 more independent supporting source.*then sign-off"))
    expect(claim).to_be_visible()
    settle(page)
    for element in (line, claim):
        box = element.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, box  # above the fold
    page.screenshot(path=str(shots_dir(tmp_path) / "readiness.png"))

    # a shared link opens one action; every page has a working path
    page.goto(f"{dashboard_url}/readiness?action=measures-chinese-state")
    expect(page.get_by_text("needs 3 more independent supporting sources").first).to_be_attached()
    for path, heading in (("pipeline", "Pipeline"), ("claims", "Claims"), ("review", "Review queue")):
        page.goto(f"{dashboard_url}/{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.get_by_text("Page not found")).to_have_count(0)
    # filters live in the address: a shared link reopens the same filtered table
    page.goto(f"{dashboard_url}/claims?grade=B2&stage=confirmed")
    expect(page.get_by_text("1 claim", exact=True)).to_be_visible()
    page.goto(f"{dashboard_url}/claims?q=drone")
    expect(page.get_by_test_id("stTextInputField").first).to_have_value("drone")
    settle(page)
    page.set_viewport_size({"width": 1440, "height": 1250})
    page.goto(f"{dashboard_url}/pipeline")
    expect(page.get_by_role("heading", name="Claims per stage")).to_be_visible()
    settle(page)
    page.screenshot(path=str(shots_dir(tmp_path) / "pipeline.png"))


def test_analyst_adds_evidence_and_requests_confirmation(
    dashboard_url: str, browser_page: Any, sqlite_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{dashboard_url}/claim?claim=factory-exists")
    expect(page.get_by_role("heading", name="factory-exists")).to_be_visible()
    act_as(page, "alice (analyst)")
    expect(page.get_by_role("tab", name="Add evidence")).to_be_visible()
    settle(page)  # the run started by the user change has ended: the dropdown will stay open
    form = page.get_by_test_id("stForm").filter(has_text="Summary")
    pick(page, form, "Source", "us-treasury · B · usually reliable · US Treasury (OFAC) designations")
    pick(page, form, "Credibility", "2 · probably true")
    form.get_by_label("Summary").fill("OFAC designates the entities operating the assembly site.")
    form.get_by_role("button", name="Add evidence").click()
    expect(page.get_by_text("Evidence from us-treasury (B2) added to factory-exists.")).to_be_visible()
    settle(page)  # the run that shows the message has ended: a tab clicked mid-run is reset by it

    page.get_by_role("tab", name="Request confirm / refute").click()
    settle(page)  # the rerun after adding the item has ended: the form's radio is drawn and stays
    form = page.get_by_test_id("stForm").filter(has_text="Request")
    form.get_by_text(re.compile(r"^confirmed \(criteria hold\)$")).click()
    form.get_by_label("Reason").fill("Three independent lines now, one B2")
    form.get_by_role("button", name="Request sign-off").click()  # (Enter in the field would submit it twice)
    expect(page.get_by_text("Sign-off requested: factory-exists to confirmed.")).to_be_visible()
    settle(page)
    page.set_viewport_size({"width": 1440, "height": 2400})
    settle(page)
    page.screenshot(path=str(shots_dir(tmp_path) / "claim-detail.png"), full_page=True)

    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        review = conn.execute(text("SELECT to_stage, status, requested_by FROM review_requests")).one()
        added = conn.execute(text("SELECT added_by FROM evidence ORDER BY id DESC LIMIT 1")).scalar()
    engine.dispose()
    assert tuple(review) == ("confirmed", "pending", "alice") and added == "alice"


def test_reviewer_approves_a_confirmation(
    dashboard_url: str, browser_page: Any, sqlite_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    make_confirmable(Runtime(sqlite_url))  # factory-exists meets the confirm criteria; review #1 requested by system
    dispose_engines()
    page = browser_page
    page.goto(f"{dashboard_url}/review")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(page.get_by_text("#1 · factory-exists")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # the manager is offered no sign-off
    act_as(page, "bob (reviewer)")
    expect(page.get_by_text("Signed in as bob (reviewer)").first).to_be_visible()
    expect(page.get_by_text("awaiting sign-off by a reviewer other than system")).to_be_attached()
    rationale = page.get_by_label("Rationale")
    rationale.fill(RATIONALE)
    rationale.press("Control+Enter")  # commit the text area's value before the click
    settle(page)
    page.screenshot(path=str(shots_dir(tmp_path) / "review.png"))
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Review #1 approved by bob: factory-exists is now confirmed.")).to_be_visible()
    expect(page.get_by_text("No review requests are waiting.")).to_be_visible()

    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT stage FROM claims WHERE key = 'factory-exists'")).scalar() == "confirmed"
        review = conn.execute(text("SELECT status, requested_by, decided_by, rationale FROM review_requests")).one()
    engine.dispose()
    assert tuple(review) == ("approved", "system", "bob", RATIONALE)


def test_only_a_reviewer_other_than_the_requester_is_offered_approve(
    dashboard_url: str, browser_page: Any, sqlite_url: str
) -> None:
    """A wrong password gets nothing; alice (who requested) and mia (a manager) see the request but no
    Approve; bob signs in and approves."""
    from playwright.sync_api import expect

    rt = Runtime(sqlite_url)
    add_third_line(rt)  # factory-exists meets the confirm criteria
    services.advance(rt, as_user(rt, "alice"), "factory-exists", Stage.CONFIRMED, reason="three lines now")  # review #1
    dispose_engines()
    page = browser_page
    page.raw_goto(f"{dashboard_url}/review")  # signing in by hand: a wrong password first
    sign_in(page, "bob", "not bob's passphrase")
    expect(page.get_by_text("sign-in: wrong user name or password")).to_be_visible()
    expect(page.get_by_role("heading", name="Review queue")).to_have_count(0)
    sign_in(page, "alice", PASSWORDS["alice"])
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(page.get_by_text("#1 · factory-exists")).to_be_visible()
    expect(page.get_by_text("You requested this; another reviewer decides it (four eyes).")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    act_as(page, "mia (manager)")
    expect(page.get_by_text("#1 · factory-exists")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    act_as(page, "bob (reviewer)")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Review #1 approved by bob: factory-exists is now confirmed.")).to_be_visible()
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        review = conn.execute(text("SELECT status, requested_by, decided_by FROM review_requests")).one()
    engine.dispose()
    assert tuple(review) == ("approved", "alice", "bob")


def test_a_what_if_started_from_a_gap(dashboard_url: str, browser_page: Any, sqlite_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    before = row_counts(sqlite_url)
    page = browser_page
    page.goto(f"{dashboard_url}/readiness?action=eu-listing-manufacturer")
    expect(page.get_by_role("heading", name="Policy readiness")).to_be_visible()
    page.get_by_role("button", name="What if…").first.click()  # factory-exists, the nearest gap
    expect(page.get_by_role("tab", name="What if", selected=True)).to_be_visible()
    expect(page.get_by_role("combobox", name=re.compile("^Claim"))).to_have_value(re.compile("factory-exists"))
    pick(page, page, "^Source", "us-treasury · B · usually reliable")
    page.get_by_role("button", name="Add hypothetical item").click()
    expect(page.get_by_text("factory-exists would move to confirmed once a second reviewer signs off.")).to_be_visible()
    settle(page)
    page.set_viewport_size({"width": 1440, "height": 1500})
    settle(page)  # the result tables are drawn on a canvas after the resize
    page.screenshot(path=str(shots_dir(tmp_path) / "whatif.png"))
    # Nothing written but the audit of the sign-in that opening the link asked for (a new browser session).
    after = row_counts(sqlite_url)
    assert {k: v for k, v in after.items() if not k.startswith("events")} == {
        k: v for k, v in before.items() if not k.startswith("events")
    }
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        kinds = set(conn.scalars(text("SELECT kind FROM events WHERE id > :id"), {"id": before["events.max_id"]}))
    engine.dispose()
    assert kinds <= {"sign_in"}


def test_narrow_screen_and_dark_theme(dashboard_url: str, tmp_path: Path) -> None:
    """At 390 px wide the readiness answer still reads without sideways scrolling; a dark viewer gets dark."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme="dark")
            page.goto(f"{dashboard_url}/readiness")
            sign_in(page, "mia", PASSWORDS["mia"])
            expect(page.get_by_text("shortest gap: factory-exists").first).to_be_visible()
            settle(page)
            width = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollWidth")
            assert width <= 390, width
            background = page.evaluate("() => getComputedStyle(document.querySelector('.stApp')).backgroundColor")
            r, g, b = (int(x) for x in re.findall(r"\d+", background)[:3])
            assert r + g + b < 200, background  # dark, as the viewer asked
            page.screenshot(path=str(shots_dir(tmp_path) / "readiness-phone-dark.png"))
        finally:
            browser.close()


SEED_REPORT = Path(__file__).resolve().parents[2] / "examples" / "reports" / "eu-drones-report.txt"


def test_analyst_turns_a_pasted_report_into_a_claim_and_evidence(
    dashboard_url: str, browser_page: Any, sqlite_url: str, tmp_path: Path
) -> None:
    """Issue 17: an analyst pastes the demo report, accepts one candidate as a new claim and one as evidence
    on a known claim, and finds both on the claims' pages, each traced back to the report's characters."""
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{dashboard_url}/report-new")
    expect(page.get_by_role("heading", name="New report")).to_be_visible()
    act_as(page, "alice (analyst)")
    form = page.get_by_test_id("stForm").filter(has_text="Paste the report's text")
    form.get_by_label("Paste the report's text").fill(SEED_REPORT.read_text(encoding="utf-8"))
    form.get_by_role("button", name="Add report").click()
    expect(page.get_by_text(re.compile(r"Report #1 added with \d+ sentences ranked\."))).to_be_visible()

    page.goto(f"{dashboard_url}/report?id=1")
    expect(page.get_by_role("heading", name="Candidates")).to_be_visible()
    main = page.get_by_test_id("stExpander").filter(has_text="constructed a manufacturing facility in China")
    main.locator("summary").click()
    offered = main.get_by_text("factory-exists").first  # the known claim it resembles is offered
    expect(offered).to_be_visible()
    form = main.get_by_test_id("stForm")
    form.get_by_label("Claim key (new claim; default from the statement)").fill("china-drone-factory")
    form.get_by_role("button", name="Accept").click()
    expect(page.get_by_text(re.compile(r"Sentence #\d+ accepted on china-drone-factory\."))).to_be_visible()
    settle(page)

    points = page.get_by_test_id("stExpander").filter(has_text="whether or not").first
    points.locator("summary").click()
    form = points.get_by_test_id("stForm")
    form.get_by_text("evidence", exact=True).click()
    pick(page, form, "Claim", "lethal-production")
    form.get_by_label("Source key").fill("eu-official")
    form.get_by_role("button", name="Accept").click()
    expect(page.get_by_text(re.compile(r"Sentence #\d+ accepted on lethal-production\."))).to_be_visible()
    settle(page)
    expect(page.get_by_role("link", name="→ china-drone-factory")).to_be_attached()  # highlighted and linked

    page.goto(f"{dashboard_url}/claim?claim=china-drone-factory")
    expect(page.get_by_role("heading", name="china-drone-factory")).to_be_visible()
    page.goto(f"{dashboard_url}/claim?claim=lethal-production")
    expect(page.get_by_role("heading", name="lethal-production")).to_be_visible()
    expect(page.get_by_text("whether or not", exact=False).first).to_be_attached()
    settle(page)
    page.screenshot(path=str(shots_dir(tmp_path) / "report-accepted.png"), full_page=True)

    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        made = conn.execute(text("SELECT stage FROM claims WHERE key = 'china-drone-factory'")).one()
        item = conn.execute(
            text("SELECT locator, added_by FROM evidence WHERE locator LIKE 'report:1#chars=%'")
        ).one()
        accepted = conn.execute(text("SELECT count(*) FROM report_sentences WHERE report_id = 1")).scalar()
    engine.dispose()
    assert made.stage == "reported" and item.added_by == "alice" and accepted == 2


def test_manager_subscribes_to_an_action_and_the_inbox_tells_her_it_became_ready(
    dashboard_url: str, browser_page: Any, sqlite_url: str, tmp_path: Path
) -> None:
    """Issue 18: a manager subscribes to an action on /inbox; an analyst adds the evidence that makes it ready on
    the claim page; once the assessment has run (the scheduled flow's job, run here), the manager's inbox says so."""
    from playwright.sync_api import expect

    rt = Runtime(sqlite_url)
    item = next(e["id"] for e in services.claim_detail(rt, "factory-exists")["evidence"] if e["stance"] == "supports")
    services.retract_evidence(rt, as_user(rt, "alice"), item, "the source withdrew the story")
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))  # factory-exists back to reported
    dispose_engines()
    page = browser_page
    page.goto(f"{dashboard_url}/inbox")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    form = page.get_by_test_id("stForm").filter(has_text="Tell me when")
    pick(page, form, "Policy action", "raise-with-beijing")
    form.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Subscribed.")).to_be_visible()
    expect(page.get_by_text("an action became ready or lost readiness · action:raise-with-beijing")).to_be_visible()

    page.goto(f"{dashboard_url}/claim?claim=factory-exists")
    expect(page.get_by_role("heading", name="factory-exists")).to_be_visible()
    act_as(page, "alice (analyst)")
    expect(page.get_by_role("tab", name="Add evidence")).to_be_visible()
    settle(page)
    form = page.get_by_test_id("stForm").filter(has_text="Summary")
    pick(page, form, "Source", "us-treasury · B · usually reliable · US Treasury (OFAC) designations")
    pick(page, form, "Credibility", "2 · probably true")
    form.get_by_label("Summary").fill("OFAC designates the entities operating the assembly site.")
    form.get_by_role("button", name="Add evidence").click()
    expect(page.get_by_text("Evidence from us-treasury (B2) added to factory-exists.")).to_be_visible()
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))  # what claims-assessment/scheduled does
    dispose_engines()

    act_as(page, "mia (manager)")
    page.goto(f"{dashboard_url}/inbox")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Ready: raise-with-beijing"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Inbox \(1\)"))).to_be_visible()  # the unread count
    settle(page)
    page.screenshot(path=str(shots_dir(tmp_path) / "inbox.png"), full_page=True)
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT person, kind, action_key FROM notifications")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("mia", "readiness", "raise-with-beijing")]


def test_a_reader_below_red_sees_the_count_of_red_lines_but_never_them(
    dashboard_url: str, browser_page: Any, sqlite_url: str, tmp_path: Path
) -> None:
    """Need to know (issue 20) in the browser: carol, a member cleared to AMBER, opens a claim holding a RED
    line and reads "1 further line you may not read" with no word of it; alice (RED) reads the line;
    mia, on no case, following the same link reads neither the claim nor the line."""
    from playwright.sync_api import expect

    from claims.services import membership

    rt = Runtime(sqlite_url)
    admin = as_user(rt, "admin")
    secret = "Crimson intercept: the plant ships airframes weekly"
    services.add_evidence(
        rt, as_user(rt, "alice"), "factory-exists", "reuters", "supports", credibility=3, summary=secret
    )
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE evidence SET marking = 'TLP:RED' WHERE summary = :s"), {"s": secret})
    engine.dispose()
    for name, cleared in (("carol", "TLP:AMBER"), ("mia", "TLP:AMBER")):
        membership.set_all_cases(rt, admin, name, False)
        membership.set_clearance(rt, admin, name, cleared)
    membership.add_member(rt, admin, "eu-drones-2024", "carol", "reviewer")
    dispose_engines()

    page = browser_page
    signing_in(page, "carol")
    page.goto(f"{dashboard_url}/claim?claim=factory-exists")
    expect(page.get_by_text("The assessment also counts 1 further line you may not read.")).to_be_visible()
    settle(page)
    assert secret not in page.content()
    page.screenshot(path=str(shots_dir(tmp_path) / "need-to-know.png"))

    signing_in(page, "alice")
    page.goto(f"{dashboard_url}/claim?claim=factory-exists")
    expect(page.locator("td", has_text="Crimson intercept").first).to_be_attached()  # the grid draws on a canvas
    expect(page.get_by_text("further line")).to_have_count(0)

    signing_in(page, "mia")
    page.goto(f"{dashboard_url}/claim?claim=factory-exists")
    settle(page)
    content = page.content()
    assert secret not in content and "Russia has set up a factory in China" not in content
