"""Notes and notifications (issue 18), on SQLite and PostgreSQL.

Each subscription kind fires exactly once per change (running the notifier again, or from a cursor
set back, adds nothing), never for a person whose role may not act on it; deliveries go through
Apprise to a local SMTP server and a local HTTP receiver; a failing channel is retried with
back-off and shown to admins; the digest goes once a day.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from identity_helpers import as_user, system_identity
from notify_helpers import Mailbox, Receiver, http_receiver, smtp_server
from sqlalchemy import create_engine, func, select, text

from claims import services
from claims.domain.events import EventKind
from claims.services import Runtime
from claims.services import notify as nt
from claims.services.errors import InvalidInput, NotFound, PermissionDenied
from claims.services.identity import disable_user
from claims.services.notes import add_note, list_notes, render_markdown, safe_markdown, threads, withdraw_note
from claims.settings import get_settings
from claims.store.db import dispose_engines
from claims.store.models import Delivery, Event, Notification

FACTORY = "factory-exists"
BEIJING = "raise-with-beijing"  # requires factory-exists corroborated: ready in the demo


def events_of(url: str, kind: EventKind) -> list[dict[str, Any]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(Event).where(Event.kind == kind.value))]
    engine.dispose()
    return rows


def notices(rt: Runtime, person: str, kind: str | None = None) -> list[dict[str, Any]]:
    items = nt.inbox(rt, as_user(rt, person), limit=500).items
    return [n for n in items if kind is None or n["kind"] == kind]


def assess(rt: Runtime) -> None:
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))


def supporting_item(rt: Runtime, claim: str) -> int:
    return next(e["id"] for e in services.claim_detail(rt, claim)["evidence"] if e["stance"] == "supports")


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Set CLAIMS_NOTIFY_SECRETS (the channels' Apprise URLs, by name) for this test."""

    def put(values: dict[str, str]) -> None:
        monkeypatch.setenv("CLAIMS_NOTIFY_SECRETS", json.dumps(values))
        get_settings.cache_clear()

    yield put
    get_settings.cache_clear()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with http_receiver() as rec:
        yield rec


# --- notes -------------------------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java&#x73;cript:alert(1))",
    "[click]( javascript:alert(1))",
    "<javascript:alert(1)>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "![pixel](https://tracker.example/p.gif)",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    '[x](https://ok.example "t" onclick=alert(1))',
    "<svg onload=alert(1)>",
]


