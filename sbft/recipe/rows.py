"""Specs that change which rows a dataset trains on: hard negatives mined before training, and
(query, positive[, negative]) rows made from candidates labelled 1/0 (raw WikiQA's shape)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sbft.errors import SbftError, did_you_mean, join_key
from sbft.wording import noun

if TYPE_CHECKING:
    from sbft.families import Family
    from sbft.recipe.schema import DatasetSpec


@dataclass
class MineSpec:
    """Hard negatives mined before training with sentence-transformers' `mine_hard_negatives`.

    Each (query, positive) row gets `num` negatives: corpus documents ranked `range_min` to
    `range_max` for the query, minus those scored too close to the positive (likely false
    negatives; see the margins).
    """

    num: int = 3
    range_min: int = 0
    """Skip the closest documents: the very closest are often unlabelled positives."""
    range_max: int | None = None
    """Consider documents up to this rank; None lets sentence-transformers choose (num x 10 and more)."""
    relative_margin: float | None = 0.05
    """Keep a negative only if its score is at least this fraction of the positive's below it."""
    absolute_margin: float | None = None
    """Keep a negative only if its score is at least this much below the positive's."""
    sampling: Literal["top", "random"] = "top"
    """top: the highest-ranked candidates that pass; random: any that pass."""
    model: str | None = None
    """The model that mines; None: the recipe's base model."""
    rescore_with: str | None = None
    """A cross-encoder that rescores the candidates before the margins apply."""

    def check(self, where: str) -> None:
        """The numbers make a window that can hold `num` negatives; rescoring has a margin to serve."""
        if self.num < 1:
            raise SbftError("num must be at least 1", where=join_key(where, "num"))
        if self.sampling not in ("top", "random"):
            raise SbftError(
                f"unknown sampling '{self.sampling}'",
                where=join_key(where, "sampling"),
                fix=did_you_mean(self.sampling, ("top", "random")),
            )
        if self.range_min < 0:
            raise SbftError("range_min cannot be negative", where=join_key(where, "range_min"))
        if self.range_max is not None and self.range_max - self.range_min < self.num:
            raise SbftError(
                f"ranks {self.range_min} to {self.range_max} cannot hold {self.num} negatives",
                where=join_key(where, "range_max"),
                fix=f"Set range_max to at least range_min + num ({self.range_min + self.num}), "
                "or leave it out.",
            )
        if self.relative_margin is not None and not 0 <= self.relative_margin < 1:
            raise SbftError(
                "relative_margin is a fraction from 0 to below 1 (0.05: 5% below the positive's score)",
                where=join_key(where, "relative_margin"),
            )
        if self.absolute_margin is not None and self.absolute_margin < 0:
            raise SbftError("absolute_margin cannot be negative", where=join_key(where, "absolute_margin"))
        if self.rescore_with is not None and self.relative_margin is None and self.absolute_margin is None:
            raise SbftError(
                "rescore_with needs a margin: the cross-encoder's scores only decide which candidates "
                "are too close to the positive",
                where=join_key(where, "rescore_with"),
                fix="Set relative_margin (e.g. 0.05) or absolute_margin, or remove rescore_with.",
            )


