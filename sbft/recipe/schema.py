"""The recipe's schema: typed specs for the model, datasets, losses and evaluation, and the
rules that span their fields (each spec checks itself; `sbft eval` reuses the reading rules).

Pure Python: building and checking a recipe imports nothing heavy.

Why one module of this size: these dataclasses are the recipe's YAML schema, read field by field
by sbft.recipe.load, and the rules between their fields (a BEIR dataset takes no label, holdout
needs a train split and no dev file, merge_base ratios, prompts by column) sit beside the fields
they constrain. Split apart, a field and its rule would live in two files that always change
together. The row-shaping specs (mining, labelled candidates, holdout rules) are already their
own module, sbft.recipe.rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sbft.errors import SbftError, did_you_mean, join_key
from sbft.families import FAMILIES, Family, family
from sbft.files import FILE_FORMATS
from sbft.recipe.rows import NegativesSpec, PairsFromLabels, check_holdout
from sbft.recipe.tune import TuneSpec, check_tune
from sbft.wording import noun

SPLITS = ("train", "dev", "test")
QUERY, DOCUMENT = "query", "document"
"""The prompt roles, and the input columns of a BEIR dataset: (query, relevant document) rows."""
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


@dataclass
class ModelSpec:
    """The base model: a hub id, a saved sentence-transformers folder, or a plain transformer."""

    name: str
    type: str = "bi-encoder"
    """The model family: bi-encoder embeds each text alone (retrieval); cross-encoder scores a pair
    (reranking). See sbft.families."""
    pooling: str | None = None
    """Bi-encoder pooling for a plain transformer; None keeps a saved model's own (mean otherwise)."""
    normalize: bool | None = None
    """Add (true) or remove (false) a Normalize module; None keeps the model's own choice."""
    max_seq_length: int | None = None
    num_labels: int | None = None
    """Cross-encoder outputs; None: the number of classes for CrossEntropyLoss, else 1."""
    trust_remote_code: bool = False
    prompts: dict[str, str] | None = None
    """Texts put before the inputs, by role (query: the first column; document: the others) or by
    column name; used in training and evaluation, and saved with the model (`encode --prompt-name`)."""
    adapter: dict[str, Any] | None = None
    """Train a LoRA adapter instead of every weight: {method: lora, r: 16, alpha: 32, dropout: 0.05,
    target_modules: [...], merge: true} and any other field of peft's LoraConfig; {} takes the
    defaults. Checked against peft by `sbft check` (sbft.adapters); merge: false ships the adapter
    alone in model/."""

    @property
    def family(self) -> Family:
        return family(self.type)


