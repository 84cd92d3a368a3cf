"""Choosing and running the evaluator that fits each dataset's shape.

pair + float score -> EmbeddingSimilarityEvaluator; pair + 0/1 label -> BinaryClassificationEvaluator;
(anchor, positive, negative) -> TripletEvaluator; (query, positive) pairs ->
InformationRetrievalEvaluator; several datasets -> SequentialEvaluator.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sbft.data import LABEL, PreparedDataset
from sbft.errors import SbftError

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.evaluation import SentenceEvaluator


def evaluator_kind(prepared: PreparedDataset, split: str) -> str:
    """The evaluator the recipe asks for, or the one that fits the data ('none' if none does)."""
    chosen = prepared.spec.evaluator
    n_inputs = len(prepared.inputs)
    data = prepared.splits.get(split)
    if chosen == "auto":
        if prepared.has_label:
            if n_inputs != 2:
                chosen = "none"
            elif prepared.label_kind == "score":
                chosen = "embedding-similarity"
            elif data is not None and set(data[LABEL]) <= {0, 1}:
                chosen = "binary-classification"
            else:
                chosen = "none"
        else:
            chosen = "information-retrieval" if n_inputs == 2 else "triplet" if n_inputs >= 3 else "none"
    needs = {
        "embedding-similarity": (2, True),
        "binary-classification": (2, True),
        "triplet": (3, False),
        "information-retrieval": (2, False),
    }
    if chosen in needs:
        min_inputs, needs_label = needs[chosen]
        if n_inputs < min_inputs or needs_label != prepared.has_label:
            raise SbftError(
                f"the {chosen} evaluator needs {min_inputs} input columns"
                f"{' and a label' if needs_label else ' and no label'}, but the dataset has "
                f"{n_inputs} input column(s){' and a label' if prepared.has_label else ''}",
                where=f"datasets.{prepared.name}.evaluator",
                fix="Use 'evaluator: auto' to pick one from the data's shape, or 'none'.",
            )
    return chosen


def build_evaluator(
    datasets: dict[str, PreparedDataset], split: str, batch_size: int = 32
) -> SentenceEvaluator | None:
    """One evaluator over every dataset that has `split`; None when nothing can be evaluated."""
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

    evaluators = []
    for prepared in datasets.values():
        data = prepared.splits.get(split)
        if data is None:
            continue
        kind = evaluator_kind(prepared, split)
        if kind != "none":
            evaluators.append(_make(kind, data, prepared, batch_size))
    if not evaluators:
        return None
    return evaluators[0] if len(evaluators) == 1 else SequentialEvaluator(evaluators)


def _make(kind: str, data: Dataset, prepared: PreparedDataset, batch_size: int) -> SentenceEvaluator:
    from sentence_transformers.sentence_transformer import evaluation

    columns = [data[c] for c in prepared.inputs]
    name = prepared.name
    if kind == "embedding-similarity":
        return evaluation.EmbeddingSimilarityEvaluator(
            columns[0], columns[1], data[LABEL], batch_size=batch_size, name=name, write_csv=False
        )
    if kind == "binary-classification":
        return evaluation.BinaryClassificationEvaluator(
            columns[0], columns[1], data[LABEL], batch_size=batch_size, name=name, write_csv=False
        )
    if kind == "triplet":
        return evaluation.TripletEvaluator(
            columns[0], columns[1], columns[2], batch_size=batch_size, name=name, write_csv=False
        )
    return _retrieval_evaluator(columns, name, batch_size)


def _retrieval_evaluator(columns: list[list[str]], name: str, batch_size: int) -> SentenceEvaluator:
    """(query, positive[, negatives...]) rows -> queries, a corpus of every document, relevance."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    query_ids: dict[str, str] = {}
    doc_ids: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for row in zip(*columns, strict=True):
        query, positive, *negatives = row
        qid = query_ids.setdefault(query, f"q{len(query_ids)}")
        for doc in (positive, *negatives):
            doc_ids.setdefault(doc, f"d{len(doc_ids)}")
        relevant.setdefault(qid, set()).add(doc_ids[positive])
    return InformationRetrievalEvaluator(
        queries={qid: text for text, qid in query_ids.items()},
        corpus={did: text for text, did in doc_ids.items()},
        relevant_docs=relevant,
        batch_size=batch_size,
        name=name,
        write_csv=False,
    )


def evaluate(evaluator: SentenceEvaluator | None, model: SentenceTransformer) -> dict[str, float]:
    """Run an evaluator; only finite numeric metrics are kept (they end up in JSON)."""
    if evaluator is None:
        return {}
    results = evaluator(model)
    return {
        key: float(value)
        for key, value in results.items()
        if isinstance(value, (int, float)) and math.isfinite(value)
    }