class _Tags(HTMLParser):
    """Every tag and attribute of rendered HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_markdown_renders_without_script(hostile: str) -> None:
    parsed = _Tags()
    parsed.feed(render_markdown(f"before {hostile} after"))
    for tag, attrs in parsed.tags:
        assert tag in {"p", "a", "strong", "em", "code"}, (tag, hostile)
        for name, value in attrs:
            assert not name.startswith("on"), (name, hostile)
            if name == "href":
                assert (value or "").startswith(("https://", "http://", "mailto:")), (value, hostile)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_markdown_for_the_page_has_no_live_html_or_unsafe_link(hostile: str) -> None:
    import re

    shown = safe_markdown(f"before {hostile} after")
    assert not re.search(r"(?<!\\)<", shown), shown  # every < escaped: no raw HTML, no autolink
    for target in re.findall(r"(?<!\\)\]\(([^)]*)\)", shown):
        assert target.startswith(("https://", "http://", "mailto:")), (target, hostile)


def test_markdown_still_formats_and_links_safely() -> None:
    html = render_markdown("**bold** and [the report](https://example.org/r) and `code`")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org/r" rel="noopener noreferrer nofollow">the report</a>' in html


def test_notes_replies_and_withdrawal_are_audited_and_kept(demo: Runtime) -> None:
    rt = demo
    evidence = supporting_item(rt, FACTORY)
    first = add_note(rt, as_user(rt, "alice"), "claim", FACTORY, "Ask **Reuters** for the satellite images.")
    reply = add_note(rt, as_user(rt, "bob"), "", "", "They declined; see the EEAS note.", reply_to=first.id)
    on_item = add_note(rt, as_user(rt, "alice"), "evidence", str(evidence), "Locator points at the wrong page.")
    assert reply.target == f"claim:{FACTORY}" and reply.parent_id == first.id
    assert [n.id for n, _ in threads(list_notes(rt, as_user(rt, "mia"), "claim", FACTORY))] == [first.id, reply.id]
    assert [(n.id, d) for n, d in threads(list_notes(rt, as_user(rt, "mia"), "claim", FACTORY, with_items=True))] == [
        (first.id, 0),
        (reply.id, 1),
        (on_item.id, 0),
    ]
    with pytest.raises(PermissionDenied):
        withdraw_note(rt, as_user(rt, "bob"), first.id, "not mine")  # only the author (or an admin)
    withdrawn = withdraw_note(rt, as_user(rt, "alice"), first.id, "superseded by the EEAS note")
    assert withdrawn.withdrawn and withdrawn.withdrawn["reason"] == "superseded by the EEAS note"
    again = list_notes(rt, as_user(rt, "mia"), "claim", FACTORY)
    assert again[0].text == "Ask **Reuters** for the satellite images." and again[0].withdrawn  # never deleted
    added = events_of(rt.database_url, EventKind.NOTE_ADDED)
    assert [e["payload"]["note"] for e in added] == [first.id, reply.id, on_item.id]
    assert added[1]["payload"]["reply_to"] == first.id and added[0]["claim_key"] == FACTORY
    assert [e["payload"]["note"] for e in events_of(rt.database_url, EventKind.NOTE_WITHDRAWN)] == [first.id]
    with pytest.raises(PermissionDenied):
        add_note(
            rt, as_user(rt, "mia"), "claim", FACTORY, "managers read"
        )  # a manager's role reads, it does not annotate
    assert services.audit_verify(rt).ok


def test_note_on_a_review(demo: Runtime) -> None:
    from tests.dashboard.dashboard_helpers import make_confirmable

    make_confirmable(demo)
    (review,) = services.review_queue(demo)
    note = add_note(demo, as_user(demo, "bob"), "review", str(review["id"]), "Checking the OFAC listing first.")
    assert note.target == f"review:{review['id']}" and note.claim == FACTORY
    with pytest.raises(NotFound):
        add_note(demo, as_user(demo, "bob"), "review", "999", "x")


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("note", "add", "claim:no-such-claim", "text"), 3, "claim: unknown claim 'no-such-claim'"),
        (("note", "add", f"claim:{FACTORY}", "   "), 1, "text: a note needs some text"),
        (("note", "add", "planet:mars", "x"), 1, "on: 'planet' is not a kind of note target"),
        (("note", "add", "evidence:abc", "x"), 3, "evidence: unknown evidence 'abc'"),
        (("note", "withdraw", "1", "--reason", " "), 1, "reason: withdrawing a note needs a reason"),
        (("subscribe", "weather"), 1, "kind: 'weather' is not a kind of subscription"),
        (("subscribe", "readiness", "--action", "nope"), 3, "action: unknown policy action 'nope'"),
        (("subscribe", "signoff", "--as", "mia"), 4, "which gets no signoff notices"),
        (("channel", "add", "mail", "--secret", "nobody-mail"), 1, "secret: 'nobody-mail' is not a name in"),
        (("channel", "add", "mail", "--secret", "broken"), 1, "secret: 'broken' holds no URL Apprise can use"),
        (("notify", "deliveries", "--as", "alice"), 4, "may not manage users"),
        (("inbox", "read", "999"), 3, "notification: unknown notification 999"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    demo: Runtime, cli: Any, db_snapshot: Any, secrets: Any, args: tuple[str, ...], code: int, says: str
) -> None:
    secrets({"broken": "nonsense-scheme://s3cr3t-token", "fine": "json://127.0.0.1:9/x"})
    before = db_snapshot(demo.database_url)
    result = cli(*args)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], result.output
    assert "Traceback" not in result.output
    assert "s3cr3t-token" not in result.output  # the secret URL itself is never printed
    assert db_snapshot(demo.database_url) == before


def test_note_cli_round_trip(demo: Runtime, cli: Any) -> None:
    assert cli("note", "add", f"claim:{FACTORY}", "Needs a **second** look").exit_code == 0
    listed = json.loads(cli("note", "list", f"claim:{FACTORY}", "--json").output)
    assert [n["text"] for n in listed] == ["Needs a **second** look"] and listed[0]["author"] == "alice"
    assert cli("note", "withdraw", str(listed[0]["id"]), "--reason", "done").exit_code == 0
    shown = cli("note", "list", f"claim:{FACTORY}").output
    assert "withdrawn by alice: done" in shown


# --- each kind fires exactly once per change ------------------------------------------------------------


def test_readiness_lost_and_regained_each_notified_once(demo: Runtime) -> None:
    rt = demo
    nt.subscribe(rt, as_user(rt, "mia"), "readiness", action=BEIJING)
    nt.subscribe(rt, as_user(rt, "alice"), "readiness", case="eu-drones-2024")
    nt.subscribe(rt, as_user(rt, "carol"), "readiness", action="eu-listing-manufacturer")  # another action: nothing
    item = supporting_item(rt, FACTORY)
    services.retract_evidence(rt, as_user(rt, "alice"), item, "the source withdrew the story")
    nt.catch_up(rt)
    assert notices(rt, "mia") == []  # not yet: the claim is still corroborated until the assessment runs
    assess(rt)
    nt.catch_up(rt)
    nt.catch_up(rt)
    (lost,) = notices(rt, "mia")
    assert lost["kind"] == "readiness" and lost["title"].startswith(f"No longer ready: {BEIJING}")
    assert "needs 1 more independent supporting source" in lost["body"]  # the gap that opened
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        FACTORY,
        "us-treasury",
        "supports",
        credibility=2,
        summary="OFAC designation of the operators.",
    )
    assess(rt)
    nt.catch_up(rt)
    regained = notices(rt, "mia")
    assert [n["title"].split(":")[0] for n in regained] == ["Ready", "No longer ready"]
    assert "needs 1 more independent supporting source" in regained[0]["body"]  # the gap that closed
    assert {n["action"] for n in notices(rt, "alice")} == {BEIJING}  # the case's actions that flipped
    assert len(notices(rt, "alice")) == 2
    assert notices(rt, "carol") == []
    # a cursor set back (a crashed or duplicated notifier) produces nothing twice
    engine = create_engine(rt.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE notify_cursor SET last_event_id = 0"))
        conn.execute(text("UPDATE readiness_state SET ready = NOT ready"))  # even with stale readiness
    engine.dispose()
    nt.catch_up(rt)
    assert len(notices(rt, "mia")) == 2


def test_signoff_waiting_goes_to_reviewers_not_the_requester_nor_other_roles(demo: Runtime) -> None:
    from tests.dashboard.dashboard_helpers import make_confirmable

    rt = demo
    nt.subscribe(rt, as_user(rt, "bob"), "signoff")
    nt.subscribe(rt, as_user(rt, "carol"), "signoff", case="eu-drones-2024")
    services.add_user(rt, as_user(rt, "admin"), "rex", "reviewer")
    nt.subscribe(rt, as_user(rt, "rex"), "signoff")
    with pytest.raises(PermissionDenied):
        nt.subscribe(rt, as_user(rt, "mia"), "signoff")  # a manager may not sign off
    with pytest.raises(PermissionDenied):
        nt.subscribe(rt, as_user(rt, "alice"), "signoff")  # nor an analyst
    disable_user(rt, as_user(rt, "admin"), "rex")  # a disabled account is told nothing
    engine = create_engine(rt.database_url)
    with engine.begin() as conn:  # carol's role changed after she subscribed: she may no longer sign off
        conn.execute(text("UPDATE users SET role = 'analyst' WHERE name = 'carol'"))
    engine.dispose()
    make_confirmable(rt)
    nt.catch_up(rt)
    nt.catch_up(rt)
    (waiting,) = notices(rt, "bob")
    assert waiting["kind"] == "signoff" and waiting["claim"] == FACTORY and "to confirmed" in waiting["title"]
    assert notices(rt, "carol") == [] and notices(rt, "mia") == []
    engine = create_engine(rt.database_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Notification).where(Notification.person == "rex")) == 0
    engine.dispose()


def test_claim_at_risk_goes_to_its_owner_and_case_followers(demo: Runtime) -> None:
    rt = demo
    engine = create_engine(rt.database_url)
    with engine.begin() as conn:  # owners come from the case file's `assignee`; the demo names none
        conn.execute(text("UPDATE claims SET assignee = 'alice' WHERE key = 'dual-use-supply'"))
    engine.dispose()
    nt.subscribe(rt, as_user(rt, "alice"), "at-risk")  # claims I own
    nt.subscribe(rt, as_user(rt, "carol"), "at-risk")  # owns none
    nt.subscribe(rt, as_user(rt, "bob"), "at-risk", case="eu-drones-2024")  # follows the case
    for e in services.claim_detail(rt, "dual-use-supply")["evidence"]:
        if e["stance"] == "supports" and not e["retracted"]:
            services.retract_evidence(rt, as_user(rt, "alice"), e["id"], "forged")
            break
    assess(rt)
    nt.catch_up(rt)
    nt.catch_up(rt)
    assert services.claim_detail(rt, "dual-use-supply")["at_risk"]
    (mine,) = notices(rt, "alice", "at-risk")
    assert mine["claim"] == "dual-use-supply" and mine["title"].startswith("At risk: dual-use-supply")
    assert [n["claim"] for n in notices(rt, "bob", "at-risk")] == ["dual-use-supply"]
    assert notices(rt, "carol") == []


def test_assignment_events_become_assigned_notices(demo: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The machinery the tasks branch plugs into: an event kind mapped in ASSIGNMENTS to its person field."""
    from claims.store.uow import UnitOfWork

    rt = demo
    monkeypatch.setitem(nt.ASSIGNMENTS, EventKind.CLAIM_EDITED.value, "assignee")  # stands in for task.assigned
    nt.subscribe(rt, as_user(rt, "alice"), "assigned")
    nt.subscribe(rt, as_user(rt, "bob"), "assigned")
    with UnitOfWork(rt.database_url) as uow:
        uow.record(EventKind.CLAIM_EDITED, actor="bob", case_key="eu-drones-2024", payload={"assignee": "alice"})
        uow.record(EventKind.CLAIM_EDITED, actor="bob", case_key="eu-drones-2024", payload={"assignee": "bob"})
        uow.commit()
    nt.catch_up(rt)
    nt.catch_up(rt)
    (assigned,) = notices(rt, "alice")
    assert assigned["kind"] == "assigned" and "by bob" in assigned["title"]
    assert notices(rt, "bob") == []  # taking work yourself tells nobody


