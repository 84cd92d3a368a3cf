"""The smoke run's pieces: a checked recipe made small, the failure said as one paragraph, the saved
model tried once.

`sbft.train.smoke` runs the real pipeline with them, in seconds, so that what only fails at run
time (a loss argument of the wrong value, a seed the trainer refuses, a tensor-size error, labels
the collator cannot batch) fails before the real run loads anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft import run_folder
from sbft.errors import SbftError
from sbft.wording import noun

if TYPE_CHECKING:
    from datasets import Dataset

    from sbft.data import PreparedDataset
    from sbft.estimate import Throughput
    from sbft.families import Family

SMOKE_ROWS = 8
"""Rows kept of each split (the first ones, plus one of each class the first ones miss)."""
SMOKE_STEPS = 2
SMOKE_BATCH = 4
_MAX_CLASSES = 64
"""More classes than this are not all kept: the smoke stays small."""


@dataclass
class SmokeResult:
    steps: int
    """Optimisation steps taken."""
    seconds: float
    """Wall time of the whole smoke run: model, baseline, training, evaluation, save, reload."""
    training_seconds: float
    """Of which the trainer's own time (the steps and the evaluation during training)."""
    throughput: Throughput | None = None
    """Batches timed on the reloaded model (the real model's size, the real rows): the estimate's pace."""
    why_not_timed: str = ""

    def line(self) -> str:
        return f"smoke run: ok, {self.steps} {noun(self.steps, 'step')} in {self.seconds:.1f} s"


def smoke_settings(settings: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The run's resolved training settings, shrunk to SMOKE_STEPS steps with an evaluation (and a
    checkpoint, when the run saves them) after the last one; nothing leaves the machine."""
    small = {
        **settings,
        "max_steps": SMOKE_STEPS,
        "per_device_train_batch_size": min(settings.get("per_device_train_batch_size", 8), SMOKE_BATCH),
        "gradient_accumulation_steps": 1,
        "output_dir": str(folder / run_folder.CHECKPOINTS),
        "report_to": "none",
        "push_to_hub": False,
    }
    if settings.get("eval_strategy", "no") != "no":
        small.update(eval_strategy="steps", eval_steps=SMOKE_STEPS)
    if settings.get("save_strategy", "steps") not in ("no", "best"):
        small.update(save_strategy="steps", save_steps=SMOKE_STEPS)
    return small


def smoke_datasets(datasets: dict[str, PreparedDataset]) -> dict[str, PreparedDataset]:
    """A few rows of every split; the prepared data is reused, not loaded again."""
    return {
        name: prepared.with_rows(
            {split: _few_rows(data, prepared.label_kind) for split, data in prepared.splits.items()}
        )
        for name, prepared in _small_mining(datasets).items()
    }


def _small_mining(datasets: dict[str, PreparedDataset]) -> dict[str, PreparedDataset]:
    """Mining on a few rows: no rank window nor margins, which a handful of documents cannot fill,
    and no rescoring. The real run applies them all (the miners' names are checked before)."""
    small = {}
    for name, prepared in datasets.items():
        negatives = prepared.spec.negatives
        if negatives is not None and negatives.mine is not None:
            few = dataclasses.replace(
                negatives.mine,
                range_min=0,
                range_max=None,
                relative_margin=None,
                absolute_margin=None,
                rescore_with=None,
            )
            spec = dataclasses.replace(prepared.spec, negatives=dataclasses.replace(negatives, mine=few))
            prepared = dataclasses.replace(prepared, spec=spec)
        small[name] = prepared
    return small


def _few_rows(data: Dataset, label_kind: str | None) -> Dataset:
    """The first SMOKE_ROWS rows, and for class labels the first row of each class they miss: a loss
    that counts the classes it sees (SoftmaxLoss) gets as many outputs as in the real run."""
    from sbft.data import LABEL

    rows = list(range(min(SMOKE_ROWS, len(data))))
    if label_kind == "class":
        labels = data[LABEL]
        first_of_class: dict[Any, int] = {}
        for row, label in enumerate(labels):
            first_of_class.setdefault(label, row)
        rows = sorted(set(rows) | set(sorted(first_of_class.values())[:_MAX_CLASSES]))
    return data.select(rows)


def failure(error: Exception, stage: str) -> SbftError:
    """An unexpected error of the smoke run as one paragraph: where it stopped, the root cause, and
    what to look at."""
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    lines = str(cause).strip().splitlines()
    message = f"{type(cause).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    if len(message) > 300:
        message = message[:297] + "..."
    hint = next((hint for start, hint in _HINTS.items() if stage.startswith(start)), _HINTS[""])
    return SbftError(
        f"smoke run, {stage}: {message}",
        fix=f"{hint} The full run would stop at the same point, after loading everything; "
        "nothing was written.",
    )


_HINTS = {
    "loading the model": "Check the model section (name, type, pooling, num_labels).",
    "the baseline evaluation": "Check the dev split and its evaluator (datasets.*.evaluator).",
    "setting up the trainer": "Check the training section (seed, precision, device options).",
    "training": "Check the loss and its arguments (datasets.*.loss), the labels, the training options.",
    "the evaluation or checkpoint": "Check the evaluator, and the training section's eval and save options.",
    "reloading the saved model": "Check the model section: the saved model does not load back.",
    "": "Check the recipe: the training section, the loss arguments and the data.",
}


def try_saved_model(folder: Path, family: Family, datasets: dict[str, PreparedDataset]) -> tuple[Any, float]:
    """Load the saved model back, as `sbft encode` / `sbft rerank` will, and encode or score one pair
    (the first training row). The model and the seconds its load took are returned: the estimate
    times batches on it."""
    import time

    from sbft.models import load_model

    started = time.perf_counter()
    prepared = next(d for d in datasets.values() if d.spec.loss is not None)
    row = prepared.splits["train"][0]
    texts = [row[column] for column in prepared.inputs[:2]]
    texts = [text[0] if isinstance(text, list) else text for text in texts]  # listwise: one document
    model = load_model(str(folder), family=family)
    loaded = time.perf_counter() - started
    if family.makes_embeddings:
        model.encode(texts)
    else:
        model.predict([(texts[0], texts[-1])])
    return model, loaded


def timed(model: Any, load_seconds: float, plan: Any) -> dict[str, Any]:
    """The real run's pace, timed on the smoke's reloaded model: SmokeResult's throughput fields."""
    from sbft.estimate import timed_or_none

    throughput, why_not = timed_or_none(model, plan)
    if throughput is not None:
        throughput.load_s = load_seconds
    return {"throughput": throughput, "why_not_timed": why_not}


@contextlib.contextmanager
def rng_preserved() -> Iterator[None]:
    """The random states as they were before: the smoke's trainer seeds them, and a new head that
    the real run initialises must come out as it would without a smoke run."""
    import numpy
    import torch

    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        try:
            yield
        finally:
            random.setstate(python_state)
            numpy.random.set_state(numpy_state)
