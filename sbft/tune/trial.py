"""One trial: `sbft train`'s own pipeline (sbft.train.train) on the recipe with the trial's values,
in a child process, reporting each dev evaluation to the study so that the pruner can stop it.

Why a child process per trial: memory cannot grow across trials. A process that trained a model
keeps memory that Python's and torch's allocators do not return (transformers#31923: trainers,
optimizers and cached tensors outlive `del` and gc.collect()); a process that ends returns all of
it. The children are forked from a forkserver that imported torch and sentence-transformers once,
so a trial does not pay their import time (seconds) again; where there is no forkserver
(Windows, macOS spawn), each child imports them itself.

The child holds no optuna object: it sends ("eval", n, value) for its n-th dev evaluation and
waits for the parent's answer (prune or go on); the parent, which asked the study for the trial,
reports and decides. Ctrl-C in the parent kills the child: optuna marks the trial FAIL, and the
next `sbft tune` starts a new one.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRELOAD = ["sbft.tune.preload"]


@dataclass
class TrialJob:
    """What the child needs: the recipe file and its overrides, where the run goes, what to report."""

    recipe: str
    overrides: list[str]
    variables: dict[str, str]
    run_dir: str
    metric: str
    log: str
    environment: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = field(default_factory=os.getcwd)


@dataclass
class TrialOutcome:
    value: float | None
    pruned: bool
    error: str | None
    evaluations: list[float]


class TrialFailed(Exception):
    """A trial's run stopped with an error: the trial is FAIL, the study goes on."""


def context() -> Any:
    """forkserver with torch preloaded where the platform has one, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def run_trial(trial: Any, job: TrialJob, on_evaluation: Callable[[int, float], None]) -> TrialOutcome:
    """Run the job in a child, relaying its dev evaluations to `trial` (report, should_prune)."""
    ctx = context()
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=child_main, args=(job, theirs), name=f"sbft-trial-{trial.number}")
    process.start()
    theirs.close()
    evaluations: list[float] = []
    result: dict[str, Any] | None = None
    try:
        while result is None:
            if not ours.poll(1.0):
                if not process.is_alive():
                    break
                continue
            try:
                kind, payload = ours.recv()
            except EOFError:  # the child ended without a word (killed, out of memory)
                break
            if kind == "eval":
                step, value = payload
                evaluations.append(value)
                trial.report(value, step)
                on_evaluation(step, value)
                ours.send(trial.should_prune())
            else:
                result = {"kind": kind, **payload}
    except BaseException:  # Ctrl-C, or anything else in the parent: the child goes too
        process.kill()
        process.join()
        raise
    process.join()
    if result is None:
        code = process.exitcode
        return TrialOutcome(None, False, f"the trial's process ended with exit code {code}", evaluations)
    return TrialOutcome(result.get("value"), result.get("pruned", False), result.get("error"), evaluations)


def child_main(job: TrialJob, connection: Any) -> None:
    """The child: `sbft train` on the trial's recipe, its output in the trial's log file."""
    os.environ.clear()
    os.environ.update(job.environment)
    os.chdir(job.cwd)
    Path(job.run_dir).parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout, sys.stderr = log, log
        try:
            payload = _train(job, connection, log)
            connection.send(("done", payload))
        except BaseException as error:  # every failure goes back as the trial's error
            traceback.print_exc(file=log)
            connection.send(("done", {"error": _error_text(error)}))
        finally:
            log.flush()


def _train(job: TrialJob, connection: Any, log: Any) -> dict[str, Any]:
    from rich.console import Console

    from sbft.recipe import load_recipe
    from sbft.train import train

    started = time.perf_counter()
    recipe = load_recipe(job.recipe, job.overrides, variables=job.variables)
    recipe.output_dir = job.run_dir
    reporter = evaluation_reporter(connection, job.metric)
    console = Console(file=log, width=120, force_terminal=False)
    result = train(recipe, quiet=True, smoke_first=False, cache=True, console=console, callbacks=[reporter])
    if result.interrupted and not reporter.pruned:
        return {"error": "the trial's run was interrupted"}
    return {
        "value": trial_value(result.metrics, job.metric),
        "pruned": reporter.pruned,
        "seconds": time.perf_counter() - started,
    }


def trial_value(metrics: dict[str, Any], metric: str) -> float | None:
    """The fine-tuned model's dev value: what the trial's settings made (the base model, which
    competes in every run, is the same for all trials and not what the search compares)."""
    dev = metrics.get("fine_tuned_dev") or metrics.get("final_dev") or {}
    value = dev.get(metric)
    if value is None:  # a trainer-computed metric (a dev loss): the kept step's evaluation
        kept = metrics.get("kept_step")
        for record in metrics.get("evaluations", []):
            if record.get("step") == kept and metric in record:
                value = record[metric]
    return None if value is None else float(value)


def _error_text(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"{type(error).__name__}: {error}"


def evaluation_reporter(connection: Any, metric: str) -> Any:
    """A trainer callback that sends each dev evaluation's value to the parent and stops training
    when the parent's pruner says so (the run then ends as `sbft train` ends: best model, save)."""
    from transformers import TrainerCallback

    class EvaluationReporter(TrainerCallback):
        def __init__(self) -> None:
            self.count, self.pruned = 0, False

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            value = (metrics or {}).get(f"eval_{metric}")
            if value is None or self.pruned:
                return control
            self.count += 1
            connection.send(("eval", (self.count, float(value))))
            if connection.recv():
                self.pruned = True
                control.should_training_stop = True
            return control

    return EvaluationReporter()