@dataclass
class LossSpec:
    """A sentence-transformers loss by class name; wrappers (MatryoshkaLoss...) take an inner loss."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    inner: LossSpec | None = None


@dataclass
class DatasetSpec:
    """One dataset, its splits, the columns the loss sees (in order) and its loss."""

    columns: list[str] | dict[str, str] = field(default_factory=list)
    """Input columns in the order the loss expects; a mapping renames source -> new name.
    A BEIR dataset's columns are (query, document); they may be left out."""
    loss: LossSpec | None = None
    """Required to train on the dataset; a dataset without one is only evaluated."""
    files: dict[str, str] = field(default_factory=dict)
    """Local files per split (train/dev/test): csv, tsv, json, jsonl or parquet."""
    hub: str | None = None
    beir: str | None = None
    """A folder in BEIR layout: corpus.jsonl, queries.jsonl, qrels/{train,dev,test}.tsv. Train
    gives (query, relevant document) rows; dev and test are searched over the whole corpus."""
    subset: str | None = None
    splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"}
    )
    """For hub datasets: sbft split -> the hub's split name."""
    format: str | None = None
    loader_args: dict[str, Any] = field(default_factory=dict)
    """Passed straight to datasets.load_dataset (sep, names, quoting, header...)."""
    pairs_from_labels: PairsFromLabels | None = None
    """Read (query, candidate, 0/1 label) rows as (query, positive, negative...) rows first."""
    label: str | None = None
    label_range: list[float] | None = None
    """[low, high]: rescale the label linearly to 0..1 (e.g. [0, 5] for STS scores)."""
    max_samples: int | None = None
    """Keep at most this many rows of each split (the first ones)."""
    holdout: float | None = None
    """Hold out this fraction of train as the dev split (seeded; rows sharing a text stay together)."""
    evaluator: str = "auto"
    negatives: NegativesSpec | None = None
    """Negatives added to the train rows before training (`mine:` them with a model)."""

    @property
    def input_columns(self) -> list[str]:
        if self.beir and not self.columns:
            return [QUERY, DOCUMENT]
        return list(self.columns)

    @property
    def declared_splits(self) -> list[str]:
        """The splits the dataset has (a BEIR folder: those with a qrels file)."""
        if self.beir:
            qrels = Path(self.beir) / "qrels"
            return [split for split in SPLITS if (qrels / f"{split}.tsv").is_file()]
        declared = list(self.splits if self.hub else self.files)
        if self.holdout is not None:  # dev comes out of train
            return [*(split for split in declared if split != "dev"), "dev"]
        return declared

    @property
    def renames(self) -> dict[str, str]:
        return dict(self.columns) if isinstance(self.columns, dict) else {}

    def check_reading(self, where: str = "", columns_given: bool = True) -> None:
        """The rules on how the data is read: shared by recipes and `sbft eval`'s options.

        `columns_given` False: the columns and label are still to be guessed from the data.
        """
        if columns_given and not self.input_columns:
            raise SbftError(
                "no input columns given",
                where=join_key(where, "columns"),
                fix="List the text columns in the order the loss expects, e.g. [sentence1, sentence2].",
            )
        repeated = sorted({c for c in self.input_columns if self.input_columns.count(c) > 1})
        if repeated:
            raise SbftError(
                f"{noun(len(repeated), 'column')} {', '.join(repeated)} "
                f"{noun(len(repeated), 'is', 'are')} listed more than once",
                where=join_key(where, "columns"),
                fix="List each input column once, in the order the loss reads them.",
            )
        if self.label is not None and self.label in self.input_columns:
            raise SbftError(
                f"the label column '{self.label}' is also listed as an input column",
                where=join_key(where, "columns"),
                fix="Inputs are the text columns only; name the label column separately.",
            )
        if self.label_range is not None:
            if len(self.label_range) != 2 or not self.label_range[0] < self.label_range[1]:
                raise SbftError(
                    "label_range must be [low, high] with low < high",
                    where=join_key(where, "label_range"),
                    fix="For STS scores from 0 to 5: [0, 5].",
                )
            if self.label is None and columns_given:  # else the label is still to be guessed
                raise SbftError(
                    "label_range is set but no label column is named", where=join_key(where, "label")
                )
        if self.format is not None and self.format not in set(FILE_FORMATS.values()):
            raise SbftError(
                f"unknown format '{self.format}'",
                where=join_key(where, "format"),
                fix=did_you_mean(self.format, set(FILE_FORMATS.values())),
            )
        if self.max_samples is not None and self.max_samples <= 0:
            raise SbftError("max_samples must be positive", where=join_key(where, "max_samples"))
        if self.pairs_from_labels is not None:
            self.pairs_from_labels.check(join_key(where, "pairs_from_labels"), self)

    def check(self, where: str, model_family: Family) -> None:
        """Every rule of a recipe's dataset: its source, splits, reading, evaluator and loss."""
        from sbft.losses import check_loss_spec

        if sum(map(bool, (self.files, self.hub, self.beir))) != 1:
            raise SbftError(
                "give one source: 'files' (local files per split), 'hub' (a hub dataset id) or "
                "'beir' (a folder in BEIR layout)",
                where=where,
                fix="For local data: files: {train: train.csv, dev: dev.csv, test: test.csv}.",
            )
        if self.beir:
            self._check_beir(where, model_family)
        for split in [*self.files, *(self.splits if self.hub else ())]:
            if split not in SPLITS:
                raise SbftError(
                    f"unknown split '{split}'",
                    where=f"{where}.{'files' if self.files else 'splits'}.{split}",
                    fix=f"Splits are {', '.join(SPLITS)}. " + did_you_mean(split, SPLITS),
                )
        self.check_reading(where)
        if self.holdout is not None:
            check_holdout(self, where)
        if self.evaluator not in model_family.evaluator_names:
            raise SbftError(
                f"'{self.evaluator}' is not a {model_family.name} evaluator",
                where=f"{where}.evaluator",
                fix=did_you_mean(self.evaluator, model_family.evaluator_names),
            )
        if self.loss is not None:
            check_loss_spec(self.loss, self, where, model_family)
        if self.negatives is not None:
            self.negatives.check(f"{where}.negatives", self, model_family)

    def _check_beir(self, where: str, model_family: Family) -> None:
        """A BEIR folder has fixed columns, no label and no reader options; it is searched by embeddings."""
        if self.input_columns != [QUERY, DOCUMENT]:
            raise SbftError(
                f"a BEIR dataset's columns are {QUERY} and {DOCUMENT}, in that order",
                where=f"{where}.columns",
                fix="Leave 'columns' out, or rename them with a mapping: "
                f"{{{QUERY}: anchor, {DOCUMENT}: positive}}.",
            )
        for key in ("label", "label_range", "format", "subset"):
            if getattr(self, key) is not None:
                raise SbftError(f"'{key}' does not apply to a BEIR dataset", where=f"{where}.{key}")
        if self.loader_args:
            raise SbftError("'loader_args' does not apply to a BEIR dataset", where=f"{where}.loader_args")
        if not model_family.makes_embeddings:
            raise SbftError(
                f"a BEIR dataset is searched with embeddings, which a {model_family.name} does not make",
                where=f"{where}.beir",
                fix="Use model.type: bi-encoder, or give the (query, document) pairs as files.",
            )
        if self.evaluator not in ("auto", "none", "information-retrieval"):
            raise SbftError(
                f"a BEIR dataset is evaluated by information-retrieval, not '{self.evaluator}'",
                where=f"{where}.evaluator",
                fix="Leave 'evaluator' out (auto), or set it to none.",
            )


