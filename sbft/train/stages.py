"""The stages of one `sbft train` run, in the order `pipeline._run` calls them: the model (and mined
negatives), losses and evaluators, the baseline, the trainer and training, the final evaluation and
choice of the shipped model, and the saved run folder.

Each stage reads the run's context (`RunContext`) and hands its results to the next. Over 400
lines and kept one module: the stages share that context and are one story, read top to bottom.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from sbft import run_folder
from sbft.evaluation.merge_base import BASE, TUNED, MergeChoice
from sbft.recipe import Recipe, dump_recipe, redact
from sbft.recipe.dump import resolution
from sbft.train.summary import metric_key
from sbft.training_args import arguments_record

if TYPE_CHECKING:
    from sbft.data import PreparedDataset
    from sbft.plan import Plan


def is_main_process() -> bool:
    """Rank 0 of a torchrun / accelerate launch, or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass
class Progress:
    """How far a run got, for the message when it stops early."""

    stage: str = "the checks"
    claim: run_folder.Claim | None = None

    def next_step(self) -> str:
        return self.claim.next_step() if self.claim else "Nothing was written."


@dataclass
class RunContext:
    """What every stage of one run reads: the checked recipe and plan, where to print, how far it got."""

    recipe: Recipe
    plan: Plan
    progress: Progress
    console: Console
    quiet: bool
    resume: bool
    cache: bool
    started: float
    main: bool = field(default_factory=is_main_process)
    corpus_cache: Any = None
    """sbft.inference.corpus.CorpusCache: the base model's corpus embeddings, encoded once per run."""
    callbacks: list[Any] = field(default_factory=list)
    """More trainer callbacks from the caller (sbft tune's trial reports each dev evaluation)."""

    def __post_init__(self) -> None:
        from sbft.inference.corpus import CorpusCache

        if self.corpus_cache is None:
            self.corpus_cache = CorpusCache.default(use_disk=self.cache, say=self.say.print)
            self.corpus_cache.twin = self.twin

    @property
    def twin(self) -> bool:
        """Large corpora are encoded through an ONNX twin of the model (evaluation.encode_backend)."""
        return self.recipe.evaluation.encode_backend == "auto"

    @property
    def say(self) -> Console:
        """Progress that -q leaves out."""
        return Console(quiet=True) if self.quiet else self.console

    @property
    def run_dir(self) -> Path:
        return self.recipe.run_dir

    @property
    def args(self) -> Any:
        return self.plan.args


@dataclass
class BaseModelState:
    """The loaded base model and what the end of the run compares it with."""

    model: Any
    num_labels: int
    base_state: dict[str, Any] | None
    """Every base weight on the CPU, with evaluation.merge_base: the base of the mixes."""
    parameters: dict[str, int]
    base_weights: str


@dataclass
class Objectives:
    """What training optimises and what evaluation measures."""

    trained: dict[str, PreparedDataset]
    losses: dict[str, Any]
    dev: Any
    test: Any
    deciding: str | None
    """The trainer's metric_for_best_model when it keeps the best model, else None."""
    own_losses: list[str]
    pools: dict[str, Any] = field(default_factory=dict)
    """evaluation.DevPool by dataset: the datasets whose dev split is searched over a pool."""


def load_model(ctx: RunContext) -> BaseModelState:
    """The base model (with its LoRA adapter attached when the recipe trains one)."""
    from sbft.adapters import trainable_counts
    from sbft.check import check_model_dims
    from sbft.models import build_model, weights_checksum

    recipe = ctx.recipe
    num_labels = _num_labels(ctx.plan.datasets)
    model = build_model(recipe.model, num_labels=num_labels)
    check_model_dims(recipe, model)  # evaluation.dims within the model's size, where check could not tell
    base_state = _weights_copy(model) if recipe.evaluation.merge_base else None
    if recipe.model.adapter is not None:  # only the adapter trains: every base weight is frozen
        from sbft import adapters

        adapters.attach(model, recipe.model.adapter, seed=ctx.args.seed)
    parameters = dict(zip(("trainable", "total"), trainable_counts(model), strict=True))
    return BaseModelState(model, num_labels, base_state, parameters, weights_checksum(model))


