"""The cross-encoder family (CrossEncoder): reads a pair together and scores it, for reranking.

Its loss catalogue (pointwise, in-batch and listwise losses), its evaluators, and how to build them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sbft.families.record import EvaluatorShape, Family, LabelKind, LossInfo

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation import SentenceEvaluator

_LISTWISE = "(query, [documents]) + [scores]"
_LISTWISE_NOTE = " The documents column holds a list per query, the label a list of relevance scores."

LOSSES: dict[str, LossInfo] = {
    info.name: info
    for info in [
        LossInfo(
            "BinaryCrossEntropyLoss",
            "(query, passage) + score in 0..1",
            2,
            2,
            "score",
            "Pointwise relevance or similarity: the default reranker loss.",
            label_range=(0.0, 1.0),
        ),
        LossInfo(
            "CrossEntropyLoss",
            "(sentence1, sentence2) + class",
            2,
            2,
            "class",
            "Classifies pairs into several classes (e.g. NLI); num_labels comes from the data.",
        ),
        LossInfo(
            "MSELoss",
            "(query, passage) + score",
            2,
            2,
            "score",
            "Regresses the model's score onto the label (e.g. a teacher's score).",
        ),
        LossInfo(
            "MarginMSELoss",
            "(query, positive, negative) + score margin",
            3,
            3,
            "score",
            "Distills a teacher's score margin between positive and negative.",
        ),
        LossInfo(
            "MultipleNegativesRankingLoss",
            "(query, positive[, negative...]), no label",
            2,
            None,
            None,
            "Other passages of the batch serve as negatives; only positive pairs needed.",
            in_batch_negatives=True,
        ),
        LossInfo(
            "CachedMultipleNegativesRankingLoss",
            "(query, positive[, negative...]), no label",
            2,
            None,
            None,
            "MultipleNegativesRankingLoss with gradient caching: more negatives, little memory.",
            in_batch_negatives=True,
        ),
        *(
            LossInfo(name, _LISTWISE, 2, 2, "scores", summary + _LISTWISE_NOTE, listwise=True)
            for name, summary in [
                ("LambdaLoss", "Listwise learning to rank that optimises NDCG directly."),
                ("ListNetLoss", "Listwise: matches the score distribution over each list."),
                ("ListMLELoss", "Listwise: likelihood of the correct ranking of each list."),
                ("PListMLELoss", "ListMLE with position weights: top ranks matter more."),
                ("RankNetLoss", "Pairwise ranking within each list."),
            ]
        ),
    ]
}


EVALUATORS = {
    "correlation": EvaluatorShape(2, ("score",), ("pearson", "spearman")),
    "classification": EvaluatorShape(
        2,
        ("class",),
        ("accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall", "average_precision"),
        multi_output_metrics=("f1_macro", "f1_micro", "f1_weighted"),
    ),
    "reranking": EvaluatorShape(2, (None, "scores"), ("map", "mrr@10", "ndcg@10")),
}


def auto_evaluator(n_inputs: int, label: LabelKind, binary_labels: bool) -> str:
    """pair + score -> correlation; pair + class -> classification; query + documents -> reranking."""
    if n_inputs == 2 and label in ("score", "class"):
        return "correlation" if label == "score" else "classification"
    return "reranking" if label in (None, "scores") else "none"


def make_evaluator(
    kind: str, columns: list[list[Any]], labels: list[Any] | None, common: dict[str, Any]
) -> SentenceEvaluator:
    from sentence_transformers.cross_encoder import evaluation

    if kind == "reranking":
        return evaluation.CrossEncoderRerankingEvaluator(_rerank_samples(columns, labels), **common)
    pairs = list(zip(columns[0], columns[1], strict=True))
    if kind == "correlation":
        return evaluation.CrossEncoderCorrelationEvaluator(pairs, labels, **common)
    return evaluation.CrossEncoderClassificationEvaluator(pairs, labels, **common)


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


CROSS_ENCODER = Family(
    name="cross-encoder",
    model_class="CrossEncoder",
    trainer_class="CrossEncoderTrainer",
    arguments_class="CrossEncoderTrainingArguments",
    loss_module="sentence_transformers.cross_encoder.losses",
    saved_as="CrossEncoder",
    losses=LOSSES,
    evaluators=EVALUATORS,
    auto_evaluator=auto_evaluator,
    make_evaluator=make_evaluator,
    model_fields=("num_labels",),
    makes_embeddings=False,
    adapter_task="SEQ_CLS",  # the classification head trains beside the adapter, and is saved with it
)
