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


_RETRIEVAL_METRICS = {"accuracy": (1, 3, 5, 10), "precision": (1, 10, 100), "recall": (1, 10, 100)}
_RETRIEVAL_METRICS |= {"mrr": (10,), "ndcg": (10,), "map": (100,)}
"""The cut-offs families.retrieval.RETRIEVAL_CUTOFFS asks for, by metric (tests compare the two)."""

EVALUATORS = {
    "embedding-similarity": EvaluatorShape(2, ("score",), ("pearson_{sim}", "spearman_{sim}")),
    "binary-classification": EvaluatorShape(
        2,
        ("class",),
        (
            "{sim}_accuracy",
            "{sim}_accuracy_threshold",
            "{sim}_f1",
            "{sim}_f1_threshold",
            "{sim}_precision",
            "{sim}_recall",
            "{sim}_ap",
            "{sim}_mcc",
        ),
    ),
    "triplet": EvaluatorShape(3, (None,), ("{sim}_accuracy",)),
    "information-retrieval": EvaluatorShape(
        2, (None,), tuple(f"{{sim}}_{m}@{k}" for m, cuts in _RETRIEVAL_METRICS.items() for k in cuts)
    ),
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
    kind: str,
    columns: list[list[Any]],
    labels: list[Any] | None,
    common: dict[str, Any],
    *,
    prompts: list[str | None] | None = None,
    corpus: dict[str, str] | None = None,
    queries: dict[str, str] | None = None,
    qrels: dict[str, dict[str, int]] | None = None,
) -> SentenceEvaluator:
    """The evaluator `kind` on a split's columns; information-retrieval searches `corpus` for
    `queries` judged by `qrels` when given, else a corpus made of the rows' documents.

    `prompts` (one per column, None for none) go before the texts as in training: the retrieval
    evaluator takes them as its query and corpus prompts, the others read the prompted texts.
    """
    from sentence_transformers.sentence_transformer import evaluation

    prompts = prompts or [None] * len(columns)
    if kind == "information-retrieval":
        from sbft.families.retrieval import CorpusRetrievalEvaluator

        if corpus is None:
            queries, corpus, qrels = _judged_rows(columns)
        return CorpusRetrievalEvaluator(
            queries, corpus, qrels, query_prompt=prompts[0], corpus_prompt=prompts[1], **common
        )
    columns = [
        [f"{prompt}{text}" for text in column] if prompt else column
        for column, prompt in zip(columns, prompts, strict=True)
    ]
    if kind == "embedding-similarity":
        return evaluation.EmbeddingSimilarityEvaluator(columns[0], columns[1], labels, **common)
    if kind == "binary-classification":
        return evaluation.BinaryClassificationEvaluator(columns[0], columns[1], labels, **common)
    return evaluation.TripletEvaluator(columns[0], columns[1], columns[2], **common)


def _judged_rows(
    columns: list[list[str]],
) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(query, positive[, negatives...]) rows -> queries, a corpus of every document, grade 1 per positive."""
    query_ids: dict[str, str] = {}
    doc_ids: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for query, positive, *negatives in zip(*columns, strict=True):
        qid = query_ids.setdefault(query, f"q{len(query_ids)}")
        for doc in (positive, *negatives):
            doc_ids.setdefault(doc, f"d{len(doc_ids)}")
        qrels.setdefault(qid, {})[doc_ids[positive]] = 1
    return (
        {qid: text for text, qid in query_ids.items()},
        {did: text for text, did in doc_ids.items()},
        qrels,
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
    model_fields=("pooling", "normalize", "prompts"),
    makes_embeddings=True,
    adapter_task="FEATURE_EXTRACTION",
)
