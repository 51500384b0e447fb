"""Prefect flows: thin tasks over the claims services, one flow per module.

- `flows.intake.intake_flow`: import case files from a path or an inbox folder.
- `flows.assessment.assessment_flow`: assess claims in batches; artifact of what moved and why.
- `flows.review.signoff_flow`: wait for a reviewer's typed decision (pause with input), four eyes.
- `flows.serve`: the deployments and `claims serve`.
"""

from __future__ import annotations

import sys


def lean_prefect_import() -> None:
    """Call first thing in a process that will import Prefect: skip a grammar nobody here uses.

    Prefect imports jsonschema, which builds a Lark parser for RFC 3987 IRIs at import time when
    the optional `rfc3987-syntax` is installed (the dev extras bring it, through stix2-validator's
    jsonschema[format-nongpl]): half of Prefect's import time, seconds on a busy machine, for the
    "iri" format checks that only an explicit FormatChecker uses, and Prefect uses none. Processes
    that validate STIX (the tests) never call this and keep the check.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  (None: import fails, jsonschema skips)