@dataclass
class NegativesSpec:
    """Negatives added to a dataset's (query, positive) train rows before training."""

    mine: MineSpec | None = None

    def check(self, where: str, dataset: DatasetSpec, model_family: Family) -> None:
        """Mining serves (query, positive) rows of a loss that reads (anchor, positive, negative...)."""
        from sbft.losses import effective_info

        if self.mine is None:
            return
        self.mine.check(f"{where}.mine")
        if dataset.loss is None:
            raise SbftError(
                "negatives are mined for training, and this dataset has no loss",
                where=f"{where}.mine",
                fix="Remove 'negatives', or give the dataset a loss such as MultipleNegativesRankingLoss.",
            )
        if len(dataset.input_columns) != 2 or dataset.label is not None:
            raise SbftError(
                "mining adds negatives to (query, positive) rows, so the dataset lists exactly those "
                f"two columns and no label (it has {', '.join(dataset.input_columns)}"
                + (f" and label '{dataset.label}')" if dataset.label else ")"),
                where=f"{where}.mine",
                fix="List only the query and positive columns, or remove 'negatives'.",
            )
        info = effective_info(dataset.loss, model_family)
        width = 2 + self.mine.num
        if info.label is not None or (info.max_inputs is not None and info.max_inputs < width):
            raise SbftError(
                f"{info.name} reads {info.inputs}; mined rows are (query, positive, "
                f"{self.mine.num} {noun(self.mine.num, 'negative')}) without a label",
                where=f"{where}.mine",
                fix="Use a loss that takes (anchor, positive, negative...) rows, such as "
                "MultipleNegativesRankingLoss, CachedMultipleNegativesRankingLoss or GISTEmbedLoss.",
            )
        if (not model_family.makes_embeddings or model_family.sparse) and self.mine.model is None:
            raise SbftError(
                f"a {model_family.name} cannot embed a corpus densely to mine negatives from",
                where=f"{where}.mine.model",
                fix="Name a bi-encoder that mines, e.g. model: sentence-transformers/all-MiniLM-L6-v2.",
            )


@dataclass
class PairsFromLabels:
    """Read (query, candidate, 0/1 label) rows, such as WikiQA's, as retrieval rows for a ranking loss.

    The candidates labelled 1 become (query, positive) rows; `hard_negatives` of the same query's
    label-0 candidates, drawn at random, are added to each as negatives (sbft.labelled_pairs).
    """

    query: str
    document: str
    """The candidate column."""
    label: str
    """1: the candidate is relevant to the query; 0: it is not."""
    hard_negatives: int = 1
    """Label-0 candidates per row, drawn at random from the query's own; 0 gives (query, positive) pairs."""
    seed: int = 42
    """Seeds the draw of each row's label-0 candidates."""

    @property
    def columns(self) -> list[str]:
        """The columns it makes, in the order a ranking loss reads them."""
        if self.hard_negatives == 1:
            return ["query", "positive", "negative"]
        return ["query", "positive", *(f"negative_{i}" for i in range(1, self.hard_negatives + 1))]

    def check(self, where: str, dataset: DatasetSpec) -> None:
        """The dataset reads the columns made here, and leaves the label to this."""
        if self.hard_negatives < 0:
            raise SbftError("hard_negatives cannot be negative", where=join_key(where, "hard_negatives"))
        if dataset.label is not None:
            raise SbftError(
                f"the dataset's label '{dataset.label}' is read by pairs_from_labels",
                where=join_key(where, "label"),
                fix="Remove the dataset's 'label': the rows pairs_from_labels makes have none.",
            )
        unknown = [c for c in dataset.input_columns if c not in self.columns]
        if unknown:
            raise SbftError(
                f"pairs_from_labels makes the columns {', '.join(self.columns)}, not {', '.join(unknown)}",
                where=where,
                fix=f"List them under 'columns:': {', '.join(self.columns)}.",
            )


def check_holdout(spec: DatasetSpec, where: str) -> None:
    """`holdout: 0.1`: a fraction of train, for a dataset that has train rows and no dev of its own."""
    key = join_key(where, "holdout")
    fraction = spec.holdout
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 0.5:
        raise SbftError(
            f"holdout is the fraction of train held out as dev, from above 0 to 0.5, not {fraction!r}",
            where=key,
            fix="For a tenth of the train rows: holdout: 0.1.",
        )
    if spec.beir:
        raise SbftError("a BEIR dataset's dev split is its qrels/dev.tsv; holdout does not apply", where=key)
    if "dev" in spec.files:
        raise SbftError(
            f"the dataset has a dev file ({spec.files['dev']}) and holdout: one dev split only",
            where=key,
            fix="Remove holdout to use the dev file, or remove files.dev to hold out part of train.",
        )
    if "train" not in (spec.splits if spec.hub else spec.files):
        raise SbftError("holdout takes dev rows out of train, but the dataset has no train split", where=key)
