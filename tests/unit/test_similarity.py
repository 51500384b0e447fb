"""The similar-claims rule (pure): near-miss checks, thresholds, duplicate cycles, survivors in readiness;
and the measured quality on the labelled pairs staying above the floors stated in the README."""

from __future__ import annotations

import pytest

from bench.similar_quality import measure
from claims.domain import ClaimFacts, EvidenceFacts, Grade, Requirement, Stage, Stance, assess, default_policy
from claims.domain.readiness import readiness
from claims.domain.similarity import Kind, Thresholds, conflicts, duplicate_cycle, judge, survivor_of
from claims.settings import Settings

LIMITS = Thresholds(merge=0.8, suggest=0.45)
FACTORY = "Russia has set up a factory in China that assembles attack drones."


@pytest.mark.parametrize(
    ("other", "fires"),
    [
        ("Russia has denied setting up a factory in China that assembles attack drones.", "negates"),
        ("Russia hasn't set up a factory in China that assembles attack drones.", "negates"),
        ("Russia has set up a factory in Iran that assembles attack drones.", "different names: china / iran"),
        ("Iran has set up a factory in China that assembles attack drones.", "different names: russia / iran"),
        ("Russian engineers set up a factory in China that assembles attack drones.", None),  # demonym folded
        ("Russia has set up a factory in Xinjiang, China, that assembles attack drones.", None),  # a name added
    ],
)
def test_near_miss_checks(other: str, fires: str | None):
    found = conflicts(FACTORY, other)
    assert (fires in found[0]) if fires else found == ()


def test_a_possessive_is_the_name_itself():
    assert conflicts("Moscow's drone programme runs in China.", "The drone programme of Moscow runs in China.") == ()


def test_numbers_swapped_are_a_conflict_but_a_number_added_is_not():
    assert conflicts("It makes 6000 drones a year.", "It makes 600 drones a year.")
    assert conflicts("It makes drones.", "It makes 600 drones.") == ()


def test_judge_applies_each_threshold_and_a_conflict_forbids_same():
    assert judge(FACTORY, FACTORY, 0.80, LIMITS).kind is Kind.SAME
    assert judge(FACTORY, FACTORY, 0.79, LIMITS).kind is Kind.RELATED
    assert judge(FACTORY, FACTORY, 0.45, LIMITS).kind is Kind.RELATED
    assert judge(FACTORY, FACTORY, 0.44, LIMITS).kind is None
    denial = "Russia has denied setting up a factory in China that assembles attack drones."
    assert judge(FACTORY, denial, 0.99, LIMITS).kind is Kind.RELATED


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match="suggest"):
        Thresholds(merge=0.5, suggest=0.6)


@pytest.mark.parametrize(
    ("env", "value"),
    [("CLAIMS_SIMILAR_MERGE", "1.5"), ("CLAIMS_SIMILAR_SUGGEST", "0.95"), ("CLAIMS_SIMILAR_MODEL", "gpt")],
)
def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, env: str, value: str):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=env.removeprefix("CLAIMS_").lower()):
        Settings()


def test_duplicate_cycles_and_survivors():
    links = {"b": "c", "c": "d"}
    assert duplicate_cycle("a", "b", links) is None
    assert duplicate_cycle("d", "b", links) == ["d", "b", "c", "d"]
    assert duplicate_cycle("a", "a", links) == ["a", "a"]
    assert survivor_of("b", links) == "d"
    assert survivor_of("x", links) == "x"


def test_readiness_judges_a_duplicate_on_its_survivor():
    policy = default_policy()
    lines = tuple(
        EvidenceFacts(s, s, Stance.SUPPORTS, Grade.parse(g), retracted=False) for s, g in (("a", "B2"), ("b", "C3"))
    )
    assessments = {
        "dupe": assess(ClaimFacts("dupe", Stage.REPORTED, ()), policy),
        "survivor": assess(ClaimFacts("survivor", Stage.CORROBORATED, lines), policy),
    }
    reqs = [Requirement("dupe", Stage.CORROBORATED)]
    assert readiness("act", "Act", reqs, assessments).ready is False
    followed = readiness("act", "Act", reqs, assessments, {"dupe": "survivor"})
    assert followed.ready is True
    assert followed.requirements[0].claim == "dupe"


# Floors: the figures measured on tests/data/similar_pairs.yaml (README, Similar claims), a little below.
FLOORS = {
    "wordllama": {"same": (0.9, 0.9), "related_or_same": (0.95, 0.9)},
    "lexical": {"same": (0.9, 0.9), "related_or_same": (0.8, 0.9)},
}


@pytest.mark.parametrize("model", ["wordllama", "lexical"])
def test_quality_on_the_labelled_pairs_stays_above_the_floors(model: str):
    result = measure(model, LIMITS)
    assert result["pairs"] >= 60
    for metric, (precision, recall) in FLOORS[model].items():
        assert result[metric]["precision"] >= precision, (metric, result[metric], result["misses"])
        assert result[metric]["recall"] >= recall, (metric, result[metric], result["misses"])


def test_the_xinjiang_pair_is_related_under_the_model():
    result = measure(
        "wordllama",
        LIMITS,
        [{"a": FACTORY, "b": "A plant in Xinjiang builds attack drones for Moscow.", "label": "related"}],
    )
    assert result["misses"] == []


def test_the_model_loads_from_its_package_with_no_network_and_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path):
    import socket

    from claims.services.similar import WordLlamaEmbedder

    def refuse(*_args: object, **_kw: object) -> None:
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    vectors = WordLlamaEmbedder().embed([FACTORY, "A plant in Xinjiang builds attack drones for Moscow."])
    assert vectors.shape == (2, 256)
    assert list(home.iterdir()) == []  # no cache, no download


def test_the_speed_bench_runs_and_finds_the_edited_claim():
    from bench.similar import measure as time_lookup

    result = time_lookup(300, repeats=1)
    assert result["met"] and result["found"] >= 1
