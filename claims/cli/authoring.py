"""`claims case|source|claim|action add/edit/list` (and `withdraw`): authoring by hand (issue 17).

Thin wrappers over `claims.services.authoring`, imported inside each command. Every edit names
the version the editor read (`--expected-version`, from `list`): a stale one exits 5 and writes
nothing. Analysts and admins write; everyone signed in reads.
"""

from typing import Annotated, Any

import typer

from claims.cli.common import AsUser, CaveatOpt, JsonOut, MarkingOpt, emit_json, identity, marking_option, out, runtime

case_app = typer.Typer(help="Cases: add, edit, list.", no_args_is_help=True)
source_app = typer.Typer(help="Sources of a case: add, edit, withdraw, list.", no_args_is_help=True)
claim_app = typer.Typer(help="Claims of a case: add, edit, withdraw, list.", no_args_is_help=True)
action_app = typer.Typer(help="Policy actions of a case: add, edit, list.", no_args_is_help=True)

CaseOpt = Annotated[str, typer.Option("--case", help="Case key.")]
Version = Annotated[int, typer.Option("--expected-version", help="The version you read (`list` shows it).")]
Rationale = Annotated[str | None, typer.Option(help="Why; required where the edit changes meaning.")]
Requires = Annotated[
    list[str] | None, typer.Option("--requires", help="CLAIM[:STAGE] (stage default confirmed); repeat for more.")
]


