"""Choosing and running the evaluator that fits each dataset's shape.

Which evaluators exist, which shape each needs and how to build one is the model family's
(sbft.families); here they are chosen per dataset and combined: several datasets ->
SequentialEvaluator.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sbft.data import LABEL, PreparedDataset
from sbft.errors import SbftError, closest
from sbft.recipe import column_prompts
from sbft.wording import noun

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.base.evaluation import SentenceEvaluator


def evaluator_kind(prepared: PreparedDataset, split: str, override: str | None = None) -> str:
    """The evaluator asked for (override, then recipe), or the one that fits the data's shape."""
    family = prepared.family
    chosen = override or prepared.spec.evaluator
    if chosen == "auto":
        data = prepared.splits.get(split)
        binary = prepared.label_kind == "class" and data is not None and set(data[LABEL]) <= {0, 1}
        chosen = family.auto_evaluator(len(prepared.inputs), prepared.label_kind, binary)
    if chosen == "none":
        return chosen
    shape = family.evaluators.get(chosen)
    n_inputs = len(prepared.inputs)
    if shape is None or n_inputs < shape.min_inputs or prepared.label_kind not in shape.labels:
        needs = (
            f"{shape.min_inputs} input columns and "
            + " or ".join(f"a {label} label" if label else "no label" for label in shape.labels)
            if shape
            else "another model type"
        )
        has = f"a {prepared.label_kind} label" if prepared.has_label else "no label"
        raise SbftError(
            f"the {chosen} evaluator needs {needs}, but the dataset '{prepared.name}' has "
            f"{n_inputs} input {noun(n_inputs, 'column')} and {has}, for a {family.name}",
            where=f"datasets.{prepared.name}.evaluator",
            fix="Use 'auto' to pick the evaluator from the data's shape, or 'none'.",
        )
    return chosen


def build_evaluator(
    datasets: dict[str, PreparedDataset],
    split: str,
    batch_size: int = 32,
    override: str | None = None,
    *,
    prompts: dict[str, str] | None = None,
    dims: list[int] | None = None,
    corpora: dict[str, dict[str, str]] | None = None,
) -> SentenceEvaluator | None:
    """One evaluator over every dataset that has `split`; None when nothing can be evaluated.

    `prompts` (model.prompts: by role or column) go before the texts as in training; `dims` adds
    each dataset's metrics at those truncated sizes. Several datasets score the mean of their
    main metrics (`sequential_score`). `corpora` replaces a BEIR dataset's corpus by name (its
    dev pool, sbft.evaluation.pool).
    """
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

    evaluators = []
    for prepared in datasets.values():
        data = prepared.splits.get(split)
        if data is None:
            continue
        kind = evaluator_kind(prepared, split, override)
        if kind == "none":
            continue
        corpus = (corpora or {}).get(prepared.name, prepared.corpus)
        evaluator = _make(prepared, kind, split, batch_size, prompts, corpus)
        if dims:
            from sbft.evaluation.truncation import Truncations

            evaluator = Truncations(evaluator, dims)
        evaluators.append(evaluator)
    if not evaluators:
        return None
    if len(evaluators) == 1:
        return evaluators[0]
    return SequentialEvaluator(evaluators, main_score_function=mean)


def _make(
    prepared: PreparedDataset,
    kind: str,
    split: str,
    batch_size: int,
    prompts: dict[str, str] | None,
    corpus: dict[str, str] | None,
) -> SentenceEvaluator:
    data = prepared.splits[split]
    columns = [data[c] for c in prepared.inputs]
    labels = data[LABEL] if prepared.has_label else None
    common = {"name": prepared.name, "batch_size": batch_size, "write_csv": False}
    extras: dict[str, Any] = {}
    if prompts:
        by_column = column_prompts(prompts, prepared.inputs)
        extras["prompts"] = [by_column.get(c) for c in prepared.inputs]
    if corpus is not None and kind == "information-retrieval":
        judged = prepared.retrieval[split]
        extras.update(corpus=corpus, queries=judged.queries, qrels=judged.qrels)
    return prepared.family.make_evaluator(kind, columns, labels, common, **extras)


