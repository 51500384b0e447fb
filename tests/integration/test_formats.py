"""The field's formats: STIX 2.1 bundle (validated by OASIS's stix2-validator, read back losslessly),
schema.org ClaimReview (expanded with pyld), and the manager's brief (Markdown, HTML, PDF)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from identity_helpers import as_user
from PIL import Image
from pyld import jsonld
from stix2validator import ValidationOptions, validate_string

from claims import services
from claims.demo import DEMO_USERS
from claims.domain import Stage
from claims.domain.likelihood import TERMS
from claims.services import Runtime
from claims.services.exports import export_text

SCHEMA = "https://schema.org/"


@pytest.fixture
def rich(demo: Runtime) -> Runtime:
    """The demo case plus a retraction, an unjudgeable (credibility 6) item with a URL, and a refuted claim."""
    rt = demo
    (diplomats,) = [e for e in services.claim_detail(rt, "lethal-production")["evidence"] if e["source"] == "diplomats"]
    services.retract_evidence(rt, as_user(rt, "alice"), diplomats["id"], "the diplomats were quoting the EEAS")
    services.add_evidence(
        rt,
        as_user(rt, "alice"),
        "shipped-to-russia",
        "trade-data",
        "supports",
        credibility=6,
        summary="Shipping manifests, provenance unclear.",
        locator="https://example.org/manifests",
        observed_at=date(2024, 10, 2),
    )
    for source, grade in (("us-treasury", 2), ("eu-council", 3)):
        services.add_evidence(
            rt,
            as_user(rt, "alice"),
            "beijing-aware",
            source,
            "contradicts",
            credibility=grade,
            summary=f"{source} finds no sign",
        )
    review = services.advance(rt, as_user(rt, "alice"), "beijing-aware", Stage.REFUTED).review_id
    assert review is not None
    services.approve(rt, as_user(rt, "bob"), review, "two independent contradicting lines, one B2")
    return rt


def validate(text: str):
    return validate_string(text, ValidationOptions(version="2.1"))


# --- STIX 2.1 -------------------------------------------------------------------------------


def test_stix_bundle_passes_the_oasis_validator_and_maps_the_grades(rich: Runtime) -> None:
    text = export_text(rich, "eu-drones-2024", "stix")
    result = validate(text)
    assert result.is_valid and result.errors == [], [str(e) for e in result.errors]
    # warnings left, both deliberate: ids are uuid5 (deterministic), not uuid4 (103); a locator URL has no
    # hash of the page behind it (302). Custom properties are declared by the extension definition (no 401).
    codes = {re.search(r"\{(\d+)\}", str(w))[1] for w in result.warnings}
    assert codes <= {"103", "302"}, [str(w) for w in result.warnings]
    bundle = json.loads(text)
    objects = bundle["objects"]
    by_key = {(o["type"], o.get("x_claims_key")): o for o in objects}

    reuters = by_key[("identity", "reuters")]
    assert 'admiralty-scale:source-reliability="b"' in reuters["labels"]
    assert reuters["x_opencti_reliability"] == "B - Usually reliable"
    council = by_key[("identity", "eu-council")]
    assert 'admiralty-scale:source-reliability="a"' in council["labels"]

    # lineage: diplomats repeat the EEAS
    (rel,) = [
        o for o in objects if o["type"] == "relationship" and o["source_ref"] == by_key[("identity", "diplomats")]["id"]
    ]
    assert rel["relationship_type"] == "derived-from"
    assert rel["target_ref"] == by_key[("identity", "eeas-intel")]["id"]

    notes = [o for o in objects if o["type"] == "note"]
    expected = {1: 90, 2: 70, 3: 50, 4: 30, 5: 10}
    seen = set()
    for note in notes:
        credibility = note["x_claims_credibility"]
        seen.add(credibility)
        if credibility == 6:
            assert "confidence" not in note
        else:
            assert note["confidence"] == expected[credibility]
        assert f'admiralty-scale:information-credibility="{credibility}"' in note["labels"]
    assert {2, 3, 4, 6} <= seen
    (manifests,) = [n for n in notes if n["content"] == "Shipping manifests, provenance unclear."]
    assert manifests["external_references"] == [{"source_name": "trade-data", "url": "https://example.org/manifests"}]
    assert manifests["created_by_ref"] == by_key[("identity", "trade-data")]["id"]
    (retracted,) = [n for n in notes if n.get("revoked")]
    assert retracted["x_claims_retraction"]["retraction_reason"] == "the diplomats were quoting the EEAS"

    opinions = {o["object_refs"][0]: o for o in objects if o["type"] == "opinion"}
    stages = {
        "confirmed": "strongly-agree",
        "corroborated": "agree",
        "reported": "neutral",
        "refuted": "strongly-disagree",
    }
    claims = [o for o in objects if o["type"] == "grouping" and o.get("x_claims_type") == "claim"]
    assert {c["x_claims_stage"] for c in claims} == set(stages)
    for claim in claims:
        opinion = opinions[claim["id"]]
        assert opinion["opinion"] == stages[claim["x_claims_stage"]]
        assert claim["x_claims_likelihood"]["term"] in TERMS
        assert claim["x_claims_likelihood"]["sentence"] in opinion["explanation"]


def test_stix_export_is_deterministic_and_reads_back_the_same(
    rich: Runtime, fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    first = export_text(rich, "eu-drones-2024", "stix")
    assert export_text(rich, "eu-drones-2024", "stix") == first
    path = tmp_path / "bundle.json"
    path.write_text(first, encoding="utf-8")

    from claims.services.exports import read_import_file

    fresh = Runtime(fresh_database())
    services.ensure_users(fresh, DEMO_USERS)
    report = services.import_case(fresh, as_user(fresh, "alice"), read_import_file(path))
    assert report.created["evidence"] == sum(1 for o in json.loads(first)["objects"] if o["type"] == "note")
    # signed by this instance's key, so the confirmed and refuted history stands and reads back the same
    assert services.claim_detail(fresh, "beijing-aware")["stage"] == "refuted"
    assert export_text(fresh, "eu-drones-2024", "stix") == first


def test_a_changed_signed_bundle_is_refused(rich: Runtime, tmp_path: Path) -> None:
    from claims.services.exports import read_import_file

    bundle = json.loads(export_text(rich, "eu-drones-2024", "stix"))
    (case,) = [o for o in bundle["objects"] if o.get("x_claims_type") == "case"]
    assert case["x_claims_signature"]["scheme"].startswith("ed25519")
    claim = next(o for o in bundle["objects"] if o.get("x_claims_key") == "lethal-production")
    claim["description"] = "Something else entirely."
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    with pytest.raises(services.InvalidInput, match="signature: does not verify"):
        read_import_file(path)


def test_cli_imports_a_bundle_and_rejects_a_broken_one(rich: Runtime, cli, env_db: str, tmp_path: Path) -> None:
    bundle = json.loads(export_text(rich, "eu-drones-2024", "stix"))
    path = tmp_path / "again.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    again = cli("import", path, "--as", "alice", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["created"] == {"cases": 0, "sources": 0, "claims": 0, "evidence": 0, "actions": 0}

    for o in bundle["objects"]:
        if o["type"] == "identity" and o.get("x_claims_key") == "reuters":
            o["labels"] = ["not-a-grade"]
    path.write_text(json.dumps(bundle), encoding="utf-8")
    bad = cli("import", path, "--as", "alice")
    assert bad.exit_code == 1
    assert bad.stderr.strip().count("\n") == 0
    assert "labels: no admiralty-scale:source-reliability tag" in bad.stderr


# --- ClaimReview ----------------------------------------------------------------------------


def local_schema_org(url: str, options: dict | None = None) -> dict:
    """No network: schema.org's context reduced to its vocabulary (what these documents need)."""
    assert url.rstrip("/") in ("https://schema.org", "http://schema.org"), url
    return {"contextUrl": None, "documentUrl": url, "document": {"@context": {"@vocab": SCHEMA}}}


