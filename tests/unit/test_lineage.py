"""Source lineage: roots, independent lines, cycles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims.domain import LineageCycle, independent_roots, resolve_roots


def test_chain_resolves_to_its_end():
    roots = resolve_roots({"blog": "newswire", "newswire": "reuters", "reuters": None})
    assert roots == {"blog": "reuters", "newswire": "reuters", "reuters": "reuters"}


def test_a_derived_source_is_not_a_second_line():
    roots = resolve_roots({"eeas-intel": None, "diplomats": "eeas-intel", "reuters": None})
    assert independent_roots({"eeas-intel", "diplomats"}, roots) == {"eeas-intel"}
    assert independent_roots(["eeas-intel", "diplomats", "reuters"], roots) == {"eeas-intel", "reuters"}


def test_two_sources_repeating_the_same_root_count_once():
    roots = resolve_roots({"a": None, "b": "a", "c": "b", "d": "a"})
    assert independent_roots({"b", "c", "d"}, roots) == {"a"}


def test_parent_outside_the_mapping_is_treated_as_a_root():
    assert resolve_roots({"x": "elsewhere"}) == {"x": "x"}


def test_cycle_raises_naming_the_loop():
    with pytest.raises(LineageCycle) as caught:
        resolve_roots({"a": "b", "b": "c", "c": "a"})
    message = str(caught.value)
    assert message.startswith("derived_from: ")
    assert "a -> b -> c -> a" in message


def test_cycle_message_names_only_the_loop_not_the_tail_leading_into_it():
    with pytest.raises(LineageCycle) as caught:
        resolve_roots({"tail": "a", "a": "b", "b": "a"})
    assert "a -> b -> a" in str(caught.value)
    assert "tail" not in str(caught.value)


def test_self_loop_is_a_cycle():
    with pytest.raises(LineageCycle, match="x -> x"):
        resolve_roots({"ok": None, "x": "x"})


@st.composite
def forests(draw: st.DrawFn) -> dict[str, str | None]:
    """Acyclic lineages: each source derives from an earlier one or from nothing."""
    size = draw(st.integers(1, 12))
    names = [f"s{i}" for i in range(size)]
    return {name: draw(st.one_of(st.none(), st.sampled_from(names[:i]))) if i else None for i, name in enumerate(names)}


@given(forests())
def test_every_source_shares_its_parents_root_and_roots_derive_from_nothing(lineage: dict[str, str | None]):
    roots = resolve_roots(lineage)
    assert roots.keys() == lineage.keys()
    for source, parent in lineage.items():
        assert lineage[roots[source]] is None
        if parent is not None:
            assert roots[source] == roots[parent]
        else:
            assert roots[source] == source
