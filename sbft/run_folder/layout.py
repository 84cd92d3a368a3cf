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
    as JSON and the weights are there; a run killed while saving leaves one without them. A
    checkpoint whose files are damaged (see `checkpoint_problem`) is not complete either.
    """
    folder = run_dir / CHECKPOINTS
    found = []
    for path in folder.glob("checkpoint-*") if folder.is_dir() else ():
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and path.is_dir():
            found.append((int(step), path))
    complete, incomplete = [], []
    for _, path in sorted(found):
        (incomplete if checkpoint_problem(path) else complete).append(path)
    return complete, incomplete


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint cannot be resumed from, or None. Checked without loading it: the trainer's
    state reads as JSON, weights are there and whole (safetensors' header against the file's
    size), and each file the trainer unpickles on resume (optimizer.pt, scheduler.pt,
    rng_state.pth...) is a whole archive holding nothing torch's safe loading refuses."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "is incomplete (the run was stopped while saving it)"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "is damaged: trainer_state.json is not the trainer's state"
    weights = [*checkpoint.glob("**/*.safetensors"), *checkpoint.glob("**/pytorch_model.bin")]
    if not weights:
        return "is incomplete (the run was stopped while saving it)"
    for path in sorted(weights):
        if path.suffix == ".safetensors" and not _safetensors_whole(path):
            return f"is damaged: {path.relative_to(checkpoint)} is cut short or corrupt"
    for path in sorted([*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth")]):
        problem = _pickle_problem(path)
        if problem:
            return f"is damaged: {path.name} {problem}"
    return None


def _safetensors_whole(path: Path) -> bool:
    """The header's length and tensors' offsets match the file's size (a cut-short file does not)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            length = int.from_bytes(stream.read(8), "little")
            if size < 8 or length > size - 8:
                return False
            header = json.loads(stream.read(length))
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return False
    return max(ends, default=0) == size - 8 - length


_SAFE_MODULES = ("numpy.",)
"""Globals the trainer allows besides torch's own safe ones when it unpickles rng_state.pth
(numpy's random state)."""


def _pickle_problem(path: Path) -> str | None:
    """What is wrong with a torch archive the trainer will unpickle on resume, or None."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return "is cut short or corrupt"
    from torch.serialization import get_unsafe_globals_in_checkpoint

    try:
        unsafe = get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # torch raises several types on a damaged archive: all mean "cannot be read"
        return "is cut short or corrupt"
    refused = sorted(name for name in unsafe if not name.startswith(_SAFE_MODULES))
    if refused:
        return f"holds objects that safe loading refuses ({', '.join(refused[:3])}): it was tampered with"
    return None


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
        if metrics and isinstance(entry.get("step"), int):
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