def mine(ctx: RunContext, model: Any) -> tuple[dict[str, PreparedDataset], dict[str, Any]]:
    """The datasets with their mined hard negatives (read back on a resume), and the mining records."""
    from sbft.mining import mine_datasets, summary

    ctx.progress.stage = "mining hard negatives, before training started"
    args = ctx.args
    with args.main_process_first(desc="sbft hard-negative mining"):  # the others read its rows back
        datasets, mining = mine_datasets(
            ctx.plan.datasets,
            model,
            ctx.run_dir,
            prompts=ctx.recipe.model.prompts,
            batch_size=args.per_device_eval_batch_size,
            seed=args.seed,
            progress=not ctx.quiet,
            write=ctx.main,
            corpus_cache=ctx.corpus_cache,  # the run's one encode of each corpus, shared with the baseline
        )
    for name, record in mining.items():
        ctx.say.print(f"[bold]negatives[/] {summary(name, record)}", highlight=False, soft_wrap=True)
    return datasets, mining


def objectives(ctx: RunContext, datasets: dict[str, PreparedDataset], model: Any) -> Objectives:
    """One loss per trained dataset; the dev and test evaluators over every dataset."""
    from sbft.evaluation import build_evaluator
    from sbft.evaluation.evaluators import corpus_encoder, encode_documents_with
    from sbft.evaluation.recorded import recorded
    from sbft.losses import build_loss

    recipe, args = ctx.recipe, ctx.args
    trained = {name: prepared for name, prepared in datasets.items() if prepared.spec.loss is not None}
    losses = {  # datasets without a loss are only evaluated: their rows never reach a loss
        name: build_loss(
            ctx.plan.recipe.datasets[name].loss,
            model,
            prepared.splits["train"],
            f"datasets.{name}.loss",
            recipe.family,
        )
        for name, prepared in trained.items()
    }
    evaluation = {"prompts": recipe.model.prompts, "dims": recipe.evaluation_dims}
    eval_batch = args.per_device_eval_batch_size
    pools = dev_pools(ctx, datasets, model)
    corpora = {name: pool.corpus(datasets[name].corpus) for name, pool in pools.items()}
    dev = recorded(build_evaluator(datasets, "dev", eval_batch, corpora=corpora, **evaluation))
    test = build_evaluator(datasets, "test", eval_batch, **evaluation) if recipe.evaluation.test else None
    for split, evaluator in (("dev", dev), ("test", test)):
        encode_documents_with(
            evaluator, corpus_encoder(f"evaluating {split}", eval_batch, not ctx.quiet, ctx.twin)
        )
    deciding = args.metric_for_best_model if args.load_best_model_at_end else None
    own_losses = ["loss", *(f"{name}_loss" for name, prepared in trained.items() if "dev" in prepared.splits)]
    return Objectives(trained, losses, dev, test, deciding, own_losses, pools)


def dev_pools(ctx: RunContext, datasets: dict[str, PreparedDataset], model: Any) -> dict[str, Any]:
    """The pooled dev corpus of each dataset that evaluation.pool pools (sbft.evaluation.pool)."""
    from sbft.evaluation.pool import dev_pool, pooled_datasets

    wanted = pooled_datasets(datasets, ctx.recipe.evaluation.pool_spec)
    if wanted:
        ctx.progress.stage = "building the dev pool, before training started"
    return {
        name: dev_pool(
            datasets[name],
            spec,
            model,
            ctx.corpus_cache,
            prompts=ctx.recipe.model.prompts,
            batch_size=ctx.args.per_device_eval_batch_size,
            seed=ctx.args.seed,
            say=lambda line: ctx.say.print(f"[bold]dev pool[/] {line}", highlight=False, soft_wrap=True),
        )
        for name, spec in wanted.items()
    }