@dataclass
class PoolSpec:
    """The pooled dev corpus (evaluation.pool): for each dev query, its judged documents, the base
    model's `top_k` and BM25's `bm25_top_k`, plus `random` documents of the corpus (seeded)."""

    top_k: int = 100
    bm25_top_k: int = 100
    random: int = 1000


POOL_AUTO = "auto"


@dataclass
class EvaluationSpec:
    """What gets evaluated outside of training itself."""

    baseline: bool = True
    """Evaluate the base model on dev (and test) before training."""
    test: bool = True
    keep: Literal["best", "last"] = "best"
    """best: save the model with the best dev score, the base model included; last: the last one."""
    metric: str | None = None
    """The dev metric that decides the best model (e.g. wikiqa_cosine_ndcg@10); None: the mean of
    each dev set's main metric (sequential_score)."""
    patience: int | None = None
    """Stop when the deciding metric has not improved for this many evaluations."""
    dims: list[int] | None = None
    """Also evaluate embeddings truncated to these sizes (metrics suffixed _dim128...); by default
    the dimensions of a MatryoshkaLoss."""
    merge_base: Literal["auto"] | list[float] | None = None
    """Guard against forgetting: after training, mix base and fine-tuned weights at these ratios
    (the fine-tuned model's weight, between 0 and 1; auto: 0.25, 0.5, 0.75), score each mix on dev
    and ship the best, the base (0) and the fine-tuned model (1) included. None: off."""
    encode_backend: Literal["auto", "torch"] = "auto"
    """How a run encodes its corpora on a CPU (base model, mining, every evaluation): auto: a corpus
    of 10,000 documents or more through a throw-away fp32 ONNX export of the weights being scored
    (1.1-2.4x torch's rate, by text length and CPU; embeddings within 1e-5 of torch's); torch:
    always torch."""
    pool: Any = POOL_AUTO
    """Dev retrieval over a pool of the corpus instead of all of it: auto (when a dev corpus has
    more than 50,000 documents), false (never; YAML's `off` too), true (always, default sizes) or
    {top_k, bm25_top_k, random} (always, these sizes). Test is always scored over the whole corpus."""

    @property
    def pool_spec(self) -> PoolSpec | Literal["auto"] | None:
        """The pool asked for: its sizes (forced on), auto (default sizes, by corpus size), None (off)."""
        if self.pool == POOL_AUTO:
            return POOL_AUTO
        if self.pool is True:
            return PoolSpec()
        if isinstance(self.pool, dict):
            return PoolSpec(**self.pool)
        return None


