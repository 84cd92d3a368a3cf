"""How long a run will take on this machine, stage by stage: a rough guide, measured, never a promise.

A few batches are timed on the run's own model and rows (`measure`): forward and backward passes
for training, `encode` (or `predict`, for a cross-encoder) for evaluation and mining. The plan then
says how many texts each stage encodes and how many rows the training steps see (`estimate`), so
the time of each stage is a product of two numbers the user can read. Real runs differ: other jobs
on the machine, length-grouped batches (less padding than the timed batches), early stopping and
mining that drops rows all change the figure, mostly downwards.

`sbft train` times the batches on the smoke run's reloaded model (no extra load); `sbft check`
loads the model once for it (`measure_base_model`).

Why one module of this size: timing the batches and counting what each stage encodes are two
halves of one product, and the counting must follow the pipeline's own sharing (one encode of a
corpus by the base model for mining and the baseline, the kept step's logged dev score, the dev
pool); kept together, a change to the pipeline meets both halves in one place.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sbft.wording import noun

if TYPE_CHECKING:
    from sbft.data import PreparedDataset
    from sbft.plan import Plan

SAMPLE_TEXTS = 256
"""Texts drawn (evenly spread) from the data to time: their lengths are the data's."""
TRAIN_BUDGET_S = 3.0
"""Forward and backward passes stop once they took this long (at least one is timed)."""
ENCODE_BUDGET_S = 2.0
TIMED_BATCH = 16
"""Training rows per timed step, at most; a step of the run's batch is scaled from it."""
SAVE_AND_REPORT_S = 5.0
"""Saving the model, the run folder's files and the report's plots: a few seconds, not measured."""


@dataclass
class Throughput:
    """Seconds per text, measured on this machine with the run's model and a sample of its rows."""

    train_text_s: float
    """One text through forward and backward, inside a training batch."""
    encode_text_s: float
    """One text encoded (a bi-encoder) or one pair scored (a cross-encoder), in an evaluation batch."""
    load_s: float | None = None
    """Loading the model, when it was timed."""
    timed: str = ""
    """What was timed, for the user: '2 training steps of 16 rows, 96 texts encoded'."""


@dataclass
class Stage:
    name: str
    seconds: float
    detail: str = ""


