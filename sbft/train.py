"""The `sbft train` pipeline: the eight steps of the sentence-transformers training guide.

check (training arguments, model reference, datasets) -> smoke run (all that follows, on a few
rows, in seconds: see `smoke`) -> model -> losses -> baseline evaluation -> train -> select the
best model -> test -> save. Interrupted runs save a checkpoint and can be resumed from their run
folder. Over 400 lines: the pipeline is one story, read top to bottom.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from transformers import TrainerCallback

from sbft import run_folder
from sbft.errors import SbftError
from sbft.evaluation.merge_base import BASE, TUNED, MergeChoice
from sbft.quiet import quiet_libraries
from sbft.recipe import Recipe, dump_recipe, load_recipe, redact
from sbft.recipe.dump import resolution
from sbft.smoke import SmokeResult, failure, rng_preserved, smoke_datasets, smoke_settings, try_saved_model
from sbft.training_args import DEV_SCORE, arguments_record
from sbft.wording import noun

if TYPE_CHECKING:
    from sbft.data import PreparedDataset
    from sbft.plan import Plan


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    interrupted: bool = False


def train(
    recipe: Recipe,
    *,
    overwrite: bool = False,
    resume: bool = False,
    keep_checkpoints: bool = False,
    quiet: bool = False,
    smoke_first: bool = True,
    cache: bool = True,
    console: Console | None = None,
) -> RunResult:
    """Run a whole recipe and return the run folder and its metrics.

    `smoke_first` runs `smoke` before the run folder is touched (not on a resume, nor over several
    processes). With `resume`, continue the run in `recipe.run_dir` from its last checkpoint; `quiet`
    prints only errors and the final tables; `keep_checkpoints` keeps checkpoints/ once the run
    finished. Everything is checked before the run folder is touched, and a run that stops early
    leaves a folder that the next attempt can use (see sbft.run_folder). Under torchrun /
    accelerate every process trains, and only the main one prints and writes the run folder.
    `cache` reads and writes the base model's scores in the user cache (evaluation.baseline_cache).
    """
    from sbft.check import preflight
    from sbft.plan import print_plan

    main = is_main_process()
    console = console if main and console else Console(quiet=not main)
    say = Console(quiet=True) if quiet else console  # progress that -q leaves out
    run_dir = recipe.run_dir
    if main:
        if resume:
            folder = run_folder.check_resume(run_dir)
        else:
            folder = run_folder.check_start(run_dir, overwrite=overwrite, recipe=recipe)
        if resume and folder.finished:
            console.print(
                f"'{run_dir}' holds a finished run: there is nothing to resume. "
                f"Its model: {run_dir / run_folder.MODEL}",
                highlight=False,
                soft_wrap=True,
            )
            return RunResult(run_dir=run_dir, metrics=_read_metrics(run_dir))
    progress = _Progress()
    try:
        started = time.perf_counter()
        quiet_libraries()
        say.print(f"[bold]sbft train[/] {recipe.name} -> {run_dir}" + (" (resuming)" if resume else ""))
        plan = preflight(recipe)
        print_plan(plan, say)
        if smoke_first and not resume and plan.args.world_size == 1:
            progress.stage = "the smoke run, before training started"
            say.print(smoke(recipe, plan).line(), highlight=False)
        progress.stage = "loading the model, before training started"
        claim = (
            run_folder.claim(run_dir, overwrite=overwrite, resume=resume, keep_checkpoints=keep_checkpoints)
            if main
            else contextlib.nullcontext()
        )
        with claim as progress.claim:
            for note in progress.claim.notes if progress.claim else ():
                console.print(f"[bold yellow]note:[/] {note}", highlight=False, soft_wrap=True)
            return _run(
                recipe,
                plan,
                progress,
                resume=resume,
                quiet=quiet,
                console=console,
                started=started,
                cache=cache,
            )
    except KeyboardInterrupt:
        console.print(
            f"[bold yellow]interrupted[/] during {progress.stage}. {progress.next_step()}",
            highlight=False,
            soft_wrap=True,
        )
        return RunResult(run_dir=run_dir, metrics={}, interrupted=True)
    except SbftError as error:
        if progress.claim is None:
            raise
        fix = " ".join(part for part in (error.fix, progress.next_step()) if part)
        raise SbftError(error.what, where=error.where, fix=fix) from None
    except Exception:
        if progress.claim is not None:
            Console(stderr=True).print(f"sbft: {progress.next_step()}", highlight=False, soft_wrap=True)
        raise


@dataclass
class _Progress:
    """How far a run got, for the message when it stops early."""

    stage: str = "the checks"
    claim: run_folder.Claim | None = None

    def next_step(self) -> str:
        return self.claim.next_step() if self.claim else "Nothing was written."


def _run(
    recipe: Recipe,
    plan: Plan,
    progress: _Progress,
    *,
    resume: bool,
    quiet: bool,
    console: Console,
    started: float,
    cache: bool = False,
) -> RunResult:
    """From the model to the saved run, in a run folder claimed for this run (by the main process)."""
    main, claim, run_dir = is_main_process(), progress.claim, recipe.run_dir
    say = Console(quiet=True) if quiet else console
    checkpoint = run_folder.newest_checkpoint(run_dir) if resume else None

    from transformers import EarlyStoppingCallback, PrinterCallback, ProgressCallback

    from sbft.adapters import trainable_counts
    from sbft.evaluation import build_evaluator, check_metric_name, evaluate
    from sbft.losses import build_loss
    from sbft.mining import mine_datasets, summary
    from sbft.models import build_model, weights_checksum
    from sbft.report import MetricsCallback, metrics_table, write_report

    datasets, args, family = plan.datasets, plan.args, recipe.family
    num_labels = _num_labels(datasets)
    model = build_model(recipe.model, num_labels=num_labels)
    base_state = _weights_copy(model) if recipe.evaluation.merge_base else None  # the mixes' base
    if recipe.model.adapter is not None:  # only the adapter trains: every base weight is frozen
        from sbft import adapters

        adapters.attach(model, recipe.model.adapter, seed=args.seed)
    parameters = dict(zip(("trainable", "total"), trainable_counts(model), strict=True))
    base_weights = weights_checksum(model)
    progress.stage = "mining hard negatives, before training started"
    with args.main_process_first(desc="sbft hard-negative mining"):  # the others read its rows back
        datasets, mining = mine_datasets(
            datasets,
            model,
            run_dir,
            prompts=recipe.model.prompts,
            batch_size=args.per_device_eval_batch_size,
            seed=args.seed,
            progress=not quiet,
            write=main,
        )
    for name, record in mining.items():
        say.print(f"[bold]negatives[/] {summary(name, record)}", highlight=False, soft_wrap=True)
    trained = {name: prepared for name, prepared in datasets.items() if prepared.spec.loss is not None}
    losses = {  # datasets without a loss are only evaluated: their rows never reach a loss
        name: build_loss(
            plan.recipe.datasets[name].loss, model, prepared.splits["train"], f"datasets.{name}.loss", family
        )
        for name, prepared in trained.items()
    }
    evaluation = {"prompts": recipe.model.prompts, "dims": recipe.evaluation_dims}
    eval_batch = args.per_device_eval_batch_size
    dev_evaluator = _scored(build_evaluator(datasets, "dev", eval_batch, **evaluation))
    test_evaluator = (
        build_evaluator(datasets, "test", eval_batch, **evaluation) if recipe.evaluation.test else None
    )
    deciding = args.metric_for_best_model if args.load_best_model_at_end else None
    own_losses = ["loss", *(f"{name}_loss" for name, prepared in trained.items() if "dev" in prepared.splits)]

    if main:
        resolved = dataclasses.replace(plan.recipe, output_dir=str(run_dir))
        # Both for --resume: the recipe as shareable as it was written, and what it resolved to here.
        (run_dir / run_folder.RECIPE).write_text(dump_recipe(resolved, run_dir), encoding="utf-8")
        if not resume:
            run_folder.write_json(run_dir / run_folder.RUN_INFO, resolution(resolved))
    metrics = (
        _read_metrics(run_dir) if resume else {"status": "training", "baseline_dev": {}, "baseline_test": {}}
    )
    if mining:
        metrics["mining"] = mining
    progress.stage = "the baseline evaluation, before training started"
    if not resume and recipe.evaluation.baseline:
        from sbft.evaluation.baseline_cache import baseline_scores

        metrics["baseline_dev"], metrics["baseline_test"] = baseline_scores(
            recipe.model, model, dev_evaluator, test_evaluator, cache=cache, write=main, say=say.print
        )
        check_metric_name(deciding, [*metrics["baseline_dev"], *own_losses])
        if metrics["baseline_dev"]:
            say.print(metrics_table("base model", _by_split(metrics, "baseline_dev", "baseline_test")))
    if main:
        run_folder.write_json(run_dir / run_folder.METRICS, metrics)

    callback = MetricsCallback(
        run_dir / run_folder.METRICS_LOG, console, quiet=quiet, baseline_dev=metrics.get("baseline_dev")
    )
    stopper = GracefulStop()
    single = len(trained) == 1
    train_sets = {name: d.splits["train"] for name, d in trained.items()}
    dev_sets = {name: d.splits["dev"] for name, d in trained.items() if "dev" in d.splits}
    watchers = [_MetricNameCheck(deciding, own_losses)]
    if recipe.evaluation.patience:
        watchers.append(EarlyStoppingCallback(early_stopping_patience=recipe.evaluation.patience))
    progress.stage = "setting up the trainer, before training started"
    from sbft.sampling import bind_tokenizer

    bind_tokenizer(args.batch_sampler, model)  # length-grouped batches measure rows in its tokens
    trainer = family.import_class("trainer")(
        model=model,
        args=args,
        train_dataset=next(iter(train_sets.values())) if single else train_sets,
        eval_dataset=(next(iter(dev_sets.values())) if single else dev_sets) if dev_sets else None,
        loss=next(iter(losses.values())) if single else losses,
        evaluator=dev_evaluator,
        callbacks=[callback, stopper, _StageTracker(progress), *watchers],
    )
    # Our callback prints the logs; the trainer's own printers would repeat them as raw dicts.
    trainer.remove_callback(PrinterCallback)
    if recipe.model.adapter is not None:  # checkpoints hold the adapter only: resume and best model
        adapters.bind_trainer(trainer)
    trainer.remove_callback(ProgressCallback)
    _tensorboard_into(trainer, run_dir / run_folder.TENSORBOARD)
    progress.stage = "training"
    with stopper.catching_signals(), callback:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    progress.stage = "the final evaluation and save"

    metrics["evaluations"] = run_folder.read_evaluations(run_dir)
    if stopper.stopped:
        metrics["status"] = "interrupted"
        if main:
            run_folder.write_json(run_dir / run_folder.METRICS, metrics)
            if claim is not None:  # a real run, not the smoke run
                write_report(run_dir)
        aside = run_dir / run_folder.REPLACED
        waiting = f"\nThe run it replaces waits in {aside} until then." if aside.is_dir() else ""
        console.print(
            f"[bold yellow]interrupted[/] after step {output.global_step}; a checkpoint is saved. "
            f"Resume with:\n  sbft train --resume {run_dir}{waiting}",
            highlight=False,
            soft_wrap=True,
        )
        return RunResult(run_dir=run_dir, metrics=metrics, interrupted=True)

    metrics["final_dev"] = evaluate(dev_evaluator, model)
    metrics["test"] = evaluate(test_evaluator, model)
    metrics["training"] = {
        "steps": output.global_step,
        "train_loss": output.training_loss,
        **{k: v for k, v in output.metrics.items() if isinstance(v, (int, float))},
    }
    best_step = trainer.state.best_global_step if args.load_best_model_at_end else None
    metrics["kept_step"] = best_step or output.global_step  # whose weights the fine-tuned model has
    metrics["selected"] = "fine-tuned"
    metrics["unchanged"] = weights_checksum(model) == base_weights
    if metrics["unchanged"]:
        metrics["selected"] = "base"  # bit for bit the base model: nothing was fine-tuned
    else:
        if recipe.evaluation.merge_base:
            progress.stage = "merging with the base model, after training"
        base = _BaseModel(lambda: build_model(recipe.model, num_labels=num_labels), base_state)
        choice = _choose_shipped(recipe, args, metrics, model, base, dev_evaluator, say)
        if choice.chosen != TUNED:  # the fine-tuned model's scores stay in the report
            metrics["fine_tuned_dev"], metrics["fine_tuned_test"] = metrics["final_dev"], metrics["test"]
        if choice.chosen == BASE:
            # Fine-tuning made the dev score worse: ship the base model, and say so loudly.
            metrics["final_dev"], metrics["test"] = metrics["baseline_dev"], metrics["baseline_test"]
            metrics["selected"] = "base"
            model = base.get()
        elif choice.model is not None:  # a mix of the two: the test split is scored on it
            model = choice.model
            metrics["final_dev"], metrics["test"] = choice.dev[choice.chosen], evaluate(test_evaluator, model)
            metrics["selected"] = f"merged {choice.chosen:g}"
        if recipe.evaluation.merge_base:
            metrics["merge_base"] = choice.record()
        progress.stage = "the final evaluation and save"
    metrics["status"] = "finished"
    if main:
        run_folder.save_model_atomically(
            model, run_dir, base=recipe.model, written=recipe.written.get(("model", "name"))
        )
        run_folder.write_json(run_dir / run_folder.METRICS, metrics)
        run_info = {"wall_time_s": round(time.perf_counter() - started, 2), **_distribution(plan)}
        run_info["parameters"] = parameters  # what trained (an adapter's) and the model's size
        run_info.update(resolution(plan.recipe))
        run_folder.write_json(run_dir / run_folder.RUN_INFO, {**run_info, **run_folder.environment()})
        run_folder.write_json(run_dir / run_folder.TRAINING_ARGS, redact(arguments_record(args)))
        if claim is not None:  # a real run, not the smoke run
            write_report(run_dir)
    if claim is not None:
        claim.finish()
        _print_summary(console, metrics, run_dir, claim.keep_checkpoints, args.metric_for_best_model)
    return RunResult(run_dir=run_dir, metrics=metrics)


def _tensorboard_into(trainer: Any, folder: Path) -> None:
    """TensorBoard logs (training.report_to: tensorboard) into the run folder: transformers would
    write them under checkpoints/, which a finished run removes. $TENSORBOARD_LOGGING_DIR still wins."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(folder)


