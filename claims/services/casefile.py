"""The case file contract (docs/design.md section 4): validated with pydantic, errors name the field."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from claims.domain.errors import DomainError, LineageCycle
from claims.domain.grades import Credibility, Reliability
from claims.domain.lineage import resolve_roots
from claims.domain.markings import valid_caveat
from claims.domain.names import same_person
from claims.domain.stages import ReviewStatus, Stage, Stance
from claims.domain.transitions import TransitionRequest, Via, decide_transition
from claims.services.errors import InvalidInput, latest_observable
from claims.services.provenance import Attestation, verify_signature

KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
Key = Annotated[str, Field(pattern=KEY_PATTERN, max_length=120)]


_PARSED_KINDS = (str, int)  # plain values a case file repeats: parsed once each (a bulk import has 100k's)
_PARSED_MAX = 256


def _domain(parse: Any) -> Any:
    parsed: dict[tuple[type, Any], Any] = {}  # (type, value) -> result; the type keeps 1, 1.0 and True apart

    def run(value: Any) -> Any:
        key = (type(value), value)
        try:
            return parsed[key]
        except (KeyError, TypeError):
            pass
        try:
            out = parse(value)
        except DomainError as exc:  # re-raised as ValueError so pydantic reports the path
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        if key[0] in _PARSED_KINDS and len(parsed) < _PARSED_MAX:
            parsed[key] = out
        return out

    return BeforeValidator(run)


def _caveat(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"caveat: {value!r} is not a handling caveat (text)")
    return valid_caveat(value)


# Need to know (issue 20): a marking is checked against the deployment's scale on import (the scale
# is the runtime's, not the file's); here it is a short text. The caveat is checked here.
def _marking(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 40:
        raise InvalidInput(f"marking: {value!r} is not a marking (one name of the deployment's scale)")
    return value.strip()


Marking = Annotated[str, _domain(_marking)]
Caveat = Annotated[str | None, _domain(_caveat)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CaseHeader(Strict):
    key: Key
    title: str = Field(min_length=1)
    marking: Marking | None = None  # default on import: the deployment's default for a new case
    caveat: Caveat = None


class Withdrawal(Strict):
    """Who withdrew a claim or source, when and why (issue 17): carried through export and import."""

    by: str = Field(min_length=1, max_length=80)
    at: datetime
    reason: str = Field(min_length=1)


class SourceEntry(Strict):
    key: Key
    name: str = Field(min_length=1)
    kind: Literal["media", "intelligence", "official", "document", "osint", "other"]
    reliability: Annotated[Reliability, _domain(Reliability.parse)]
    derived_from: Key | None = None
    withdrawn: Withdrawal | None = None
    marking: Marking | None = None  # default: the case's
    caveat: Caveat = None


class EvidenceEntry(Strict):
    source: Key
    stance: Annotated[Stance, _domain(Stance.parse)]
    credibility: Annotated[Credibility, _domain(Credibility.parse)]
    summary: str = Field(min_length=1)
    locator: str | None = None
    observed_at: date | None = None
    added_by: str | None = None
    added_at: datetime | None = None
    retracted: bool = False
    retracted_by: str | None = None
    retracted_at: datetime | None = None
    retraction_reason: str | None = None
    marking: Marking | None = None  # default: the case's
    caveat: Caveat = None

    @field_validator("observed_at")
    @classmethod
    def _not_in_the_future(cls, value: date | None) -> date | None:
        if value is not None and value > latest_observable():
            raise ValueError(f"{value.isoformat()!r} is in the future")
        return value

    @model_validator(mode="after")
    def _retraction_has_reason(self) -> EvidenceEntry:
        if self.retracted and not self.retraction_reason:
            raise ValueError("retracted evidence needs a retraction_reason")
        return self


class HistoryEntry(Strict):
    """One stage the claim reached before it came into this system (or before export)."""

    stage: Annotated[Stage, _domain(Stage.parse)]
    at: datetime
    by: str = Field(min_length=1, max_length=80)  # the width of the user-name columns
    approved_by: str | None = Field(default=None, max_length=80)
    rationale: str | None = None


class ReviewEntry(Strict):
    """A confirm/refute request with its decision, so an export keeps rejections and pending ones."""

    from_stage: Annotated[Stage, _domain(Stage.parse)]
    to_stage: Annotated[Stage, _domain(Stage.parse)]
    status: ReviewStatus
    requested_by: str = Field(min_length=1, max_length=80)
    requested_at: datetime
    reason: str | None = None
    policy_version: str = Field(min_length=1, max_length=40)
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = None
    rationale: str | None = None

    @model_validator(mode="after")
    def _decision_is_consistent(self) -> ReviewEntry:
        if not self.to_stage.is_final:
            raise ValueError(f"to_stage {self.to_stage.value}: only confirmed or refuted are reviewed")
        if self.status is ReviewStatus.PENDING and self.decided_by:
            raise ValueError("a pending review has no decided_by")
        if self.status is not ReviewStatus.PENDING and not (self.decided_by and self.decided_at):
            raise ValueError(f"a {self.status} review needs decided_by and decided_at")
        if self.status in (ReviewStatus.APPROVED, ReviewStatus.REJECTED) and same_person(
            self.decided_by, self.requested_by
        ):
            raise ValueError(f"decided_by {self.decided_by!r} requested the review (four eyes)")
        return self


class ClaimEntry(Strict):
    key: Key
    statement: str = Field(min_length=1)
    stage: Annotated[Stage, _domain(Stage.parse)] = Stage.REPORTED
    assignee: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    evidence: list[EvidenceEntry] = Field(default_factory=list)
    reviews: list[ReviewEntry] = Field(default_factory=list)
    withdrawn: Withdrawal | None = None

    def replayed_history(self) -> list[tuple[int, HistoryEntry]]:
        """The history steps to replay after the claim is reported, with their index in the file.

        A history that starts with `reported` gives the claim its report; any other starts
        from reported too, so its first step is a transition like every later one.
        """
        start = 1 if self.history and self.history[0].stage is Stage.REPORTED else 0
        return list(enumerate(self.history))[start:]

    @model_validator(mode="after")
    def _history_explains_stage(self) -> ClaimEntry:
        if self.stage is not Stage.REPORTED and (not self.history or self.history[-1].stage is not self.stage):
            raise ValueError(f"stage {self.stage.value} needs a history whose last entry reaches it")
        pending = [r for r in self.reviews if r.status is ReviewStatus.PENDING]
        if len(pending) > 1:
            raise ValueError("at most one pending review per claim")
        if pending and pending[0].from_stage is not self.stage:
            raise ValueError(f"the pending review starts from {pending[0].from_stage.value}, not {self.stage.value}")
        return self


class RequirementEntry(Strict):
    claim: Key
    stage: Annotated[Stage, _domain(Stage.parse)]


class ActionEntry(Strict):
    key: Key
    title: str = Field(min_length=1)
    severity: int = Field(default=1, ge=1, le=9)
    requires: list[RequirementEntry] = Field(min_length=1)


@dataclass(frozen=True)
class LeftOut:
    """An object of a foreign file (a STIX bundle) the import did not take, and why: said, never silent."""

    type: str
    id: str
    why: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "why": self.why}


class CaseFile(Strict):
    """A validated case file; `origin` names it in the errors found while importing it."""

    marking: Marking | None = None  # the highest marking inside, as the exporter wrote (and signed) it
    case: CaseHeader
    sources: list[SourceEntry] = Field(default_factory=list)
    claims: list[ClaimEntry] = Field(default_factory=list)
    policy_actions: list[ActionEntry] = Field(default_factory=list)

    _origin: str = PrivateAttr(default="case file")
    _attestation: Attestation | None = PrivateAttr(default=None)
    _left_out: tuple[LeftOut, ...] = PrivateAttr(default=())

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def left_out(self) -> tuple[LeftOut, ...]:
        """What the file it was read from held and the import leaves out (a foreign STIX bundle's extras)."""
        return self._left_out

    @property
    def attestation(self) -> Attestation | None:
        """The key whose valid signature the file carried (trust is decided on import), or None."""
        return self._attestation

    @field_validator("sources", "claims", "policy_actions")
    @classmethod
    def _unique_keys(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if item.key in seen:
                raise ValueError(f"duplicate key {item.key!r}")
            seen.add(item.key)
        return items

    @field_validator("sources")
    @classmethod
    def _lineage_has_roots(cls, sources: list[SourceEntry]) -> list[SourceEntry]:
        """A cycle in the file's own `derived_from` links is an error whatever the database holds."""
        try:
            resolve_roots({s.key: s.derived_from for s in sources})
        except LineageCycle as exc:
            raise ValueError(str(exc)) from None
        return sources


def history_error(where: str, index: int, err: DomainError) -> InvalidInput:
    """`claims[2].history[3]: reported -> confirmed is not allowed ...`: the bad step's path, then why."""
    field, _, why = str(err).partition(": ")
    path = f"{where}.history[{index}]" + ("" if field == "stage" else f".{field}")
    return InvalidInput(f"{path}: {why or field}")


def check_history(entry: ClaimEntry, where: str) -> None:
    """Replay a claim's history through the domain's transition rule, as the import will.

    The import replays it again through `move`, which asks the same rule; checking here as
    well names the bad step before anything is read from or written to the database.
    """
    stage = Stage.REPORTED
    for index, step in entry.replayed_history():
        request = TransitionRequest(
            claim=entry.key,
            from_stage=stage,
            to_stage=step.stage,
            via=Via.IMPORT,
            requested_by=step.by,
            approved_by=step.approved_by,
            rationale=step.rationale,
        )
        try:
            decide_transition(request)
        except DomainError as err:
            raise history_error(where, index, err) from None
        stage = step.stage


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _first_nul(data: Any, where: str = "") -> str | None:
    """Where the first NUL character sits (PostgreSQL refuses it in text; SQLite would cut the text)."""
    if isinstance(data, str):
        return where or "value" if "\x00" in data else None
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _first_nul(value, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip("."))
        if found is not None:
            return found
    return None


def validate_case(data: Any, origin: str = "case file") -> CaseFile:
    """Validate parsed data; the first problem becomes a one-line InvalidInput."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{origin}: expected a mapping with case, sources, claims, policy_actions")
    nul = _first_nul(data)
    if nul is not None:
        raise InvalidInput(f"{origin}: {nul}: contains a NUL character, which no text field may hold")
    body = {k: v for k, v in data.items() if k != "signature"}
    try:
        case_file = CaseFile.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc, origin)) from None
    case_file._origin = origin
    for i, claim in enumerate(case_file.claims):
        check_history(claim, f"{origin}: claims[{i}]")
    case_file._attestation = verify_signature(data, origin)  # a tampered signed file stops here
    return case_file


def validation_message(exc: ValidationError, origin: str, prefix: tuple[int | str, ...] = ()) -> str:
    """The first problem as one line naming the field and the value (`prefix`: where the item sits)."""
    err = exc.errors()[0]
    where = _location(prefix + tuple(err["loc"])) or "case"
    value = err.get("input")
    shown = f" {value!r}" if not isinstance(value, dict | list) and value is not None else ""
    message = err["msg"].removeprefix("Value error, ")
    if shown and re.search(rf"(?<![\w']){re.escape(shown.strip())}(?![\w'])", message):
        shown = ""  # the domain's message already names the value
    return f"{origin}: {where}:{shown} {message}".replace(":  ", ": ")


class _DuplicateKey(ValueError):
    pass


class _Hostile(ValueError):
    """YAML that would cost far more to expand than its size says (an alias bomb, a parse that will not end)."""


MAX_ALIASES = 1_000  # a case file written by hand or by `claims export` uses none
MAX_EXPANDED_NODES = 1_000_000  # what the aliases would expand to, counted on the node graph before building it
MAX_PARSE_SECONDS = 20.0


def _expanded_nodes(root: yaml.Node, limit: int) -> int:
    """How many nodes the document has once every alias is written out; stops counting past `limit`."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, path: frozenset[int]) -> int:
        if id(node) in path:
            raise _Hostile("has a YAML alias that refers to itself")
        if id(node) not in sizes:
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            else:
                children = []
            total = 1
            for child in children:
                total += size(child, path | {id(node)})
                if total > limit:
                    break
            sizes[id(node)] = total
        return sizes[id(node)]

    return size(root, frozenset())


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys and leaves dates as text for the schema to check.

    PyYAML keeps the last of two equal keys silently, and builds dates itself: `2024-13-45`
    raised a bare ValueError with no field name. As text, the date is parsed by the case-file
    schema, which names the field.
    """

    yaml_implicit_resolvers: ClassVar[dict[Any, list[Any]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._deadline = time.monotonic() + MAX_PARSE_SECONDS

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Bound aliases and parse time: a 1 KB "billion laughs" file ran at 100% CPU until killed."""
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Hostile(f"uses more than {MAX_ALIASES:,} YAML aliases")
        if time.monotonic() > self._deadline:
            raise _Hostile(f"took more than {MAX_PARSE_SECONDS:.0f} s to parse")
        return super().compose_node(parent, index)  # type: ignore[no-untyped-call,no-any-return]

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()  # type: ignore[no-untyped-call]
        if self._aliases and node is not None and _expanded_nodes(node, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise _Hostile(f"has YAML aliases that expand to more than {MAX_EXPANDED_NODES:,} values")
        return node  # type: ignore[no-any-return]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _DuplicateKey(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
            seen.add(key if isinstance(key, str | int | float | bool) else id(key))
        return super().construct_mapping(node, deep=deep)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def parse_case_text(text: str, *, is_json: bool, name: str) -> Any:
    """YAML or JSON to plain data; every way it can fail is one line naming the file."""
    try:
        if is_json:
            return json.loads(text, object_pairs_hook=_no_duplicates)
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except _DuplicateKey as exc:
        raise InvalidInput(f"case file: {name!r} has a {exc}; each key may appear once") from None
    except _Hostile as exc:
        raise InvalidInput(f"case file: {name!r} {exc}; write the values out instead (refused unread)") from None
    except RecursionError:
        raise InvalidInput(f"case file: {name!r} is nested too deeply to be a case file") from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise InvalidInput(f"case file: {name!r} is not valid YAML/JSON ({first})") from None
    except ValueError as exc:  # e.g. a 5,000-digit number: Python refuses to read ints past 4,300 digits
        if "integer string conversion" not in str(exc):
            raise
        limit = sys.get_int_max_str_digits()
        raise InvalidInput(
            f"case file: {name!r} holds a number of more than {limit:,} digits; no field takes one"
        ) from None


def read_case_file(path: str | Path) -> CaseFile:
    """Read YAML or JSON (same shape) from a path."""
    path = Path(path)
    return validate_case(load_case_data(path), origin=f"case file {path.name}")


def load_case_data(path: Path) -> Any:
    """The parsed file, checked for UTF-8, nesting and duplicate keys (one line naming the file)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1].hex()
        raise InvalidInput(f"case file: {str(path)!r} is not UTF-8 text (byte 0x{bad} at offset {exc.start})") from None
    except OSError as exc:
        raise InvalidInput(f"case file: cannot read {str(path)!r} ({exc.strerror})") from None
    data = parse_case_text(text, is_json=path.suffix.lower() == ".json", name=str(path))
    nul = _first_nul(data)
    if nul is not None:
        raise InvalidInput(f"case file {path.name}: {nul}: contains a NUL character, which no text field may hold")
    return data


def dump_case(data: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
