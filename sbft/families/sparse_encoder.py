"""The sparse-encoder family (SparseEncoder): a weight per vocabulary token (SPLADE) or per latent
feature (CSR), most of them zero, for inverted-index search and readable term weights.

Its loss catalogue (SpladeLoss and CSRLoss wrapping a sparse ranking or similarity loss), its
evaluators (sentence-transformers' sparse ones, which report active dimensions and sparsity
beside the scores), and how to build each evaluator.
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
            "SpladeLoss",
            "as the inner loss",
            1,
            None,
            None,
            "SPLADE: the inner loss plus FLOPS regularizers that keep query and document vectors "
            "sparse (args: document_regularizer_weight, e.g. 3e-5, query_regularizer_weight, e.g. 5e-5). "
            "Needs a masked-language-model head (MLMTransformer + SpladePooling).",
            wrapper=True,
            needs_head="fill-mask",
        ),
        LossInfo(
            "CSRLoss",
            "as the inner loss",
            1,
            None,
            None,
            "Contrastive Sparse Representation: a sparse autoencoder on a dense model's embedding, "
            "trained to rebuild it (args: beta, gamma). sbft adds the autoencoder to a bi-encoder.",
            wrapper=True,
        ),
        LossInfo(
            "SparseMultipleNegativesRankingLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "In-batch negatives for retrieval pairs, on sparse vectors (dot product).",
            in_batch_negatives=True,
        ),
        LossInfo(
            "SparseCoSENTLoss",
            _PAIR_SCORE,
            2,
            2,
            "score",
            "Ranks pairs by their similarity score, on sparse vectors.",
        ),
        LossInfo(
            "SparseMarginMSELoss",
            "(query, positive, negative) + score margin",
            3,
            3,
            "score",
            "Distills a teacher's score margin between positive and negative.",
        ),
    ]
}

_SPARSITY = ("active_dims", "sparsity_ratio")
_RETRIEVAL = tuple(
    f"dot_{metric}@{k}"
    for metric, cuts in {
        "accuracy": (1, 3, 5, 10),
        "precision": (1, 10, 100),
        "recall": (1, 10, 100),
        "mrr": (10,),
        "ndcg": (10,),
        "map": (100,),
    }.items()
    for k in cuts
)

EVALUATORS = {
    "embedding-similarity": EvaluatorShape(2, ("score",), ("pearson_dot", "spearman_dot", *_SPARSITY)),
    "triplet": EvaluatorShape(3, (None,), ("dot_accuracy", *_SPARSITY)),
    "information-retrieval": EvaluatorShape(
        2,
        (None,),
        (
            *_RETRIEVAL,
            *(f"{side}_{stat}" for side in ("query", "corpus") for stat in _SPARSITY),
            "avg_flops",
        ),
    ),
}
"""Sparse vectors are compared by dot product alone: the metric names say 'dot' whatever the model."""


def auto_evaluator(n_inputs: int, label: LabelKind, binary_labels: bool) -> str:
    """pair + score -> similarity; triplets; (query, positive) -> retrieval."""
    if label is None:
        return "information-retrieval" if n_inputs == 2 else "triplet" if n_inputs >= 3 else "none"
    return "embedding-similarity" if n_inputs == 2 and label == "score" else "none"


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
    """The sparse evaluator `kind`; information-retrieval searches `corpus` for `queries` judged
    by `qrels` (graded, as BEIR scores) when given, else a corpus made of the rows' documents."""
    from sentence_transformers.sparse_encoder import evaluation

    from sbft.families.bi_encoder import _judged_rows as judged_rows

    prompts = prompts or [None] * len(columns)
    if kind == "information-retrieval":
        from sbft.families.sparse_retrieval import SparseCorpusRetrievalEvaluator

        if corpus is None:
            queries, corpus, qrels = judged_rows(columns)
        from sentence_transformers.util import dot_score

        return SparseCorpusRetrievalEvaluator(
            queries,
            corpus,
            qrels,
            query_prompt=prompts[0],
            corpus_prompt=prompts[1],
            score_functions={"dot": dot_score},
            main_score_function="dot",
            **common,
        )
    columns = [
        [f"{prompt}{text}" for text in column] if prompt else column
        for column, prompt in zip(columns, prompts, strict=True)
    ]
    if kind == "embedding-similarity":
        return evaluation.SparseEmbeddingSimilarityEvaluator(
            columns[0], columns[1], labels, similarity_fn_names=["dot"], **common
        )
    return evaluation.SparseTripletEvaluator(
        columns[0], columns[1], columns[2], similarity_fn_names=["dot"], **common
    )


SPARSE_ENCODER = Family(
    name="sparse-encoder",
    model_class="SparseEncoder",
    trainer_class="SparseEncoderTrainer",
    arguments_class="SparseEncoderTrainingArguments",
    loss_module="sentence_transformers.sparse_encoder.losses",
    saved_as="SparseEncoder",
    losses=LOSSES,
    evaluators=EVALUATORS,
    auto_evaluator=auto_evaluator,
    make_evaluator=make_evaluator,
    model_fields=("prompts",),
    makes_embeddings=True,
    sparse=True,
)