def test_overdue_review_notified_once_past_the_stage_limit(demo: Runtime) -> None:
    from tests.dashboard.dashboard_helpers import make_confirmable

    rt = demo
    nt.subscribe(rt, as_user(rt, "bob"), "overdue")
    nt.subscribe(rt, as_user(rt, "mia"), "overdue")  # a manager may follow overdue work, but a review is for reviewers
    make_confirmable(rt)
    (review,) = services.review_queue(rt)
    nt.catch_up(rt, at=datetime.now(UTC) + timedelta(hours=47))
    assert notices(rt, "bob", "overdue") == []  # the confirmed limit is 48 h (policy v1)
    later = datetime.now(UTC) + timedelta(hours=49)
    nt.catch_up(rt, at=later)
    nt.catch_up(rt, at=later + timedelta(hours=5))
    (late,) = notices(rt, "bob", "overdue")
    assert late["title"].startswith(f"Overdue: review:{review['id']} toward confirmed")
    assert notices(rt, "mia") == []


# --- delivery ---------------------------------------------------------------------------------------------


def _ready_flip(rt: Runtime) -> None:
    """One readiness change of raise-with-beijing (lost), assessed."""
    services.retract_evidence(rt, as_user(rt, "alice"), supporting_item(rt, FACTORY), "withdrawn story")
    assess(rt)


