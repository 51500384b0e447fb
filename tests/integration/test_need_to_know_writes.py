"""Need to know on writes and exports (issue 20, points 1, 3 and 4): markings given when items are made,
declassification only by a reviewer with a rationale (audited), and every export format at
--max-marking GREEN carrying no RED item, with its own marking said.

Users get explicit clearances here (after migration 0016 a new user has the lowest one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from identity_helpers import as_user
from integration_helpers import event_count, events_after
from sqlalchemy import update
from stix2validator import ValidationOptions, validate_string

from claims import services
from claims.demo import DEMO_USERS, signed_demo_case
from claims.domain import Stage
from claims.services import PermissionDenied, Runtime
from claims.services import authoring as a
from claims.services.casefile import dump_case
from claims.services.exports import export_text, read_import_file
from claims.services.exports.brief import brief
from claims.services.exports.stix import TLP2_IDS
from claims.services.markings import set_marking
from claims.services.provenance import sign_case
from claims.store.models import Case, Evidence, Source, User

RED_NAME = "Zebra Handler"  # the RED source's name and key and its item's words: never in a GREEN export
RED_KEY = "zebra"
RED_TEXT = "ZEBRA-INTERCEPT-7 says the line runs through Minsk"


def clear(rt: Runtime, name: str, clearance: str, *, all_cases: bool = True) -> None:
    """Set a user's clearance directly (membership and clearance administration is not under test here)."""
    with rt.uow() as uow:
        uow.session.execute(update(User).where(User.name == name).values(clearance=clearance, all_cases=all_cases))
        uow.commit()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def cleared(rt: Runtime) -> Runtime:
    for name in ("admin", "alice", "bob", "carol", "mia"):
        clear(rt, name, "TLP:RED")
    return rt


@pytest.fixture
def marked(cleared: Runtime, tmp_path: Path) -> Runtime:
    """The demo case at TLP:GREEN throughout, plus one RED source with a RED item on the confirmed
    claim `dual-use-supply` (so a GREEN ClaimReview must leave that claim out)."""
    rt = cleared
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(signed_demo_case(tmp_path / "demo")))
    services.assess_claims(rt, as_user(rt, "system"), services.open_claim_keys(rt))
    with rt.uow() as uow:  # setup, not under test: the demo case re-marked wholesale
        for model in (Case, Source, Evidence):
            uow.session.execute(update(model).values(marking="TLP:GREEN"))
        uow.commit()
    a.add_source(
        rt,
        as_user(rt, "alice"),
        "eu-drones-2024",
        RED_KEY,
        RED_NAME,
        kind="intelligence",
        reliability="B",
        marking="RED",
    )
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        "dual-use-supply",
        RED_KEY,
        "supports",
        credibility=2,
        summary=RED_TEXT,
        marking="TLP:RED",
    )
    return rt


def no_red(data: bytes | str) -> None:
    text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
    for needle in (RED_NAME, RED_TEXT, f'"{RED_KEY}"', f"source: {RED_KEY}", "TLP:RED", TLP2_IDS["TLP:RED"]):
        assert needle not in text, needle


# --- writes --------------------------------------------------------------------------------------


def test_new_items_take_their_case_marking_unless_told(cleared: Runtime) -> None:
    rt = cleared
    assert a.add_case(rt, as_user(rt, "alice"), "plain", "Plain")["marking"] == "TLP:AMBER"  # the deployment default
    assert (
        a.add_case(rt, as_user(rt, "alice"), "open", "Open", marking="green", caveat="NO PRESS")["marking"]
        == "TLP:GREEN"
    )
    assert (
        a.add_source(rt, as_user(rt, "alice"), "open", "s1", "S1", kind="media", reliability="B")["marking"]
        == "TLP:GREEN"
    )
    red = a.add_source(rt, as_user(rt, "alice"), "open", "s2", "S2", kind="media", reliability="B", marking="TLP:RED")
    assert (red["marking"], red["caveat"]) == ("TLP:RED", None)
    key = a.add_claim(rt, as_user(rt, "alice"), "open", "Something happened")
    item = services.add_evidence(rt, as_user(rt, "alice"), key, "s1", "supports", credibility=2, summary="seen")
    with rt.uow(write=False) as uow:
        assert uow.evidence.get(item.id).marking == "TLP:GREEN"
    own = Runtime(rt.database_url, default_marking="TLP:GREEN")
    assert a.add_case(own, as_user(own, "alice"), "own", "Own default")["marking"] == "TLP:GREEN"


