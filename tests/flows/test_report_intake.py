"""The intake flow takes report files from `<inbox>/reports/<case key>/` (issue 17): each stored once,
moved aside, refused ones set aside with their reason, ranked candidates left as a Prefect artifact."""

from __future__ import annotations

import shutil
from pathlib import Path

from flow_helpers import intake_as
from identity_helpers import as_user
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from claims.services import Runtime
from claims.services import reports as rep
from flows.intake import CANDIDATES_ARTIFACT_KEY, FAILED, PROCESSED, REPORTS

SEED = Path(__file__).resolve().parents[2] / "examples" / "reports" / "eu-drones-report.txt"


def test_inbox_reports_are_taken_once_and_candidates_published(loaded: Runtime, tmp_path: Path):
    folder = tmp_path / "inbox" / REPORTS / "eu-drones-2024"
    folder.mkdir(parents=True)
    shutil.copy(SEED, folder / "drones.txt")
    (folder / "empty.md").write_text("  \n", encoding="utf-8")
    (folder / "notes.docx").write_bytes(b"PK")  # not a report type: left alone

    run = intake_as(loaded, "alice", path=str(tmp_path / "inbox"), assess=False)
    by_name = {f.file: f for f in run.files}
    assert by_name["drones.txt"].created == {"reports": 1} and PROCESSED in by_name["drones.txt"].moved_to
    assert "'empty.md' is empty" in by_name["empty.md"].error and FAILED in by_name["empty.md"].moved_to
    assert (folder / "notes.docx").exists() and not (folder / "drones.txt").exists()

    queue = rep.list_reports(loaded, as_user(loaded, "mia"), untriaged=True)
    assert [r.added_by for r in queue] == ["alice"]  # the triage queue
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[CANDIDATES_ARTIFACT_KEY]))
        )
    latest = max(artifacts, key=lambda a: a.created)
    assert latest.type == "markdown"
    assert f"## Report #{queue[0].id} (eu-drones-2024)" in latest.data
    assert "is but to substantiate three essential factors" in latest.data and "hedged:" in latest.data

    shutil.copy(SEED, folder / "again.txt")  # the same file again: refused, nothing stored twice
    second = intake_as(loaded, "alice", path=str(tmp_path / "inbox"), assess=False)
    assert "already report" in second.files[0].error
    assert len(rep.list_reports(loaded, as_user(loaded, "mia"))) == 1
