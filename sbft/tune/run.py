"""`sbft tune RECIPE -o DIR`: the study's loop, then the untuned and best trials on test, best.yaml
and the report.

Every check runs before DIR is touched (`sbft check`'s, tune's space and metric included). Trials
choose on dev only; the test split is evaluated once, after the search, for the best trial and the
untuned one (the recipe as written), whose models are the only ones kept.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from sbft import run_folder
from sbft.errors import SbftError
from sbft.files import write_json
from sbft.recipe import Recipe, load_recipe
from sbft.recipe.tune import dimensions
from sbft.tune import report
from sbft.tune.space import overrides, require_tune, suggest, tune_metric
from sbft.tune.study import (
    TEST,
    TRIALS,
    OpenStudy,
    check_folder,
    fail_stale,
    folder_lock,
    open_study,
    prepare_folder,
    storage_url,
)


@dataclass
class TuneResult:
    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


def tune(
    recipe_path: str | Path,
    out_dir: str | Path,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    overwrite: bool = False,
    console: Console | None = None,
) -> TuneResult:
    """Run (or resume) the recipe's study in `out_dir`. `trials`: run this many more trials (default:
    until the study holds tune.trials finished ones); `timeout`: start no trial after this many
    seconds (default tune.timeout); `storage`: an RDB URL instead of DIR/study.db."""
    from sbft.check import preflight

    console = console or Console()
    out_dir = Path(out_dir)
    recipe = load_recipe(recipe_path)
    require_tune(recipe)
    assert recipe.tune is not None
    _require_optuna()
    if trials is not None and trials < 1:
        raise SbftError(f"--trials must be at least 1, not {trials}", where="trials")
    if timeout is not None and timeout <= 0:
        raise SbftError(f"--timeout must be a positive number of seconds, not {timeout}", where="timeout")
    preflight(recipe)  # sbft check's checks, the tune section's with them, before DIR is touched
    check_folder(out_dir)  # before the lock file is written in it
    with folder_lock(out_dir):
        prepare_folder(out_dir, storage, recipe, overwrite)
        opened = open_study(recipe, storage_url(out_dir, storage), in_folder=storage is None)
    fail_stale(opened.study)
    done = _finished(opened.study)
    target = done + trials if trials is not None else recipe.tune.trials
    deadline = time.monotonic() + (timeout or recipe.tune.timeout or float("inf"))
    console.print(
        f"[bold]sbft tune[/] {recipe.name} -> {out_dir} ({'new study' if opened.created else 'resuming'}: "
        f"{done} of {target} trials done; dev {tune_metric(recipe)})",
        highlight=False,
    )
    try:
        with report.LiveTable(console, tune_metric(recipe)) as table:
            _loop(recipe, out_dir, opened, target, deadline, table)
        summary = finish(recipe, out_dir, opened, console)
    except KeyboardInterrupt:
        console.print(
            "[bold yellow]interrupted[/]: the trial that was running is marked FAIL; the study keeps "
            f"every finished trial. Resume with the same command: sbft tune {recipe_path} -o {out_dir}",
            highlight=False,
            soft_wrap=True,
        )
        return TuneResult(out_dir, interrupted=True)
    return TuneResult(out_dir, summary)


def _require_optuna() -> None:
    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        raise SbftError(
            "sbft tune runs its study with optuna, which is not installed",
            where="tune",
            fix="Install it: pip install 'sbft[tune]'.",
        )


def _finished(study: Any) -> int:
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))


def _busy(study: Any) -> int:
    """Finished trials and those running now (in this or another process)."""
    return sum(t.state.name in ("COMPLETE", "PRUNED", "RUNNING") for t in study.get_trials(deepcopy=False))


def _loop(recipe: Recipe, out_dir: Path, opened: OpenStudy, target: int, deadline: float, table: Any) -> None:
    """One trial at a time until the study holds `target` trials (counting those other processes
    are running) or the deadline passed."""
    from sbft.tune.trial import TrialFailed

    study = opened.study
    ran: list[int] = []
    objective = _objective(recipe, out_dir, table, ran)
    while time.monotonic() < deadline:
        fail_stale(study)
        if _busy(study) >= target:
            break
        study.optimize(objective, n_trials=1, catch=(TrialFailed,), gc_after_trial=False)
        trial = next(t for t in study.get_trials(deepcopy=False) if t.number == ran[-1])
        report.append_line(out_dir, trial)
        line = report.trial_line(trial)
        table.update(trial.number, state=line["state"], dev=line["value"], seconds=line["seconds"])
        _drop_models(study, out_dir)


def _objective(recipe: Recipe, out_dir: Path, table: Any, ran: list[int]) -> Any:
    """optuna's objective: draw the values, run the trial in a child process, return its dev value
    (`ran` collects the numbers of the trials it ran)."""
    import optuna

    from sbft.tune.trial import TrialFailed, TrialJob, run_trial

    space, metric = dimensions(recipe.tune), tune_metric(recipe)
    assert recipe.source is not None

    def objective(trial: Any) -> float:
        started = time.perf_counter()
        ran.append(trial.number)
        values = suggest(trial, space)
        run_dir = out_dir / TRIALS / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        table.update(trial.number, params=values)
        job = TrialJob(
            recipe=str(recipe.source),
            overrides=[*overrides(values), "evaluation.test=false"],  # trials choose on dev only
            variables=dict(recipe.variables),
            run_dir=str(run_dir.resolve()),
            metric=metric,
            log=str((out_dir / TRIALS / f"trial-{trial.number:04d}.log").resolve()),
        )
        try:
            outcome = run_trial(trial, job, lambda step, value: table.update(trial.number, dev=value))
        except KeyboardInterrupt:
            shutil.rmtree(run_dir, ignore_errors=True)  # a FAIL trial's half-made run
            raise
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        if outcome.error is not None:
            table.update(trial.number, state="FAIL", seconds=time.perf_counter() - started)
            raise TrialFailed(f"trial {trial.number}: {outcome.error} (log: {job.log})")
        if outcome.pruned:
            raise optuna.TrialPruned()
        if outcome.value is None:
            raise TrialFailed(
                f"trial {trial.number}: its dev evaluation reported no {metric} (log: {job.log})"
            )
        return outcome.value

    return objective


def _drop_models(study: Any, out_dir: Path) -> None:
    """Only the best and the untuned trials keep their model: the others keep their metrics."""
    keep = {t.number for t in study.get_trials(deepcopy=False) if t.user_attrs.get("untuned")}
    best = _best(study)
    if best is not None:
        keep.add(best.number)
    for trial in study.get_trials(deepcopy=False):
        if trial.number not in keep and trial.state.name != "RUNNING":
            shutil.rmtree(
                out_dir / TRIALS / f"trial-{trial.number:04d}" / run_folder.MODEL, ignore_errors=True
            )


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def finish(recipe: Recipe, out_dir: Path, opened: OpenStudy, console: Console) -> dict[str, Any]:
    """After the trials: trials.jsonl from the study, the test split for the untuned and the best
    trial (once: kept in test.json), best.yaml, report.md and its plots."""
    study = opened.study
    report.write_lines(out_dir, study)
    _drop_models(study, out_dir)
    best = _best(study)
    if best is None:
        raise SbftError(
            "no trial finished, so there is no best recipe",
            where="output_dir",
            fix=f"See the trials' logs in {out_dir / TRIALS}; run again to try more trials.",
        )
    untuned = next((t for t in study.trials if t.user_attrs.get("untuned")), None)
    metric = tune_metric(recipe)
    has_test = any("test" in spec.declared_splits for spec in recipe.datasets.values())
    scored = [t for t in (untuned, best) if t is not None and t.state.name == "COMPLETE"]
    tests = _test_scores(out_dir, scored) if has_test else {}
    summary: dict[str, Any] = {
        "name": recipe.name,
        "study": study.study_name,
        "storage": opened.storage_url,
        "metric": metric,
        "direction": study.direction.name.lower(),
        "trials": len([t for t in study.trials if t.state.name in report.FINISHED]),
        "has_test": has_test,
        "best_yaml": str(report.write_best(out_dir, recipe, best.params)),
    }
    for label, trial in (("untuned", untuned), ("best", best)):
        if trial is not None:
            test = tests.get(str(trial.number), {})
            summary[label] = {
                "number": trial.number,
                "params": trial.params,
                "dev": report.trial_line(trial)["value"],
                "test": test.get(metric, _main(test)),
                "test_metrics": test,
            }
    notes = report.plots(out_dir, study)
    summary["report"] = str(report.write_report(out_dir, study, summary, notes))
    return summary


def _main(metrics: dict[str, float]) -> float | None:
    """A test value when the tune metric is no test metric (the dev score of several sets)."""
    return next(iter(metrics.values()), None) if len(metrics) == 1 else None


def _test_scores(out_dir: Path, trials: list[Any]) -> dict[str, dict[str, float]]:
    """{trial number: test metrics} for the given trials, each evaluated once (kept in DIR/test.json)."""
    import json

    from sbft.evaluation.data import DataOptions, resolve_data
    from sbft.evaluation.score import score_models

    path = out_dir / TEST
    known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    wanted = [t for t in {t.number: t for t in trials}.values() if str(t.number) not in known]
    runs = [Path(t.user_attrs["run_dir"]) for t in wanted]
    runs = [run for run in runs if (run / run_folder.MODEL).is_dir()]
    if runs:
        data = resolve_data("test", DataOptions(), [str(runs[0])])
        data.base_model = None  # the base model is no trial
        scores = score_models([str(run) for run in runs], data, progress=False)
        for run, metrics in zip(runs, scores.values(), strict=True):
            known[str(int(run.name.removeprefix("trial-")))] = metrics
        write_json(path, known)
    return known
