"""The command line contract of docs/design.md section 4: JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from integration_helpers import error_line

from claims import services
from claims.services import Runtime
from claims.settings import get_settings

EVIDENCE_FIELDS = {"grade", "stance", "source", "independent_root", "retracted"}
REQUIREMENT_FIELDS = {"claim", "required_stage", "stage", "met", "gaps"}


def test_show_json_shape(demo: Runtime, cli):
    result = cli("show", "factory-exists", "--json")
    assert result.exit_code == 0, result.stderr
    claim = json.loads(result.stdout)
    assert {"key", "stage", "statement", "evidence", "assessment"} <= claim.keys()
    assert (claim["key"], claim["stage"]) == ("factory-exists", "corroborated")
    for item in claim["evidence"]:
        assert item.keys() >= EVIDENCE_FIELDS
        assert isinstance(item["retracted"], bool)
        assert item["stance"] in {"supports", "contradicts"}
    roots = {e["source"]: e["independent_root"] for e in claim["evidence"]}
    assert roots["diplomats"] == "eeas-intel"
    assert {e["source"]: e["grade"] for e in claim["evidence"]}["china-mfa"] == "D4"
    # Per reachable next stage: met and the list of gaps.
    assert set(claim["assessment"]) == {"confirmed", "refuted"}
    for stage in claim["assessment"].values():
        assert isinstance(stage["met"], bool)
        assert isinstance(stage["gaps"], list) and all(isinstance(g, str) for g in stage["gaps"])


def test_show_json_times_are_utc_on_every_backend(demo: Runtime, cli):
    claim = json.loads(cli("show", "factory-exists", "--json").stdout)
    times = [t for t in claim["stage_times"].values() if t] + [h["at"] for h in claim["history"]]
    assert times
    assert all(t.endswith("+00:00") for t in times), times


def test_readiness_json_shape(demo: Runtime, cli):
    result = cli("readiness", "--json")
    assert result.exit_code == 0, result.stderr
    actions = json.loads(result.stdout)
    assert isinstance(actions, list)
    assert [a["key"] for a in actions] == [a.key for a in services.action_readiness(demo)]
    for action in actions:
        assert {"key", "ready", "requirements"} <= action.keys()
        assert isinstance(action["ready"], bool)
        assert action["ready"] == all(r["met"] for r in action["requirements"])
        for req in action["requirements"]:
            assert req.keys() >= REQUIREMENT_FIELDS


def test_human_output_names_stage_and_gap(demo: Runtime, cli):
    shown = cli("show", "factory-exists")
    assert shown.exit_code == 0
    assert "stage: corroborated" in shown.stdout
    assert "(has 2 of 3)" in shown.stdout


def test_evidence_add_and_retract_through_the_cli(demo: Runtime, cli):
    added = cli(
        "evidence", "add", "--claim", "beijing-aware", "--source", "eu-official", "--stance", "supports",
        "--summary", "Minutes of the demarche", "--grade", "B2", "--observed-at", "2024-12-01",
        "--as", "alice", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    item = json.loads(added.stdout)
    assert (item["claim"], item["grade"]) == ("beijing-aware", "B2")
    retracted = cli("evidence", "retract", item["id"], "--reason", "minutes were a draft", "--as", "alice")
    assert retracted.exit_code == 0, retracted.stderr
    (shown,) = [e for e in services.claim_detail(demo, "beijing-aware")["evidence"] if e["id"] == item["id"]]
    assert (shown["retracted"], shown["retraction_reason"]) == (True, "minutes were a draft")


def test_four_eyes_through_the_cli(demo: Runtime, cli):
    cli("evidence", "add", "--claim", "factory-exists", "--source", "us-treasury", "--stance", "supports",
        "--summary", "OFAC designation", "--credibility", "2", "--as", "alice")  # fmt: skip
    requested = cli("advance", "factory-exists", "--to", "confirmed", "--as", "bob", "--json")
    assert requested.exit_code == 0, requested.stderr
    review = json.loads(requested.stdout)["review"]
    queue = json.loads(cli("review", "list", "--json").stdout)
    assert [(r["id"], r["claim"], r["requested_by"]) for r in queue] == [(review, "factory-exists", "bob")]
    assert queue[0]["gaps"] == ["awaiting sign-off by a reviewer other than bob"]
    assert cli("review", "list").stdout.splitlines() == [
        f"#{review}  factory-exists  corroborated -> confirmed  requested by bob  pending",
        "     awaiting sign-off by a reviewer other than bob",
    ]

    own = cli("review", "approve", review, "--as", "bob")
    assert own.exit_code == 1
    assert "four eyes" in error_line(own)
    approved = cli("review", "approve", review, "--as", "carol", "--rationale", "three lines", "--json")
    assert approved.exit_code == 0, approved.stderr
    assert json.loads(approved.stdout) == {
        "review": review,
        "claim": "factory-exists",
        "status": "approved",
        "stage": "confirmed",
    }
    assert cli("review", "list").stdout == "no review requests\n"
    assert cli("review", "list", "--status", "all").stdout.splitlines()[-1] == "     three lines"
    reopened = cli("reopen", "factory-exists", "--to", "corroborated", "--rationale", "source burned", "--as", "carol")
    assert reopened.exit_code == 0, reopened.stderr
    assert services.claim_detail(demo, "factory-exists")["stage"] == "corroborated"


def test_export_then_import_through_the_cli_is_a_no_op(demo: Runtime, cli, tmp_path: Path):
    path = tmp_path / "case.json"
    exported = cli("export", "--format", "json", "-o", path)
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(path.read_text())["case"]["key"] == "eu-drones-2024"
    again = cli("import", path, "--as", "alice", "--json")
    assert again.exit_code == 0, again.stderr
    assert set(json.loads(again.stdout)["created"].values()) == {0}


def test_user_management_needs_an_admin(rt: Runtime, cli):
    refused = cli("user", "add", "eve", "--role", "reviewer", "--as", "alice")
    assert refused.exit_code == 4
    assert "'alice' has role analyst" in error_line(refused)
    added = cli(
        "user", "add", "eve", "--role", "reviewer", "--as", "admin", "--password-stdin", input="eve-password-1\n"
    )
    assert added.exit_code == 0, added.stderr
    users = {u["name"]: u["role"] for u in json.loads(cli("user", "list", "--json").stdout)}
    assert users["eve"] == "reviewer"


def test_a_deployment_policy_file_changes_the_thresholds_and_is_recorded(
    demo: Runtime, cli, tmp_path: Path, monkeypatch
):
    text = resources.files("claims.policies").joinpath("v1.toml").read_text(encoding="utf-8")
    strict = tmp_path / "strict.toml"
    strict.write_text(text.replace('version = "v1"', 'version = "strict-1"').replace("count = 2", "count = 3", 1))
    monkeypatch.setenv("CLAIMS_POLICY_FILE", str(strict))
    get_settings.cache_clear()
    claim = json.loads(cli("show", "lethal-production", "--json").stdout)
    assert claim["policy_version"] == "strict-1"
    assert claim["assessment"]["corroborated"]["gaps"] == [
        "needs 2 more independent supporting sources graded C3 or better (has 1 of 3)"
    ]

    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n", encoding="utf-8")
    monkeypatch.setenv("CLAIMS_POLICY_FILE", str(broken))
    get_settings.cache_clear()
    result = cli("show", "lethal-production", "--json")
    assert result.exit_code == 1
    assert "policy file: " in error_line(result) and "broken.toml" in error_line(result)


def test_readiness_for_people_puts_each_gap_under_its_claim(demo: Runtime, cli):
    result = cli("readiness")
    assert result.exit_code == 0, result.stderr
    blocks = {block.splitlines()[0].split(":")[0].split()[-1]: block for block in result.stdout.split("\n\n") if block}
    expected = {a["key"]: a for a in json.loads(cli("readiness", "--json").stdout)}
    assert set(blocks) == set(expected)
    for key, action in expected.items():
        lines = blocks[key].splitlines()
        assert lines[0].startswith("READY" if action["ready"] else "NOT READY")
        for req in action["requirements"]:
            (at,) = [i for i, line in enumerate(lines) if line.split()[1:2] == [req["claim"]]]
            assert f"{req['stage']} (needs {req['required_stage']})" in lines[at]
            assert [line.strip() for line in lines[at + 1 : at + 1 + len(req["gaps"])]] == req["gaps"]


def rows_of(result) -> list[dict]:  # type: ignore[no-untyped-def]
    """The claims of `claims list --json`: {"total", "offset", "limit", "claims"}."""
    assert result.exit_code == 0, result.stderr
    page = json.loads(result.stdout)
    assert page.keys() == {"total", "offset", "limit", "claims"}
    return page["claims"]


def test_list_filters_keep_whole_rows(demo: Runtime, cli):
    """A grade or source filter chooses claims; it must not thin out the counts of the claims it keeps."""
    everything = {r["key"]: r for r in rows_of(cli("list", "--json"))}
    details = {key: services.claim_detail(demo, key) for key in everything}
    for option, value, keeps in (
        ("--grade", "B2", lambda e: e["grade"] == "B2" and not e["retracted"]),
        ("--source", "eeas-intel", lambda e: e["source"] == "eeas-intel"),
    ):
        rows = rows_of(cli("list", option, value, "--json"))
        assert {r["key"] for r in rows} == {k for k, d in details.items() if any(keeps(e) for e in d["evidence"])}
        for row in rows:
            assert row == everything[row["key"]], (option, row["key"])
    assert error_line(cli("list", "--grade", "Z9")).startswith("error: grade: 'Z9'")


def test_list_reports_everything_it_matched(demo: Runtime, cli):
    """A page says which rows of how many and how to get the rest; --all gives every row; never a silent cut."""
    page = json.loads(cli("list", "--json").stdout)
    everything = [r["key"] for r in page["claims"]]
    assert (page["total"], page["offset"], page["limit"], len(everything)) == (5, 0, 50, 5)
    full = cli("list")
    assert full.exit_code == 0 and full.stdout.strip().splitlines()[-1] == "5 matching claims"
    part = cli("list", "--limit", "2", "--offset", "1")
    assert part.stdout.strip().splitlines()[-1] == (
        "showing 2-3 of 5 matching claims; --page N / --limit N for others, --all for every row"
    )
    assert cli("list", "--limit", "2", "--page", "2").stdout.strip().splitlines()[-1].startswith("showing 3-4 of 5")
    for option in (["--offset", "1"], ["--page", "2"]):
        got = json.loads(cli("list", "--limit", "2", *option, "--json").stdout)
        start = 1 if option[0] == "--offset" else 2
        assert (got["total"], got["offset"], got["limit"]) == (5, start, 2)
        assert [r["key"] for r in got["claims"]] == everything[start : start + 2]
    every = json.loads(cli("list", "--all", "--limit", "2", "--json").stdout)
    assert (every["total"], every["limit"], [r["key"] for r in every["claims"]]) == (5, None, everything)
    plain = cli("list", "--all").stdout.strip().splitlines()
    assert [line.split()[0] for line in plain[1:-1]] == everything and plain[-1] == "5 matching claims"
    assert json.loads(cli("list", "--page", "9", "--json").stdout)["claims"] == []
    assert error_line(cli("list", "--page", "2", "--offset", "1")) == "error: page: give --page or --offset, not both"
    assert cli("list", "--limit", "-1").exit_code == 2
