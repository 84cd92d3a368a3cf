"""The shape of a model family: the facts that differ between bi-encoders and cross-encoders.

Everything else in sbft (recipes, data, the run folder, the CLI) is shared and asks the recipe's
family instead of comparing type strings. Plain data: importing it costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sentence_transformers.base.evaluation import SentenceEvaluator

LabelKind = Literal["score", "class", "scores"] | None
"""score: one float per row; class: one integer; scores: a list of floats (listwise losses)."""


@dataclass(frozen=True)
class LossInfo:
    """What a loss reads from the data, for validation, `sbft losses` and `sbft init`."""

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
    in_batch_negatives: bool = False
    """The other rows of a batch serve as negatives: batches must hold no duplicates."""
    needs_head: str | None = None
    """The head the model must have, as transformers' pipeline names it ('fill-mask': SpladeLoss
    reads a masked-language model's token logits); `sbft check` reads it from the model's config."""


SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")
"""The similarity functions a bi-encoder can declare (sentence-transformers' SimilarityFunction)."""


@dataclass(frozen=True)
class EvaluatorShape:
    """What an evaluator needs from a dataset (at least `min_inputs` columns and one of `labels`),
    and the metrics it reports: `sbft check` knows their names without loading a model."""

    min_inputs: int
    labels: tuple[LabelKind, ...]
    metrics: tuple[str, ...] = ()
    """The names it reports, after the dataset's name and '_' (sts_spearman_cosine); {sim} stands
    for the model's similarity function (cosine, dot...)."""
    multi_output_metrics: tuple[str, ...] | None = None
    """The names instead when the model has several outputs (a cross-encoder's class head)."""

    def metric_names(self, dataset: str, similarity: str | None = "cosine", outputs: int = 1) -> list[str]:
        """The metric names an evaluation of `dataset` reports; `similarity` None: not known (every
        similarity function's names)."""
        templates = (
            self.metrics if outputs == 1 or self.multi_output_metrics is None else self.multi_output_metrics
        )
        names = []
        for similarity_name in SIMILARITIES if similarity is None else (similarity,):
            names += [f"{dataset}_{t.format(sim=similarity_name)}" for t in templates]
        return list(dict.fromkeys(names))


EvaluatorFactory = Callable[..., "SentenceEvaluator"]
"""(evaluator name, input columns, labels or None, common keyword arguments) -> evaluator; a
bi-encoder's also takes prompts and a corpus to search (see families.bi_encoder.make_evaluator)."""


@dataclass(frozen=True, eq=False)  # one record per family: identity is equality
class Family:
    """One model family of sentence-transformers, as sbft uses it.

    Classes are named, not imported, so recipes are checked without loading torch; `classes()`
    imports them when a model is really built.
    """

    name: str
    """As written in recipes: `model.type`."""
    model_class: str
    trainer_class: str
    arguments_class: str
    loss_module: str
    saved_as: str
    """The `model_type` that sentence-transformers writes in config_sentence_transformers.json."""
    losses: Mapping[str, LossInfo]
    evaluators: Mapping[str, EvaluatorShape]
    auto_evaluator: Callable[[int, LabelKind, bool], str]
    """(input columns, label kind, labels are 0/1) -> the evaluator that fits, or 'none'."""
    make_evaluator: EvaluatorFactory
    model_fields: tuple[str, ...]
    """The optional `model:` recipe fields that apply to this family only."""
    makes_embeddings: bool
    adapter_task: str = "FEATURE_EXTRACTION"
    """peft's TaskType for an adapter on this family's transformer (SEQ_CLS also trains a head)."""
    sparse: bool = False
    """Embeddings are sparse vectors (a weight per token or latent feature): written as {key: weight}
    or .npz, searched by dot product, and kept out of the tools built on dense vectors (the dev
    pool, mining with the base model)."""

    @property
    def evaluator_names(self) -> tuple[str, ...]:
        return ("auto", "none", *self.evaluators)

    def import_class(self, which: Literal["model", "trainer", "arguments"]) -> type:
        """The sentence-transformers class (imports the library)."""
        import sentence_transformers

        return getattr(sentence_transformers, getattr(self, f"{which}_class"))

    def loss_class(self, name: str) -> type:
        return getattr(importlib.import_module(self.loss_module), name)
