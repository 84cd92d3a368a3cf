"""`sbft tune` end to end on the tiny model and data: trials.jsonl grows in one resumable study,
best.yaml reproduces the best trial, two processes share one SQLite study, another recipe's study
is refused, and a bad trial is pruned."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_sbft

pytest.importorskip("optuna")

SPACE = {
    "training.learning_rate": {"log_uniform": [1.0e-5, 1.0e-3]},
    "training.per_device_train_batch_size": {"choice": [8, 16]},
}
TINY = {  # one epoch of a few steps, an evaluation per epoch, no test during trials anyway
    "training__num_train_epochs": 1,
    "training__logging_steps": 50,
}


def tune_recipe(recipe_file, trials: int = 4, **changes) -> Path:
    return recipe_file(**TINY, tune={"trials": trials, "space": SPACE}, **changes)


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trials.jsonl").read_text(encoding="utf-8").splitlines()]


def test_four_trials_then_two_more_in_the_same_study(recipe_file, cli, tmp_path):
    recipe, out = tune_recipe(recipe_file), tmp_path / "study"
    result = cli("tune", recipe, "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    first = lines(out)
    assert len(first) == 4 and [line["number"] for line in first] == [0, 1, 2, 3]
    assert first[0]["untuned"] and first[0]["params"]["training.learning_rate"] == pytest.approx(2e-5)
    assert all(set(line) >= {"number", "params", "value", "state", "seconds"} for line in first)
    assert (out / "study.db").is_file() and (out / "report.md").is_file()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "plots/history.png" in report and (out / "plots" / "history.png").is_file()
    test = json.loads((out / "test.json").read_text(encoding="utf-8"))
    assert "0" in test  # the untuned trial, scored on test once
    kept = sorted(p.parent.name for p in (out / "trials").glob("*/model"))
    assert 1 <= len(kept) <= 2 and "trial-0000" in kept  # untuned and best only

    again = cli("tune", recipe, "-o", out, "--trials", "2")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert [line["number"] for line in lines(out)] == [0, 1, 2, 3, 4, 5]

    done = cli("tune", recipe, "-o", out)  # the study holds its 4 trials and more: nothing to run
    assert done.exit_code == 0 and len(lines(out)) == 6


def test_best_yaml_passes_check_and_reproduces_the_best_trial(recipe_file, cli, tmp_path):
    recipe, out = tune_recipe(recipe_file, trials=3), tmp_path / "study"
    assert cli("tune", recipe, "-o", out).exit_code == 0
    best = min((line for line in lines(out) if line["state"] == "COMPLETE"), key=lambda line: -line["value"])
    assert cli("check", out / "best.yaml", "--no-estimate").exit_code == 0
    written = yaml.safe_load((out / "best.yaml").read_text(encoding="utf-8"))
    assert "tune" not in written
    assert written["training"]["learning_rate"] == pytest.approx(best["params"]["training.learning_rate"])
    run = tmp_path / "again"
    assert cli("train", out / "best.yaml", "-o", run, "--no-smoke", "-q").exit_code == 0
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    dev = (metrics.get("fine_tuned_dev") or metrics["final_dev"])["sequential_score"]
    assert dev == pytest.approx(best["value"], abs=2e-3)


def test_another_recipes_study_is_refused_unless_overwrite(recipe_file, cli, tmp_path):
    out = tmp_path / "study"
    assert cli("tune", tune_recipe(recipe_file, trials=1), "-o", out).exit_code == 0
    other = tune_recipe(recipe_file, trials=1, training__seed=7)
    result = cli("tune", other, "-o", out)
    assert result.exit_code == 2
    assert "another recipe" in result.stderr and "--overwrite" in result.stderr
    assert len(lines(out)) == 1
    replaced = cli("tune", other, "-o", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.stdout + replaced.stderr
    assert len(lines(out)) == 1


def test_a_folder_of_other_files_is_refused(recipe_file, cli, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = cli("tune", tune_recipe(recipe_file, trials=1), "-o", out, "--overwrite")
    assert result.exit_code == 2 and "did not write" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_two_processes_share_one_sqlite_study(recipe_file, tmp_path):
    recipe, out = tune_recipe(recipe_file, trials=4), tmp_path / "study"
    out.mkdir()
    command = [sys.executable, "-m", "sbft", "tune", str(recipe), "-o", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [process.communicate(timeout=900) for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    import optuna

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4
    assert sorted(line["number"] for line in lines(out)) == sorted(t.number for t in finished)


def test_a_bad_trial_is_pruned(recipe_file, cli, tmp_path):
    """Three evaluations a trial; after two good trials (the untuned one and a second good
    learning rate), a learning rate of 0.5 wrecks the model at its first evaluation: the median
    pruner stops it there."""
    space = {"training.learning_rate": {"choice": [2.0e-5, 1.0e-4, 0.5]}}
    recipe = recipe_file(
        training__num_train_epochs=3,
        tune={"trials": 3, "space": space, "sampler": "random", "pruner": "median"},
    )
    out = tmp_path / "study"
    from sbft.recipe import load_recipe
    from sbft.tune.study import open_study, prepare_folder, storage_url

    loaded = load_recipe(recipe)
    prepare_folder(out, None, loaded, overwrite=False)
    study = open_study(loaded, storage_url(out, None), in_folder=True).study
    study.enqueue_trial({"training.learning_rate": 1.0e-4})
    study.enqueue_trial({"training.learning_rate": 0.5})
    result = cli("tune", recipe, "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    states = {line["params"]["training.learning_rate"]: line["state"] for line in lines(out)}
    assert states[2.0e-5] == "COMPLETE"
    # The tiny model's scores are noisy, so the rule is checked rather than one outcome: the trial
    # is pruned exactly when its best value so far falls below the median of the earlier trials'
    # values at the same evaluation (optuna's MedianPruner, as sbft configures it).
    import optuna

    trials = sorted(
        optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}").trials,
        key=lambda t: t.number,
    )
    bad, earlier, best, below = trials[2], trials[:2], float("-inf"), False
    for step, value in sorted(bad.intermediate_values.items()):
        best = max(best, value)
        below = below or best < statistics.median(t.intermediate_values[step] for t in earlier)
    assert bad.state.name == ("PRUNED" if below else "COMPLETE"), (states, bad.intermediate_values)


def test_tune_runs_as_a_real_process(recipe_file, tmp_path):
    """`python -m sbft tune` (forkserver children under a real __main__), exit 0 and the summary."""
    out = tmp_path / "study"
    result = run_sbft("tune", str(tune_recipe(recipe_file, trials=1)), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "best recipe:" in result.stdout and "Traceback" not in result.stderr


def test_a_recipe_without_a_test_split_reports_dev_only(recipe_file, cli, tmp_path):
    recipe, out = tune_recipe(recipe_file, trials=2, datasets__sts__files__test=None), tmp_path / "study"
    result = cli("tune", recipe, "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert len(lines(out)) == 2 and not (out / "test.json").exists()
    assert "no test split" in (out / "report.md").read_text(encoding="utf-8")
