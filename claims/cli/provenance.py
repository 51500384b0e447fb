"""`claims keys`, `claims trust` and `claims audit checkpoint`: the instance key and what it vouches for."""

from typing import Annotated

import typer

from claims.cli.common import AsUser, JsonOut, emit_json, err, identity, out, runtime
from claims.cli.read import audit_app

keys_app = typer.Typer(help="The instance's Ed25519 key: signs case files and audit checkpoints.", no_args_is_help=True)
trust_app = typer.Typer(help="Keys whose signed case files may carry confirm/refute history.", no_args_is_help=True)


@keys_app.command("init")
def keys_init() -> None:
    """Make the instance key pair; the private key is written 0600 to $CLAIMS_KEY_DIR (never the database)."""
    from claims.services.provenance import init_key, key_id_of, key_path

    public = init_key()
    err.print(f"private key written to {key_path()} (mode 600)", markup=False)
    out.print(f"{key_id_of(public)} {public}", markup=False)


@keys_app.command("show")
def keys_show(as_json: JsonOut = False) -> None:
    """Print the instance's public key (give it to instances that should trust this one's case files)."""
    from claims.services.provenance import key_id_of, key_path, public_text, require_private_key

    public = public_text(require_private_key().public_key())
    if as_json:
        emit_json({"key_id": key_id_of(public), "public_key": public, "path": str(key_path())})
    else:
        out.print(f"{key_id_of(public)} {public}", markup=False)


@trust_app.command("add")
def trust_add(
    name: Annotated[str, typer.Argument(help="A name for the other instance, e.g. brussels-desk.")],
    public_key: Annotated[str, typer.Argument(help="Its public key as `claims keys show` prints it (base64).")],
    as_user: AsUser = None,
) -> None:
    """Trust another instance's key (admin; audited)."""
    from claims.services.provenance import trust_key

    key_id = trust_key(runtime(), identity(as_user), name, public_key)
    out.print(f"trusted {name}: {key_id}", markup=False)


@trust_app.command("list")
def trust_list(as_json: JsonOut = False) -> None:
    """Trusted keys; this instance's own key is always trusted."""
    from claims.services.provenance import trusted_keys

    rows = trusted_keys(runtime())
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("name", "key id", "public key", "added by")
    for r in rows:
        table.add_row(r["name"], r["key_id"], r["public_key"], r["added_by"] or "")
    out.print(table)


@audit_app.command("checkpoint")
def audit_checkpoint(as_json: JsonOut = False) -> None:
    """Sign the chain head (event count, last id, hash) and append it to the checkpoint file next to the key."""
    from claims.services.audit import checkpoint_path, make_checkpoint

    rt = runtime()
    cp = make_checkpoint(rt)
    path = checkpoint_path(rt.database_url)
    if as_json:
        emit_json(None if cp is None else {**cp.__dict__, "file": str(path)})
    elif cp is None:
        out.print("nothing new to checkpoint", markup=False)
    else:
        out.print(f"checkpoint: {cp.events} events, head #{cp.last_id} {cp.head[:16]}... -> {path}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(trust_app, name="trust")
