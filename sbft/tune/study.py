"""The optuna study of `sbft tune`: where it is stored, created or resumed, and whose it is.

By default the study lives in DIR/study.db (SQLite), so running the command again resumes it;
`--storage URL` takes any database optuna's RDB storage takes (PostgreSQL, MySQL), which lets
several machines run trials of one study. The recipe's hash is kept in the study: a folder or
database holding another recipe's study is refused unless --overwrite.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbft.errors import SbftError
from sbft.recipe import Recipe
from sbft.tune.space import direction, recipe_hash, untuned_values

MARKER = ".sbft-tune"
LOCK = ".sbft-tune.lock"
STUDY_DB = "study.db"
TRIALS = "trials"
TRIALS_LOG = "trials.jsonl"
BEST = "best.yaml"
REPORT = "report.md"
PLOTS = "plots"
TEST = "test.json"
OWNED = (MARKER, LOCK, STUDY_DB, TRIALS, TRIALS_LOG, BEST, REPORT, PLOTS, TEST)
"""What sbft tune writes in DIR, and all that --overwrite may delete."""
HEARTBEAT_S = 30
"""A running trial's heartbeat: a trial whose process died (killed, machine lost) is marked FAIL by
the next process that asks for a trial after 4 missed beats, instead of blocking the study."""


@dataclass
class OpenStudy:
    study: Any
    storage_url: str
    created: bool


@contextlib.contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """One process of this machine at a time prepares DIR and creates or opens its study: two
    processes started together on a new study.db would both create its tables (and the second
    fail). Where there is no fcntl (Windows), no lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def storage_url(out_dir: Path, storage: str | None) -> str:
    return storage or f"sqlite:///{(out_dir / STUDY_DB).resolve()}"


def check_folder(out_dir: Path) -> None:
    """DIR is new, or holds nothing but what sbft tune writes: checked before anything is written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SbftError(f"'{out_dir}' is a file, not a folder", where="output_dir")
    foreign = [p.name for p in out_dir.iterdir() if p.name not in OWNED] if out_dir.is_dir() else []
    if foreign and not (out_dir / MARKER).is_file():
        raise SbftError(
            f"'{out_dir}' holds files that sbft tune did not write ({', '.join(sorted(foreign)[:3])}...)",
            where="output_dir",
            fix="Give a new or empty folder with -o.",
        )


def prepare_folder(out_dir: Path, storage: str | None, recipe: Recipe, overwrite: bool) -> None:
    """DIR is new, empty, or sbft tune's own; --overwrite removes what sbft tune wrote there (and the
    study, from a --storage database); nothing else is touched."""
    check_folder(out_dir)
    if overwrite:
        if storage is not None:
            _delete_study(storage, recipe.name)
        for name in set(OWNED) - {LOCK}:  # the lock this process holds stays
            path = out_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text(json.dumps({"recipe": str(recipe.source)}) + "\n", encoding="utf-8")


def _delete_study(url: str, name: str) -> None:
    import optuna

    with contextlib.suppress(KeyError):  # no such study: nothing to replace
        optuna.delete_study(study_name=name, storage=url)


def open_study(recipe: Recipe, url: str, in_folder: bool) -> OpenStudy:
    """Create the study (with the untuned recipe's values as its first trial) or load it; another
    recipe's study is refused (in DIR's own database, any other study is another recipe's)."""
    import optuna

    assert recipe.tune is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats, stale-trial checks and the matplotlib plots are "experimental" in optuna: a
    # warning per call that tells the user nothing they can act on.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = _storage(url)
    digest = recipe_hash(recipe)
    others = [name for name in optuna.get_all_study_names(storage) if name != recipe.name]
    if others and in_folder:
        raise SbftError(
            f"the folder's study is '{others[0]}', made from another recipe (this one is '{recipe.name}')",
            where="output_dir",
            fix="Give another folder with -o, or replace that study with --overwrite.",
        )
    try:
        study = optuna.create_study(
            study_name=recipe.name, storage=storage, direction=direction(recipe), pruner=_pruner(recipe)
        )
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=recipe.name, storage=storage, pruner=_pruner(recipe))
        found = study.user_attrs.get("recipe_hash")
        if found != digest:
            raise SbftError(
                f"the study '{recipe.name}' in {url} was made from another recipe "
                f"({study.user_attrs.get('recipe', 'unknown file')}), or this one changed since",
                where="output_dir",
                fix="Give another folder with -o, or replace that study with --overwrite.",
            ) from None
        study.sampler = _sampler(recipe, len(study.trials))
        return OpenStudy(study, url, created=False)
    study.set_user_attr("recipe_hash", digest)
    study.set_user_attr("recipe", str(recipe.source))
    study.enqueue_trial(untuned_values(recipe), user_attrs={"untuned": True})
    study.sampler = _sampler(recipe, 0)
    return OpenStudy(study, url, created=True)


def _storage(url: str) -> Any:
    """The RDB storage, with heartbeats; SQLite waits for a lock instead of failing at once (two
    processes on one file)."""
    import optuna

    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=4 * HEARTBEAT_S
        )
    except (ImportError, ValueError) as error:
        raise SbftError(
            f"cannot open the study storage {url}: {error}",
            where="storage",
            fix="Give an RDB URL optuna takes: sqlite:///study.db, postgresql://user@host/db "
            "(with its driver installed).",
        ) from None


def _sampler(recipe: Recipe, done: int) -> Any:
    """TPE (or random), seeded; the seed moves on by the trials already in the study, so a resumed
    study does not draw the same values again."""
    import optuna

    assert recipe.tune is not None
    seed = recipe.tune.seed if recipe.tune.seed is not None else recipe.training.get("seed", 42)
    seed = int(seed) + done
    if recipe.tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = min(10, max(3, recipe.tune.trials // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def _pruner(recipe: Recipe) -> Any:
    """Steps are dev evaluations (1, 2, ...), the same in every trial whatever its batch size."""
    import optuna

    assert recipe.tune is not None
    if recipe.tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if recipe.tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()


def fail_stale(study: Any) -> None:
    """Trials left RUNNING by a process that died are marked FAIL (after their heartbeat stopped)."""
    import optuna

    optuna.storages.fail_stale_trials(study)
