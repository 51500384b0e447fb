"""Exports in the field's formats (STIX 2.1, ClaimReview, a manager's brief) and the import of a STIX bundle."""

from __future__ import annotations

import json
from pathlib import Path

from claims.services.casefile import CaseFile, read_case_file, validate_case
from claims.services.errors import InvalidInput
from claims.services.intake import export_case
from claims.services.judgement import case_likelihoods
from claims.services.runtime import Runtime

FORMATS = ("yaml", "json", "stix", "claimreview")


def export_text(rt: Runtime, case_key: str | None, fmt: str) -> str:
    """The case in one of FORMATS, as text."""
    from claims.services.casefile import dump_case

    if fmt not in FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    data = export_case(rt, case_key)
    if fmt in ("yaml", "json"):
        return dump_case(data, fmt)
    likelihoods = case_likelihoods(rt, data["case"]["key"])
    if fmt == "stix":
        from claims.services.exports.stix import build_bundle, dump_bundle

        return dump_bundle(build_bundle(data, likelihoods))
    from claims.services.exports.claimreview import claim_reviews

    return json.dumps(claim_reviews(data, likelihoods), indent=2, ensure_ascii=False) + "\n"


def read_import_file(path: str | Path) -> CaseFile:
    """A case file (YAML/JSON), or a STIX 2.1 bundle: ours read back whole, another's for what it can give.

    What a bundle made elsewhere holds and the import leaves out travels on the case file
    (`CaseFile.left_out`) to the import's report.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            data = None  # read_case_file reports it in one line
        from claims.services.exports.stix import is_bundle, read_bundle

        if is_bundle(data):
            origin = f"STIX bundle {path.name}"
            shaped, left_out = read_bundle(data, origin)
            case_file = validate_case(shaped, origin=origin)
            case_file._left_out = tuple(left_out)
            return case_file
    return read_case_file(path)