def test_deliveries_by_mail_and_webhook_once_each(demo: Runtime, secrets: Any, mailbox: Mailbox, receiver: Receiver):
    rt = demo
    secrets({"mia-mail": mailbox.url("mia@example.org"), "mia-hook": receiver.url()})
    nt.add_channel(rt, as_user(rt, "mia"), "mail", "mia-mail")
    nt.add_channel(rt, as_user(rt, "mia"), "hook", "mia-hook")
    nt.subscribe(rt, as_user(rt, "mia"), "readiness", action=BEIJING)
    _ready_flip(rt)
    run = nt.catch_up(rt)
    assert run.notifications == 1 and run.deliveries == 2
    sent = nt.deliver(rt)
    assert (sent.sent, sent.failed) == (2, 0)
    assert nt.deliver(rt).sent == 0 and nt.catch_up(rt).deliveries == 0  # nothing twice
    (mail,) = mailbox.messages
    assert mail.rcpt_tos == ["mia@example.org"] and f"No longer ready: {BEIJING}" in mail.content.decode()
    (post,) = receiver.posts
    assert post["title"].startswith(f"No longer ready: {BEIJING}") and "needs 1 more" in post["message"]
    # the database holds the secret's name, never its URL
    engine = create_engine(rt.database_url)
    with engine.connect() as conn:
        assert str(mailbox.port) not in json.dumps(
            [list(r) for r in conn.execute(text("SELECT * FROM channels"))], default=str
        )
        assert not conn.execute(
            text("SELECT 1 FROM events WHERE CAST(payload AS TEXT) LIKE :p"), {"p": f"%{receiver.port}%"}
        ).first()
    engine.dispose()


