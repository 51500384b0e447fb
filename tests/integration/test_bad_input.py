"""Bad input (issue 2, item 8): a non-zero exit with its specific code, exactly one line on stderr
naming the field and the offending value, and the database unchanged.

Exit codes (claims/cli.py): 1 rule or input, 3 not found, 4 permission denied.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from identity_helpers import as_user, system_identity
from integration_helpers import empty_postgres, error_line
from typer.testing import CliRunner

from claims import services
from claims.cli import app
from claims.demo import DEMO_CASE, DEMO_USERS
from claims.domain import Stage
from claims.domain.errors import DomainError
from claims.services import Runtime
from claims.services.errors import ConcurrencyConflict, InvalidInput, NotFound, PermissionDenied
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
    services.import_case(rt, as_user(rt, "alice"), services.read_case_file(DEMO_CASE))
    services.assess_claims(rt, system_identity(), services.open_claim_keys(rt))
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
    # issue 21, point 11: a 5,000-digit credibility (a 63-line traceback before), evidence observed in 2100
    ("credibility-5000-digits", [*ADD, "--credibility", "9" * 5000, "--as", "alice"], 1,
     ["credibility: '99999", "(5,000 characters) is not a credibility 1-6"]),
    ("observed-in-2100", [*ADD, "--credibility", "2", "--observed-at", "2100-01-01", "--as", "alice"], 1,
     ["observed_at: '2100-01-01' is in the future"]),
    # issue 21, point 5: a second spelling of an existing person
    ("user-name-folds-to-bob", ["user", "add", "BOB", "--role", "reviewer", "--as", "admin"], 1,
     ["name: 'BOB' is the existing user 'bob'"]),
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


# --- issue 9, point 6: the corpus kept as data (tests/badinput/cases.yaml) ------------------------

BADINPUT = Path(__file__).resolve().parent.parent / "badinput"
CORPUS = yaml.safe_load((BADINPUT / "cases.yaml").read_text(encoding="utf-8"))


def test_every_corpus_file_is_indexed():
    """A file dropped into tests/badinput/ without an index entry would silently never run."""
    assert sorted(p.name for p in BADINPUT.iterdir() if p.name != "cases.yaml") == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_case_file(cli, demo_db: str, db_snapshot, name: str):
    expected = CORPUS[name]
    before = db_snapshot(demo_db)
    result = cli("import", BADINPUT / name, "--as", "alice")
    assert result.exit_code == expected["code"], result.output
    line = error_line(result)
    assert name in line  # which file
    for part in expected["names"]:
        assert part in line, line
    assert db_snapshot(demo_db) == before


MORE_COMMANDS = [
    # (id, arguments, exit code, what the one line must name; exit 2 is click's usage message)
    ("grade-empty", [*ADD, "--grade", "", "--as", "alice"], 1, ["grade: '' is not a grade"]),
    ("grade-z9-lower", [*ADD, "--grade", "z9", "--as", "alice"], 1, ["grade: 'z9' is not a grade"]),
    ("credibility-0", [*ADD, "--credibility", "0", "--as", "alice"], 1, ["credibility: '0' is not a credibility 1-6"]),
    ("credibility-7", [*ADD, "--credibility", "7", "--as", "alice"], 1, ["credibility: '7' is not a credibility 1-6"]),
    ("credibility-word", [*ADD, "--credibility", "two", "--as", "alice"], 1, ["credibility: 'two'"]),
    ("grade-and-credibility", [*ADD, "--grade", "B2", "--credibility", "2", "--as", "alice"], 1,
     ["credibility: give either"]),
    ("summary-empty", [*ADD[:8], "--summary", "", "--credibility", "2", "--as", "alice"], 1,
     ["summary: evidence needs a summary"]),
    ("summary-whitespace", [*ADD[:8], "--summary", "  \t ", "--credibility", "2", "--as", "alice"], 1,
     ["summary: evidence needs a summary"]),
    ("observed-at-word", [*ADD, "--credibility", "2", "--observed-at", "yesterday", "--as", "alice"], 1,
     ["observed_at: 'yesterday'"]),
    ("retract-empty-reason", ["evidence", "retract", "1", "--reason", "", "--as", "alice"], 1,
     ["reason: a retraction needs a reason"]),
    ("retract-nul-reason", ["evidence", "retract", "1", "--reason", "a\x00", "--as", "alice"], 1, ["reason", "NUL"]),
    ("retract-negative-id", ["evidence", "retract", "-1", "--reason", "x", "--as", "alice"], 2, []),
    ("marking-unknown", [*ADD, "--credibility", "2", "--marking", "PURPLE", "--as", "alice"], 2,
     ["marking: 'PURPLE' is not a marking"]),
    ("caveat-control", [*ADD, "--credibility", "2", "--caveat", "NO\x1b[31m", "--as", "alice"], 1,
     ["caveat: 'NO\\x1b[31m' is not a handling caveat"]),
    ("advance-empty-stage", ["advance", "factory-exists", "--to", "", "--as", "alice"], 1, ["stage: unknown stage ''"]),
    ("advance-shouted-stage", ["advance", "factory-exists", "--to", "CONFIRMED!", "--as", "alice"], 1,
     ["stage: unknown stage 'CONFIRMED!'"]),
    ("advance-unknown-claim", ["advance", "nope", "--to", "confirmed", "--as", "alice"], 3,
     ["claim: unknown claim 'nope'"]),
    ("reopen-unknown-stage", ["reopen", "factory-exists", "--to", "bogus", "--rationale", "x", "--as", "bob"], 1,
     ["stage: unknown stage 'bogus'"]),
    ("reopen-blank-rationale", ["reopen", "factory-exists", "--to", "reported", "--rationale", "  ", "--as", "bob"], 1,
     ["rationale: a reopen needs a rationale"]),
    ("reject-empty-rationale", ["review", "reject", "1", "--rationale", "", "--as", "bob"], 1,
     ["rationale: rejecting a review needs a rationale"]),
    ("reject-nul-rationale", ["review", "reject", "1", "--rationale", "no\x00", "--as", "bob"], 1,
     ["rationale", "NUL"]),
    ("approve-review-0", ["review", "approve", "0", "--as", "bob"], 3, ["review: unknown review #0"]),
    ("user-name-leading-space", ["user", "add", " bob", "--role", "analyst", "--as", "admin"], 1,
     ["name: ' bob' is not a valid user name"]),
    ("user-name-empty", ["user", "add", "", "--role", "analyst", "--as", "admin"], 1, ["name: '' is not a valid"]),
    ("list-limit-negative", ["list", "--limit", "-1"], 2, []),
    ("list-format-bogus", ["list", "--format", "bogus"], 2, []),
    ("export-format-bogus", ["export", "--format", "bogus"], 2, ["format: 'bogus' is not one of"]),
    ("import-root-folder", ["import", "/", "--as", "alice"], 1, ["cannot read '/'", "Is a directory"]),
    ("show-empty-key", ["show", ""], 3, ["claim: unknown claim ''"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "names"), [c[1:] for c in MORE_COMMANDS], ids=[c[0] for c in MORE_COMMANDS])
def test_more_bad_arguments(cli, demo_db: str, db_snapshot, args: list[str], code: int, names: list[str]):
    before = db_snapshot(demo_db)
    result = cli(*args)
    assert result.exit_code == code, result.output
    if names:
        line = error_line(result)
        for part in names:
            assert part in line, line
    else:  # click's usage message: a few lines, never a traceback
        assert "Traceback" not in result.output
    assert db_snapshot(demo_db) == before


# --- dashboard form values: the service calls the pages make (dashboard/views), signed-in user ----


def _version(rt: Runtime, key: str) -> int:
    return services.claim_detail(rt, key)["version"]


def _add(**overrides: object) -> Callable[[Runtime], object]:
    """The claim page's "Add evidence" form, as it calls add_evidence (alice signed in)."""
    form: dict[str, object] = {
        "claim_key": "factory-exists",
        "source_key": "us-treasury",
        "stance": "supports",
        "credibility": 2,
        "summary": "x",
        "locator": None,
        "observed_at": None,
    }
    form.update(overrides)
    return lambda rt: services.add_evidence(
        rt,
        as_user(rt, "alice"),
        form["claim_key"],
        form["source_key"],
        form["stance"],
        credibility=form["credibility"],
        summary=form["summary"],
        locator=form["locator"],
        observed_at=form["observed_at"],
    )


