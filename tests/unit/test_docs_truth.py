"""docs/design.md says what the code does: the names, paths, commands and exit codes it states exist.

Issue 19 found fifteen statements the code no longer kept (a `survivors` function that was never
there, `move()` "on every path", four eyes under exit 4). These tests read the design itself, so a
rename, a removed command or a moved rule fails here until the sentence is corrected.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import pytest
import typer.main

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
# The decision records whose statements this repository keeps true here (0004 and 0008 describe the
# Prefect API and the gateway, which are being replaced).
KEPT = {"0001", "0002", "0003", "0005", "0006", "0007", "0009"}
RECORDS = sorted(p for p in (ROOT / "docs" / "decisions").glob("*.md") if p.name[:4] in KEPT)
TICKED = re.compile(r"`([^`]+)`")
REPO_PATH = re.compile(r"^(claims|flows|dashboard|migrations|tests|bench)/[\w/.-]*$")
NAME = re.compile(r"^[A-Za-z_]\w*(\.\w+)*(\(\))?$")


def design() -> str:
    return DESIGN.read_text(encoding="utf-8")


def ticked(doc: Path) -> list[str]:
    """Every `backticked` span of a document, fenced code blocks left out (their ``` would pair wrongly)."""
    return TICKED.findall(re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL))


def section(text: str, start: str, end: str) -> str:
    """The text from the line holding `start` up to the line holding `end`."""
    head = text.index(start)
    return text[head : text.index(end, head)]


def rule_rows() -> list[tuple[str, str]]:
    """(rule, owner) of every row of section 5's "Where each rule lives" table."""
    table = section(design(), "Where each rule lives:", "Layer rules")
    rows = []
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith(("| rule ", "| ---")):
            continue
        rule, owner = line.strip().strip("|").rsplit(" | ", 1)
        rows.append((rule.strip(), owner.strip()))
    return rows


@cache
def defined_names(path: Path) -> frozenset[str]:
    """What a module defines: top-level functions, classes and assignments, and `Class.member` for members."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    names |= {f"{node.name}.{member.name}", member.name}
                elif isinstance(member, ast.AnnAssign) and isinstance(member.target, ast.Name):
                    names.add(f"{node.name}.{member.target.id}")
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names)


def modules_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def test_the_rule_table_is_read() -> None:
    rows = rule_rows()
    assert len(rows) >= 15, rows
    assert ("which transitions exist", "`claims/domain/stages.py`") in rows


@pytest.mark.parametrize(("rule", "owner"), rule_rows(), ids=[r[0][:40] for r in rule_rows()])
def test_every_path_and_name_in_the_rule_table_exists(rule: str, owner: str) -> None:
    """Each file a row names exists, and each backticked name of the row is defined in one of them."""
    ticked = TICKED.findall(f"{rule} {owner}")
    paths = [t for t in ticked if REPO_PATH.match(t)]
    assert paths, f"row {rule!r} names no file"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"row {rule!r}: no such file {missing}"
    modules = [m for p in paths for m in modules_under(ROOT / p) if m.suffix == ".py"]
    defined = frozenset().union(*(defined_names(m) for m in modules)) if modules else frozenset()
    for name in (t.removesuffix("()") for t in ticked if t not in paths and NAME.match(t)):
        prefix, _, last = name.rpartition(".")
        # `EventLog.append_many`: the class and its member; `uow.record`: a member reached through a variable
        found = name in defined if prefix[:1].isupper() else last in defined
        assert found, f"row {rule!r}: `{name}` is not defined in {', '.join(paths)}"


def test_every_claims_path_the_design_and_records_name_exists() -> None:
    named = {
        (doc.name, t.split(" ", 1)[0].rstrip(".,;:"))
        for doc in [DESIGN, *RECORDS]
        for t in ticked(doc)
        if t.startswith(("claims/", "migrations/", "tests/", "bench/", "dashboard/"))
    }
    assert len(named) >= 20, named
    missing = sorted((doc, p) for doc, p in named if not (ROOT / p).exists())
    assert not missing, f"named but not in the repository: {missing}"


def test_every_dotted_claims_name_in_the_design_and_records_imports() -> None:
    """`claims.domain.grades.Grade`, `claims.services.similar.SimilarClaim`, ...: a module and what it holds."""
    named = {
        t.removesuffix("()").split("(", 1)[0]
        for doc in [DESIGN, *RECORDS]
        for t in ticked(doc)
        if re.match(r"^claims\.\w+(\.\w+)*(\(.*\))?$", t) and not t.endswith(".db")
    }
    assert "claims.domain.grades.Grade" in named, named
    for name in sorted(named):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj: object = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"`{name}`: {'.'.join(parts[:cut])} has no {attr!r}"
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"`{name}`: no such module")


def documented_commands() -> dict[str, set[str]]:
    """Section 4's list of command groups: {group or command: its subcommands (empty for a plain command)}."""
    text = section(design(), "The groups:", "The README lists them")
    text = " ".join(text.removeprefix("The groups:").split())
    found: dict[str, set[str]] = {}
    # items: `names subs` optionally followed by "(...)", separated by commas outside parentheses
    for item in re.finditer(r"`([^`]+)`(?:\s*\(([^)]*)\))?", text):
        words, paren = item.group(1).split(), item.group(2)
        if paren is not None and "`" in paren:  # "(source and claim also `withdraw`)"
            head, _, extra = paren.partition("also")
            for group in re.findall(r"[a-z]+", head.replace("and", " ")):
                found.setdefault(group, set()).update(TICKED.findall(extra))
            paren = None
        subs = set(words[1].split("|")) if len(words) > 1 else set()
        if paren:
            subs |= {s.strip() for s in paren.split(",")}
        for group in re.split(r"[|/]", words[0]):
            found.setdefault(group, set()).update(subs)
    # the backticked `withdraw` inside the parenthesis was also matched as an item of its own
    found.pop("withdraw", None)
    return found


def app_commands() -> dict[str, set[str]]:
    from claims.cli import app

    root = typer.main.get_command(app)
    tree: dict[str, set[str]] = {}
    for name in root.list_commands(None):  # type: ignore[attr-defined,arg-type]
        command = root.get_command(None, name)  # type: ignore[attr-defined,arg-type]
        tree[name] = set(command.list_commands(None)) if hasattr(command, "list_commands") else set()
    return tree


def test_the_command_list_is_read() -> None:
    documented = documented_commands()
    assert documented["db"] == {"upgrade", "downgrade", "backup"}
    assert documented["source"] >= {"add", "edit", "list", "withdraw"}
    assert "withdraw" not in documented["case"]
    assert documented["review"] == {"list", "approve", "reject", "code"}


def test_every_command_group_the_design_lists_exists() -> None:
    documented, actual = documented_commands(), app_commands()
    for group, subs in documented.items():
        assert group in actual, f"design section 4 lists `{group}`; the CLI has no such command"
        missing = subs - actual[group]
        listed = f"{group} {'|'.join(sorted(missing))}"
        assert not missing, f"design section 4 lists `{listed}`; the CLI has no such subcommand"


def test_every_command_of_the_cli_is_in_the_design_list() -> None:
    documented, actual = documented_commands(), app_commands()
    undocumented = sorted(set(actual) - set(documented))
    assert not undocumented, f"add to design section 4's list of groups: {undocumented}"


READING = [
    ("show",), ("list",), ("readiness",), ("whoami",), ("review", "list"), ("report", "list"), ("report", "show"),
    ("audit", "verify"), ("case", "list"), ("source", "list"), ("claim", "list"), ("action", "list"),
    ("user", "list"), ("trust", "list"), ("keys", "show"),
]  # fmt: skip


@pytest.mark.parametrize("words", READING, ids=[" ".join(w) for w in READING])
def test_every_reading_command_has_json(words: tuple[str, ...]) -> None:
    """Section 4: `--json` on every reading command."""
    from claims.cli import app

    command = typer.main.get_command(app)
    for word in words:
        command = command.get_command(None, word)  # type: ignore[attr-defined,arg-type]
    options = {o for p in command.params for o in getattr(p, "opts", [])}
    assert "--json" in options, f"claims {' '.join(words)} has no --json"


def exit_code_table() -> dict[int, str]:
    table = section(design(), "Exit codes, the same for every command", "Every failure is one line")
    rows = re.findall(r"^\| (\d) \| (.+) \|$", table, re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def exit_code_of(exc: BaseException) -> int:
    """The code the CLI exits with: each error class carries it (claims.domain.errors), mapped once."""
    from claims.domain.errors import ClaimsError

    assert isinstance(exc, ClaimsError), f"{type(exc).__name__} is outside the error hierarchy"
    return exc.exit_code


def test_the_exit_code_table_is_the_one_the_cli_maps() -> None:
    """Each kind of failure the table names sits under the code the CLI gives it."""
    from claims.domain.errors import IllegalTransition, InvalidGrade, LineageCycle
    from claims.domain.transitions import check_four_eyes
    from claims.services.errors import AlreadyDone, NotFound, PermissionDenied
    from claims.store.uow import ConcurrencyConflict

    table = exit_code_table()
    assert set(table) == {0, 1, 2, 3, 4, 5}, table
    try:
        check_four_eyes("bob", "bob", 3)
    except Exception as exc:  # whatever it raises is what the CLI maps
        four_eyes = exc
    else:
        pytest.fail("check_four_eyes let bob decide his own request")
    said = {
        "bad grade": InvalidGrade("x"),
        "lineage cycle": LineageCycle("x"),
        "illegal transition": IllegalTransition("x"),
        "four eyes": four_eyes,
        "not found": NotFound("x"),
        "role": PermissionDenied("x"),
        "optimistic concurrency": ConcurrencyConflict("x"),
        "a review already decided": AlreadyDone("x"),
    }
    for words, exc in said.items():
        code = exit_code_of(exc)
        assert words in table[code], f"the CLI exits {code} on {words}; the design's row {code} says {table[code]!r}"