def _done(row: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        emit_json(row)
    else:
        out.print(f"{what} {row['key']} (version {row['version']})", markup=False)


def _table(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if c == "requires":
                value = ", ".join(f"{r['claim']}:{r['stage']}" for r in value or [])
            elif c == "withdrawn":
                value = f"withdrawn: {row.get('withdrawal_reason')}" if value else ""
            cells.append("" if value is None else str(value))
        table.add_row(*cells)
    out.print(table)


# --- cases ---


@case_app.command("add")
def case_add(
    key: str,
    title: Annotated[str, typer.Option(help="What the case is about.")],
    marking: MarkingOpt = None,
    caveat: CaveatOpt = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Open a new case (marked --marking, default $CLAIMS_DEFAULT_MARKING or TLP:AMBER)."""
    from claims.services import authoring

    rt = runtime()
    marking = marking_option(rt, marking)
    _done(authoring.add_case(rt, identity(as_user), key, title, marking=marking, caveat=caveat), "case", as_json)


@case_app.command("edit")
def case_edit(
    key: str,
    expected_version: Version,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    marking: MarkingOpt = None,
    caveat: CaveatOpt = None,
    rationale: Rationale = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Retitle or re-mark a case (lowering its marking: a reviewer or admin, with --rationale)."""
    from claims.services import authoring

    rt = runtime()
    marking = marking_option(rt, marking)
    row = authoring.edit_case(
        rt,
        identity(as_user),
        key,
        expected_version=expected_version,
        title=title,
        marking=marking,
        caveat=caveat,
        rationale=rationale,
    )
    _done(row, "case", as_json)


@case_app.command("list")
def case_list(as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """Every case with its version."""
    from claims.services import authoring

    _table(authoring.list_cases(runtime(), identity(as_user)), ["key", "title", "marking", "version"], as_json)


# --- members (issue 20: who reads a case) ---

member_app = typer.Typer(help="Members of a case and their roles there (admin).", no_args_is_help=True)
case_app.add_typer(member_app, name="member")


@member_app.command("add")
def member_add(
    case: str,
    name: str,
    role: Annotated[str, typer.Option(help="Their role on this case: analyst, reviewer or manager.")],
    as_user: AsUser = None,
) -> None:
    """Make NAME a member of CASE with a role there (or change it); audited."""
    from claims.services import membership

    m = membership.add_member(runtime(), identity(as_user), case, name, role)
    out.print(f"{m.user} is {m.role} on case {m.case}", markup=False)


@member_app.command("remove")
def member_remove(case: str, name: str, as_user: AsUser = None) -> None:
    """NAME no longer reads CASE (unless they read every case); audited."""
    from claims.services import membership

    membership.remove_member(runtime(), identity(as_user), case, name)
    out.print(f"{name} is no longer a member of case {case}", markup=False)


@member_app.command("list")
def member_list(case: str, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """The members of CASE and their roles."""
    from claims.services import membership

    rows = [
        {"user": m.user, "role": m.role, "added_by": m.added_by, "added_at": m.added_at.isoformat()}
        for m in membership.list_members(runtime(), identity(as_user), case)
    ]
    _table(rows, ["user", "role", "added_by", "added_at"], as_json)


# --- sources ---


@source_app.command("add")
def source_add(
    key: str,
    case: CaseOpt,
    name: Annotated[str, typer.Option(help="Who the source is.")],
    kind: Annotated[str, typer.Option(help="media, intelligence, official, document, osint or other")],
    reliability: Annotated[str, typer.Option(help="Admiralty reliability A-F.")],
    derived_from: Annotated[str | None, typer.Option(help="Key of the source this one repeats.")] = None,
    marking: MarkingOpt = None,
    caveat: CaveatOpt = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Add a source to a case (marked --marking, default the case's)."""
    from claims.services import authoring

    rt = runtime()
    marking = marking_option(rt, marking)
    row = authoring.add_source(
        rt,
        identity(as_user),
        case,
        key,
        name,
        kind=kind,
        reliability=reliability,
        derived_from=derived_from,
        marking=marking,
        caveat=caveat,
    )
    _done(row, "source", as_json)


@source_app.command("edit")
def source_edit(
    key: str,
    case: CaseOpt,
    expected_version: Version,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    kind: Annotated[str | None, typer.Option(help="New kind.")] = None,
    reliability: Annotated[str | None, typer.Option(help="New reliability A-F (needs --rationale).")] = None,
    derived_from: Annotated[
        str | None, typer.Option(help="New lineage parent, or 'none' to clear (needs --rationale).")
    ] = None,
    marking: MarkingOpt = None,
    caveat: CaveatOpt = None,
    rationale: Rationale = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Correct or re-mark a source; a re-grade or new lineage re-assesses every claim it speaks to."""
    from claims.services import authoring

    rt = runtime()
    extra: dict[str, Any] = {"marking": marking_option(rt, marking), "caveat": caveat}
    if derived_from is not None:
        extra["derived_from"] = "" if derived_from.lower() == "none" else derived_from
    row = authoring.edit_source(
        rt,
        identity(as_user),
        case,
        key,
        expected_version=expected_version,
        name=name,
        kind=kind,
        reliability=reliability,
        rationale=rationale,
        **extra,
    )
    _done(row, "source", as_json)


@source_app.command("withdraw")
def source_withdraw(
    key: str,
    case: CaseOpt,
    expected_version: Version,
    reason: Annotated[str, typer.Option(help="Why it no longer stands.")],
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Withdraw a source: kept on record; its evidence is retracted and its claims re-assessed."""
    from claims.services import authoring

    row = authoring.withdraw_source(runtime(), identity(as_user), case, key, reason, expected_version=expected_version)
    _done(row, "withdrew source", as_json)


@source_app.command("list")
def source_list(case: CaseOpt, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """The case's sources, withdrawn ones marked."""
    from claims.services import authoring

    rows = authoring.list_sources(runtime(), identity(as_user), case)
    _table(rows, ["key", "name", "kind", "reliability", "derived_from", "version", "withdrawn"], as_json)


# --- claims ---


@claim_app.command("add")
def claim_add(
    statement: str,
    case: CaseOpt,
    key: Annotated[str | None, typer.Option(help="Claim key (default: a slug of the statement).")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Report a new claim in a case."""
    from claims.services import authoring
    from claims.services.similar import similar_claims

    rt, who = runtime(), identity(as_user)
    made = authoring.add_claim(rt, who, case, statement, key=key)
    known = similar_claims(rt, who, statement, exclude_claim=made)  # the same claim may be known already
    if as_json:
        emit_json(
            {
                "key": made,
                "case": case,
                "similar": [{"kind": h.kind, "score": round(h.score, 3), "case": h.case_key, "claim": h.claim_key}
                            for h in known],
            }
        )  # fmt: skip
        return
    out.print(f"claim {made} reported in {case}", markup=False)
    for hit in known:
        hint = "same claim as" if hit.kind == "same" else "related to"
        out.print(f"  {hint} {hit.case_key}/{hit.claim_key} ({hit.score:.2f}): {hit.statement}", markup=False)
    if any(h.kind == "same" for h in known):
        out.print("  consider `claims link` --duplicate-of, or withdraw the new claim", markup=False)


@claim_app.command("edit")
def claim_edit(
    key: str,
    expected_version: Version,
    statement: Annotated[str, typer.Option(help="The new wording.")],
    rationale: Rationale = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Reword a claim (needs --rationale): it keeps its evidence and is re-assessed."""
    from claims.services import authoring

    row = authoring.edit_claim(
        runtime(), identity(as_user), key, expected_version=expected_version, statement=statement, rationale=rationale
    )
    _done(row, "claim", as_json)


@claim_app.command("withdraw")
def claim_withdraw(
    key: str,
    expected_version: Version,
    reason: Annotated[str, typer.Option(help="Why it is withdrawn.")],
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Withdraw a claim: it stays readable, shown as withdrawn."""
    from claims.services import authoring

    row = authoring.withdraw_claim(runtime(), identity(as_user), key, reason, expected_version=expected_version)
    _done(row, "withdrew claim", as_json)


@claim_app.command("list")
def claim_list(case: CaseOpt, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """The case's claims with their versions, withdrawn ones marked."""
    from claims.services import authoring

    rows = authoring.list_claims(runtime(), identity(as_user), case)
    _table(rows, ["key", "stage", "statement", "version", "withdrawn"], as_json)


# --- policy actions ---


@action_app.command("add")
def action_add(
    key: str,
    case: CaseOpt,
    title: Annotated[str, typer.Option(help="What the action is.")],
    requires: Requires = None,
    severity: Annotated[int, typer.Option(help="1-5.")] = 1,
    due: Annotated[str | None, typer.Option(help="Due date, YYYY-MM-DD: its collection tasks are due by then.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Add a policy action gated on claims reaching stages."""
    from claims.services import authoring

    row = authoring.add_action(
        runtime(),
        identity(as_user),
        case,
        key,
        title,
        requires=authoring.parse_requires(requires or []),
        severity=severity,
        due=due,
    )
    _done(row, "action", as_json)


@action_app.command("edit")
def action_edit(
    key: str,
    expected_version: Version,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    requires: Requires = None,
    rationale: Rationale = None,
    due: Annotated[str | None, typer.Option(help="New due date, YYYY-MM-DD.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Retitle an action, move its due date or replace its requirements (needs --rationale)."""
    from claims.services import authoring

    row = authoring.edit_action(
        runtime(),
        identity(as_user),
        key,
        expected_version=expected_version,
        title=title,
        requires=authoring.parse_requires(requires) if requires else None,
        rationale=rationale,
        due=due,
    )
    _done(row, "action", as_json)


@action_app.command("list")
def action_list(case: CaseOpt, as_user: AsUser = None, as_json: JsonOut = False) -> None:
    """The case's policy actions and what each requires."""
    from claims.services import authoring

    rows = authoring.list_actions(runtime(), identity(as_user), case)
    _table(rows, ["key", "title", "severity", "requires", "version"], as_json)


def mark(
    item: Annotated[str, typer.Argument(help="case:KEY, source:CASE/KEY, evidence:ID, note:ID or report:ID")],
    marking: MarkingOpt = None,
    caveat: Annotated[str | None, typer.Option("--caveat", help="New handling caveat; '' clears it.")] = None,
    rationale: Annotated[str | None, typer.Option(help="Why; required to lower a marking.")] = None,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """Re-mark one item; lowering a marking (declassifying) needs a reviewer or an admin and --rationale."""
    from claims.services.markings import set_marking

    rt = runtime()
    marking = marking_option(rt, marking)
    done = set_marking(rt, identity(as_user), item, marking=marking, caveat=caveat, rationale=rationale)
    if as_json:
        emit_json(done)
    else:
        out.print(f"{done['item']}: {done['old']['marking']} -> {done['new']['marking']}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("mark")(mark)
    app.add_typer(case_app, name="case")
    app.add_typer(source_app, name="source")
    app.add_typer(claim_app, name="claim")
    app.add_typer(action_app, name="action")
