"""Rich rendering of claim detail and readiness for the terminal (the CLI stays thin)."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from claims.domain.readiness import ActionReadiness
from claims.domain.stages import ReviewStatus

# C0 controls but tab and newline, DEL, and C1 (0x9b is a CSI on some terminals): stored text is shown, never obeyed.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: Any) -> Any:
    """Stored text made safe for a terminal: each control character shown as its escape (ESC as \\x1b)."""
    if isinstance(value, str):
        return CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", value)
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable(v) for v in value]
    return value


def render_claim(console: Console, d: dict[str, Any]) -> None:
    d = printable(d)
    flag = "  [AT RISK]" if d["at_risk"] else ""
    console.print(Text(f"{d['key']}  ({d['case']})  stage: {d['stage']}  v{d['version']}{flag}", style="bold"))
    console.print(Text(d["statement"]))
    if d.get("withdrawn"):
        w = d["withdrawn"]
        console.print(Text(f"WITHDRAWN by {w['by']} at {w['at']}: {w['reason']}", style="bold red"))
    table = Table("#", "source", "root", "grade", "stance", "summary", title="evidence")
    for e in d["evidence"]:
        style = "strike dim" if e["retracted"] else ""
        table.add_row(
            str(e["id"]), e["source"], e["independent_root"], e["grade"], e["stance"], Text(e["summary"]), style=style
        )
    console.print(table)
    if d.get("further_lines"):
        from claims.domain.markings import further_lines

        console.print(Text(further_lines(int(d["further_lines"])), style="italic"))
    for stage, sa in d["assessment"].items():
        mark = "met" if sa["met"] else "not met"
        console.print(Text(f"-> {stage} ({d['policy_version']}): {mark}", style="bold"))
        for c in sa["criteria"]:
            console.print(
                Text(f"   [{'x' if c['met'] else ' '}] {c['criterion']}" + (f" - {c['gap']}" if c["gap"] else ""))
            )
    if "likelihood" in d:  # two sentences: the likelihood term and the confidence word never share one
        console.print(Text(d["likelihood"]["sentence"], style="bold"))
        console.print(Text(d["likelihood"]["confidence"]["sentence"]))
    if not d["holds"]:
        console.print(Text(d["next_step"]["reason"], style="red"))  # the reason already says "no longer meets"


def render_readiness(console: Console, items: list[ActionReadiness]) -> None:
    """One block per action: its status, then each gating claim and the evidence that would close its gap.

    Printed as one text: a print per line costs rich a render pass each (0.15 s for the 900 lines of
    the 100k benchmark's 48 actions).
    """
    width = max((len(r.claim) for a in items for r in a.requirements), default=0)
    lines: list[Text] = []
    for a in items:
        status = Text("READY    ", style="bold green") if a.ready else Text("NOT READY", style="bold red")
        lines.append(Text.assemble(status, f"  {a.key}: ", (a.title, "bold")))
        for r in a.requirements:
            mark = Text("  ok " if r.met else "  -- ", style="green" if r.met else "red")
            stage = r.stage.value if r.stage else "unknown"
            lines.append(Text.assemble(mark, f"{r.claim:<{width}}  {stage} (needs {r.required_stage.value})"))
            for gap in r.gaps:
                lines.append(Text(f"       {'':<{width}}  {gap}", style="dim" if r.met else ""))
        lines.append(Text())
    if lines:
        console.print(Text("\n").join(lines))


def render_reviews(console: Console, items: list[dict[str, Any]]) -> None:
    """One line per review request, then what still stands between it and the target stage."""
    items = printable(items)
    if not items:
        console.print("no review requests")
        return
    for r in items:
        decided = f" by {r['decided_by']}" if r["decided_by"] else ""
        console.print(
            Text.assemble(
                (f"#{r['id']}", "bold"),
                f"  {r['claim']}  {r['from']} -> {r['to']}  requested by {r['requested_by']}  ",
                (f"{r['status']}{decided}", "yellow" if r["status"] == ReviewStatus.PENDING else ""),
            )
        )
        notes = r["gaps"] if r["status"] == ReviewStatus.PENDING else [r["rationale"]] if r["rationale"] else []
        for note in notes:
            console.print(Text(f"     {note}"))
