"""The run: the lock, setting a previous run aside, finishing, and putting it back after a failure.

Every change happens under the lock. The marker journals the two moves (set aside, put back):
a process killed in the middle of one leaves a status that the next claim completes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbft.errors import SbftError
from sbft.files import atomic_write_text, write_json
from sbft.run_folder.checks import Folder, busy, read_folder, refuse_existing, refuse_unresumable
from sbft.run_folder.layout import (
    CHECKPOINTS,
    LOCK,
    MARKER,
    METRICS_LOG,
    MODEL,
    REPLACED,
    checkpoint_problem,
    checkpoints,
    is_owned,
    newest_checkpoint,
    read_log,
    read_marker,
)


@dataclass
class Claim:
    """A run folder locked by this process from the start of a run to its end."""

    run_dir: Path
    keep_checkpoints: bool
    notes: list[str] = field(default_factory=list)
    finished: bool = False
    restored: bool = False

    def finish(self) -> None:
        """The run is complete: mark it finished, drop the run it replaced and (unless kept) checkpoints."""
        _write_marker(self.run_dir, "finished", self.keep_checkpoints)
        shutil.rmtree(self.run_dir / REPLACED, ignore_errors=True)
        if not self.keep_checkpoints:
            shutil.rmtree(self.run_dir / CHECKPOINTS, ignore_errors=True)
        self.finished = True

    def next_step(self) -> str:
        """After a run that did not finish: what the folder holds now and how to go on."""
        if self.restored:
            return f"Nothing is lost: the previous run in '{self.run_dir}' is back in place."
        checkpoint = newest_checkpoint(self.run_dir)
        aside = self.run_dir / REPLACED
        waiting = (
            f" The run it replaces waits in '{aside}' until this one finishes (it comes back if you "
            "delete checkpoints/ and run the same command again)."
            if aside.is_dir()
            else ""
        )
        if checkpoint is not None:
            return (
                f"The run folder keeps its checkpoint ({checkpoint.name}): continue with "
                f"`sbft train --resume {self.run_dir}`.{waiting}"
            )
        if (self.run_dir / MODEL).is_dir():  # it failed after saving its model (writing its report, say)
            return (
                f"'{self.run_dir}' holds this attempt's model, not marked finished: run the same "
                "command again with --overwrite."
            )
        return (
            f"Nothing is lost: '{self.run_dir}' holds only the logs of this attempt, and the same "
            "command can run again (no --overwrite needed)."
        )


@contextlib.contextmanager
def claim(
    run_dir: Path, *, overwrite: bool = False, resume: bool = False, keep_checkpoints: bool = False
) -> Iterator[Claim]:
    """Lock `run_dir` and make it ready for a new run (or a resumed one) for the block's length.

    Call `finish()` once the run is complete; a run that ends otherwise keeps its checkpoints for
    --resume, or, without one, gives the folder back to the run it replaced.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = _lock(run_dir)
    try:
        _complete_cut_moves(run_dir)
        if resume:
            folder = refuse_unresumable(read_folder(run_dir))
            if folder.finished or folder.checkpoint is None:  # found once a cut-short move was completed
                raise SbftError(f"the run in '{run_dir}' is finished; there is nothing to resume")
            marker = read_marker(run_dir) or {}
            run = Claim(run_dir, bool(marker.get("keep_checkpoints")))
            run.notes = _prepare_resume(run_dir, folder.checkpoint)
        else:
            folder = read_folder(run_dir)
            if not overwrite:
                refuse_existing(folder)
            _make_room(folder)
            run = Claim(run_dir, keep_checkpoints)
        _write_marker(run_dir, "running", run.keep_checkpoints)
        try:
            yield run
        finally:
            if not run.finished:
                run.restored = _settle(run_dir, run.keep_checkpoints)
    finally:
        os.close(descriptor)  # releases the lock


def _lock(run_dir: Path) -> int:
    descriptor = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        error = busy(run_dir, descriptor)
        os.close(descriptor)
        raise error from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor


def _write_marker(run_dir: Path, status: str, keep_checkpoints: bool, **extra: Any) -> None:
    from sbft import __version__

    content = {"sbft": __version__, "status": status, "keep_checkpoints": keep_checkpoints, **extra}
    write_json(run_dir / MARKER, content)


