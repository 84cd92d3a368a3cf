"""report.md: warnings, overview and base-vs-tuned tables, for finished and cut-short runs."""

from __future__ import annotations

import io
import json

import yaml
from rich.console import Console

from sbft.report import read_run, regressions, write_report
from tests.report.runs import BASE_DEV, assert_real_png


def test_report_of_a_finished_run(finished_run):
    path = write_report(finished_run)
    assert path == finished_run / "report.md"
    text = path.read_text()
    assert text.startswith("# Run report: demo")
    assert "sentence-transformers/all-MiniLM-L6-v2" in text and "CoSENTLoss" in text and "`qa`" in text
    assert "finished: 40 steps, 2 epochs" in text and "learning_rate 2e-05" in text
    assert "12.5 s, 51.2 samples/s, mean loss 0.9000; wall time 30 s" in text
    warnings = [line for line in text.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "sts_spearman_cosine" in warnings[0] and "-0.0500" in warnings[0]
    assert "| sts_spearman_cosine | 0.8000 | 0.7500 | -0.0500 |" in text  # dev
    assert "| qa_cosine_ndcg@10 | 0.4800 | 0.6200 | +0.1400 |" in text  # test
    assert "runtime" not in text and "recall@10" not in text
    for name in ("base-vs-tuned.png", "dev-qa.png", "dev-sts.png", "loss.png"):
        assert f"](plots/{name})" in text


def test_regressions_name_the_main_metric_of_each_dataset(finished_run):
    assert regressions(read_run(finished_run)) == [
        "sts_spearman_cosine on dev got worse than the base model: 0.8000 -> 0.7500 (-0.0500)"
    ]


def test_report_of_a_run_cut_short_uses_the_log(cut_short_run):
    assert regressions(read_run(cut_short_run)) == []
    text = write_report(cut_short_run).read_text()
    assert text.startswith("# Run report: cut-short")
    assert "**not finished**" in text and "step 27 of 40" in text
    assert "## Dev: base vs step 20" in text
    assert "| sts_spearman_cosine | 0.8000 | 0.8500 | +0.0500 |" in text
    assert "## Test" not in text

    (cut_short_run / "metrics.json").write_text(
        json.dumps({"status": "interrupted", "baseline_dev": BASE_DEV})
    )
    assert "resume with `sbft train --resume" in write_report(cut_short_run).read_text()


def test_report_says_which_weights_were_kept(finished_run):
    metrics = json.loads((finished_run / "metrics.json").read_text())
    metrics["kept_step"] = 20
    (finished_run / "metrics.json").write_text(json.dumps(metrics))
    assert "- **Kept:** step 20 (epoch 1): the last step" in write_report(finished_run).read_text()

    recipe = yaml.safe_load((finished_run / "recipe.yaml").read_text())
    recipe["training"].update(load_best_model_at_end=True, metric_for_best_model="sequential_score")
    (finished_run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    kept = "- **Kept:** step 20 (epoch 1): the checkpoint with the best dev sequential_score\n"
    assert kept in write_report(finished_run).read_text()


def test_report_when_the_base_model_was_kept(finished_run):
    """Fine-tuning lowered the dev score, so training saved the base: the report compares the tuned one."""
    metrics = json.loads((finished_run / "metrics.json").read_text())
    metrics["fine_tuned_dev"], metrics["fine_tuned_test"] = metrics["final_dev"], metrics["test"]
    metrics["final_dev"], metrics["test"] = metrics["baseline_dev"], metrics["baseline_test"]
    metrics["selected"] = "base"
    (finished_run / "metrics.json").write_text(json.dumps(metrics))
    text = write_report(finished_run).read_text()
    assert "**the base model**, as fine-tuning lowered the dev score" in text
    assert "- **Kept:** the base model (step 0)" in text
    assert "| sts_spearman_cosine | 0.8000 | 0.7500 | -0.0500 |" in text
    assert "WARNING: sts_spearman_cosine on dev got worse" in text


def test_report_of_a_real_tiny_run(tmp_path, tiny_model, pair_score_files):
    """The whole chain on real trainer output: train a tiny model, report, then report from the log only."""
    from sbft.recipe import load_recipe
    from sbft.train import train

    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "model": {"name": str(tiny_model)},
                "datasets": {
                    "sts": {
                        "files": {split: file.name for split, file in pair_score_files.items()},
                        "columns": ["sentence1", "sentence2"],
                        "label": "score",
                        "label_range": [0, 5],
                        "loss": "CoSENTLoss",
                    }
                },
                "training": {"per_device_train_batch_size": 16, "logging_steps": 1, "num_train_epochs": 2},
                "output_dir": str(tmp_path / "run"),
            }
        )
    )
    run_dir = train(load_recipe(recipe_path), console=Console(file=io.StringIO())).run_dir
    text = write_report(run_dir).read_text()
    assert "| sts_spearman_cosine |" in text and "finished: 6 steps" in text
    for name in ("loss.png", "dev-sts.png", "base-vs-tuned.png"):
        assert_real_png(run_dir / "plots" / name)

    # As if killed after its last evaluation: metrics.json as written before training began.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    started = {
        "status": "training",
        "baseline_dev": metrics["baseline_dev"],
        "baseline_test": metrics["baseline_test"],
    }
    (run_dir / "metrics.json").write_text(json.dumps(started))
    text = write_report(run_dir).read_text()
    assert "**not finished**" in text and "| sts_spearman_cosine |" in text
    for name in ("loss.png", "dev-sts.png", "base-vs-tuned.png"):
        assert_real_png(run_dir / "plots" / name)


def test_a_beir_dataset_is_described_by_its_folder(finished_run):
    import yaml

    from sbft.report import write_report

    recipe = yaml.safe_load((finished_run / "recipe.yaml").read_text())
    recipe["datasets"] = {
        "wikiqa": {"beir": "/data/wikiqa/beir", "loss": {"name": "MultipleNegativesRankingLoss"}}
    }
    (finished_run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    text = write_report(finished_run).read_text()
    assert "`wikiqa`: columns (query, document); loss MultipleNegativesRankingLoss; data BEIR folder" in text
