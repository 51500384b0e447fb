"""Every command that has an API route gives the same answer through the API as in-process (both
databases), and the same exit code and line when it fails. The API runs here on a real uvicorn
(HTTPS, a loopback port), the commands with CLAIMS_API_URL and the pinned certificate."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from claims import services
from claims.api.server import serving
from claims.cli import app
from claims.services import Runtime
from claims.settings import get_settings

Run = Callable[..., Result]


@pytest.fixture
def both(loaded: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Run, Run]]:
    """(in-process, through the API): the same `claims ...` invocations as alice."""
    monkeypatch.setenv("CLAIMS_DATABASE_URL", loaded.database_url)
    monkeypatch.setenv("CLAIMS_API_TLS_DIR", str(tmp_path / "tls"))
    get_settings.cache_clear()
    runner = CliRunner()

    def local(*args: object) -> Result:
        monkeypatch.delenv("CLAIMS_API_URL", raising=False)
        get_settings.cache_clear()
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    with serving(loaded, port=0) as listening:

        def remote(*args: object) -> Result:
            monkeypatch.setenv("CLAIMS_API_URL", listening.url)
            monkeypatch.setenv("CLAIMS_API_CERT", str(listening.cert))
            get_settings.cache_clear()
            return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

        yield local, remote
    get_settings.cache_clear()


def test_reads_are_the_same_through_the_api(both: tuple[Run, Run]):
    local, remote = both
    for args in (
        ["show", "factory-exists", "--json"],
        ["list", "--json"],
        ["list", "--stage", "reported", "--limit", "2", "--page", "2", "--json"],
        ["list", "--all", "--json"],
        ["readiness", "--json"],
        ["review", "list", "--status", "all", "--json"],
    ):
        here, there = local(*args), remote(*args)
        assert here.exit_code == there.exit_code == 0, (args, there.output)
        assert json.loads(there.stdout) == json.loads(here.stdout), args
    for args in (["readiness"], ["show", "factory-exists"], ["list"]):
        assert remote(*args).stdout == local(*args).stdout, args


def test_failures_keep_their_exit_code_and_line_through_the_api(both: tuple[Run, Run], loaded: Runtime, db_snapshot):
    local, remote = both
    before = db_snapshot(loaded.database_url)
    for args in (
        ["show", "nope"],
        ["readiness", "--case", "nope"],
        ["evidence", "add", "--claim", "factory-exists", "--source", "eu-official", "--stance", "sideways",
         "--summary", "x", "--credibility", "2"],
        ["evidence", "retract", "999", "--reason", "x"],
        ["advance", "nope", "--to", "corroborated"],
        ["review", "approve", "999"],
        ["review", "reject", "999", "--rationale", "no"],
        ["review", "list", "--status", "nonsense"],
    ):  # fmt: skip
        there = remote(*args)
        here = local(*args)
        assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr), args
        assert there.exit_code != 0 and len(there.stderr.strip().splitlines()) == 1, args
    assert db_snapshot(loaded.database_url) == before


def test_writes_through_the_api(both: tuple[Run, Run], loaded: Runtime, tmp_path: Path):
    _, remote = both
    added = remote(
        "evidence", "add", "--claim", "factory-exists", "--source", "eu-official", "--stance", "supports",
        "--summary", "A third line.", "--credibility", "2", "--json",
    )  # fmt: skip
    item = json.loads(added.stdout)["id"]
    assert remote("advance", "factory-exists", "--to", "corroborated").stdout.strip() == (
        "factory-exists: reported -> corroborated"
    )
    asked = json.loads(remote("advance", "factory-exists", "--to", "confirmed", "--json").stdout)
    assert remote("review", "approve", asked["review"], "--as", "bob").stdout.strip() == (
        f"review #{asked['review']} approved: factory-exists is confirmed"
    )
    assert remote("review", "approve", asked["review"], "--as", "alice").exit_code == 4  # bob's sign-in is not hers
    history = services.claim_detail(loaded, "factory-exists")["history"]
    actors = {h["kind"]: h["actor"] for h in history}
    kinds = ("evidence.added", "review.requested", "review.approved")
    assert [actors[k] for k in kinds] == ["alice", "alice", "bob"]
    assert remote("evidence", "retract", item, "--reason", "wrong").stdout.strip() == (
        f"evidence #{item} on factory-exists retracted"
    )
    exported = tmp_path / "case.json"
    exported.write_text(json.dumps(services.export_case(loaded, None)))
    again = remote("import", exported, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["case"] == services.export_case(loaded, None)["case"]["key"]


def test_a_foreign_bundle_through_the_api_says_what_it_left_out(both: tuple[Run, Run], tmp_path: Path):
    """`claims import` of a bundle made by `stix2`: the same summary line and `left_out` remote as local."""
    import stix_bundles

    local, remote = both
    path = stix_bundles.write(stix_bundles.feed().bundle, tmp_path / "feed.json")
    there = remote("import", path)
    assert there.exit_code == 0, there.output
    assert there.stdout.splitlines()[1].startswith("left out 9 STIX objects: 2 opinion, ")
    again_there, again_here = remote("import", path, "--json"), local("import", path, "--json")
    assert json.loads(again_there.stdout) == json.loads(again_here.stdout)
    assert len(json.loads(again_here.stdout)["left_out"]) == 9