@dataclass
class Estimate:
    stages: list[Stage] = field(default_factory=list)
    timed: str = ""

    @property
    def total(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    def lines(self) -> list[str]:
        """The estimate as the plan prints it: one line per stage, then the total."""
        width = max(len(stage.name) for stage in self.stages)
        lines = [
            f"estimated time on this machine (from {self.timed}{_load()}; a rough guide, not a promise):"
        ]
        lines += [
            f"  {stage.name:<{width}}  {about(stage.seconds):>11}"
            + (f"  {stage.detail}" if stage.detail else "")
            for stage in self.stages
        ]
        lines.append(f"  {'total':<{width}}  {about(self.total):>11}")
        return lines


def _load() -> str:
    """', load average 3.2 on 2 cores': other jobs slow the timed batches, and the run, alike."""
    import os

    try:
        return f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except (AttributeError, OSError):
        return ""


def about(seconds: float) -> str:
    """'~40 s', '~3 min', '~1 h 20 min': as precise as an estimate deserves."""
    if seconds < 1:
        return "<1 s"
    if seconds < 60:
        return f"~{seconds:.0f} s"
    if seconds < 3600:
        return (
            f"~{seconds / 60:.0f} min" if seconds >= 600 else f"~{seconds / 60:.1f} min".replace(".0 ", " ")
        )
    hours, minutes = int(seconds // 3600), round(seconds % 3600 / 60)
    return f"~{hours} h {minutes} min" if minutes else f"~{hours} h"


def measure_base_model(plan: Plan) -> Throughput:
    """Load the recipe's base model (timed) and time a few batches on it: what `sbft check` pays
    for an estimate (the model's load, and about 5 s of batches on a quiet machine)."""
    from sbft.models import build_model

    started = time.perf_counter()
    model = build_model(plan.recipe.model)
    loaded = time.perf_counter() - started
    throughput = measure(model, plan)
    throughput.load_s = loaded
    return throughput


def measure(model: Any, plan: Plan) -> Throughput:
    """Time forward and backward passes on a batch of the first trained dataset's train rows, then
    `encode` on a sample of the texts the evaluations read (the corpus, when there is one). The
    model is left in eval mode with no gradients kept; its weights do not change."""
    import torch

    prepared = next(iter(plan.trained.values()), None) or next(iter(plan.datasets.values()))
    batch = min(plan.args.per_device_train_batch_size, TIMED_BATCH)
    train_rows = _spread(prepared.splits["train"], batch) if "train" in prepared.splits else None
    columns = _text_columns(prepared, train_rows) if train_rows is not None else []
    times = _time_steps(model, columns)
    steps, texts_per_step = len(times), sum(len(column) for column in columns)
    train_seconds = min(times, default=0.0)
    sample = _encode_sample(prepared)
    batch_size = plan.args.per_device_eval_batch_size
    with torch.inference_mode():
        _encode(model, sample[:2], batch_size)  # the first call sets things up: not the data's pace
        encoded, started = 0, time.perf_counter()
        while encoded < len(sample) and (encoded == 0 or time.perf_counter() - started < ENCODE_BUDGET_S):
            _encode(model, sample[encoded : encoded + batch_size], batch_size)
            encoded += len(sample[encoded : encoded + batch_size])
        encode_seconds = time.perf_counter() - started
    rows = len(columns[0]) if columns else 0
    timed = (
        f"{steps} training {noun(steps, 'step')} of {rows} {noun(rows, 'row')}, "
        if steps
        else "no training step, "
    ) + f"{encoded} {noun(encoded, 'text')} encoded"
    return Throughput(
        train_text_s=train_seconds / texts_per_step if texts_per_step else 0.0,
        encode_text_s=encode_seconds / max(encoded, 1),
        timed=timed,
    )


def _time_steps(model: Any, columns: list[list[Any]]) -> list[float]:
    """Seconds of each timed forward-and-backward pass, after one untimed pass on two rows (the
    first pass sets things up and is not the data's pace); at most two, within TRAIN_BUDGET_S."""
    times: list[float] = []
    if not columns:
        return times
    model.train()
    try:
        _forward_backward(model, [column[:2] for column in columns])
        while len(times) < 2 and sum(times) < TRAIN_BUDGET_S:
            started = time.perf_counter()
            _forward_backward(model, columns)
            times.append(time.perf_counter() - started)
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
    return times


def _spread(data: Any, count: int) -> Any:
    """`count` rows spread evenly over a split: their lengths are the split's, not its first rows'."""
    step = max(1, len(data) // max(count, 1))
    return data.select(list(range(0, len(data), step))[:count])


def _text_columns(prepared: PreparedDataset, rows: Any) -> list[list[Any]]:
    """The loss's inputs as lists of texts (a list-valued column contributes its first text); for a
    cross-encoder, (first input, other input) pairs."""
    columns = []
    for column in prepared.inputs:
        values = [value[0] if isinstance(value, list) and value else value for value in rows[column]]
        columns.append([str(value) for value in values])
    if not prepared.family.makes_embeddings:  # a cross-encoder reads (first, other) pairs
        return [list(zip(columns[0], other, strict=True)) for other in columns[1:]]
    return columns


def _forward_backward(model: Any, columns: list[list[str]]) -> None:
    """One training step's passes, without an optimizer: each input column through the model."""
    from sentence_transformers.util import batch_to_device

    outputs = []
    for texts in columns:
        features = batch_to_device(model.preprocess(texts), model.device)
        output = model(features)
        value = output["sentence_embedding"] if "sentence_embedding" in output else output["scores"]
        outputs.append(value.float().sum())
    sum(outputs).backward()
    model.zero_grad(set_to_none=True)


def _encode(model: Any, texts: list[Any], batch_size: int) -> None:
    if not texts:
        return
    if hasattr(model, "encode"):
        model.encode(texts, batch_size=batch_size, show_progress_bar=False)
    else:
        pairs = [text if isinstance(text, tuple) else (text, text) for text in texts]
        model.predict(pairs, batch_size=batch_size, show_progress_bar=False)


def _encode_sample(prepared: PreparedDataset) -> list[Any]:
    """Texts such as the evaluations encode: corpus documents when there is a corpus (they are
    most of the work), else the dev split's inputs (else train's)."""
    if prepared.corpus:
        documents = list(prepared.corpus.values())
        step = max(1, len(documents) // SAMPLE_TEXTS)
        return [str(text) for text in documents[::step][:SAMPLE_TEXTS]]
    split = "dev" if "dev" in prepared.splits else next(iter(prepared.splits))
    rows = _spread(prepared.splits[split], SAMPLE_TEXTS // max(len(prepared.inputs), 1))
    return [text for column in _text_columns(prepared, rows) for text in column]


def estimate(plan: Plan, throughput: Throughput, smoke_seconds: float | None = None) -> Estimate:
    """Each stage of the run: what it encodes or trains, times the measured pace."""
    recipe, args = plan.recipe, plan.args
    per_text = throughput.encode_text_s
    stages = [
        Stage(
            "smoke run",
            smoke_seconds if smoke_seconds is not None else _smoke_guess(throughput),
            "done" if smoke_seconds is not None else "a guess, not timed (--no-smoke skips it)",
        )
    ]
    if throughput.load_s is not None:
        stages.append(Stage("loading the model", throughput.load_s))
    shared: set[str] = set()  # datasets whose corpus the base model has encoded (one encode a run)
    mined = _mined_texts(plan, shared)
    if mined:
        stages.append(Stage("mining hard negatives", mined * per_text, f"{mined:,} texts encoded"))
    dev = _eval_texts(plan, "dev", set(shared))
    test = (
        _eval_texts(plan, "test", set(shared) | _corpus_names(plan, "dev")) if recipe.evaluation.test else 0
    )
    if recipe.evaluation.baseline and dev + test:
        stages.append(
            Stage(
                "baseline evaluation",
                (dev + test) * per_text,
                " + ".join(
                    f"{split} {count:,} texts" for split, count in (("dev", dev), ("test", test)) if count
                )
                + "; skipped when cached",
            )
        )
    dev = _eval_texts(plan, "dev", pooled=True)  # the model being trained: every text again
    test = _eval_texts(plan, "test") if recipe.evaluation.test else 0
    rows = plan.total_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
    texts = rows * _texts_per_row(plan)
    stages.append(
        Stage(
            "training",
            texts * throughput.train_text_s,
            f"{plan.total_steps:,} {noun(plan.total_steps, 'step')} of {plan.effective_batch} rows",
        )
    )
    evaluations = _evaluations(plan) if dev else 0
    if evaluations:
        each = (dev + _dev_loss_texts(plan)) * per_text
        stages.append(
            Stage(
                "evaluations",
                evaluations * each,
                f"{evaluations} x {about(each)} ({dev:,} texts each; fewer if it stops early)",
            )
        )
    if test:
        stages.append(Stage("test", test * per_text, f"{test:,} texts"))
    stages.append(Stage("save and report", SAVE_AND_REPORT_S))
    return Estimate(stages=stages, timed=throughput.timed)


def _smoke_guess(throughput: Throughput) -> float:
    """The smoke run loads the model twice (and saves it once): mostly fixed costs."""
    return 2 * (throughput.load_s or 3.0) + SAVE_AND_REPORT_S


def _texts_per_row(plan: Plan) -> float:
    """Texts a training row sends through the model, mined negatives included (the mean over the
    trained datasets, weighted by their rows)."""
    total = rows = 0
    for name, prepared in plan.trained.items():
        count = len(prepared.splits["train"])
        negatives = plan.recipe.datasets[name].negatives
        mined = negatives.mine.num if negatives and negatives.mine else 0
        per_row = len(prepared.inputs) + mined
        if not prepared.family.makes_embeddings:
            per_row = max(1, per_row - 1)
        total, rows = total + count * per_row, rows + count
    return total / rows if rows else 2.0


def _eval_texts(plan: Plan, split: str, encoded: set[str] | None = None, pooled: bool = False) -> int:
    """Texts one evaluation of `split` encodes (pairs it scores, for a cross-encoder). A corpus in
    `encoded` (the base model's, encoded already) costs nothing more; it is added to it. `pooled`:
    dev searched over the pool evaluation.pool gives it, where there is one."""
    from sbft.evaluation import evaluator_kind

    total = 0
    for name, prepared in plan.datasets.items():
        if split not in prepared.splits or evaluator_kind(prepared, split) == "none":
            continue
        if prepared.corpus is not None and split in prepared.retrieval:
            total += len(prepared.retrieval[split].queries)
            if encoded is None or name not in encoded:
                total += _pool_size(plan, prepared) if pooled else len(prepared.corpus)
            if encoded is not None:
                encoded.add(name)
        elif prepared.family.makes_embeddings:
            total += len(prepared.splits[split]) * len(prepared.inputs)
        else:
            total += len(prepared.splits[split]) * max(1, len(prepared.inputs) - 1)
    return total


def _corpus_names(plan: Plan, split: str) -> set[str]:
    """The datasets whose `split` is searched over their corpus (baseline dev encodes it for test)."""
    return {name for name, d in plan.datasets.items() if d.corpus is not None and split in d.retrieval}


def _pool_size(plan: Plan, prepared: PreparedDataset) -> int:
    """The documents a dev evaluation searches: its pool's most (evaluation.pool), else the corpus."""
    from sbft.evaluation.pool import pool_for

    total = len(prepared.corpus or {})
    spec = pool_for(plan.recipe.evaluation.pool_spec, total)
    if spec is None or "dev" not in prepared.retrieval:
        return total
    judged = prepared.retrieval["dev"]
    documents = {doc for grades in judged.qrels.values() for doc in grades}
    return min(total, len(documents) + len(judged.queries) * (spec.top_k + spec.bm25_top_k) + spec.random)


def _dev_loss_texts(plan: Plan) -> int:
    """The trainer's dev loss at each evaluation: the trained datasets' dev rows through the model."""
    return sum(len(d.splits["dev"]) * len(d.inputs) for d in plan.trained.values() if "dev" in d.splits)


def _evaluations(plan: Plan) -> int:
    """Dev evaluations: those during training, the final model's when its step was not evaluated,
    and one per merge ratio."""
    args = plan.args
    strategy = str(getattr(args.eval_strategy, "value", args.eval_strategy))
    final = 0  # the kept weights' dev score is the one logged at their step, when there is one
    if strategy == "epoch":
        during = math.ceil(plan.total_steps / plan.steps_per_epoch)
    elif strategy == "steps":
        every = args.eval_steps or args.logging_steps or 1
        every = max(1, int(every * plan.total_steps if every < 1 else every))
        during, final = plan.total_steps // every, int(plan.total_steps % every != 0)
    else:
        during, final = 0, 1
    merges = 0
    if plan.recipe.evaluation.merge_base is not None:
        from sbft.evaluation.merge_base import merge_ratios

        merges = len(merge_ratios(plan.recipe.evaluation.merge_base))
    return during + final + merges


def _mined_texts(plan: Plan, shared: set[str]) -> int:
    """Texts mining encodes: the corpus (or the train positives) and the train queries. A corpus
    mined by the base model is the run's one encode of it: its name goes into `shared`."""
    total = 0
    for name, prepared in plan.datasets.items():
        negatives = plan.recipe.datasets[name].negatives
        if not (negatives and negatives.mine) or "train" not in prepared.splits:
            continue
        train = prepared.splits["train"]
        if prepared.corpus is not None:
            documents = len(prepared.corpus)
            if negatives.mine.model is None:
                shared.add(name)
        else:
            documents = len(set(train[prepared.inputs[1]]))
        total += documents + len(train)
    return total


def timed_or_none(model: Any, plan: Plan) -> tuple[Throughput | None, str]:
    """`measure`, or None and why not: an estimate never stops a run that can start."""
    return _guarded(lambda: measure(model, plan))


def base_model_pace(plan: Plan) -> tuple[Throughput | None, str]:
    """`measure_base_model`, or None and why not."""
    return _guarded(lambda: measure_base_model(plan))


def _guarded(timing: Callable[[], Throughput]) -> tuple[Throughput | None, str]:
    try:
        return timing(), ""
    except Exception as error:  # batches of a model or loss we did not foresee: no estimate, no failure
        first = str(error).strip().splitlines()
        return None, f"{type(error).__name__}: {first[0] if first else ''}".rstrip(": ")


def print_estimate(
    plan: Plan, console: Any, throughput: Throughput | None, why_not: str = "", **known: Any
) -> None:
    """The estimate under the plan, or one line saying why there is none."""
    if throughput is None:
        console.print(
            f"  no time estimate ({why_not or 'nothing was timed'})", highlight=False, soft_wrap=True
        )
        return
    for line in estimate(plan, throughput, **known).lines():
        console.print(f"  {line}", highlight=False, soft_wrap=True)
