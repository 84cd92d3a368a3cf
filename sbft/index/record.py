"""index.json: what built an index folder, and the checks that keep a wrong or damaged one from answering.

The record is written last, after every other file is in place: a folder without one is an
index whose build did not finish. It names the model (its identity as the corpus cache keys it,
sbft.inference.corpus.model_identity), the dimensions, the quantization and build settings, the
counts, and the size and blake2b digest of each file. Opening an index checks all of them before
faiss reads a byte: faiss trusts its input, so a truncated or altered file must never reach it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from sbft.errors import SbftError
from sbft.files import check_writable, write_json

FORMAT = 1
RECORD = "index.json"
INDEX_FILE = "index.faiss"
VECTORS = "vectors.npy"
TEXTS = "texts.jsonl"
OFFSETS = "offsets.npy"
OWN_FILES = (RECORD, INDEX_FILE, VECTORS, TEXTS, OFFSETS)
"""Every file `sbft index` writes: --overwrite replaces these and nothing else."""
QUANTIZATIONS = ("none", "int8", "binary")
HASH_BLOCK = 1 << 22
_SAME_MODEL = ("max_seq_length", "prompt", "task", "truncate_dim", "normalize")
"""Identity fields that must agree for query embeddings to live in the index's space."""


def file_digest(path: Path) -> str:
    """blake2b (16 bytes) of a file's content, read 4 MB at a time."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_entries(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """{name: {bytes, blake2b}} of the files just written."""
    return {
        name: {"bytes": (folder / name).stat().st_size, "blake2b": file_digest(folder / name)}
        for name in names
    }


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """index.json, with the format and the time; written last (see the module's docstring)."""
    write_json(folder / RECORD, {"format": FORMAT, "written_by": "sbft index", "created": _now(), **record})


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def damaged(folder: Path, reason: str) -> SbftError:
    """The one paragraph for an index that cannot be trusted."""
    return SbftError(
        f"the index '{folder}' cannot be used: {reason}",
        where="index",
        fix=f"Build it again: sbft index MODEL CORPUS -o {folder} --overwrite.",
    )


def read_record(folder: Path) -> dict[str, Any]:
    """index.json, checked for the fields sbft relies on; SbftError when missing or damaged."""
    if not folder.is_dir():
        raise SbftError(
            f"'{folder}' is not a folder", where="index", fix="Name a folder written by `sbft index`."
        )
    path = folder / RECORD
    if not path.is_file():
        partial = any((folder / name).exists() for name in OWN_FILES)
        if partial:
            raise damaged(folder, f"it has no {RECORD} (its build did not finish)")
        raise SbftError(
            f"'{folder}' holds no index ({RECORD} is missing)",
            where="index",
            fix="Build one with sbft index MODEL CORPUS -o FOLDER.",
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise damaged(folder, f"{RECORD} is not readable JSON") from None
    needed = {"format", "model", "rows", "dim", "quantization", "files", "settings"}
    if not isinstance(record, dict) or not needed <= record.keys():
        raise damaged(folder, f"{RECORD} lacks {', '.join(sorted(needed - set(record or {})))}")
    if record["format"] != FORMAT:
        raise damaged(folder, f"it is in format {record['format']}; this sbft reads format {FORMAT}")
    if record["quantization"] not in QUANTIZATIONS:
        raise damaged(folder, f"{RECORD} names an unknown quantization {record['quantization']!r}")
    return record


def verify_files(folder: Path, record: dict[str, Any], checksums: bool = True) -> None:
    """Every file the record lists: present, of its size, and (with `checksums`) of its digest."""
    for name, entry in record["files"].items():
        path = folder / name
        if name not in OWN_FILES or not isinstance(entry, dict):
            raise damaged(folder, f"{RECORD} lists an unknown file {name!r}")
        if not path.is_file():
            raise damaged(folder, f"{name} is missing")
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise damaged(folder, f"{name} holds {size:,} bytes where {entry.get('bytes'):,} were written")
        if checksums and file_digest(path) != entry.get("blake2b"):
            raise damaged(folder, f"the content of {name} does not match its checksum")


def check_output_folder(folder: Path, overwrite: bool) -> None:
    """Before any work: `-o` is a new or empty folder, or (with --overwrite) one holding only an
    index's own files. A folder with anything else is refused: --overwrite replaces sbft's files only."""
    if folder.exists() and not folder.is_dir():
        raise SbftError(f"the output '{folder}' is a file", where="output", fix="Name a folder.")
    if folder.is_dir():
        present = sorted(entry.name for entry in folder.iterdir())
        foreign = [name for name in present if name not in OWN_FILES and not _partial(name)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise SbftError(
                f"the output folder '{folder}' holds files sbft index did not write ({shown})",
                where="output",
                fix="Choose a new or empty folder; --overwrite replaces an index's own files, never others.",
            )
        if present and not overwrite:
            raise SbftError(
                f"the output folder '{folder}' already holds an index",
                where="output",
                fix="Pass --overwrite to replace it, or choose another folder.",
            )
    check_writable(folder, "output")


def _partial(name: str) -> bool:
    """A temporary file of an interrupted atomic write of one of the index's files."""
    return name.startswith(".") and name.endswith(".partial") and any(f".{own}." in name for own in OWN_FILES)


def clear_output(folder: Path) -> None:
    """Make `folder` (and its parents), or empty it of an index's own files, record first: a folder
    caught half-replaced has no record, so it reads as unfinished, never as the old index."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).unlink(missing_ok=True)
    for entry in folder.iterdir():
        if entry.name in OWN_FILES or _partial(entry.name):
            entry.unlink()


def model_entry(name: str, identity: dict[str, Any]) -> dict[str, Any]:
    """The record's model: the name it was given by, its identity and a digest of it."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return {"name": name, "digest": digest, "identity": identity}


def model_difference(built: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why embeddings from the model `now` do not belong in an index built by `built` (identities,
    model_identity), or None when they do. Weights decide (or the files, for a torch-free encoder);
    library versions and the backend do not (ONNX embeds as torch does within 1e-5)."""
    field = next(
        (f for f in ("weights", "files") if built.get(f) is not None and now.get(f) is not None), None
    )
    if field is None:
        return "its weights cannot be compared"
    if built[field] != now[field]:
        return f"its {field} differ"
    if built.get("backend") == now.get("backend") and built.get("modules") != now.get("modules"):
        return "its modules differ"
    changed = [field for field in _SAME_MODEL if built.get(field) != now.get(field)]
    return f"its {', '.join(changed)} differ" if changed else None
