"""Source lineage: a source that repeats another is not an independent line."""

from __future__ import annotations

from collections.abc import Mapping

from claims.domain.errors import LineageCycle


def resolve_roots(derived_from: Mapping[str, str | None]) -> dict[str, str]:
    """Map every source key to the end of its `derived_from` chain.

    Raises LineageCycle naming the loop. A `derived_from` pointing at a key that is not in
    the mapping is treated as a root of its own (the caller validates unknown keys).
    """
    roots: dict[str, str] = {}
    for start in derived_from:
        path: list[str] = []
        seen: set[str] = set()
        node = start
        while node not in roots:
            if node in seen:
                loop = [*path[path.index(node) :], node]
                raise LineageCycle(f"derived_from: cycle in source lineage {' -> '.join(loop)}")
            seen.add(node)
            path.append(node)
            parent = derived_from.get(node)
            if parent is None or parent not in derived_from:
                roots[node] = node
                break
            node = parent
        root = roots[node]
        for visited in path:
            roots[visited] = root
    return roots


def independent_roots(source_keys: list[str] | set[str], roots: Mapping[str, str]) -> set[str]:
    """Distinct lineage roots among the given sources: the number of independent lines."""
    return {roots.get(key, key) for key in source_keys}
