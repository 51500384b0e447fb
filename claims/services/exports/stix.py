"""STIX 2.1: one bundle per case, built with OASIS's `stix2`, and read back by `claims import`.

Mapping (README, section "STIX 2.1"):
- case -> `grouping` (x_claims_type "case"; policy actions in x_claims_policy_actions);
- source -> `identity`; reliability as the MISP tag `admiralty-scale:source-reliability="b"` in
  `labels` and as OpenCTI's `x_opencti_reliability`;
- lineage -> `relationship` of type `derived-from` (the repeating source -> the source it repeats);
- claim -> `grouping` (x_claims_type "claim") of its evidence and verdict;
- verdict -> `opinion`: refuted strongly-disagree, reported neutral, corroborated agree,
  confirmed strongly-agree (disagree is unused: no stage says "probably false" short of refuted);
  its explanation carries the likelihood and, in a separate sentence, the confidence;
- evidence -> `note` created by the source's identity, `confidence` from the STIX 2.1 appendix
  (credibility 1->90 ... 5->10, 6 none) via `stix2.confidence.scales`, the locator as an external
  reference, retracted evidence `revoked`.
Ids are uuid5 of the keys and timestamps come from the data, so the same case always gives the
same bytes. What STIX has no property for travels in `x_claims_*` properties, so import is lossless.

A bundle made elsewhere (no grouping with x_claims_type "case") is read for what has a meaning
here, and the rest is listed as left out (`LeftOut`: type, id, why), never dropped silently:
- the bundle is one case: the first `report` or `grouping` gives its key (the STIX id) and title;
  without one, the bundle's id does;
- each attack-pattern, campaign, incident, indicator, infrastructure, intrusion-set, malware,
  malware-analysis, observed-data, threat-actor, tool, vulnerability and relationship (other than
  identity derived-from identity) is a claim, key its STIX id, statement made from its name,
  description, pattern or ends; it arrives reported (a report reports claims);
- evidence about a claim: an `opinion` (agree/strongly-agree supports, disagree/strongly-disagree
  contradicts), a `sighting` of it (supports), a `note` whose labels say supports or contradicts;
  its source is the `identity` in created_by_ref (a sighting's where_sighted_refs else);
  credibility from the MISP admiralty-scale:information-credibility label, else from
  `confidence` by the STIX 2.1 appendix scale (0-19 -> 5 ... 80-100 -> 1), else 6;
- an identity that is the source of imported evidence is a source: reliability from the MISP
  admiralty-scale:source-reliability label or x_opencti_reliability, else F (cannot be judged);
  identity derived-from identity between two such sources is their lineage.
Left out: everything else (locations, courses of action, markings, observables, custom
objects...), neutral opinions, notes without a stance, evidence without a source, revoked
objects, older versions, objects that are not STIX 2.1, references to objects not in the bundle.
A bundle that breaks STIX 2.1 in an object it would read (stix2 refuses it, a confidence outside
0-100, a 2.0 bundle) is refused in one line; so is one with nothing to import.
"""

from __future__ import annotations

import json
import re
import reprlib
import uuid
from datetime import UTC, datetime
from typing import Any

import stix2
from pydantic import ValidationError
from stix2.confidence.scales import admiralty_credibility_to_value, value_to_admiralty_credibility

from claims.domain.markings import Scale
from claims.services.casefile import (
    ClaimEntry,
    EvidenceEntry,
    LeftOut,
    SourceEntry,
    _first_nul,
    validation_message,
)
from claims.services.errors import InvalidInput

NAMESPACE = uuid.UUID("48ae28ab-76ac-5ae9-9262-502084c1a5fe")  # fixed: ids must never change
EPOCH = "2000-01-01T00:00:00+00:00"

