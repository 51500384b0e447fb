"""The JSON fields docs/design.md section 4 lists are the fields the commands print, on both databases.

Issue 19: the design said `readiness --json` carries `at_risk` per requirement; the command never
printed it. These tests read the field lists from the design and compare them with real output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from claims import services
from claims.domain.stages import Stage

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"
FIELD = re.compile(r"^[a-z_]+$")


def bullet(command: str) -> str:
    """The section 4 bullet about `command` (e.g. "claims show KEY --json"), joined into one line."""
    text = DESIGN.read_text(encoding="utf-8")
    part = text[text.index("### JSON output") : text.index("## 5.")]
    for item in re.split(r"\n- ", part):
        if item.startswith(f"`{command}`"):
            return " ".join(item.split())
    raise AssertionError(f"design section 4 has no bullet for `{command}`")


def fields(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """The backticked field names of a bullet: those outside parentheses, and those inside the
    parenthesis that follows a field (`evidence` (each with `id`, ...)), by that field."""
    top: list[str] = []
    nested: dict[str, list[str]] = {}
    depth, last = 0, None
    for token in re.findall(r"\(|\)|`[^`]+`", text.split("`:", 1)[1]):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif FIELD.match(name := token.strip("`")):
            if depth == 0:
                top.append(name)
                last = name
            elif depth == 1 and last is not None:
                nested.setdefault(last, []).append(name)
    return top, nested


def each_with(text: str, until: str) -> list[str]:
    """The field names after "each with" up to `until`, at any depth."""
    part = text.split("each with", 1)[1].split(until, 1)[0]
    return [n for n in (t.strip("`") for t in re.findall(r"`[^`]+`", part)) if FIELD.match(n)]


def same_fields(printed: dict[str, object], listed: list[str], what: str) -> None:
    extra, missing = sorted(set(printed) - set(listed)), sorted(set(listed) - set(printed))
    assert not extra, f"{what} prints {extra}, which the design does not list"
    assert not missing, f"{what}: the design lists {missing}, which it does not print"


@pytest.fixture
def run(demo, env_db: str, cli):
    """`run("show", "KEY")`: the command's --json output on the demo database, parsed."""

    def invoke(*args: str) -> object:
        result = cli(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    return invoke


def test_the_bullets_are_read():
    top, nested = fields(bullet("claims show KEY --json"))
    assert {"key", "stage", "evidence", "assessment", "history"} <= set(top), top
    assert {"id", "grade", "independent_root"} <= set(nested["evidence"]), nested
    top, nested = fields(bullet("claims readiness --json"))
    assert top == ["key", "title", "ready", "requirements"], top
    assert "required_stage" in nested["requirements"], nested


def test_show_json_prints_every_field_the_design_lists(run):
    top, nested = fields(bullet("claims show KEY --json"))
    shown = run("show", "factory-exists")
    assert isinstance(shown, dict)
    assert set(top) <= set(shown), f"the design lists {sorted(set(top) - set(shown))}; `show --json` has no such field"
    assert shown["evidence"], "the demo claim has evidence"
    for item in shown["evidence"]:
        assert set(nested["evidence"]) <= set(item), sorted(set(nested["evidence"]) - set(item))
    assert shown["assessment"], "a corroborated claim has next stages"
    for stage, judged in shown["assessment"].items():
        assert stage in {s.value for s in Stage}
        assert set(nested["assessment"]) <= set(judged), sorted(set(nested["assessment"]) - set(judged))


def test_readiness_json_prints_exactly_the_fields_the_design_lists(run):
    top, nested = fields(bullet("claims readiness --json"))
    actions = run("readiness")
    assert isinstance(actions, list) and actions
    for action in actions:
        same_fields(action, top, "readiness --json")
        assert action["requirements"]
        for req in action["requirements"]:
            same_fields(req, nested["requirements"], "readiness --json requirements")


def test_list_json_prints_exactly_the_fields_the_design_lists(run):
    text = bullet("claims list --json")
    page = run("list")
    assert isinstance(page, dict)
    assert list(page) == ["total", "offset", "limit", "claims"], page.keys()
    assert '{"total", "offset", "limit", "claims"}' in text
    listed = each_with(text, "The table prints")
    assert page["claims"]
    for row in page["claims"]:
        same_fields(row, listed, "list --json claims")


def test_review_list_json_prints_exactly_the_fields_the_design_lists(run, demo):
    services.add_evidence(demo, "alice", "factory-exists", "eu-official", "supports", credibility=2, summary="briefing")
    assert services.advance(demo, "alice", "factory-exists", Stage.CONFIRMED).review_id is not None
    listed = each_with(bullet("claims review list --json"), "One page:")
    queue = run("review", "list")
    assert isinstance(queue, list) and queue
    for request in queue:
        same_fields(request, listed, "review list --json")


def test_assess_json_prints_exactly_the_fields_the_design_lists(demo, capsys):
    """`claims assess --json` prints through `print_outcomes` (the flow itself is tested in tests/flows)."""
    from claims.cli.transitions import print_outcomes

    top, _ = fields(bullet("claims assess --json"))
    services.add_evidence(demo, "alice", "factory-exists", "eu-official", "supports", credibility=2, summary="briefing")
    outcomes = services.assess_claims(demo, "system", services.open_claim_keys(demo, changed_only=True))
    capsys.readouterr()
    print_outcomes(outcomes, True)
    printed = json.loads(capsys.readouterr().out)
    same_fields(printed, top, "assess --json")
    assert printed["review_requested"], "the new B2 line makes factory-exists ready for a confirm request"


def test_import_json_prints_exactly_the_fields_the_design_lists(env_db: str, rt, cli, tmp_path):
    """Issue 21.11: `claims import --json` carries `left_out`, each with the fields the design names."""
    import stix_bundles

    top, nested = fields(bullet("claims import FILE --json"))
    result = cli(
        "import", stix_bundles.write(stix_bundles.feed().bundle, tmp_path / "feed.json"), "--as", "alice", "--json"
    )
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    same_fields(printed, top, "import --json")
    same_fields(printed["created"], nested["created"], "import --json created")
    assert printed["left_out"]
    for item in printed["left_out"]:
        same_fields(item, nested["left_out"], "import --json left_out")
