"""Files on disk: atomic writes, and which reader a data file needs.

Atomic writes go to a temporary file beside the target and are renamed onto it at the end, so a
crash, Ctrl-C or a concurrent reader never sees half a file under the real name. The temporary
file is created with mode 0o666 less the umask, as open() would create the target itself (not
tempfile's 0o600), so the renamed file has the permissions users expect.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from sbft.errors import SbftError

FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
"""Data file extensions and the datasets.load_dataset builder that reads each."""
STDIN = "-"
"""The path that stands for stdin as input and stdout as output."""


# --- atomic writes -------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A new empty temporary file beside `path` to write by name; renamed onto `path` on success.

    For writers that want a file name (exporters); on any error or interruption the temporary
    file is removed and `path` is left as it was.
    """
    target = Path(path)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary stream whose content replaces `path` when the block ends without an error."""
    with atomic_path(path) as partial, open(partial, "wb") as stream:
        yield stream


def as_umask_allows(folder: str | Path) -> None:
    """Give every file under `folder` the mode open() gives a new file (0o666 less the umask).

    For folders a library wrote: transformers saves model.safetensors through a private (0600)
    temporary file, which would leave a shared model's weights readable by their owner alone.
    """
    folder = Path(folder)
    probe = folder / f".mode-probe-{secrets.token_hex(4)}"
    descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        mode = os.fstat(descriptor).st_mode & 0o777
    finally:
        os.close(descriptor)
        probe.unlink()
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(mode)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) in one step."""
    with atomic_file(path) as stream:
        stream.write(text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> None:
    """Replace `path` with `data` as indented JSON, in one step."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def check_output(
    path: str | Path | None,
    overwrite: bool,
    where: str = "output",
    inputs: Iterable[str | Path | None] = (),
) -> None:
    """Before any work: a folder to write in, no input written over, no user file replaced unasked."""
    if path is None or str(path) == STDIN:
        return
    refuse_input_as_output(path, inputs, where)
    target = Path(path)
    if target.is_dir():
        raise SbftError(f"the output '{path}' is a folder", where=where, fix="Name a file.")
    if target.exists() and not overwrite:
        raise SbftError(
            f"the output file '{path}' already exists",
            where=where,
            fix="Pass --overwrite to replace it, or choose another name.",
        )
    if not target.parent.is_dir():
        raise SbftError(f"the folder '{target.parent}' does not exist", where=where)
    check_writable(target.parent, where)


def refuse_input_as_output(
    output: str | Path | None, inputs: Iterable[str | Path | None], where: str = "output"
) -> None:
    """An output that is one of the inputs (by name, symbolic link or hard link) would be replaced
    by what is made from it: refused before any work. A folder input stands for itself only:
    callers list the files they read inside it (beir.beir_files)."""
    if output is None or str(output) == STDIN:
        return
    for given in inputs:
        if given is None or str(given) == STDIN:
            continue
        source = Path(given)
        if _same_file(Path(output), source):
            raise SbftError(
                f"the output '{output}' is the input '{source}'{_how_same(Path(output), source)}: "
                "writing it would destroy the input",
                where=where,
                fix="Write to another file; --overwrite and --force never replace an input.",
            )


def refuse_output_in_folders(
    output: str | Path | None, folders: Iterable[str | Path | None], where: str = "output"
) -> None:
    """A model folder being read is an input as a whole: an output inside it (by path, symbolic link,
    or a hard link to one of its files) would replace a file of the model. Refused before any work."""
    if output is None or str(output) == STDIN:
        return
    target = Path(output)
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError):  # a link loop: nothing to compare
        return
    for given in folders:
        if given is None or not Path(given).is_dir():
            continue
        folder = Path(given).resolve()
        inside = resolved.is_relative_to(folder)
        if inside or (
            target.is_file() and any(_same_file(target, f) for f in folder.rglob("*") if f.is_file())
        ):
            raise SbftError(
                f"the output '{output}' is "
                + ("inside" if inside else "a hard link to a file of")
                + f" the model folder '{given}' being read: writing it would damage the model",
                where=where,
                fix="Write outside the model folder; --overwrite and --force never replace an input.",
            )


def _same_file(first: Path, second: Path) -> bool:
    """The same file on disk (st_dev and st_ino, links followed), or the same resolved path."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist yet
        try:
            return first.resolve() == second.resolve()
        except (OSError, RuntimeError):  # a link loop
            return False


def _how_same(output: Path, source: Path) -> str:
    if output.resolve() != source.resolve():
        return " (a hard link: the same file under two names)"
    if output.absolute() != source.absolute():
        return f" (through a symbolic link: both are '{source.resolve()}')"
    return ""


# --- full and read-only disks --------------------------------------------------------------------

MIN_FREE_BYTES = 1 << 20
"""Less free space than this at the destination is a full disk: refused before any work."""
_DISK_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission is denied",
    errno.EPERM: "permission is denied",
}
_DISK_TEXTS = {
    "no space left on device": errno.ENOSPC,
    "os error 28": errno.ENOSPC,
    "storagefull": errno.ENOSPC,
    "file write failed": errno.ENOSPC,  # torch's zip writer, on a full disk
    "disk quota exceeded": errno.EDQUOT,
    "read-only file system": errno.EROFS,
    "os error 30": errno.EROFS,
}
"""How libraries that wrap the OS error in their own (safetensors, torch, PIL) say it."""


