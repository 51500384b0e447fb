"""Exports in the field's formats (STIX 2.1, ClaimReview, a manager's brief) and the import of a STIX bundle."""

from __future__ import annotations

import json
from pathlib import Path

from claims.services.casefile import CaseFile, read_case_file, validate_case
from claims.services.errors import InvalidInput
from claims.services.identity import Identity
from claims.services.intake import export_view
from claims.services.judgement import shown_likelihoods
from claims.services.runtime import Runtime

FORMATS = ("yaml", "json", "stix", "claimreview")


def export_text(
    rt: Runtime, case_key: str | None, fmt: str, *, who: Identity | None = None, max_marking: str | None = None
) -> str:
    """The case in one of FORMATS, as text: what `who` may read at or below `max_marking` (issue 20).

    Every judgement in it is made from what it shows (`shown_likelihoods`), so none rests on an item left out.
    """
    from claims.services.casefile import dump_case

    if fmt not in FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    data, withheld = export_view(rt, case_key, who=who, max_marking=max_marking)
    if fmt in ("yaml", "json"):
        return dump_case(data, fmt)
    likelihoods = shown_likelihoods(data, rt.policy)
    if fmt == "stix":
        from claims.services.exports.stix import build_bundle, dump_bundle

        return dump_bundle(build_bundle(data, likelihoods, rt.markings))
    from claims.services.exports.claimreview import claim_reviews

    return (
        json.dumps(claim_reviews(data, likelihoods, rt.markings, withheld=withheld), indent=2, ensure_ascii=False)
        + "\n"
    )


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
