"""The API's request and response bodies (what the OpenAPI document publishes and Schemathesis checks)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A request body: unknown fields are refused (nothing a request carries may steer the server)."""

    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """RFC 9457: what went wrong, in one line (`detail`), typed by the error's class (`type`)."""

    type: str
    title: str
    status: int
    detail: str


class Health(BaseModel):
    status: Literal["ok"]


class ClaimPage(BaseModel):
    total: int
    offset: int
    limit: int
    claims: list[dict[str, Any]]


class Requirement(BaseModel):
    claim: str
    required_stage: str
    stage: str | None
    met: bool
    gaps: list[str]


class ActionReadiness(BaseModel):
    key: str
    title: str
    ready: bool
    requirements: list[Requirement]


class ReviewPage(BaseModel):
    total: int
    offset: int
    items: list[dict[str, Any]]


class EvidenceIn(Strict):
    source: str = Field(description="Source key in the claim's case.")
    stance: str = Field(description="supports or contradicts")
    summary: str = Field(description="What the source says.")
    credibility: str | int | None = Field(None, description="1-6 (Admiralty).")
    grade: str | None = Field(None, description="Full grade like B2; the letter must match the source.")
    locator: str | None = None
    observed_at: date | None = None
    quote: str | None = None
    marking: str | None = Field(None, description="Sensitivity marking (default: the case's), e.g. TLP:GREEN.")
    caveat: str | None = Field(None, description="Handling caveat, shown and exported with the marking.")


class EvidenceOut(BaseModel):
    id: int
    claim: str
    grade: str


class RetractIn(Strict):
    reason: str


class AdvanceIn(Strict):
    to: str = Field(description="Target stage.")
    reason: str | None = None
    if_version: int | None = Field(None, description="Fail if the claim changed since this version.")


class AdvanceOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    claim: str
    from_: str = Field(alias="from")
    stage: str
    review: int | None


class DecisionIn(Strict):
    rationale: str | None = None


class RejectIn(Strict):
    rationale: str


class DecisionOut(BaseModel):
    review: int
    claim: str
    status: str
    stage: str


class LeftOutOut(BaseModel):
    type: str
    id: str
    why: str


class ImportOut(BaseModel):
    case: str
    created: dict[str, int]
    left_out: list[LeftOutOut] = Field(
        default_factory=list, description="Objects of a foreign STIX bundle the import left out, and why."
    )


class AssessIn(Strict):
    """Which claims to assess; where the run executes is the server's setting, never the request's."""

    keys: list[str] | None = Field(None, description="Claim keys (default: every claim changed since last judged).")
    case: str | None = None
    full: bool = Field(False, description="Re-assess every claim, changed or not.")
    batch_size: int | None = Field(None, ge=1, le=1_000_000)


class Move(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    claim: str
    from_: str = Field(alias="from")
    to: str


class ReviewRequested(BaseModel):
    claim: str
    to: str


class AssessOut(BaseModel):
    assessed: int
    moved: list[Move]
    review_requested: list[ReviewRequested]
    at_risk: list[str]
    changes: dict[str, list[str]]
    batches: int
    policy_version: str
    flow_run_id: str | None


class MemberIn(Strict):
    role: str = Field(description="The person's role on this case: analyst, reviewer or manager.")


class MemberOut(BaseModel):
    case: str
    user: str
    role: str
    added_by: str
    added_at: str


class ClearanceIn(Strict):
    marking: str = Field(description="The highest marking the person may read (a level of the deployment's scale).")


class AllCasesIn(Strict):
    on: bool = Field(description="Read every case with the global role (true) or only member cases (false).")


class ReachOut(BaseModel):
    user: str
    clearance: str | None = None
    all_cases: bool | None = None