def check_writable(folder: str | Path, where: str = "output") -> None:
    """Before any work: files can be made in `folder` (or, when it is still to be made, in its
    nearest existing parent), and its disk is not full."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = _DISK_REASONS[errno.EROFS if _read_only(existing) else errno.EACCES]
        raise SbftError(
            f"cannot write in '{existing}': {reason}",
            where=where,
            fix="Choose a destination you can write to, or change the folder's permissions.",
        )
    free = _free_bytes(existing)
    if free is not None and free < MIN_FREE_BYTES:
        raise SbftError(
            f"the disk holding '{existing}' is full ({free:,} bytes free)",
            where=where,
            fix="Free some space, or choose a destination on another disk.",
        )


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _free_bytes(path: Path) -> int | None:
    import shutil

    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def disk_error(error: BaseException, kept: str = "") -> SbftError | None:
    """A write that failed for want of space or permission (the OS's error, or a library's that
    wraps it), as one paragraph; None for any other error. `kept` says what was left as it was."""
    code, path = None, None
    seen: BaseException | None = error
    while seen is not None and code is None:
        if isinstance(seen, OSError) and seen.errno in _DISK_REASONS:
            code, path = seen.errno, seen.filename
        else:
            text = str(seen).lower()
            code = next((number for words, number in _DISK_TEXTS.items() if words in text), None)
        seen = seen.__cause__ or seen.__context__
    if code is None:
        return None
    where = f" '{path}'" if path else ""
    full = code in (errno.ENOSPC, errno.EDQUOT)
    return SbftError(
        f"cannot write{where}: {_DISK_REASONS[code]}",
        fix=(kept + " " if kept else "")
        + (
            "Free some space (or write to another disk) and run the command again."
            if full
            else "Choose a destination you can write to, and run the command again."
        ),
    )


# --- data file formats ---------------------------------------------------------------------------


def format_of(path: str | Path, explicit: str | None = None) -> str | None:
    """The datasets builder for `path`: `explicit` when given, else its extension's (None: unknown)."""
    return explicit or FILE_FORMATS.get(Path(path).suffix.lower())


def reader_options(path: str | Path, loader_args: Mapping[str, Any]) -> dict[str, Any]:
    """Reader options for `path`: a .tsv file is tab-separated unless sep or delimiter says otherwise."""
    options = dict(loader_args)
    if Path(path).suffix.lower() == ".tsv" and not {"sep", "delimiter"} & options.keys():
        options["sep"] = "\t"
    return options


# --- the user cache ------------------------------------------------------------------------------


def cache_root() -> Path:
    """sbft's cache folder: $SBFT_CACHE, else $XDG_CACHE_HOME/sbft, else ~/.cache/sbft."""
    root = os.environ.get("SBFT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "sbft"
    return Path(root).expanduser()


def folder_fingerprint(folder: Path, skip: tuple[str, ...] = (), salt: str = "") -> str:
    """The names, sizes and modification times of a folder's files (those under `skip` left out):
    a file saved again changes it, without reading gigabytes of weights."""
    import hashlib

    stats = [
        (str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not set(skip) & set(path.relative_to(folder).parts)
    ]
    return hashlib.sha256(json.dumps([salt, stats] if salt else stats).encode()).hexdigest()
