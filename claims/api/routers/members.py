"""Need to know (issue 20): who reads which case, and how far (admins; each change audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from claims.api.deps import Rt, Who
from claims.api.routers.errors import PROBLEMS
from claims.api.schemas import AllCasesIn, ClearanceIn, MemberIn, MemberOut, ReachOut
from claims.services import membership

router = APIRouter(tags=["need to know"], responses=PROBLEMS)


def _member(m: membership.Member) -> dict[str, Any]:
    return {"case": m.case, "user": m.user, "role": m.role, "added_by": m.added_by, "added_at": m.added_at.isoformat()}


@router.get("/cases/{case}/members", response_model=list[MemberOut])
def list_members(case: str, rt: Rt, who: Who) -> list[dict[str, Any]]:
    """The members of a case and their roles there (as `claims case member list --json`)."""
    return [_member(m) for m in membership.list_members(rt, who, case)]


@router.put("/cases/{case}/members/{name}", response_model=MemberOut)
def put_member(case: str, name: str, body: MemberIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Make NAME a member of the case with a role there, or change it."""
    return _member(membership.add_member(rt, who, case, name, body.role))


@router.delete("/cases/{case}/members/{name}", status_code=204)
def delete_member(case: str, name: str, rt: Rt, who: Who) -> None:
    """NAME no longer reads the case (unless they read every case)."""
    membership.remove_member(rt, who, case, name)


@router.put("/users/{name}/clearance", response_model=ReachOut)
def put_clearance(name: str, body: ClearanceIn, rt: Rt, who: Who) -> dict[str, Any]:
    """The highest marking NAME may read."""
    return {"user": name, "clearance": membership.set_clearance(rt, who, name, body.marking)}


@router.put("/users/{name}/all-cases", response_model=ReachOut)
def put_all_cases(name: str, body: AllCasesIn, rt: Rt, who: Who) -> dict[str, Any]:
    """Deployment-wide access for NAME on or off."""
    membership.set_all_cases(rt, who, name, body.on)
    return {"user": name, "all_cases": body.on}