def is_main_process() -> bool:
    """Rank 0 of a torchrun / accelerate launch, or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


def _distribution(plan: Any) -> dict[str, Any]:
    """How the run was spread over processes, for run.json."""
    state = plan.args.distributed_state
    return {
        "world_size": plan.args.world_size,
        "backend": getattr(state, "backend", None) if state is not None else None,
        "effective_batch_size": plan.effective_batch,
    }


def _print_summary(
    console: Console, metrics: dict[str, Any], run_dir: Path, kept: bool, deciding: str | None
) -> None:
    """The closing tables: each metric, base vs fine-tuned, and the difference; where it all is."""
    from sbft.report import comparison_table

    tuned_dev = metrics.get("fine_tuned_dev", metrics["final_dev"])
    tuned_test = metrics.get("fine_tuned_test", metrics["test"])
    for split, base, tuned in (
        ("dev", metrics["baseline_dev"], tuned_dev),
        ("test", metrics["baseline_test"], tuned_test),
    ):
        if tuned:
            console.print(comparison_table(f"{split}: base vs fine-tuned", base, tuned))
    if metrics.get("unchanged"):
        console.print(
            f"[bold yellow]warning: selected: base (training changed nothing)[/]: after "
            f"{metrics['training']['steps']} {noun(metrics['training']['steps'], 'step')} every weight "
            "equals the base model's. The learning "
            f"rate may never have left 0 (warm-up over every step), or there were too few steps: see "
            f"the plan's warnings.",
            highlight=False,
            soft_wrap=True,
        )
    elif metrics["selected"] == "base":
        key = _metric_key(deciding)
        console.print(
            f"[bold red]warning: fine-tuning lowered the dev score {key} "
            f"({metrics['baseline_dev'][key]:.4f} -> {tuned_dev.get(key, float('nan')):.4f}); "
            f"the BASE model was saved, not the fine-tuned one.[/] Try a lower learning rate, "
            f"another loss or more data; set 'evaluation.keep: last' to keep the fine-tuned model anyway.",
            highlight=False,
            soft_wrap=True,
        )
    if metrics.get("merge_base"):
        console.print(_merge_line(metrics["merge_base"]), highlight=False, soft_wrap=True)
    console.print(
        f"[bold green]saved[/] {run_dir / run_folder.MODEL} ({metrics['selected']} model); "
        f"report {run_dir / run_folder.REPORT}; run folder {_megabytes(run_folder.folder_size(run_dir))}"
        + (" with its checkpoints" if kept else " (checkpoints removed)"),
        highlight=False,
        soft_wrap=True,
    )


def _merge_line(record: dict[str, Any]) -> str:
    """Which mix of base and fine-tuned weights was shipped, and each candidate's deciding dev score."""
    key, chosen = record["metric"], record["chosen"]
    scores = ", ".join(
        f"{float(ratio):g}: " + ("n/a" if dev.get(key) is None else f"{dev[key]:.4f}")
        for ratio, dev in record["ratios"].items()
    )
    shipped = {BASE: "the base model", TUNED: "the fine-tuned model"}.get(chosen, f"the mix {chosen:g}")
    return (
        f"[bold]merge_base[/] shipped ratio {chosen:g} ({shipped}); dev {key} by ratio of the "
        f"fine-tuned model: {scores}"
    )