FORMS = [
    # (id, the page's call, exception, what the one-line message must name)
    ("add-empty-summary", _add(summary=""), InvalidInput, ["summary: evidence needs a summary"]),
    ("add-whitespace-summary", _add(summary=" \n\t"), InvalidInput, ["summary: evidence needs a summary"]),
    ("add-nul-summary", _add(summary="a\x00b"), InvalidInput, ["summary: 'a\\x00b'", "NUL"]),
    ("add-nul-locator", _add(locator="p.\x00"), InvalidInput, ["locator: 'p.\\x00'", "NUL"]),
    ("add-unknown-source", _add(source_key="nobody"), NotFound, ["source: unknown source 'nobody'"]),
    ("add-unknown-claim", _add(claim_key="ghost"), NotFound, ["claim: unknown claim 'ghost'"]),
    ("add-credibility-0", _add(credibility=0), DomainError, ["credibility: 0 is not a credibility 1-6"]),
    ("add-credibility-7", _add(credibility=7), DomainError, ["credibility: 7 is not a credibility 1-6"]),
    ("add-stance-neutral", _add(stance="neutral"), DomainError, ["stance: unknown stance 'neutral'"]),
    ("retract-empty-reason", lambda rt: services.retract_evidence(rt, as_user(rt, "alice"), 1, ""), InvalidInput,
     ["reason: a retraction needs a reason"]),
    ("retract-whitespace-reason", lambda rt: services.retract_evidence(rt, as_user(rt, "alice"), 1, "  \n"),
     InvalidInput, ["reason: a retraction needs a reason"]),
    ("retract-nul-reason", lambda rt: services.retract_evidence(rt, as_user(rt, "alice"), 1, "dup\x00"),
     InvalidInput, ["reason: 'dup\\x00'", "NUL"]),
    ("retract-unknown-item", lambda rt: services.retract_evidence(rt, as_user(rt, "alice"), 99999, "x"),
     NotFound, ["evidence: unknown evidence id 99999"]),
    ("request-nul-reason", lambda rt: services.advance(
        rt, as_user(rt, "alice"), "factory-exists", Stage.CONFIRMED, expect_version=_version(rt, "factory-exists"),
        reason="w\x00"),
     InvalidInput, ["reason: 'w\\x00'", "NUL"]),
    ("request-stale-page", lambda rt: services.advance(
        rt, as_user(rt, "alice"), "factory-exists", Stage.CONFIRMED, expect_version=_version(rt, "factory-exists") - 1),
     ConcurrencyConflict, ["version: claim 'factory-exists' is at version"]),
    ("request-by-manager", lambda rt: services.advance(rt, as_user(rt, "mia"), "factory-exists", Stage.CONFIRMED),
     PermissionDenied, ["user: 'mia' has role manager"]),
    ("reopen-empty-rationale", lambda rt: services.reopen(rt, as_user(rt, "bob"), "factory-exists", Stage.REPORTED, ""),
     InvalidInput, ["rationale: a reopen needs a rationale"]),
    ("reopen-whitespace-rationale",
     lambda rt: services.reopen(rt, as_user(rt, "bob"), "factory-exists", Stage.REPORTED, " \t"),
     InvalidInput, ["rationale: a reopen needs a rationale"]),
    ("reopen-nul-rationale",
     lambda rt: services.reopen(rt, as_user(rt, "bob"), "factory-exists", Stage.REPORTED, "r\x00"),
     InvalidInput, ["rationale: 'r\\x00'", "NUL"]),
    ("reopen-not-final", lambda rt: services.reopen(
        rt, as_user(rt, "bob"), "lethal-production", Stage.REPORTED, "why",
        expect_version=_version(rt, "lethal-production")),
     DomainError, ["stage: reported -> reported"]),
    ("approve-nul-rationale", lambda rt: services.approve(rt, as_user(rt, "bob"), 1, "ok\x00"), InvalidInput,
     ["rationale: 'ok\\x00'", "NUL"]),
    ("approve-by-analyst", lambda rt: services.approve(rt, as_user(rt, "alice"), 1, None), PermissionDenied,
     ["user: 'alice' has role analyst"]),
    ("approve-unknown-review", lambda rt: services.approve(rt, as_user(rt, "bob"), 99999, None), NotFound,
     ["review: unknown review #99999"]),
    ("reject-empty-rationale", lambda rt: services.reject(rt, as_user(rt, "bob"), 1, ""), InvalidInput,
     ["rationale: rejecting a review needs a rationale"]),
    ("reject-whitespace-rationale", lambda rt: services.reject(rt, as_user(rt, "bob"), 1, "\n \n"), InvalidInput,
     ["rationale: rejecting a review needs a rationale"]),
    ("reject-nul-rationale", lambda rt: services.reject(rt, as_user(rt, "bob"), 1, "no\x00"), InvalidInput,
     ["rationale: 'no\\x00'", "NUL"]),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "names"), [c[1:] for c in FORMS], ids=[c[0] for c in FORMS])
