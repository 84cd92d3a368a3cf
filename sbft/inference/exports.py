"""ONNX exports on disk: which backends exist, where a model's exports live, whether they are current.

Standard library only (no torch, no onnxruntime): the torch-free fast start (sbft.inference.lite)
finds a current export with it, and sbft.inference.onnx, which makes the exports, writes them
where it says.

Exported files follow sentence-transformers' layout (onnx/model.onnx,
onnx/model_qint8_<cpu>.onnx), next to the model when its folder is writable, else in the user
cache (~/.cache/sbft/onnx/<name>-<hash>/onnx, or $SBFT_CACHE). onnx/sbft-export.json records the
model files each export came from, and each export's size and SHA-256: a changed model is
exported again, never served stale, and a damaged export (a flipped byte, a cut-short file) is
never run. A model folder whose onnx/ holds files sbft did not record (an export shipped with the
model) keeps them: sbft's exports then go to the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sysconfig
from pathlib import Path
from typing import Any

from sbft.errors import SbftError, did_you_mean
from sbft.files import cache_root, folder_fingerprint, write_json

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
    """onnx/ beside the model when its folder is writable, no installed package, and holds no ONNX
    file that sbft did not make; else the cache."""
    installed = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    if (
        local.is_dir()
        and os.access(local, os.W_OK)
        and not installed & set(local.resolve().parents)
        and not foreign_exports(local / ONNX_FOLDER)
    ):
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


def foreign_exports(folder: Path) -> list[str]:
    """The ONNX files of `folder` that sbft's record does not list: someone else's, never replaced."""
    if not folder.is_dir():
        return []
    record = read_record(folder)
    return sorted(path.name for path in folder.glob("*.onnx") if path.name not in record)


def file_entry(path: Path, fingerprint: str) -> dict[str, Any]:
    """What the record keeps of an export: the model files it came from, its size and SHA-256, and
    the inode and change time it had when written (see export_state)."""
    return {
        "fingerprint": fingerprint,
        "size": path.stat().st_size,
        "sha256": file_sha256(path),
        **_stamp(path),
    }


def _stamp(path: Path) -> dict[str, Any]:
    """The inode and change time of `path`: any write to the file, or a copy of it, changes them,
    and no user program can set a change time back (utime sets the modification time only)."""
    stat = path.stat()
    return {"inode": [stat.st_dev, stat.st_ino], "ctime_ns": stat.st_ctime_ns}


def file_sha256(path: Path) -> str:
    """Read in 1 MiB blocks (hashlib.file_digest needs Python 3.11)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def export_state(folder: Path, name: str, fingerprint: str) -> str:
    """'current', 'missing', 'stale' (made from other model files) or 'damaged' (its size or
    SHA-256 is not the recorded one) for the export file `name` in `folder`."""
    target, entry = folder / name, read_record(folder).get(name)
    if not target.is_file():
        return "missing"
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint:
        return "stale"  # older records kept the fingerprint alone: made again once
    if target.stat().st_size != entry.get("size"):
        return "damaged"
    stamp = _stamp(target)
    if all(entry.get(key) == value for key, value in stamp.items()):
        return "current"  # not written since sbft wrote it: the SHA-256 (0.5 s for MiniLM) is skipped
    if file_sha256(target) != entry.get("sha256"):
        return "damaged"
    _restamp(folder, name, stamp)  # copied or touched, content intact: cheap again next time
    return "current"


def _restamp(folder: Path, name: str, stamp: dict[str, Any]) -> None:
    record = read_record(folder)
    with contextlib.suppress(OSError):  # a read-only folder: the hash is checked again next time
        write_json(folder / RECORD, {**record, name: {**record[name], **stamp}})


def forget_exports(name: str, backend: str) -> Path:
    """Mark the record's entries for `backend`'s file of the model `name` (and the fp32 file it is
    made from) as stale, so that the next load exports them again: `sbft export --overwrite`.
    The entries stay, saying the files are sbft's; files sbft did not record are never touched."""
    _, folder, _ = export_location(name)
    record = read_record(folder)
    stale = {onnx_file_name("onnx"), onnx_file_name(backend)} & record.keys()
    if stale:
        write_json(folder / RECORD, {**record, **{key: {"fingerprint": None} for key in stale}})
    return folder


def current_export(folder: Path, backend: str, fingerprint: str) -> Path | None:
    """The export of `backend` in `folder` when it was made from these model files and is intact."""
    target = folder / onnx_file_name(backend)
    return target if export_state(folder, target.name, fingerprint) == "current" else None
