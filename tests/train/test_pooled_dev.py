"""Pooled dev evaluation through `sbft train` on the tiny model: the plan says it, metrics.json records
the pool, test is scored over the whole corpus (as `sbft eval` scores it), and the kept checkpoint's
dev score is the one its evaluation logged, equal to evaluating the saved model again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sbft.data import load_prepared
from sbft.evaluation import build_evaluator, evaluate
from sbft.models import load_model
from sbft.recipe import load_recipe


def write_recipe(tmp_path, tiny_model, **evaluation) -> str:
    recipe = {
        "name": "pooled",
        "model": {"name": str(tiny_model)},
        "datasets": {"wiki": {"beir": "beir", "loss": "MultipleNegativesRankingLoss"}},
        "evaluation": evaluation,
        "training": {
            "max_steps": 4,
            "per_device_train_batch_size": 4,
            "eval_strategy": "steps",
            "eval_steps": 2,
            "learning_rate": 1e-3,
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return str(path)


def test_a_forced_pool(cli, tiny_model, beir_folder, tmp_path):
    recipe = write_recipe(tmp_path, tiny_model, pool={"top_k": 2, "bm25_top_k": 2, "random": 4})
    result = cli("train", recipe, "-o", tmp_path / "run", "--no-smoke")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "dev: pooled, at most 19 of 30 documents" in result.stdout  # 3 judged + 3 x (2 + 2) + 4
    assert "dev pool wiki: " in result.stdout

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    record = metrics["dev_pool"]["wiki"]
    assert record["corpus"] == 30 and 3 <= record["documents"] <= 19
    assert (record["top_k"], record["bm25_top_k"], record["random"]) == (2, 2, 4)
    assert "final_dev" in record["pooled"] and metrics["kept_step"] in (2, 4)
    assert metrics["final_dev_from"] == f"the evaluation at step {metrics['kept_step']}"

    # Test is scored over the whole corpus: exactly what `sbft eval` reports for the saved model.
    scored = cli("eval", tmp_path / "run" / "model", f"{beir_folder}#test", "--json")
    assert scored.exit_code == 0, scored.stdout + scored.stderr
    (evaluated,) = json.loads(scored.stdout).values()
    key = next(k for k in evaluated if k.endswith("cosine_ndcg@10"))
    assert metrics["test"]["wiki_cosine_ndcg@10"] == pytest.approx(evaluated[key], abs=1e-4)


def test_pool_off_searches_the_whole_corpus(cli, tiny_model, beir_folder, tmp_path):
    result = cli("check", write_recipe(tmp_path, tiny_model, pool=False))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "dev: whole corpus, 30 documents" in result.stdout


def test_the_kept_checkpoints_dev_score_is_reused_and_equals_a_new_evaluation(cli, recipe_file, tmp_path):
    """On scored pairs: their correlations are never saturated, unlike the tiny corpus's nDCG of 1."""
    training = {"max_steps": 6, "per_device_train_batch_size": 8, "eval_strategy": "steps", "eval_steps": 2}
    training.update(learning_rate=1e-3, load_best_model_at_end=False)  # the last step's weights are kept
    recipe = recipe_file(training=training, evaluation={"keep": "last"})
    result = cli("train", recipe, "-o", tmp_path / "run", "--no-smoke")
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "dev_pool" not in metrics  # no corpus: nothing to pool
    assert metrics["kept_step"] == 6 and metrics["final_dev_from"] == "the evaluation at step 6"
    assert metrics["selected"] == "fine-tuned"
    logged = next(e for e in metrics["evaluations"] if e["step"] == 6)
    assert metrics["final_dev"]["sts_pearson_cosine"] == logged["sts_pearson_cosine"]

    # Recomputed on the saved model, with the run's evaluation batch size: the very same numbers.
    batch = json.loads((tmp_path / "run" / "training_args.json").read_text())["per_device_eval_batch_size"]
    prepared = load_prepared("sts", load_recipe(recipe).datasets["sts"])
    again = evaluate(
        build_evaluator({"sts": prepared}, "dev", batch), load_model(str(tmp_path / "run" / "model"))
    )
    assert 0 < abs(again["sts_pearson_cosine"]) < 1
    assert {key: metrics["final_dev"][key] for key in again} == again


def test_mining_the_pool_and_the_baseline_share_one_corpus_encode(
    cli, tiny_model, beir_folder, tmp_path, monkeypatch
):
    from sbft.inference import corpus

    encoded: list[int] = []
    encode = corpus.encode_corpus

    def counting(model, texts, *args, **kwargs):
        if not str(kwargs.get("label")).startswith(("evaluating dev (", "evaluating test (")):
            encoded.append(len(texts))  # the base model's encodes; the checkpoints' are labelled so
        return encode(model, texts, *args, **kwargs)

    monkeypatch.setattr(corpus, "encode_corpus", counting)
    recipe = yaml.safe_load(Path(write_recipe(tmp_path, tiny_model, pool=True)).read_text())
    recipe["datasets"]["wiki"]["negatives"] = {"mine": {"num": 1, "range_max": 10, "relative_margin": None}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = cli("train", tmp_path / "recipe.yaml", "-o", tmp_path / "run", "--no-smoke", "--no-cache")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "mining" in json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert encoded.count(30) == 1  # the base model's 30 documents, once: mining, pool, baseline dev and test
