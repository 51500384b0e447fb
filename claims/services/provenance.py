"""Who vouches for a case file: the instance's Ed25519 key, signed case files, and trusted keys.

Signature scheme `ed25519/canonical-json-v1` (docs/decisions/0002-hash-chain-and-signed-checkpoints.md):
the document without its top-level `signature` field is serialised as canonical JSON (keys
sorted, no insignificant whitespace, UTF-8, dates as ISO text) and signed with Ed25519; the
file carries `signature: {scheme, key_id, public_key, value}` with base64 key and signature.
The signature covers the content, so YAML and JSON renderings of one case verify alike; any
change to a key, value or list item breaks it. The private key never enters the database: it
is a PEM file in the key folder, mode 0600, and the instance always trusts its own public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from claims.domain.events import EventKind
from claims.services.errors import InvalidInput, RuleViolation
from claims.services.identity import Identity
from claims.services.runtime import Runtime, authorize
from claims.services.transitions import now
from claims.settings import get_settings
from claims.store.models import TrustedKey
from claims.store.uow import UnitOfWork

SCHEME = "ed25519/canonical-json-v1"
KEY_FILE = "instance-ed25519.pem"
OWN_KEY_NAME = "this instance"


def key_dir() -> Path:
    """$CLAIMS_KEY_DIR, else the user's config folder: outside the database, so DB access alone cannot sign."""
    configured = get_settings().key_dir
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claims"


def key_path() -> Path:
    return key_dir() / KEY_FILE


def public_text(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id_of(public_key: str) -> str:
    """A short, stable name for a public key: the start of the SHA-256 of its raw bytes."""
    return "ed25519:" + hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def parse_public_key(text: str, field: str = "public_key") -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError, AttributeError):
        raise InvalidInput(f"{field}: {text!r} is not a base64 Ed25519 public key (32 bytes)") from None


def init_key() -> str:
    """Make the instance key pair; the private key file is created 0600 and never overwritten."""
    path = key_path()
    if path.exists():
        raise RuleViolation(f"keys: an instance key already exists at {path}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InvalidInput(f"keys: cannot create {str(path)!r} ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return public_text(private.public_key())


def load_private_key() -> Ed25519PrivateKey | None:
    """The instance key, or None if none was made; refused if others could read it."""
    path = key_path()
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InvalidInput(f"keys: {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"keys: {path} is not a readable Ed25519 private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"keys: {path} is not an Ed25519 private key")
    return key


def require_private_key() -> Ed25519PrivateKey:
    key = load_private_key()
    if key is None:
        raise RuleViolation(f"keys: no instance key in {key_dir()}; run `claims keys init`")
    return key


def own_public_key() -> str | None:
    key = load_private_key()
    return public_text(key.public_key()) if key else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not part of a case file")


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the document minus `signature`, as canonical JSON."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain).encode()


def sign_bytes(data: bytes) -> dict[str, str]:
    key = require_private_key()
    public = public_text(key.public_key())
    value = base64.b64encode(key.sign(data)).decode()
    return {"scheme": SCHEME, "key_id": key_id_of(public), "public_key": public, "value": value}


def sign_case(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its signature appended (JSON round trip first, so what is signed is what is written)."""
    body = json.loads(json.dumps({k: v for k, v in document.items() if k != "signature"}, default=_plain))
    return {**body, "signature": sign_bytes(canonical(body))}


@dataclass(frozen=True)
class Attestation:
    """A verified signature: which key vouches for the document."""

    key_id: str
    public_key: str


def verify_signature(document: dict[str, Any], origin: str = "case file") -> Attestation | None:
    """None for an unsigned document; raises a one-line InvalidInput if the signature does not verify."""
    sig = document.get("signature")
    if sig is None:
        return None
    if not isinstance(sig, dict) or not all(isinstance(sig.get(f), str) for f in ("key_id", "public_key", "value")):
        raise InvalidInput(f"{origin}: signature: needs key_id, public_key and value (text)")
    if sig.get("scheme", SCHEME) != SCHEME:
        raise InvalidInput(f"{origin}: signature.scheme: {sig['scheme']!r} is not {SCHEME}")
    public = parse_public_key(sig["public_key"], f"{origin}: signature.public_key")
    if key_id_of(sig["public_key"]) != sig["key_id"]:
        raise InvalidInput(f"{origin}: signature.key_id: {sig['key_id']!r} does not name the public key it carries")
    try:
        public.verify(base64.b64decode(sig["value"], validate=True), canonical(document))
    except (InvalidSignature, binascii.Error, ValueError):
        raise InvalidInput(
            f"{origin}: signature: does not verify for key {sig['key_id']}; the file was changed after it was signed"
        ) from None
    return Attestation(sig["key_id"], sig["public_key"])


def trusted_name(uow: UnitOfWork, attestation: Attestation | None) -> str | None:
    """The trusted name of the key that signed, or None if unsigned or signed by a key not trusted here."""
    if attestation is None:
        return None
    if attestation.public_key == own_public_key():
        return OWN_KEY_NAME
    row = uow.session.scalar(select(TrustedKey).where(TrustedKey.key_id == attestation.key_id))
    return row.name if row is not None and row.public_key == attestation.public_key else None


def trust_key(rt: Runtime, who: Identity, name: str, public_key: str) -> str:
    """Trust another instance's key for confirm/refute history in its signed case files (admin; audited)."""
    actor = who.name
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput(f"name: {name!r} must be 1-80 characters")
    public_key = public_key.strip()
    parse_public_key(public_key)
    key_id = key_id_of(public_key)
    with rt.uow() as uow:
        authorize(uow, who, "manage_users")
        for row in uow.session.scalars(select(TrustedKey)):
            if row.name == name:
                raise RuleViolation(f"name: {name!r} already names trusted key {row.key_id}")
            if row.key_id == key_id:
                raise RuleViolation(f"public_key: {key_id} is already trusted as {row.name!r}")
        uow.session.add(TrustedKey(name=name, key_id=key_id, public_key=public_key, added_by=actor, added_at=now()))
        uow.record(EventKind.TRUST_ADDED, actor=actor, payload={"name": name, "key_id": key_id})
        uow.commit()
    return key_id


def trusted_keys(rt: Runtime) -> list[dict[str, Any]]:
    """The instance's own key (always trusted) and every key trusted here."""
    out: list[dict[str, Any]] = []
    own = own_public_key()
    if own:
        out.append({"name": OWN_KEY_NAME, "key_id": key_id_of(own), "public_key": own, "added_by": None})
    with rt.uow(write=False) as uow:
        for row in uow.session.scalars(select(TrustedKey).order_by(TrustedKey.id)):
            out.append({"name": row.name, "key_id": row.key_id, "public_key": row.public_key, "added_by": row.added_by})
    return out