def test_unknown_marking_is_one_line_and_changes_nothing(cleared: Runtime, cli, db_snapshot) -> None:
    a.add_case(cleared, as_user(cleared, "alice"), "desk", "Desk")
    before = db_snapshot(cleared.database_url)
    for args in (
        ("case", "add", "other", "--title", "T", "--marking", "PURPLE"),
        (
            "source",
            "add",
            "s1",
            "--case",
            "desk",
            "--name",
            "S",
            "--kind",
            "media",
            "--reliability",
            "B",
            "--marking",
            "PURPLE",
        ),
        ("export", "--case", "desk", "--max-marking", "PURPLE"),
        ("mark", "case:desk", "--marking", "PURPLE"),
    ):
        result = cli(*args, "--as", "alice")
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        line = one_line(result.stderr)
        assert "'PURPLE' is not a marking" in line and ("marking" in line.split(":")[1]), line
    with pytest.raises(services.InvalidInput, match=r"caveat: .* is not a handling caveat"):
        a.add_case(cleared, as_user(cleared, "alice"), "bad", "Bad", caveat="NO\x1bFOREIGN")
    assert db_snapshot(cleared.database_url) == before


def test_lowering_without_a_reviewer_is_refused_and_changes_nothing(cleared: Runtime, cli, db_snapshot) -> None:
    rt = cleared
    a.add_case(rt, as_user(rt, "alice"), "desk", "Desk", marking="AMBER")
    a.add_source(rt, as_user(rt, "alice"), "desk", "s1", "S1", kind="media", reliability="B", marking="RED")
    before = db_snapshot(rt.database_url)
    refused = cli("mark", "source:desk/s1", "--marking", "GREEN", "--rationale", "public now", "--as", "alice")
    assert refused.exit_code == 4, refused.stderr
    assert "declassification" in one_line(refused.stderr) and "analyst" in refused.stderr
    edit = cli("case", "edit", "desk", "--expected-version", "1", "--marking", "CLEAR", "--as", "alice")
    assert edit.exit_code == 4 and "declassification" in one_line(edit.stderr)
    no_reason = cli("mark", "source:desk/s1", "--marking", "GREEN", "--as", "bob")  # a reviewer, but no rationale
    assert no_reason.exit_code == 1 and "rationale" in one_line(no_reason.stderr)
    assert db_snapshot(rt.database_url) == before


def test_raising_is_the_authors_lowering_the_reviewers_each_audited(cleared: Runtime) -> None:
    rt = cleared
    a.add_case(rt, as_user(rt, "alice"), "desk", "Desk", marking="GREEN")
    a.add_source(rt, as_user(rt, "alice"), "desk", "s1", "S1", kind="media", reliability="B")
    count = event_count(rt)
    raised = a.edit_source(
        rt, as_user(rt, "alice"), "desk", "s1", expected_version=1, marking="RED", caveat="UK EYES ONLY"
    )
    assert (raised["marking"], raised["caveat"]) == ("TLP:RED", "UK EYES ONLY")
    with pytest.raises(PermissionDenied, match="declassification"):
        set_marking(rt, as_user(rt, "alice"), "source:desk/s1", marking="GREEN", rationale="x")
    done = set_marking(
        rt, as_user(rt, "bob"), "source:desk/s1", marking="GREEN", caveat="", rationale="released by the owner"
    )
    assert done["lowered"] is True
    events = [e for e in events_after(rt, count) if e["kind"] == "marking.changed"]
    assert [(e["actor"], e["payload"]["old"], e["payload"]["new"]) for e in events] == [
        ("alice", {"marking": "TLP:GREEN", "caveat": None}, {"marking": "TLP:RED", "caveat": "UK EYES ONLY"}),
        ("bob", {"marking": "TLP:RED", "caveat": "UK EYES ONLY"}, {"marking": "TLP:GREEN", "caveat": None}),
    ]
    assert events[1]["rationale"] == "released by the owner"
    assert services.audit_verify(rt).ok


# --- exports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json", "stix", "claimreview"])
def test_each_export_at_green_carries_no_red_item(marked: Runtime, fmt: str) -> None:
    green = export_text(marked, "eu-drones-2024", fmt, who=as_user(marked, "alice"), max_marking="GREEN")
    no_red(green)
    full = export_text(marked, "eu-drones-2024", fmt, who=as_user(marked, "alice"), max_marking="RED")
    if fmt != "claimreview":
        assert RED_NAME in full and RED_TEXT in full  # the test can fail: the RED item is there at RED
    if fmt in ("yaml", "json"):
        data = services.export_case(marked, "eu-drones-2024", who=as_user(marked, "alice"), max_marking="GREEN")
        assert data["marking"] == "TLP:GREEN"
        assert services.export_case(marked, "eu-drones-2024", who=as_user(marked, "alice"))["marking"] == "TLP:RED"