def base_embeddings(ctx: RunContext, datasets: dict[str, PreparedDataset], model: Any) -> dict[str, Any]:
    """For each dataset with a corpus: document ids -> the base model's embeddings of them, computed
    (or read from the cache) on first use, once per run."""
    from sbft.evaluation.pool import base_corpus_embeddings, rows_of

    def rows(prepared: PreparedDataset) -> Any:
        def lookup(ids: list[str]) -> Any:
            embeddings = base_corpus_embeddings(
                prepared,
                model,
                ctx.corpus_cache,
                prompts=ctx.recipe.model.prompts,
                batch_size=ctx.args.per_device_eval_batch_size,
            )
            return rows_of(prepared, embeddings)(ids)

        return lookup

    return {name: rows(prepared) for name, prepared in datasets.items() if prepared.corpus is not None}


def write_start(ctx: RunContext) -> None:
    """For --resume: the recipe as shareable as it was written, and what it resolved to here."""
    if not ctx.main:
        return
    resolved = dataclasses.replace(ctx.plan.recipe, output_dir=str(ctx.run_dir))
    (ctx.run_dir / run_folder.RECIPE).write_text(dump_recipe(resolved, ctx.run_dir), encoding="utf-8")
    if not ctx.resume:
        run_folder.write_json(ctx.run_dir / run_folder.RUN_INFO, resolution(resolved))


def baseline(
    ctx: RunContext, model: Any, datasets: dict[str, PreparedDataset], goals: Objectives, metrics: dict
) -> None:
    """The base model's dev and test scores into `metrics` (from the cache when it holds them); its
    corpus embeddings are the run's one encode of each corpus, not encoded again."""
    from sbft.evaluation import check_metric_name
    from sbft.evaluation.evaluators import given_corpus_embeddings
    from sbft.report import metrics_table

    ctx.progress.stage = "the baseline evaluation, before training started"
    if not ctx.resume and ctx.recipe.evaluation.baseline:
        from sbft.evaluation.baseline_cache import baseline_scores

        rows = base_embeddings(ctx, datasets, model)
        with given_corpus_embeddings(goals.dev, rows), given_corpus_embeddings(goals.test, rows):
            metrics["baseline_dev"], metrics["baseline_test"] = baseline_scores(
                ctx.recipe.model,
                model,
                goals.dev,
                goals.test,
                cache=ctx.cache,
                write=ctx.main,
                say=ctx.say.print,
            )
        check_metric_name(goals.deciding, [*metrics["baseline_dev"], *goals.own_losses])
        if metrics["baseline_dev"]:
            ctx.say.print(metrics_table("base model", _by_split(metrics, "baseline_dev", "baseline_test")))
    ctx.corpus_cache.forget()  # the base model's corpus embeddings (1.5 GB at 1M x 384): done with
    if ctx.main:
        run_folder.write_json(ctx.run_dir / run_folder.METRICS, metrics)


@dataclass
class Training:
    """The trainer and the callbacks the run reads after training."""

    trainer: Any
    log: Any
    """report.MetricsCallback: prints and logs every entry to metrics.jsonl."""
    stopper: Any
    """callbacks.GracefulStop: whether Ctrl-C / SIGTERM stopped training."""