@dataclass
class Recipe:
    model: ModelSpec
    datasets: dict[str, DatasetSpec]
    name: str = "run"
    output_dir: str | None = None
    """Run folder, relative to the working directory; default runs/<name>."""
    training: dict[str, Any] = field(default_factory=dict)
    """Any field of SentenceTransformerTrainingArguments."""
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    tune: TuneSpec | None = None
    """`sbft tune`'s search space and study settings (sbft.recipe.tune); `sbft train` ignores it."""
    source: Path | None = field(default=None, metadata={"internal": True})
    written: dict[tuple[str, ...], str] = field(default_factory=dict, metadata={"internal": True})
    """Every text of the recipe as written, by key path, before ${VAR} and folders resolved it."""
    variables: dict[str, str] = field(default_factory=dict, metadata={"internal": True})
    """The environment variables the recipe read, and their values (secret ones left out)."""

    @property
    def family(self) -> Family:
        return self.model.family

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir or f"runs/{self.name}")

    @property
    def evaluation_dims(self) -> list[int]:
        """Embedding sizes to evaluate besides the full one: evaluation.dims, else a MatryoshkaLoss's."""
        if self.evaluation.dims is not None:
            return list(self.evaluation.dims)
        found: list[int] = []
        for dataset in self.datasets.values():
            spec = dataset.loss
            while spec is not None:
                if spec.name in ("MatryoshkaLoss", "Matryoshka2dLoss"):
                    found += [d for d in spec.args.get("matryoshka_dims", []) if d not in found]
                spec = spec.inner
        return found

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe, every default filled in, as plain YAML-able data."""
        data = dataclasses.asdict(self)
        for internal in ("source", "written", "variables"):
            data.pop(internal)
        return data


def column_prompts(prompts: dict[str, str] | None, columns: list[str]) -> dict[str, str]:
    """The prompt of each input column: its own name's, else its role's (the first column is the query)."""
    found = {}
    for position, column in enumerate(columns):
        prompt = (prompts or {}).get(column, (prompts or {}).get(QUERY if position == 0 else DOCUMENT))
        if prompt is not None:
            found[column] = prompt
    return found


def check_recipe(recipe: Recipe) -> None:
    """Rules that span fields: what the type hints alone cannot say."""
    _check_name(recipe.name)
    model_family = _check_model(recipe.model)
    if not recipe.datasets:
        raise SbftError("the recipe names no datasets", where="datasets", fix="Add at least one dataset.")
    for name, dataset in recipe.datasets.items():
        dataset.check(f"datasets.{name}", model_family)
    if all(dataset.loss is None for dataset in recipe.datasets.values()):
        raise SbftError(
            "no dataset has a loss, so there is nothing to train on",
            where="datasets",
            fix="Give the dataset to train on a loss, e.g. 'loss: CoSENTLoss' for scored pairs "
            "(`sbft losses` lists them); datasets without one are only evaluated.",
        )
    _check_evaluation(recipe.evaluation)
    _check_prompts(recipe)
    check_tune(recipe)


def _check_evaluation(evaluation: EvaluationSpec) -> None:
    if evaluation.patience is not None and evaluation.patience < 1:
        raise SbftError("patience must be at least 1 evaluation", where="evaluation.patience")
    for index, dim in enumerate(evaluation.dims or []):
        if dim < 1:
            raise SbftError(f"{dim} is not an embedding size", where=f"evaluation.dims[{index}]")
    if evaluation.metric is not None and not evaluation.metric.strip():
        raise SbftError("the metric name is empty", where="evaluation.metric")
    _check_merge_base(evaluation.merge_base)
    _check_pool(evaluation.pool)


def _check_pool(pool: Any) -> None:
    """auto, true/false, or a mapping of non-negative whole numbers that leaves more than the judged
    documents in the pool (a pool of those alone would score every model as perfect)."""
    where, fields = "evaluation.pool", [f.name for f in dataclasses.fields(PoolSpec)]
    fix = "Use auto, false, true, or e.g. {top_k: 100, bm25_top_k: 100, random: 1000}."
    if pool == POOL_AUTO or isinstance(pool, bool):
        return
    if not isinstance(pool, dict):
        shown = f"the string {pool!r}" if isinstance(pool, str) else repr(pool)
        raise SbftError(f"expected auto, true, false or a mapping, got {shown}", where=where, fix=fix)
    for key, value in pool.items():
        if key not in fields:
            raise SbftError(
                f"unknown key '{key}'", where=join_key(where, str(key)), fix=did_you_mean(str(key), fields)
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SbftError(
                f"expected a whole number of documents (0 or more), got {value!r}",
                where=join_key(where, key),
                fix=fix,
            )
    if not any(PoolSpec(**pool).__dict__.values()):
        raise SbftError(
            "the pool would hold the judged documents only, which every model ranks perfectly",
            where=where,
            fix="Give top_k, bm25_top_k or random a number above 0, or set pool: false.",
        )


def _check_merge_base(ratios: str | list[float] | None) -> None:
    """Ratios are the fine-tuned model's weight in a mix: strictly between the base (0) and it (1)."""
    if ratios is None or ratios == "auto":
        return
    fix = "Give ratios between 0 and 1, e.g. [0.25, 0.5, 0.75] (auto), or remove merge_base."
    if not ratios:
        raise SbftError("merge_base lists no ratio", where="evaluation.merge_base", fix=fix)
    for ratio in ratios:
        if not 0 < ratio < 1:  # NaN fails this too
            ends = (
                " (0 is the base model, 1 the fine-tuned one: both compete without being listed)"
                if ratio in (0, 1)
                else ""
            )
            raise SbftError(
                f"the ratio {ratio:g} is not strictly between 0 and 1{ends}",
                where="evaluation.merge_base",
                fix=fix,
            )
    if len(set(ratios)) != len(ratios):
        raise SbftError("a ratio is listed twice", where="evaluation.merge_base", fix="List each ratio once.")


