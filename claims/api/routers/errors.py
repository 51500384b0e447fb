"""The problems every guarded route may answer with, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from claims.api.schemas import Problem

_SAID = {
    400: "A body that is not the JSON it says it is.",
    401: "No token, or one that proves no one now (unknown, expired, revoked).",
    403: "The token's user may not do this.",
    404: "Unknown claim, case, source, review or action.",
    408: "The body did not arrive in time.",
    409: "Someone else changed it first.",
    413: "The body is over the size limit.",
    422: "A value no rule accepts (the detail names the field and the value).",
    503: "Every worker slot stayed busy, or the database is not ready.",
}

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text} for code, text in _SAID.items()
}
