"""The threshold policy: v1 defaults, loading a deployment's own file, and bad files."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from claims.domain import Grade, Stage, Stance, default_policy, load_policy, parse_policy
from claims.domain.errors import InvalidPolicy
from claims.domain.policy import Lines, NoContradiction, Outweighs, SignOff

SUPPORTS, CONTRADICTS = Stance.SUPPORTS, Stance.CONTRADICTS
C3, B2 = Grade.parse("C3"), Grade.parse("B2")


def v1_data() -> dict[str, Any]:
    return tomllib.loads(resources.files("claims.policies").joinpath("v1.toml").read_text(encoding="utf-8"))


def test_default_policy_is_the_v1_table_of_design_md():
    policy = default_policy()
    assert policy.version == "v1"
    assert policy.criteria(Stage.CORROBORATED) == (Lines(SUPPORTS, 2, C3),)
    assert policy.criteria(Stage.CONFIRMED) == (
        Lines(SUPPORTS, 3, C3),
        Lines(SUPPORTS, 1, B2),
        NoContradiction(C3),
        SignOff(),
    )
    assert policy.criteria(Stage.REFUTED) == (
        Lines(CONTRADICTS, 2, C3),
        Lines(CONTRADICTS, 1, B2),
        Outweighs(CONTRADICTS, C3),
        SignOff(),
    )
    assert policy.criteria(Stage.REPORTED) == ()


def test_sign_off_only_for_the_final_stages():
    policy = default_policy()
    assert [s for s in Stage if policy.needs_sign_off(s)] == [Stage.CONFIRMED, Stage.REFUTED]


def test_a_deployment_loads_its_own_file(tmp_path: Path):
    text = resources.files("claims.policies").joinpath("v1.toml").read_text(encoding="utf-8")
    text = text.replace('version = "v1"', 'version = "strict-2"').replace("count = 2", "count = 3", 1)
    path = tmp_path / "strict.toml"
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    assert policy.version == "strict-2"
    assert policy.criteria(Stage.CORROBORATED) == (Lines(SUPPORTS, 3, C3),)


def test_malformed_toml_names_the_file(tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text('version = "v9"\n[stages.corroborated\ncriteria = [', encoding="utf-8")
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith("policy file: ")
    assert repr(str(path)) in message
    assert "not valid TOML" in message


def test_missing_file_names_the_path(tmp_path: Path):
    with pytest.raises(InvalidPolicy, match=r"cannot read .*nowhere\.toml"):
        load_policy(tmp_path / "nowhere.toml")


def _set(path: str, value: Any) -> dict[str, Any]:
    """v1 with one value replaced; `path` like stages.confirmed.criteria.1.grade (None deletes)."""
    data = copy.deepcopy(v1_data())
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field", "shown"),
    [
        ("stages.confirmed.criteria.1.grade", "Z9", "stages.confirmed.criteria[1].grade", "'Z9'"),
        ("stages.confirmed.criteria.1.grade", "B7", "stages.confirmed.criteria[1].grade", "'B7'"),
        ("stages.refuted.criteria.0.stance", "maybe", "stages.refuted.criteria[0].stance", "'maybe'"),
        ("stages.corroborated.criteria.0.kind", "vibes", "stages.corroborated.criteria[0].kind", "'vibes'"),
        ("stages.corroborated.criteria.0.count", 0, "stages.corroborated.criteria[0].count", "0"),
        ("stages.corroborated.criteria.0.count", "two", "stages.corroborated.criteria[0].count", "'two'"),
        ("stages.corroborated.criteria.0.count", 2.5, "stages.corroborated.criteria[0].count", "2.5"),
        ("stages.corroborated.criteria.0.grade", None, "stages.corroborated.criteria[0].grade", "missing"),
        ("stages.confirmed.criteria.0", "lines", "stages.confirmed.criteria[0]", "'lines'"),
        ("stages.confirmed.criteria", [], "stages.confirmed.criteria", "non-empty"),
        ("stages.refuted", None, "stages", "refuted"),
        ("stages.reported", {"criteria": [{"kind": "sign_off"}]}, "stages.reported", "reported"),
        ("stages.approved", {"criteria": [{"kind": "sign_off"}]}, "stages.approved", "'approved'"),
        ("stages", "all of them", "stages", "'all of them'"),
        ("version", None, "version", "None"),
        ("version", "  ", "version", "'  '"),
    ],
)
def test_bad_policy_raises_naming_the_field_and_value(path: str, value: Any, field: str, shown: str):
    with pytest.raises(InvalidPolicy) as caught:
        parse_policy(_set(path, value))
    message = str(caught.value)
    assert message.startswith(f"{field}:") or message.startswith(f"{field}."), message
    assert shown in message
    assert "\n" not in message


def test_stage_limits_for_overdue_work():
    """Issue 18: `[limits.<stage>]` says how long a sign-off or a task toward that stage may wait."""
    policy = default_policy()
    assert policy.limit(Stage.CONFIRMED, "review") == 48 and policy.limit(Stage.REFUTED, "review") == 48
    assert policy.limit(Stage.CORROBORATED, "task") == 72 and policy.limit(Stage.CORROBORATED, "review") is None
    data = v1_data()
    del data["limits"]
    assert parse_policy(data).limit(Stage.CONFIRMED, "review") is None  # no limits: nothing is ever overdue


@pytest.mark.parametrize(
    ("limits", "shown"),
    [
        ({"confirmed": {"review_hours": 0}}, "limits.confirmed.review_hours: 0 must be more than 0 hours"),
        ({"confirmed": {"review_hours": "2d"}}, "limits.confirmed.review_hours: '2d' must be a number"),
        ({"confirmed": {"reviw_hours": 2}}, "limits.confirmed.reviw_hours: unknown limit"),
        ({"approved": {"review_hours": 2}}, "limits.approved"),
        ({"confirmed": 48}, "limits.confirmed: 48 must be a table"),
    ],
)
def test_bad_limits_name_the_field(limits: dict[str, Any], shown: str):
    data = v1_data()
    data["limits"] = limits
    with pytest.raises(InvalidPolicy, match=None) as err:
        parse_policy(data)
    assert shown in str(err.value)
