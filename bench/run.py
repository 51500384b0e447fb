"""Benchmarks (issue 11): each step against a baseline measured in the same run, on SQLite and PostgreSQL.

For every size and backend:

- `import`: `claims import` of one streamed JSON case file (claims, evidence, hash-chained
  events) against raw SQLAlchemy Core executemany of the same rows into the same tables
  (no events). Target: ratio <= 2.
- `assess_full`: the assessment service over every claim (batches, events, reviews) against a
  hand-written assessment: one SQL query for claims, evidence and source roots, the v1 rules in
  plain Python, one bulk update plus review requests and hashed events, and one UPDATE stamping
  every judged claim as judged at its version (what the incremental assessment reads; ours must
  write it too). Both assess the same database: a copy of ours as `claims import` left it (its
  event log included, which both extend), taken before ours runs. Results checked equal (stage
  and requested review of every claim, nothing left stale, ours passing `audit verify`, the
  baseline's hash chain intact). Target: ratio <= 2.
- `assess_scaling`: seconds per claim of `assess_full` at this size over that at the size
  before. Target: ratio <= 1.5.
- `reassess_unchanged` / `reassess_one`: the incremental assessment with nothing changed / after
  one new evidence item (absolute targets 2 s / 1 s; the baseline column is the full run).
- `whatif`: one hypothetical item on a case of every claim (absolute target 2 s).
- `review_queue`: the first page of the pending review queue by impact (20 requests, each
  assessed) with the true total, as `claims review list` and the dashboard ask for it
  (absolute target 0.5 s); agrees when the total is every pending request.
- `read:*`: the reading commands (`claims --help`, `show`, `list`, `readiness`, with and
  without `--json`, and `review list`) as a person runs them: a fresh process, warm (one run
  first, and our packages compiled, as `make install` leaves them), the median of three wall
  clocks (absolute target 0.5 s). The baseline column is the same process importing only the
  libraries every reading command needs (typer, SQLAlchemy's ORM, pydantic-settings): the floor
  no reading command but `--help` can go under on this machine (0.77-0.85 s of CPU on the 2-core
  AMD EPYC here, of which SQLAlchemy 0.35 s and pydantic-settings with pydantic 0.3 s).
- `ntk:*` (issue 20, need to know): the main reads as the services answer them - `ntk:list` (the
  first page of `claims list`), `ntk:show`, `ntk:readiness`, `ntk:review_list` (its first page) -
  for a reader who is a member of the case (their reads filter on the member cases and the
  markings), against a reader with deployment-wide access (the path every reader took before
  issue 20, still filtering on markings). In process, warm, the median of seven runs of each,
  alternating. Target: ratio <= 1.2; agrees when both read the same rows.
- `explain:*` (PostgreSQL): EXPLAIN of the set-based reads; met when no sequential scan of
  evidence or events is planned. `explain:list_*`, `explain:show`, `explain:readiness` and
  `explain:whatif` explain every statement the real read sends, with its own parameters.
- `orchestration` (SQLite, the run's smallest size): `claims assess --all` as a user runs it, a
  process of its own, through a Prefect API server already running (as `claims serve` provides),
  against a process doing the same work with the service alone. Target: overhead <= 1 s. Its
  parts: `orchestration_imports` (what importing Prefect and our flows adds to a process that
  imports the services) and `orchestration_in_process` (the flow run through the server, imports
  done, against the service: client, flow run, task runs, artifact). `reassess_one_flow`: after
  one new evidence item, `claims assess` through the flow against the same command with nothing
  to assess (the fixed flow cost). Target: under 1 s more. Wall clock, median of 3.
  These need a Prefect API server: its start takes 10-60 s on a busy machine, so they are not
  part of `SIZE=quick` (`--orchestration` adds them to any run, `--no-orchestration` drops them).

Every measured step runs in a forked child, so `peak_rss_mb` is that step's own peak (target
< 500 MB). Prints a table and writes bench/results.json. Exits 1 if results disagree with the
baseline, never for timings (machines here are shared and noisy).

Run: `make bench` (1k, 10k, 100k) or `make bench SIZE=quick` (a smoke run the test suite uses).
One step at one size: `python -m bench.run --size 100000 --backend sqlite --only import --output /tmp/r.json`
(`--only assess`: the imports, then `assess_full` and `assess_scaling`; `--only ntk`: those, then `ntk:*`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import bindparam, create_engine, insert, select, text, update

from bench.acting import proven
from bench.build import insert_sources
from bench.synthetic import write_case_json
from migrations import alembic_config

SIZES = {"quick": [300], "full": [1_000, 10_000, 100_000]}
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).with_name("results.json")
RSS_LIMIT_MB = 500
ROOT = Path(__file__).resolve().parents[1]
REPEAT = 3  # orchestration timings: median of this many processes
REVIEW_PAGE = 20  # `claims review list` shows 20 by default


@dataclass
class Result:
    name: str
    size: int
    backend: str
    seconds: float
    baseline_seconds: float | None
    ratio: float | None
    target: str
    met: bool
    peak_rss_mb: float
    agrees: bool = True
    note: str = ""


# --- measuring --------------------------------------------------------------------------------


def measured(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Run `fn` in a forked child: (seconds, the child's peak RSS in MB, what fn returned)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        from claims.store import db

        for engine in db._ENGINES.values():  # connections belong to the parent
            engine.dispose(close=False)
        db._ENGINES.clear()
        try:
            start = time.perf_counter()
            value = fn()
            seconds = time.perf_counter() - start
            out: Any = ("ok", seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, value)
        except BaseException as exc:
            out = ("error", repr(exc))
        with os.fdopen(write, "wb") as fh:
            pickle.dump(out, fh)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    got = pickle.loads(data)
    if got[0] != "ok":
        raise RuntimeError(f"benchmark step failed: {got[1]}")
    return got[1], got[2], got[3]


# --- databases --------------------------------------------------------------------------------


class Databases:
    """Fresh, migrated databases per backend; PostgreSQL ones are dropped at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pg_names: list[str] = []

    def fresh(self, backend: str, label: str) -> str:
        url = f"sqlite:///{self.tmp / label}.db" if backend == "sqlite" else self._create_pg(label)
        command.upgrade(alembic_config(url), "head")
        return url

    def copy(self, backend: str, url: str, label: str) -> str:
        """A copy of the database at `url` (same rows, same pages or same files), as a fresh URL."""
        from claims.store.db import dispose_engines

        dispose_engines()  # no connection of ours may stay open on the template
        if backend == "sqlite":
            target = self.tmp / f"{label}.db"
            src, dst = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(target)
            src.backup(dst)  # page by page, WAL included
            src.close()
            dst.close()
            return f"sqlite:///{target}"
        return self._create_pg(label, template=url.rsplit("/", 1)[1])

    def _create_pg(self, label: str, template: str | None = None) -> str:
        """A new PostgreSQL database (a copy of `template` if given), dropped by `drop_all`; its URL."""
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        admin.dispose()
        self.pg_names.append(name)
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    def drop_all(self) -> None:
        from claims.store.db import dispose_engines

        dispose_engines()
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.pg_names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


