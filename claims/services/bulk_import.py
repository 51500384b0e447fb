"""Reading a case file for the import: one file of any size, streamed, its claims validated one by one.

JSON is read once, item by item (jsonstream.py: json's C decoder over a window of the file, with
the strict loader's checks); YAML is parsed whole, so very large files should be JSON. Each claim is
validated with the same pydantic models as a whole file (casefile.py) and handed, with its index in
the file, to the one import pipeline (intake.py `run_import`: rows in chunks, `import_rows.claim_rows`,
written in bulk by `write_rows`, all in ONE transaction: a bad item anywhere leaves the database
exactly as before). A signed file (its signature covers the whole text) and a STIX bundle (converted
to a case file) are read whole and go through the same pipeline (`import_case`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from claims.services.casefile import (
    CaseFile,
    ClaimEntry,
    _first_nul,
    check_history,
    load_case_data,
    validate_case,
    validation_message,
)
from claims.services.errors import InvalidInput
from claims.services.identity import Identity
from claims.services.intake import ImportReport, Progress, import_case, run_import
from claims.services.jsonstream import Broken, Items, ObjectReader
from claims.services.runtime import Runtime

HEADER = ("case", "sources")  # what claims need before they can be written
WHOLE_FILE = ("signature", "type")  # a signed file, a STIX bundle: read whole (`_whole_file`)

Claims = Iterator[tuple[Any, bool]]  # (item, may hold a NUL character)


class _NeedsWholeFile(Exception):
    """The file turned out to be signed (its signature after the claims): read it whole, signature checked."""


def import_path(rt: Runtime, who: Identity, path: str | Path, progress: Progress | None = None) -> ImportReport:
    """Import a case file (JSON streamed, YAML read whole) in one transaction; idempotent."""
    path = Path(path)
    origin = f"case file {path.name}"
    try:
        try:
            if path.suffix.lower() == ".json":
                return _import_json(rt, who, path, origin, progress)
        except Broken:
            pass  # the whole-file loader below says what is wrong, in its words
        data = load_case_data(path)
    except OSError as exc:
        raise InvalidInput(f"case file: cannot read {str(path)!r} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        first = (str(exc).strip().splitlines() or ["syntax error"])[0]
        raise InvalidInput(f"case file: {str(path)!r} is not valid YAML/JSON ({first})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{origin}: expected a mapping with case, sources, claims, policy_actions")
    if any(key in data for key in WHOLE_FILE):
        return _whole_file(rt, who, path)
    claims = data.pop("claims", None) or []
    if not isinstance(claims, list):
        raise InvalidInput(f"{origin}: claims: expected a list")
    header = validate_case(data, origin)
    return run_import(rt, who, header, _validated(((c, False) for c in claims), origin), progress)


def _import_json(rt: Runtime, who: Identity, path: Path, origin: str, progress: Progress | None) -> ImportReport:
    """One pass when the case and its sources come before the claims (as `claims export` writes them)."""
    with path.open("rb") as fh:
        members = ObjectReader(fh, "claims").members()
        top: dict[str, Any] = {}
        for key, value in members:
            if key in WHOLE_FILE:
                return _whole_file(rt, who, path)
            if not isinstance(value, Items):
                top[key] = value
            elif all(k in top for k in HEADER):
                header = validate_case(top, origin)

                def rest() -> CaseFile:
                    """The entries after the claims (policy actions), once the claims are read."""
                    for later, more in members:
                        if later in WHOLE_FILE:
                            raise _NeedsWholeFile
                        top[later] = more
                    return validate_case(top, origin)

                try:
                    return run_import(rt, who, header, _validated(value, origin), progress, rest)
                except _NeedsWholeFile:
                    return _whole_file(rt, who, path)
            else:
                for _ in value:  # the claims come first: read past them, take them on a second pass
                    pass
                top["claims"] = None
    if "claims" in top and top.pop("claims") is not None:
        raise InvalidInput(f"{origin}: claims: expected a list")
    header = validate_case(top, origin)
    return run_import(rt, who, header, _validated(_claims_again(path), origin), progress)


def _claims_again(path: Path) -> Claims:
    with path.open("rb") as fh:
        for _, value in ObjectReader(fh, "claims").members():
            if isinstance(value, Items):
                yield from value
                return


def _whole_file(rt: Runtime, who: Identity, path: Path) -> ImportReport:
    """Signed files and STIX bundles: read whole (signature checked, bundle converted), then the same pipeline."""
    from claims.services.exports import read_import_file

    return import_case(rt, who, read_import_file(path))


def _validated(items: Claims, origin: str) -> Iterator[tuple[int, ClaimEntry]]:
    """Each claim validated as it is read, with its index in the file (the messages `validate_case` gives)."""
    validate = ClaimEntry.model_validate
    for i, (item, may_hold_nul) in enumerate(items):
        if may_hold_nul:
            nul = _first_nul(item, f"claims[{i}]")
            if nul is not None:
                raise InvalidInput(f"{origin}: {nul}: contains a NUL character, which no text field may hold")
        try:
            entry = validate(item)
        except ValidationError as exc:
            raise InvalidInput(validation_message(exc, origin, ("claims", i))) from None
        if entry.history:
            check_history(entry, f"{origin}: claims[{i}]")  # the transition rule, as validate_case applies it
        yield i, entry
