"""Use case: the known claims that say the same thing as a statement, or something related.

How it stays fast as the data grows (issue 17):

- every claim's statement has a vector in `claim_embeddings` (model, sha256 of the statement,
  int8 bytes). A claim whose statement is new or changed has no row or a row with another hash;
  only those are embedded (`refresh_index`), never the rest;
- each process keeps the vectors as one L2-normalised float32 matrix (`SimilarIndex`), built
  once from the table and then updated row by row from what changed. A lookup asks the database
  one aggregate ("did any claim change since?": count, max id, sum of versions; every ORM update
  of a claim bumps its version) and, when nothing did, is one matrix-vector product. When
  something did, the claims whose version moved are found from (id, version) alone, and only
  they are re-hashed, re-embedded if their text changed, and reloaded;
- the score is the cosine of the two vectors, judged by `claims.domain.similarity.judge`
  (negation, swapped names or numbers demote a pair; thresholds from the settings).

The model is WordLlama, whose package ships its weights and tokenizer: it is loaded from the
package's own files, so nothing is fetched at run time. When it cannot be loaded (or
CLAIMS_SIMILAR_MODEL=lexical), the lookup falls back to rapidfuzz's token-set ratio over the
statements held in memory: lexical, and a scan, but still an answer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from claims.domain.similarity import Thresholds, judge
from claims.services.access import case_for, reader
from claims.services.errors import InvalidInput, refuse_nul
from claims.services.identity import Identity
from claims.services.runtime import Runtime, authorize
from claims.settings import get_settings
from claims.store.models import Case, Claim, ClaimEmbedding

if TYPE_CHECKING:
    from claims.store.uow import UnitOfWork

log = logging.getLogger(__name__)

LEXICAL = "lexical"
_CANDIDATES = 50  # best raw scores judged per lookup: the near-miss checks may demote some


@dataclass(frozen=True)
class SimilarClaim:
    kind: str  # "same" or "related"
    score: float
    case_key: str
    claim_key: str
    statement: str
    conflicts: tuple[str, ...] = ()


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


class WordLlamaEmbedder:
    """WordLlama's l2_supercat 256-d model, from the files its wheel ships.

    Not `WordLlama.load()`: in 0.4.x it looks for the tokenizer in a `tokenizer/` folder while the
    wheel ships it in `tokenizers/`, and then tries to download it. Loading the two shipped files
    directly is the same model with no network.
    """

    name = "wordllama-l2_supercat-256"

    def __init__(self) -> None:
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = Path(wordllama.__file__).parent
        tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
        with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np", device="cpu") as f:
            weights = f.get_tensor("embedding.weight")
        self._model = WordLlamaInference(weights, tokenizer)

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self._model.embed(texts, norm=True), dtype=np.float32)
        return _normalise(vectors)


@lru_cache(maxsize=2)
def load_embedder(kind: str) -> Embedder | None:
    """The embedding model named by the setting, or None for the lexical fallback."""
    if kind == LEXICAL:
        return None
    try:
        return WordLlamaEmbedder()
    except Exception as exc:  # a missing or broken model package: say so once, answer lexically
        log.warning("similar claims: wordllama unavailable (%s); falling back to lexical matching", exc)
        return None


def statement_hash(statement: str) -> str:
    return hashlib.sha256(statement.encode()).hexdigest()


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return (vectors / norms).astype(np.float32)


def quantise(vectors: np.ndarray) -> list[bytes]:
    """Unit vectors as int8 bytes (x127): a quarter of float32, cosine within about 0.01."""
    return [row.tobytes() for row in np.clip(np.rint(vectors * 127), -127, 127).astype(np.int8)]


def dequantise(blobs: list[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    raw = np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(len(blobs), dim).astype(np.float32)
    return _normalise(raw)


# --- the persisted index ------------------------------------------------------------------------


_FEW = 5000  # up to this many changed claims are selected by id; more, and every claim is checked


def refresh_index(uow: UnitOfWork, embedder: Embedder, claim_ids: list[int] | None = None) -> int:
    """Embed the claims whose statement has no vector under this model, or a vector of another text.

    `claim_ids` limits the check to those claims (the ones whose version moved); None checks all.
    Returns how many were embedded. Writes only `claim_embeddings` (derived data, no audit event):
    the caller commits.
    """
    stmt = select(Claim.id, Claim.statement, ClaimEmbedding.statement_hash).outerjoin(
        ClaimEmbedding, (ClaimEmbedding.claim_id == Claim.id) & (ClaimEmbedding.model == embedder.name)
    )
    if claim_ids is not None:
        stmt = stmt.where(Claim.id.in_(claim_ids))
    rows = uow.session.execute(stmt)
    stale = []
    for claim_id, statement, stored in rows:
        digest = statement_hash(statement)
        if stored != digest:
            stale.append((claim_id, statement, digest, stored is not None))
    for start in range(0, len(stale), 2000):
        batch = stale[start : start + 2000]
        blobs = quantise(embedder.embed([s for _, s, _, _ in batch]))
        for (claim_id, _, digest, known), blob in zip(batch, blobs, strict=True):
            if known:
                row = uow.session.get(ClaimEmbedding, (claim_id, embedder.name))
                row.statement_hash, row.vector = digest, blob
            else:
                uow.session.add(
                    ClaimEmbedding(claim_id=claim_id, model=embedder.name, statement_hash=digest, vector=blob)
                )
        uow.session.flush()
    return len(stale)


# --- the in-memory index --------------------------------------------------------------------------


class SimilarIndex:
    """One process's copy of the claims and their vectors: a normalised matrix, updated by change."""

    def __init__(self, embedder: Embedder | None) -> None:
        self.embedder = embedder
        self.row: dict[int, int] = {}  # claim id -> row
        self.keys: list[str] = []
        self.cases: list[str] = []
        self.statements: list[str] = []
        self.versions: dict[int, int] = {}  # claim id -> the version its row was made from
        self.matrix = np.zeros((0, 256), dtype=np.float32)
        self.signature: tuple[Any, ...] | None = None
        self.lock = threading.Lock()

    @staticmethod
    def _signature(uow: UnitOfWork) -> tuple[Any, ...]:
        return tuple(uow.session.execute(select(func.count(), func.max(Claim.id), func.sum(Claim.version))).one())

    def sync(self, rt: Runtime) -> None:
        """Bring the matrix up to date: nothing to do when no claim changed since the last sync.

        A change is found by the claim's version (every ORM update of a claim bumps it); only
        those claims are checked against their stored hash, embedded if their text changed, and
        reloaded into their row. Reads in read transactions; a write transaction (PostgreSQL's
        writers' lock) only when there are vectors to store.
        """
        with rt.uow(write=False) as uow:
            signature = self._signature(uow)
            if signature == self.signature:
                return
            seen = {
                claim_id: version
                for claim_id, version in uow.session.execute(select(Claim.id, Claim.version))
                if self.versions.get(claim_id) != version
            }
        few = list(seen) if len(seen) <= _FEW else None
        if self.embedder is not None and seen:
            try:
                with rt.uow() as uow:
                    refresh_index(uow, self.embedder, few)
                    uow.commit()
            except IntegrityError:  # another process stored the same vectors first: read theirs below
                log.info("similar claims: vectors stored concurrently by another process")
        stmt = select(Claim.id, Claim.key, Case.key, Claim.statement).join(Case, Case.id == Claim.case_id)
        if few is not None:
            stmt = stmt.where(Claim.id.in_(few))
        if self.embedder is not None:
            stmt = stmt.add_columns(ClaimEmbedding.vector).join(
                ClaimEmbedding, (ClaimEmbedding.claim_id == Claim.id) & (ClaimEmbedding.model == self.embedder.name)
            )
        with rt.uow(write=False) as uow:
            rows = list(uow.session.execute(stmt))
        self._apply(rows, seen)
        self.signature = signature

    def _apply(self, changed: list[Any], seen: dict[int, int]) -> None:
        """Rows (id, key, case, statement[, vector]): update known claims' rows, append new ones.

        Each row is marked with the version `seen` before its vector was checked, so a claim that
        changed again since is checked again next time.
        """
        if not changed:
            return
        dim = self.matrix.shape[1]
        vectors = dequantise([r[4] for r in changed], dim) if self.embedder is not None else None
        new_rows = []
        for n, r in enumerate(changed):
            claim_id, key, case, statement = r[:4]
            if claim_id not in seen:
                continue
            self.versions[claim_id] = seen[claim_id]
            i = self.row.get(claim_id)
            if i is None:
                self.row[claim_id] = len(self.keys)
                self.keys.append(key)
                self.cases.append(case)
                self.statements.append(statement)
                new_rows.append(n)
            else:
                self.keys[i], self.cases[i], self.statements[i] = key, case, statement
                if vectors is not None:
                    self.matrix[i] = vectors[n]
        if vectors is not None and new_rows:
            self.matrix = np.vstack([self.matrix, vectors[new_rows]])

    def scores(self, statement: str) -> np.ndarray:
        """Raw similarity of `statement` to every indexed claim, in [-1, 1]."""
        if self.embedder is None:
            from rapidfuzz import fuzz, process, utils

            return (
                process.cdist(
                    [statement], self.statements, scorer=fuzz.token_set_ratio, processor=utils.default_process
                )[0]
                / 100.0
            )
        query = self.embedder.embed([statement])[0]
        return self.matrix @ query


