"""One error hierarchy: each class its exit code and HTTP problem; the client turns a problem back into its class."""

from __future__ import annotations

import httpx
import pytest

from claims.cli.remote import _classes, _error
from claims.domain import errors
from claims.domain.errors import ClaimsError

ALL = _classes(ClaimsError)


def test_every_error_says_its_exit_code_and_problem_once():
    assert len(ALL) > 15
    assert len({c.slug for c in ALL}) == len(ALL)  # a problem type names one class
    for cls in ALL:
        assert cls.exit_code in (1, 3, 4, 5) and 400 <= cls.status < 600 and cls.title, cls
        assert cls.problem_type() == f"urn:claims:problem:{cls.slug}"
        assert cls.__module__ == "claims.domain.errors"  # defined in the one module


@pytest.mark.parametrize(
    ("cls", "code", "status"),
    [
        (errors.NotFound, 3, 404),
        (errors.PermissionDenied, 4, 403),
        (errors.NotAuthenticated, 4, 401),
        (errors.ConcurrencyConflict, 5, 409),
        (errors.AlreadyDone, 5, 409),
        (errors.RuleViolation, 1, 422),
        (errors.InvalidInput, 1, 422),
    ],
)
def test_the_cli_codes_stay_as_they_were(cls: type[ClaimsError], code: int, status: int):
    assert (cls.exit_code, cls.status) == (code, status)


@pytest.mark.parametrize("cls", ALL)
def test_a_problem_comes_back_as_its_class(cls: type[ClaimsError]):
    body = {"type": cls.problem_type(), "title": cls.title, "status": cls.status, "detail": "claim: unknown 'x'"}
    back = _error(httpx.Response(cls.status, json=body))
    assert type(back) is cls and str(back) == "claim: unknown 'x'"


def test_an_unknown_problem_falls_back_on_its_status():
    back = _error(httpx.Response(404, json={"type": "about:blank", "detail": "Not Found"}))
    assert type(back) is errors.NotFound and back.exit_code == 3
