"""Words that agree with their numbers: "1 step", "2 steps", "1 process", "2 processes"."""

from __future__ import annotations


def noun(count: float, singular: str, plural: str | None = None) -> str:
    """`singular` for a count of exactly one, else `plural` (default: `singular` + "s")."""
    return singular if count == 1 else plural or f"{singular}s"