def _check_prompts(recipe: Recipe) -> None:
    """Prompt keys are roles (query, document) or input columns: anything else is a typo."""
    columns = {
        renamed
        for dataset in recipe.datasets.values()
        for renamed in (dataset.renames.get(c, c) for c in dataset.input_columns)
    }
    for key in recipe.model.prompts or {}:
        if key not in (QUERY, DOCUMENT) and key not in columns:
            raise SbftError(
                f"'{key}' is neither a prompt role ({QUERY}, {DOCUMENT}) nor an input column",
                where=f"model.prompts.{key}",
                fix=did_you_mean(key, [QUERY, DOCUMENT, *sorted(columns)]),
            )


def _check_name(name: str) -> None:
    """The run's name becomes a folder under runs/: a name, never a path."""
    if not name.strip() or name in (".", "..") or any(sep in name for sep in ("/", "\\", "\0")):
        raise SbftError(
            f"the name {name!r} is not a plain name",
            where="name",
            fix="Use letters, digits, '-' or '_'; the run folder itself is set by 'output_dir' (-o).",
        )


def _check_model(model: ModelSpec) -> Family:
    model_family = family(model.type)
    for key in sorted(
        {key for f in FAMILIES.values() for key in f.model_fields} - set(model_family.model_fields)
    ):
        if getattr(model, key) is not None:
            owners = [f.name for f in FAMILIES.values() if key in f.model_fields]
            raise SbftError(
                f"'{key}' applies to {' and '.join(owners)}s only, and model.type is {model_family.name}",
                where=f"model.{key}",
                fix=f"Remove '{key}', or set 'model.type: {owners[0]}'.",
            )
    if model.pooling is not None and model.pooling not in POOLING_MODES:
        raise SbftError(
            f"unknown pooling '{model.pooling}'",
            where="model.pooling",
            fix=did_you_mean(model.pooling, POOLING_MODES),
        )
    if model.max_seq_length is not None and model.max_seq_length <= 0:
        raise SbftError("max_seq_length must be positive", where="model.max_seq_length")
    return model_family
