"""Time one similar-claims lookup against 10k and 100k claims, with a baseline from the same run.

`python -m bench.similar [--sizes 10000 100000]`: for each size, a fresh migrated SQLite database
holds one case with N generated statements. The index is built once (every claim embedded and
stored, then loaded into the process's matrix: the one-off cost, reported apart); then a new
statement is checked, several times, through `similar_claims` itself (the change check against
the database included); then one claim's statement is edited and the next lookup, which finds
the change, re-embeds that claim alone and updates its row of the matrix, is timed too, and so
is the first lookup of a new process (vectors stored, matrix not yet loaded).
The baseline, measured in the same run on the same statements, is rapidfuzz's
`process.extract` over every statement: the scan a lookup without an index makes.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from rapidfuzz import fuzz, process, utils
from sqlalchemy import create_engine, insert

from bench.acting import proven
from claims.services import Runtime, ensure_users
from claims.services import similar as similar_service
from claims.services.similar import refresh, similar_claims
from claims.store.models import Case, Claim
from migrations import alembic_config

ACTORS = ["Russia", "Iran", "North Korea", "Belarus", "A Chinese company", "A Turkish firm", "The ministry", "Hackers"]
VERBS = ["has set up", "has shipped", "is building", "has sold", "has denied building", "financed", "has tested"]
THINGS = [
    "a factory",
    "attack drones",
    "artillery shells",
    "dual-use goods",
    "microchips",
    "ballistic missiles",
    "a pipeline",
]
PLACES = [
    "in China",
    "to Russia",
    "in Xinjiang",
    "near Odesa",
    "in the Baltic Sea",
    "in Hong Kong",
    "in Minsk",
    "in Tehran",
]
TAILS = ["for the army", "last year", "in secret", "through a front company", "according to officials", "since 2022"]
QUERY = "A plant in Xinjiang builds attack drones for Moscow."


def statements(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(PLACES)} {rng.choice(TAILS)} "
        f"(report {i}, {rng.randrange(1, 9000)} units)."
        for i in range(n)
    ]


def make_db(folder: Path, texts: list[str]) -> Runtime:
    url = f"sqlite:///{folder / 'similar.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        case_id = conn.execute(insert(Case).values(key="bench", title="bench", created_at=now)).inserted_primary_key[0]
        for start in range(0, len(texts), 5000):
            conn.execute(
                insert(Claim),
                [
                    {"case_id": case_id, "key": f"c{i}", "statement": s, "stage": "reported", "version": 1,
                     "created_at": now, "updated_at": now, "reported_at": now, "at_risk": False}
                    for i, s in enumerate(texts[start : start + 5000], start)
                ],
            )  # fmt: skip
    engine.dispose()
    rt = Runtime(url)
    ensure_users(rt, {"admin": "admin", "alice": "analyst"})
    return rt


def measure(n: int, repeats: int = 5) -> dict[str, float | int]:
    texts = statements(n)
    with tempfile.TemporaryDirectory() as tmp:
        rt = make_db(Path(tmp), texts)
        t0 = time.perf_counter()
        refresh(rt)  # the one-off build: embed and store every claim, load the matrix
        build = time.perf_counter() - t0
        alice = proven(rt, "alice")
        lookups = []
        for i in range(repeats):
            t0 = time.perf_counter()
            found = similar_claims(rt, alice, f"{QUERY} ({i})")
            lookups.append(time.perf_counter() - t0)
        with rt.uow() as uow:  # one claim edited: the next lookup re-embeds it alone and updates its row
            uow.claims.get("c7").statement = QUERY
            uow.commit()
        t0 = time.perf_counter()
        edited = similar_claims(rt, alice, QUERY)
        after_edit = time.perf_counter() - t0
        assert edited[0].claim_key == "c7", edited
        similar_service._INDEXES.clear()  # a new process: the vectors are stored, the matrix is not loaded yet
        t0 = time.perf_counter()
        similar_claims(rt, alice, QUERY)
        cold = time.perf_counter() - t0
        baselines = []
        for i in range(repeats):
            t0 = time.perf_counter()
            process.extract(
                f"{QUERY} ({i})", texts, scorer=fuzz.token_set_ratio, processor=utils.default_process, limit=5
            )
            baselines.append(time.perf_counter() - t0)
    seconds, baseline = statistics.median(lookups), statistics.median(baselines)
    return {
        "claims": n,
        "build_seconds": round(build, 2),
        "lookup_seconds": round(seconds, 4),
        "lookup_after_one_edit_seconds": round(after_edit, 4),
        "first_lookup_in_a_new_process_seconds": round(cold, 3),
        "baseline_seconds": round(baseline, 4),
        "ratio": round(seconds / baseline, 3),
        "target_seconds": 0.2,
        "met": seconds < 0.2,
        "found": len(found),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    for n in args.sizes:
        print(json.dumps(measure(n)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