def test_a_failing_channel_is_retried_with_backoff_then_shown_to_admins(
    demo: Runtime, secrets: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    rt = demo
    monkeypatch.setenv("CLAIMS_NOTIFY_MAX_ATTEMPTS", "3")
    secrets({"mia-hook": receiver.url()})
    nt.add_channel(rt, as_user(rt, "mia"), "hook", "mia-hook")
    nt.subscribe(rt, as_user(rt, "mia"), "readiness", action=BEIJING)
    receiver.fail = True
    _ready_flip(rt)
    nt.catch_up(rt)
    t0 = datetime.now(UTC)
    assert nt.deliver(rt, at=t0).failed == 1
    assert nt.deliver(rt, at=t0 + timedelta(seconds=30)).failed == 0  # backing off: not due yet
    assert nt.deliver(rt, at=t0 + timedelta(seconds=61)).failed == 1  # after 60 s
    assert nt.deliver(rt, at=t0 + timedelta(seconds=61 + 100)).failed == 0  # then 120 s
    assert nt.deliver(rt, at=t0 + timedelta(seconds=61 + 121)).dead == 1  # third failure: given up
    (row,) = nt.delivery_rows(rt, as_user(rt, "admin"))
    assert row["status"] == "dead" and row["attempts"] == 3 and "500" in (row["last_error"] or ""), row
    shown = cli("notify", "deliveries", "--status", "dead", "--as", "admin")
    assert shown.exit_code == 0 and "dead" in shown.output and "mia/hook" in shown.output
    receiver.fail = False
    assert cli("notify", "retry", str(row["id"]), "--as", "admin").exit_code == 0
    assert nt.deliver(rt).sent == 1 and len(receiver.posts) == 1
    assert events_of(rt.database_url, EventKind.DELIVERY_RETRIED)[0]["payload"] == {"delivery": row["id"]}


def test_daily_digest_once_per_day_to_digest_channels(demo: Runtime, secrets: Any, receiver: Receiver) -> None:
    rt = demo
    secrets({"bob-digest": receiver.url("digest"), "bob-now": receiver.url("now")})
    nt.add_channel(rt, as_user(rt, "bob"), "digest", "bob-digest", digest=True)
    nt.subscribe(rt, as_user(rt, "bob"), "signoff")
    nt.subscribe(rt, as_user(rt, "bob"), "readiness", action=BEIJING)
    from tests.dashboard.dashboard_helpers import make_confirmable

    _ready_flip(rt)
    nt.catch_up(rt)
    make_confirmable(rt)  # a third line: corroborated again (ready), not yet confirmable (two lines)
    nt.catch_up(rt)
    assert [n["kind"] for n in notices(rt, "bob")] == ["readiness", "readiness"]
    assert nt.deliver(rt).sent == 0  # no immediate channel: nothing sent one by one
    at = datetime.now(UTC) + timedelta(minutes=1)
    assert nt.send_digests(rt, at=at) == 1
    assert nt.send_digests(rt, at=at + timedelta(hours=1)) == 0  # the same day: once
    nt.deliver(rt, at=at)
    (post,) = receiver.posts
    assert post["title"].startswith("Daily digest") and "2 notices" in post["title"]
    assert f"Ready: {BEIJING}" in post["message"] and f"No longer ready: {BEIJING}" in post["message"]
    assert nt.send_digests(rt, at=at + timedelta(days=1)) == 0  # nothing new in the next day's window


def test_inbox_unread_counts_and_marking_read_is_audited(demo: Runtime, cli: Any) -> None:
    rt = demo
    nt.subscribe(rt, as_user(rt, "mia"), "readiness", action=BEIJING)
    _ready_flip(rt)
    nt.catch_up(rt)
    shown = json.loads(cli("inbox", "--json", "--as", "mia").output)
    assert shown["unread"] == 1 and shown["notifications"][0]["action"] == BEIJING
    assert cli("inbox", "read", "--as", "mia").exit_code == 0
    assert nt.unread_count(rt, as_user(rt, "mia")) == 0
    assert events_of(rt.database_url, EventKind.INBOX_READ)[0]["payload"]["person"] == "mia"


# --- at once, on PostgreSQL --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_notifiers_and_two_senders_at_once_produce_and_send_each_once(
    postgres_url: str, own_config_dir: Any, tmp_path: Any, secrets: Any, receiver: Receiver
) -> None:
    from claims.demo import DEMO_USERS, signed_demo_case

    rt = Runtime(postgres_url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(tmp_path / "demo")))
    assess(rt)
    secrets({"hook": receiver.url()})
    for person in ("bob", "carol"):
        nt.add_channel(rt, as_user(rt, person), "hook", "hook")
        nt.subscribe(rt, as_user(rt, person), "signoff")
    nt.subscribe(rt, as_user(rt, "mia"), "readiness", action=BEIJING)
    from tests.dashboard.dashboard_helpers import make_confirmable

    make_confirmable(rt)  # a sign-off request for bob and carol
    live = [e["id"] for e in services.claim_detail(rt, FACTORY)["evidence"] if e["stance"] == "supports"]
    for item in live[1:]:  # one line left: factory-exists falls back to reported, raise-with-beijing is not ready
        services.retract_evidence(rt, as_user(rt, "alice"), item, "withdrawn story")
    assess(rt)
    errors: list[BaseException] = []

    def twice(fn: Callable[[], object]) -> None:
        barrier = threading.Barrier(2)

        def go() -> None:
            try:
                barrier.wait()
                fn()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads_ = [threading.Thread(target=go) for _ in range(2)]
        for t in threads_:
            t.start()
        for t in threads_:
            t.join(120)

    twice(lambda: nt.catch_up(rt))
    twice(lambda: nt.deliver(rt))
    assert errors == []
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Notification.person, Notification.kind).order_by(Notification.person)).all()
        assert sorted(map(tuple, rows)) == [("bob", "signoff"), ("carol", "signoff"), ("mia", "readiness")]
        assert conn.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "sent")) == 2
    engine.dispose()
    assert len(receiver.posts) == 2
    dispose_engines()


