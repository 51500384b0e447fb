"""`claims brief`: the manager's brief (Markdown, HTML or PDF)."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from claims.cli.common import AsUser, MaxMarking, err, fail, identity, marking_option, runtime


def brief(
    case: Annotated[str | None, typer.Option(help="Case key (needed when several exist).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, html or pdf")] = "md",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file (needed for pdf).")] = None,
    max_marking: MaxMarking = None,
    as_user: AsUser = None,
) -> None:
    """For each policy action: ready or not, the gating claims' likelihood and confidence, the evidence still needed."""
    from claims.services.exports.brief import BRIEF_FORMATS, brief

    if fmt not in BRIEF_FORMATS:
        fail(f"format: {fmt!r} is not one of {', '.join(BRIEF_FORMATS)}", 2)
    if fmt == "pdf" and output is None:
        fail("output: a pdf brief needs -o FILE", 2)
    rt = runtime()
    max_marking = marking_option(rt, max_marking, "--max-marking")
    data = brief(rt, case, fmt, who=identity(as_user), max_marking=max_marking)
    if output:
        from claims.cli.safefile import UnsafeFile, write_output

        try:
            write_output(output, data)
        except UnsafeFile as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"output: cannot write {str(output)!r} ({exc.strerror})")
        err.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(data.decode("utf-8"))


def register(app: typer.Typer) -> None:
    app.command("brief")(brief)
