"""evaluation.merge_base through `sbft train` on the tiny model: the table by ratio in metrics.json,
report.md and the summary, the saved model being the chosen mix, and the checks before anything loads."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from sbft.evaluation import merge_base
from sbft.evaluation.merge_base import choose_ratio
from sbft.recipe import load_recipe
from sbft.train import train

GUARD = {"columns": ["sentence1", "sentence2"], "label": "score", "label_range": [0, 5]}


def guarded_recipe(recipe_file, pair_score_files: dict[str, Path], **changes) -> Path:
    """The tiny recipe plus an evaluation-only "guard" dataset (no loss): dev only."""
    return recipe_file(datasets__guard={**GUARD, "files": {"dev": pair_score_files["test"].name}}, **changes)


def run(path: Path, out: Path, **options) -> tuple[dict, str]:
    recipe = load_recipe(path)
    recipe.output_dir = str(out)
    console = Console(file=io.StringIO(), width=300)
    result = train(recipe, smoke_first=False, console=console, **options)
    return result.metrics, console.file.getvalue()


def test_auto_scores_every_ratio_and_ships_the_best(recipe_file, pair_score_files, tmp_path):
    path = guarded_recipe(recipe_file, pair_score_files, evaluation__merge_base="auto")
    metrics, printed = run(path, tmp_path / "run")

    table = metrics["merge_base"]
    assert list(table["ratios"]) == ["0.0", "0.25", "0.5", "0.75", "1.0"]
    assert table["metric"] == "sequential_score" and table["greater_is_better"] is True
    assert all("guard_spearman_cosine" in dev for dev in table["ratios"].values())  # the guard is scored
    assert table["ratios"]["1.0"] == metrics.get("fine_tuned_dev", metrics["final_dev"])
    assert table["ratios"]["0.0"] == metrics["baseline_dev"]
    scores = {float(ratio): dev.get("sequential_score") for ratio, dev in table["ratios"].items()}
    assert table["chosen"] == choose_ratio(scores)
    expected = {0.0: "base", 1.0: "fine-tuned"}.get(table["chosen"], f"merged {table['chosen']:g}")
    assert metrics["selected"] == expected
    assert metrics["final_dev"] == table["ratios"][str(table["chosen"])]  # dev metrics of the shipped model

    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["merge_base"] == table
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Merged with the base model (evaluation.merge_base)" in report
    assert "| ratio | sequential_score (deciding) | guard_spearman_cosine (guard) |" in report
    assert f"the best by `sequential_score` was saved: **ratio {table['chosen']:g}**" in report
    assert "saved** |" in report
    assert f"merge_base shipped ratio {table['chosen']:g}" in printed
    assert "merge_base 0.25 fine-tuned + 0.75 base: dev sequential_score" in printed


def test_the_saved_model_is_the_chosen_mix_and_test_scores_it(
    recipe_file, pair_score_files, tiny_model, tmp_path, monkeypatch
):
    """The tiny model's scores barely move, so the choice is forced to the mix; the rule itself is
    tested on constructed scores (tests/evaluation/test_merge_base.py)."""
    from sentence_transformers import SentenceTransformer

    from sbft.check import preflight
    from sbft.evaluation import build_evaluator, evaluate

    real = merge_base.choose_ratio

    def forced(scores, greater=True):
        return 0.5 if 0.5 in scores else real(scores, greater)

    monkeypatch.setattr(merge_base, "choose_ratio", forced)
    path = recipe_file(evaluation__merge_base=[0.5], evaluation__keep="last")
    metrics, printed = run(path, tmp_path / "run", keep_checkpoints=True)
    assert metrics["selected"] == "merged 0.5" and metrics["merge_base"]["chosen"] == 0.5
    assert list(metrics["merge_base"]["ratios"]) == ["0.5", "1.0"]  # keep: last leaves the base out
    assert "merged 0.5 model" in printed

    tuned = SentenceTransformer(str(tmp_path / "run" / "checkpoints" / f"checkpoint-{metrics['kept_step']}"))
    base = SentenceTransformer(str(tiny_model))
    expected = SentenceTransformer.merge(models=[tuned, base], parameters={"weight": [0.5, 0.5]})
    saved = SentenceTransformer(str(tmp_path / "run" / "model"))
    texts = ["a small test sentence", "another one, longer than the first one is"]
    difference = abs(saved.encode(texts) - expected.encode(texts)).max()
    assert difference < 1e-5
    assert abs(saved.encode(texts) - tuned.encode(texts)).max() > 1e-4  # really a mix, not the tuned model

    plan = preflight(load_recipe(path))
    test_scores = evaluate(build_evaluator(plan.datasets, "test", 16, prompts=None, dims=[]), expected)
    assert metrics["test"] == pytest.approx(test_scores, abs=1e-5)  # the shipped model's test metrics
    assert metrics["test"] != metrics["fine_tuned_test"]
    assert metrics["final_dev"] == metrics["merge_base"]["ratios"]["0.5"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "**a mix of the base and fine-tuned weights** (0.5 fine-tuned, 0.5 base" in report
    assert "| **0.5, saved** |" in report

    from sbft.compare import compare_runs

    comparison = compare_runs([tmp_path / "run"])  # sbft compare reads a merged run like any other
    assert comparison.runs[0].selected == "merged 0.5"


@pytest.mark.parametrize("ratios", [[0.5, 1.0], [0.0], [1.5], [], [0.5, 0.5], "half"])
def test_a_bad_ratio_is_exit_2_before_anything_loads(recipe_file, cli, tmp_path, ratios):
    result = cli("train", recipe_file(evaluation__merge_base=ratios), "-o", tmp_path / "run")
    assert result.exit_code == 2
    assert "evaluation.merge_base" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_without_mergekit_the_error_says_to_install_the_extra(recipe_file, cli, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "mergekit" else real(name, *args)
    )
    result = cli("train", recipe_file(evaluation__merge_base="auto"), "-o", tmp_path / "run")
    assert result.exit_code == 2
    assert "evaluation.merge_base" in result.stderr and "pip install 'sbft[merge]'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_scores_come_from_the_dev_evaluators_not_the_trainer_loss(recipe_file, cli, tmp_path):
    path = recipe_file(evaluation__merge_base="auto", evaluation__metric="loss")
    result = cli("check", path)
    assert result.exit_code == 2 and "evaluation.merge_base" in result.stderr


def test_without_a_dev_split_there_is_nothing_to_score(recipe_file, pair_score_files, cli):
    files = {"train": pair_score_files["train"].name}
    result = cli("check", recipe_file(evaluation__merge_base="auto", datasets__sts__files=files))
    assert result.exit_code == 2 and "no dataset has a dev split" in result.stderr


def test_the_plan_says_which_mixes_will_compete(recipe_file, cli):
    result = cli("check", recipe_file(evaluation__merge_base="auto"))
    assert result.exit_code == 0, result.stderr
    assert "merge_base: after training, base and fine-tuned weights mixed at 0.25, 0.5, 0.75" in result.stdout
    assert "compete with the fine-tuned model and the base model on dev" in result.stdout
    kept_last = cli("check", recipe_file(evaluation__merge_base=[0.5], evaluation__keep="last"))
    assert "(the fine-tuned model's share) compete with the fine-tuned model on dev" in kept_last.stdout


def test_an_adapter_run_mixes_the_merged_adapter_with_the_base(
    recipe_file, tiny_model, tmp_path, monkeypatch
):
    """With model.adapter the mixes are of whole models: the adapter folded into a copy of the
    fine-tuned model, then mixed with the base (the choice forced to the mix, as above)."""
    from sentence_transformers import SentenceTransformer

    from sbft import adapters

    real = merge_base.choose_ratio
    monkeypatch.setattr(
        merge_base,
        "choose_ratio",
        lambda scores, greater=True: 0.5 if 0.5 in scores else real(scores, greater),
    )
    adapter = {"r": 4}
    path = recipe_file(
        evaluation__merge_base=[0.5],
        evaluation__keep="last",
        model__adapter=adapter,
        training__learning_rate=1e-2,
    )
    metrics, _ = run(path, tmp_path / "run", keep_checkpoints=True)
    assert metrics["selected"] == "merged 0.5"

    tuned = SentenceTransformer(str(tiny_model))
    adapters.attach(tuned, adapter)
    adapters.load_checkpoint(tuned, tmp_path / "run" / "checkpoints" / f"checkpoint-{metrics['kept_step']}")
    adapters.merge(tuned)
    base = SentenceTransformer(str(tiny_model))
    expected = SentenceTransformer.merge(models=[tuned, base], parameters={"weight": [0.5, 0.5]})
    saved = SentenceTransformer(str(tmp_path / "run" / "model"))  # a plain model: no adapter left
    texts = ["a small test sentence", "another one, longer than the first one is"]
    assert abs(saved.encode(texts) - expected.encode(texts)).max() < 1e-5
    assert abs(saved.encode(texts) - tuned.encode(texts)).max() > 1e-4


def test_a_cross_encoder_is_mixed_too(recipe_file, tiny_model, tmp_path):
    """CrossEncoder.merge: the same table, the base's row being what the baseline scored."""
    path = recipe_file(
        model__name=str(tiny_model),
        model__type="cross-encoder",
        datasets__sts__loss="BinaryCrossEntropyLoss",
        evaluation__merge_base=[0.5],
    )
    metrics, printed = run(path, tmp_path / "run")
    table = metrics["merge_base"]
    assert list(table["ratios"]) == ["0.0", "0.5", "1.0"] and "sts_spearman" in table["ratios"]["0.5"]
    assert table["ratios"]["0.0"] == metrics["baseline_dev"]
    assert "merge_base shipped ratio" in printed