def _scored(evaluator: Any) -> Any:
    """Wrap a single evaluator so every run has the same default dev score key (sequential_score)."""
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

    from sbft.evaluation.evaluators import mean

    if evaluator is None or isinstance(evaluator, SequentialEvaluator):
        return evaluator
    return SequentialEvaluator([evaluator], main_score_function=mean)


def _weights_copy(model: Any) -> dict[str, Any]:
    """Every weight of the base model, on the CPU: the base of the mixes is exactly the model the
    baseline scored (a freshly loaded one may differ, e.g. a cross-encoder's new random head)."""
    return {key: tensor.detach().to("cpu", copy=True) for key, tensor in model.state_dict().items()}


class _BaseModel:
    """The base model, loaded again once when a mix or the shipped model needs it."""

    def __init__(self, load: Any, state: dict[str, Any] | None) -> None:
        self.load, self.state, self.model = load, state, None

    def get(self) -> Any:
        if self.model is None:
            self.model = self.load()
            if self.state is not None:
                self.model.load_state_dict(self.state)
        return self.model


def _choose_shipped(
    recipe: Recipe, args: Any, metrics: dict[str, Any], tuned: Any, base: _BaseModel, dev: Any, say: Console
) -> MergeChoice:
    """One decision over ratios (0: the base model, 1: the fine-tuned one, between: evaluation.merge_base's
    mixes) by the deciding dev metric. The base competes under `evaluation.keep: best` when it was scored."""
    from sbft.evaluation import evaluate
    from sbft.evaluation.merge_base import choose_model, merge_ratios, mix

    key, greater = _metric_key(args.metric_for_best_model), args.greater_is_better is not False
    candidates = {TUNED: metrics["final_dev"]}
    if recipe.evaluation.keep == "best" and metrics["baseline_dev"]:
        candidates[BASE] = metrics["baseline_dev"]
    model_class = recipe.family.import_class("model")
    if recipe.model.adapter is not None and recipe.evaluation.merge_base:
        from sbft import adapters

        tuned = adapters.merged_copy(tuned)  # mixes are of whole models: the adapter folded in, once

    def scored(ratio: float, dev_metrics: dict[str, float]) -> None:
        value = dev_metrics.get(key)
        shown = "n/a" if value is None else f"{value:.4f}"
        say.print(f"[bold]merge_base[/] {ratio:g} fine-tuned + {1 - ratio:g} base: dev {key} {shown}")

    return choose_model(
        candidates,
        key,
        greater,
        ratios=merge_ratios(recipe.evaluation.merge_base),
        build=lambda ratio: mix(model_class, tuned, base.get(), ratio),
        score=lambda model: evaluate(dev, model),
        on_mix=scored,
    )