def test_claimreview_at_green_leaves_out_a_verdict_resting_on_red(marked: Runtime) -> None:
    for source, grade in (("us-treasury", 2), ("eu-council", 3)):  # a second verdict, resting on GREEN lines only
        services.add_evidence(
            marked,
            as_user(marked, "alice"),
            "beijing-aware",
            source,
            "contradicts",
            credibility=grade,
            summary=f"{source}: no sign",
        )
    review = services.advance(marked, as_user(marked, "alice"), "beijing-aware", Stage.REFUTED).review_id
    assert review is not None
    services.approve(marked, as_user(marked, "bob"), review, "two independent contradicting lines")
    green = json.loads(
        export_text(marked, "eu-drones-2024", "claimreview", who=as_user(marked, "alice"), max_marking="GREEN")
    )
    full = json.loads(export_text(marked, "eu-drones-2024", "claimreview", who=as_user(marked, "alice")))
    claimed = {r["url"].rsplit("=", 1)[1] for r in full["@graph"]}
    assert "dual-use-supply" in claimed
    assert {r["url"].rsplit("=", 1)[1] for r in green["@graph"]} == claimed - {"dual-use-supply"}
    assert {r["conditionsOfAccess"] for r in green["@graph"]} == {"TLP:GREEN"}


def test_stix_carries_tlp2_marking_definitions_on_every_object_and_validates(marked: Runtime) -> None:
    for cap, top in (("GREEN", "TLP:GREEN"), ("RED", "TLP:RED")):
        text = export_text(marked, "eu-drones-2024", "stix", who=as_user(marked, "alice"), max_marking=cap)
        result = validate_string(text, ValidationOptions(version="2.1"))
        assert result.is_valid and result.errors == [], [str(e) for e in result.errors]
        objects = json.loads(text)["objects"]
        definitions = {o["id"]: o for o in objects if o["type"] == "marking-definition"}
        assert TLP2_IDS[top] in definitions
        assert definitions[TLP2_IDS[top]]["name"] == top
        for o in objects:
            if o["type"] != "marking-definition":
                assert o.get("object_marking_refs"), o["id"]
                assert set(o["object_marking_refs"]) <= set(definitions)
        zebra = [o for o in objects if o.get("x_claims_key") == RED_KEY]
        assert (zebra[0]["object_marking_refs"] == [TLP2_IDS["TLP:RED"]]) if cap == "RED" else not zebra


def test_brief_at_green_leaves_the_red_lines_out_and_carries_its_banner(marked: Runtime, tmp_path: Path) -> None:
    md = brief(marked, "eu-drones-2024", "md", who=as_user(marked, "alice"), max_marking="GREEN").decode()
    no_red(md)
    lines = md.strip().splitlines()
    assert lines[0] == lines[-1] == "**TLP:GREEN**"
    assert "1 evidence line above TLP:GREEN left out of this brief." in md
    html = brief(marked, "eu-drones-2024", "html", who=as_user(marked, "alice"), max_marking="GREEN")
    no_red(html)
    assert html.count(b'<p class="marking"><strong>TLP:GREEN</strong></p>') == 2
    full = brief(marked, "eu-drones-2024", "md", who=as_user(marked, "alice")).decode()
    assert RED_NAME in full and full.strip().splitlines()[0] == "**TLP:RED**"
    pdf = brief(marked, "eu-drones-2024", "pdf", who=as_user(marked, "alice"), max_marking="GREEN")
    assert pdf.startswith(b"%PDF")


def test_max_marking_above_the_clearance_is_refused_in_one_line(marked: Runtime, cli) -> None:
    clear(marked, "alice", "TLP:AMBER")
    refused = cli("export", "--case", "eu-drones-2024", "--max-marking", "RED", "--as", "alice")
    assert refused.exit_code == 4
    assert "max_marking: TLP:RED is above the clearance of 'alice' (TLP:AMBER)" in one_line(refused.stderr)
    default = cli("export", "--case", "eu-drones-2024", "--format", "json", "--as", "alice")
    assert default.exit_code == 0, default.stderr
    no_red(default.stdout)  # default: the exporter's own clearance


