"""Length-aware training batches: rows of similar length share a batch, so batches carry little padding.

A batch pads every text column to its longest text. Drawn at random, a batch of STSb pairs
(about 15 tokens a sentence, a long tail) computes mostly padding. LengthGroupedBatchSampler
follows transformers' LengthGroupedSampler (`group_by_length`): the epoch's rows are shuffled,
cut into mega-batches of several batches, each mega-batch is sorted by length (a row's longest
text, in the model's tokens: see bind_tokenizer) and cut into batches, and the batches are
shuffled again, so the order of the epoch stays random while each
batch holds rows of one length. With `no_duplicates` (losses that use in-batch negatives) a
batch never holds the same text twice, as sentence-transformers' NoDuplicatesBatchSampler
ensures: a row that would repeat a text waits for the next batch of its mega-batch.

The recipe chooses it with `training.batch_sampler: length_grouped` (or
`length_grouped_no_duplicates`); sbft.training_args makes it the trainer's batch sampler, for
each dataset of a multi-dataset run (the multi-dataset sampler then interleaves their batches).

Imports sentence-transformers: import it where the trainer's arguments are built, not earlier.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.sampler import DefaultBatchSampler

if TYPE_CHECKING:
    import torch
    from datasets import Dataset

LENGTH_GROUPED = "length_grouped"
LENGTH_GROUPED_NO_DUPLICATES = f"{LENGTH_GROUPED}_no_duplicates"
SAMPLERS = (LENGTH_GROUPED, LENGTH_GROUPED_NO_DUPLICATES)
"""sbft's own values of `training.batch_sampler`, beside sentence-transformers' BatchSamplers."""
MAX_MEGA_BATCH = 50
"""Batches per mega-batch (transformers' LengthGroupedSampler's bound). It does not shrink for a
small epoch as transformers' does (len // (4 * batch)): on 1,024 STSb pairs, 8-batch mega-batches
leave 16% padding, one 32-batch mega-batch 10%; each epoch still draws new batches."""
IGNORED_COLUMNS = {"dataset_name"}


class LengthGrouped:
    """The `batch_sampler` training argument: called by the trainer for each training dataset.

    A callable rather than the sampler class, so the arguments show (and save) it by name.
    """

    def __init__(self, no_duplicates: bool = False) -> None:
        self.no_duplicates = no_duplicates
        self.tokenizer: Any = None
        """The model's tokenizer (bind_tokenizer): rows are measured in its tokens, else in characters."""

    def __call__(self, dataset: Dataset, **options: Any) -> LengthGroupedBatchSampler:
        return LengthGroupedBatchSampler(
            dataset, no_duplicates=self.no_duplicates, tokenizer=self.tokenizer, **options
        )

    def __repr__(self) -> str:
        return LENGTH_GROUPED_NO_DUPLICATES if self.no_duplicates else LENGTH_GROUPED

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LengthGrouped) and other.no_duplicates == self.no_duplicates

    def __hash__(self) -> int:
        return hash((LengthGrouped, self.no_duplicates))


def bind_tokenizer(batch_sampler: Any, model: Any) -> None:
    """Let length-grouped batches measure rows in `model`'s tokens (a no-op for other samplers).

    Each text column is padded apart, to its longest text in the batch, so a row counts as its
    longest text: on STSb pairs, sorting by that in tokens leaves 11% padding, by the sum of the
    characters 29% (random batches: 38%).
    """
    if isinstance(batch_sampler, LengthGrouped):
        tokenizer = getattr(model, "tokenizer", None)
        batch_sampler.tokenizer = tokenizer if callable(tokenizer) else None


def batch_sampler_argument(value: Any) -> Any:
    """The trainer's `batch_sampler` for a recipe value: sbft's own names become LengthGrouped."""
    if value in SAMPLERS:
        return LengthGrouped(no_duplicates=value == LENGTH_GROUPED_NO_DUPLICATES)
    return value


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Batches of rows of similar length, in a random order that changes every epoch."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        no_duplicates: bool = False,
        tokenizer: Any = None,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        self.dataset = dataset
        self.no_duplicates = no_duplicates
        labels = set(valid_label_columns or ()) | IGNORED_COLUMNS
        self.text_columns = [name for name in dataset.column_names if name not in labels]
        columns = [list(dataset[name]) for name in self.text_columns]
        measured = [_lengths(column, tokenizer) for column in columns]
        self.lengths = [max(row, default=0) for row in zip(*measured, strict=True)]
        self.values = [set(map(_key, row)) for row in zip(*columns, strict=True)] if no_duplicates else None
        self.mega_batch = batch_size * MAX_MEGA_BATCH

    def __iter__(self) -> Iterator[list[int]]:
        import torch

        if self.generator is not None and self.seed is not None:
            self.generator.manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        batches: list[list[int]] = []
        waiting: list[int] = []
        for start in range(0, len(order), self.mega_batch):
            mega = waiting + order[start : start + self.mega_batch]
            mega.sort(key=lambda index: -self.lengths[index])  # stable: ties keep the random order
            full, waiting = self._batches(mega)
            batches += full
        batches += self._batches(waiting, partial=True)[0]  # the last rows, in short batches
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        shuffle = torch.randperm(len(batches), generator=self.generator).tolist()
        yield from (batches[i] for i in shuffle)

    def _batches(self, rows: list[int], partial: bool = False) -> tuple[list[list[int]], list[int]]:
        """Full batches of `rows`, filled in their order (with `partial` also a short last one);
        and the rows left over. A row whose text is already in the batch waits for the next."""
        batches: list[list[int]] = []
        while rows:
            batch: list[int] = []
            seen: set[str] = set()
            rest: list[int] = []
            for position, index in enumerate(rows):
                if len(batch) == self.batch_size:
                    rest += rows[position:]
                    break
                values = self.values[index] if self.values is not None else set()
                if seen.isdisjoint(values):
                    batch.append(index)
                    seen |= values
                else:
                    rest.append(index)
            if len(batch) < self.batch_size and not partial:
                return batches, batch + rest
            batches.append(batch)
            rows = rest
        return batches, []

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.lengths) // self.batch_size
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


def _lengths(column: list[Any], tokenizer: Any = None) -> list[int]:
    """Each value's length: a text's tokens (characters without a tokenizer); a list of texts counts
    its longest; anything else (an image) 0."""
    texts = {value for value in column if isinstance(value, str)}
    texts |= {item for value in column if isinstance(value, list) for item in value if isinstance(item, str)}
    size = {text: len(text) for text in texts}
    if tokenizer is not None and texts:
        ordered = list(texts)
        for start in range(0, len(ordered), 10_000):
            chunk = ordered[start : start + 10_000]
            ids = tokenizer(chunk, add_special_tokens=False, return_attention_mask=False, verbose=False)
            size.update(zip(chunk, map(len, ids["input_ids"]), strict=True))

    def length(value: Any) -> int:
        if isinstance(value, str):
            return size[value]
        return max((size.get(item, 0) for item in value), default=0) if isinstance(value, list) else 0

    return [length(value) for value in column]


def _key(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
