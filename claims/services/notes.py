"""Use cases: notes on a claim, an evidence item, a review (and, once merged, a task); replies; withdrawal.

A note's target is (kind, ref): the claim's key, or the id of the evidence item / review request.
Which kinds exist, and how each is found, is the one dict `TARGETS`: a new kind of target (a
collection task) is one entry there. Notes are never deleted; a withdrawn note keeps its text on
record, with who withdrew it, when and why, and the page shows it as withdrawn.

Text is Markdown, rendered by `render_markdown` to HTML that cannot carry a script: raw HTML is
not parsed (markdown-it's `html=False`), links and images may only point at http(s) or mailto,
and the result goes through the nh3 (ammonia) sanitiser as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, or_, select

from claims.domain.events import EventKind
from claims.services.access import Reader, authorize_case, reader
from claims.services.errors import InvalidInput, NotFound, PermissionDenied, refuse_nul
from claims.services.identity import Identity
from claims.services.markings import chosen, effective, new_case_marking
from claims.services.runtime import Role, Runtime, authorize
from claims.services.transitions import now
from claims.store.models import Case, Claim, CollectionTask, Evidence, Note, Source
from claims.store.uow import UnitOfWork

MAX_NOTE = 20_000  # characters: a note is a paragraph or a page, not a report (those are `claims report add`)
NOTE_PERMISSION = "add_evidence"  # who may write notes: the people who work the claims (not managers' read role)


@dataclass(frozen=True)
class Target:
    """What a note is on, resolved: its kind and reference, and the claim and case it concerns."""

    kind: str
    ref: str
    claim_key: str | None
    case_key: str | None


def _claim(uow: UnitOfWork, ref: str) -> Target | None:
    claim = uow.claims.get(ref)
    return Target("claim", claim.key, claim.key, claim.case.key) if claim is not None else None


def _evidence(uow: UnitOfWork, ref: str) -> Target | None:
    item = uow.evidence.get(int(ref)) if ref.isdigit() else None
    return Target("evidence", str(item.id), item.claim.key, item.claim.case.key) if item is not None else None


def _review(uow: UnitOfWork, ref: str) -> Target | None:
    review = uow.reviews.get(int(ref)) if ref.isdigit() else None
    return Target("review", str(review.id), review.claim.key, review.claim.case.key) if review is not None else None


def _task(uow: UnitOfWork, ref: str) -> Target | None:
    task = uow.session.get(CollectionTask, int(ref)) if ref.isdigit() and len(ref) < 19 else None
    return Target("task", str(task.id), task.claim.key, task.claim.case.key) if task is not None else None


#: Kind -> how to find a target of that kind (None when there is none).
TARGETS: dict[str, Callable[[UnitOfWork, str], Target | None]] = {
    "claim": _claim,
    "evidence": _evidence,
    "review": _review,
    "task": _task,
}


def parse_target(text: str) -> tuple[str, str]:
    """`claim:factory-exists`, `evidence:12`, `review:3` -> (kind, ref)."""
    kind, sep, ref = (text or "").partition(":")
    kind, ref = kind.strip().lower(), ref.strip()
    if not sep or not ref:
        raise InvalidInput(f"on: {text!r} must be KIND:REF, e.g. claim:KEY or evidence:ID ({', '.join(TARGETS)})")
    if kind not in TARGETS:
        raise InvalidInput(f"on: {kind!r} is not a kind of note target ({', '.join(TARGETS)})")
    return kind, ref


def resolve(uow: UnitOfWork, kind: str, ref: str, who: Reader | None = None) -> Target:
    """The target `kind:ref`; with `who`, only one they read (else NotFound as for an unknown ref, issue 20)."""
    if kind not in TARGETS:
        raise InvalidInput(f"on: {kind!r} is not a kind of note target ({', '.join(TARGETS)})")
    found = TARGETS[kind](uow, ref)
    if found is None or (who is not None and not _reads(uow, who, found)):
        raise NotFound(f"{kind}: unknown {kind} {ref!r}")
    return found


def _reads(uow: UnitOfWork, who: Reader, target: Target) -> bool:
    """`who` reads the target's case, and an evidence item's own and source's markings."""
    case = uow.cases.get(target.case_key) if target.case_key else None
    if case is None or not who.sees(case.id, case.marking):
        return False
    if target.kind == "evidence":
        item = uow.evidence.get(int(target.ref))
        return item is not None and who.may_read(item.marking, item.source.marking)
    return True


def _readable_notes(who: Reader) -> Any:
    """WHERE clause on Note: its own marking and its case's allowed, the case seen, and a note on an
    evidence item only if the item (and its source) may be read."""
    seen_cases = select(Case.key).where(who.cases(Case.id), who.marked(Case.marking))
    readable_items = (
        select(cast(Evidence.id, String))
        .join(Source, Source.id == Evidence.source_id)
        .where(who.marked(Evidence.marking, Source.marking))
    )
    return and_(
        who.marked(Note.marking),
        Note.case_key.in_(seen_cases),
        or_(Note.target_kind != "evidence", Note.target_ref.in_(readable_items)),
    )