def retrieval_evaluators(evaluator: Any) -> dict[str, Any]:
    """The corpus retrieval evaluators inside `evaluator` (sequences, truncations), by dataset name."""
    if evaluator is None:
        return {}
    if hasattr(evaluator, "given_corpus_embeddings"):
        return {evaluator.name: evaluator}
    found: dict[str, Any] = {}
    for inner in [*getattr(evaluator, "evaluators", []), getattr(evaluator, "inner", None)]:
        found.update(retrieval_evaluators(inner))
    return found


@contextlib.contextmanager
def given_corpus_embeddings(evaluator: Any, rows: dict[str, Callable[[list[str]], Any]]) -> Iterator[None]:
    """Within the block, the retrieval evaluators of the datasets in `rows` read their corpus
    embeddings from it (document ids -> rows) instead of encoding the corpus: for the base model,
    whose corpus embeddings a run computes once."""
    with contextlib.ExitStack() as stack:
        for name, inner in retrieval_evaluators(evaluator).items():
            if name in rows:
                stack.enter_context(inner.given_corpus_embeddings(rows[name]))
        yield


def corpus_encoder(
    label: str, batch_size: int, progress: bool = True, twin: bool = False
) -> Callable[[str], Callable[..., Any]]:
    """For each retrieval dataset: (model, texts, prompt_name, prompt) -> its corpus embeddings,
    encoded as `sbft encode` does, with a progress report ("evaluating dev (wikiqa)") if `progress`
    (`twin`: through an ONNX twin of the checkpoint when the corpus is large, see encode_corpus)."""

    def for_dataset(name: str) -> Callable[..., Any]:
        def encode(model: Any, texts: list[str], prompt_name: str | None, prompt: str | None) -> Any:
            from sbft.inference.corpus import encode_corpus
            from sbft.inference.encoder import EncodeOptions

            options = EncodeOptions(batch_size=batch_size, prompt=prompt, prompt_name=prompt_name)
            return encode_corpus(
                model,
                texts,
                options,
                role="document",
                label=f"{label} ({name})" if progress else None,
                twin=twin,
            )

        return encode

    return for_dataset


def encode_documents_with(evaluator: Any, encoder: Callable[[str], Callable[..., Any] | None]) -> None:
    """The retrieval evaluators inside `evaluator` encode their corpus with `encoder(dataset name)`
    (see CorpusRetrievalEvaluator.document_encoder): the checkpoints' evaluations of a run get
    sbft's token-sorted encode and a labelled progress report, not a silent model.encode."""
    for name, inner in retrieval_evaluators(evaluator).items():
        inner.document_encoder = encoder(name)


def check_metric_name(deciding: str | None, available: list[str]) -> None:
    """The metric that picks the best model (evaluation.metric) is one the dev evaluation reports.

    `available`: the names an evaluation showed; nothing is said before one has.
    """
    if deciding is None or not available or deciding.removeprefix("eval_") in available:
        return
    shown = sorted(name for name in available if "_dim" not in name and not name.endswith("_loss"))
    raise SbftError(
        f"the dev evaluation reports no metric '{deciding}'",
        where="evaluation.metric",
        fix=(f"Did you mean '{match}'? " if (match := closest(deciding, available)) else "")
        + f"The dev metrics are: {', '.join(shown)}.",
    )


def mean(scores: list[float]) -> float:
    """The dev score of several datasets: the mean of their main metrics."""
    return sum(scores) / len(scores)


def evaluate(
    evaluator: SentenceEvaluator | None, model: SentenceTransformer | CrossEncoder
) -> dict[str, float]:
    """Run an evaluator; only finite numeric metrics are kept (they end up in JSON)."""
    if evaluator is None:
        return {}
    return finite(evaluator(model))


def numeric(results: dict[str, Any]) -> dict[str, float]:
    """Every numeric metric as a float, NaN included: `sbft eval` shows an undefined score (constant
    or NaN embeddings) as nan instead of dropping it silently."""
    return {key: float(value) for key, value in results.items() if isinstance(value, (int, float))}


def finite(results: dict[str, Any]) -> dict[str, float]:
    """Only finite numeric metrics, as floats (they end up in JSON)."""
    return {
        key: float(value)
        for key, value in results.items()
        if isinstance(value, (int, float)) and math.isfinite(value)
    }
