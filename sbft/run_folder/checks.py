"""What an output folder holds, and whether a run may write there: read only, nothing changed."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sbft.errors import SbftError
from sbft.files import check_writable
from sbft.run_folder.layout import (
    LOCK,
    MARKER,
    MODEL,
    RECIPE,
    REPLACED,
    checkpoint_problem,
    checkpoints,
    is_owned,
    newest_checkpoint,
    read_marker,
)

if TYPE_CHECKING:
    from sbft.recipe import LossSpec, Recipe


@dataclass(frozen=True)
class Folder:
    """What an output folder holds, read without changing anything."""

    path: Path
    kind: str
    """missing, file (the path or a parent is a file), empty, foreign (not a run) or run."""
    status: str | None = None
    """The marker's: running, stopped, failed, finished (replacing / restoring: a move was cut short)."""
    checkpoint: Path | None = None
    """The newest complete checkpoint."""
    has_model: bool = False
    set_aside: bool = False
    """A previous run waits in .sbft-replaced/."""
    foreign: tuple[str, ...] = ()
    """Entries that are not sbft's."""

    @property
    def finished(self) -> bool:
        """Marked finished, and its model is there (without it, a resume can make it again)."""
        return self.status == "finished" and self.has_model

    @property
    def worth_keeping(self) -> bool:
        """A run to set aside rather than delete: marked finished, resumable, or holding a model."""
        return self.status == "finished" or self.checkpoint is not None or self.has_model


def read_folder(run_dir: Path) -> Folder:
    """What `run_dir` holds (see Folder), without changing it."""
    for folder in (run_dir, *run_dir.parents):
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                return Folder(run_dir, "file")
            break
    if not run_dir.exists():
        return Folder(run_dir, "missing")
    names = sorted(entry.name for entry in run_dir.iterdir())
    foreign = tuple(n for n in names if not is_owned(n) and n not in (MARKER, LOCK, REPLACED))
    marker = read_marker(run_dir)
    if marker is None:
        return Folder(run_dir, "empty" if set(names) <= {LOCK} else "foreign", foreign=tuple(names))
    return Folder(
        run_dir,
        "run",
        status=marker.get("status"),
        checkpoint=newest_checkpoint(run_dir),
        has_model=(run_dir / MODEL).is_dir(),
        set_aside=(run_dir / REPLACED).is_dir(),
        foreign=foreign,
    )


def check_start(run_dir: Path, *, overwrite: bool, recipe: Recipe | None = None) -> Folder:
    """May a new run write into `run_dir`? Raises SbftError if not; changes nothing."""
    folder = read_folder(run_dir)
    if folder.kind == "file":
        raise SbftError(
            f"the output folder '{run_dir}' is a file (or lies under one)",
            fix="Choose a folder with -o/--output-dir.",
        )
    check_writable(run_dir, where="output_dir")  # a read-only or full disk: said before any work
    if recipe is not None:
        _check_inputs_apart(run_dir, recipe)
    if folder.kind == "foreign":
        shown = ", ".join(folder.foreign[:3]) + (", ..." if len(folder.foreign) > 3 else "")
        raise SbftError(
            f"the output folder '{run_dir}' holds files that are not an sbft run ({shown}); sbft writes "
            "a run only into a new or empty folder, or over a run it wrote itself",
            fix="Choose another folder with -o/--output-dir.",
        )
    _check_unlocked(run_dir)
    if folder.kind == "run" and not overwrite:
        refuse_existing(folder)
    return folder


def refuse_existing(folder: Folder) -> None:
    """A run folder a new run may not replace unasked; a failed attempt it may (nothing to keep)."""
    where = folder.path
    if folder.status in ("replacing", "restoring"):
        raise SbftError(
            f"the output folder '{where}' holds a run whose replacement was cut short",
            fix="Pass --overwrite to replace it, or choose another folder with -o/--output-dir.",
        )
    if folder.status == "finished":
        raise SbftError(
            f"the output folder '{where}' already holds a finished run",
            fix="Choose another folder with -o/--output-dir, or pass --overwrite to replace it "
            "(only the files sbft wrote there are replaced).",
        )
    if folder.checkpoint is not None:
        raise SbftError(
            f"the output folder '{where}' holds an unfinished run with a checkpoint "
            f"({folder.checkpoint.name})",
            fix=f"Continue it with `sbft train --resume {where}`, or pass --overwrite to start again."
            if (where / RECIPE).is_file()
            else f"It has no {RECIPE} to resume with: pass --overwrite to start again.",
        )
    if folder.has_model:
        raise SbftError(
            f"the output folder '{where}' holds a model of an unfinished run and no checkpoint",
            fix="Pass --overwrite to replace it, or choose another folder with -o/--output-dir.",
        )


