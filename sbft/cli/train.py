"""`sbft train RECIPE` runs a recipe end to end; `sbft train --resume RUN_DIR` finishes one."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import SetOption
from sbft.cli.plain_help import PlainCommand
from sbft.errors import SbftError


class _TrainCommand(PlainCommand):
    """RECIPE is needed unless --resume names the run to finish: the usage line shows both forms."""

    def collect_usage_pieces(self, ctx: object) -> list[str]:
        return ["[OPTIONS]", "RECIPE", "|", "--resume", "RUN_DIR"]


@app.command(cls=_TrainCommand)
@user_errors
def train(
    recipe: Annotated[
        Path | None,
        typer.Argument(help="The recipe YAML file (required, unless --resume).", show_default=False),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", metavar="RUN_DIR", help="Run folder (overrides the recipe's)."),
    ] = None,
    overrides: SetOption = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace the sbft run in the output folder (only the files sbft wrote there), "
            "once the new run has finished.",
        ),
    ] = False,
    keep_checkpoints: Annotated[
        bool,
        typer.Option(
            "--keep-checkpoints", help="Keep checkpoints/ once the run has finished (removed by default)."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors and the final tables.")
    ] = False,
    smoke: Annotated[
        bool,
        typer.Option(
            help="First run the whole pipeline on a few rows in a temporary folder (seconds), so that "
            "an error stops the run before it starts, and time a few batches on its model for the "
            "estimate of each stage's time; --no-smoke skips both. Not on --resume."
        ),
    ] = True,
    cache: Annotated[
        bool,
        typer.Option(
            help="Reuse the base model's dev and test scores from an earlier run of the same model on "
            "the same evaluation data (in ~/.cache/sbft, or $SBFT_CACHE); --no-cache evaluates it again."
        ),
    ] = True,
    nproc: Annotated[
        int | None,
        typer.Option(help="Train on this many processes (GPUs) of this machine, through torchrun."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN_DIR", help="Continue the interrupted run in this folder from its last checkpoint."
        ),
    ] = None,
) -> None:
    """Fine-tune a model as the recipe says: check, baseline, train, test, save.

    Ctrl-C (or SIGTERM) stops after the current step with a checkpoint; resume with --resume. Before
    training (checks, smoke run, loading, baseline) it exits 130 and says what was interrupted.

    --resume continues the run exactly as it started: only -q may be added.
    """
    if nproc is not None and nproc > 1 and "LOCAL_RANK" not in os.environ:
        raise typer.Exit(_launch_with_torchrun(nproc))
    from sbft.recipe import load_recipe
    from sbft.train import resume_recipe
    from sbft.train import train as run_training

    if (recipe is None) == (resume is None):
        raise SbftError(
            "give either a RECIPE to start a run or --resume RUN_DIR to continue one",
            fix="For example: sbft train recipe.yaml "
            "(`sbft init --data YOUR_DATA -o recipe.yaml` writes one).",
        )
    if resume is not None:
        _refuse_changes_on_resume(resume, overrides, output_dir, overwrite, keep_checkpoints)
        loaded = resume_recipe(resume)
    else:
        loaded = load_recipe(recipe, overrides)
        if output_dir is not None:
            loaded.output_dir = str(output_dir)
    with _sigterm_as_ctrl_c():
        result = run_training(
            loaded,
            overwrite=overwrite,
            resume=resume is not None,
            keep_checkpoints=keep_checkpoints,
            quiet=quiet,
            smoke_first=smoke,
            cache=cache,
        )
    if result.interrupted:
        raise typer.Exit(130)


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (a `kill`, a scheduler's stop) stops the run as Ctrl-C does: before training it exits
    130 saying what was interrupted, during training after the current step with a checkpoint (the
    trainer's own handler takes over there). Python's default would end the process silently."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (a test runner's): nothing to catch there
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _refuse_changes_on_resume(
    run_dir: Path, overrides: list[str] | None, output_dir: Path | None, overwrite: bool, keep: bool
) -> None:
    """A resume continues the run exactly as it started: its recipe, folder and options."""
    options = {"--set": overrides, "-o": output_dir, "--overwrite": overwrite, "--keep-checkpoints": keep}
    given = [flag for flag, value in options.items() if value]
    if given:
        raise SbftError(
            f"--resume continues the run in '{run_dir}' exactly as it started, so it takes no "
            + " / ".join(given),
            fix=f"Only -q/--quiet may be added. To change the run, start a new one from its recipe: "
            f"sbft train {run_dir / 'recipe.yaml'} -o NEW_FOLDER --set KEY=VALUE",
        )


def _launch_with_torchrun(nproc: int) -> int:
    """Rerun this very command under torch's own launcher, one process per device."""
    import subprocess

    arguments, skip = [], False
    for argument in sys.argv[1:]:
        if skip:
            skip = False
        elif argument == "--nproc":
            skip = True
        elif not argument.startswith("--nproc="):
            arguments.append(argument)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return subprocess.call([*command, "-m", "sbft", *arguments])