# --- baselines --------------------------------------------------------------------------------


def baseline_import(url: str, path: Path) -> dict[str, int]:
    """Raw Core executemany of the file's rows (case, sources, claims, evidence), no events, no checks."""
    from claims.store.models import Case, Claim, Evidence

    data = json.loads(path.read_text(encoding="utf-8"))
    engine = create_engine(url)
    stamp = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as conn:
        case_id = conn.execute(
            insert(Case.__table__).returning(Case.__table__.c.id),
            {"key": data["case"]["key"], "title": data["case"]["title"], "created_at": stamp},
        ).scalar_one()
        ids = insert_sources(conn, case_id, data["sources"])
        claims = data["claims"]
        ct, et = Claim.__table__, Evidence.__table__
        for i in range(0, len(claims), 5000):
            part = claims[i : i + 5000]
            rows = [
                {
                    "case_id": case_id,
                    "key": c["key"],
                    "statement": c["statement"],
                    "stage": "reported",
                    "at_risk": False,
                    "version": 1,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "reported_at": stamp,
                }
                for c in part
            ]
            claim_ids = conn.execute(insert(ct).returning(ct.c.id, sort_by_parameter_order=True), rows).scalars().all()
            ev_rows = [
                {
                    "claim_id": cid,
                    "source_id": ids[e["source"]],
                    "stance": e["stance"],
                    "credibility": e["credibility"],
                    "summary": e["summary"],
                    "added_by": "alice",
                    "added_at": stamp,
                    "fingerprint": hashlib.sha256(
                        f"{e['source']}{e['stance']}{e['credibility']}{e['summary']}".encode()
                    ).hexdigest(),
                    "retracted": False,
                }
                for cid, c in zip(claim_ids, part, strict=True)
                for e in c["evidence"]
            ]
            conn.execute(insert(et), ev_rows)
    engine.dispose()
    return {"claims": len(claims), "evidence": sum(len(c["evidence"]) for c in claims)}


def _roots(sources: list[Any]) -> dict[int, int]:
    parent = {s.id: s.derived_from_id for s in sources}
    out = {}
    for sid in parent:
        root = sid
        while parent[root] is not None:
            root = parent[root]
        out[sid] = root
    return out


