"""sbft.wording: nouns that agree with their counts."""

from __future__ import annotations

import pytest

from sbft.wording import noun


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "steps"), (1, "step"), (1.0, "step"), (2, "steps"), (0.5, "steps"), (1.5, "steps")],
)
def test_noun(count, expected):
    assert noun(count, "step") == expected


def test_irregular_plural():
    assert noun(1, "process", "processes") == "process" and noun(4, "process", "processes") == "processes"
