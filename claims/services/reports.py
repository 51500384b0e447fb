"""Use cases: take in a report, rank its sentences as candidate claims, accept one (issue 17).

A report is stored whole (original bytes, extracted text, SHA-256); its sentences are split with
pysbd and kept as character spans of the extracted text, so an accepted sentence's locator
`report:<id>#chars=<start>-<end>` points back into exactly what the analyst read.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from claims.domain import checkworthiness
from claims.domain.events import EventKind
from claims.services.access import Reader, authorize_case, case_for, reader
from claims.services.errors import InvalidInput, NotFound, RuleViolation, refuse_nul
from claims.services.identity import Identity
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import now
from claims.settings import get_settings
from claims.store.models import Case, Report, ReportSentence

# The extractors log what they make of a broken file ("EOF marker not found"); the refusal below says it
# once, in one line, so their records stay out of the person's terminal.
for _name in ("pypdf", "trafilatura", "htmldate", "courlan", "readability"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
    logging.getLogger(_name).propagate = False

MEDIA_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}
SOURCE_MATCH = 85  # rapidfuzz token-set ratio above which a speaker is taken to be a known source


def max_bytes() -> int:
    return int(get_settings().report_max_mib * 1024 * 1024)


def read_report_file(path: Path) -> bytes:
    """The file's bytes; an oversized file is refused from its size alone, before any of it is read."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InvalidInput(f"file: {str(path)!r} cannot be read ({err.strerror})") from None
    if size > max_bytes():
        raise InvalidInput(
            f"file: {path.name!r} is {size / 1048576:.1f} MiB, over the {get_settings().report_max_mib:g} MiB limit"
        )
    return path.read_bytes()


def read_report_stream(stream: io.BufferedIOBase | Any, name: str = "-") -> bytes:
    """At most the limit plus one byte from a stream, so a huge paste is refused without holding it all."""
    limit = max_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"file: {name!r} is over the {get_settings().report_max_mib:g} MiB limit")
    return data


def media_type_of(filename: str | None, content: bytes) -> str:
    """From the name's extension; a nameless paste is sniffed (PDF, HTML), else plain text."""
    suffix = Path(filename or "").suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    if filename and filename != "-" and suffix:
        raise InvalidInput(f"file: {filename!r} is not a report type (.txt .md .html .pdf)")
    head = content[:512].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return "text/plain"


def _decode(name: str, content: bytes) -> str:
    if b"\x00" in content:
        raise InvalidInput(f"file: {name!r} holds NUL bytes; it is a binary file, not text")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInput(f"file: {name!r} is not UTF-8 text (byte {err.start})") from None


def extract_text(name: str, media_type: str, content: bytes) -> str:
    """The report's readable text: trafilatura for HTML, pypdf for PDF, the text itself otherwise."""
    if media_type == "application/pdf":
        if not content.lstrip().startswith(b"%PDF-"):
            raise InvalidInput(f"file: {name!r} is named as a PDF but is not one (no %PDF- header)")
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(io.BytesIO(content))
            text = "\n".join((page.extract_text() or "") for page in reader.pages)
        except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
            raise InvalidInput(f"file: {name!r} is not a readable PDF ({str(err).splitlines()[0][:80]})") from None
    elif media_type == "text/html":
        import trafilatura

        html = _decode(name, content)
        text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_recall=True) or ""
    else:
        text = _decode(name, content)
    text = text.replace("\x00", "").replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput(f"file: {name!r} is empty: no text to take claims from")
    return text


def split_sentences(text: str) -> list[tuple[int, int, str]]:
    """Sentences with their character span in `text` (pysbd splits; each piece is located in the text)."""
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    spans: list[tuple[int, int, str]] = []
    cursor = 0
    for line_start, line in _lines(text):
        for piece in segmenter.segment(line):
            stripped = piece.strip()
            if not stripped:
                continue
            at = text.find(stripped, max(cursor, line_start))
            if at < 0:
                continue
            spans.append((at, at + len(stripped), stripped))
            cursor = at + len(stripped)
    return spans


def _lines(text: str) -> list[tuple[int, str]]:
    """Paragraphs (a headline has no full stop: it is a sentence of its own)."""
    out, at = [], 0
    for line in text.split("\n"):
        if line.strip():
            out.append((at, line))
        at += len(line) + 1
    return out


@dataclass(frozen=True)
class SourceSuggestion:
    speaker: str
    source: str | None  # the matching source's key in the case, or None: offer it as a new source
    score: float


@dataclass(frozen=True)
class ReportSummary:
    id: int
    case: str
    title: str
    published: date | None
    url: str | None
    media_type: str
    sha256: str
    added_by: str
    accepted: int


@dataclass(frozen=True)
class AcceptedSentence:
    number: int
    start: int
    end: int
    claim: str
    evidence: int | None


@dataclass(frozen=True)
class ReportPage:
    report: ReportSummary
    text: str
    candidates: list[checkworthiness.Candidate]
    sources: list[SourceSuggestion]
    accepted: list[AcceptedSentence] = field(default_factory=list)
    # candidate number -> known claims that say the same thing or something related (section 3)
    similar: dict[int, list[Any]] = field(default_factory=dict)


