"""The loss catalogue: what each supported loss needs from the data, and how to build it.

The catalogue is plain data (no torch), so recipes are checked against it instantly; the
classes themselves come from sentence-transformers when a model exists to attach them to.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sbft.errors import SbftError, did_you_mean

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from torch import nn

    from sbft.recipe import DatasetSpec, LossSpec

LabelKind = Literal["score", "class", "scores"] | None
"""score: one float per row; class: one integer; scores: a list of floats (listwise losses)."""


@dataclass(frozen=True)
class LossInfo:
    name: str
    inputs: str
    """The input columns, in order, as a reader would name them."""
    min_inputs: int
    max_inputs: int | None
    label: LabelKind
    summary: str
    label_range: tuple[float, float] | None = None
    wrapper: bool = False
    filled: tuple[str, ...] = ()
    """Arguments sbft fills in from the model or the data."""
    listwise: bool = False
    """The second input column holds a list of documents per query."""


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
        ),
        LossInfo(
            "CachedMultipleNegativesRankingLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "MultipleNegativesRankingLoss with gradient caching: huge batches, little memory.",
        ),
        LossInfo(
            "MultipleNegativesSymmetricRankingLoss",
            "(anchor, positive), no label",
            2,
            2,
            None,
            "In-batch negatives in both directions (query->doc and doc->query).",
        ),
        LossInfo(
            "CachedMultipleNegativesSymmetricRankingLoss",
            "(anchor, positive), no label",
            2,
            2,
            None,
            "The symmetric ranking loss with gradient caching.",
        ),
        LossInfo(
            "GISTEmbedLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "In-batch negatives filtered by a guide model (args: guide: MODEL).",
        ),
        LossInfo(
            "CachedGISTEmbedLoss",
            _IN_BATCH,
            2,
            None,
            None,
            "GISTEmbedLoss with gradient caching (args: guide: MODEL).",
        ),
        LossInfo(
            "MegaBatchMarginLoss",
            "(anchor, positive), no label",
            2,
            2,
            None,
            "Mines the hardest negative in a large batch.",
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


_LISTWISE = "(query, [documents]) + [scores]"
_LISTWISE_NOTE = " The documents column holds a list per query, the label a list of relevance scores."

CROSS_ENCODER_LOSSES: dict[str, LossInfo] = {
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
        ),
        LossInfo(
            "CachedMultipleNegativesRankingLoss",
            "(query, positive[, negative...]), no label",
            2,
            None,
            None,
            "MultipleNegativesRankingLoss with gradient caching: more negatives, little memory.",
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

MODEL_TYPES = ("bi-encoder", "cross-encoder")
_CATALOGUES = {"bi-encoder": LOSSES, "cross-encoder": CROSS_ENCODER_LOSSES}
LOSS_MODULES = {
    "bi-encoder": "sentence_transformers.sentence_transformer.losses",
    "cross-encoder": "sentence_transformers.cross_encoder.losses",
}


def catalogue(model_type: str = "bi-encoder") -> dict[str, LossInfo]:
    """The losses a recipe of this model type accepts: one source for validation and docs."""
    return _CATALOGUES[model_type]


def effective_info(spec: LossSpec, model_type: str = "bi-encoder") -> LossInfo:
    """The info that decides data shape: a wrapper's shape is that of its inner loss."""
    losses = catalogue(model_type)
    info = losses[spec.name]
    while info.wrapper and spec.inner is not None:
        spec = spec.inner
        info = losses[spec.name]
    return info