def baseline_assess(url: str) -> dict[str, tuple[str, str | None]]:
    """The hand-written assessment: one query, the v1 rules in plain Python, bulk writes, hashed events."""
    from claims.store.events import GENESIS, _row_hash
    from claims.store.models import Claim, Event, Evidence, ReviewRequest, Source

    engine = create_engine(url)
    ct, et, st = Claim.__table__, Evidence.__table__, Source.__table__
    c3 = lambda r, c: r in "ABC" and c <= 3  # noqa: E731 - graded C3 or better
    b2 = lambda r, c: r in "AB" and c <= 2  # noqa: E731
    result: dict[str, tuple[str, str | None]] = {}
    stamp = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as conn:
        roots = _roots(conn.execute(select(st.c.id, st.c.derived_from_id)).all())
        rows = conn.execute(
            select(
                ct.c.id, ct.c.key, ct.c.stage, et.c.stance, et.c.credibility, et.c.retracted, st.c.id, st.c.reliability
            )
            .select_from(ct.outerjoin(et, et.c.claim_id == ct.c.id).outerjoin(st, st.c.id == et.c.source_id))
            .where(ct.c.stage.in_(("reported", "corroborated")))
            .order_by(ct.c.id)
        )
        claims: dict[int, list[Any]] = {}
        for cid, key, stage, stance, cred, retracted, sid, rel in rows:
            entry = claims.setdefault(cid, [key, stage, set(), set(), set(), set()])
            if stance is None or retracted or not c3(rel, cred):
                continue
            root = roots[sid]
            if stance == "supports":
                entry[2].add(root)
                if b2(rel, cred):
                    entry[3].add(root)
            else:
                entry[4].add(root)
                if b2(rel, cred):
                    entry[5].add(root)
        moves, reviews, events = [], [], []
        for cid, (key, stage, sup, sup_b2, con, con_b2) in claims.items():
            review = None
            refute = len(con) >= 2 and con_b2 and len(con) > len(sup)
            new = stage
            if not refute and stage == "reported" and len(sup) >= 2:
                new = "corroborated"
            elif stage == "corroborated" and len(sup) < 2:
                new = "reported"
            if refute:
                review = "refuted"
            elif new == "corroborated" and len(sup) >= 3 and sup_b2 and not con:
                review = "confirmed"
            if new != stage:
                moves.append({"cid": cid, "stage": new, "at": stamp})
                events.append({"kind": "claim.stage_changed", "claim_key": key, "from_stage": stage, "to_stage": new})
            if review:
                reviews.append(
                    {
                        "claim_id": cid,
                        "from_stage": new,
                        "to_stage": review,
                        "status": "pending",
                        "requested_by": "system",
                        "requested_at": stamp,
                        "policy_version": "v1",
                    }
                )
                events.append({"kind": "review.requested", "claim_key": key, "from_stage": new, "to_stage": review})
            result[key] = (new, review)
        if moves:
            conn.execute(
                update(ct)
                .where(ct.c.id == bindparam("cid"))
                .values(stage=bindparam("stage"), corroborated_at=bindparam("at"), version=ct.c.version + 1),
                moves,
            )
        # every judged claim stamped as judged at its version (one statement), as the incremental
        # assessment needs: without it the next `claims assess` would judge them all again
        conn.execute(
            update(ct)
            .where(ct.c.stage.in_(("reported", "corroborated")))
            .values(assessed_version=ct.c.version, assessed_policy="v1")
        )
        if reviews:
            conn.execute(insert(ReviewRequest.__table__), reviews)
        head = conn.scalar(select(Event.hash).order_by(Event.id.desc()).limit(1)) or GENESIS
        chained = []
        for ev in events:
            row = {
                "at": stamp,
                "actor": "system",
                "case_key": "bench",
                "rationale": None,
                "policy_version": "v1",
                "payload": {},
                "prev_hash": head,
                **ev,
            }
            row["hash"] = head = _row_hash(row)
            chained.append(row)
        if chained:
            conn.execute(insert(Event.__table__), chained)
    engine.dispose()
    return result


# --- ours -------------------------------------------------------------------------------------


def our_state(url: str) -> dict[str, tuple[str, str | None]]:
    """Stage and pending review target of every claim, to compare with the baseline's."""
    from claims.store.models import Claim, ReviewRequest

    engine = create_engine(url)
    with engine.connect() as conn:
        pending = dict(
            conn.execute(
                select(ReviewRequest.claim_id, ReviewRequest.to_stage).where(ReviewRequest.status == "pending")
            ).all()
        )
        out = {
            key: (stage, pending.get(cid)) for cid, key, stage in conn.execute(select(Claim.id, Claim.key, Claim.stage))
        }
    engine.dispose()
    return out


def our_assess(url: str, changed_only: bool) -> int:
    from claims import services
    from claims.services import Runtime
    from claims.settings import get_settings

    rt = Runtime(url)
    keys = services.open_claim_keys(rt, changed_only=changed_only)
    size = get_settings().batch_size  # the flow's batches, without the flow
    for i in range(0, len(keys), size):
        services.assess_claims(rt, services.system_identity(), keys[i : i + size])
    return len(keys)


def stale(url: str) -> list[str]:
    """Claims the incremental assessment would judge again: none after a full assessment."""
    from claims import services
    from claims.services import Runtime

    return services.open_claim_keys(Runtime(url), changed_only=True)


def hashes_ok(url: str) -> bool:
    """The hash chain alone (the baseline's events carry no review ids, so `audit verify`'s replay cannot match)."""
    from sqlalchemy.orm import Session

    from claims.store.events import verify_chain

    engine = create_engine(url)
    with Session(engine) as session:
        ok = verify_chain(session).ok
    engine.dispose()
    return ok


def chain_ok(url: str) -> bool:
    from claims import services
    from claims.services import Runtime

    return bool(services.audit_verify(Runtime(url)).ok)


