"""The run folder: one place with predictable names for everything a run made.

RUN_DIR/
  model/           the final model (SentenceTransformer(RUN_DIR/model)), with its model card
  metrics.json     baseline_dev, baseline_test, final_dev, test, evaluations, training
  metrics.jsonl    every log entry as it arrived (training loss, lr, evaluations)
  recipe.yaml      the resolved recipe, every default filled in: rerun it with `sbft train`
  run.json         package versions, machine, timings
  checkpoints/     trainer checkpoints (for resuming)
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.files import write_json  # noqa: F401 (run_folder.write_json, used by train)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL = "model"
METRICS = "metrics.json"
METRICS_LOG = "metrics.jsonl"
RECIPE = "recipe.yaml"
RUN_INFO = "run.json"
CHECKPOINTS = "checkpoints"
PACKAGES = ("sbft", "sentence-transformers", "transformers", "torch", "datasets", "accelerate")


def ensure_fresh(run_dir: Path, overwrite: bool) -> None:
    """Never overwrite a finished or started run without being asked to."""
    markers = [run_dir / name for name in (MODEL, METRICS, METRICS_LOG, CHECKPOINTS)]
    if not any(m.exists() for m in markers):
        return
    if not overwrite:
        raise SbftError(
            f"the output folder '{run_dir}' already holds a run",
            fix="Choose another folder with -o/--output-dir, or pass --overwrite to replace it.",
        )
    for marker in markers:
        if marker.is_dir():
            shutil.rmtree(marker)
        elif marker.exists():
            marker.unlink()


def save_model_atomically(model: SentenceTransformer, run_dir: Path) -> Path:
    """Write to a temporary folder, then rename: a crash never leaves a half-written model."""
    final = run_dir / MODEL
    partial = run_dir / f".{MODEL}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    model.save(str(partial))
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    return final


def read_evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """Every evaluation logged during training, one entry per step (several dev sets merged)."""
    path = run_dir / METRICS_LOG
    if not path.is_file():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short by a killed run
            continue
        metrics = {k.removeprefix("eval_"): v for k, v in entry.items() if k.startswith("eval_")}
        if metrics:
            by_step.setdefault(entry["step"], {"step": entry["step"], "epoch": entry.get("epoch")}).update(
                metrics
            )
    return list(by_step.values())


def environment() -> dict[str, Any]:
    """Versions and machine facts, for reproducing a run."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "cuda": torch.cuda.is_available(),
        "cpu_threads": torch.get_num_threads(),
    }
