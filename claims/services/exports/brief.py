"""A manager's brief: for each policy action, ready or not, the claims that gate it, how likely each
is and (in its own sentence) with what confidence, and exactly what evidence is still needed.

One document model (a list of blocks) rendered three ways - Markdown, HTML, PDF (fpdf2, pure
Python; a local DejaVu TTF if the system has one, otherwise core fonts with Latin-1 text) - so the
three never say different things.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claims.domain.grades import Reliability
from claims.domain.readiness import ActionReadiness
from claims.services.errors import InvalidInput
from claims.services.identity import Identity
from claims.services.intake import export_view
from claims.services.judgement import shown_likelihoods
from claims.services.runtime import Runtime
from claims.services.views import action_readiness

BRIEF_FORMATS = ("md", "html", "pdf")
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True, slots=True)
class Block:
    """Heading (level 1-3), paragraph, bullets or table: all the brief is made of."""

    kind: str
    text: str = ""
    level: int = 0
    items: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    strong: bool = False


def brief_blocks(
    rt: Runtime, case_key: str | None = None, *, who: Identity | None = None, max_marking: str | None = None
) -> list[Block]:
    """The brief of what `who` may read at or below `max_marking` (issue 20): lines above it are left
    out, every likelihood is judged on the lines it shows, and a banner says its marking top and bottom."""
    data, withheld = export_view(rt, case_key, who=who, max_marking=max_marking)
    key = data["case"]["key"]
    actions = action_readiness(rt, key)
    judged = shown_likelihoods(data, rt.policy)
    from claims.services.tasks import action_plans

    plans = action_plans(rt, key)
    shown = {s["key"] for s in data["sources"]}
    for plan in plans.values():  # a line's root is named only if the brief shows that source
        plan["rests_on_one_line"] = {
            claim: [r if r in shown else "a line marked above this brief" for r in roots]
            for claim, roots in plan.get("rests_on_one_line", {}).items()
        }
    blocks = compose(data, actions, judged, rt.policy.version, datetime.now(UTC), plans)
    left_out = sum(withheld.values())
    if left_out:
        note = f"{left_out} evidence line{'s' if left_out != 1 else ''} above {data['marking']} left out of this brief."
        blocks.insert(1, Block("para", note))
    return banner(data, blocks)


def banner(data: dict[str, Any], blocks: list[Block]) -> list[Block]:
    """The brief's marking (the highest of what it shows, and any caveats) as its first and last line."""
    caveats = sorted(
        {
            c
            for c in (
                data["case"].get("caveat"),
                *(s.get("caveat") for s in data["sources"]),
                *(e.get("caveat") for c in data["claims"] for e in c.get("evidence", [])),
            )
            if c
        }
    )
    text = data.get("marking") or ""
    if caveats:
        text += " " + " / ".join(caveats)
    if not text:
        return blocks
    return [Block("banner", text), *blocks, Block("banner", text)]


