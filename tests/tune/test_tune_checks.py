"""The tune: section's bad input: each is a one-paragraph error with exit 2 from `sbft check` (and
from `sbft tune`, before its folder is touched)."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

GOOD = {"training.learning_rate": {"log_uniform": [1.0e-5, 1.0e-3]}}

BAD_SPACES = [
    ({"training.lerning_rate": {"uniform": [0.1, 0.2]}}, "lerning_rate"),
    ({"datasets.nope.loss.args.scale": {"uniform": [10, 30]}}, "names no recipe field"),
    ({"model.nmae": {"choice": ["a"]}}, "names no recipe field"),
    ({"training.learning_rate": {"uniform": [1.0e-3, 1.0e-5]}}, "goes down"),
    ({"training.learning_rate": {"log_uniform": [0, 1.0e-3]}}, "above 0"),
    ({"training.learning_rate": {"log_uniform": [-1.0, 1.0e-3]}}, "above 0"),
    ({"training.per_device_train_batch_size": {"choice": []}}, "non-empty list"),
    ({"training.per_device_train_batch_size": {"choice": ["big", 16]}}, "per_device_train_batch_size"),
    ({"training.num_train_epochs": {"gaussian": [1, 3]}}, "log_uniform, uniform, int, choice"),
    ({"evaluation.keep": {"uniform": [0, 1]}}, "not a number"),
    ({"datasets.sts.loss.args.scale": {"choice": ["hot"]}}, "scale"),
]


@pytest.mark.parametrize(("space", "said"), BAD_SPACES, ids=[s for _, s in BAD_SPACES])
def test_a_bad_space_is_refused_at_check_time(recipe_file, cli, space, said):
    recipe = recipe_file(tune={"trials": 2, "space": space})
    result = cli("check", recipe, "--no-estimate")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert said in result.stderr and "tune.space" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_metric_the_dev_evaluation_does_not_produce_is_refused(recipe_file, cli):
    recipe = recipe_file(tune={"trials": 2, "metric": "ndcg@10", "space": GOOD})
    result = cli("check", recipe, "--no-estimate")
    assert result.exit_code == 2 and "tune.metric" in result.stderr, result.stderr


def test_bad_input_leaves_the_output_folder_untouched(recipe_file, cli, tmp_path):
    recipe = recipe_file(tune={"trials": 2, "space": {"training.learning_rate": {"uniform": [2, 1]}}})
    out = tmp_path / "study"
    result = cli("tune", recipe, "-o", out)
    assert result.exit_code == 2 and "goes down" in result.stderr
    assert not out.exists()


def test_a_recipe_without_tune_and_bad_flags(recipe_file, cli, tmp_path):
    out = tmp_path / "study"
    plain = cli("tune", recipe_file(), "-o", out)
    assert plain.exit_code == 2 and "no tune: section" in plain.stderr
    tuned = recipe_file(tune={"trials": 2, "space": GOOD})
    for flag, value in (("--trials", "0"), ("--timeout", "-5")):
        result = cli("tune", tuned, "-o", out, flag, value)
        assert result.exit_code == 2 and flag.lstrip("-") in result.stderr, result.stderr
    assert not out.exists()


def test_a_good_space_passes_check(recipe_file, cli):
    space = {
        **GOOD,
        "training.per_device_train_batch_size": {"choice": [8, 16]},
        "training.num_train_epochs": {"int": [1, 3]},
        "training.warmup_steps": {"uniform": [0.0, 0.2]},
    }
    result = cli("check", recipe_file(tune={"trials": 2, "space": space}), "--no-estimate")
    assert result.exit_code == 0, result.stdout + result.stderr


def test_without_optuna_the_error_says_how_to_install_it(recipe_file, cli, tmp_path, monkeypatch):
    import importlib.util

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else found(name, *a)
    )
    result = cli("tune", recipe_file(tune={"trials": 2, "space": GOOD}), "-o", tmp_path / "study")
    assert result.exit_code == 2 and "sbft[tune]" in result.stderr, result.stderr
    assert not (tmp_path / "study").exists()
