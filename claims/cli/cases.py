"""`claims import` and `claims export`: case files in and out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from claims import services
from claims.cli.common import AsUser, JsonOut, actor, emit_json, err, fail, out, runtime


def import_(file: Path, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Import a case file (YAML or JSON). Importing the same file twice changes nothing."""
    rt = runtime()
    report = services.import_case(rt, actor(as_user), services.read_case_file(file))
    if as_json:
        emit_json({"case": report.case, "created": report.created})
    else:
        made = ", ".join(f"{n} {k}" for k, n in report.created.items() if n) or "nothing new"
        out.print(f"{report.case}: {made}", markup=False)


def export(
    case: Annotated[str | None, typer.Option(help="Case key (needed when several exist).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
) -> None:
    """Write a case as a case file, losslessly: retracted evidence and stage history included."""
    from claims.services.casefile import dump_case

    if fmt not in ("yaml", "json"):
        fail(f"format: {fmt!r} is not yaml or json", 2)
    text = dump_case(services.export_case(runtime(), case), fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)