def test_unknown_or_wrong_scope_is_refused(demo: Runtime) -> None:
    with pytest.raises(InvalidInput):
        nt.subscribe(demo, as_user(demo, "bob"), "signoff", action=BEIJING)  # sign-offs are not per action
    with pytest.raises(NotFound):
        nt.subscribe(demo, as_user(demo, "mia"), "readiness", case="no-such-case")
    nt.subscribe(demo, as_user(demo, "mia"), "readiness", action=BEIJING)
    with pytest.raises(InvalidInput):
        nt.subscribe(demo, as_user(demo, "mia"), "readiness", action=BEIJING)  # the same twice


def test_a_removed_channel_gets_nothing_more_and_its_name_is_free(demo: Runtime, secrets: Any, receiver: Receiver):
    rt = demo
    secrets({"hook": receiver.url()})
    nt.add_channel(rt, as_user(rt, "mia"), "hook", "hook")
    nt.subscribe(rt, as_user(rt, "mia"), "readiness", action=BEIJING)
    _ready_flip(rt)
    nt.catch_up(rt)
    nt.remove_channel(rt, as_user(rt, "mia"), "hook")
    assert nt.deliver(rt).sent == 0 and receiver.posts == []  # its queued delivery was dropped
    assert [r["status"] for r in nt.delivery_rows(rt, as_user(rt, "admin"))] == ["dropped"]
    assert nt.channels(rt, as_user(rt, "mia")) == []
    again = nt.add_channel(rt, as_user(rt, "mia"), "hook", "hook")
    assert [c.name for c in nt.channels(rt, as_user(rt, "mia"))] == ["hook"] and again.id != 1
    assert [e["payload"]["name"] for e in events_of(rt.database_url, EventKind.CHANNEL_REMOVED)] == ["hook"]


