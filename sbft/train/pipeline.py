"""The `sbft train` pipeline: the eight steps of the sentence-transformers training guide.

check (training arguments, model reference, datasets) -> smoke run (all that follows, on a few
rows, in seconds: see `smoke`) -> model -> losses -> baseline evaluation -> train -> select the
best model -> test -> save. Interrupted runs save a checkpoint and can be resumed from their run
folder. `_run` calls the stages (sbft.train.stages) in order; the trainer callbacks are in
sbft.train.callbacks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from sbft import run_folder
from sbft.errors import SbftError
from sbft.quiet import quiet_libraries
from sbft.recipe import Recipe, load_recipe
from sbft.smoke import (
    SmokeResult,
    failure,
    rng_preserved,
    smoke_datasets,
    smoke_settings,
    timed,
    try_saved_model,
)
from sbft.train import stages
from sbft.train.stages import Progress, is_main_process
from sbft.train.summary import print_summary

if TYPE_CHECKING:
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
    callbacks: list[Any] | None = None,
) -> RunResult:
    """Run a whole recipe and return the run folder and its metrics.

    `smoke_first` runs `smoke` before the run folder is touched (not on a resume, nor over several
    processes). With `resume`, continue the run in `recipe.run_dir` from its last checkpoint; `quiet`
    prints only errors and the final tables; `keep_checkpoints` keeps checkpoints/ once the run
    finished. Everything is checked before the run folder is touched, and a run that stops early
    leaves a folder that the next attempt can use (see sbft.run_folder). Under torchrun /
    accelerate every process trains, and only the main one prints and writes the run folder.
    `cache` reads and writes the base model's scores in the user cache (evaluation.baseline_cache).
    `callbacks`: more trainer callbacks (sbft tune's trials report their dev evaluations through one).
    """
    from sbft.check import preflight
    from sbft.estimate import print_estimate
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
    progress = Progress()
    try:
        started = time.perf_counter()
        quiet_libraries()
        say.print(f"[bold]sbft train[/] {recipe.name} -> {run_dir}" + (" (resuming)" if resume else ""))
        plan = preflight(recipe)
        print_plan(plan, say)
        if smoke_first and not resume and plan.args.world_size == 1:
            progress.stage = "the smoke run, before training started"
            smoked = smoke(recipe, plan)
            say.print(smoked.line(), highlight=False)
            print_estimate(plan, say, smoked.throughput, smoked.why_not_timed, smoke_seconds=smoked.seconds)
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
                callbacks=callbacks,
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
    except Exception as error:
        if progress.claim is not None:
            if found := run_folder.disk_error(error, kept=progress.next_step()):  # full or read-only
                raise found from None
            Console(stderr=True).print(f"sbft: {progress.next_step()}", highlight=False, soft_wrap=True)
        raise


def _run(
    recipe: Recipe,
    plan: Plan,
    progress: Progress,
    *,
    resume: bool,
    quiet: bool,
    console: Console,
    started: float,
    cache: bool = False,
    callbacks: list[Any] | None = None,
) -> RunResult:
    """From the model to the saved run, in a run folder claimed for this run (by the main process)."""
    ctx = stages.RunContext(
        recipe, plan, progress, console, quiet, resume, cache, started, callbacks=list(callbacks or [])
    )
    base = stages.load_model(ctx)
    datasets, mining = stages.mine(ctx, base.model)
    goals = stages.objectives(ctx, datasets, base.model)
    stages.write_start(ctx)
    metrics = (
        _read_metrics(ctx.run_dir)
        if resume
        else {"status": "training", "baseline_dev": {}, "baseline_test": {}}
    )
    if mining:
        metrics["mining"] = mining
    if goals.pools:  # the dev metrics below are over these pools; test is over the whole corpus
        metrics["dev_pool"] = {name: pool.record() for name, pool in goals.pools.items()}
    stages.baseline(ctx, base.model, datasets, goals, metrics)
    training = stages.trainer_setup(ctx, base.model, goals, metrics)
    output = stages.train_model(ctx, training)
    metrics["evaluations"] = run_folder.read_evaluations(ctx.run_dir)
    if training.stopper.stopped:
        stages.stopped_early(ctx, metrics, output.global_step)
        return RunResult(run_dir=ctx.run_dir, metrics=metrics, interrupted=True)
    model = stages.final_evaluation(ctx, base, goals, training, output, metrics)
    stages.save(ctx, model, metrics, base.parameters)
    if progress.claim is not None:
        progress.claim.finish()
        print_summary(
            console, metrics, ctx.run_dir, progress.claim.keep_checkpoints, plan.args.metric_for_best_model
        )
    return RunResult(run_dir=ctx.run_dir, metrics=metrics)


def resume_recipe(run_dir: Path) -> Recipe:
    """The recipe a run was started with (resolved, so it reproduces the run exactly)."""
    run_folder.check_resume(run_dir)
    started = run_folder.read_run_info(run_dir)
    recipe = load_recipe(run_dir / run_folder.RECIPE, variables=started.get("variables"))
    if started.get("recipe"):  # the recipe file the run was started from, not this copy of it
        recipe.source = Path(started["recipe"])
    recipe.output_dir = str(run_dir)
    return recipe


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
    progress = Progress(stage="loading the model")
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
            saved = try_saved_model(folder / run_folder.MODEL, small.family, small_plan.datasets)
        except SbftError:
            raise
        except Exception as error:
            raise failure(error, progress.stage.split(", ")[0]) from None
        pace = timed(*saved, plan)  # a few batches on the reloaded model: the estimate's pace
        del saved
    gc.collect()  # the smoke's model and optimizer, before the real run loads its own
    torch.cuda.empty_cache()
    training = result.metrics["training"]
    return SmokeResult(
        steps=training["steps"],
        seconds=time.perf_counter() - started,
        training_seconds=training.get("train_runtime", 0.0),
        **pace,
    )
