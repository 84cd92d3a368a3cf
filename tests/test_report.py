"""Run reports: report.md and PNG plots from a run folder, finished or interrupted."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from PIL import Image
from rich.console import Console

from sbft.errors import SbftError
from sbft.report import read_run, regressions, write_report
from tests.helpers import run_sbft

BASE_DEV = {"sts_spearman_cosine": 0.80, "sts_pearson_cosine": 0.78, "qa_cosine_ndcg@10": 0.50}
BASE_TEST = {"sts_spearman_cosine": 0.79, "qa_cosine_ndcg@10": 0.48}


def evaluation(step: int, epoch: float, sts: float, qa: float) -> dict:
    return {
        "step": step,
        "epoch": epoch,
        "sts_spearman_cosine": sts,
        "sts_pearson_cosine": sts - 0.01,
        "sts_runtime": 0.1,
        "qa_cosine_ndcg@10": qa,
        "qa_cosine_recall@10": 0.9,
        "qa_loss": 1.5,
        "sts_loss": 4.0,
    }


def write_log(run_dir: Path, evaluations: list[dict], steps: int) -> None:
    """metrics.jsonl as MetricsCallback writes it: start, losses, one entry per dev set, summary."""
    lines = [{"step": 0, "max_steps": 40, "epochs": 2}]
    for step in range(1, steps + 1):
        lines.append({"step": step, "loss": 3.0 / step**0.5, "learning_rate": 2e-5, "epoch": step / 20})
        for found in (e for e in evaluations if e["step"] == step):
            for dataset in ("qa", "sts"):
                metrics = {k: v for k, v in found.items() if k.startswith(dataset)}
                lines.append(
                    {"step": step, **{f"eval_{k}": v for k, v in metrics.items()}, "epoch": step / 20}
                )
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (run_dir / "metrics.jsonl").write_text(text)


@pytest.fixture()
def finished_run(tmp_path: Path) -> Path:
    """A finished two-dataset run whose STS dev score dropped below the base model's."""
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True)
    evaluations = [evaluation(20, 1.0, 0.79, 0.60), evaluation(40, 2.0, 0.75, 0.65)]
    final_dev = {k: v for k, v in evaluations[-1].items() if k not in ("step", "epoch")}
    metrics = {
        "status": "finished",
        "selected": "fine-tuned",
        "baseline_dev": BASE_DEV,
        "baseline_test": BASE_TEST,
        "final_dev": final_dev,
        "test": {"sts_spearman_cosine": 0.74, "qa_cosine_ndcg@10": 0.62},
        "evaluations": evaluations,
        "training": {
            "steps": 40,
            "train_loss": 0.9,
            "train_runtime": 12.5,
            "train_samples_per_second": 51.2,
            "epoch": 2.0,
        },
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    write_log(run_dir, evaluations, steps=40)
    recipe = {
        "name": "demo",
        "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"},
        "datasets": {
            "sts": {
                "files": {"train": "/data/sts-train.csv"},
                "columns": ["s1", "s2"],
                "label": "score",
                "loss": {"name": "CoSENTLoss"},
            },
            "qa": {
                "files": {"train": "/data/qa.jsonl"},
                "columns": ["query", "answer"],
                "loss": {"name": "MultipleNegativesRankingLoss"},
            },
        },
        "training": {"num_train_epochs": 2, "learning_rate": 2e-5, "per_device_train_batch_size": 16},
    }
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (run_dir / "run.json").write_text(json.dumps({"wall_time_s": 30.2}))
    return run_dir


def assert_real_png(path: Path) -> None:
    """A readable PNG of a sensible size with real content (axes, text, lines), not a blank canvas."""
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= 400 and image.height >= 250
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert len(colours) > 50
        assert max(count for count, _ in colours) < 0.97 * image.width * image.height


def test_report_of_a_finished_run(finished_run):
    path = write_report(finished_run)
    assert path == finished_run / "report.md"
    text = path.read_text()
    assert text.startswith("# Run report: demo")
    assert "sentence-transformers/all-MiniLM-L6-v2" in text and "CoSENTLoss" in text and "`qa`" in text
    assert "finished: 40 steps" in text and "learning_rate 2e-05" in text
    warnings = [line for line in text.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "sts_spearman_cosine" in warnings[0] and "-0.0500" in warnings[0]
    assert "| sts_spearman_cosine | 0.8000 | 0.7500 | -0.0500 |" in text  # dev
    assert "| qa_cosine_ndcg@10 | 0.4800 | 0.6200 | +0.1400 |" in text  # test
    assert "runtime" not in text and "recall@10" not in text
    plots = sorted(p.name for p in (finished_run / "plots").iterdir())
    assert plots == ["base-vs-tuned.png", "dev-qa.png", "dev-sts.png", "loss.png"]
    for name in plots:
        assert f"](plots/{name})" in text
        assert_real_png(finished_run / "plots" / name)


def test_report_of_a_run_cut_short_uses_the_log(tmp_path):
    """Killed mid-training: metrics.json holds only the baselines; the rest comes from the log."""
    run_dir = tmp_path / "cut-short"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps({"status": "training", "baseline_dev": BASE_DEV}))
    write_log(run_dir, [evaluation(20, 1.0, 0.85, 0.55)], steps=27)
    record = read_run(run_dir)
    assert record.status == "training" and record.max_steps == 40 and len(record.losses) == 27
    assert record.dataset_names == ["qa", "sts"]  # from the per-set dev losses
    assert regressions(record) == []
    text = write_report(run_dir).read_text()
    assert text.startswith("# Run report: cut-short")
    assert "**not finished**" in text and "step 27 of 40" in text
    assert "| sts_spearman_cosine | 0.8000 | 0.8500 | +0.0500 |" in text
    assert "## Test" not in text
    for name in ("loss.png", "dev-qa.png", "dev-sts.png", "base-vs-tuned.png"):
        assert_real_png(run_dir / "plots" / name)

    (run_dir / "metrics.json").write_text(json.dumps({"status": "interrupted", "baseline_dev": BASE_DEV}))
    assert "resume with `sbft train --resume" in write_report(run_dir).read_text()

    with (run_dir / "metrics.jsonl").open("a") as log:
        log.write('{"step": 28, "lo')  # killed while writing
    with pytest.raises(SbftError, match=r"line 31 .* not valid JSON"):
        read_run(run_dir)


def test_report_when_the_base_model_was_kept(finished_run):
    """Fine-tuning lowered the dev score, so training saved the base: the report compares the tuned one."""
    metrics = json.loads((finished_run / "metrics.json").read_text())
    metrics["fine_tuned_dev"], metrics["fine_tuned_test"] = metrics["final_dev"], metrics["test"]
    metrics["final_dev"], metrics["test"] = metrics["baseline_dev"], metrics["baseline_test"]
    metrics["selected"] = "base"
    (finished_run / "metrics.json").write_text(json.dumps(metrics))
    text = write_report(finished_run).read_text()
    assert "**the base model**, as fine-tuning lowered the dev score" in text
    assert "| sts_spearman_cosine | 0.8000 | 0.7500 | -0.0500 |" in text
    assert "WARNING: sts_spearman_cosine on dev got worse" in text


def test_sbft_report_regenerates_and_explains_errors(finished_run, tmp_path):
    result = run_sbft("report", str(finished_run))
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stdout and "sts_spearman_cosine" in result.stdout
    assert (finished_run / "report.md").is_file() and (finished_run / "plots" / "loss.png").is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    for folder, message in ((tmp_path / "missing", "does not exist"), (empty, "neither")):
        result = run_sbft("report", str(folder))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


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