def compose(
    data: dict[str, Any],
    actions: list[ActionReadiness],
    judged: dict[str, dict[str, Any]],
    policy_version: str,
    at: datetime,
    plans: dict[str, dict[str, Any]] | None = None,
) -> list[Block]:
    """The brief's content, independent of the format it is written in.

    `plans` (claims.services.tasks.action_plans): per action, the smallest set of collection tasks
    that would make it ready, and the gating claims that rest on one line (issue 18)."""
    plans = plans or {}
    claims = {c["key"]: c for c in data["claims"]}
    ready = sum(a.ready for a in actions)
    blocks = [
        Block("heading", f"Brief: {data['case']['title']}", 1),
        Block(
            "para",
            f"Case {data['case']['key']}, threshold policy {policy_version}, as of {at:%Y-%m-%d %H:%M} UTC. "
            f"{ready} of {len(actions)} policy action{'s' if len(actions) != 1 else ''} ready.",
        ),
    ]
    for n, a in enumerate(actions, 1):
        blocks.append(Block("heading", f"{n}. {a.title}", 2))
        verdict = "READY: every gating claim is at its required stage." if a.ready else "NOT READY."
        blocks.append(Block("para", f"{verdict} Action key {a.key}.", strong=True))
        for r in a.requirements:
            claim = claims.get(r.claim, {})
            stage = r.stage.value if r.stage else "unknown"
            blocks.append(Block("heading", f"{r.claim}: {stage}, needs {r.required_stage.value}", 3))
            if claim.get("statement"):
                blocks.append(Block("para", claim["statement"]))
            if j := judged.get(r.claim):
                blocks.append(Block("para", j["sentence"]))  # the likelihood term ...
                blocks.append(Block("para", j["confidence"]["sentence"]))  # ... and the confidence, apart
            if r.met and not r.gaps:
                blocks.append(Block("para", "Evidence still needed: none, this requirement is met."))
            else:
                lead = "At risk:" if r.met else "Evidence still needed before acting:"
                blocks.append(Block("para", lead))
                blocks.append(Block("bullets", items=tuple(r.gaps)))
            if roots := plans.get(a.key, {}).get("rests_on_one_line", {}).get(r.claim):
                blocks.append(
                    Block(
                        "para", f"Rests on one line: losing {' or '.join(roots)} drops it below its stage.", strong=True
                    )
                )
        plan = plans.get(a.key, {})
        if plan.get("tasks"):
            n = plan["items"]
            blocks.append(Block("para", f"Plan to ready ({n} item{'s' if n != 1 else ''}):", strong=True))
            blocks.append(
                Block(
                    "bullets",
                    items=tuple(
                        f"{t['claim']}: {t['need']}" + (f" (task #{t['task']})" if t["task"] else "")
                        for t in plan["tasks"]
                    ),
                )
            )
    blocks.append(Block("heading", "Annex A: sources and their reliability", 2))
    names = {s["key"]: s["name"] for s in data["sources"]}
    blocks.append(
        Block(
            "table",
            rows=(
                ("source", "name", "kind", "reliability", "repeats"),
                *(
                    (
                        s["key"],
                        s["name"],
                        s["kind"],
                        f"{s['reliability']} ({Reliability(s['reliability']).label})",
                        s.get("derived_from") or "",
                    )
                    for s in data["sources"]
                ),
            ),
        )
    )
    blocks.append(Block("heading", "Annex B: evidence and grades by claim", 2))
    reliability = {s["key"]: s["reliability"] for s in data["sources"]}
    rows = [("claim", "source", "grade", "stance", "status")]
    for c in data["claims"]:
        for e in c.get("evidence", []):
            rows.append(
                (
                    c["key"],
                    names.get(e["source"], e["source"]),
                    f"{reliability.get(e['source'], '?')}{e['credibility']}",
                    e["stance"],
                    "retracted" if e.get("retracted") else "live",
                )
            )
    blocks.append(Block("table", rows=tuple(rows)))
    return blocks


# --- renderers ------------------------------------------------------------------------------


# What makes a line a heading, quote, list item, rule or fence in Markdown when it starts one.
_MD_LINE_START = re.compile(r"^(\s*)([#>+=~|-])", re.MULTILINE)
_MD_NUMBERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)
_MD_INLINE = re.compile(r"([\\`*_\[\]])")