def _make_room(folder: Folder) -> None:
    """Before a new run: set a run worth keeping aside; delete a failed attempt's logs."""
    run_dir = folder.path
    if folder.kind != "run":
        return
    if folder.worth_keeping and (folder.status == "finished" or not folder.set_aside):
        shutil.rmtree(run_dir / REPLACED, ignore_errors=True)  # older than the finished run above it
        previous = _marker_text(run_dir)
        _write_marker(run_dir, "replacing", False, previous=previous)
        (run_dir / REPLACED).mkdir()
        for name in _owned_entries(run_dir):
            (run_dir / name).rename(run_dir / REPLACED / name)
        atomic_write_text(run_dir / REPLACED / MARKER, previous)
    else:  # a failed or replaced attempt; the run it replaced (if any) stays aside
        _remove_owned(run_dir)


def _settle(run_dir: Path, keep_checkpoints: bool) -> bool:
    """A run that did not finish: keep it if it can be resumed, else put the previous run back.

    Deleting the attempt's files first frees the space a full disk needs for the journal; if the
    last marker cannot be written even so, the "running" one stays, which also says "not finished".
    """
    if newest_checkpoint(run_dir) is None and (run_dir / REPLACED).is_dir():
        _remove_owned(run_dir)
        previous = _marker_text(run_dir / REPLACED)
        _write_marker(run_dir, "restoring", False, previous=previous)
        _put_back(run_dir, previous)
        return True
    with contextlib.suppress(OSError):
        _write_marker(run_dir, "stopped" if newest_checkpoint(run_dir) else "failed", keep_checkpoints)
    return False


def _complete_cut_moves(run_dir: Path) -> None:
    """Finish what a killed process left half done: a set-aside or a put-back goes back to the old run."""
    marker = read_marker(run_dir) or {}
    if marker.get("status") in ("replacing", "restoring"):
        previous = marker.get("previous")
        _put_back(run_dir, previous if isinstance(previous, str) else "{}")
    elif marker.get("status") == "finished":
        shutil.rmtree(run_dir / REPLACED, ignore_errors=True)  # killed as it finished


def _marker_text(run_dir: Path) -> str:
    """The marker as it is, byte for byte: a run put back gets its own marker back."""
    try:
        return (run_dir / MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "{}"


def _put_back(run_dir: Path, previous: str) -> None:
    aside = run_dir / REPLACED
    for entry in sorted(aside.iterdir()) if aside.is_dir() else []:
        if is_owned(entry.name):
            _remove(run_dir / entry.name)  # the journal says the copy set aside is the run's
            entry.rename(run_dir / entry.name)
    atomic_write_text(run_dir / MARKER, previous)
    shutil.rmtree(aside, ignore_errors=True)


def _owned_entries(run_dir: Path) -> list[str]:
    return sorted(entry.name for entry in run_dir.iterdir() if is_owned(entry.name))


def _remove_owned(run_dir: Path) -> None:
    for name in _owned_entries(run_dir):
        _remove(run_dir / name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _prepare_resume(run_dir: Path, checkpoint: Path) -> list[str]:
    """Drop checkpoints cut short after the one resumed from, and log lines written after it."""
    notes = []
    step = int(checkpoint.name.removeprefix("checkpoint-"))
    for partial in checkpoints(run_dir)[1]:
        if int(partial.name.removeprefix("checkpoint-")) > step:
            problem = checkpoint_problem(partial) or "is incomplete"
            if problem.startswith("is damaged"):  # kept for a look, where the trainer never reads
                aside = partial.with_name(f"damaged-{partial.name}")
                _remove(aside)
                partial.rename(aside)
                done = f"was set aside as {aside}"
            else:
                shutil.rmtree(partial)
                done = "was removed"
            notes.append(f"{partial.name} {problem} and {done}; resuming from {checkpoint.name}")
    log = run_dir / METRICS_LOG
    if log.is_file():
        kept = [e for e in read_log(run_dir) if not isinstance(e.get("step"), int) or e["step"] <= step]
        atomic_write_text(log, "".join(json.dumps(entry) + "\n" for entry in kept))
    return notes
