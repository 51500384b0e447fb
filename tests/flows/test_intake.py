"""The intake flow: one file or an inbox folder, each file once, idempotent imports, refused files set aside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flow_helpers import event_counts
from sqlalchemy.exc import OperationalError

from claims import services
from claims.demo import DEMO_CASE
from claims.services import Runtime
from flows import intake
from flows.common import use_runtime
from flows.intake import FAILED, PROCESSED, intake_flow, list_inbox, move_aside


@pytest.fixture
def flow_rt(rt: Runtime) -> Iterator[Runtime]:
    with use_runtime(rt):
        yield rt


def with_new_evidence(tmp_path: Path) -> Path:
    """The demo case again, with one more item on a claim that already exists."""
    data = yaml.safe_load(DEMO_CASE.read_text(encoding="utf-8"))
    claim = next(c for c in data["claims"] if c["key"] == "lethal-production")
    claim["evidence"].append(
        {"source": "reuters", "stance": "supports", "credibility": 2, "summary": "Reuters saw the attack variant."}
    )
    path = tmp_path / "update.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_list_inbox_fn_takes_case_files_oldest_first_and_ignores_the_rest(tmp_path: Path):
    for name in ("b.yaml", "a.json", ".hidden.yaml", "notes.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / PROCESSED).mkdir()
    (tmp_path / PROCESSED / "old.yaml").write_text("x", encoding="utf-8")
    assert sorted(Path(p).name for p in list_inbox.fn(str(tmp_path))) == ["a.json", "b.yaml"]


def test_move_aside_fn_keeps_the_name_and_writes_the_reason(tmp_path: Path):
    src = tmp_path / "case.yaml"
    src.write_text("x", encoding="utf-8")
    moved = Path(move_aside.fn(str(src), str(tmp_path / FAILED), note="case file: bad"))
    assert not src.exists() and moved.name.endswith("-case.yaml")
    assert moved.with_name(moved.name + ".error.txt").read_text(encoding="utf-8") == "case file: bad\n"


def test_one_file_is_imported_and_a_second_arrival_creates_nothing(flow_rt: Runtime, db_url: str):
    first = intake_flow(path=str(DEMO_CASE), actor="alice", assess=False)
    assert first.files[0].created == {"cases": 1, "sources": 9, "claims": 5, "evidence": 14, "actions": 5}
    assert first.files[0].moved_to is None  # a file named directly is left where it is
    events = event_counts(db_url)

    again = intake_flow(path=str(DEMO_CASE), actor="alice", assess=False)
    assert not any(again.files[0].created.values())
    assert event_counts(db_url) == events


def test_inbox_files_are_processed_once_moved_aside_and_the_changed_case_assessed(
    flow_rt: Runtime, db_url: str, tmp_path: Path
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "1-report.yaml").write_text(DEMO_CASE.read_text(encoding="utf-8"), encoding="utf-8")
    (inbox / "2-same-report-again.yaml").write_text(DEMO_CASE.read_text(encoding="utf-8"), encoding="utf-8")
    (inbox / "3-broken.yaml").write_text("case: [unclosed", encoding="utf-8")
    (inbox / "notes.txt").write_text("not a case file", encoding="utf-8")

    report = intake_flow(path=str(inbox), actor="system")

    by_file = {f.file: f for f in report.files}
    assert by_file["1-report.yaml"].created["claims"] == 5
    assert not any(by_file["2-same-report-again.yaml"].created.values())
    assert "not valid YAML/JSON" in by_file["3-broken.yaml"].error
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["notes.txt"]
    assert len(list((inbox / PROCESSED).iterdir())) == 2
    failed = sorted(p.name for p in (inbox / FAILED).iterdir())
    assert failed[0].endswith("-3-broken.yaml") and failed[1].endswith("-3-broken.yaml.error.txt")
    assert report.changed_cases == ["eu-drones-2024"]
    assert [o.claim for a in report.assessments for o in a.outcomes if o.moved] == ["factory-exists"]

    second = intake_flow(path=str(inbox), actor="system")  # nothing left to take
    assert second.files == [] and second.assessments == []


def test_a_known_claim_gains_only_the_new_evidence(flow_rt: Runtime, tmp_path: Path):
    intake_flow(path=str(DEMO_CASE), actor="alice", assess=False)
    update = intake_flow(path=str(with_new_evidence(tmp_path)), actor="alice", assess=False)
    assert update.files[0].created == {"cases": 0, "sources": 0, "claims": 0, "evidence": 1, "actions": 0}
    assert len(services.claim_detail(flow_rt, "lethal-production")["evidence"]) == 3


def test_a_named_file_that_is_refused_fails_the_run(flow_rt: Runtime, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("case: {key: x}\nclaims: [{key: y}]\n", encoding="utf-8")
    with pytest.raises(services.InvalidInput):
        intake_flow(path=str(bad), actor="alice")
    with pytest.raises(services.InvalidInput, match="no case file"):
        intake_flow(path=str(tmp_path / "missing.yaml"), actor="alice")
    assert bad.exists()


def test_a_file_whose_import_fails_on_io_stays_in_the_inbox(
    flow_rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def unreachable(*args: object, **kwargs: object) -> None:
        raise OperationalError("BEGIN", {}, Exception("could not connect to server"))

    monkeypatch.setattr(services, "import_path", unreachable)
    monkeypatch.setattr(intake, "import_file", intake.import_file.with_options(retries=0))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "report.yaml").write_text(DEMO_CASE.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(OperationalError):
        intake_flow(path=str(inbox), actor="system")
    assert (inbox / "report.yaml").exists()  # tried again on the next run


def test_a_foreign_stix_bundle_in_the_inbox_says_what_it_left_out(
    flow_rt: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """Issue 21.11: the intake flow imports a bundle made by `stix2` and logs what it left out."""
    import stix_bundles

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stix_bundles.write(stix_bundles.feed().bundle, inbox / "feed.json")
    with caplog.at_level("WARNING"):
        report = intake_flow(path=str(inbox), actor="system", assess=False)
    assert report.files[0].created["claims"] == 3
    assert "feed.json: left out 9 STIX objects (identity, indicator, ipv4-addr, location" in caplog.text