def test_cli_brief_and_stix_at_green(marked: Runtime, cli, tmp_path: Path) -> None:
    md = cli("brief", "--case", "eu-drones-2024", "--max-marking", "GREEN", "--as", "alice")
    assert md.exit_code == 0, md.stderr
    no_red(md.stdout)
    stix = cli("export", "--case", "eu-drones-2024", "--format", "stix", "--max-marking", "TLP:GREEN", "--as", "bob")
    assert stix.exit_code == 0, stix.stderr
    no_red(stix.stdout)


# --- imports -------------------------------------------------------------------------------------


def test_case_file_round_trip_keeps_markings(marked: Runtime, fresh_database, tmp_path: Path) -> None:
    a.edit_case(marked, as_user(marked, "alice"), "eu-drones-2024", expected_version=1, caveat="UK EYES ONLY")
    first = services.export_case(marked, "eu-drones-2024", who=as_user(marked, "alice"))
    assert first["marking"] == "TLP:RED" and first["case"]["caveat"] == "UK EYES ONLY"
    (zebra,) = [s for s in first["sources"] if s["key"] == RED_KEY]
    assert zebra["marking"] == "TLP:RED"
    path = tmp_path / "export.yaml"
    path.write_text(dump_case(sign_case(first)), encoding="utf-8")
    fresh = Runtime(fresh_database())
    services.ensure_users(fresh, DEMO_USERS)
    clear(fresh, "alice", "TLP:RED")
    services.import_case(fresh, as_user(fresh, "alice"), services.read_case_file(path))
    again = services.export_case(fresh, "eu-drones-2024", who=as_user(fresh, "alice"))
    by_key = {s["key"]: s for s in again.pop("sources")}  # the import writes parents first: order may differ
    assert by_key == {s["key"]: s for s in first.pop("sources")}
    assert again == first


def test_import_above_the_clearance_is_refused_before_anything_is_written(
    marked: Runtime, tmp_path: Path, cli, db_snapshot
) -> None:
    data = services.export_case(marked, "eu-drones-2024", who=as_user(marked, "alice"))
    data["case"]["key"] = "copy"
    for c in data["claims"]:
        c["key"] = f"copy-{c['key']}"
    for act in data["policy_actions"]:
        act["key"] = f"copy-{act['key']}"
        for r in act["requires"]:
            r["claim"] = f"copy-{r['claim']}"
    for c in data["claims"]:
        c.pop("history", None), c.pop("reviews", None)
        c["stage"] = "reported"
    clear(marked, "carol", "TLP:AMBER")
    before = db_snapshot(marked.database_url)
    for suffix in ("yaml", "json"):  # the whole-file and the streamed (bulk) import
        path = tmp_path / f"red.{suffix}"
        path.write_text(dump_case(data, suffix), encoding="utf-8")
        refused = cli("import", path, "--as", "carol")
        assert refused.exit_code == 4, refused.stderr
        line = one_line(refused.stderr)
        assert "TLP:RED is above the clearance of 'carol' (TLP:AMBER)" in line and "nothing was imported" in line
        assert db_snapshot(marked.database_url) == before


def test_a_declared_marking_must_match_what_the_file_holds(marked: Runtime, tmp_path: Path) -> None:
    data = services.export_case(marked, "eu-drones-2024", who=as_user(marked, "alice"))
    signed = sign_case(data)
    signed["marking"] = "TLP:GREEN"  # a signed file relabelled: its signature no longer holds
    path = tmp_path / "relabelled.yaml"
    path.write_text(dump_case(signed), encoding="utf-8")
    with pytest.raises(services.InvalidInput, match="signature: does not verify"):
        services.read_case_file(path)
    data["marking"] = "TLP:GREEN"  # unsigned, but saying less than it holds
    path.write_text(dump_case(data), encoding="utf-8")
    with pytest.raises(services.InvalidInput, match="marking: the file says TLP:GREEN but holds TLP:RED"):
        services.import_case(marked, as_user(marked, "alice"), services.read_case_file(path))


