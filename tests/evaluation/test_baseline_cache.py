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


def test_a_hand_edited_baseline_is_evaluated_again(cli, recipe_file, tmp_path, counted):
    """Issue 25, case 8: a value edited by hand (0.99) no longer matches the entry's checksum."""
    recipe, run_dir = recipe_file(), tmp_path / "run"
    _, metrics = run(cli, recipe, run_dir)
    (path,) = (tmp_path / "cache" / "baselines").glob("*.json")
    entry = json.loads(path.read_text())
    entry["baseline_dev"] = {key: 0.99 for key in entry["baseline_dev"]}
    path.write_text(json.dumps(entry))
    counted.clear()

    result, again = run(cli, recipe, run_dir)
    assert (
        "does not match its checksum" in result.stdout and "evaluating the base model again" in result.stdout
    )
    assert len(counted) == 2 and again["baseline_dev"] == metrics["baseline_dev"]
    counted.clear()
    result, _ = run(cli, recipe, run_dir)  # the entry was written again, whole: used
    assert "baseline: cached" in result.stdout and counted == []


def _stored(tmp_path):
    from sbft.evaluation.baseline_cache import BaselineCache

    entry = BaselineCache(tmp_path / "baselines" / "k.json", "k" * 64)
    entry.store({"sts_spearman_cosine": 0.5}, {"sts_spearman_cosine": 0.4})
    return entry, json.loads(entry.path.read_text())


def test_a_stored_entry_reads_back(tmp_path):
    entry, _ = _stored(tmp_path)
    assert entry.load()["baseline_dev"] == {"sts_spearman_cosine": 0.5} and entry.doubt is None


@pytest.mark.parametrize(
    ("damage", "doubt"),
    [
        (lambda e: e.pop("baseline_dev"), "has no baseline_dev scores"),  # was a KeyError in every run
        (lambda e: e.update(baseline_dev="garbage"), "has no baseline_dev scores"),
        (lambda e: e.update(baseline_test={"x": "0.5"}), "not a finite number"),
        (lambda e: e.update(baseline_dev={"x": True}), "not a finite number"),
        (lambda e: e.update(baseline_dev={"x": float("nan")}), "not a finite number"),
        (lambda e: e.update(baseline_dev={"sts_spearman_cosine": 0.99}), "checksum"),
        (lambda e: e.pop("checksum"), "checksum"),
        (lambda e: e.pop("created"), "creation date"),
        (lambda e: e.update(key="other"), "another key"),
    ],
)
def test_a_damaged_entry_is_not_used(tmp_path, damage, doubt):
    entry, content = _stored(tmp_path)
    damage(content)
    entry.path.write_text(json.dumps(content))
    assert entry.load() is None and doubt in entry.doubt


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", "null", b"\xff\xfe"])
def test_an_unreadable_entry_is_not_used(tmp_path, text):
    entry, _ = _stored(tmp_path)
    if isinstance(text, bytes):
        entry.path.write_bytes(text)
    else:
        entry.path.write_text(text)
    assert entry.load() is None and entry.doubt


def test_a_missing_entry_is_no_doubt(tmp_path):
    from sbft.evaluation.baseline_cache import BaselineCache

    entry = BaselineCache(tmp_path / "none.json", "k")
    assert entry.load() is None and entry.doubt is None
