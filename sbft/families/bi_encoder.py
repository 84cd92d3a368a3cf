"""The bi-encoder family (SentenceTransformer): embeds each text alone, for search and similarity.

Its loss catalogue, its evaluators (chosen by the data's shape), and how to build each evaluator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sbft.families.record import EvaluatorShape, Family, LabelKind, LossInfo

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation import SentenceEvaluator

_PAIR_SCORE = "(sentence1, sentence2) + score"
_IN_BATCH = "(anchor, positive[, negative...]), no label"

LOSSES: dict[str, LossInfo] = {
    info.name: info
    for info in [
        LossInfo(
            "CoSENTLoss",
            _PAIR_SCORE,
            2,
            2,
            "score",
            "Ranks pairs by their similarity score; a strong default for STS-style data.",
        ),
        LossInfo(
            "AnglELoss",
            _PAIR_SCORE,
            2,
            2,
            "score",
            "CoSENT on angle differences; an alternative for STS-style data.",
        ),
        LossInfo(
            "CosineSimilarityLoss",
            _PAIR_SCORE,
            2,
            2,
            "score",
            "Regresses the cosine similarity onto the score, which must lie in 0..1.",
            label_range=(0.0, 1.0),
        ),
        LossInfo(
            "SoftmaxLoss",
            "(premise, hypothesis) + class",
            2,
            2,
            "class",
            "Classifies pairs (e.g. NLI entailment/neutral/contradiction).",
            filled=("embedding_dimension", "num_labels"),
        ),
        LossInfo(
            "ContrastiveLoss",
            "(sentence1, sentence2) + 0/1 label",
            2,
            2,
            "class",
            "Pulls similar pairs (1) together and pushes dissimilar ones (0) apart.",
            label_range=(0, 1),
        ),
        LossInfo(
            "OnlineContrastiveLoss",
            "(sentence1, sentence2) + 0/1 label",
            2,
            2,
            "class",
            "ContrastiveLoss on the hard pairs of each batch only; usually better.",
            label_range=(0, 1),
        ),
        LossInfo(
            "MultipleNegativesRankingLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "In-batch negatives for retrieval pairs; larger batches help.",
            in_batch_negatives=True,
        ),
        LossInfo(
            "CachedMultipleNegativesRankingLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "MultipleNegativesRankingLoss with gradient caching: huge batches, little memory.",
            in_batch_negatives=True,
        ),
        LossInfo(
            "MultipleNegativesSymmetricRankingLoss",
            "(anchor, positive), no label",
            2,
            2,
            None,
            "In-batch negatives in both directions (query->doc and doc->query).",
            in_batch_negatives=True,
        ),
        LossInfo(
            "CachedMultipleNegativesSymmetricRankingLoss",
            "(anchor, positive), no label",
            2,
            2,
            None,
            "The symmetric ranking loss with gradient caching.",
            in_batch_negatives=True,
        ),
        LossInfo(
            "GISTEmbedLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "In-batch negatives filtered by a guide model (args: guide: MODEL).",
            in_batch_negatives=True,
        ),
        LossInfo(
            "CachedGISTEmbedLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "GISTEmbedLoss with gradient caching (args: guide: MODEL).",
            in_batch_negatives=True,
        ),
        LossInfo(
            "MegaBatchMarginLoss",
            "(anchor, positive), no label",
            2,
            2,
            None,
            "Mines the hardest negative in a large batch.",
            in_batch_negatives=True,
        ),
        LossInfo(
            "TripletLoss",
            "(anchor, positive, negative), no label",
            3,
            3,
            None,
            "Anchor closer to positive than to negative by a margin.",
        ),
        LossInfo(
            "MarginMSELoss",
            "(query, positive, negative) + score margin",
            3,
            None,
            "score",
            "Distills a teacher's score margin between positive and negative.",
        ),
        LossInfo(
            "BatchAllTripletLoss",
            "(text) + class",
            1,
            1,
            "class",
            "All valid triplets within a batch of labelled texts.",
        ),
        LossInfo(
            "BatchHardTripletLoss",
            "(text) + class",
            1,
            1,
            "class",
            "Hardest positive and negative per text within a batch.",
        ),
        LossInfo(
            "BatchSemiHardTripletLoss",
            "(text) + class",
            1,
            1,
            "class",
            "Semi-hard negatives within a batch of labelled texts.",
        ),
        LossInfo(
            "BatchHardSoftMarginTripletLoss",
            "(text) + class",
            1,
            1,
            "class",
            "BatchHardTripletLoss with a soft margin (no margin to tune).",
        ),
        LossInfo(
            "MatryoshkaLoss",
            "as the inner loss",
            1,
            None,
            None,
            "Trains embeddings that stay good when truncated (args: matryoshka_dims).",
            wrapper=True,
        ),
        LossInfo(
            "Matryoshka2dLoss",
            "as the inner loss",
            1,
            None,
            None,
            "Matryoshka over dimensions and layers (args: matryoshka_dims).",
            wrapper=True,
        ),
        LossInfo(
            "AdaptiveLayerLoss",
            "as the inner loss",
            1,
            None,
            None,
            "Makes early layers useful on their own, for faster truncated models.",
            wrapper=True,
        ),
    ]
}


EVALUATORS = {
    "embedding-similarity": EvaluatorShape(2, ("score",)),
    "binary-classification": EvaluatorShape(2, ("class",)),
    "triplet": EvaluatorShape(3, (None,)),
    "information-retrieval": EvaluatorShape(2, (None,)),
}


def auto_evaluator(n_inputs: int, label: LabelKind, binary_labels: bool) -> str:
    """pair + score -> similarity; pair + 0/1 -> classification; triplets; (query, positive) -> retrieval."""
    if label is None:
        return "information-retrieval" if n_inputs == 2 else "triplet" if n_inputs >= 3 else "none"
    if n_inputs == 2 and label == "score":
        return "embedding-similarity"
    if n_inputs == 2 and label == "class" and binary_labels:
        return "binary-classification"
    return "none"


def make_evaluator(
    kind: str, columns: list[list[Any]], labels: list[Any] | None, common: dict[str, Any]
) -> SentenceEvaluator:
    from sentence_transformers.sentence_transformer import evaluation

    if kind == "embedding-similarity":
        return evaluation.EmbeddingSimilarityEvaluator(columns[0], columns[1], labels, **common)
    if kind == "binary-classification":
        return evaluation.BinaryClassificationEvaluator(columns[0], columns[1], labels, **common)
    if kind == "triplet":
        return evaluation.TripletEvaluator(columns[0], columns[1], columns[2], **common)
    return _retrieval_evaluator(columns, common)


def _retrieval_evaluator(columns: list[list[str]], common: dict[str, Any]) -> SentenceEvaluator:
    """(query, positive[, negatives...]) rows -> queries, a corpus of every document, relevance."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    query_ids: dict[str, str] = {}
    doc_ids: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for query, positive, *negatives in zip(*columns, strict=True):
        qid = query_ids.setdefault(query, f"q{len(query_ids)}")
        for doc in (positive, *negatives):
            doc_ids.setdefault(doc, f"d{len(doc_ids)}")
        relevant.setdefault(qid, set()).add(doc_ids[positive])
    return InformationRetrievalEvaluator(
        queries={qid: text for text, qid in query_ids.items()},
        corpus={did: text for text, did in doc_ids.items()},
        relevant_docs=relevant,
        **common,
    )


BI_ENCODER = Family(
    name="bi-encoder",
    model_class="SentenceTransformer",
    trainer_class="SentenceTransformerTrainer",
    arguments_class="SentenceTransformerTrainingArguments",
    loss_module="sentence_transformers.sentence_transformer.losses",
    saved_as="SentenceTransformer",
    losses=LOSSES,
    evaluators=EVALUATORS,
    auto_evaluator=auto_evaluator,
    make_evaluator=make_evaluator,
    model_fields=("pooling", "normalize"),
    makes_embeddings=True,
)
