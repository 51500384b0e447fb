"""`claims case|source|claim|action ...` (issue 17, section 1): the commands, their exit codes and
one-line errors, in-process and as real `claims` processes."""

from __future__ import annotations

import json
import subprocess
import sys

from identity_helpers import as_user
from integration_helpers import error_line
from process_helpers import ROOT, env_for

from claims.services import Runtime
from claims.services.identity import issue_token_unchecked


def test_authoring_commands_and_exit_codes(rt: Runtime, cli, db_snapshot):
    assert cli("case", "add", "desk", "--title", "Desk").exit_code == 0
    assert (
        cli(
            "source", "add", "reuters", "--case", "desk", "--name", "Reuters", "--kind", "media", "--reliability", "B"
        ).exit_code
        == 0
    )
    made = cli("claim", "add", "A plant in Xinjiang builds drones", "--case", "desk", "--json")
    assert made.exit_code == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    assert key == "a-plant-in-xinjiang-builds-drones"
    assert (
        cli(
            "action", "add", "sanction", "--case", "desk", "--title", "Sanction", "--requires", f"{key}:corroborated"
        ).exit_code
        == 0
    )
    (claim,) = json.loads(cli("claim", "list", "--case", "desk", "--json").stdout)
    assert (claim["version"], claim["withdrawn"]) == (1, False)

    before = db_snapshot(rt.database_url)
    refused = cli("claim", "edit", key, "--expected-version", "1", "--statement", "New words")
    assert refused.exit_code == 1 and error_line(refused).startswith("error: rationale: ")
    stale = cli("claim", "edit", key, "--expected-version", "7", "--statement", "New", "--rationale", "x")
    assert stale.exit_code == 5 and error_line(stale).startswith("error: version: ")
    unknown = cli("claim", "withdraw", "nope", "--expected-version", "1", "--reason", "x")
    assert unknown.exit_code == 3 and "unknown claim 'nope'" in error_line(unknown)
    assert cli("source", "list", "--case", "nope").exit_code == 3
    manager = cli("claim", "add", "Something", "--case", "desk", "--as", "mia")
    assert manager.exit_code == 4 and error_line(manager).startswith("error: user: 'mia' has role manager")
    cycle = cli(
        "source",
        "edit",
        "reuters",
        "--case",
        "desk",
        "--expected-version",
        "1",
        "--derived-from",
        "reuters",
        "--rationale",
        "x",
    )
    assert cycle.exit_code == 1 and "cycle" in error_line(cycle)
    assert db_snapshot(rt.database_url) == before

    assert (
        cli(
            "claim", "edit", key, "--expected-version", "1", "--statement", "New words", "--rationale", "clearer"
        ).exit_code
        == 0
    )
    assert (
        cli(
            "source", "withdraw", "reuters", "--case", "desk", "--expected-version", "1", "--reason", "fabricated"
        ).exit_code
        == 0
    )
    listed = cli("source", "list", "--case", "desk")
    assert listed.exit_code == 0 and "withdrawn" in listed.stdout and "fabricated" in listed.stdout
    assert cli("action", "list", "--case", "desk").exit_code == 0
    assert cli("case", "list", "--as", "mia", "--json").exit_code == 0
    assert cli("audit", "verify").exit_code == 0


def claims_process(url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claims.cli", *args],
        env=env_for(url, CLAIMS_TOKEN=token),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_authoring_end_to_end_in_real_processes(rt: Runtime):
    url = rt.database_url
    alice = issue_token_unchecked(rt, "alice", reason="test").token
    mia = issue_token_unchecked(rt, "mia", reason="test").token
    steps = [
        ("case", "add", "desk", "--title", "Desk"),
        ("source", "add", "afp", "--case", "desk", "--name", "AFP", "--kind", "media", "--reliability", "C"),
        ("claim", "add", "The factory exists", "--case", "desk", "--key", "factory"),
        (
            "evidence",
            "add",
            "--claim",
            "factory",
            "--source",
            "afp",
            "--stance",
            "supports",
            "--credibility",
            "2",
            "--summary",
            "AFP saw it",
            "--locator",
            "https://afp.example/1",
            "--observed-at",
            "2026-11-30",
            "--quote",
            "we saw the plant",
        ),
        (
            "source",
            "edit",
            "afp",
            "--case",
            "desk",
            "--expected-version",
            "1",
            "--reliability",
            "B",
            "--rationale",
            "track record",
        ),
        ("claim", "list", "--case", "desk", "--json"),
    ]
    for step in steps:
        done = claims_process(url, alice, *step)
        assert done.returncode == 0, (step, done.stderr)
    (claim,) = json.loads(done.stdout)
    assert claim["version"] == 3  # reported 1, evidence 2, the re-graded source 3
    refused = claims_process(url, mia, "claim", "withdraw", "factory", "--expected-version", "3", "--reason", "x")
    assert refused.returncode == 4 and len(refused.stderr.strip().splitlines()) == 1
    conflict = claims_process(url, alice, "claim", "withdraw", "factory", "--expected-version", "2", "--reason", "x")
    assert conflict.returncode == 5 and conflict.stderr.startswith("error: version: ")


def test_claims_show_marks_a_withdrawn_claim(rt: Runtime, cli):
    from claims.services import authoring

    authoring.add_case(rt, as_user(rt, "alice"), "desk", "Desk")
    authoring.add_claim(rt, as_user(rt, "alice"), "desk", "First words", key="c")
    authoring.withdraw_claim(rt, as_user(rt, "alice"), "c", "a duplicate", expected_version=1)
    shown = json.loads(cli("show", "c", "--json").stdout)
    assert shown["withdrawn"]["by"] == "alice" and shown["withdrawn"]["reason"] == "a duplicate"
    assert "WITHDRAWN by alice" in cli("show", "c").stdout
