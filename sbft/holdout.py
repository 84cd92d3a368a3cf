"""A dev split held out of train (a dataset's `holdout: 0.1`), without leakage.

Rows that share a text (the same query with two answers, a sentence paired twice, an exact
duplicate) are one group, and a group goes whole to dev or whole to train: no text is seen in
training and then scored on dev, which would flatter the dev score and pick the wrong model. The
draw is seeded (HOLDOUT_SEED, not training.seed), so runs that change the training seed are scored
on the same dev rows.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError

if TYPE_CHECKING:
    from datasets import Dataset

HOLDOUT_SEED = 42
MIN_DEV_ROWS = 1


def hold_out(train: Dataset, fraction: float, columns: list[str], where: str) -> tuple[Dataset, Dataset]:
    """(train, dev): about `fraction` of train's rows in dev, whole groups of rows sharing a text."""
    groups = _groups([train[column] for column in columns if column in train.column_names], len(train))
    target = round(fraction * len(train))
    order = list(groups)
    random.Random(HOLDOUT_SEED).shuffle(order)
    dev_rows: list[int] = []
    for group in order:
        if len(dev_rows) >= target:
            break
        if len(dev_rows) + len(groups[group]) <= max(target, MIN_DEV_ROWS) + target // 10:
            dev_rows.extend(groups[group])
    if not dev_rows or len(dev_rows) == len(train):
        raise SbftError(
            f"cannot hold out {fraction:g} of the {len(train)} train rows as dev without a text in both: "
            "the rows share their texts too much",
            where=where,
            fix="Give a dev file instead (files: {dev: dev.csv}), or remove holdout.",
        )
    chosen = set(dev_rows)
    kept = [row for row in range(len(train)) if row not in chosen]
    return train.select(kept), train.select(sorted(dev_rows))


def _groups(columns: list[list[Any]], rows: int) -> dict[int, list[int]]:
    """Rows joined when they share a text (union-find over normalised texts): root -> its rows."""
    parent = list(range(rows))

    def root(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    first_row: dict[str, int] = {}
    for values in columns:
        for row, value in enumerate(values):
            for text in value if isinstance(value, list) else [value]:
                key = _normalised(text)
                if key in first_row:
                    parent[root(row)] = root(first_row[key])
                else:
                    first_row[key] = row
    groups: dict[int, list[int]] = {}
    for row in range(rows):
        groups.setdefault(root(row), []).append(row)
    return groups


def _normalised(text: Any) -> str:
    """The same text up to case and spacing (as the leakage check compares rows)."""
    return " ".join(str(text).split()).casefold()


def source_splits(wanted: tuple[str, ...], holdout: float | None) -> tuple[str, ...]:
    """The splits to read from the source: dev comes from train when it is held out."""
    if holdout is None:
        return wanted
    read = [split for split in wanted if split != "dev"]
    return (*read, "train") if "dev" in wanted and "train" not in read else tuple(read)


def with_holdout(
    raw: dict[str, Dataset], wanted: tuple[str, ...], holdout: float | None, columns: list[str], where: str
) -> dict[str, Dataset]:
    """The splits read, dev held out of train when the dataset asks for it (and only those wanted)."""
    if holdout is None or "train" not in raw:
        return raw
    train, dev = hold_out(raw["train"], holdout, columns, f"{where}.holdout")
    split = {**raw, "train": train, "dev": dev}
    return {name: data for name, data in split.items() if name in wanted}