SIMILAR_TOP = 10  # the candidates an analyst reads first are the ones checked against known claims


def with_similar(rt: Runtime, who: Identity, page: ReportPage) -> ReportPage:
    """The page with the known claims each of its top candidates resembles, so the analyst links the
    report to a claim already known ("same") instead of making a second, unrelated one."""
    from dataclasses import replace

    from claims.services.similar import similar_claims

    found = {c.number: similar_claims(rt, who, c.text, limit=3) for c in page.candidates[:SIMILAR_TOP]}
    return replace(page, similar={n: hits for n, hits in found.items() if hits})


def locator(report_id: int, start: int, end: int) -> str:
    return f"report:{report_id}#chars={start}-{end}"


def suggest_sources(
    candidates: list[checkworthiness.Candidate], sources: list[tuple[str, str]]
) -> list[SourceSuggestion]:
    """Each distinct speaker once, matched to the case's source (key, name) with the same normalised name."""
    from rapidfuzz import fuzz

    seen: dict[str, SourceSuggestion] = {}
    for cand in sorted(candidates, key=lambda c: c.number):
        for speaker in cand.speakers:
            norm = checkworthiness.normalise(speaker)
            if not norm or norm in seen:
                continue
            best: tuple[float, str | None] = (0.0, None)
            for key, name in sources:
                score = max(
                    fuzz.token_set_ratio(norm, checkworthiness.normalise(name)),
                    fuzz.ratio(norm, checkworthiness.normalise(key)),
                )
                if score > best[0]:
                    best = (score, key)
            matched = best[1] if best[0] >= SOURCE_MATCH else None
            seen[norm] = SourceSuggestion(speaker, matched, round(best[0], 1))
    return list(seen.values())


def _summary(report: Report, case_key: str) -> ReportSummary:
    return ReportSummary(
        report.id,
        case_key,
        report.title,
        report.published,
        report.url,
        report.media_type,
        report.sha256,
        report.added_by,
        len(report.accepted),
    )


def add_report(
    rt: Runtime,
    who: Identity,
    case_key: str,
    content: bytes,
    *,
    filename: str | None = None,
    title: str | None = None,
    published: date | None = None,
    url: str | None = None,
    marking: str | None = None,
    caveat: str | None = None,
) -> ReportPage:
    """Store the report whole with its SHA-256 and audited event; the same bytes twice in a case are refused.

    Marked `marking`, else as its case; evidence accepted from it is marked at least as the report."""
    actor = who.name
    from claims.services.markings import chosen

    chosen(rt, marking, caveat, default="")  # an unknown marking is refused before the file is read
    name = filename or "-"
    if len(content) > max_bytes():
        raise InvalidInput(f"file: {name!r} is over the {get_settings().report_max_mib:g} MiB limit")
    if not content.strip():
        raise InvalidInput(f"file: {name!r} is empty: no text to take claims from")
    media_type = media_type_of(filename, content)
    text = extract_text(name, media_type, content)
    sentences = split_sentences(text)
    refuse_nul("title", title)
    refuse_nul("url", url)
    report_title = (title or "").strip() or (sentences[0][2][:200] if sentences else name)
    digest = hashlib.sha256(content).hexdigest()
    with rt.uow() as uow:
        authorize(uow, who, "read")  # a known, signed-in user; the role that counts is the one on the case
        case = uow.cases.get(case_key)
        unknown = f"case: unknown case {case_key!r}"
        if case is None:
            raise NotFound(unknown)
        authorize_case(uow, who, "import", case, rt.markings, unknown=unknown)
        existing = uow.session.query(Report).filter_by(case_id=case.id, sha256=digest).one_or_none()
        if existing is not None:
            raise RuleViolation(
                f"file: {name!r} is already report #{existing.id} ({existing.title!r}) in case {case_key!r}"
            )
        mark, cav = chosen(rt, marking, caveat, default=case.marking)
        report = Report(
            marking=mark,
            caveat=cav,
            case=case,
            title=report_title,
            published=published,
            url=url or None,
            media_type=media_type,
            filename=filename if filename and filename != "-" else None,
            content=content,
            text=text,
            sha256=digest,
            added_by=actor,
            added_at=now(),
        )
        uow.session.add(report)
        uow.flush()
        uow.record(
            EventKind.REPORT_ADDED,
            actor=actor,
            case_key=case.key,
            payload={
                "report": report.id,
                "sha256": digest,
                "title": report_title,
                "media_type": media_type,
                "marking": mark,
                **({"caveat": cav} if cav else {}),
            },
        )
        page = _page(uow, report, case.key, sentences)
        uow.commit()
    return with_similar(rt, who, page)