EXPLAINED = {
    "explain:review_queue": "SELECT r.id, c.key, (SELECT count(*) FROM action_requirements a "
    "WHERE a.claim_id = r.claim_id) AS gates FROM review_requests r JOIN claims c ON c.id = r.claim_id "
    "WHERE r.status = 'pending' ORDER BY gates DESC, r.requested_at, r.id LIMIT 20",
    "explain:claim_evidence": "SELECT e.* FROM evidence e JOIN claims c ON c.id = e.claim_id WHERE c.key = 'bench-c7'",
    "explain:claim_history": "SELECT * FROM events WHERE claim_key = 'bench-c7' ORDER BY id",
    "explain:changed_claims": "SELECT key FROM claims WHERE assessed_version IS NULL OR assessed_version <> version "
    "OR assessed_policy IS NULL OR assessed_policy <> 'v1' ORDER BY id",
}


READS = {  # the reading commands of issue 11, on the benchmark's own case
    "read:help": ["--help"],
    "read:show": ["show", "bench-c7"],
    "read:show_json": ["show", "bench-c7", "--json"],
    "read:list": ["list"],
    "read:list_json": ["list", "--json"],
    "read:list_filtered": ["list", "--stage", "corroborated", "--source", "s0", "--json"],
    "read:readiness": ["readiness"],
    "read:readiness_json": ["readiness", "--json"],
    "read:review_list": ["review", "list"],
}
READ_FLOOR = "import typer, sqlalchemy.orm, pydantic_settings"
ROOT = Path(__file__).resolve().parent.parent


