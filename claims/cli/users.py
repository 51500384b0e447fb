"""`claims user`: accounts, roles, passwords and tokens."""

from typing import Annotated

import typer

from claims import services
from claims.cli.common import AsUser, JsonOut, emit_json, err, identity, out, runtime
from claims.cli.signin import PasswordStdin, read_password

user_app = typer.Typer(help="Users, roles, passwords and tokens (admin).", no_args_is_help=True)


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help="analyst, reviewer, manager or admin")],
    email: Annotated[str | None, typer.Option(help="E-mail an OIDC sign-in maps to this user.")] = None,
    password_stdin: PasswordStdin = False,
    as_user: AsUser = None,
) -> None:
    """Add a user with a password (asked for, or read with --password-stdin).

    Needs an admin's sign-in, except the first admin of an empty database (bootstrap).
    """
    from claims.services import identity as ident
    from claims.services.users import check_name_free, check_new_user

    rt = runtime()
    role_v = check_new_user(name, role)
    by = None if (role_v is services.Role.ADMIN and ident.bootstrap_open(rt)) else identity(as_user)
    if by is not None:
        ident.check_permission(rt, by, "manage_users")
    check_name_free(rt, name)
    password = read_password(password_stdin, confirm=True, prompt=f"Password for {name}")
    user = services.add_user(rt, by, name, role, password=password, email=email)
    err.print(f"added {user.name} ({user.role})", markup=False)


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str | None, typer.Argument(help="Whose password (default: yours; others' need admin).")] = None,
    password_stdin: PasswordStdin = False,
    as_user: AsUser = None,
) -> None:
    """Set a new password (also unlocks a locked account)."""
    from claims.services import identity as ident

    me = identity(as_user)
    target = name or me.name
    password = read_password(password_stdin, confirm=True, prompt=f"New password for {target}")
    ident.set_password(runtime(), me, target, password)
    err.print(f"password of {target} changed", markup=False)


@user_app.command("disable")
def user_disable(name: str, as_user: AsUser = None) -> None:
    """Disable an account: no more sign-ins, every token revoked (admin)."""
    from claims.services import identity as ident

    revoked = ident.disable_user(runtime(), identity(as_user), name)
    err.print(f"disabled {name}; {revoked} token(s) revoked", markup=False)


@user_app.command("email")
def user_email(
    name: str,
    email: Annotated[str | None, typer.Argument(help="The address (omit to clear).")] = None,
    as_user: AsUser = None,
) -> None:
    """Map an OIDC identity's e-mail to this user (admin)."""
    from claims.services import identity as ident

    ident.set_email(runtime(), identity(as_user), name, email)
    err.print(f"e-mail of {name}: {email or '(none)'}", markup=False)


@user_app.command("tokens")
def user_tokens(
    name: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Revoke every token of NAME.")] = False,
    as_user: AsUser = None,
    as_json: JsonOut = False,
) -> None:
    """List (or revoke) the tokens of NAME: yours, or anyone's for an admin. Only ids and dates; never the tokens."""
    from claims.services import identity as ident

    rt = runtime()
    me = identity(as_user)
    if revoke:
        count = ident.revoke_tokens(rt, me, name)
        err.print(f"revoked {count} token(s) of {name}", markup=False)
        return
    tokens = ident.list_tokens(rt, me, name)
    if as_json:
        emit_json(
            [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "created_at": t.created_at,
                    "expires_at": t.expires_at,
                    "revoked_at": t.revoked_at,
                }
                for t in tokens
            ]
        )
        return
    from rich.table import Table

    table = Table("id", "kind", "created", "expires", "revoked")
    for t in tokens:
        table.add_row(
            str(t.id),
            t.kind,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.expires_at:%Y-%m-%d %H:%M}",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    out.print(table)


@user_app.command("token-issue")
def user_token_issue(
    name: Annotated[str, typer.Argument(help="The service user (system).")] = "system",
    days: Annotated[float, typer.Option(help="Lifetime in days.")] = 90,
    as_user: AsUser = None,
) -> None:
    """Issue a service token for `claims serve` and workers (admin); printed once, set it as CLAIMS_TOKEN."""
    from claims.services import identity as ident

    issued = ident.issue_token(runtime(), identity(as_user), name, days=days)
    err.print(f"service token for {name}, expires {issued.expires_at:%Y-%m-%d %H:%M} UTC (shown once):", markup=False)
    out.print(issued.token, markup=False, highlight=False, soft_wrap=True)


@user_app.command("clearance")
def user_clearance(
    name: str,
    marking: Annotated[str, typer.Argument(help="The highest marking NAME may read (e.g. TLP:AMBER).")],
    as_user: AsUser = None,
) -> None:
    """Set the highest marking NAME may read (admin); audited."""
    from claims.services import membership

    cleared = membership.set_clearance(runtime(), identity(as_user), name, marking)
    out.print(f"{name} is cleared to {cleared}", markup=False)


@user_app.command("all-cases")
def user_all_cases(
    name: str,
    on: Annotated[bool, typer.Option("--on/--off", help="Read every case (on) or only member cases (off).")],
    as_user: AsUser = None,
) -> None:
    """Deployment-wide access for NAME: every case with their global role, or only the cases they are a member of."""
    from claims.services import membership

    membership.set_all_cases(runtime(), identity(as_user), name, on)
    out.print(f"{name} reads {'every case' if on else 'only the cases they are a member of'}", markup=False)


@user_app.command("list")
def user_list(as_json: JsonOut = False) -> None:
    """List users, roles, clearance and whether they read every case."""
    users = services.list_users(runtime())
    if as_json:
        emit_json(
            [
                {
                    "name": u.name,
                    "role": u.role,
                    "email": u.email,
                    "disabled": u.disabled,
                    "clearance": u.clearance,
                    "all_cases": u.all_cases,
                }
                for u in users
            ]
        )
        return
    from rich.table import Table

    table = Table("name", "role", "e-mail", "status", "clearance", "cases")
    for u in users:
        table.add_row(
            u.name,
            u.role,
            u.email or "",
            "disabled" if u.disabled else "",
            u.clearance or "",
            "all" if u.all_cases else "members",
        )
    out.print(table)