@dataclass(frozen=True)
class NoteView:
    id: int
    target: str
    claim: str | None
    parent_id: int | None
    author: str
    created_at: datetime
    text: str
    html: str
    markdown: str
    withdrawn: dict[str, Any] | None

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "on": self.target,
            "claim": self.claim,
            "reply_to": self.parent_id,
            "author": self.author,
            "at": self.created_at.isoformat(),
            "text": self.text,
            "withdrawn": self.withdrawn,
        }


def _view(note: Note) -> NoteView:
    withdrawn = (
        {"by": note.withdrawn_by, "at": note.withdrawn_at.isoformat(), "reason": note.withdrawal_reason}
        if note.withdrawn_at is not None
        else None
    )
    return NoteView(
        note.id,
        f"{note.target_kind}:{note.target_ref}",
        note.claim_key,
        note.parent_id,
        note.author,
        note.created_at,
        note.body,
        render_markdown(note.body),
        safe_markdown(note.body),
        withdrawn,
    )


def add_note(
    rt: Runtime,
    who: Identity,
    kind: str,
    ref: str,
    text: str,
    *,
    reply_to: int | None = None,
    marking: str | None = None,
    caveat: str | None = None,
) -> NoteView:
    """Write a note (or a reply to one) on a target; one transaction with its `note.added` event.

    Marked `marking`, else as its case (a reply: at least as its parent, so a reply never lowers a thread)."""
    actor = who.name
    if not text or not text.strip():
        raise InvalidInput("text: a note needs some text")
    refuse_nul("text", text)
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"text: {len(text)} characters; a note holds at most {MAX_NOTE}")
    chosen(rt, marking, caveat, default="")  # an unknown marking is refused before anything is read
    with rt.uow() as uow:
        if not who:
            authorize(uow, who, NOTE_PERMISSION)  # "no acting user", as everywhere
        seen = reader(uow, who.name, rt.markings)
        if reply_to is not None:
            parent = uow.session.scalar(select(Note).where(Note.id == reply_to, _readable_notes(seen)))
            if parent is None:
                raise NotFound(f"reply_to: unknown note {reply_to}")
            if parent.withdrawn_at is not None:
                raise InvalidInput(f"reply_to: note {reply_to} was withdrawn; it takes no replies")
            target = resolve(uow, parent.target_kind, parent.target_ref, seen)
            if kind and (kind, ref) != (parent.target_kind, parent.target_ref):
                raise InvalidInput(f"on: a reply is on its note's target {parent.target_kind}:{parent.target_ref}")
        else:
            target = resolve(uow, kind, ref, seen)
        case = uow.cases.get(target.case_key or "")
        assert case is not None
        authorize_case(
            uow,
            who,
            NOTE_PERMISSION,
            case,
            rt.markings,
            unknown=f"{target.kind}: unknown {target.kind} {target.ref!r}",
        )
        if target.kind == "claim":
            claim = uow.claims.get(target.ref)
            assert claim is not None
            if claim.withdrawn_at is not None:
                raise InvalidInput(f"claim: {target.ref!r} was withdrawn; it takes no new notes")
        case = uow.cases.get(target.case_key) if target.case_key else None
        default = case.marking if case is not None else new_case_marking(rt)
        if reply_to is not None:
            default = effective(rt.markings, default, parent.marking)
        mark, cav = chosen(rt, marking, caveat, default=default)
        note = Note(
            marking=mark,
            caveat=cav,
            target_kind=target.kind,
            target_ref=target.ref,
            claim_key=target.claim_key,
            case_key=target.case_key,
            parent_id=reply_to,
            author=actor,
            created_at=now(),
            body=text.strip(),
        )
        uow.session.add(note)
        uow.flush()
        uow.record(
            EventKind.NOTE_ADDED,
            actor=actor,
            case_key=target.case_key,
            claim=_claim_row(uow, target),
            payload={
                "note": note.id,
                "target": f"{target.kind}:{target.ref}",
                "reply_to": reply_to,
                "text": note.body,
                "marking": mark,
                **({"caveat": cav} if cav else {}),
            },
        )
        uow.commit()
        return _view(note)


def _claim_row(uow: UnitOfWork, target: Target) -> Claim | None:
    return uow.claims.get(target.claim_key) if target.claim_key else None


def withdraw_note(rt: Runtime, who: Identity, note_id: int, reason: str) -> NoteView:
    """Withdraw a note (its author, or an admin); it stays on record with the reason."""
    actor = who.name
    if not reason or not reason.strip():
        raise InvalidInput("reason: withdrawing a note needs a reason")
    refuse_nul("reason", reason)
    with rt.uow() as uow:
        user = authorize(uow, who, "read")
        note = uow.session.get(Note, note_id)
        if note is None:
            raise NotFound(f"note: unknown note {note_id}")
        if note.author != user.name and user.role != Role.ADMIN:
            raise PermissionDenied(f"note: {note_id} is {note.author}'s; only its author or an admin may withdraw it")
        if note.withdrawn_at is not None:
            raise InvalidInput(f"note: {note_id} was already withdrawn by {note.withdrawn_by}")
        note.withdrawn_at, note.withdrawn_by, note.withdrawal_reason = now(), actor, reason.strip()
        uow.record(
            EventKind.NOTE_WITHDRAWN,
            actor=actor,
            case_key=note.case_key,
            claim=uow.claims.get(note.claim_key) if note.claim_key else None,
            rationale=reason.strip(),
            payload={"note": note.id, "target": f"{note.target_kind}:{note.target_ref}"},
        )
        uow.commit()
        return _view(note)