def _page(uow: Any, report: Report, case_key: str, sentences: list[tuple[int, int, str]] | None = None) -> ReportPage:
    sentences = sentences if sentences is not None else split_sentences(report.text)
    candidates = checkworthiness.rank(sentences)
    sources = [(s.key, s.name) for s in uow.sources.for_case(report.case_id)]
    by_span = {(s, e): n for n, (s, e, _) in enumerate(sentences, start=1)}
    accepted = [
        AcceptedSentence(
            by_span.get((a.char_start, a.char_end), 0),
            a.char_start,
            a.char_end,
            a.claim.key if a.claim else "",
            a.evidence_id,
        )
        for a in report.accepted
    ]
    return ReportPage(
        _summary(report, case_key), report.text, candidates, suggest_sources(candidates, sources), accepted
    )


def _load(uow: Any, report_id: int, who: Reader | None = None) -> Report:
    """The report; with `who`, only one they read (its case seen, its own and its case's marking allowed)."""
    stmt = select(Report).where(Report.id == report_id)
    if who is not None:
        stmt = stmt.where(_readable(who))
    report = uow.session.scalar(stmt)
    if report is None:
        raise NotFound(f"report: unknown report id {report_id}")
    return report


def _readable(who: Reader) -> Any:
    """WHERE clause on Report: its case seen and marked within the reader's clearance, and its own marking."""
    seen = select(Case.id).where(who.cases(Case.id), who.marked(Case.marking))
    return and_(Report.case_id.in_(seen), who.marked(Report.marking))


def show_report(rt: Runtime, who: Identity, report_id: int) -> ReportPage:
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        report = _load(uow, report_id, reader(uow, who.name, rt.markings))
        page = _page(uow, report, report.case.key)
    return with_similar(rt, who, page)


def list_reports(
    rt: Runtime, who: Identity, case_key: str | None = None, *, untriaged: bool = False
) -> list[ReportSummary]:
    """The reports, newest first; `untriaged`: only those with no accepted sentence yet (the triage queue)."""
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        seen = reader(uow, who.name, rt.markings)
        query = uow.session.query(Report).filter(_readable(seen)).order_by(Report.id.desc())
        if case_key:
            case = case_for(uow, seen, case_key)
            query = query.filter(Report.case_id == case.id)
        rows = [_summary(r, r.case.key) for r in query]
        return [r for r in rows if not untriaged or r.accepted == 0]


def accept_sentence(
    rt: Runtime,
    who: Identity,
    report_id: int,
    number: int,
    *,
    as_claim: bool = False,
    key: str | None = None,
    claim_key: str | None = None,
    stance: str | None = None,
    source: str | None = None,
    credibility: int | str | None = None,
) -> AcceptedSentence:
    """Sentence `number` becomes a new claim (its statement) or evidence on `claim_key` (its quote and locator).

    One transaction: the claim or evidence is written by its own use case (authoring / evidence) within
    this unit of work, with the accepted sentence and its `report.sentence_accepted` event, so a failure
    leaves neither.
    """
    from claims.services.authoring import add_claim
    from claims.services.evidence import add_evidence
    from claims.services.markings import effective

    actor = who.name
    if as_claim == (claim_key is not None):
        raise InvalidInput("accept: give either --as-claim or --as-evidence CLAIM")
    if not as_claim and (stance is None or source is None or credibility is None):
        raise InvalidInput("accept: evidence needs --stance, --source and --credibility")
    with rt.uow() as uow:
        permission = "import" if as_claim else "add_evidence"
        authorize(uow, who, "read")  # a known, signed-in user; the role that counts is the one on the case
        report = _load(uow, report_id, reader(uow, who.name, rt.markings))
        authorize_case(
            uow, who, permission, report.case, rt.markings, unknown=f"report: unknown report id {report_id}"
        )
        sentences = split_sentences(report.text)
        if not 1 <= number <= len(sentences):
            raise InvalidInput(f"sentence: {number} is not a sentence of report #{report_id} (1-{len(sentences)})")
        start, end, text = sentences[number - 1]
        loc = locator(report_id, start, end)
        evidence_id: int | None = None
        if as_claim:
            target = add_claim(rt, who, report.case.key, text, key=key, within=uow)
        else:
            added = add_evidence(
                rt,
                who,
                str(claim_key),
                str(source),
                str(stance),
                credibility=credibility,
                summary=text,
                locator=loc,
                observed_at=report.published,
                quote=text,
                within=uow,
                marking=effective(rt.markings, report.case.marking, report.marking),
                caveat=report.caveat,
            )
            target, evidence_id = added.claim, added.id
        claim = uow.claims.get(target)
        uow.session.add(
            ReportSentence(
                report=report,
                char_start=start,
                char_end=end,
                claim=claim,
                evidence_id=evidence_id,
                accepted_by=actor,
                accepted_at=now(),
            )
        )
        uow.record(
            EventKind.REPORT_SENTENCE_ACCEPTED,
            actor=actor,
            claim=claim,
            payload={
                "report": report_id,
                "sentence": number,
                "locator": loc,
                "as": "claim" if as_claim else "evidence",
                "evidence": evidence_id,
            },
        )
        uow.commit()
    return AcceptedSentence(number, start, end, target, evidence_id)