def test_bad_dashboard_form_value(demo_db: str, db_snapshot, call, error: type[DomainError], names: list[str]):
    """The pages show a refusal's message as it is (ui.refusal): it must be one line naming field and value."""
    rt = Runtime(demo_db)
    for name in ("alice", "bob", "mia"):
        as_user(rt, name)  # proven before the snapshot: a sign-in is not what the form wrote
    before = db_snapshot(demo_db)
    with pytest.raises(error) as raised:
        call(rt)
    message = str(raised.value)
    assert "\n" not in message, message
    for part in names:
        assert part in message, message
    assert db_snapshot(demo_db) == before


# --- hypothesis: generated case files, valid and mutated -------------------------------------------

_text = st.text(min_size=1, max_size=6).filter(lambda t: t.strip() and "\x00" not in t)


@st.composite
def _valid_case(draw: st.DrawFn) -> dict[str, object]:
    """A case file the importer must accept: unique keys, lineage pointing backwards, known sources."""
    keys = draw(st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=1, max_size=3, unique=True))
    sources = []
    for i, key in enumerate(keys):
        source = {"key": key, "name": draw(_text), "kind": draw(st.sampled_from(["media", "official", "osint"]))}
        source["reliability"] = draw(st.sampled_from("ABCDEF"))
        if i and draw(st.booleans()):
            source["derived_from"] = keys[draw(st.integers(0, i - 1))]
        sources.append(source)
    evidence = st.fixed_dictionaries(
        {
            "source": st.sampled_from(keys),
            "stance": st.sampled_from(["supports", "contradicts"]),
            "credibility": st.integers(1, 6),
            "summary": _text,
        },
        optional={"observed_at": st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 1, 1)).map(str)},
    )
    claim_keys = draw(st.lists(st.sampled_from(["c1", "c2", "c3"]), max_size=3, unique=True))
    claims = [
        {"key": k, "statement": draw(_text), "evidence": draw(st.lists(evidence, max_size=3))} for k in claim_keys
    ]
    case = {"key": draw(st.sampled_from(["gen-a", "gen-b"])), "title": draw(_text)}
    return {"case": case, "sources": sources, "claims": claims}


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    _text,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["key", "x", "evidence"]), st.integers(), max_size=2),
)