def test_claimreview_expands_with_every_field(rich: Runtime, cli) -> None:
    result = cli("export", "--format", "claimreview")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    expanded = jsonld.expand(doc, {"documentLoader": local_schema_org})
    reviews = {r[SCHEMA + "claimReviewed"][0]["@value"]: r for r in expanded}
    statements = {
        c["statement"]: c["stage"]
        for c in services.export_case(rich)["claims"]
        if c["stage"] in ("confirmed", "refuted")
    }
    assert set(reviews) == set(statements)  # confirmed and refuted claims only
    assert len(reviews) == 2
    for statement, review in reviews.items():
        assert review["@type"] == [SCHEMA + "ClaimReview"]
        rating = review[SCHEMA + "reviewRating"][0]
        verdict = "True" if statements[statement] == "confirmed" else "False"
        assert rating[SCHEMA + "alternateName"][0]["@value"] == verdict
        assert rating[SCHEMA + "ratingValue"][0]["@value"] == (5 if verdict == "True" else 1)
        assert rating[SCHEMA + "bestRating"][0]["@value"] == 5
        assert rating[SCHEMA + "worstRating"][0]["@value"] == 1
        item = review[SCHEMA + "itemReviewed"][0]
        assert item["@type"] == [SCHEMA + "Claim"]
        assert item[SCHEMA + "author"][0][SCHEMA + "name"][0]["@value"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item[SCHEMA + "datePublished"][0]["@value"])
        assert item[SCHEMA + "appearance"]
        assert review[SCHEMA + "author"][0][SCHEMA + "name"][0]["@value"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", review[SCHEMA + "datePublished"][0]["@value"])
        assert review[SCHEMA + "url"][0]["@value"].endswith(
            "/claim?claim=" + ("dual-use-supply" if verdict == "True" else "beijing-aware")
        )
        body = review[SCHEMA + "reviewBody"][0]["@value"]
        assert any(t in body for t in TERMS) and "Analytic confidence" in body


# --- the manager's brief ---------------------------------------------------------------------


def test_brief_in_markdown_names_gaps_terms_and_confidence_apart(demo: Runtime, cli) -> None:
    result = cli("brief", "--format", "md")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    actions = services.action_readiness(demo, "eu-drones-2024")
    for a in actions:
        assert a.title in text
    assert "2 of 5 policy actions ready" in text
    listing = text.split("EU restrictive measures against the entities running the factory")[1]
    assert "NOT READY" in listing.split("\n## ")[0]
    assert "needs 1 more independent supporting source graded C3 or better (has 2 of 3)" in listing
    assert "Likelihood that factory-exists is true: very likely (80-95%" in text
    assert "Annex A: sources and their reliability" in text and "| diplomats |" in text
    # ICD 203: a likelihood term and a confidence word never in the same sentence
    for sentence in re.split(r"(?<=[.:])\s+", text):
        has_term = any(re.search(rf"\b{t}\b", sentence) for t in TERMS)
        has_level = re.search(r"\b(low|moderate|high)\b", sentence)
        assert not (has_term and has_level), sentence


def test_brief_html_escapes_and_carries_the_same_content(demo: Runtime, cli) -> None:
    result = cli("brief", "--format", "html")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!doctype html>")
    assert "<h2>3. EU restrictive measures against the entities running the factory</h2>" in result.stdout
    assert "needs 1 more independent supporting source graded C3 or better (has 2 of 3)" in result.stdout


def test_brief_pdf_has_text_and_ink(demo: Runtime, cli, tmp_path: Path) -> None:
    pdf = tmp_path / "brief.pdf"
    result = cli("brief", "--format", "pdf", "-o", pdf)
    assert result.exit_code == 0, result.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(text.split())
    for a in services.action_readiness(demo, "eu-drones-2024"):
        assert a.title in flat, a.title
    assert "Annex A" in flat
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    image = Image.open(png).convert("L")
    dark = sum(image.histogram()[:128])
    assert dark > 500, dark  # text was drawn, not a blank page


def test_brief_refuses_bad_input_in_one_line(demo: Runtime, cli) -> None:
    bad = cli("brief", "--format", "docx")
    assert bad.exit_code == 2 and "format: 'docx' is not one of md, html, pdf" in bad.stderr
    no_file = cli("brief", "--format", "pdf")
    assert no_file.exit_code == 2 and "-o FILE" in no_file.stderr
    unknown = cli("brief", "--case", "nope")
    assert unknown.exit_code == 3 and "unknown case 'nope'" in unknown.stderr


def test_show_carries_likelihood_and_confidence(demo: Runtime, cli) -> None:
    shown = cli("show", "dual-use-supply", "--json")
    judged = json.loads(shown.stdout)["likelihood"]
    assert (judged["term"], judged["range"], judged["percent"]) == ("almost certain", "95-99%", 97)
    assert judged["confidence"]["level"] == "high"
    assert [ln["root"] for ln in judged["lines"] if ln["stance"] == "supports"]
    text = cli("show", "dual-use-supply").stdout
    assert judged["sentence"] in text and judged["confidence"]["sentence"] in " ".join(text.split())


def test_a_bundle_missing_what_the_exporter_writes_is_one_line(rich: Runtime, cli, env_db: str, tmp_path: Path):
    bundle = json.loads(export_text(rich, "eu-drones-2024", "stix"))
    path = tmp_path / "cut.json"
    note = next(o for o in bundle["objects"] if o["type"] == "note")
    del note["x_claims_stance"]
    path.write_text(json.dumps(bundle), encoding="utf-8")
    bad = cli("import", path, "--as", "alice")
    assert bad.exit_code == 1
    assert (
        bad.stderr.strip()
        == "error: STIX bundle cut.json: x_claims_stance: missing (not a bundle written by claims export)"
    )
    bundle["objects"] = [o for o in bundle["objects"] if o["type"] != "identity"]
    path.write_text(json.dumps(bundle), encoding="utf-8")
    gone = cli("import", path, "--as", "alice")
    assert gone.exit_code == 1 and gone.stderr.strip().count("\n") == 0, gone.stderr


def test_pdf_without_a_local_font_falls_back_to_core_fonts(demo: Runtime, monkeypatch, tmp_path: Path) -> None:
    from claims.services.exports import brief as brief_module

    monkeypatch.setattr(brief_module, "FONT_DIRS", (tmp_path / "no-fonts",))
    blocks = brief_module.brief_blocks(demo, "eu-drones-2024")
    blocks.append(brief_module.Block("para", "Quoted \u201cpositions\u201d \u2014 and \u4e2d\u56fd"))
    pdf = tmp_path / "core.pdf"
    pdf.write_bytes(brief_module.render_brief(blocks, "pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "EU restrictive measures" in " ".join(text.split())
    assert 'Quoted "positions" - and ??' in text


def test_export_refuses_an_unknown_format_in_one_line(demo: Runtime, cli) -> None:
    bad = cli("export", "--format", "xml")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: format: 'xml' is not one of yaml, json, stix, claimreview"
