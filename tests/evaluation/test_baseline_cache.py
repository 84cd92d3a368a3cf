"""sbft.evaluation.baseline_cache: a second run reuses the base model's scores; any change evaluates again."""

from __future__ import annotations

import json
import os

import pytest

import sbft.evaluation.evaluators as evaluators
from sbft.evaluation.baseline_cache import canonical


@pytest.fixture()
def counted(monkeypatch, tmp_path):
    """The cache on (tests run with SBFT_NO_CACHE=1) in a folder of this test; evaluations counted."""
    monkeypatch.delenv("SBFT_NO_CACHE")
    monkeypatch.setenv("SBFT_CACHE", str(tmp_path / "cache"))
    calls = []
    evaluate = evaluators.evaluate

    def counting(evaluator, model):
        calls.append(evaluator)
        return evaluate(evaluator, model)

    monkeypatch.setattr(evaluators, "evaluate", counting)
    return calls


def run(cli, recipe, run_dir, *options):
    result = cli("train", recipe, "-o", run_dir, "--overwrite", "--no-smoke", *options)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result, json.loads((run_dir / "metrics.json").read_text())


def test_a_second_run_reuses_the_baseline(cli, recipe_file, tmp_path, counted):
    recipe, run_dir = recipe_file(), tmp_path / "run"
    first, metrics = run(cli, recipe, run_dir)
    assert "baseline: cached" not in first.stdout and len(counted) == 2  # computed (dev, test), stored
    assert len(list((tmp_path / "cache" / "baselines").glob("*.json"))) == 1

    counted.clear()
    again, reused = run(cli, recipe, run_dir, "--set", "training.learning_rate=3e-5")  # another run
    assert "baseline: cached" in again.stdout and counted == []
    assert (
        reused["baseline_dev"] == metrics["baseline_dev"]
        and reused["baseline_test"] == metrics["baseline_test"]
    )

    run(cli, recipe, run_dir, "--no-cache")
    assert len(counted) == 2  # --no-cache evaluates


def test_a_changed_row_or_model_evaluates_again(
    cli, recipe_file, tmp_path, counted, pair_score_files, model_copy
):
    recipe = recipe_file(model__name=str(model_copy))
    run_dir = tmp_path / "run"
    run(cli, recipe, run_dir)
    counted.clear()

    dev = pair_score_files["dev"]
    lines = dev.read_text().splitlines()
    first, second, score = lines[1].rsplit(",", 2)
    lines[1] = f"{first},{second},{0 if float(score) else 5}"  # one label changed
    dev.write_text("\n".join(lines) + "\n")
    result, _ = run(cli, recipe, run_dir)
    assert "baseline: cached" not in result.stdout and len(counted) == 2

    counted.clear()
    weights = model_copy / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # saved again, the same weights
    result, _ = run(cli, recipe, run_dir)
    assert "baseline: cached" in result.stdout and counted == []  # the key is the weights, not the files

    counted.clear()
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 0.01  # other weights
    save_file(tensors, weights)
    result, _ = run(cli, recipe, run_dir)
    assert "baseline: cached" not in result.stdout and len(counted) == 2

    counted.clear()
    result, _ = run(cli, recipe, run_dir)
    assert "baseline: cached" in result.stdout and counted == []


def test_keys_are_made_of_contents():
    class Evaluator:
        def __init__(self, scores):
            self.scores, self.name, self._cache = scores, "dev", object()

    assert canonical(Evaluator([0.5, 1.0])) == canonical(Evaluator([0.5, 1.0]))
    assert canonical(Evaluator([0.5, 1.0])) != canonical(Evaluator([0.5, 0.9]))
    assert canonical({"b": {2, 1}, "a": len}) == {"a": "builtins.len", "b": [1, 2]}