def trainer_setup(ctx: RunContext, model: Any, goals: Objectives, metrics: dict[str, Any]) -> Training:
    """The family's trainer on the trained datasets, with sbft's callbacks instead of the printers."""
    from transformers import EarlyStoppingCallback, PrinterCallback, ProgressCallback

    from sbft.report import MetricsCallback
    from sbft.sampling import bind_tokenizer
    from sbft.train.callbacks import GracefulStop, MetricNameCheck, StageTracker, tensorboard_into

    recipe, args, run_dir = ctx.recipe, ctx.args, ctx.run_dir
    log = MetricsCallback(
        run_dir / run_folder.METRICS_LOG,
        ctx.console,
        quiet=ctx.quiet,
        baseline_dev=metrics.get("baseline_dev"),
    )
    stopper = GracefulStop()
    single = len(goals.trained) == 1
    train_sets = {name: d.splits["train"] for name, d in goals.trained.items()}
    dev_sets = {name: d.splits["dev"] for name, d in goals.trained.items() if "dev" in d.splits}
    watchers = [MetricNameCheck(goals.deciding, goals.own_losses)]
    if recipe.evaluation.patience:
        watchers.append(EarlyStoppingCallback(early_stopping_patience=recipe.evaluation.patience))
    ctx.progress.stage = "setting up the trainer, before training started"
    bind_tokenizer(args.batch_sampler, model)  # length-grouped batches measure rows in its tokens
    trainer = recipe.family.import_class("trainer")(
        model=model,
        args=args,
        train_dataset=next(iter(train_sets.values())) if single else train_sets,
        eval_dataset=(next(iter(dev_sets.values())) if single else dev_sets) if dev_sets else None,
        loss=next(iter(goals.losses.values())) if single else goals.losses,
        evaluator=goals.dev,
        callbacks=[log, stopper, StageTracker(ctx.progress), *watchers, *ctx.callbacks],
    )
    # Our callback prints the logs; the trainer's own printers would repeat them as raw dicts.
    trainer.remove_callback(PrinterCallback)
    if recipe.model.adapter is not None:  # checkpoints hold the adapter only: resume and best model
        from sbft import adapters

        adapters.bind_trainer(trainer)
    trainer.remove_callback(ProgressCallback)
    tensorboard_into(trainer, run_dir / run_folder.TENSORBOARD)
    return Training(trainer, log, stopper)


def train_model(ctx: RunContext, training: Training) -> Any:
    """Train (from the newest checkpoint on a resume); Ctrl-C / SIGTERM stop after the current step."""
    checkpoint = run_folder.newest_checkpoint(ctx.run_dir) if ctx.resume else None
    ctx.progress.stage = "training"
    with training.stopper.catching_signals(), training.log:
        output = training.trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    ctx.progress.stage = "the final evaluation and save"
    return output


def stopped_early(ctx: RunContext, metrics: dict[str, Any], steps: int) -> None:
    """Ctrl-C / SIGTERM stopped training: the metrics and report so far, and how to resume."""
    from sbft.report import write_report

    metrics["status"] = "interrupted"
    run_dir = ctx.run_dir
    if ctx.main:
        run_folder.write_json(run_dir / run_folder.METRICS, metrics)
        if ctx.progress.claim is not None:  # a real run, not the smoke run
            write_report(run_dir)
    aside = run_dir / run_folder.REPLACED
    waiting = f"\nThe run it replaces waits in {aside} until then." if aside.is_dir() else ""
    ctx.console.print(
        f"[bold yellow]interrupted[/] after step {steps}; a checkpoint is saved. "
        f"Resume with:\n  sbft train --resume {run_dir}{waiting}",
        highlight=False,
        soft_wrap=True,
    )