def timed_process(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall seconds, the child's own peak RSS in MB, exit code, its stdout) of one subprocess."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, proc.returncode, out.read().decode()


def read_command(url: str, args: list[str], runs: int = 3) -> tuple[float, float, int, str]:
    """A reading command in a fresh process, warm: one run first, then the median of `runs` wall clocks.

    It reads as alice (a service-style token in CLAIMS_TOKEN): a read names its reader (issue 20).
    """
    from claims.services import Runtime
    from claims.services.identity import issue_token_unchecked

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # warm means compiled
    token = issue_token_unchecked(Runtime(url), "alice", reason="bench").token
    env |= {"CLAIMS_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "CLAIMS_TOKEN": token}
    argv = [sys.executable, "-m", "claims.cli", *args] if args else [sys.executable, "-c", READ_FLOOR]
    timed_process(argv, env)
    times, peak, code, out = [], 0.0, 0, ""
    for _ in range(runs):
        seconds, rss, code, out = timed_process(argv, env)
        times.append(seconds)
        peak = max(peak, rss)
    return sorted(times)[len(times) // 2], peak, code, out


def explain_calls(url: str, call: Callable[[], Any]) -> tuple[float, list[dict[str, Any]]]:
    """EXPLAIN ANALYZE of every SELECT `call` sends, with its own parameters: (seconds in all, plans)."""
    from sqlalchemy import event

    from claims.store.db import get_engine

    sent: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    seconds, plans = 0.0, []
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for statement, parameters in sent:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
            top = cursor.fetchone()[0][0]
            seconds += (top["Planning Time"] + top["Execution Time"]) / 1000
            plans.append(top["Plan"])
        cursor.close()
    return seconds, plans


def explain(url: str, sql: str) -> tuple[float, dict[str, Any]]:
    """Seconds (planning + execution) and the plan tree of EXPLAIN ANALYZE."""
    engine = create_engine(url)
    with engine.connect() as conn:
        plan = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).scalar_one()
    engine.dispose()
    top = plan[0]
    return (top["Planning Time"] + top["Execution Time"]) / 1000, top["Plan"]


def plan_nodes(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, relation) of every node in a plan tree."""
    out = [(plan["Node Type"], plan.get("Relation Name"))]
    for child in plan.get("Plans", []):
        out += plan_nodes(child)
    return out


# --- the run ----------------------------------------------------------------------------------


def run_size(
    dbs: Databases, backend: str, size: int, tmp: Path, per_claim_before: dict[str, float], only: str | None = None
) -> list[Result]:
    from claims import services
    from claims.services import Runtime
    from claims.services.whatif import Hypothesis, what_if

    results: list[Result] = []

    def add(name: str, seconds: float, baseline: float | None, target: str, met: bool, rss: float, **kw: Any) -> None:
        ratio = seconds / baseline if baseline else None
        results.append(
            Result(
                name,
                size,
                backend,
                round(seconds, 4),
                baseline and round(baseline, 4),
                ratio and round(ratio, 3),
                target,
                met and rss < RSS_LIMIT_MB,
                round(rss, 1),
                **kw,
            )
        )

    case = tmp / f"case-{size}.json"
    if not case.exists():
        write_case_json(case, size)
    ours_url, base_url = dbs.fresh(backend, f"ours{size}"), dbs.fresh(backend, f"base{size}")
    services.ensure_users(Runtime(ours_url), {"admin": "admin", "alice": "analyst"})
    alice = proven(Runtime(ours_url), "alice")

    secs, rss, report = measured(lambda: services.import_path(Runtime(ours_url), alice, case).created)
    bsecs, _, counts = measured(lambda: baseline_import(base_url, case))
    agrees = report["claims"] == counts["claims"] and report["evidence"] == counts["evidence"] and chain_ok(ours_url)
    add("import", secs, bsecs, "ratio <= 2", secs <= 2 * bsecs, rss, agrees=agrees)
    again, rss2, report2 = measured(lambda: services.import_path(Runtime(ours_url), alice, case).created)
    add(
        "import_again",
        again,
        secs,
        "creates nothing",
        not any(report2.values()),
        rss2,
        agrees=not any(report2.values()),
    )
    if only == "import":
        return results

    judged_url = dbs.copy(backend, ours_url, f"judged{size}")  # the baseline assesses the same database
    secs, rss, n = measured(lambda: our_assess(ours_url, changed_only=False))
    bsecs, _, expected = measured(lambda: baseline_assess(judged_url))
    agrees = our_state(ours_url) == expected and our_state(judged_url) == expected and chain_ok(ours_url)
    agrees = agrees and hashes_ok(judged_url) and not any(stale(url) for url in (ours_url, judged_url))
    add("assess_full", secs, bsecs, "ratio <= 2", secs <= 2 * bsecs, rss, agrees=agrees and n == size)
    per_claim = secs / size
    before = per_claim_before.get(backend)
    if before:
        add(
            "assess_scaling",
            per_claim,
            before,
            "ratio <= 1.5 (per claim vs previous size)",
            per_claim <= 1.5 * before,
            rss,
        )
    per_claim_before[backend] = per_claim
    if only == "assess":
        return results
    if only == "ntk":
        results += need_to_know(ours_url, size, backend)
        return results
    full = secs

    secs, rss, n = measured(lambda: our_assess(ours_url, changed_only=True))
    add("reassess_unchanged", secs, full, "seconds < 2", secs < 2.0, rss, agrees=n == 0)
    rt = Runtime(ours_url)
    services.add_evidence(rt, alice, "bench-c1", "s0", "supports", credibility=2, summary="one more item")
    secs, rss, n = measured(lambda: our_assess(ours_url, changed_only=True))
    add("reassess_one", secs, full, "seconds < 1", secs < 1.0, rss, agrees=n == 1)

    hypothesis = [Hypothesis(claim="bench-c2", stance="supports", credibility=2, reliability="B")]
    secs, rss, moved = measured(
        lambda: {
            p.claim: p.projected.value for p in what_if(Runtime(ours_url), "bench", hypothesis).claims if p.affected
        }
    )
    add("whatif", secs, None, "seconds < 2", secs < 2.0, rss, agrees=list(moved) == ["bench-c2"])

    def first_page() -> tuple[int, int]:
        page = services.review_page(Runtime(ours_url), limit=REVIEW_PAGE)
        return page.total, len(page.items)

    secs, rss, (total, shown) = measured(first_page)
    pending = sum(1 for _, review in our_state(ours_url).values() if review)
    agrees = total == pending and shown == min(REVIEW_PAGE, pending)
    add("review_queue", secs, None, "seconds < 0.5", secs < 0.5, rss, agrees=agrees)

    results += need_to_know(ours_url, size, backend)
    floor, _, _, _ = read_command(ours_url, [])
    smoke = size < 1_000  # the suite's quick run: a few commands, one timed run each
    for name, args in READS.items():
        if smoke and name not in ("read:help", "read:show", "read:list_json", "read:readiness_json"):
            continue
        secs, rss, code, out = read_command(ours_url, args, runs=1 if smoke else 3)
        answered = code == 0 and bool(out.strip())
        if name == "read:list_json":
            page = json.loads(out)
            answered = answered and page["total"] >= size and len(page["claims"]) == min(page["total"], page["limit"])
        add(name, secs, floor, "seconds < 0.5", secs < 0.5, rss, agrees=answered)

    if backend == "postgresql":
        for name, sql in EXPLAINED.items():
            secs, plan = explain(ours_url, sql)
            seq = sorted({t for node, t in plan_nodes(plan) if node == "Seq Scan" and t in ("evidence", "events")})
            add(name, secs, None, "no seq scan of evidence/events", not seq, 0.0, note=", ".join(seq))
        for name, call in explained_reads(ours_url, hypothesis, size).items():
            secs, plans = explain_calls(ours_url, call)
            nodes = [n for plan in plans for n in plan_nodes(plan)]
            seq = sorted({t for node, t in nodes if node == "Seq Scan" and t in ("evidence", "events")})
            add(name, secs, None, "no seq scan of evidence/events", not seq, 0.0, note=", ".join(seq))
    return results


NTK_RUNS = 7


def need_to_know(url: str, size: int, backend: str) -> list[Result]:
    """`ntk:*`: the main reads for a member of the case against a reader of every case (the baseline)."""
    from claims import services
    from claims.services import Runtime, membership
    from claims.services.access import reach
    from claims.store.queries import ClaimFilters, claim_page

    rt = Runtime(url)
    if not any(u.name == "mem" for u in services.list_users(rt)):
        admin = proven(rt, "admin")
        services.add_user(rt, admin, "mem", "analyst")  # a new person: no case, the lowest clearance
        membership.set_clearance(rt, admin, "mem", "TLP:AMBER")  # the benchmark's rows are AMBER
        membership.add_member(rt, admin, "bench", "mem", "analyst")

    def reads(name: str) -> dict[str, Callable[[], Any]]:
        who = proven(rt, name)
        return {
            "ntk:list": lambda: list(claim_page(url, ClaimFilters(reach=reach(rt, who)), limit=50)[1]),
            "ntk:show": lambda: services.claim_detail(rt, "bench-c7", who=who),
            "ntk:readiness": lambda: services.readiness_json(services.action_readiness(rt, who=who)),
            "ntk:review_list": lambda: services.review_page(rt, limit=REVIEW_PAGE, who=who).items,
        }

    member, everyone = reads("mem"), reads("alice")
    out = []
    for name in member:
        member[name](), everyone[name]()  # warm
        mine, base = [], []
        for _ in range(NTK_RUNS):
            for fn, times in ((member[name], mine), (everyone[name], base)):
                start = time.perf_counter()
                got = fn()
                times.append(time.perf_counter() - start)
        agrees = json.dumps(member[name](), default=str) == json.dumps(everyone[name](), default=str)
        secs, bsecs = sorted(mine)[NTK_RUNS // 2], sorted(base)[NTK_RUNS // 2]
        ratio = secs / bsecs if bsecs else None
        out.append(
            Result(
                name,
                size,
                backend,
                round(secs, 4),
                round(bsecs, 4),
                ratio and round(ratio, 3),
                "ratio <= 1.2",
                bool(ratio is not None and ratio <= 1.2),
                0.0,
                agrees=agrees and got is not None,
            )
        )
    return out


def explained_reads(url: str, hypothesis: list[Any], size: int) -> dict[str, Callable[[], Any]]:
    """The reads behind `claims list`, `show`, `readiness` and the what-if, as the commands call them.

    Not the grade filter: counting the claims with live B2 evidence reads a fifth of all evidence,
    and a sequential scan is the right plan for that (an index on evidence (source_id,
    credibility) was tried at 100k; PostgreSQL rightly ignores it).
    """
    from claims import services
    from claims.services import Runtime
    from claims.services.access import system_reader
    from claims.services.whatif import what_if
    from claims.store.queries import ClaimFilters, claim_page

    rt = Runtime(url)
    everything = system_reader(rt.markings)

    def page(filters: ClaimFilters, offset: int = 0) -> Callable[[], Any]:
        return lambda: list(claim_page(url, filters, limit=50, offset=offset)[1])

    return {
        "explain:list_page": page(ClaimFilters(reach=everything)),
        "explain:list_last_page": page(ClaimFilters(reach=everything), offset=max(0, size - 25)),
        "explain:list_stage": page(ClaimFilters(stages=["corroborated"], reach=everything)),
        "explain:list_source": page(ClaimFilters(source="s0", reach=everything)),
        "explain:show": lambda: services.claim_detail(rt, "bench-c7"),
        "explain:readiness": lambda: services.action_readiness(rt),
        "explain:whatif": lambda: what_if(rt, "bench", hypothesis),
    }


# --- orchestration ----------------------------------------------------------------------------


class PrefectServer:
    """A Prefect API server for the orchestration steps (Prefect's own app under uvicorn, API only) on its own
    PREFECT_HOME, in a session of its own; `stop` ends it."""

    def __init__(self, tmp: Path, timeout: float = 300) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CLAIMS_"))}
        self.env |= {"PREFECT_HOME": str(tmp / "prefect-home"), "PYTHONPATH": str(ROOT)}
        self.env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
        began = time.monotonic()
        app = "prefect.server.api.server:create_app"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port)],
            env=self.env | {"PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while not _healthy(self.url):
            if self.proc.poll() is not None or time.monotonic() - began > timeout:
                self.stop()
                raise RuntimeError(f"the Prefect API for the orchestration steps did not start within {timeout} s")
            time.sleep(0.2)
        self.started_in = time.monotonic() - began

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVICE_ALONE = """
import os
import sys
from claims import services
from claims.services import Runtime, verify_token
from claims.settings import get_settings
rt = Runtime(sys.argv[1])
keys = services.open_claim_keys(rt, changed_only=sys.argv[2] == "changed")
size = get_settings().batch_size
alice = verify_token(rt, os.environ["CLAIMS_TOKEN"])  # the same sign-in as the command
for i in range(0, len(keys), size):
    services.assess_claims(rt, alice, keys[i : i + size])
print(len(keys))
"""


def wall(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Median wall-clock and CPU (user + system) seconds of REPEAT runs of a process, and what the last
    one printed. CPU time barely moves with the machine's load; wall clock is what a person waits."""
    times, cpu, printed = [], [], ""
    for _ in range(REPEAT):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT, timeout=900)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:4])} failed: {done.stderr.strip()[-500:]}")
        printed = done.stdout
    return statistics.median(times), statistics.median(cpu), printed


