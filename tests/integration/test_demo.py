"""The EU drones case under the v1 policy shows the report's situation (issue 2, item 5).

Why each expectation holds, from examples/eu-drones-2024.yaml and the v1 table:
- factory-exists: reuters B2, eeas-intel B3 and diplomats C2 support it, but the diplomats derive
  from eeas-intel, so 2 independent C3 lines: corroborated; confirmation needs 3.
- lethal-production: eeas-intel B4 (credibility 4 misses C3) and diplomats C3 (root eeas-intel):
  1 line, reported.
- shipped-to-russia: reuters-documents C3 derives from reuters B3: 1 line, reported.
- beijing-aware: eu-official B4 misses C3: 0 lines, reported.
- dual-use-supply: confirmed in its history, with eu-council A1, us-treasury B2 and trade-data C2
  (3 lines, one B2); Beijing's D4 denial is below C3 and blocks nothing, so it is not at risk.
"""

from __future__ import annotations

import json

from claims import services
from claims.services import Runtime

OPEN_POINTS = ["lethal-production", "shipped-to-russia", "beijing-aware"]
LISTINGS = ["eu-listing-manufacturer", "eu-listing-supply-chain", "measures-chinese-state"]


def test_the_main_claim_is_corroborated_but_not_confirmed(demo: Runtime):
    detail = services.claim_detail(demo, "factory-exists")
    assert detail["stage"] == "corroborated"
    confirmed = detail["assessment"]["confirmed"]
    assert confirmed["met"] is False
    assert confirmed["gaps"] == [
        "needs 1 more independent supporting source graded C3 or better (has 2 of 3)",
        "needs a review request and sign-off by a reviewer other than the requester",
    ]


def test_the_three_open_points_are_still_reported(demo: Runtime):
    assert {k: services.claim_detail(demo, k)["stage"] for k in OPEN_POINTS} == dict.fromkeys(OPEN_POINTS, "reported")
    lines = {
        k: services.claim_detail(demo, k)["assessment"]["corroborated"]["criteria"][0]["have"] for k in OPEN_POINTS
    }
    assert lines == {"lethal-production": 1, "shipped-to-russia": 1, "beijing-aware": 0}


def test_the_dual_use_supply_stays_confirmed_and_safe(demo: Runtime):
    detail = services.claim_detail(demo, "dual-use-supply")
    assert (detail["stage"], detail["at_risk"], detail["holds"]) == ("confirmed", False, True)
    assert detail["stage_times"]["confirmed"] == "2023-02-24T16:00:00+00:00"


def test_no_listing_is_ready_and_every_unmet_requirement_says_what_is_missing(demo: Runtime, cli):
    result = cli("readiness", "--json")
    assert result.exit_code == 0, result.stderr
    actions = {a["key"]: a for a in json.loads(result.stdout)}
    assert {k for k, a in actions.items() if a["ready"]} == {"raise-with-beijing", "extend-dual-use-listings"}
    for key in LISTINGS:
        assert actions[key]["ready"] is False
    for action in actions.values():
        for req in action["requirements"]:
            assert req["met"] or req["gaps"], (action["key"], req)
            assert all(isinstance(g, str) and g for g in req["gaps"])
    lethal = next(r for r in actions["eu-listing-manufacturer"]["requirements"] if r["claim"] == "lethal-production")
    assert lethal["gaps"][:2] == [
        "must be corroborated first",
        "needs 2 more independent supporting sources graded C3 or better (has 1 of 3)",
    ]
