"""Where a model named on the command line loads from: a run folder stands for its model."""

from __future__ import annotations

from pathlib import Path

from sbft import run_folder
from sbft.errors import SbftError
from sbft.models import resolve_model_path


def model_location(name: str) -> str:
    """What to load for `name`: a run folder of `sbft train` stands for the model inside it."""
    path = Path(name).expanduser()
    if (path / "modules.json").exists() or (path / "config.json").exists():
        return name
    if (path / run_folder.MODEL).is_dir():
        return str(path / run_folder.MODEL)
    if run_folder.read_marker(path) is not None:
        checkpoint = run_folder.newest_checkpoint(path)
        use = f", or load its last checkpoint, {checkpoint}" if checkpoint else ""
        raise SbftError(
            f"the run folder '{name}' holds no model: its training was interrupted or failed",
            fix=f"Finish it with `sbft train --resume {name}`{use}.",
        )
    return name


def local_model_folders(names: list[str]) -> list[Path]:
    """The local folders the models named load from (none for a hub id): their files are inputs."""
    return [path for path in (Path(model_location(name)).expanduser() for name in names) if path.is_dir()]


def model_folder(name: str) -> Path | None:
    """The folder a model loads from: a local folder, or a hub id's snapshot in the local cache."""
    folder = Path(resolve_model_path(model_location(name)))
    if not folder.is_dir():  # a hub id: its snapshot in the local cache, named by revision
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
        folder = Path(cached).parent if isinstance(cached, str) else folder
    return folder if folder.is_dir() else None
