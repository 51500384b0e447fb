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
"""

from __future__ import annotations

import json
import reprlib
import uuid
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2.confidence.scales import admiralty_credibility_to_value

from claims.domain.markings import Scale
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


def case_file_from_bundle(data: dict[str, Any], origin: str = "STIX bundle") -> dict[str, Any]:
    """A bundle written by `claims export --format stix`, back into the case-file shape (validated by the caller)."""
    try:
        return _case_file(data, origin)
    except KeyError as missing:  # a property or a referenced object this exporter always writes
        raise InvalidInput(f"{origin}: {missing.args[0]}: missing (not a bundle written by claims export)") from None
    except AttributeError as exc:
        raise InvalidInput(f"{origin}: {exc.args[0]} (not a bundle written by claims export)") from None


def _case_file(data: dict[str, Any], origin: str) -> dict[str, Any]:
    # stix2 reports a non-list or a string among the objects as "string indices must be integers":
    # name the field and the value instead.
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise InvalidInput(f"{origin}: objects: {reprlib.repr(objects)} is not a list of STIX objects")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise InvalidInput(f"{origin}: objects[{index}]: {reprlib.repr(obj)} is not a STIX object (a mapping)")
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
