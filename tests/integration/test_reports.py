"""Report intake (issue 17 section 2), on SQLite and PostgreSQL: stored whole with its hash, the same
file twice refused, candidates on the demo report, accept as a new claim or as evidence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from identity_helpers import as_user
from integration_helpers import error_line
from sqlalchemy import select

from claims import services
from claims.services import Runtime
from claims.services import reports as rep
from claims.services.errors import PermissionDenied, RuleViolation
from claims.store.models import Event, Report

SEED = Path(__file__).resolve().parents[2] / "examples" / "reports" / "eu-drones-report.txt"
CASE = "eu-drones-2024"


def _add(rt: Runtime, actor: str = "alice") -> rep.ReportPage:
    return rep.add_report(
        rt, as_user(rt, actor), CASE, SEED.read_bytes(), filename=SEED.name, url="https://example.org/a"
    )


def _number(page: rep.ReportPage, words: str) -> int:
    return next(c.number for c in page.candidates if words in c.text)


def test_report_is_stored_whole_with_its_hash(demo: Runtime):
    page = _add(demo)
    with demo.uow(write=False) as uow:
        row = uow.session.get(Report, page.report.id)
        assert row is not None
        assert row.content == SEED.read_bytes()
        assert row.sha256 == hashlib.sha256(SEED.read_bytes()).hexdigest()
        assert row.added_by == "alice" and row.url == "https://example.org/a" and row.media_type == "text/plain"
        kinds = uow.session.scalars(select(Event.kind).where(Event.kind == "report.added")).all()
    assert len(kinds) == 1  # audited
    for c in page.candidates:  # every span points at its sentence in the extracted text
        assert page.text[c.start : c.end] == c.text


def test_same_file_twice_in_a_case_is_refused(demo: Runtime):
    first = _add(demo)
    with pytest.raises(RuleViolation, match=rf"already report #{first.report.id}"):
        _add(demo)
    assert len(rep.list_reports(demo, as_user(demo, "mia"), CASE)) == 1


def test_manager_may_not_add_a_report(demo: Runtime):
    with pytest.raises(PermissionDenied):
        _add(demo, "mia")


def test_demo_report_yields_main_claim_and_unconfirmed_points_in_top_ten(demo: Runtime):
    page = _add(demo)
    top = [c.text for c in page.candidates[:10]]
    assert any("constructed a manufacturing facility in China" in t for t in top), top  # the main claim
    unconfirmed = next(t for t in top if "whether or not these drones have already been shipped" in t)
    assert unconfirmed.count("whether or not") == 3  # the three unconfirmed points
    assert any("mentioned to be designed for assault" in t for t in top)  # lethal, not reconnaissance
    why = next(c for c in page.candidates if c.text == unconfirmed).reasons
    assert any(r.startswith("hedged:") for r in why)
    matched = {s.speaker: s.source for s in page.sources}
    assert matched.get("a high-ranking EU official") == "eu-official"
    assert "Beijing" in matched


def test_accept_as_claim(demo: Runtime):
    page = _add(demo)
    number = _number(page, "Talks between the EEAS and Beijing")
    done = rep.accept_sentence(demo, as_user(demo, "alice"), page.report.id, number, as_claim=True, key="eeas-talks")
    assert done.claim == "eeas-talks" and done.evidence is None
    detail = services.claim_detail(demo, "eeas-talks")
    assert detail["statement"].startswith("Talks between the EEAS and Beijing")
    shown = rep.show_report(demo, as_user(demo, "mia"), page.report.id)
    assert [(a.claim, a.number) for a in shown.accepted] == [("eeas-talks", number)]
    assert rep.list_reports(demo, as_user(demo, "mia"), untriaged=True) == []


def test_accept_as_evidence_keeps_locator_and_quote(demo: Runtime):
    page = _add(demo)
    number = _number(page, "Beijing has denied any involvement")
    cand = next(c for c in page.candidates if c.number == number)
    done = rep.accept_sentence(
        demo, as_user(demo, "alice"), page.report.id, number, claim_key="beijing-aware", stance="contradicts",
        source="china-mfa", credibility=3,
    )  # fmt: skip
    item = next(e for e in services.claim_detail(demo, "beijing-aware")["evidence"] if e["id"] == done.evidence)
    assert item["locator"] == f"report:{page.report.id}#chars={cand.start}-{cand.end}"
    assert item["summary"] == cand.text
    assert page.text[cand.start : cand.end] == cand.text


def test_cli_report_add_show_accept(demo: Runtime, cli, point_settings_at):
    point_settings_at(demo.database_url)
    added = cli("report", "add", SEED, "--case", CASE, "--as", "alice")
    assert added.exit_code == 0, added.stderr
    assert "report #1 added" in added.stdout and "why: hedged" in added.stdout
    again = cli("report", "add", SEED, "--case", CASE, "--as", "alice")
    assert again.exit_code == 1 and "already report #1" in error_line(again)
    accepted = cli("report", "accept", 1, 9, "--as-claim", "--key", "talks", "--as", "alice")
    assert accepted.exit_code == 0, accepted.stderr
    shown = cli("report", "show", 1)
    assert "[[Talks between the EEAS and Beijing" in shown.stdout and "(-> talks)" in shown.stdout
    assert cli("report", "accept", 1, 999, "--as-claim", "--as", "alice").exit_code == 1


def test_cli_report_from_standard_input_and_list(demo: Runtime, cli, point_settings_at):
    point_settings_at(demo.database_url)
    text = "The ministry reportedly moved 40 tanks to Brest on Monday, according to Reuters.\n"
    added = cli("report", "add", "-", "--case", CASE, "--date", "2024-11-22", "--as", "alice", input=text)
    assert added.exit_code == 0, added.stderr
    assert "Reuters -> source 'reuters'" in added.stdout  # speaker matched to the case's source
    listed = cli("report", "list", "--to-triage")
    assert listed.stdout.split()[:5] == ["#1", "eu-drones-2024", "2024-11-22", "0", "accepted"]
    assert cli("report", "add", "-", "--case", CASE, "--date", "22/11", "--as", "alice", input=text).exit_code == 1


def test_pdf_report_text_is_extracted(demo: Runtime):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "Officials reportedly seized 12 drones in Gdansk on Friday. The ministry has denied it.")
    page = rep.add_report(demo, as_user(demo, "alice"), CASE, bytes(pdf.output()), filename="note.pdf")
    assert page.report.media_type == "application/pdf"
    assert "seized 12 drones in Gdansk" in page.text
    assert [c.number for c in page.candidates] and all(page.text[c.start : c.end] == c.text for c in page.candidates)


def test_a_candidate_that_says_a_known_claim_is_offered_it(demo: Runtime, cli, point_settings_at):
    """Section 3 on the report page: the demo report's main claim is the demo case's `factory-exists`,
    so the candidate offers it (same or related), and `claims claim add` of a paraphrase offers it too."""
    page = _add(demo)
    main = _number(page, "constructed a manufacturing facility in China")
    offered = {h.claim_key: h.kind for h in page.similar.get(main, [])}
    assert "factory-exists" in offered, page.similar
    assert offered["factory-exists"] in ("same", "related")
    assert all(h.kind in ("same", "related") for hits in page.similar.values() for h in hits)
    shown = rep.show_report(demo, as_user(demo, "mia"), page.report.id)  # readers get the same offer
    assert {h.claim_key for h in shown.similar.get(main, [])} == set(offered)

    point_settings_at(demo.database_url)
    result = cli(
        "claim", "add", "Russia has set up a factory in China that assembles attack drones",
        "--case", CASE, "--as", "alice",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "factory-exists" in result.output and ("same claim as" in result.output or "related to" in result.output)


@pytest.mark.parametrize("as_claim", [True, False], ids=["as-claim", "as-evidence"])
def test_an_acceptance_that_fails_leaves_neither_claim_nor_evidence(
    demo: Runtime, db_snapshot, monkeypatch: pytest.MonkeyPatch, as_claim: bool
):
    """Accepting is one transaction: if recording the accepted sentence fails after the claim or the
    evidence item was written, neither stays (the database is exactly as before)."""
    page = _add(demo)
    number = _number(page, "whether or not these drones have already been shipped")
    before = db_snapshot(demo.database_url)

    def broken(**_: object) -> None:
        raise RuleViolation("accept: the acceptance could not be recorded")

    monkeypatch.setattr(rep, "ReportSentence", broken)
    with pytest.raises(RuleViolation, match="could not be recorded"):
        if as_claim:
            rep.accept_sentence(demo, as_user(demo, "alice"), page.report.id, number, as_claim=True, key="three-points")
        else:
            rep.accept_sentence(
                demo, as_user(demo, "alice"), page.report.id, number, claim_key="lethal-production",
                stance="supports", source="eu-official", credibility=3,
            )  # fmt: skip
    assert db_snapshot(demo.database_url) == before
