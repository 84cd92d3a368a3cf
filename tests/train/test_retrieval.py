"""Retrieval training end to end on the tiny model: a BEIR dataset, an evaluation-only dataset,
prompts, Matryoshka sizes, the deciding metric and early stopping."""

from __future__ import annotations

import json

import yaml

from tests.helpers import sentences


def write_recipe(tmp_path, tiny_model, pair_score_files, **evaluation) -> str:
    recipe = {
        "name": "retrieval",
        "model": {"name": str(tiny_model), "prompts": {"query": "query: ", "document": "passage: "}},
        "datasets": {
            "wiki": {
                "beir": "beir",
                "loss": {
                    "name": "MatryoshkaLoss",
                    "args": {"matryoshka_dims": [32, 16, 8]},
                    "inner": "MultipleNegativesRankingLoss",
                },
            },
            "sts": {  # no loss: only evaluated
                "files": {split: pair_score_files[split].name for split in ("dev", "test")},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
            },
        },
        "evaluation": evaluation,
        "training": {
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "eval_strategy": "steps",
            "eval_steps": 2,
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return str(path)


def test_beir_training_with_an_evaluation_only_dataset(
    cli, tiny_model, beir_folder, pair_score_files, tmp_path, monkeypatch
):
    from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

    seen: list[str] = []  # every text that reached the loss (through the trainer's collator)
    collate = SentenceTransformerDataCollator.__call__

    def spying(self, features):
        seen.extend(value for row in features for value in row.values() if isinstance(value, str))
        return collate(self, features)

    monkeypatch.setattr(SentenceTransformerDataCollator, "__call__", spying)
    recipe = write_recipe(tmp_path, tiny_model, pair_score_files, metric="wiki_cosine_ndcg@10")
    result = cli("train", recipe, "-o", tmp_path / "run", "--no-smoke")  # the next test runs it
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "evaluation only (no loss)" in result.stdout and "query 'query: '" in result.stdout
    assert "best model by dev wiki_cosine_ndcg@10" in result.stdout
    # the checkpoint's and the test evaluation's corpus encodes say what they are (plain lines in a pipe)
    assert "evaluating dev (wiki): 30 of 30 documents encoded" in result.stderr
    assert "evaluating test (wiki): 30 of 30 documents encoded" in result.stderr

    sts_texts = set(sentences(16, 2) + sentences(16, 3) + sentences(16, 102) + sentences(16, 103))
    assert seen and not sts_texts & set(seen)  # the wiki rows trained; no sts row ever did

    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("baseline_dev", "final_dev", "baseline_test", "test"):
        assert "sts_spearman_cosine" in metrics[key] and "wiki_cosine_ndcg@10" in metrics[key], key
    assert "sts_spearman_cosine" in metrics["evaluations"][-1]
    for dim in (16, 8):  # Matryoshka sizes from the loss, for every dataset
        assert f"wiki_cosine_ndcg@10_dim{dim}" in metrics["final_dev"]
        assert f"sts_spearman_cosine_dim{dim}" in metrics["baseline_test"]
    assert (run / "plots" / "dimensions.png").is_file()

    args = json.loads((run / "training_args.json").read_text())
    assert args["metric_for_best_model"].endswith("wiki_cosine_ndcg@10")
    assert args["prompts"] == {"query": "query: ", "document": "passage: "}
    saved = json.loads((run / "model" / "config_sentence_transformers.json").read_text())
    assert saved["prompts"]["query"] == "query: " and saved["prompts"]["document"] == "passage: "


def test_an_unknown_deciding_metric_is_refused_with_the_names(
    cli, tiny_model, beir_folder, pair_score_files, tmp_path
):
    recipe = write_recipe(tmp_path, tiny_model, pair_score_files, metric="wiki_cosine_ndcg@100")
    result = cli("train", recipe, "-o", tmp_path / "run")
    assert result.exit_code == 2
    assert "reports no metric 'wiki_cosine_ndcg@100'" in result.stderr
    assert "Did you mean 'wiki_cosine_ndcg@10'" in result.stderr and "sts_spearman_cosine" in result.stderr


def test_patience_stops_when_the_deciding_metric_stalls(cli, recipe_file, tmp_path):
    """A learning rate too small to move a weight: the second evaluation is no better, training stops."""
    recipe = recipe_file(
        evaluation={"metric": "sts_spearman_cosine", "patience": 1},
        training={
            "learning_rate": 1e-30,
            "max_steps": 12,
            "per_device_train_batch_size": 8,
            "eval_strategy": "steps",
            "eval_steps": 1,
        },
    )
    result = cli("train", recipe, "-o", tmp_path / "run", "--no-smoke")
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 2 and len(metrics["evaluations"]) == 2
