"""ONNX exports on disk: which backends exist, where a model's exports live, whether they are current.

Standard library only (no torch, no onnxruntime): the torch-free fast start (sbft.inference.lite)
finds a current export with it, and sbft.inference.onnx, which makes the exports, writes them
where it says.

Exported files follow sentence-transformers' layout (onnx/model.onnx,
onnx/model_qint8_<cpu>.onnx), next to the model when its folder is writable, else in the user
cache (~/.cache/sbft/onnx/<name>-<hash>/onnx, or $SBFT_CACHE). onnx/sbft-export.json records the
model files each export came from: a changed model is exported again, never served stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sysconfig
from pathlib import Path
from typing import Any

from sbft.errors import SbftError, did_you_mean
from sbft.files import cache_root, folder_fingerprint

BACKENDS = ("torch", "onnx", "onnx-int8")
ONNX_FOLDER = "onnx"
RECORD = "sbft-export.json"
EXPORT_FORMAT = "fused-1"
"""Part of each export's record: a change in how sbft exports makes older exports stale."""
FAST_START = "fast-start"
"""The record's entry saying whether the model folder, read without torch, embeds as torch does."""


def check_backend(backend: str) -> None:
    """A known backend whose packages are installed; cheap, so run before loading anything."""
    if backend not in BACKENDS:
        raise SbftError(f"unknown backend '{backend}'", where="backend", fix=did_you_mean(backend, BACKENDS))
    if backend != "torch":
        require_onnxruntime()


def require_onnxruntime() -> None:
    """A clear error, before any model work, when the optional ONNX packages are missing."""
    import importlib.util

    missing = [package for package in ("onnx", "onnxruntime") if importlib.util.find_spec(package) is None]
    if missing:
        raise SbftError(
            f"the ONNX backend needs {' and '.join(missing)}, which are not installed",
            where="backend",
            fix="Install them with `pip install 'sbft[onnx]'` (`make install` does), or use --backend torch.",
        )


def cpu_flags() -> list[str]:
    """The instruction-set flags /proc/cpuinfo lists (empty where there is none)."""
    try:
        return next(
            sorted(set(line.split(":", 1)[1].split()))
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return []


def quantization_target() -> str:
    """The int8 kernel family of this CPU, as sentence-transformers names them."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    flags = set(cpu_flags())
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def onnx_file_name(backend: str) -> str:
    if backend == "onnx":
        return "model.onnx"
    return f"model_qint8_{quantization_target()}.onnx"


def export_folder(name: str, local: Path) -> Path:
    """onnx/ beside the model when its folder is writable and no installed package, else the cache."""
    installed = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    if local.is_dir() and os.access(local, os.W_OK) and not installed & set(local.resolve().parents):
        return local / ONNX_FOLDER
    key = str(local.resolve()) if local.is_dir() else name
    slug = Path(name.rstrip("/")).name or "model"
    return cache_root() / "onnx" / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}" / ONNX_FOLDER


def export_location(name: str) -> tuple[Path | None, Path, str]:
    """The folder `name` loads from (None: not on disk), its exports' folder, its files' fingerprint."""
    from sbft.inference.locations import model_folder, model_location
    from sbft.models import resolve_model_path

    source = model_folder(name)
    return (
        source,
        export_folder(name, Path(resolve_model_path(model_location(name)))),
        weights_fingerprint(source, name),
    )


def weights_fingerprint(source: Path | None, name: str) -> str:
    """Names, sizes and times of the model's files, its exports left out (no folder: the name)."""
    if source is None:
        return hashlib.sha256(json.dumps([EXPORT_FORMAT, name]).encode()).hexdigest()
    return folder_fingerprint(source, skip=(ONNX_FOLDER,), salt=EXPORT_FORMAT)


def read_record(folder: Path) -> dict[str, Any]:
    """The export record of `folder`: file name (or FAST_START) -> what it was made from."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def current_export(folder: Path, backend: str, fingerprint: str) -> Path | None:
    """The export of `backend` in `folder` when it exists and was made from these model files."""
    target = folder / onnx_file_name(backend)
    return target if target.exists() and read_record(folder).get(target.name) == fingerprint else None
