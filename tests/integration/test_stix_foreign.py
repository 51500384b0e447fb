"""Issue 21, point 11 (last part): a STIX 2.1 bundle made by another tool (here OASIS's `stix2`) imports what
has a meaning in a case and lists what it leaves out; with nothing to import it is refused in one line.

On SQLite and PostgreSQL; `claims import --json` also in a real process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import stix2
import stix_bundles
from integration_helpers import error_line
from process_helpers import env_for

from claims import services
from claims.services import Runtime
from claims.services.exports import export_text
from claims.services.exports.stix import read_bundle


def left_out(report_or_list) -> dict[str, str]:
    items = getattr(report_or_list, "left_out", report_or_list)
    return {(x.id if hasattr(x, "id") else x["id"]): (x.why if hasattr(x, "why") else x["why"]) for x in items}


def test_a_stix2_made_bundle_imports_what_it_can_and_lists_the_rest(rt: Runtime, tmp_path: Path):
    o = stix_bundles.feed()
    path = stix_bundles.write(o.bundle, tmp_path / "feed.json")
    report = services.import_path(rt, "alice", path)
    assert report.case == o.report.id
    assert report.created == {"cases": 1, "sources": 3, "claims": 3, "evidence": 4, "actions": 0}

    indicator = services.claim_detail(rt, o.indicator.id)
    assert indicator["stage"] == "reported" and indicator["case"] == o.report.id
    assert indicator["statement"] == "indicator 'C2 address': [ipv4-addr:value = '198.51.100.3']"
    grades = sorted((e["source"], e["grade"], e["stance"]) for e in indicator["evidence"])
    assert grades == sorted(
        [
            (o.cert.id, "C1", "supports"),  # OpenCTI's C; confidence 85 -> 1 (STIX 2.1 appendix: 80-100)
            (o.lab.id, "B6", "supports"),  # MISP's b; a note with no confidence -> 6, cannot be judged
            (o.cert.id, "C3", "supports"),  # the sighting: confidence 50 -> 3 (40-59)
        ]
    )
    relation = services.claim_detail(rt, o.indicates.id)
    assert relation["statement"] == "indicator 'C2 address' indicates malware 'Sednit'"
    assert [(e["source"], e["grade"], e["stance"]) for e in relation["evidence"]] == [(o.blog.id, "F4", "contradicts")]
    assert services.claim_detail(rt, o.malware.id)["evidence"] == []  # reported by the report; no evidence about it
    sources = {s["key"]: s for s in services.export_case(rt, o.report.id)["sources"]}
    assert sources[o.blog.id]["derived_from"] == o.lab.id  # derived-from between two sources is their lineage
    assert sources[o.cert.id]["kind"] == "official" and sources[o.lab.id]["kind"] == "other"

    why = left_out(report)
    assert set(why) == {
        o.neutral.id, o.anonymous.id, o.context.id, o.victim.id, o.location.id, o.address.id, o.tlp.id,
        o.custom["id"], o.nowhere,
    }  # fmt: skip
    assert why[o.neutral.id] == "opinion: 'neutral' neither supports nor contradicts"
    assert why[o.anonymous.id] == "no created_by_ref: evidence needs a source"
    assert "not evidence" in why[o.context.id]
    assert "source of no imported evidence" in why[o.victim.id]
    assert "markings are not kept" in why[o.tlp.id]
    assert why[o.nowhere] == f"in object_refs of {o.report.id} but not in the bundle"
    assert "x-acme-widget" in why[o.custom["id"]] and "observable" in why[o.address.id]

    again = services.import_path(rt, "alice", path)  # idempotent, and says again what it leaves out
    assert set(again.created.values()) == {0} and left_out(again) == why


def test_a_bundle_with_nothing_importable_is_refused_in_one_line_and_changes_nothing(
    demo: Runtime, cli, env_db: str, db_snapshot, tmp_path: Path
):
    path = stix_bundles.write(stix_bundles.nothing_to_import(), tmp_path / "places.json")
    before = db_snapshot(env_db)
    result = cli("import", path, "--as", "alice", "--json")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert line.startswith("error: STIX bundle places.json: objects: nothing to import"), line
    assert "location--" in line and "not evidence" in line and result.stdout == ""
    assert db_snapshot(env_db) == before


def test_claims_import_says_what_it_left_out(rt: Runtime, cli, env_db: str, tmp_path: Path):
    o = stix_bundles.feed()
    result = cli("import", stix_bundles.write(o.bundle, tmp_path / "feed.json"), "--as", "alice")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{o.report.id}: 1 cases, 3 sources, 3 claims, 4 evidence",
        "left out 9 STIX objects: 2 opinion, 1 identity, 1 indicator, 1 ipv4-addr, 1 location, 1 marking-definition, "
        "1 note, 1 x-acme-widget (--json says why)",
    ]


def test_claims_import_json_lists_the_left_out_in_a_real_process(rt: Runtime, tmp_path: Path, own_config_dir: Path):
    o = stix_bundles.feed()
    path = stix_bundles.write(o.bundle, tmp_path / "feed.json")
    done = subprocess.run(
        [sys.executable, "-m", "claims.cli", "import", str(path), "--as", "alice", "--json"],
        env=env_for(rt.database_url, CLAIMS_CONFIG_DIR=str(own_config_dir)), cwd=tmp_path, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"case", "created", "left_out"}
    assert data["created"]["claims"] == 3
    assert all(set(x) == {"type", "id", "why"} for x in data["left_out"])
    assert {x["type"] for x in data["left_out"]} >= {"location", "marking-definition", "x-acme-widget", "opinion"}
    assert left_out(data["left_out"])[o.neutral.id] == "opinion: 'neutral' neither supports nor contradicts"


def test_a_case_file_and_our_own_bundle_leave_nothing_out(demo: Runtime, cli, env_db: str, tmp_path: Path):
    path = tmp_path / "ours.json"
    path.write_text(export_text(demo, "eu-drones-2024", "stix"), encoding="utf-8")
    ours = cli("import", path, "--as", "alice", "--json")
    assert ours.exit_code == 0, ours.output
    assert json.loads(ours.stdout)["left_out"] == [] and set(json.loads(ours.stdout)["created"].values()) == {0}
    assert "left out" not in cli("import", path, "--as", "alice").stdout


@pytest.mark.parametrize(
    ("confidence", "credibility"),
    [(None, 6), (0, 5), (19, 5), (20, 4), (39, 4), (40, 3), (59, 3), (60, 2), (79, 2), (80, 1), (100, 1)],
)
def test_confidence_maps_to_credibility_by_the_stix_appendix(confidence: int | None, credibility: int):
    author = stix2.Identity(name="Cyber Lab", identity_class="organization")
    tool = stix2.Tool(name="mimikatz")
    opinion = stix2.Opinion(opinion="agree", object_refs=[tool.id], created_by_ref=author.id, confidence=confidence)
    shaped, _ = read_bundle(json.loads(stix2.Bundle(author, tool, opinion).serialize()))
    (claim,) = shaped["claims"]
    assert [e["credibility"] for e in claim["evidence"]] == [credibility]
    assert shaped["sources"][0]["reliability"] == "F"  # no label, no x_opencti_reliability: cannot be judged


def test_newest_version_is_read_and_older_ones_listed():
    tool = stix2.Tool(name="mimikatz", description="old words")
    newer = tool.new_version(description="new words")
    shaped, left = read_bundle(json.loads(stix2.Bundle(tool, newer, allow_custom=True).serialize()))
    assert [c["statement"] for c in shaped["claims"]] == ["tool 'mimikatz': new words"]
    assert [x.why.split(";")[0] for x in left] == [f"an older version (modified {tool.modified})"]


def test_a_revoked_claim_and_a_stix_2_0_object_are_left_out():
    gone = stix2.Tool(name="gone").new_version(revoked=True)
    kept = stix2.Tool(name="kept")
    old = {"type": "tool", "id": "tool--0b9f2f34-5a7e-4d0c-9a2b-6f1c3e8d4a99", "created": stix_bundles.T,
           "modified": stix_bundles.T, "name": "2.0 tool", "labels": ["remote-access"]}  # fmt: skip
    data = json.loads(stix2.Bundle(gone, kept, allow_custom=True).serialize())
    data["objects"].append(old)
    shaped, left = read_bundle(data)
    assert [c["key"] for c in shaped["claims"]] == [kept.id]
    assert {x.id: x.why for x in left} == {
        gone.id: "revoked by its producer",
        old["id"]: "spec_version: None: only STIX 2.1 is read",
    }


def test_a_hostile_type_or_id_is_listed_as_text_not_obeyed():
    """Issue 21.11 (stored text is shown, never obeyed): a custom object's type and id are the bundle's own words."""
    tool = stix2.Tool(name="kept")
    data = json.loads(stix2.Bundle(tool).serialize())
    data["objects"].append({"type": "x-\x1b[2Jevil", "id": "x-evil--1\nsecond line\x9b31m"})
    _, left = read_bundle(data)
    (item,) = left
    assert item.type == "x-\\x1b[2Jevil" and item.id == "x-evil--1\\x0asecond line\\x9b31m"
    assert "\n" not in item.why and "\x1b" not in item.why


def test_a_second_report_holding_a_claim_of_another_case_is_refused_in_one_line(
    rt: Runtime, cli, env_db: str, db_snapshot, tmp_path: Path
):
    """Claim keys are global (the README says so): the shared indicator names the case it belongs to."""
    shared = stix2.Tool(name="mimikatz")
    first = stix2.Bundle(stix2.Report(name="one", published=stix_bundles.T, object_refs=[shared.id]), shared)
    second = stix2.Bundle(stix2.Report(name="two", published=stix_bundles.T, object_refs=[shared.id]), shared)
    assert cli("import", stix_bundles.write(first, tmp_path / "one.json"), "--as", "alice").exit_code == 0
    before = db_snapshot(env_db)
    refused = cli("import", stix_bundles.write(second, tmp_path / "two.json"), "--as", "alice")
    assert refused.exit_code == 1
    assert f"claims[0].key: '{shared.id}' already belongs to case '{first.objects[0].id}'" in error_line(refused)
    assert db_snapshot(env_db) == before
