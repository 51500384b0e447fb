"""Notifier throughput (issue 18): events per second the notifier reads, judges and turns into notices.

A synthetic case of N claims (bench.synthetic) with 200 policy actions requiring claims at
corroborated is imported and assessed; three people subscribe (readiness for everything, sign-offs,
claims at risk). The notifier's cursor is then set back to 0 so it reads the whole log again: every
claim event makes it judge the actions that claim gates, and compare with the stored readiness.

The baseline, measured in the same run on the same database, is what any notifier that judges
readiness pays: the same events read in the same batches (one SELECT each, payloads decoded) and,
per batch, every action's readiness judged once by the existing read service
(`services.action_readiness`). The ratio is ours over it; `read_seconds` is the bare read alone. The
absolute figure is events per second. Prints JSON; no timing assertion anywhere.

Run: `python -m bench.notify --claims 5000 --backend sqlite` (or `--backend postgres`).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from bench.acting import proven
from bench.synthetic import synthetic_case
from claims import services
from claims.demo import DEMO_USERS
from claims.services import Runtime
from claims.services import notify as nt
from claims.store.db import dispose_engines
from claims.store.models import Event
from migrations import alembic_config

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _database(backend: str, folder: Path) -> tuple[str, Any]:
    from alembic import command

    if backend == "sqlite":
        url = f"sqlite:///{folder / 'notify.db'}"
        command.upgrade(alembic_config(url), "head")
        return url, lambda: None
    name = f"claims_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    command.upgrade(alembic_config(url), "head")

    def drop() -> None:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _baseline(url: str, batch: int, rt: Runtime | None = None) -> tuple[int, float]:
    """Read every event in batches of `batch`, decoding payloads; with `rt`, judge readiness once per batch."""
    engine = create_engine(url)
    start = time.perf_counter()
    count, last = 0, 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(
                select(Event.id, Event.kind, Event.claim_key, Event.payload)
                .where(Event.id > last)
                .order_by(Event.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            count += len(rows)
            last = rows[-1].id
            _ = [dict(r.payload or {}) for r in rows]
            if rt is not None:
                services.action_readiness(rt)
    seconds = time.perf_counter() - start
    engine.dispose()
    return count, seconds


def measure(n_claims: int, backend: str, batch: int = 2000) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="claims-bench-notify-"))
    url, drop = _database(backend, folder)
    try:
        rt = Runtime(url)
        services.ensure_users(rt, DEMO_USERS)
        case = synthetic_case(n_claims, key="nb")
        rng = random.Random(3)
        case["policy_actions"] += [
            {
                "key": f"nb-r{a}",
                "title": f"Readiness action {a}",
                "requires": [{"claim": f"nb-c{c}", "stage": "corroborated"} for c in rng.sample(range(n_claims), 4)],
            }
            for a in range(200)
        ]
        path = folder / "case.json"
        path.write_text(json.dumps(case), encoding="utf-8")
        alice = proven(rt, "alice")
        services.import_path(rt, alice, path)
        services.assess_claims(rt, services.system_identity(), services.open_claim_keys(rt))
        nt.subscribe(rt, proven(rt, "mia"), "readiness")
        nt.subscribe(rt, proven(rt, "bob"), "signoff")
        nt.subscribe(rt, alice, "at-risk")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE notify_cursor SET last_event_id = 0"))
            conn.execute(text("UPDATE readiness_state SET ready = NOT ready"))  # every touched action flips once
        engine.dispose()
        start = time.perf_counter()
        run = nt.catch_up(rt, max_passes=10_000)
        ours = time.perf_counter() - start
        events, floor = _baseline(url, batch, rt)
        _, read = _baseline(url, batch)
        assert run.events == events, (run.events, events)
        return {
            "backend": backend,
            "claims": n_claims,
            "events": events,
            "notices": run.notifications,
            "seconds": round(ours, 3),
            "events_per_second": round(events / ours),
            "baseline_seconds": round(floor, 3),
            "read_seconds": round(read, 3),
            "ratio": round(ours / floor, 2) if floor else None,
        }
    finally:
        dispose_engines()
        drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(json.dumps(measure(args.claims, backend)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
