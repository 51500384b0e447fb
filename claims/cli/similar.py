"""`claims similar`, `claims link`: known claims that say the same thing, and links between claims."""

from typing import Annotated

import typer

from claims.cli.common import AsUser, JsonOut, emit_json, fail, identity, out, runtime


def similar_cmd(
    statement: Annotated[str, typer.Argument(help="The statement to look for, in quotes.")],
    case: Annotated[str | None, typer.Option(help="Only claims of this case.")] = None,
    exclude: Annotated[str | None, typer.Option(help="Leave out this claim (the one being written).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 5,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Known claims that say the same thing ("same": add the report as evidence there) or a related one."""
    from claims.services.similar import similar_claims, similar_json

    found = similar_claims(runtime(), identity(as_user), statement, case_key=case, exclude_claim=exclude, limit=limit)
    if as_json:
        emit_json(similar_json(found))
        return
    if not found:
        out.print("no similar claims", markup=False)
    for s in found:
        note = f"  ({'; '.join(s.conflicts)})" if s.conflicts else ""
        out.print(f"{s.kind:<8} {s.score:.2f}  {s.case_key}/{s.claim_key}: {s.statement}{note}", markup=False)


def link_cmd(
    claim: Annotated[str, typer.Argument(help="The claim to link.")],
    rationale: Annotated[str, typer.Option(help="Why: the audit log keeps it.")],
    duplicate_of: Annotated[str | None, typer.Option(help="The claim it duplicates (the survivor).")] = None,
    related: Annotated[str | None, typer.Option(help="A claim it is related to.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Mark a claim a duplicate of another (readiness then judges the survivor) or related to one."""
    if (duplicate_of is None) == (related is None):
        fail("link: give exactly one of --duplicate-of OTHER or --related OTHER", 2)
    from claims.services.links import link_claims

    kind, other = ("duplicate", duplicate_of) if duplicate_of is not None else ("related", related)
    link = link_claims(runtime(), identity(as_user), claim, other or "", kind, rationale)
    if as_json:
        emit_json({"claim": link.claim, "other": link.other, "kind": link.kind, "rationale": link.rationale})
    else:
        word = "a duplicate of" if link.kind == "duplicate" else "related to"
        out.print(f"{link.claim} is now {word} {link.other}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("similar")(similar_cmd)
    app.command("link")(link_cmd)