def list_notes(rt: Runtime, who: Identity, kind: str, ref: str, *, with_items: bool = False) -> list[NoteView]:
    """Notes on a target, oldest first (replies after their parent's thread starts).

    `with_items` on a claim also lists the notes on its evidence items and reviews.
    """
    with rt.uow(write=False) as uow:
        authorize(uow, who, "read")
        seen = reader(uow, who.name, rt.markings)
        target = resolve(uow, kind, ref, seen)
        stmt = select(Note).where(_readable_notes(seen)).order_by(Note.id)
        if with_items and target.kind == "claim":
            stmt = stmt.where(Note.claim_key == target.claim_key)
        else:
            stmt = stmt.where(Note.target_kind == target.kind, Note.target_ref == target.ref)
        return [_view(n) for n in uow.session.scalars(stmt)]


def threads(notes: list[NoteView]) -> list[tuple[NoteView, int]]:
    """Notes in reading order with their depth: each note, then its replies under it."""
    children: dict[int | None, list[NoteView]] = {}
    ids = {n.id for n in notes}
    for n in notes:
        children.setdefault(n.parent_id if n.parent_id in ids else None, []).append(n)
    out: list[tuple[NoteView, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for n in children.get(parent, []):
            out.append((n, depth))
            walk(n.id, depth + 1)

    walk(None, 0)
    return out


# --- safe Markdown -------------------------------------------------------------------------------

SAFE_SCHEMES = ("http:", "https:", "mailto:")
_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2", "h3",
    "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "s", "del",
}  # fmt: skip


def _safe_link(url: str) -> bool:
    """Only absolute http(s) and mailto links (and in-page anchors); markdown-it has already decoded entities."""
    plain = "".join(ch for ch in url if ch > " ").lower()
    return plain.startswith(SAFE_SCHEMES) or plain.startswith("#")


def render_markdown(text: str) -> str:
    """A note's Markdown as HTML that holds no script: no raw HTML, no javascript:/data: links, no images."""
    import nh3
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    md.disable("image")  # an image is a request to anywhere the author chose: shown as its text instead
    html = md.render(text)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_MD_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^&])")


def _esc(text: str) -> str:
    return _MD_SPECIALS.sub(r"\\\1", text)


def _inline(children: list[Any]) -> str:
    """Inline tokens as Markdown made only of what we emit: every character of the author's text escaped."""
    out: list[str] = []
    for tok in children:
        match tok.type:
            case "text":
                out.append(_esc(tok.content))
            case "softbreak" | "hardbreak":
                out.append("  \n" if tok.type == "hardbreak" else " ")
            case "code_inline":
                out.append("`" + tok.content.replace("`", "'") + "`")
            case "strong_open" | "strong_close":
                out.append("**")
            case "em_open" | "em_close":
                out.append("*")
            case "s_open" | "s_close":
                out.append("~~")
            case "link_open":
                out.append("[")
                out.append("\x00" + str(tok.attrs.get("href", "")))  # closed at link_close
            case "link_close":
                i = max(k for k, part in enumerate(out) if part.startswith("\x00"))
                href = out.pop(i)[1:]
                out.append("](" + href.replace(")", "%29").replace(" ", "%20") + ")")
            case _:
                out.append(_esc(tok.content))
    return "".join(out)


def safe_markdown(text: str) -> str:
    """A note as Markdown a page can show with `st.markdown`: rebuilt from markdown-it's tokens, so raw HTML
    and unsafe links (validated as in `render_markdown`) can only appear as escaped text."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    md.disable("image")
    lines: list[str] = []
    prefix: list[str] = []
    for tok in md.parse(text):
        match tok.type:
            case "heading_open":
                lines.append("".join(prefix) + "#" * int(tok.tag[1]) + " ")
            case "bullet_list_open":
                prefix.append("")
            case "ordered_list_open":
                prefix.append("")
            case "bullet_list_close" | "ordered_list_close":
                prefix.pop()
            case "list_item_open":
                lines.append("  " * (len(prefix) - 1) + ("- " if tok.markup in "-*+" else "1. "))
            case "blockquote_open":
                prefix.append("> ")
            case "blockquote_close":
                prefix.pop()
            case "inline":
                if lines and lines[-1].endswith((" ", "# ")) and not lines[-1].endswith("\n"):
                    lines[-1] += _inline(tok.children or [])
                else:
                    lines.append("".join(p for p in prefix if p) + _inline(tok.children or []))
            case "fence" | "code_block":
                body = tok.content.replace("```", "'''")
                lines.append("```text\n" + body + "```")
            case "paragraph_close" | "heading_close":
                lines.append("")
            case "hr":
                lines.append("---")
    return "\n".join(lines).strip() + "\n"