def _mutate(data: st.DataObject, value: object) -> object:
    """Replace one value somewhere in the tree (or delete a key) with something of the wrong shape."""
    children = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    if not children or data.draw(st.integers(0, 3)) == 0:
        return data.draw(_junk)
    key, child = data.draw(st.sampled_from(children))
    copy = dict(value) if isinstance(value, dict) else list(value)
    if isinstance(copy, dict) and data.draw(st.booleans()):
        del copy[key]
    else:
        copy[key] = _mutate(data, child)
    return copy


def test_generated_case_files(cli, demo_db: str, db_snapshot, tmp_path: Path):
    """Either the import succeeds and a second one changes nothing, or it fails with exit 1, exactly one
    stderr line and every table as before; never a traceback (the CLI runs with catch_exceptions=False)."""
    outcomes = {"imported": 0, "refused": 0}

    @settings(
        max_examples=40 if demo_db.startswith("sqlite") else 8,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(_valid_case())
        if data.draw(st.booleans()):
            case = _mutate(data, case)
        as_json = data.draw(st.booleans())
        path = tmp_path / ("generated.json" if as_json else "generated.yaml")
        path.write_text(json.dumps(case) if as_json else yaml.safe_dump(case, allow_unicode=True), encoding="utf-8")
        before = db_snapshot(demo_db)
        result = cli("import", path, "--as", "alice")
        if result.exit_code == 0:
            outcomes["imported"] += 1
            after = db_snapshot(demo_db)
            again = cli("import", path, "--as", "alice")
            assert again.exit_code == 0, again.output
            assert db_snapshot(demo_db) == after, "a second import of the same file changed the database"
        else:
            outcomes["refused"] += 1
            assert result.exit_code == 1, result.output
            line = error_line(result)
            assert path.name in line, line
            assert db_snapshot(demo_db) == before

    run()
    assert outcomes["refused"] > 0 and outcomes["imported"] > 0  # both branches are reached


REPORT_FILES = [
    # (id, file name, content (bytes or a callable writing the file), what the one line must name) - issue 17
    ("empty-report", "empty.txt", b"  \n\n ", ["'empty.txt' is empty"]),
    ("binary-as-txt", "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01", ["'photo.txt' holds NUL bytes"]),
    ("not-utf8-txt", "latin.txt", b"Caf\xe9 cr\xe8me", ["'latin.txt' is not UTF-8"]),
    ("not-a-pdf", "report.pdf", b"<html>not a PDF</html>", ["'report.pdf' is named as a PDF"]),
    ("broken-pdf", "cut.pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", ["'cut.pdf' is not a readable PDF"]),
    ("html-without-text", "blank.html", b"<html><body></body></html>", ["'blank.html' is empty"]),
    ("unknown-type", "report.docx", b"PK\x03\x04", ["'report.docx' is not a report type"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "names"), [c[1:] for c in REPORT_FILES], ids=[c[0] for c in REPORT_FILES])
def test_bad_report_file(cli, demo_db: str, db_snapshot, tmp_path: Path, name: str, content: bytes, names: list[str]):
    before = db_snapshot(demo_db)
    path = tmp_path / name
    path.write_bytes(content)
    result = cli("report", "add", path, "--case", "eu-drones-2024", "--as", "alice")
    assert result.exit_code == 1, result.stderr
    line = error_line(result)
    for part in names:
        assert part in line, line
    assert db_snapshot(demo_db) == before


def test_report_over_the_size_limit_is_refused_before_it_is_read(
    cli, demo_db: str, db_snapshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A 50 MB file (sparse: no 50 MB written) is refused from its size; reading it would fail this test."""
    before = db_snapshot(demo_db)
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(50 * 1024 * 1024)

    def no_read(self: Path) -> bytes:
        raise AssertionError("the oversized file was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    result = cli("report", "add", path, "--case", "eu-drones-2024", "--as", "alice")
    assert result.exit_code == 1, result.stderr
    line = error_line(result)
    assert "'huge.txt' is 50.0 MiB, over the 20 MiB limit" in line, line
    assert db_snapshot(demo_db) == before