def final_evaluation(
    ctx: RunContext, base: BaseModelState, goals: Objectives, training: Training, output: Any, metrics: dict
) -> Any:
    """The kept weights' dev and test scores, and the model to ship (fine-tuned, base or a mix)."""
    from sbft.evaluation import evaluate
    from sbft.models import weights_checksum

    args, model = ctx.args, base.model
    best_step = training.trainer.state.best_global_step if args.load_best_model_at_end else None
    metrics["kept_step"] = best_step or output.global_step  # whose weights the fine-tuned model has
    # The kept weights were evaluated on dev during training: their scores, not a second evaluation.
    logged = goals.dev.by_step.get(metrics["kept_step"]) if goals.dev is not None else None
    metrics["final_dev"] = logged if logged is not None else evaluate(goals.dev, model)
    metrics["final_dev_from"] = (
        f"the evaluation at step {metrics['kept_step']}" if logged is not None else "evaluated again"
    )
    metrics["test"] = evaluate(goals.test, model)
    metrics["training"] = {
        "steps": output.global_step,
        "train_loss": output.training_loss,
        **{k: v for k, v in output.metrics.items() if isinstance(v, (int, float))},
    }
    metrics["selected"] = "fine-tuned"
    metrics["unchanged"] = weights_checksum(model) == base.base_weights
    if metrics["unchanged"]:
        metrics["selected"] = "base"  # bit for bit the base model: nothing was fine-tuned
        return model
    return _shipped(ctx, base, goals, metrics)


def _shipped(ctx: RunContext, base: BaseModelState, goals: Objectives, metrics: dict[str, Any]) -> Any:
    """The fine-tuned model, the base model or a mix of the two, by the deciding dev metric."""
    from sbft.evaluation import evaluate
    from sbft.models import build_model

    recipe, model = ctx.recipe, base.model
    if recipe.evaluation.merge_base:
        ctx.progress.stage = "merging with the base model, after training"
    loaded = _BaseModel(lambda: build_model(recipe.model, num_labels=base.num_labels), base.base_state)
    choice = _choose_shipped(recipe, ctx.args, metrics, model, loaded, goals.dev, ctx.say)
    if choice.chosen != TUNED:  # the fine-tuned model's scores stay in the report
        metrics["fine_tuned_dev"], metrics["fine_tuned_test"] = metrics["final_dev"], metrics["test"]
    if choice.chosen == BASE:
        # Fine-tuning made the dev score worse: ship the base model, and say so loudly.
        metrics["final_dev"], metrics["test"] = metrics["baseline_dev"], metrics["baseline_test"]
        metrics["selected"] = "base"
        model = loaded.get()
    elif choice.model is not None:  # a mix of the two: the test split is scored on it
        model = choice.model
        metrics["final_dev"], metrics["test"] = choice.dev[choice.chosen], evaluate(goals.test, model)
        metrics["selected"] = f"merged {choice.chosen:g}"
    if recipe.evaluation.merge_base:
        metrics["merge_base"] = choice.record()
    ctx.progress.stage = "the final evaluation and save"
    return model


def save(ctx: RunContext, model: Any, metrics: dict[str, Any], parameters: dict[str, int]) -> None:
    """The run folder: model/, metrics.json, run.json, training_args.json, report.md."""
    from sbft.report import write_report

    recipe, plan, run_dir = ctx.recipe, ctx.plan, ctx.run_dir
    metrics["status"] = "finished"
    if not ctx.main:
        return
    run_folder.save_model_atomically(
        model, run_dir, base=recipe.model, written=recipe.written.get(("model", "name"))
    )
    run_folder.write_json(run_dir / run_folder.METRICS, metrics)
    run_info = {"wall_time_s": round(time.perf_counter() - ctx.started, 2), **_distribution(plan)}
    run_info["parameters"] = parameters  # what trained (an adapter's) and the model's size
    run_info.update(resolution(plan.recipe))
    run_folder.write_json(run_dir / run_folder.RUN_INFO, {**run_info, **run_folder.environment()})
    run_folder.write_json(run_dir / run_folder.TRAINING_ARGS, redact(arguments_record(ctx.args)))
    if ctx.progress.claim is not None:  # a real run, not the smoke run
        write_report(run_dir)


def _distribution(plan: Any) -> dict[str, Any]:
    """How the run was spread over processes, for run.json."""
    state = plan.args.distributed_state
    return {
        "world_size": plan.args.world_size,
        "backend": getattr(state, "backend", None) if state is not None else None,
        "effective_batch_size": plan.effective_batch,
    }


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

    key, greater = metric_key(args.metric_for_best_model), args.greater_is_better is not False
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
