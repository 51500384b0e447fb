"""In a real `claims` process (not the in-process runner, where a library's stray log record goes elsewhere),
a refused input is exactly one line on stderr: no library warning beside it, no traceback, no secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from process_helpers import env_for

from claims.demo import DEMO_USERS
from claims.services import Runtime, ensure_users
from claims.services.identity import issue_token_unchecked


def claims(url: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claims.cli", *args], env=env_for(url, **env), cwd=cwd, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def signed_in(sqlite_url: str) -> str:
    rt = Runtime(sqlite_url)
    ensure_users(rt, DEMO_USERS)
    return issue_token_unchecked(rt, "alice", reason="test").token


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (("report", "add", "bad.pdf", "--case", "desk"), {}, "is not a readable PDF"),
        (("channel", "add", "mail", "--secret", "b"), {"CLAIMS_NOTIFY_SECRETS": '{"b": "nope://s3cr3t"}'}, "Apprise"),
        (("channel", "add", "mail", "--secret", "b"), {"CLAIMS_NOTIFY_SECRETS": "{bad json s3cr3t"}, "not valid JSON"),
    ],
    ids=["broken-pdf", "unusable-apprise-url", "malformed-json-setting"],
)
def test_a_refusal_is_one_line_in_a_real_process(
    sqlite_url: str, signed_in: str, tmp_path: Path, args: tuple[str, ...], env: dict[str, str], said: str
) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    done = claims(sqlite_url, tmp_path, *args, CLAIMS_TOKEN=signed_in, **env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and said in done.stderr, done.stderr  # pypdf/Apprise printed more
    assert "s3cr3t" not in done.stderr + done.stdout
