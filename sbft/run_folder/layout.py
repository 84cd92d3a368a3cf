"""A run folder's names, reading the files a run leaves there, and saving its model in one step."""

from __future__ import annotations

import json
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.files import as_umask_allows

if TYPE_CHECKING:
    from collections.abc import Callable

    from sentence_transformers import SentenceTransformer

    from sbft.recipe import ModelSpec

MARKER = ".sbft-run"
LOCK = ".sbft-lock"
REPLACED = ".sbft-replaced"
MODEL = "model"
ADAPTER = "adapter"
METRICS = "metrics.json"
METRICS_LOG = "metrics.jsonl"
RECIPE = "recipe.yaml"
RUN_INFO = "run.json"
TRAINING_ARGS = "training_args.json"
REPORT = "report.md"
PLOTS = "plots"
CHECKPOINTS = "checkpoints"
MINED = "mined"
TENSORBOARD = "tensorboard"
OWNED = (
    MODEL,
    ADAPTER,
    METRICS,
    METRICS_LOG,
    RECIPE,
    RUN_INFO,
    TRAINING_ARGS,
    REPORT,
    PLOTS,
    CHECKPOINTS,
    MINED,
    TENSORBOARD,
)
"""What a run writes, and all that replacing a run may delete (with atomic writes' .*.partial)."""
PACKAGES = ("sbft", "sentence-transformers", "transformers", "torch", "datasets", "accelerate")


def is_owned(name: str) -> bool:
    """A file or folder that sbft wrote in a run folder (the marker and the lock aside)."""
    return name in OWNED or (name.startswith(".") and name.endswith(".partial"))


def read_marker(run_dir: Path) -> dict[str, Any] | None:
    """The marker's content; None without a marker, {} for one that cannot be read."""
    path = run_dir / MARKER
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def newest_checkpoint(run_dir: Path) -> Path | None:
    complete = checkpoints(run_dir)[0]
    return complete[-1] if complete else None


def checkpoints(run_dir: Path) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) checkpoint folders, oldest first.

    The trainer writes trainer_state.json last, so a checkpoint is complete when that file reads
    as JSON and the weights are there; a run killed while saving leaves one without them.
    """
    folder = run_dir / CHECKPOINTS
    found = []
    for path in folder.glob("checkpoint-*") if folder.is_dir() else ():
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and path.is_dir():
            found.append((int(step), path))
    complete, incomplete = [], []
    for _, path in sorted(found):
        (complete if _is_complete(path) else incomplete).append(path)
    return complete, incomplete


def _is_complete(checkpoint: Path) -> bool:
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(checkpoint.glob("**/*.safetensors")) or any(checkpoint.glob("**/pytorch_model.bin"))


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """The entries of metrics.jsonl; a line cut short by a killed run is left out."""
    path = run_dir / METRICS_LOG
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def read_evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """Every evaluation logged during training, one entry per step (several dev sets merged)."""
    by_step: dict[int, dict[str, Any]] = {}
    for entry in read_log(run_dir):
        metrics = {k.removeprefix("eval_"): v for k, v in entry.items() if k.startswith("eval_")}
        if metrics and "step" in entry:
            by_step.setdefault(entry["step"], {"step": entry["step"], "epoch": entry.get("epoch")}).update(
                metrics
            )
    return list(by_step.values())


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """run.json: the recipe file the run came from and the variables it read (written at the
    start), timings and versions (at the end); {} when there is none or it cannot be read."""
    try:
        content = json.loads((run_dir / RUN_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def save_model_atomically(
    model: SentenceTransformer, run_dir: Path, base: ModelSpec | None = None, written: str | None = None
) -> Path:
    """Write to a temporary folder, then rename: a crash never leaves a half-written model.

    A model that carries an adapter (the recipe's `base` has `adapter:`) is saved twice by default:
    the adapter alone in adapter/, then merged into model/, which loads without peft (the merge
    happens in place: the model is saved last). With `merge: false`, model/ is the adapter folder.
    `written` is the base model's name as the recipe wrote it, recorded in the adapter folder.
    """
    from sbft import adapters

    final = run_dir / MODEL
    if base is None or base.adapter is None or not adapters.has_adapter(model):
        return _save_atomically(model.save, final)
    record = adapters.base_record(base, model, written)
    if not adapters.settings(base.adapter)["merge"]:
        return _save_atomically(lambda folder: adapters.save_adapter(model, Path(folder), record), final)
    _save_atomically(lambda folder: adapters.save_adapter(model, Path(folder), record), run_dir / ADAPTER)
    adapters.merge(model)
    return _save_atomically(model.save, final)


def _save_atomically(save: Callable[[str], None], final: Path) -> Path:
    partial = final.parent / f".{final.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    save(str(partial))
    as_umask_allows(partial)  # model.safetensors comes out 0600 otherwise
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    return final


def folder_size(path: Path) -> int:
    """Bytes in the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


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