OPINION = {
    "refuted": "strongly-disagree",
    "reported": "neutral",
    "corroborated": "agree",
    "confirmed": "strongly-agree",
}
CREDIBILITY_SCALE = {
    1: "1 - Confirmed by other sources",
    2: "2 - Probably True",
    3: "3 - Possibly True",
    4: "4 - Doubtful",
    5: "5 - Improbable",
    6: "6 - Truth cannot be judged",
}
OPENCTI_RELIABILITY = {
    "A": "A - Completely reliable",
    "B": "B - Usually reliable",
    "C": "C - Fairly reliable",
    "D": "D - Not usually reliable",
    "E": "E - Unreliable",
    "F": "F - Reliability cannot be judged",
}
IDENTITY_CLASS = {
    "media": "organization",
    "official": "organization",
    "intelligence": "organization",
    "document": "unknown",
    "osint": "unknown",
    "other": "unknown",
}
# The x_claims_* and x_opencti_* properties are declared by one STIX 2.1 extension definition
# (a top-level property extension), so consumers know where they come from. Fixed ids and
# dates: they describe this exporter, not the case.
EXTENSION_ID = "extension-definition--0b9f2f34-5a7e-5d0c-9a2b-6f1c3e8d4a10"
EXPORTER_ID = "identity--0b9f2f34-5a7e-5d0c-9a2b-6f1c3e8d4a11"
EXPORTER_SINCE = "2026-11-29T00:00:00+00:00"
EXTENSIONS = {EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}
EXTENSION_PROPERTIES = [
    "x_claims_type",
    "x_claims_key",
    "x_claims_kind",
    "x_claims_policy_actions",
    "x_claims_stage",
    "x_claims_assignee",
    "x_claims_history",
    "x_claims_reviews",
    "x_claims_likelihood",
    "x_claims_stance",
    "x_claims_credibility",
    "x_claims_observed_at",
    "x_claims_added_at",
    "x_claims_retraction",
    "x_opencti_reliability",
    "x_claims_signature",
]
RELIABILITY_TAG = 'admiralty-scale:source-reliability="{}"'
# Need to know (issue 20): the official TLP 2.0 marking definitions (OASIS cti-stix-common-objects,
# extension-definition-specifications/tlp-2.0), referenced by id; a deployment's own scale and
# every handling caveat travel as `statement` marking definitions with ids of their own.
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_IDS = {
    "TLP:CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "TLP:GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "TLP:AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "TLP:AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "TLP:RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
CREDIBILITY_TAG = 'admiralty-scale:information-credibility="{}"'


def sid(kind: str, *parts: str) -> str:
    """A deterministic STIX id: the same keys always give the same id."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, '/'.join((kind, *parts)))}"


def _ts(value: str | None) -> datetime:
    moment = datetime.fromisoformat(value or EPOCH)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def confidence_for(credibility: int) -> int | None:
    """STIX 2.1 confidence from Admiralty credibility; 6 (cannot be judged) has none."""
    return None if credibility == 6 else admiralty_credibility_to_value(CREDIBILITY_SCALE[credibility])


def _times(claim: dict[str, Any]) -> list[str]:
    times = [h["at"] for h in claim.get("history", [])]
    for e in claim.get("evidence", []):
        times += [t for t in (e.get("added_at"), e.get("retracted_at")) if t]
    return times


def _exporter(refs: list[str]) -> list[Any]:
    since = _ts(EXPORTER_SINCE)
    return [
        stix2.Identity(
            id=EXPORTER_ID,
            created=since,
            modified=since,
            name="claims (claim-verification workflow engine)",
            identity_class="system",
            object_marking_refs=refs,
        ),
        stix2.ExtensionDefinition(
            id=EXTENSION_ID,
            created_by_ref=EXPORTER_ID,
            created=since,
            modified=since,
            name="claims case data",
            description="Properties that carry a claims case losslessly: keys, stages, history, reviews, "
            "likelihood (ICD 203), evidence stance and Admiralty credibility.",
            schema="Top-level properties written by `claims export --format stix`; see the README, section STIX 2.1.",
            version="1.0.0",
            extension_types=["toplevel-property-extension"],
            extension_properties=EXTENSION_PROPERTIES,
            object_marking_refs=refs,
        ),
    ]


def marking_definition(level: str) -> stix2.MarkingDefinition:
    """The marking-definition object of one level: TLP 2.0's official one, else a `statement`."""
    if level in TLP2_IDS:
        return stix2.MarkingDefinition(
            id=TLP2_IDS[level],
            created=TLP2_CREATED,
            name=level,
            extensions={
                TLP2_EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "tlp_2_0": level.removeprefix("TLP:").lower(),
                }
            },
        )
    return _statement(f"marking {level}", level)


def _statement(part: str, text: str) -> stix2.MarkingDefinition:
    return stix2.MarkingDefinition(
        id=sid("marking-definition", part),
        created=_ts(EXPORTER_SINCE),
        created_by_ref=EXPORTER_ID,
        name=text,
        definition_type="statement",
        definition={"statement": text},
    )


