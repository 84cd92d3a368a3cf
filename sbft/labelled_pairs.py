"""Candidates labelled 1/0 per query (raw WikiQA's shape) made into ranking rows: (query, positive)
with label-0 candidates of the same query, drawn at random, as hard negatives (the recipe's
`pairs_from_labels`)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sbft.errors import SbftError
from sbft.wording import noun

if TYPE_CHECKING:
    from datasets import Dataset

    from sbft.recipe import PairsFromLabels


@dataclass
class LabelledPairs:
    """The rows made, and what was left out: the plan prints it."""

    rows: Dataset
    positives: int
    """Candidates labelled 1 (of queries kept or not)."""
    dropped: int
    """Positives left out: their query has fewer label-0 candidates than hard_negatives."""
    hard_negatives: int
    seed: int

    def summary(self) -> str:
        """One line for the plan: rows made, rows dropped and why, how negatives were drawn."""
        made = f"{len(self.rows)} {noun(len(self.rows), 'row')} from {self.positives} label-1 candidates"
        if not self.hard_negatives:
            return f"{made} (no negatives)"
        each = f"{self.hard_negatives} {noun(self.hard_negatives, 'negative')}"
        dropped = (
            f"; {self.dropped} dropped: their query has fewer than {self.hard_negatives} label-0 "
            f"{noun(self.hard_negatives, 'candidate')} of its own"
            if self.dropped
            else ""
        )
        drawn = f"drawn at random (seed {self.seed}) from the query's label-0 candidates"
        return f"{made}, {each} each {drawn}{dropped}"


def pairs_from_labels(data: Dataset, source: PairsFromLabels, where: str) -> LabelledPairs:
    """(query, candidate, 0/1 label) rows -> (query, positive[, negative...]) rows for a ranking loss.

    Each candidate labelled 1 is a positive, one row each, with `hard_negatives` different label-0
    candidates of the same query (grouped by the query's text: its ids may be row numbers), drawn
    at random with `source.seed` for each row: in file order the first negative is the paragraph's
    first sentence, often a near-answer, and it trained a worse model on WikiQA (README,
    "Retrieval"). A row whose query has too few label-0 candidates is dropped (and counted), not
    given another query's: those are easy negatives that say nothing about the query.
    """
    from datasets import Dataset

    positives, negatives = _candidates(data, source, where)
    if not any(positives.values()):
        raise SbftError(f"no candidate is labelled 1 in '{source.label}'", where=where)
    wanted = source.hard_negatives
    if wanted and not any(
        len(negatives.get(query, ())) >= wanted for query, docs in positives.items() if docs
    ):
        raise SbftError(
            f"no query with a label-1 candidate has {wanted} label-0 {noun(wanted, 'candidate')} in "
            f"'{source.label}', so there are no hard negatives",
            where=where,
            fix="Lower pairs_from_labels.hard_negatives (0 trains on (query, positive) pairs).",
        )
    columns: dict[str, list[str]] = {name: [] for name in source.columns}
    query_column, positive_column, *negative_columns = source.columns
    rng = random.Random(source.seed)
    dropped = 0
    for query, documents in positives.items():
        pool = negatives.get(query, [])
        for document in documents:
            if len(pool) < wanted:
                dropped += 1
                continue
            columns[query_column].append(query)
            columns[positive_column].append(document)
            for name, negative in zip(negative_columns, rng.sample(pool, wanted), strict=True):
                columns[name].append(negative)
    return LabelledPairs(
        rows=Dataset.from_dict(columns),
        positives=sum(map(len, positives.values())),
        dropped=dropped,
        hard_negatives=wanted,
        seed=source.seed,
    )


def _candidates(
    data: Dataset, source: PairsFromLabels, where: str
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per query (in file order), its label-1 and its label-0 candidates, each in file order."""
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
    return positives, negatives
