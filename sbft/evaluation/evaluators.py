"""Choosing and running the evaluator that fits each dataset's shape.

Bi-encoders: pair + float score -> EmbeddingSimilarityEvaluator; pair + 0/1 label ->
BinaryClassificationEvaluator; (anchor, positive, negative) -> TripletEvaluator; (query,
positive) pairs -> InformationRetrievalEvaluator. Cross-encoders: pair + score ->
CrossEncoderCorrelationEvaluator; pair + class -> CrossEncoderClassificationEvaluator; query +
positive(s) + negatives or candidates -> CrossEncoderRerankingEvaluator. Several datasets ->
SequentialEvaluator.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sbft.data import LABEL, PreparedDataset
from sbft.errors import SbftError

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.base.evaluation import SentenceEvaluator


# evaluator -> (minimum input columns, label kind it reads, model type)
SHAPES: dict[str, tuple[int, str | None, str]] = {
    "embedding-similarity": (2, "score", "bi-encoder"),
    "binary-classification": (2, "class", "bi-encoder"),
    "triplet": (3, None, "bi-encoder"),
    "information-retrieval": (2, None, "bi-encoder"),
    "correlation": (2, "score", "cross-encoder"),
    "classification": (2, "class", "cross-encoder"),
    "reranking": (2, None, "cross-encoder"),
}


def evaluator_kind(prepared: PreparedDataset, split: str, override: str | None = None) -> str:
    """The evaluator asked for (override, then recipe), or the one that fits the data's shape."""
    chosen = override or prepared.spec.evaluator
    if chosen == "auto":
        chosen = _auto_kind(prepared, prepared.splits.get(split))
    if chosen == "none":
        return chosen
    min_inputs, label, model_type = SHAPES[chosen]
    n_inputs = len(prepared.inputs)
    label_ok = prepared.label_kind in ((None, "scores") if chosen == "reranking" else (label,))
    if model_type != prepared.model_type or n_inputs < min_inputs or not label_ok:
        has = f"a {prepared.label_kind} label" if prepared.has_label else "no label"
        raise SbftError(
            f"the {chosen} evaluator needs a {model_type}, {min_inputs} input columns and "
            f"{f'a {label} label' if label else 'no label'}, but the dataset '{prepared.name}' has "
            f"{n_inputs} input column(s) and {has}, for a {prepared.model_type}",
            where=f"datasets.{prepared.name}.evaluator",
            fix="Use 'auto' to pick the evaluator from the data's shape, or 'none'.",
        )
    return chosen


def _auto_kind(prepared: PreparedDataset, data: Dataset | None) -> str:
    n_inputs, label = len(prepared.inputs), prepared.label_kind
    if prepared.model_type == "cross-encoder":
        if n_inputs == 2 and label in ("score", "class"):
            return "correlation" if label == "score" else "classification"
        return "reranking" if label in (None, "scores") else "none"
    if label is None:
        return "information-retrieval" if n_inputs == 2 else "triplet" if n_inputs >= 3 else "none"
    if n_inputs == 2 and label == "score":
        return "embedding-similarity"
    if n_inputs == 2 and label == "class" and data is not None and set(data[LABEL]) <= {0, 1}:
        return "binary-classification"
    return "none"


def build_evaluator(
    datasets: dict[str, PreparedDataset], split: str, batch_size: int = 32, override: str | None = None
) -> SentenceEvaluator | None:
    """One evaluator over every dataset that has `split`; None when nothing can be evaluated."""
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

    evaluators = []
    for prepared in datasets.values():
        data = prepared.splits.get(split)
        if data is None:
            continue
        kind = evaluator_kind(prepared, split, override)
        if kind != "none":
            evaluators.append(_make(kind, data, prepared, batch_size))
    if not evaluators:
        return None
    return evaluators[0] if len(evaluators) == 1 else SequentialEvaluator(evaluators)


def _make(kind: str, data: Dataset, prepared: PreparedDataset, batch_size: int) -> SentenceEvaluator:
    from sentence_transformers.cross_encoder import evaluation as cross
    from sentence_transformers.sentence_transformer import evaluation as bi

    columns = [data[c] for c in prepared.inputs]
    labels = data[LABEL] if prepared.has_label else None
    common = {"name": prepared.name, "batch_size": batch_size, "write_csv": False}
    if kind == "embedding-similarity":
        return bi.EmbeddingSimilarityEvaluator(columns[0], columns[1], labels, **common)
    if kind == "binary-classification":
        return bi.BinaryClassificationEvaluator(columns[0], columns[1], labels, **common)
    if kind == "triplet":
        return bi.TripletEvaluator(columns[0], columns[1], columns[2], **common)
    if kind == "information-retrieval":
        return _retrieval_evaluator(columns, **common)
    pairs = list(zip(columns[0], columns[1], strict=True))
    if kind == "correlation":
        return cross.CrossEncoderCorrelationEvaluator(pairs, labels, **common)
    if kind == "classification":
        return cross.CrossEncoderClassificationEvaluator(pairs, labels, **common)
    return cross.CrossEncoderRerankingEvaluator(_rerank_samples(columns, labels), **common)


def _rerank_samples(columns: list[list], labels: list | None) -> list[dict[str, object]]:
    """Rows -> {query, positive, negative} samples for reranking.

    Listwise rows split their documents by score (> 0 is relevant); (query, positive[,
    negatives...]) rows use their negatives, or else the other rows' positives.
    """
    if labels is not None:
        return [
            {
                "query": query,
                "positive": [d for d, s in zip(docs, scores, strict=True) if s > 0],
                "negative": [d for d, s in zip(docs, scores, strict=True) if s <= 0],
            }
            for query, docs, scores in zip(columns[0], columns[1], labels, strict=True)
        ]
    samples = []
    positives = columns[1]
    for i, (query, positive, *negatives) in enumerate(zip(*columns, strict=True)):
        if not negatives:  # in-batch style: up to 9 other rows' positives as candidates
            others = positives[i + 1 :] + positives[:i]
            negatives = [d for d in others if d != positive][:9]
        samples.append({"query": query, "positive": [positive], "negative": negatives})
    return samples


def _retrieval_evaluator(
    columns: list[list[str]], name: str, batch_size: int, write_csv: bool
) -> SentenceEvaluator:
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
        write_csv=write_csv,
    )


def evaluate(
    evaluator: SentenceEvaluator | None, model: SentenceTransformer | CrossEncoder
) -> dict[str, float]:
    """Run an evaluator; only finite numeric metrics are kept (they end up in JSON)."""
    if evaluator is None:
        return {}
    results = evaluator(model)
    return {
        key: float(value)
        for key, value in results.items()
        if isinstance(value, (int, float)) and math.isfinite(value)
    }