class _Marks:
    """The marking definitions a bundle uses, and each object's `object_marking_refs`."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.used: dict[str, stix2.MarkingDefinition] = {}

    def refs(self, markings: list[str | None], caveats: list[str | None] | None = None) -> list[str]:
        level = self.scale.highest(m for m in markings if m)
        definition = self.used.setdefault(f"level {level}", marking_definition(level))
        out = [definition.id]
        for caveat in sorted({c for c in caveats or [] if c}):
            out.append(self.used.setdefault(f"caveat {caveat}", _statement(f"caveat {caveat}", caveat)).id)
        return out


def build_bundle(
    case_file: dict[str, Any], likelihoods: dict[str, dict[str, Any]], scale: Scale | None = None
) -> stix2.Bundle:
    """The case file as one STIX 2.1 bundle (`likelihoods`: claim key -> likelihood_json).

    Every object carries `object_marking_refs`: its effective marking (the highest of its own and its
    containers': a note its evidence's, its source's and its case's; a claim and its opinion the highest
    of the case and the evidence they rest on) and any handling caveat, as marking definitions in the bundle.
    """
    marks = _Marks(scale or Scale())
    head = case_file["case"]
    case_marks = [head.get("marking")]
    case_caveats = [head.get("caveat")]
    source_marks = {
        s["key"]: ([*case_marks, s.get("marking")], [*case_caveats, s.get("caveat")]) for s in case_file["sources"]
    }
    case = case_file["case"]["key"]
    all_times = [t for c in case_file["claims"] for t in _times(c)]
    epoch = min((_ts(t) for t in all_times), default=_ts(EPOCH))
    objects: list[Any] = []
    identities = {
        s["key"]: stix2.Identity(
            id=sid("identity", case, s["key"]),
            created=epoch,
            modified=epoch,
            name=s["name"],
            identity_class=IDENTITY_CLASS[s["kind"]],
            labels=[RELIABILITY_TAG.format(s["reliability"].lower())],
            x_opencti_reliability=OPENCTI_RELIABILITY[s["reliability"]],
            x_claims_key=s["key"],
            x_claims_kind=s["kind"],
            object_marking_refs=marks.refs(*source_marks[s["key"]]),
            extensions=EXTENSIONS,
            allow_custom=True,
        )
        for s in case_file["sources"]
    }
    lineage = [
        stix2.Relationship(
            id=sid("relationship", case, s["key"], "derived-from", s["derived_from"]),
            created=epoch,
            modified=epoch,
            relationship_type="derived-from",
            source_ref=identities[s["key"]].id,
            target_ref=identities[s["derived_from"]].id,
            description=f"{s['name']} repeats {s['derived_from']}: one independent line with it",
            object_marking_refs=marks.refs(
                source_marks[s["key"]][0] + source_marks[s["derived_from"]][0],
                source_marks[s["key"]][1] + source_marks[s["derived_from"]][1],
            ),
        )
        for s in case_file["sources"]
        if s.get("derived_from")
    ]
    claim_objects: list[Any] = []
    for c in case_file["claims"]:
        claim_objects += _claim_objects(
            case, c, identities, likelihoods.get(c["key"]), epoch, marks, source_marks, (case_marks, case_caveats)
        )
    members = [*identities.values(), *lineage, *(o for o in claim_objects if o.type == "grouping")]
    objects = [
        stix2.Grouping(
            id=sid("grouping", case),
            created=epoch,
            modified=epoch,
            name=case_file["case"]["title"],
            context="unspecified",
            object_refs=[o.id for o in members] or [sid("identity", case, "none")],
            x_claims_type="case",
            x_claims_key=case,
            x_claims_policy_actions=case_file.get("policy_actions", []),
            object_marking_refs=marks.refs(case_marks, case_caveats),
            extensions=EXTENSIONS,
            allow_custom=True,
        ),
        *identities.values(),
        *lineage,
        *claim_objects,
        *_exporter(marks.refs([marks.scale.bottom])),
    ]
    objects += sorted(marks.used.values(), key=lambda m: m.id)
    return stix2.Bundle(id=sid("bundle", case), objects=objects, allow_custom=True)


def _claim_objects(
    case: str,
    c: dict[str, Any],
    identities: dict[str, Any],
    judged: dict[str, Any] | None,
    epoch: datetime,
    marks: _Marks,
    source_marks: dict[str, tuple[list[str | None], list[str | None]]],
    base: tuple[list[str | None], list[str | None]],
) -> list[Any]:
    claim_id = sid("grouping", case, "claim", c["key"])
    every_mark, every_caveat = list(base[0]), list(base[1])
    times = [_ts(t) for t in _times(c)]
    created = min(times, default=epoch)
    modified = max(times, default=epoch)
    notes = []
    for i, e in enumerate(c.get("evidence", [])):
        extra: dict[str, Any] = {}
        if (confidence := confidence_for(int(e["credibility"]))) is not None:
            extra["confidence"] = confidence
        if e.get("locator"):
            ref = {"source_name": e["source"]}
            ref["url" if e["locator"].startswith(("http://", "https://")) else "description"] = e["locator"]
            extra["external_references"] = [ref]
        if e.get("retracted"):
            extra.update(
                revoked=True,
                x_claims_retraction={k: e[k] for k in ("retracted_by", "retracted_at", "retraction_reason")},
            )
        added = _ts(e.get("added_at"))
        own_marks = [*source_marks[e["source"]][0], e.get("marking")]
        own_caveats = [*source_marks[e["source"]][1], e.get("caveat")]
        every_mark += own_marks
        every_caveat += own_caveats
        notes.append(
            stix2.Note(
                id=sid("note", case, c["key"], str(i)),
                created=added,
                modified=max(added, _ts(e["retracted_at"])) if e.get("retracted") else added,
                created_by_ref=identities[e["source"]].id,
                abstract=f"{e['source']} {e['stance']} {c['key']}",
                content=e["summary"],
                authors=[e["added_by"]] if e.get("added_by") else None,
                object_refs=[claim_id],
                labels=[CREDIBILITY_TAG.format(e["credibility"]), e["stance"]],
                x_claims_stance=e["stance"],
                x_claims_credibility=int(e["credibility"]),
                x_claims_observed_at=e.get("observed_at"),
                x_claims_added_at=e.get("added_at"),
                object_marking_refs=marks.refs(own_marks, own_caveats),
                extensions=EXTENSIONS,
                allow_custom=True,
                **extra,
            )
        )
    last = c["history"][-1] if c.get("history") else {}
    explanation = f"Stage {c['stage']}."
    if judged:
        explanation += f" {judged['sentence']} {judged['confidence']['sentence']}"
    opinion = stix2.Opinion(
        id=sid("opinion", case, c["key"]),
        created=created,
        modified=modified,
        opinion=OPINION[c["stage"]],
        explanation=explanation,
        authors=[a for a in (last.get("by"), last.get("approved_by")) if a] or None,
        object_refs=[claim_id],
        x_claims_stage=c["stage"],
        object_marking_refs=marks.refs(every_mark, every_caveat),
        extensions=EXTENSIONS,
        allow_custom=True,
    )
    claim = stix2.Grouping(
        id=claim_id,
        created=created,
        modified=modified,
        name=c["key"],
        description=c["statement"],
        context="unspecified",
        object_refs=[*(n.id for n in notes), opinion.id],
        x_claims_type="claim",
        x_claims_key=c["key"],
        x_claims_stage=c["stage"],
        x_claims_assignee=c.get("assignee"),
        x_claims_history=c.get("history", []),
        x_claims_reviews=c.get("reviews"),
        x_claims_likelihood=judged,
        object_marking_refs=opinion.object_marking_refs,
        extensions=EXTENSIONS,
        allow_custom=True,
    )
    return [claim, opinion, *notes]


def dump_bundle(bundle: stix2.Bundle, sign: bool = True) -> str:
    """The bundle as text; signed with the instance key when there is one.

    The signature (provenance's scheme) covers the case file this bundle reads back as, and sits on
    the case grouping as `x_claims_signature`, so an import here or where this key is trusted keeps
    the confirm/refute history. Ed25519 is deterministic: the export stays byte-stable.
    """
    text = bundle.serialize(pretty=True, ensure_ascii=False)
    from claims.services.provenance import load_private_key, sign_case

    if not sign or load_private_key() is None:
        return text + "\n"
    data = json.loads(text)
    signature = sign_case(case_file_from_bundle(data))["signature"]
    for o in data["objects"]:
        if o["type"] == "grouping" and o.get("x_claims_type") == "case":
            o["x_claims_signature"] = signature
    return json.dumps(data, indent=4, ensure_ascii=False) + "\n"


def is_bundle(data: object) -> bool:
    return isinstance(data, dict) and data.get("type") == "bundle"


def read_bundle(data: dict[str, Any], origin: str = "STIX bundle") -> tuple[dict[str, Any], list[LeftOut]]:
    """Any STIX 2.1 bundle in the case-file shape (validated by the caller), and what it leaves out.

    One this project exported reads back losslessly and leaves nothing out; one made elsewhere
    gives what has a meaning here (`_foreign`, mapping in the module's docstring).
    """
    objects = _objects(data, origin)
    if any(o.get("type") == "grouping" and o.get("x_claims_type") == "case" for o in objects):
        return case_file_from_bundle(data, origin), []
    return _foreign(data, objects, origin)


def _objects(data: dict[str, Any], origin: str) -> list[dict[str, Any]]:
    # stix2 reports a non-list or a string among the objects as "string indices must be integers":
    # name the field and the value instead.
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise InvalidInput(f"{origin}: objects: {reprlib.repr(objects)} is not a list of STIX objects")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise InvalidInput(f"{origin}: objects[{index}]: {reprlib.repr(obj)} is not a STIX object (a mapping)")
    return objects


def case_file_from_bundle(data: dict[str, Any], origin: str = "STIX bundle") -> dict[str, Any]:
    """A bundle written by `claims export --format stix`, back into the case-file shape (validated by the caller)."""
    try:
        return _case_file(data, origin)
    except KeyError as missing:  # a property or a referenced object this exporter always writes
        raise InvalidInput(f"{origin}: {missing.args[0]}: missing (not a bundle written by claims export)") from None
    except AttributeError as exc:
        raise InvalidInput(f"{origin}: {exc.args[0]} (not a bundle written by claims export)") from None


def _case_file(data: dict[str, Any], origin: str) -> dict[str, Any]:
    _objects(data, origin)
    try:
        bundle = stix2.parse(data, allow_custom=True)
    except Exception as exc:  # stix2 raises many kinds; all mean "not a bundle we can read"
        raise InvalidInput(f"{origin}: not a valid STIX 2.1 bundle ({str(exc).splitlines()[0]})") from None
    objects = list(bundle.get("objects", []))
    by_id = {o.id: o for o in objects}
    cases = [o for o in objects if o.type == "grouping" and o.get("x_claims_type") == "case"]
    if len(cases) != 1:
        raise InvalidInput(f"{origin}: objects: expected one grouping with x_claims_type 'case', found {len(cases)}")
    case = cases[0]
    derived = {
        o.source_ref: o.target_ref
        for o in objects
        if o.type == "relationship" and o.relationship_type == "derived-from"
    }
    case_level, case_caveats = _marks_of(case, by_id)
    source_caveats: dict[str, set[str]] = {}
    sources = []
    for o in objects:
        if o.type != "identity" or "x_claims_key" not in o:
            continue
        tags = [lab for lab in o.get("labels", []) if lab.startswith("admiralty-scale:source-reliability=")]
        if not tags:
            raise InvalidInput(f"{origin}: identity {o.id}: labels: no admiralty-scale:source-reliability tag")
        entry: dict[str, Any] = {
            "key": o["x_claims_key"],
            "name": o.name,
            "kind": o.get("x_claims_kind", "other"),
            "reliability": tags[0].split("=", 1)[1].strip('"').upper(),
        }
        if o.id in derived:
            entry["derived_from"] = by_id[derived[o.id]]["x_claims_key"]
        level, caveats = _marks_of(o, by_id)
        source_caveats[entry["key"]] = caveats
        _own_marks(entry, level, caveats - case_caveats)
        sources.append(entry)
    claims = []
    for o in objects:
        if o.type != "grouping" or o.get("x_claims_type") != "claim":
            continue
        claim: dict[str, Any] = {"key": o["x_claims_key"], "statement": o.description, "stage": o["x_claims_stage"]}
        if o.get("x_claims_assignee"):
            claim["assignee"] = o["x_claims_assignee"]
        claim["history"] = [dict(h) for h in o.get("x_claims_history", [])]
        claim["evidence"] = [
            _evidence(by_id[ref], by_id, source_caveats) for ref in o.object_refs if ref.startswith("note--")
        ]
        if o.get("x_claims_reviews"):
            claim["reviews"] = [dict(r) for r in o["x_claims_reviews"]]
        claims.append(claim)
    head: dict[str, Any] = {"key": case["x_claims_key"], "title": case.name}
    _own_marks(head, case_level, case_caveats)
    out: dict[str, Any] = {
        "case": head,
        "sources": sources,
        "claims": claims,
        "policy_actions": [json.loads(json.dumps(a)) for a in case.get("x_claims_policy_actions", [])],
    }
    if "x_claims_signature" in case:
        out["signature"] = json.loads(json.dumps(case["x_claims_signature"]))
    return out


def _marks_of(o: Any, by_id: dict[str, Any]) -> tuple[str | None, set[str]]:
    """An object's marking (its level) and handling caveats, from the marking definitions it refers to."""
    level: str | None = None
    caveats: set[str] = set()
    levels = {v: k for k, v in TLP2_IDS.items()}
    for ref in o.get("object_marking_refs", []):
        if ref in levels:
            level = levels[ref]
            continue
        definition = by_id.get(ref)
        name = definition.get("name") if definition is not None else None
        if not name:
            continue
        if ref == sid("marking-definition", f"marking {name}"):
            level = name
        elif ref == sid("marking-definition", f"caveat {name}"):
            caveats.add(name)
    return level, caveats


def _own_marks(entry: dict[str, Any], level: str | None, caveats: set[str]) -> None:
    """The item's own marking as the bundle's effective one (the same effective marking on import)."""
    if level:
        entry["marking"] = level
    if caveats:
        entry["caveat"] = "; ".join(sorted(caveats))


def _evidence(note: Any, by_id: dict[str, Any], source_caveats: dict[str, set[str]] | None = None) -> dict[str, Any]:
    level, caveats = _marks_of(note, by_id)
    source = by_id[note.created_by_ref]["x_claims_key"]
    item: dict[str, Any] = {
        "source": source,
        "stance": note["x_claims_stance"],
        "credibility": note["x_claims_credibility"],
        "summary": note.content,
    }
    for ref in note.get("external_references", []):
        item["locator"] = ref.get("url") or ref.get("description")
    if note.get("x_claims_observed_at"):
        item["observed_at"] = note["x_claims_observed_at"]
    _own_marks(item, level, caveats - (source_caveats or {}).get(source, set()))
    if note.get("authors"):
        item["added_by"] = note.authors[0]
    if note.get("x_claims_added_at"):
        item["added_at"] = note["x_claims_added_at"]
    if note.get("revoked"):
        item.update(retracted=True, **dict(note["x_claims_retraction"]))
    return item


# --- a bundle made elsewhere ------------------------------------------------------------------

CLAIM_TYPES = frozenset(
    {
        "attack-pattern",
        "campaign",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "malware",
        "malware-analysis",
        "observed-data",
        "threat-actor",
        "tool",
        "vulnerability",
        "relationship",
    }
)
CONTAINERS = ("report", "grouping")
EVIDENCE_TYPES = ("opinion", "note", "sighting")
READ_TYPES = CLAIM_TYPES | {*CONTAINERS, *EVIDENCE_TYPES, "identity"}
OPINION_STANCE = {
    "strongly-agree": "supports",
    "agree": "supports",
    "disagree": "contradicts",
    "strongly-disagree": "contradicts",
}
NOT_READ = {
    "location": "a place, not a claim, source or evidence",
    "course-of-action": "advice on what to do, not a claim about what is",
    "marking-definition": "a data marking: markings are not kept, mind the bundle's sharing rules",
    "extension-definition": "describes properties, holds no case content",
    "language-content": "a translation of other objects' text",
}
OBSERVABLE = "a cyber observable: data with no assertion of its own (an indicator or observed-data may state one)"
_SHOW = reprlib.Repr()
_SHOW.maxstring = 100  # a STIX id is shown whole; a hostile value is cut
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # shown, never obeyed (newlines too: a reason is one line)
_ID = re.compile(r"^[a-z][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class _Bundle:
    """The objects of a foreign bundle this import reads (the newest version of each), and what it leaves out."""

    def __init__(self, data: dict[str, Any], objects: list[dict[str, Any]], origin: str) -> None:
        self.origin = origin
        self.left: list[LeftOut] = []
        self.by_id: dict[str, Any] = {}
        version = data.get("spec_version")
        if version is not None and version != "2.1":
            raise InvalidInput(f"{origin}: spec_version: {_SHOW.repr(version)} is not STIX 2.1 (the only one read)")
        for index, raw in enumerate(objects):
            kind, oid = raw.get("type"), raw.get("id")
            for name, value in (("type", kind), ("id", oid)):
                if not isinstance(value, str) or not value:
                    raise InvalidInput(f"{origin}: objects[{index}].{name}: {_SHOW.repr(value)} is not a STIX {name}")
            assert isinstance(kind, str) and isinstance(oid, str)
            if kind not in READ_TYPES:
                self.leave(kind, oid, self._not_read(kind))
            elif raw.get("spec_version") != "2.1":
                self.leave(kind, oid, f"spec_version: {_SHOW.repr(raw.get('spec_version'))}: only STIX 2.1 is read")
            else:
                self._read(index, raw, kind, oid)

    @staticmethod
    def _not_read(kind: str) -> str:
        if kind in NOT_READ:
            return f"{kind}: {NOT_READ[kind]}"
        if kind in stix2.v21.OBJ_MAP_OBSERVABLE:
            return OBSERVABLE
        if kind == "bundle":
            return "a bundle inside a bundle: import it as its own file"
        return f"type {kind!r} has no meaning in a case (not a claim, source or evidence)"

    def _read(self, index: int, raw: dict[str, Any], kind: str, oid: str) -> None:
        where = f"{self.origin}: objects[{index}] ({_SHOW.repr(oid)})"
        confidence = raw.get("confidence")
        if confidence is not None and (type(confidence) is not int or not 0 <= confidence <= 100):
            raise InvalidInput(f"{where}: confidence: {_SHOW.repr(confidence)} is not a STIX confidence 0-100")
        try:
            obj = stix2.parse(raw, allow_custom=True, version="2.1")
        except Exception as exc:  # stix2 raises many kinds; each names the property
            raise InvalidInput(f"{where}: not valid STIX 2.1 ({_plain(str(exc).splitlines()[0])})") from None
        if not _ID.match(oid.lower()):
            raise InvalidInput(f"{where}: id: not a STIX id (type--UUID)")
        known = self.by_id.get(oid)
        if known is not None:
            older, obj = (known, obj) if obj.get("modified", "") >= known.get("modified", "") else (obj, known)
            self.leave(kind, oid, f"an older version (modified {older.get('modified')}); the newest is read")
        self.by_id[oid] = obj

    def leave(self, kind: str, oid: str, why: str) -> None:
        """List it; a hostile type or id from the bundle is kept printable (its control characters as escapes)."""
        self.left.append(LeftOut(_plain(kind), _plain(oid), _plain(why)))

    def of(self, *kinds: str) -> list[Any]:
        return [o for o in self.by_id.values() if o.type in kinds]


def _plain(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def _foreign(data: dict[str, Any], objects: list[dict[str, Any]], origin: str) -> tuple[dict[str, Any], list[LeftOut]]:
    bundle = _Bundle(data, objects, origin)
    case = _case_header(bundle, data)
    sources = _sources(bundle)
    claims = _claims(bundle)
    used: set[str] = set()
    for obj in bundle.of(*EVIDENCE_TYPES):
        _evidence_of(bundle, obj, claims, sources, used)
    for ident in bundle.of("identity"):
        if ident.id in sources and ident.id not in used:
            del sources[ident.id]
            bundle.leave("identity", ident.id, "the source of no imported evidence (an identity may be a target)")
    _lineage(bundle, sources)
    if not claims:
        shown = "; ".join(f"{x.id}: {x.why}" for x in bundle.left[:3])
        more = f" (+{len(bundle.left) - 3} more)" if len(bundle.left) > 3 else ""
        raise InvalidInput(
            f"{origin}: objects: nothing to import (no indicator, malware, relationship or other claim); "
            f"left out {len(bundle.left)}: {shown or 'nothing'}{more}"
        )
    if (marking := _highest_tlp(objects)) is not None:
        case = {**case, "marking": marking}  # never below what the sender marked (issue 20)
    out = {"case": case, "sources": list(sources.values()), "claims": list(claims.values()), "policy_actions": []}
    return out, bundle.left


def _highest_tlp(objects: list[dict[str, Any]]) -> str | None:
    """The highest TLP marking (2.0, or 1.0 read as 2.0) any object of a foreign bundle refers to.

    A foreign bundle's markings are not carried item by item; its whole case takes the highest, so
    an import never lowers what the sender marked.
    """
    known = {v: k for k, v in TLP2_IDS.items()} | {
        stix2.TLP_WHITE.id: "TLP:CLEAR",
        stix2.TLP_GREEN.id: "TLP:GREEN",
        stix2.TLP_AMBER.id: "TLP:AMBER",
        stix2.TLP_RED.id: "TLP:RED",
    }
    order = list(TLP2_IDS)
    found = set()
    for o in objects:
        refs = list(o.get("object_marking_refs") or [])
        refs += [g.get("marking_ref") for g in o.get("granular_markings") or [] if isinstance(g, dict)]
        found |= {known[r] for r in refs if isinstance(r, str) and r in known}
    return max(found, key=order.index) if found else None


def _case_header(bundle: _Bundle, data: dict[str, Any]) -> dict[str, str]:
    """The first report or grouping names the case; later ones are left out, their objects still read."""
    containers = bundle.of(*CONTAINERS)
    for other in containers[1:]:
        bundle.leave(other.type, other.id, f"the bundle is one case ({containers[0].id}); its objects are read there")
    listed = {x.id for x in bundle.left}
    for box in containers:
        for ref in box.get("object_refs", []):
            if ref not in bundle.by_id and ref not in listed:
                listed.add(ref)
                bundle.leave(ref.split("--")[0], ref, f"in object_refs of {box.id} but not in the bundle")
    if containers:
        return {"key": containers[0].id.lower(), "title": containers[0].name}
    bid = data.get("id")
    if not isinstance(bid, str) or not _ID.match(bid.lower()) or not bid.startswith("bundle--"):
        raise InvalidInput(f"{bundle.origin}: id: {_SHOW.repr(bid)} is not a bundle id (and no report names the case)")
    return {"key": bid.lower(), "title": f"STIX bundle {bid}"}


def _reliability(ident: Any) -> str:
    """MISP's admiralty-scale tag, else OpenCTI's x_opencti_reliability, else F (cannot be judged)."""
    for label in ident.get("labels", []):
        if label.startswith("admiralty-scale:source-reliability="):
            letter = label.split("=", 1)[1].strip('"').upper()
            if letter in "ABCDEF" and len(letter) == 1:
                return letter
    opencti = str(ident.get("x_opencti_reliability") or "").strip().upper()
    if opencti[:1] and opencti[:1] in "ABCDEF" and (len(opencti) == 1 or opencti[1:3] == " -"):
        return opencti[0]
    return "F"


def _sources(bundle: _Bundle) -> dict[str, dict[str, Any]]:
    sources: dict[str, dict[str, Any]] = {}
    for ident in bundle.of("identity"):
        if ident.get("revoked"):
            bundle.leave("identity", ident.id, "revoked by its producer")
            continue
        government = any(s.startswith("government") for s in ident.get("sectors", []))
        entry = {
            "key": ident.id.lower(),
            "name": ident.name,
            "kind": "official" if government else "other",
            "reliability": _reliability(ident),
        }
        if (why := _invalid(SourceEntry, entry)) is not None:
            bundle.leave("identity", ident.id, why)
        else:
            sources[ident.id] = entry
    return sources


def _label(bundle: _Bundle, ref: str) -> str:
    obj = bundle.by_id.get(ref)
    return f"{obj.type} {obj['name']!r}" if obj is not None and obj.get("name") else ref


def _statement(bundle: _Bundle, obj: Any) -> str:
    """What the object asserts, in one sentence made of its own fields."""
    if obj.type == "relationship":
        head = f"{_label(bundle, obj.source_ref)} {obj.relationship_type} {_label(bundle, obj.target_ref)}"
    elif obj.get("name"):
        head = f"{obj.type} {obj.name!r}"
    else:
        head = f"{obj.type} {obj.id}"
    detail = obj.get("description") or obj.get("pattern")
    return f"{head}: {detail}" if detail else head


def _claims(bundle: _Bundle) -> dict[str, dict[str, Any]]:
    claims: dict[str, dict[str, Any]] = {}
    for obj in bundle.of(*CLAIM_TYPES):
        if obj.type == "relationship" and obj.relationship_type == "derived-from" and _between_identities(obj):
            continue  # lineage, read with the sources
        if obj.get("revoked"):
            bundle.leave(obj.type, obj.id, "revoked by its producer")
            continue
        entry = {"key": obj.id.lower(), "statement": _statement(bundle, obj), "stage": "reported", "evidence": []}
        if (why := _invalid(ClaimEntry, entry)) is not None:
            bundle.leave(obj.type, obj.id, why)
        else:
            claims[obj.id] = entry
    return claims


def _between_identities(rel: Any) -> bool:
    return bool(rel.source_ref.startswith("identity--") and rel.target_ref.startswith("identity--"))


def _stance(obj: Any) -> str | None:
    if obj.type == "sighting":
        return "supports"
    if obj.type == "opinion":
        return OPINION_STANCE.get(obj.opinion)
    said = {lab for lab in obj.get("labels", []) if lab in ("supports", "contradicts")}
    return said.pop() if len(said) == 1 else None


def _credibility(obj: Any) -> int:
    """MISP's information-credibility tag, else the STIX 2.1 appendix scale on `confidence`, else 6."""
    for label in obj.get("labels", []):
        if label.startswith("admiralty-scale:information-credibility="):
            value = label.split("=", 1)[1].strip('"')
            if value in ("1", "2", "3", "4", "5", "6"):
                return int(value)
    if obj.get("confidence") is None:
        return 6
    return int(value_to_admiralty_credibility(obj.confidence)[0])


def _evidence_of(
    bundle: _Bundle, obj: Any, claims: dict[str, dict[str, Any]], sources: dict[str, Any], used: set[str]
) -> None:
    """One evidence item per claim the opinion, note or sighting is about; or why there is none."""
    if obj.get("revoked"):
        return bundle.leave(obj.type, obj.id, "revoked by its producer")
    stance = _stance(obj)
    if stance is None:
        why = (
            f"opinion: {obj.opinion!r} neither supports nor contradicts"
            if obj.type == "opinion"
            else "a note without a supports or contradicts label is context, not evidence"
        )
        return bundle.leave(obj.type, obj.id, why)
    field, about = (
        ("sighting_of_ref", [obj.sighting_of_ref]) if obj.type == "sighting" else ("object_refs", obj.object_refs)
    )
    targets = [ref for ref in about if ref in claims]
    if not targets:
        missing = [ref for ref in about if ref not in bundle.by_id]
        why = "is not in the bundle" if missing else "imports as no claim"
        return bundle.leave(obj.type, obj.id, f"{field}: {_SHOW.repr((missing or about)[0])} {why}")
    authors = [obj.get("created_by_ref")] + (list(obj.get("where_sighted_refs", [])) if obj.type == "sighting" else [])
    source = next((ref for ref in authors if ref in sources), None)
    if source is None:
        named = next((ref for ref in authors if ref), None)
        why = (
            f"created_by_ref: {named!r} is not a source in the bundle"
            if named
            else "no created_by_ref: evidence needs a source"
        )
        return bundle.leave(obj.type, obj.id, why)
    item: dict[str, Any] = {
        "source": sources[source]["key"],
        "stance": stance,
        "credibility": _credibility(obj),
        "summary": _summary(obj),
        "added_at": obj.created.isoformat(),
    }
    for ref in obj.get("external_references", []):
        if ref.get("url") or ref.get("external_id"):
            item["locator"] = ref.get("url") or f"{ref.source_name} {ref.external_id}"
            break
    seen = obj.get("last_seen") or obj.get("first_seen")
    if seen is not None:
        item["observed_at"] = seen.date().isoformat()
    if (why := _invalid(EvidenceEntry, item)) is not None:
        return bundle.leave(obj.type, obj.id, why)
    used.add(source)
    for ref in targets:
        claims[ref]["evidence"].append(item)
    return None


def _summary(obj: Any) -> str:
    if obj.type == "opinion":
        return str(obj.get("explanation") or f"opinion: {obj.opinion}")
    if obj.type == "note":
        return f"{obj.abstract}: {obj.content}" if obj.get("abstract") else str(obj.content)
    count = obj.get("count")
    return str(obj.get("description") or f"sighted{f' {count} times' if count else ''}")


def _lineage(bundle: _Bundle, sources: dict[str, dict[str, Any]]) -> None:
    for rel in bundle.of("relationship"):
        if rel.relationship_type != "derived-from" or not _between_identities(rel):
            continue
        src, dst = sources.get(rel.source_ref), sources.get(rel.target_ref)
        if rel.get("revoked"):
            bundle.leave("relationship", rel.id, "revoked by its producer")
        elif src is None or dst is None:
            bundle.leave("relationship", rel.id, "lineage between identities that are not both imported sources")
        elif "derived_from" in src:
            bundle.leave("relationship", rel.id, f"{rel.source_ref} already derives from {src['derived_from']}")
        else:
            src["derived_from"] = dst["key"]


def _invalid(model: type[Any], entry: dict[str, Any]) -> str | None:
    """Why one entry would be refused by the case-file schema, or None: a foreign object is left out, not fatal."""
    nul = _first_nul(entry)
    if nul is not None:
        return f"{nul}: contains a NUL character, which no text field may hold"
    try:
        model.model_validate(entry)
    except ValidationError as exc:
        return validation_message(exc, "").removeprefix(": ")
    return None