def _md_text(text: str) -> str:
    """Stored text as Markdown that reads as the text: no raw HTML (`<script>`), no statement turned heading."""
    text = html.escape(text, quote=False)
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}", text)
    return _MD_NUMBERED.sub(lambda m: f"{m[1]}\\{m[2]}", text)


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "banner":
            out.append(f"**{_md_text(b.text)}**")
        elif b.kind == "heading":
            out.append(f"{'#' * b.level} {_md_text(b.text).replace(chr(10), ' ')}")
        elif b.kind == "para":
            text = _md_text(b.text)
            out.append(f"**{text}**" if b.strong else text)
        elif b.kind == "bullets":
            out.append("\n".join(f"- {_md_text(item)}" for item in b.items))
        elif b.kind == "table":
            head, *body = b.rows
            lines = [f"| {' | '.join(map(_md_cell, head))} |", f"|{'---|' * len(head)}"]
            lines += [f"| {' | '.join(map(_md_cell, row))} |" for row in body]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[Block]) -> str:
    e = html.escape
    title = next((b.text for b in blocks if b.kind == "heading"), "Brief")
    body: list[str] = []
    for b in blocks:
        if b.kind == "banner":
            body.append(f'<p class="marking"><strong>{e(b.text)}</strong></p>')
        elif b.kind == "heading":
            body.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif b.kind == "para":
            body.append(f"<p><strong>{e(b.text)}</strong></p>" if b.strong else f"<p>{e(b.text)}</p>")
        elif b.kind == "bullets":
            body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            head, *rows = b.rows
            body.append(
                "<table><thead><tr>"
                + "".join(f"<th>{e(h)}</th>" for h in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</tbody></table>"
            )
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
    )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _font_dir() -> Path | None:
    return next(
        (d for d in FONT_DIRS if (d / "DejaVuSans.ttf").is_file() and (d / "DejaVuSans-Bold.ttf").is_file()), None
    )


def to_pdf(blocks: list[Block]) -> bytes:
    """The brief as PDF; nothing is fetched at run time."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    marking = next((b.text for b in blocks if b.kind == "banner"), None)

    class Marked(FPDF):  # type: ignore[misc]
        """Every page carries the brief's marking at its top and its bottom."""

        def header(self) -> None:
            if marking:
                self.set_font(family, "B", 10)
                self.cell(0, 6, clean(marking), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

        def footer(self) -> None:
            if marking:
                self.set_y(-12)
                self.set_font(family, "B", 10)
                self.cell(0, 6, clean(marking), align="C")

    pdf = Marked(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    fonts = _font_dir()
    if fonts is not None:
        pdf.add_font("brief", "", str(fonts / "DejaVuSans.ttf"))
        pdf.add_font("brief", "B", str(fonts / "DejaVuSans-Bold.ttf"))
        family = "brief"

        def clean(text: str) -> str:
            return text
    else:
        family = "helvetica"

        def clean(text: str) -> str:
            text = text.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2013: "-", 0x2014: "-"})
            return text.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    title = next((b.text for b in blocks if b.kind == "heading"), "Brief")
    pdf.set_title(clean(title))
    width = pdf.epw
    for b in blocks:
        if b.kind == "banner":
            continue  # on every page's header and footer
        if b.kind == "heading":
            pdf.set_font(family, "B", {1: 16, 2: 13, 3: 11}[b.level])
            pdf.ln(2 if b.level == 3 else 4)
            pdf.multi_cell(width, 7, clean(b.text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        elif b.kind == "para":
            pdf.set_font(family, "B" if b.strong else "", 10)
            pdf.multi_cell(width, 5.5, clean(b.text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        elif b.kind == "bullets":
            pdf.set_font(family, "", 10)
            for item in b.items:
                pdf.multi_cell(width, 5.5, clean(f"- {item}"), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        elif b.kind == "table":
            pdf.set_font(family, "", 8)
            with pdf.table(first_row_as_headings=True, line_height=4.5) as table:
                for row in b.rows:
                    cells = table.row()
                    for cell in row:
                        cells.cell(clean(cell))
            pdf.ln(2)
    return bytes(pdf.output())


def render_brief(blocks: list[Block], fmt: str) -> bytes:
    """The brief in md, html or pdf, as bytes ready to write or download."""
    if fmt == "md":
        return to_markdown(blocks).encode("utf-8")
    if fmt == "html":
        return to_html(blocks).encode("utf-8")
    if fmt == "pdf":
        return to_pdf(blocks)
    raise InvalidInput(f"format: {fmt!r} is not one of {', '.join(BRIEF_FORMATS)}")


def brief(
    rt: Runtime, case_key: str | None, fmt: str, *, who: Identity | None = None, max_marking: str | None = None
) -> bytes:
    if fmt not in BRIEF_FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not one of {', '.join(BRIEF_FORMATS)}")
    return render_brief(brief_blocks(rt, case_key, who=who, max_marking=max_marking), fmt)
