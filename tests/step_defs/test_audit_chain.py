"""Scenarios of tests/features/audit_chain.feature."""

from audit_helpers import delete_and_relink, middle_event_ids
from pytest_bdd import parsers, scenarios, then, when

from claims import services
from claims.services import Runtime

scenarios("audit_chain.feature")


@when(
    parsers.re(
        r"an event in the middle of the log is deleted and the next event "
        r"(?P<how>relinked to the one before|relinked and rehashed)"
    ),
    target_fixture="relinked",
)
def cut_an_event(db_url: str, how: str) -> int:
    _, target, _ = middle_event_ids(db_url)
    return delete_and_relink(db_url, target, recompute=how == "relinked and rehashed")


@then("the audit log verifies")
def verifies(rt: Runtime) -> None:
    report = services.audit_verify(rt)
    assert report.ok, report.problem


@then(parsers.parse('the audit log fails {where} the relinked event because "{problem}"'))
def fails(rt: Runtime, relinked: int, where: str, problem: str) -> None:
    report = services.audit_verify(rt)
    assert not report.ok
    assert report.first_bad_id is not None
    assert report.first_bad_id == relinked if where == "at" else report.first_bad_id > relinked
    assert report.problem == f"event {report.first_bad_id}: {problem}"
