"""Candidates labelled 1/0 per query (raw WikiQA's shape) made into ranking rows: (query, positive)
with the same query's label-0 candidates as hard negatives (the recipe's `pairs_from_labels`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sbft.errors import SbftError

if TYPE_CHECKING:
    from datasets import Dataset

    from sbft.recipe import PairsFromLabels


def pairs_from_labels(data: Dataset, source: PairsFromLabels, where: str) -> Dataset:
    """(query, candidate, 0/1 label) rows -> (query, positive[, negative...]) rows for a ranking loss.

    Each candidate labelled 1 is a positive, one row each; the same query's label-0 candidates
    (grouped by the query's text: its ids may be row numbers) are its hard negatives, used in
    turn before any repeats. A query without label-0 candidates borrows those of the next query
    that has some, so no positive is lost; queries without a positive are left out.
    """
    from datasets import Dataset

    missing = [c for c in (source.query, source.document, source.label) if c not in data.column_names]
    if missing:
        raise SbftError(
            f"column(s) {', '.join(missing)} not found; the data has {', '.join(data.column_names)}",
            where=where,
            fix="Name the query, candidate and 0/1 label columns under pairs_from_labels.",
        )
    positives: dict[str, list[str]] = {}
    negatives: dict[str, list[str]] = {}
    rows = zip(data[source.query], data[source.document], data[source.label], strict=True)
    for row, (query, document, label) in enumerate(rows, start=1):
        if not isinstance(query, str) or not isinstance(document, str):
            raise SbftError(
                f"row {row} has no text in '{source.query}' or '{source.document}'",
                where=where,
                fix="Fill or drop the row; for a raw TSV with stray quotes, read it with "
                "loader_args: {quoting: 3}.",
            )
        if isinstance(label, bool) or label not in (0, 1):
            raise SbftError(
                f"row {row} of '{source.label}' holds {label!r}; candidates are labelled 1 (relevant) or 0",
                where=where,
                fix="Check that pairs_from_labels.label names the 0/1 column.",
            )
        positives.setdefault(query, [])
        (positives[query] if label == 1 else negatives.setdefault(query, [])).append(document)
    if not any(positives.values()):
        raise SbftError(f"no candidate is labelled 1 in '{source.label}'", where=where)
    if source.hard_negatives and not negatives:
        raise SbftError(
            f"no candidate is labelled 0 in '{source.label}', so there are no hard negatives",
            where=where,
            fix="Set pairs_from_labels.hard_negatives: 0 to train on (query, positive) pairs.",
        )
    columns: dict[str, list[str]] = {name: [] for name in source.columns}
    query_column, positive_column, *negative_columns = source.columns
    own_or_next = _own_or_next(list(positives), negatives)
    for query, documents in positives.items():
        pool = own_or_next[query]
        for index, document in enumerate(documents):
            columns[query_column].append(query)
            columns[positive_column].append(document)
            for offset, name in enumerate(negative_columns):
                columns[name].append(pool[(index * len(negative_columns) + offset) % len(pool)])
    return Dataset.from_dict(columns)


def _own_or_next(queries: list[str], negatives: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each query's label-0 candidates, or else those of the next query (cyclically) that has some."""
    found: dict[str, list[str]] = {}
    following: list[str] = []
    for query in reversed(queries + queries):  # the second copy, walked first, lets the last query wrap
        following = negatives.get(query) or following
        found[query] = following
    return found
