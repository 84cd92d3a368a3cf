"""One error type for everything the user can fix, so the CLI can print it as one paragraph."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class SbftError(Exception):
    """A problem in the user's input: what went wrong, where, and how to fix it.

    The CLI prints it as a single paragraph and exits with code 2, without a traceback.
    """

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what.rstrip(".")
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}." if self.where else f"{self.what}."
        return f"{text} {self.fix}" if self.fix else text


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The most similar valid name, for 'did you mean' hints (case does not count)."""
    by_lower = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    return by_lower[matches[0]] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A fix sentence that names the closest valid choice, or lists them all."""
    choices = sorted(choices)
    match = closest(name, choices)
    if match:
        return f"Did you mean '{match}'?"
    return "Valid choices: " + ", ".join(choices) + "."


def join_key(where: str, key: object) -> str:
    """`where` and a key below it, as a recipe path: datasets.sts + loss -> datasets.sts.loss."""
    return f"{where}.{key}" if where else str(key)


def did_you_mean_path(path: str | Path) -> str:
    """'Did you mean 'runs/quickstart'?' for a path whose folder holds a name close to its own; ''
    when nothing is close (or the folder itself is missing)."""
    path = Path(path)
    try:
        siblings = [entry.name for entry in (path.parent if str(path.parent) else Path(".")).iterdir()]
    except OSError:
        return ""
    match = closest(path.name, [name for name in siblings if not name.startswith(".")])
    return f"Did you mean '{path.with_name(match)}'?" if match and match != path.name else ""
