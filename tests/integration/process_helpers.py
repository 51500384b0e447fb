"""Real processes for the race, stress and fault tests: `claims` commands started together."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Imports the CLI first (seconds on a loaded machine), then waits for the common start time, so
# the commands reach the database together rather than one import apart.
_AT_ONCE = """
import sys, time
from claims.cli import main
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
sys.argv = ["claims", *sys.argv[2:]]
main()
"""


def env_for(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    return {**env, "PYTHONPATH": str(ROOT), "CLAIMS_DATABASE_URL": url, **extra}


@dataclass(frozen=True)
class Finished:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


def run_together(
    url: str,
    commands: list[list[object]],
    *,
    lead_s: float = 20.0,
    cwd: Path | None = None,
    tokens: list[str] | None = None,
) -> list[Finished]:
    """Start every command in its own process; all of them act at the same instant.

    `tokens[i]` signs command i in (CLAIMS_TOKEN): each process acts as the person its token proves.
    """
    start = time.time() + lead_s
    signed = tokens or [""] * len(commands)
    procs = [
        (
            tuple(map(str, args)),
            subprocess.Popen(
                [sys.executable, "-c", _AT_ONCE, str(start), *map(str, args)],
                env=env_for(url, **({"CLAIMS_TOKEN": token} if token else {})),
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args, token in zip(commands, signed, strict=True)
    ]
    done = []
    for args, proc in procs:
        stdout, stderr = proc.communicate(timeout=lead_s + 120)
        done.append(Finished(args, proc.returncode, stdout, stderr))
    return done