def flow_in_process(url: str, api: str) -> float:
    """Seconds of one assessment flow run through `api`, Prefect and the flows already imported."""
    os.environ["PREFECT_API_URL"] = api  # before Prefect's import: its settings are read then
    import flows

    flows.lean_prefect_import()
    from claims.services import Runtime
    from claims.settings import get_settings
    from flows.common import silence_console
    from flows.runner import assess

    get_settings.cache_clear()
    silence_console()
    rt = Runtime(url)
    alice = proven(rt, "alice")
    assess(rt, alice, None, full=True)  # the first run of a process pays Prefect's lazy imports and clients
    start = time.perf_counter()
    assess(rt, alice, None, full=True)
    return time.perf_counter() - start


def service_in_process(url: str) -> float:
    from claims import services
    from claims.services import Runtime

    rt = Runtime(url)
    alice = proven(rt, "alice")
    services.assess_claims(rt, alice, services.open_claim_keys(rt, changed_only=False))
    start = time.perf_counter()
    services.assess_claims(rt, alice, services.open_claim_keys(rt, changed_only=False))
    return time.perf_counter() - start


class ClaimsServe:
    """`claims serve` on the bench's database and Prefect API, as a team runs it (system token, own config dir);
    ready when its HTTPS API answers /health to a client pinning its certificate. `client_env` points a
    command at it (CLAIMS_API_URL, CLAIMS_API_CERT)."""

    def __init__(self, env: dict[str, str], url: str, tmp: Path, timeout: float = 300) -> None:
        import socket
        import ssl

        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        tls = tmp / "claims-tls"
        self.client_env = {"CLAIMS_API_URL": f"https://127.0.0.1:{port}", "CLAIMS_API_CERT": str(tls / "api-cert.pem")}
        self.log = tmp / "claims-serve.log"
        began = time.monotonic()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "claims.cli", "serve", "--every", "1440", "--intake-every", "3600"],
                env=env | {"CLAIMS_API_PORT": str(port), "CLAIMS_API_TLS_DIR": str(tls)},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )

        def up() -> bool:
            try:
                context = ssl.create_default_context(cafile=self.client_env["CLAIMS_API_CERT"])
                return httpx.get(self.client_env["CLAIMS_API_URL"] + "/health", verify=context, timeout=2).is_success
            except (OSError, httpx.HTTPError, ssl.SSLError):
                return False

        while not up():
            if self.proc.poll() is not None or time.monotonic() - began > timeout:
                self.stop()
                raise RuntimeError(f"claims serve did not start: {self.log.read_text()[-1000:]}")
            time.sleep(0.3)
        self.started_in = time.monotonic() - began

    def stop(self) -> None:
        from flows.serve import stop_process

        stop_process(self.proc)  # type: ignore[arg-type]


