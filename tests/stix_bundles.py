"""STIX 2.1 bundles made by OASIS's `stix2` library, as another tool would make them (no x_claims_* properties)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import stix2

T = "2024-03-01T10:00:00Z"


def feed() -> SimpleNamespace:
    """A report on Sednit: what has a meaning in a case, and what has none. `.bundle` is the stix2.Bundle."""
    o = SimpleNamespace()
    o.lab = stix2.Identity(  # reliability from MISP's tag
        name="Cyber Lab", identity_class="organization", labels=['admiralty-scale:source-reliability="b"']
    )
    o.cert = stix2.Identity(  # reliability from OpenCTI's property; a government sector: official
        name="National CERT",
        identity_class="organization",
        sectors=["government-national"],
        x_opencti_reliability="C - Fairly reliable",
        allow_custom=True,
    )
    o.blog = stix2.Identity(name="Security blog", identity_class="individual")  # no reliability: F
    o.victim = stix2.Identity(name="Acme Bank", identity_class="organization", sectors=["financial-services"])
    o.malware = stix2.Malware(name="Sednit", is_family=True, description="a backdoor family", created_by_ref=o.lab.id)
    o.indicator = stix2.Indicator(
        name="C2 address",
        pattern="[ipv4-addr:value = '198.51.100.3']",
        pattern_type="stix",
        valid_from=T,
        created_by_ref=o.lab.id,
    )
    o.indicates = stix2.Relationship(o.indicator, "indicates", o.malware, created_by_ref=o.lab.id)
    o.repeats = stix2.Relationship(o.blog, "derived-from", o.lab)  # the blog repeats the lab: lineage
    o.agree = stix2.Opinion(
        opinion="strongly-agree", object_refs=[o.indicator.id], created_by_ref=o.cert.id, confidence=85,
        explanation="seen on our sensors",
    )  # fmt: skip
    o.disagree = stix2.Opinion(
        opinion="disagree", object_refs=[o.indicates.id], created_by_ref=o.blog.id, confidence=30
    )
    o.neutral = stix2.Opinion(opinion="neutral", object_refs=[o.malware.id], created_by_ref=o.cert.id)
    o.anonymous = stix2.Opinion(opinion="agree", object_refs=[o.malware.id])
    o.context = stix2.Note(content="context only", object_refs=[o.malware.id], created_by_ref=o.lab.id)
    o.supports = stix2.Note(
        abstract="pattern", content="the pattern matches", labels=["supports"], object_refs=[o.indicator.id],
        created_by_ref=o.lab.id, external_references=[{"source_name": "lab", "url": "https://lab.example/sednit"}],
    )  # fmt: skip
    o.sighting = stix2.Sighting(
        sighting_of_ref=o.indicator.id, where_sighted_refs=[o.cert.id], count=3, confidence=50,
        first_seen="2024-02-01T00:00:00Z", last_seen="2024-02-03T00:00:00Z",
    )  # fmt: skip
    o.location = stix2.Location(country="FR")
    o.address = stix2.IPv4Address(value="198.51.100.3")
    o.tlp = stix2.TLP_AMBER
    o.custom = {
        "type": "x-acme-widget",
        "id": "x-acme-widget--2f1b1f4e-4b6a-4d1e-9b3a-1c2d3e4f5a6b",
        "spec_version": "2.1",
        "created": T,
        "modified": T,
        "colour": "red",
    }
    o.nowhere = "indicator--11111111-2222-4333-8444-555555555555"
    members = [
        o.lab, o.cert, o.blog, o.victim, o.malware, o.indicator, o.indicates, o.repeats, o.agree, o.disagree,
        o.neutral, o.anonymous, o.context, o.supports, o.sighting, o.location, o.address,
    ]  # fmt: skip
    o.report = stix2.Report(
        name="Sednit infrastructure", published=T, object_refs=[m.id for m in members] + [o.nowhere],
        object_marking_refs=[o.tlp.id],
    )  # fmt: skip
    o.bundle = stix2.Bundle(o.report, *members, o.tlp, o.custom, allow_custom=True)
    return o


def nothing_to_import() -> stix2.Bundle:
    """Only objects without a place in a case: a place, a stance-less note about it, a custom object."""
    place = stix2.Location(country="FR")
    author = stix2.Identity(name="Cyber Lab", identity_class="organization")
    note = stix2.Note(content="nice place", object_refs=[place.id], created_by_ref=author.id)
    custom = {
        "type": "x-acme-widget",
        "id": "x-acme-widget--3f1b1f4e-4b6a-4d1e-9b3a-1c2d3e4f5a6b",
        "spec_version": "2.1",
    }
    return stix2.Bundle(place, author, note, custom, allow_custom=True)


def write(bundle: stix2.Bundle, path: Path) -> Path:
    path.write_text(bundle.serialize(pretty=True), encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))  # plain JSON, as another tool would hand it over
    return path
