"""Run the assessment over many claims in batches, with a progress bar for people."""

from __future__ import annotations

from collections.abc import Sequence

from rich.progress import Progress

from claims.services import Outcome, Runtime, assess_claims, open_claim_keys
from claims.settings import get_settings


def batches(keys: Sequence[str], size: int) -> list[list[str]]:
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


def run_assessment(
    rt: Runtime, actor: str, keys: Sequence[str] | None, *, case: str | None = None, progress: bool = False
) -> list[Outcome]:
    """Assess the given claims (default: all of them) one batch per transaction."""
    todo = list(keys) if keys else open_claim_keys(rt, case)
    outcomes: list[Outcome] = []
    chunks = batches(todo, get_settings().batch_size)
    with Progress(disable=not progress or len(chunks) < 2, transient=True) as bar:
        task = bar.add_task("assessing", total=len(todo))
        for chunk in chunks:
            outcomes.extend(assess_claims(rt, actor, chunk))
            bar.advance(task, len(chunk))
    return outcomes
