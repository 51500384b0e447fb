"""Bad input (issue 2, item 8): a non-zero exit with its specific code, exactly one line on stderr
naming the field and the offending value, and the database unchanged.

Exit codes (claims/cli.py): 1 rule or input, 3 not found, 4 permission denied.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from integration_helpers import empty_postgres, error_line
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.demo import DEMO_CASE, DEMO_USERS
from claims.services import Runtime
from claims.settings import get_settings

DEMO_TEXT = DEMO_CASE.read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_db(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One EU drones database per backend for the whole module: every test here proves it left
    the database unchanged, so they can share it (and the suite stays fast)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("bad-input") / "claims.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        empty_postgres(url)
    rt = Runtime(url)
    services.ensure_users(rt, DEMO_USERS)
    services.import_case(rt, "alice", services.read_case_file(DEMO_CASE))
    services.assess_claims(rt, "system", services.open_claim_keys(rt))
    return url


@pytest.fixture
def cli(
    demo_db: str, point_settings_at: Callable[[str], None], signed_in: Callable[..., None]
) -> Callable[..., Result]:
    point_settings_at(demo_db)
    signed_in(Runtime(demo_db))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def edit(old: str, new: str) -> Callable[[], str]:
    """The demo file with its first `old` replaced (the test fails if `old` is not there)."""

    def make() -> str:
        assert old in DEMO_TEXT, old
        return DEMO_TEXT.replace(old, new, 1)

    return make


CASE_FILES = [
    # (id, file name, content, what the one line must name)
    ("bad-yaml", "broken.yaml", lambda: "case: {key: x\n  - nope: [", ["broken.yaml' is not valid YAML"]),
    ("not-a-mapping", "list.json", lambda: "[1, 2]", ["case file list.json", "expected a mapping"]),
    (
        "reliability-Z",
        "z.yaml",
        edit("reliability: D ", "reliability: Z "),
        ["sources[5].reliability: 'Z' is not a reliability A-F"],
    ),
    (
        "credibility-9",
        "c9.yaml",
        edit("credibility: 4", "credibility: 9"),
        ["claims[0].evidence[3].credibility: 9 is not a credibility 1-6"],
    ),
    (
        "stance-5",
        "s5.yaml",
        edit("stance: contradicts", "stance: 5"),
        ["claims[0].evidence[3].stance: unknown stance 5 "],
    ),
    (
        "unknown-evidence-source",
        "src.yaml",
        edit("source: eeas-intel", "source: nobody"),
        ["claims[0].evidence[1].source: unknown source 'nobody'"],
    ),
    (
        "unknown-derived-from",
        "der.yaml",
        edit("derived_from: eeas-intel", "derived_from: rumours"),
        ["sources[3].derived_from: unknown source 'rumours'"],
    ),
    (
        "lineage-cycle",
        "cycle.yaml",
        edit(
            "    reliability: B\n  - key: reuters-documents",
            "    reliability: B\n    derived_from: reuters-documents\n  - key: reuters-documents",
        ),
        ["derived_from", "reuters -> reuters-documents -> reuters"],
    ),
    (
        "required-stage",
        "stage.yaml",
        edit("{claim: factory-exists, stage: corroborated}", "{claim: factory-exists, stage: approved}"),
        ["policy_actions[0].requires[0].stage", "'approved'"],
    ),
    (
        "review-approved-by-its-requester",
        "rev.yaml",
        edit(
            "    evidence:\n      - source: eu-council",
            "    reviews:\n      - {from_stage: corroborated, to_stage: confirmed, status: approved,"
            " requested_by: alice, requested_at: 2023-02-20T09:00:00Z, policy_version: v1, decided_by: alice,"
            " decided_at: 2023-02-24T16:00:00Z}\n    evidence:\n      - source: eu-council",
        ),
        ["claims[4].reviews[0]", "decided_by 'alice' requested the review (four eyes)"],
    ),
    (
        "required-claim",
        "req.yaml",
        edit("{claim: factory-exists, stage: corroborated}", "{claim: ghost, stage: corroborated}"),
        ["policy_actions[0].requires[0].claim: unknown claim 'ghost'"],
    ),
]


@pytest.mark.parametrize(("name", "content", "names"), [c[1:] for c in CASE_FILES], ids=[c[0] for c in CASE_FILES])
def test_malformed_case_file(cli, demo_db: str, db_snapshot, tmp_path: Path, name, content, names):
    """The demo is already imported, so an import that slipped through would find an existing case."""
    path = tmp_path / name
    path.write_text(content(), encoding="utf-8")
    before = db_snapshot(demo_db)
    result = cli("import", path, "--as", "alice")
    assert result.exit_code == 1
    line = error_line(result)
    assert name in line  # which file, whether the problem was found reading it or importing it
    for part in names:
        assert part in line
    assert db_snapshot(demo_db) == before


ADD = [
    "evidence",
    "add",
    "--claim",
    "factory-exists",
    "--source",
    "us-treasury",
    "--stance",
    "supports",
    "--summary",
    "x",
]

COMMANDS = [
    # (id, arguments, exit code, what the one line must name)
    ("unknown-claim-show", ["show", "nope"], 3, ["claim: unknown claim 'nope'"]),
    ("unknown-claim-evidence", [*ADD[:2], "--claim", "nope", *ADD[4:], "--credibility", "2", "--as", "alice"], 3,
     ["claim: unknown claim 'nope'"]),
    ("unknown-source", [*ADD[:4], "--source", "nobody", *ADD[6:], "--credibility", "2", "--as", "alice"], 3,
     ["source: unknown source 'nobody'"]),
    ("grade-Z9", [*ADD, "--grade", "Z9", "--as", "alice"], 1, ["grade: 'Z9' is not a grade"]),
    ("grade-B7", [*ADD, "--grade", "B7", "--as", "alice"], 1, ["grade: 'B7' is not a grade"]),
    ("credibility-9", [*ADD, "--credibility", "9", "--as", "alice"], 1, ["credibility: '9' is not a credibility"]),
    ("stance", [*ADD[:6], "--stance", "maybe", *ADD[8:], "--credibility", "2", "--as", "alice"], 1,
     ["stance: unknown stance 'maybe'"]),
    ("observed-at", [*ADD, "--credibility", "2", "--observed-at", "2024-13-01", "--as", "alice"], 1,
     ["observed_at: '2024-13-01'"]),
    ("reported-to-confirmed", ["advance", "lethal-production", "--to", "confirmed", "--as", "alice"], 1,
     ["stage: reported -> confirmed is not allowed"]),
    ("unknown-stage", ["advance", "lethal-production", "--to", "approved", "--as", "alice"], 1,
     ["stage: unknown stage 'approved'"]),
    ("not-a-reopen", ["reopen", "lethal-production", "--to", "reported", "--rationale", "why", "--as", "bob"], 1,
     ["stage: reported -> reported"]),
    ("not-signed-in-as", ["advance", "factory-exists", "--to", "confirmed", "--as", "zed"], 4,
     ["not signed in as zed: run claims login zed"]),
    ("manager-adds-evidence", [*ADD, "--credibility", "2", "--as", "mia"], 4,
     ["user: 'mia' has role manager, which may not add evidence"]),
    ("analyst-approves", ["review", "approve", "1", "--as", "alice"], 4, ["user: 'alice' has role analyst"]),
    ("manager-approves", ["review", "approve", "1", "--as", "mia"], 4, ["user: 'mia' has role manager"]),
    ("unknown-review", ["review", "approve", "999", "--as", "bob"], 3, ["review: unknown review #999"]),
    ("unknown-evidence", ["evidence", "retract", "999", "--reason", "x", "--as", "alice"], 3,
     ["evidence: unknown evidence id 999"]),
    ("unknown-case-export", ["export", "--case", "nope"], 3, ["case: unknown case 'nope'"]),
    ("unknown-case-readiness", ["readiness", "--case", "nope"], 3, ["case: unknown case 'nope'"]),
    ("unknown-role", ["user", "add", "eve", "--role", "boss", "--as", "admin"], 1, ["role: 'boss'"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "names"), [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_bad_command(cli, demo_db: str, db_snapshot, args: list[str], code: int, names: list[str]):
    before = db_snapshot(demo_db)
    result = cli(*args)
    assert result.exit_code == code, result.stderr
    line = error_line(result)
    for part in names:
        assert part in line
    assert db_snapshot(demo_db) == before


# --- issue 9, point 5/6: inputs that once crashed with a traceback --------------------------------

LONG = "x" * 81
RAW_FILES = [
    # (id, file name, bytes, what the one line must name)
    ("observed-at-13-45", "d.yaml", lambda: edit("observed_at: 2024-", "observed_at: 2024-13-45 #")().encode(),
     ["observed_at: '2024-13-45'"]),
    ("invalid-utf8", "u.yaml", lambda: b"case: {key: \"\xff\xfe\"}\n", ["not UTF-8", "0xff"]),
    ("invalid-utf8-json", "u.json", lambda: b"{\"case\": \"\xc3\x28\"}", ["not UTF-8", "0xc3"]),
    ("yaml-nested-20000", "n.yaml", lambda: ("a: " + "[" * 20000 + "]" * 20000).encode(), ["nested too deeply"]),
    ("json-nested-20000", "n.json", lambda: ('{"a": ' + "[" * 20000 + "]" * 20000 + "}").encode(),
     ["nested too deeply"]),
    ("yaml-duplicate-key", "dup.yaml", lambda: edit("case:\n", "case:\n  key: other\n")().encode(),
     ["duplicate key 'key'"]),
    ("yaml-duplicate-top-key", "dup2.yaml", lambda: (DEMO_TEXT + "\ncase: {key: x, title: y}\n").encode(),
     ["duplicate key 'case'"]),
    ("json-duplicate-key", "dup.json", lambda: b'{"case": {"key": "a", "key": "b", "title": "t"}}',
     ["duplicate key 'key'"]),
    ("nul-in-statement", "nul.yaml", lambda: edit("statement: ", 'statement: "a\\0b" #')().encode(),
     ["claims[0].statement", "NUL"]),
    ("nul-in-summary", "nul2.json", lambda: b'{"case": {"key": "a", "title": "t\\u0000"}}', ["case.title", "NUL"]),
    ("claim-key-121", "long.yaml", lambda: edit("- key: factory-exists", "- key: " + "k" * 121)().encode(),
     ["claims[0].key"]),
    ("review-by-81", "rb.yaml", lambda: edit(
        "    evidence:\n      - source: eu-council",
        "    reviews:\n      - {from_stage: corroborated, to_stage: confirmed, status: pending,"
        f" requested_by: {LONG}, requested_at: 2023-02-20T09:00:00Z, policy_version: v1}}\n"
        "    evidence:\n      - source: eu-council")().encode(), ["requested_by", "80"]),
    ("empty-file", "e.yaml", lambda: b"", ["expected a mapping"]),
    ("only-a-string", "s.json", lambda: b'"case"', ["expected a mapping"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "names"), [c[1:] for c in RAW_FILES], ids=[c[0] for c in RAW_FILES])
def test_case_file_that_once_crashed(cli, demo_db: str, db_snapshot, tmp_path: Path, name, content, names):
    path = tmp_path / name
    path.write_bytes(content())
    before = db_snapshot(demo_db)
    result = cli("import", path, "--as", "alice")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert name in line
    for part in names:
        assert part in line, line
    assert db_snapshot(demo_db) == before


HUGE = "1180591620717411303424"
CRASHED_COMMANDS = [
    ("huge-review-approve", ["review", "approve", HUGE, "--as", "bob"], 3, [f"review: unknown review #{HUGE}"]),
    ("huge-review-reject", ["review", "reject", HUGE, "--rationale", "x", "--as", "bob"], 3, [f"#{HUGE}"]),
    ("huge-evidence-retract", ["evidence", "retract", HUGE, "--reason", "x", "--as", "alice"], 3,
     [f"evidence: unknown evidence id {HUGE}"]),
    ("negative-review", ["review", "approve", "-5", "--as", "bob"], 2, []),
    ("zero-evidence", ["evidence", "retract", "0", "--reason", "x", "--as", "alice"], 3, ["evidence id 0"]),
    ("review-not-a-number", ["review", "approve", "abc", "--as", "bob"], 2, []),
    ("export-into-missing-folder", ["export", "-o", "{tmp}/missing/x.yaml"], 1, ["output:", "No such"]),
    ("export-onto-a-folder", ["export", "-o", "{tmp}"], 1, ["output:", "Is a directory"]),
    ("import-missing-file", ["import", "{tmp}/nope.yaml", "--as", "alice"], 1, ["nope.yaml"]),
    ("import-a-folder", ["import", "{tmp}", "--as", "alice"], 1, ["cannot read"]),
    ("nul-in-summary-arg", [*ADD, "--summary", "a\x00b", "--credibility", "2", "--as", "alice"], 1, ["summary", "NUL"]),
    ("long-locator-ok-but-long-claim", ["show", "k" * 500], 3, ["unknown claim"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "names"), [c[1:] for c in CRASHED_COMMANDS], ids=[c[0] for c in CRASHED_COMMANDS]
)
def test_command_that_once_crashed(cli, demo_db: str, db_snapshot, tmp_path: Path, args, code, names):
    before = db_snapshot(demo_db)
    result = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == code, result.output
    if code == 2:  # usage errors are click's own few lines; no traceback
        assert "Traceback" not in result.output
    else:
        line = error_line(result)
        for part in names:
            assert part in line, line
    assert db_snapshot(demo_db) == before


ENVIRONMENT = [
    ("batch-size-abc", {"CLAIMS_BATCH_SIZE": "abc"}, ["CLAIMS_BATCH_SIZE='abc'"]),
    ("database-url-garbage", {"CLAIMS_DATABASE_URL": "garbage://"}, ["CLAIMS_DATABASE_URL 'garbage://'"]),
    ("database-url-not-a-url", {"CLAIMS_DATABASE_URL": "::::"}, ["CLAIMS_DATABASE_URL '::::'"]),
    ("postgres-port-nobody-listens-on", {"CLAIMS_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"},
     ["127.0.0.1:1"]),
    ("sqlite-in-missing-folder", {"CLAIMS_DATABASE_URL": "sqlite:////nonexistent-dir/x.db"}, ["/nonexistent-dir"]),
]  # fmt: skip


@pytest.mark.parametrize(("env", "names"), [c[1:] for c in ENVIRONMENT], ids=[c[0] for c in ENVIRONMENT])
@pytest.mark.parametrize("command", [["list"], ["show", "factory-exists"], ["import", DEMO_CASE, "--as", "alice"]])
def test_bad_environment_value(cli, demo_db, db_snapshot, monkeypatch, env, names, command):
    before = db_snapshot(demo_db)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        result = cli(*command)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    line = error_line(result)
    for part in names:
        assert part in line, line
    assert db_snapshot(demo_db) == before
