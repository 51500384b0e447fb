"""`claims import` and `claims export`: case files in and out."""

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from claims import services
from claims.cli.common import (
    AsUser,
    JsonOut,
    MaxMarking,
    emit_json,
    err,
    fail,
    identity,
    marking_option,
    out,
    runtime,
)


def import_(file: Path, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Import a case file (YAML or JSON, JSON streamed) or a STIX 2.1 bundle (from another tool: what fits)."""
    from rich.console import Console
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from claims.cli import remote

    if remote.configured():
        _import_remote(file, as_user, as_json)
        return
    rt = runtime()
    who = identity(as_user)  # before the progress bar: a refusal is one line, nothing else on stderr
    bar = Progress(
        TextColumn("importing: {task.fields[claims]:,} claims, {task.fields[evidence]:,} evidence items"),
        TextColumn("({task.fields[rate]:,.0f} claims/s)"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=as_json or not sys.stderr.isatty(),  # only people watching a terminal; logs and errors stay one line
    )
    job = bar.add_task("import", total=None, claims=0, evidence=0, rate=0.0)

    def progress(claims: int, evidence: int) -> None:
        elapsed = bar.tasks[0].elapsed or 0.0
        bar.update(job, claims=claims, evidence=evidence, rate=claims / elapsed if elapsed else 0.0)

    with bar:
        report = services.import_path(rt, who, file, progress)
    _print_import(
        {"case": report.case, "created": report.created, "left_out": [x.as_json() for x in report.left_out]}, as_json
    )


def _print_import(data: dict[str, Any], as_json: bool) -> None:
    """What was created, and a line for what a foreign STIX bundle held that was left out (`--json` lists each)."""
    if as_json:
        emit_json(data)
        return
    made = ", ".join(f"{n} {k}" for k, n in data["created"].items() if n) or "nothing new"
    out.print(f"{data['case']}: {made}", markup=False)
    left = data.get("left_out") or []
    if left:
        kinds = Counter(x["type"] for x in left)
        said = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        out.print(f"left out {len(left)} STIX objects: {said} (--json says why)", markup=False)


def _import_remote(file: Path, as_user: str | None, as_json: bool) -> None:
    """The file's bytes to the API (streamed from disk), imported there as your token's user."""
    from claims.cli import remote

    kind = "application/json" if file.suffix.lower() == ".json" else "application/yaml"
    try:
        fh = file.open("rb")
    except OSError as exc:
        fail(f"case file: cannot read {str(file)!r} ({exc.strerror})")
    with fh:
        data = remote.call("POST", "/imports", as_user=as_user, content=fh, headers={"Content-Type": kind}, long=True)
    _print_import(data, as_json)


def export(
    case: Annotated[str | None, typer.Option(help="Case key (needed when several exist).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml, json, stix (STIX 2.1 bundle) or claimreview")] = "yaml",
    max_marking: MaxMarking = None,
    as_user: AsUser = None,
) -> None:
    """Write a case: as a case file (lossless), a STIX 2.1 bundle, or schema.org ClaimReview JSON-LD.

    Only what you may read at or below --max-marking (default: your clearance) goes out."""
    from claims.services.exports import FORMATS, export_text

    if fmt not in FORMATS:
        fail(f"format: {fmt!r} is not one of {', '.join(FORMATS)}", 2)
    rt = runtime()
    max_marking = marking_option(rt, max_marking, "--max-marking")
    if output and (output.is_dir() or not output.parent.is_dir()):  # before any export work or warning
        reason = "Is a directory" if output.is_dir() else "No such file or directory"
        fail(f"output: cannot write {str(output)!r} ({reason})")
    if output:
        from claims.cli.safefile import UnsafeFile, check_regular

        try:
            check_regular(output, "output")
        except UnsafeFile as exc:
            fail(str(exc))
    if fmt in ("yaml", "json"):  # a case file: signed, so its confirm/refute history stands where this key is trusted
        from claims.services.casefile import dump_case

        data = services.export_case(rt, case, who=identity(as_user), max_marking=max_marking)
        text = dump_case(signed(data), fmt)
    else:
        text = export_text(rt, case, fmt, who=identity(as_user), max_marking=max_marking)
    if output:
        from claims.cli.safefile import write_output

        try:
            write_output(output, text.encode("utf-8"))
        except UnsafeFile as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"output: cannot write {str(output)!r} ({exc.strerror})")
        err.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(text)


def signed(data: dict[str, Any]) -> dict[str, Any]:
    """Sign with the instance key; without one the file goes out unsigned (it then vouches for nothing)."""
    from claims.services.provenance import load_private_key, sign_case

    if load_private_key() is None:
        err.print("warning: export is unsigned (no instance key; run `claims keys init`)", markup=False)
        return data
    return sign_case(data)


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)