_INDEXES: dict[tuple[str, str], SimilarIndex] = {}
_INDEXES_LOCK = threading.Lock()


def index_for(rt: Runtime, model: str | None = None) -> SimilarIndex:
    """This process's index for the database and the configured model."""
    model = model or get_settings().similar_model
    embedder = load_embedder(model)
    name = embedder.name if embedder is not None else LEXICAL
    with _INDEXES_LOCK:
        index = _INDEXES.get((rt.database_url, name))
        if index is None:
            index = _INDEXES[(rt.database_url, name)] = SimilarIndex(embedder)
        return index


def refresh(rt: Runtime, model: str | None = None) -> None:
    """Embed what changed and update this process's matrix (after an import or an assessment run)."""
    index = index_for(rt, model)
    with index.lock:
        index.sync(rt)


def thresholds() -> Thresholds:
    settings = get_settings()
    return Thresholds(merge=settings.similar_merge, suggest=settings.similar_suggest)


def similar_claims(
    rt: Runtime,
    who: Identity,
    statement: str,
    *,
    case_key: str | None = None,
    exclude_claim: str | None = None,
    limit: int = 5,
) -> list[SimilarClaim]:
    """Known claims (in the cases `actor` may read; only `case_key`'s if given) that say the same as
    `statement` ("same": link the report as evidence on it instead) or something related, best first."""
    if not statement or not statement.strip():
        raise InvalidInput("statement: give the statement to compare")
    refuse_nul("statement", statement)
    if limit < 1:
        raise InvalidInput(f"limit: {limit} is not a positive number")
    limits = thresholds()
    index = index_for(rt)
    with index.lock:
        with rt.uow(write=False) as uow:
            authorize(uow, who, "read")
            scope = reader(uow, who.name, rt.markings)
            if case_key:
                case_for(uow, scope, case_key)
            # Need to know (issue 20): the cases this person reads, chosen in SQL; the index is the system's.
            seen = set(
                uow.session.scalars(select(Case.key).where(scope.cases(Case.id), scope.marked(Case.marking)))
            )
        index.sync(rt)
        if not index.keys:
            return []
        raw = index.scores(statement.strip())
        allowed = np.fromiter((c in seen for c in index.cases), dtype=bool, count=len(raw))
        if case_key:
            allowed &= np.fromiter((c == case_key for c in index.cases), dtype=bool, count=len(raw))
        if exclude_claim and exclude_claim in index.keys:
            allowed[index.keys.index(exclude_claim)] = False
        raw = np.where(allowed, raw, -np.inf)
        top = min(len(raw), max(_CANDIDATES, limit * 4))
        best = np.argpartition(-raw, top - 1)[:top] if top < len(raw) else np.arange(len(raw))
        found = []
        for i in best:
            if raw[i] < limits.suggest:  # below suggest is never offered
                continue
            verdict = judge(statement, index.statements[i], float(raw[i]), limits)
            if verdict.kind is not None:
                found.append(
                    SimilarClaim(
                        verdict.kind.value,
                        verdict.score,
                        index.cases[i],
                        index.keys[i],
                        index.statements[i],
                        verdict.conflicts,
                    )
                )
        found.sort(key=lambda s: (s.kind != "same", -s.score, s.claim_key))
        return found[:limit]


def similar_json(items: list[SimilarClaim]) -> list[dict[str, Any]]:
    return [
        {
            "kind": s.kind,
            "score": s.score,
            "case": s.case_key,
            "claim": s.claim_key,
            "statement": s.statement,
            "conflicts": list(s.conflicts),
        }
        for s in items
    ]
