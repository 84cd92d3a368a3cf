"""Run folders as `sbft train` leaves them, written by hand: finished, or cut short after a few steps."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from PIL import Image

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


def write_finished_run(run_dir: Path) -> Path:
    """A finished two-dataset run whose STS dev score dropped below the base model's."""
    (run_dir / "model").mkdir(parents=True)
    (run_dir / ".sbft-run").write_text(json.dumps({"status": "finished"}))
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


def write_cut_short_run(run_dir: Path) -> Path:
    """Killed at step 27 of 40: metrics.json holds only the baselines; the rest is in the log."""
    run_dir.mkdir()
    (run_dir / ".sbft-run").write_text(json.dumps({"status": "training"}))
    (run_dir / "metrics.json").write_text(json.dumps({"status": "training", "baseline_dev": BASE_DEV}))
    write_log(run_dir, [evaluation(20, 1.0, 0.85, 0.55)], steps=27)
    with (run_dir / "metrics.jsonl").open("a") as log:
        log.write('{"step": 28, "lo')  # killed while writing a line
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
