"""Shared pieces of the parser fuzz tests: the example budget and JSON mutation strategies.

CI runs each property with CALLCUE_FUZZ_EXAMPLES examples (default 300, a few seconds per test); set it
higher for a deeper run, e.g. `CALLCUE_FUZZ_EXAMPLES=20000 scripts/test.sh tests/fuzz`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = max(1, int(os.environ.get("CALLCUE_FUZZ_EXAMPLES", "300")))


def fuzz_settings(share: float = 1.0) -> settings:
    """`share` of the budget (some properties are ten times dearer per example than others)."""
    return settings(max_examples=max(10, round(EXAMPLES * share)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# Values a hostile or broken peer sends: wrong types, huge and odd strings, deep nesting.
ODD_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "\x00", "\u2028", "null", "NaN", "-1", "1e309", "2026-02-30T25:61:00Z",
                     "2026-11-02T09:30:00", "2026-11-02T09:30:00+08:00", "坐席", "🙂" * 10, "a" * 5000,
                     "13800138000", "+86 138 0013 8000"]),
)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=False, allow_infinity=False), ODD_TEXT)
JSON_VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=6)


def node_paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (dict keys and list indexes) to a node below `value`."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from node_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from node_paths(child, (*prefix, index))


MUTATIONS = ("delete", "replace", "null", "wrap", "stringify", "empty")


def mutate(document: Any, path: tuple, how: str, value: Any) -> Any:
    """A deep copy of `document` with the node at `path` deleted, replaced by `value`, nulled, wrapped in a
    list, turned into its string form, or emptied."""
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    old = parent[key]
    if how == "delete":
        del parent[key]
    elif how == "replace":
        parent[key] = value
    elif how == "null":
        parent[key] = None
    elif how == "wrap":
        parent[key] = [old]
    elif how == "stringify":
        parent[key] = str(old)
    else:
        parent[key] = type(old)() if isinstance(old, list | dict | str) else 0
    return result


@st.composite
def mutated(draw, document: Any, max_mutations: int = 3) -> Any:
    """`document` with 1 to `max_mutations` mutations, each at a node that still exists."""
    current = document
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = list(node_paths(current))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        current = mutate(current, path, draw(st.sampled_from(MUTATIONS)), draw(JSON_VALUES))
    return current