def _metric_key(deciding: str | None) -> str:
    """The deciding metric as the evaluators name it (the trainer prefixes it with eval_)."""
    return (deciding or DEV_SCORE).removeprefix("eval_")


class _MetricNameCheck(TrainerCallback):
    """The deciding metric exists: checked at the first evaluation when no baseline showed the names."""

    def __init__(self, deciding: str | None, own_losses: list[str]) -> None:
        self.deciding, self.own_losses = deciding, own_losses

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        from sbft.evaluation import check_metric_name

        names = [key.removeprefix("eval_") for key in metrics or {}]
        check_metric_name(self.deciding, [*names, *self.own_losses])
        self.deciding = None  # once is enough


def resume_recipe(run_dir: Path) -> Recipe:
    """The recipe a run was started with (resolved, so it reproduces the run exactly)."""
    run_folder.check_resume(run_dir)
    started = run_folder.read_run_info(run_dir)
    recipe = load_recipe(run_dir / run_folder.RECIPE, variables=started.get("variables"))
    if started.get("recipe"):  # the recipe file the run was started from, not this copy of it
        recipe.source = Path(started["recipe"])
    recipe.output_dir = str(run_dir)
    return recipe


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json as far as the run got; missing or unreadable, a run without a baseline."""
    try:
        read = json.loads((run_dir / run_folder.METRICS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        read = {}
    return {"status": "training", "baseline_dev": {}, "baseline_test": {}, **read}


def smoke(recipe: Recipe, plan: Plan | None = None) -> SmokeResult:
    """The real pipeline on a few rows, in seconds: model, baseline on a few dev rows, two
    optimisation steps, an evaluation, save, reload and one pair encoded or scored.

    It runs in a temporary folder that is deleted afterwards, on a copy of the recipe (and of
    `plan`'s data, when the caller has checked it already). An error that is not an SbftError
    becomes one naming the stage it stopped at, so that what would fail minutes into a run fails
    here. The random states are left as they were: a run gives the same model with or without it.
    """
    import copy
    import gc
    import io
    import tempfile

    import torch

    from sbft.check import preflight
    from sbft.plan import Plan
    from sbft.training_args import build_training_args

    started = time.perf_counter()
    plan = plan or preflight(recipe)
    progress = _Progress(stage="loading the model")
    with (
        tempfile.TemporaryDirectory(prefix="sbft-smoke-") as temporary,
        rng_preserved(),
        contextlib.redirect_stderr(io.StringIO()),  # library bars and warnings: the real run shows them
    ):
        folder = Path(temporary) / "run"
        folder.mkdir()
        settings = smoke_settings(plan.settings, folder)
        small = dataclasses.replace(copy.deepcopy(plan.recipe), output_dir=str(folder), training=settings)
        small.evaluation.test = False
        if small.evaluation.merge_base:  # one mix shows the models merge; the run tries them all
            small.evaluation.merge_base = [0.5]
        args = build_training_args(dict(settings), small.family)
        small_plan = Plan(recipe=small, settings=settings, args=args, datasets=smoke_datasets(plan.datasets))
        try:
            quiet_console = Console(quiet=True)
            result = _run(
                small, small_plan, progress, resume=False, quiet=True, console=quiet_console, started=started
            )
            if result.interrupted:
                raise KeyboardInterrupt
            progress.stage = "reloading the saved model"
            try_saved_model(folder / run_folder.MODEL, small.family, small_plan.datasets)
        except SbftError:
            raise
        except Exception as error:
            raise failure(error, progress.stage.split(", ")[0]) from None
    gc.collect()  # the smoke's model and optimizer, before the real run loads its own
    torch.cuda.empty_cache()
    training = result.metrics["training"]
    return SmokeResult(
        steps=training["steps"],
        seconds=time.perf_counter() - started,
        training_seconds=training.get("train_runtime", 0.0),
    )


class _StageTracker(TrainerCallback):
    """Keeps `progress.stage` at the step being trained, for the message when a run stops there."""

    def __init__(self, progress: _Progress) -> None:
        self.progress = progress

    def on_step_begin(self, args, state, control, **kwargs):
        self.progress.stage = f"training step {state.global_step + 1}"

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.stage = f"the evaluation or checkpoint after training step {state.global_step}"


class GracefulStop(TrainerCallback):
    """Ctrl-C / SIGTERM: finish the current step, save a checkpoint, stop; a second one aborts."""

    def __init__(self) -> None:
        self.stopped = False

    def on_step_end(self, args, state, control, **kwargs):
        if self.stopped:
            control.should_save = True
            control.should_training_stop = True
        return control

    @contextlib.contextmanager
    def catching_signals(self) -> Iterator[None]:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def request_stop(signum: int, frame: Any) -> None:
            self.stopped = True
            for sig, handler in previous.items():
                signal.signal(sig, handler)  # a second signal stops at once
            print("\nstopping after this step and saving a checkpoint (Ctrl-C again aborts)", file=sys.stderr)

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _num_labels(datasets: dict[str, PreparedDataset]) -> int:
    """Cross-encoder outputs: one score, or one logit per class for a class loss (CrossEntropyLoss)."""
    from sbft.data import LABEL

    counts = [
        len(d.class_names) if d.class_names else max(d.splits["train"][LABEL]) + 1
        for d in datasets.values()
        if d.loss_info is not None and d.loss_info.label == "class" and "train" in d.splits
    ]
    return max(counts, default=1)


def _by_split(metrics: dict[str, Any], dev_key: str, test_key: str) -> dict[str, dict[str, float]]:
    return {split: metrics[key] for split, key in (("dev", dev_key), ("test", test_key)) if metrics[key]}