def test_a_stix_bundle_reads_back_with_its_markings(marked: Runtime, fresh_database, tmp_path: Path) -> None:
    path = tmp_path / "case.stix.json"
    path.write_text(export_text(marked, "eu-drones-2024", "stix", who=as_user(marked, "alice")), encoding="utf-8")
    fresh = Runtime(fresh_database())
    services.ensure_users(fresh, DEMO_USERS)
    clear(fresh, "alice", "TLP:RED")
    services.import_case(fresh, as_user(fresh, "alice"), read_import_file(path))
    again = services.export_case(fresh, "eu-drones-2024", who=as_user(fresh, "alice"))
    marks = {s["key"]: s["marking"] for s in again["sources"]}
    assert marks[RED_KEY] == "TLP:RED" and set(marks.values()) == {"TLP:GREEN", "TLP:RED"}
    (item,) = [e for c in again["claims"] for e in c["evidence"] if e["summary"] == RED_TEXT]
    assert (item["marking"], again["case"]["marking"], again["marking"]) == ("TLP:RED", "TLP:GREEN", "TLP:RED")


def test_a_foreign_bundle_marked_red_imports_red_or_not_at_all(cleared: Runtime, tmp_path: Path) -> None:
    import stix2
    from stix_bundles import write

    red = stix2.MarkingDefinition(
        id=TLP2_IDS["TLP:RED"],
        created="2022-10-01T00:00:00.000Z",
        name="TLP:RED",
        extensions={
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "red",
            }
        },
    )
    lab = stix2.Identity(name="Lab", identity_class="organization", labels=['admiralty-scale:source-reliability="b"'])
    malware = stix2.Malware(name="Sednit", is_family=True, created_by_ref=lab.id, object_marking_refs=[red.id])
    agree = stix2.Opinion(opinion="agree", object_refs=[malware.id], created_by_ref=lab.id)
    path = write(stix2.Bundle(red, lab, malware, agree), tmp_path / "red.json")
    clear(cleared, "carol", "TLP:AMBER")
    with pytest.raises(PermissionDenied, match="TLP:RED is above the clearance of 'carol'"):
        services.import_case(cleared, as_user(cleared, "carol"), read_import_file(path))
    report = services.import_case(cleared, as_user(cleared, "alice"), read_import_file(path))
    assert services.export_case(cleared, report.case, who=as_user(cleared, "alice"))["case"]["marking"] == "TLP:RED"


def test_evidence_notes_and_reports_take_and_change_markings(cleared: Runtime) -> None:
    from claims.services.notes import add_note
    from claims.services.reports import accept_sentence, add_report

    rt = cleared
    a.add_case(rt, as_user(rt, "alice"), "desk", "Desk", marking="GREEN")
    a.add_source(rt, as_user(rt, "alice"), "desk", "s1", "S1", kind="media", reliability="B")
    key = a.add_claim(rt, as_user(rt, "alice"), "desk", "Something happened")
    item = services.add_evidence(
        rt, as_user(rt, "alice"), key, "s1", "supports", credibility=2, summary="seen", marking="AMBER"
    )
    note = add_note(rt, as_user(rt, "alice"), "claim", key, "Ask again", marking="RED", caveat="NO PRESS")
    reply = add_note(rt, as_user(rt, "alice"), "", "", "Asked", reply_to=note.id)
    page = add_report(rt, as_user(rt, "alice"), "desk", b"The plant opened in May. It makes drones.", marking="RED")
    accepted = accept_sentence(
        rt, as_user(rt, "alice"), page.report.id, 1, claim_key=key, stance="supports", source="s1", credibility=3
    )
    with rt.uow(write=False) as uow:
        from claims.store.models import Note, Report

        assert uow.evidence.get(item.id).marking == "TLP:AMBER"
        assert (uow.session.get(Note, note.id).marking, uow.session.get(Note, note.id).caveat) == (
            "TLP:RED",
            "NO PRESS",
        )
        assert uow.session.get(Note, reply.id).marking == "TLP:RED"  # a reply never lowers its thread
        assert uow.session.get(Report, page.report.id).marking == "TLP:RED"
        assert uow.evidence.get(accepted.evidence).marking == "TLP:RED"  # at least its report's
    assert set_marking(rt, as_user(rt, "alice"), f"evidence:{item.id}", marking="RED")["new"]["marking"] == "TLP:RED"
    with pytest.raises(PermissionDenied):
        set_marking(rt, as_user(rt, "alice"), f"report:{page.report.id}", marking="GREEN", rationale="x")
    done = set_marking(rt, as_user(rt, "carol"), f"note:{note.id}", marking="AMBER", rationale="the source agreed")
    assert done["old"] == {"marking": "TLP:RED", "caveat": "NO PRESS"} and done["lowered"]
    assert services.audit_verify(rt).ok