def test_a_task_assigned_to_a_person_tells_them_once_and_a_task_taken_tells_nobody(demo: Runtime) -> None:
    """Issue 18 wired end to end: `task.assigned` (the tasks' event) becomes an `assigned` notice for the
    assignee; taking a task yourself is no news; a note may be written on a task."""
    from claims.services import notes, tasks

    rt = demo
    nt.subscribe(rt, as_user(rt, "alice"), "assigned")
    nt.subscribe(rt, as_user(rt, "bob"), "assigned")
    first, second = [t for t in tasks.list_tasks(rt, as_user(rt, "mia"), unassigned=True) if t["kind"] != "signoff"][:2]
    tasks.assign(rt, as_user(rt, "mia"), first["id"], "alice")
    tasks.take(rt, as_user(rt, "bob"), second["id"])
    nt.catch_up(rt)
    nt.catch_up(rt)
    (told,) = notices(rt, "alice")
    assert told["kind"] == "assigned" and "by mia" in told["title"]
    assert notices(rt, "bob") == []
    note = notes.add_note(rt, as_user(rt, "alice"), "task", str(first["id"]), "Asked the *Reuters* desk")
    assert [n.id for n in notes.list_notes(rt, as_user(rt, "mia"), "task", str(first["id"]))] == [note.id]