def run_orchestration(dbs: Databases, size: int, tmp: Path) -> list[Result]:
    """`claims assess` through a running `claims serve` (and without it) against the service alone
    (see the module docstring)."""
    from claims import services
    from claims.services import Runtime
    from claims.services.identity import issue_token, issue_token_unchecked

    case = tmp / f"case-{size}.json"
    if not case.exists():
        write_case_json(case, size)
    url = dbs.fresh("sqlite", f"orchestration{size}")
    rt = Runtime(url)
    services.ensure_users(rt, {"admin": "admin", "alice": "analyst"})
    alice = proven(rt, "alice")
    services.import_path(rt, alice, case)
    services.assess_claims(rt, alice, services.open_claim_keys(rt, changed_only=False))  # later runs compare alike
    server = PrefectServer(tmp)
    serve: ClaimsServe | None = None
    try:
        env = server.env | {
            "CLAIMS_DATABASE_URL": url,
            "CLAIMS_TOKEN": issue_token_unchecked(rt, "alice", reason="bench").token,
            "PREFECT_API_URL": server.url,  # the command's own flow runs (orchestration_local) go there
            "CLAIMS_CONFIG_DIR": str(tmp / "claims-config"),
            "CLAIMS_KEY_DIR": str(tmp / "claims-keys"),
            "CLAIMS_INBOX": str(tmp / "inbox"),
        }
        system = issue_token(rt, proven(rt, "admin"), "system").token
        serve = ClaimsServe(env | {"CLAIMS_TOKEN": system, "PREFECT_API_URL": server.url}, url, tmp)
        cli = [sys.executable, "-m", "claims.cli", "assess", "--json"]
        service = [sys.executable, "-c", SERVICE_ALONE, url]
        local = dict(env)  # no CLAIMS_API_URL: the command runs the flow itself
        env = env | serve.client_env
        results: list[Result] = []

        def add(name: str, secs: float, base: float, target: str, limit: float, agrees: bool, note: str) -> None:
            over = secs - base
            results.append(
                Result(
                    name,
                    size,
                    "sqlite",
                    round(secs, 4),
                    round(base, 4),
                    round(secs / base, 3),
                    target,
                    over <= limit,
                    0.0,
                    agrees,
                    f"overhead {over:.2f} s; {note}",
                )
            )

        secs, cpu, printed = wall([*cli, "--all"], env)
        base, base_cpu, counted = wall([*service, "all"], env)
        agrees = json.loads(printed)["assessed"] == int(counted) == size
        add(
            "orchestration",
            secs,
            base,
            "overhead <= 1 s",
            1.0,
            agrees,
            f"through `claims serve` (up in {serve.started_in:.0f} s); command CPU {cpu:.2f} s vs {base_cpu:.2f} s; "
            f"subprocess wall, median of {REPEAT}",
        )
        lean = "import flows; flows.lean_prefect_import(); import claims.services"
        imports, cpu, _ = wall(
            [sys.executable, "-c", f"{lean}, prefect, fastapi.encoders, flows.runner, flows.assessment"], env
        )
        services_only, base_cpu, _ = wall([sys.executable, "-c", lean], env)
        add(
            "orchestration_imports",
            imports,
            services_only,
            "reference: Prefect's own import",
            float("inf"),
            True,
            f"CPU {cpu:.2f} s vs {base_cpu:.2f} s; Prefect (with what its flow runs import) and our flows, "
            "over the services: what a command without `claims serve` pays",
        )
        home = os.environ.get("PREFECT_HOME")
        os.environ["PREFECT_HOME"] = env["PREFECT_HOME"]  # the forked children import Prefect with it
        try:
            _, _, flow_secs = measured(lambda: flow_in_process(url, server.url))
            _, _, service_secs = measured(lambda: service_in_process(url))
        finally:
            if home is None:
                os.environ.pop("PREFECT_HOME")
            else:
                os.environ["PREFECT_HOME"] = home
        add(
            "orchestration_in_process",
            flow_secs,
            service_secs,
            "overhead <= 1 s",
            1.0,
            True,
            "one flow run through the server, imports done: client, flow run, task run, artifact",
        )
        secs, cpu, printed = wall([*cli, "--all"], local)
        prefect_cost = (imports - services_only) + (flow_secs - service_secs)
        add(
            "orchestration_local",
            secs,
            base,
            "overhead <= Prefect's own + 1 s",
            prefect_cost + 1.0,
            json.loads(printed)["assessed"] == size,
            f"in the command's own process (no CLAIMS_API_URL), Prefect API running; Prefect's own "
            f"{prefect_cost:.2f} s (imports + one flow run); CPU {cpu:.2f} s",
        )

        fixed, _, printed = wall(cli, env)
        nothing = json.loads(printed)["assessed"] == 0
        times, one = [], nothing
        for i in range(REPEAT):  # each time one new item on another claim, then the command that assesses it
            services.add_evidence(rt, alice, f"bench-c{i + 1}", "s0", "supports", credibility=2, summary="one more")
            start = time.perf_counter()
            done = subprocess.run(cli, env=env, capture_output=True, text=True, cwd=ROOT, timeout=900)
            times.append(time.perf_counter() - start)
            one = one and done.returncode == 0 and json.loads(done.stdout)["assessed"] == 1
        secs = statistics.median(times)
        add(
            "reassess_one_flow",
            secs,
            fixed,
            "< 1 s over the fixed flow cost",
            1.0,
            one,
            f"after one new evidence item, against the same command with nothing to assess (through `claims serve`); "
            f"median of {REPEAT}",
        )
        return results
    finally:
        if serve is not None:
            serve.stop()
        server.stop()