def check_loss_spec(
    spec: LossSpec, dataset: DatasetSpec, dataset_where: str, model_type: str = "bi-encoder"
) -> None:
    """Check a loss against the catalogue and the dataset's declared columns (no heavy imports)."""
    where = f"{dataset_where}.loss"
    _check_loss_name(spec, where, model_type)
    while spec.inner is not None:
        where += ".inner"
        spec = spec.inner
        _check_loss_name(spec, where, model_type)
    info = catalogue(model_type)[spec.name]
    n_inputs = len(dataset.input_columns)
    too_many = info.max_inputs is not None and n_inputs > info.max_inputs
    if n_inputs < info.min_inputs or too_many:
        raise SbftError(
            f"{spec.name} expects inputs {info.inputs}, but {n_inputs} input column(s) are "
            f"listed ({', '.join(dataset.input_columns)})",
            where=f"{dataset_where}.columns",
            fix="List exactly the text columns the loss needs, in its order, or choose another "
            "loss (`sbft losses`).",
        )
    if info.label is not None and dataset.label is None:
        raise SbftError(
            f"{spec.name} needs a {info.label} label ({info.inputs}), but no label column is named",
            where=f"{dataset_where}.label",
            fix="Add 'label: <column>' to the dataset.",
        )
    if info.label is None and dataset.label is not None:
        raise SbftError(
            f"{spec.name} takes no label ({info.inputs}), but 'label: {dataset.label}' is set",
            where=f"{dataset_where}.label",
            fix="Remove 'label', or choose a loss that uses one (`sbft losses`).",
        )


def _check_loss_name(spec: LossSpec, where: str, model_type: str) -> None:
    losses = catalogue(model_type)
    if spec.name not in losses:
        other = next((t for t in MODEL_TYPES if t != model_type and spec.name in catalogue(t)), None)
        if other:
            raise SbftError(
                f"{spec.name} is a {other} loss, but model.type is {model_type}",
                where=f"{where}.name",
                fix=f"Set 'model.type: {other}', or choose a {model_type} loss: " + ", ".join(losses) + ".",
            )
        raise SbftError(
            f"unknown loss '{spec.name}'",
            where=f"{where}.name",
            fix=did_you_mean(spec.name, losses) + " `sbft losses` lists them all.",
        )
    info = losses[spec.name]
    if info.wrapper != (spec.inner is not None):
        raise SbftError(
            f"{spec.name} {'wraps another loss: add' if info.wrapper else 'takes no'} 'inner'",
            where=where,
            fix="For example: loss: {name: MatryoshkaLoss, args: {matryoshka_dims: [384, 128]}, "
            "inner: MultipleNegativesRankingLoss}"
            if info.wrapper
            else None,
        )


def check_loss_args(spec: LossSpec, where: str, model_type: str = "bi-encoder") -> type:
    """Every argument in the recipe is one the loss class takes (checked before a model loads)."""
    import importlib

    if spec.inner is not None:
        check_loss_args(spec.inner, f"{where}.inner", model_type)
    loss_class = getattr(importlib.import_module(LOSS_MODULES[model_type]), spec.name)
    signature = inspect.signature(loss_class.__init__).parameters
    if any(param.kind == param.VAR_KEYWORD for param in signature.values()):
        return loss_class  # open-ended: the class itself checks
    accepted = [name for name in signature if name not in ("self", "model", "loss")]
    for key in spec.args:
        if key not in accepted:
            raise SbftError(
                f"{spec.name} does not take the argument '{key}'",
                where=f"{where}.args.{key}",
                fix=f"It takes: {', '.join(accepted)}. " + did_you_mean(key, accepted),
            )
    return loss_class


def build_loss(
    spec: LossSpec,
    model: SentenceTransformer | CrossEncoder,
    train: Dataset | None,
    where: str,
    model_type: str = "bi-encoder",
) -> nn.Module:
    """Instantiate a loss, filling in what comes from the model or the data."""
    loss_class = check_loss_args(spec, where, model_type)
    kwargs: dict[str, Any] = dict(spec.args)
    if spec.inner is not None:
        kwargs["loss"] = build_loss(spec.inner, model, train, f"{where}.inner", model_type)
    if spec.name == "SoftmaxLoss":
        kwargs.setdefault("embedding_dimension", model.get_embedding_dimension())
        if train is not None:
            kwargs.setdefault("num_labels", len(set(train["label"])))
    if spec.name in ("GISTEmbedLoss", "CachedGISTEmbedLoss") and isinstance(kwargs.get("guide"), str):
        from sbft.models import load_model

        kwargs["guide"] = load_model(kwargs["guide"])
    try:
        return loss_class(model, **kwargs)
    except (TypeError, ValueError) as exc:
        raise SbftError(f"cannot build {spec.name}: {exc}", where=f"{where}.args") from None