def check_resume(run_dir: Path) -> Folder:
    """May `run_dir` be resumed? Raises SbftError if not; a finished run is for the caller to say."""
    folder = read_folder(run_dir)
    if folder.kind != "run":
        raise SbftError(
            f"'{run_dir}' is not a run folder (it has no {MARKER} marker)",
            fix="Pass the folder that `sbft train` printed when the run was interrupted.",
        )
    _check_unlocked(run_dir)
    check_writable(run_dir, where="output_dir")
    return (
        folder
        if folder.finished or folder.status in ("replacing", "restoring")
        else refuse_unresumable(folder)
    )


def refuse_unresumable(folder: Folder) -> Folder:
    """A run folder that --resume cannot continue: no complete checkpoint, or no recipe."""
    run_dir, recipe = folder.path, folder.path / RECIPE
    again = f"sbft train {recipe if recipe.is_file() else 'RECIPE'} -o {run_dir}"
    damaged = [
        f"{path.name} {problem}"
        for path in checkpoints(run_dir)[1]
        if (problem := checkpoint_problem(path) or "").startswith("is damaged")
    ]
    if folder.checkpoint is None and damaged:
        raise SbftError(
            f"the run in '{run_dir}' has no checkpoint to resume from: {'; '.join(damaged)}",
            fix=f"Start it again with {again}"
            + ("" if folder.worth_keeping else " (no --overwrite needed)")
            + "; the damaged checkpoints are deleted then.",
        )
    if not folder.worth_keeping:
        raise SbftError(
            f"the run in '{run_dir}' has no complete checkpoint to resume from",
            fix=f"It holds only the logs of a failed attempt: start again with {again} "
            "(no --overwrite needed).",
        )
    if folder.checkpoint is None or not recipe.is_file():
        missing = "complete checkpoint" if folder.checkpoint is None else RECIPE
        raise SbftError(
            f"the run in '{run_dir}' has no {missing} to resume from",
            fix=f"Start it again with {again} --overwrite.",
        )
    return folder


def inputs(recipe: Recipe) -> list[tuple[str, Path]]:
    """The recipe's files and folders on this machine, each with the recipe field that names it."""
    named = [("model.name", recipe.model.name)]
    named += [("the recipe file", str(recipe.source))] if recipe.source else []
    for name, dataset in recipe.datasets.items():
        named += [(f"datasets.{name}.files.{split}", path) for split, path in dataset.files.items()]
        named += [(f"datasets.{name}.beir", dataset.beir)] if dataset.beir else []
        named += _loss_paths(dataset.loss, f"datasets.{name}.loss")
    return [(where, Path(value)) for where, value in named if Path(value).exists()]


def _loss_paths(spec: LossSpec | None, where: str) -> list[tuple[str, str]]:
    """String loss arguments (a guide or teacher model) and those of an inner loss."""
    if spec is None:
        return []
    found = [(f"{where}.args.{key}", value) for key, value in spec.args.items() if isinstance(value, str)]
    return found + _loss_paths(spec.inner, f"{where}.inner")


def _check_inputs_apart(run_dir: Path, recipe: Recipe) -> None:
    """A run folder that holds (or lies in) an input could delete or overwrite it: refused."""
    run = run_dir.resolve()
    for where, path in inputs(recipe):
        path = path.resolve()
        if path == run / RECIPE and where == "the recipe file":
            continue  # the run's own recipe, read already: `sbft train RUN_DIR/recipe.yaml` starts again
        if path == run or run in path.parents or path in run.parents:
            inside = path == run or run in path.parents
            raise SbftError(
                f"the output folder '{run_dir}' {'holds' if inside else 'lies inside'} '{path}' ({where})",
                fix="Choose an output folder apart from the model, data and recipe: -o runs/NAME.",
            )


def _check_unlocked(run_dir: Path) -> None:
    """Another process writing this run folder? Asked without taking the lock or creating a file."""
    try:
        descriptor = os.open(run_dir / LOCK, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise busy(run_dir, descriptor) from None
    finally:
        os.close(descriptor)


def busy(run_dir: Path, descriptor: int) -> SbftError:
    pid = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
    return SbftError(
        f"another sbft process (pid {pid}) is writing the run folder '{run_dir}'",
        fix="Wait for it to end (or stop it), or choose another folder with -o/--output-dir.",
    )