def print_table(results: list[Result]) -> None:
    head = (
        f"{'benchmark':<22} {'size':>7} {'backend':<10} {'seconds':>9} {'baseline':>9} {'ratio':>7} {'RSS MB':>7}"
        "  target / met / agrees"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        base = f"{r.baseline_seconds:.3f}" if r.baseline_seconds else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio else "-"
        print(
            f"{r.name:<22} {r.size:>7} {r.backend:<10} {r.seconds:>9.3f} {base:>9} {ratio:>7} {r.peak_rss_mb:>7.0f}  "
            f"{r.target} / {'met' if r.met else 'MISSED'} / {'agrees' if r.agrees else 'DISAGREES'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="full", help="quick, full, or comma-separated claim counts")
    parser.add_argument("--backend", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        choices=["import", "assess", "ntk", "orchestration"],
        help="run only these steps (import: import and import_again; assess: those, assess_full and "
        "assess_scaling; ntk: those, then the need-to-know reads; orchestration: the steps through Prefect "
        "and `claims serve`)",
    )
    parser.add_argument(
        "--orchestration",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the steps through a Prefect API server (default: on, except for --size quick)",
    )
    args = parser.parse_args(argv)
    sizes = SIZES.get(args.size) or [int(s) for s in args.size.split(",")]
    backends = [b for b in args.backend.split(",") if b]
    if "postgresql" in backends and not postgres_available():
        print(f"PostgreSQL not reachable at {PG_ADMIN}: SQLite only", file=sys.stderr)
        backends.remove("postgresql")
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        dbs = Databases(Path(tmp))
        try:
            for backend in backends if args.only != "orchestration" else []:
                before: dict[str, float] = {}
                for size in sizes:
                    results += run_size(dbs, backend, size, Path(tmp), before, args.only)
                    args.output.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
            wanted = args.orchestration if args.orchestration is not None else args.size != "quick"
            if args.only == "orchestration" or (wanted and args.only is None):
                results += run_orchestration(dbs, min(sizes), Path(tmp))
        finally:
            if dbs.pg_names:
                dbs.drop_all()
    print_table(results)
    args.output.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0 if all(r.agrees for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
