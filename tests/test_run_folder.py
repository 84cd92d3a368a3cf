"""The run folder's rules, library level (issue 14: 1, 2, 5, 18, 21, 22, 23, 28 and the property test).

What a folder holds decides what a run may do there; a claimed folder is locked, keeps the run it
replaces aside until the new one finishes, and puts it back when the new one fails with nothing
to resume. No test here trains: run folders are written by hand, as `sbft train` leaves them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbft import run_folder
from sbft.errors import SbftError

USER_FILES = {"notes.txt": "my notes\n", "data.csv": "a,b\n1,2\n", "recipe-draft.yaml": "# mine\n"}


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative path -> sha256): compare before and after."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_checkpoint(run_dir: Path, step: int, complete: bool = True) -> Path:
    """A trainer checkpoint; an incomplete one is cut short before trainer_state.json and weights."""
    folder = run_dir / run_folder.CHECKPOINTS / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if complete:
        header = json.dumps({"__metadata__": {"step": str(step)}}).encode()  # whole, and holds no tensor
        (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def write_run(
    run_dir: Path,
    status: str | None = "finished",
    *,
    model: bool = True,
    steps: tuple[int, ...] = (),
    partial_steps: tuple[int, ...] = (),
    torn_log: bool = False,
) -> Path:
    """A run folder as sbft leaves it; status None: no marker (a folder sbft did not write)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if status is not None:
        run_folder.write_json(run_dir / run_folder.MARKER, {"status": status, "keep_checkpoints": False})
    if model:
        (run_dir / "model").mkdir()
        (run_dir / "model" / "model.safetensors").write_bytes(b"final weights")
    (run_dir / "recipe.yaml").write_text("name: old\n")
    (run_dir / "report.md").write_text("# old report\n")
    (run_dir / "metrics.json").write_text(json.dumps({"status": status or "finished"}))
    log = "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 7))
    (run_dir / "metrics.jsonl").write_text(log + ('{"step": 7, "lo' if torn_log else ""))
    for step in steps:
        write_checkpoint(run_dir, step)
    for step in partial_steps:
        write_checkpoint(run_dir, step, complete=False)
    return run_dir


def write_user_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in USER_FILES.items():
        (folder / name).write_text(text)


def user_files(folder: Path) -> dict[str, str]:
    return {name: digest for name, digest in snapshot(folder).items() if name in USER_FILES}


def test_what_a_new_run_may_write_into(tmp_path):
    assert run_folder.check_start(tmp_path / "new", overwrite=False).kind == "missing"
    (tmp_path / "empty").mkdir()
    assert run_folder.check_start(tmp_path / "empty", overwrite=False).kind == "empty"

    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(SbftError, match="is a file"):
            run_folder.check_start(target, overwrite=True)

    # A folder sbft did not write, even one holding files with sbft's names, is never a run.
    write_user_files(tmp_path / "mine")
    write_run(tmp_path / "mine", status=None)
    for overwrite in (False, True):
        with pytest.raises(SbftError, match="not an sbft run") as error:
            run_folder.check_start(tmp_path / "mine", overwrite=overwrite)
        assert "another folder" in str(error.value)

    finished = write_run(tmp_path / "finished")
    with pytest.raises(SbftError, match=r"already holds a finished run.*--overwrite"):
        run_folder.check_start(finished, overwrite=False)
    assert run_folder.check_start(finished, overwrite=True).finished

    # After a crash or a kill: --resume when there is a checkpoint, --overwrite when there is a model.
    resumable = write_run(tmp_path / "resumable", "running", model=False, steps=(2,), partial_steps=(4,))
    with pytest.raises(SbftError, match=r"checkpoint \(checkpoint-2\).*sbft train --resume"):
        run_folder.check_start(resumable, overwrite=False)
    with_model = write_run(tmp_path / "with-model", "running")
    with pytest.raises(SbftError, match=r"no checkpoint.*--overwrite"):
        run_folder.check_start(with_model, overwrite=False)
    # A failed attempt (no checkpoint, no model) is there to be replaced: no --overwrite needed.
    failed = write_run(tmp_path / "failed", "failed", model=False, partial_steps=(2,))
    assert run_folder.check_start(failed, overwrite=False).kind == "run"


def test_what_may_be_resumed(tmp_path):
    write_user_files(tmp_path / "mine")
    with pytest.raises(SbftError, match="is not a run folder"):
        run_folder.check_resume(tmp_path / "mine")
    assert run_folder.check_resume(write_run(tmp_path / "finished")).finished
    failed = write_run(tmp_path / "failed", "failed", model=False, partial_steps=(3,))
    with pytest.raises(SbftError, match=r"no complete checkpoint.*logs of a failed attempt"):
        run_folder.check_resume(failed)
    stopped = write_run(tmp_path / "stopped", "stopped", model=False, steps=(2, 4), partial_steps=(6,))
    assert run_folder.check_resume(stopped).checkpoint == stopped / "checkpoints" / "checkpoint-4"


def test_overwrite_keeps_the_old_run_until_the_new_one_finished(tmp_path):
    old = write_run(tmp_path / "run", steps=(5,))
    write_user_files(old)
    before = snapshot(old)

    # The new run fails before it has a checkpoint: the old run is back, byte for byte.
    with pytest.raises(RuntimeError), run_folder.claim(old, overwrite=True) as claim:
        assert not (old / "model").exists() and (old / run_folder.REPLACED / "model").is_dir()
        (old / "metrics.json").write_text("{}")
        raise RuntimeError("the new run fails")
    assert claim.restored and "back in place" in claim.next_step()
    after = snapshot(old)
    after.pop(run_folder.LOCK)
    assert after == {k: v for k, v in before.items() if k != run_folder.LOCK}

    # It stops with a checkpoint: resumable, the old run still waits aside; the resume finishes it.
    with run_folder.claim(old, overwrite=True) as claim:
        (old / "recipe.yaml").write_text("name: new\n")
        write_checkpoint(old, 3)
    assert "sbft train --resume" in claim.next_step()
    assert (old / run_folder.REPLACED / "model").is_dir()
    with run_folder.claim(old, resume=True) as claim:
        (old / "model").mkdir()
        claim.finish()
    assert not (old / run_folder.REPLACED).exists() and not (old / "checkpoints").exists()
    assert run_folder.read_marker(old)["status"] == "finished"
    assert user_files(old) == {k: v for k, v in before.items() if k in USER_FILES}


def test_keep_checkpoints_is_remembered_by_a_resume(tmp_path):
    run_dir = tmp_path / "run"
    with run_folder.claim(run_dir, keep_checkpoints=True):
        (run_dir / "recipe.yaml").write_text("name: new\n")
        write_checkpoint(run_dir, 2)
    with run_folder.claim(run_dir, resume=True) as claim:
        claim.finish()
    assert (run_dir / "checkpoints" / "checkpoint-2").is_dir()


def test_a_failed_attempt_leaves_a_folder_the_next_attempt_can_use(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyError), run_folder.claim(run_dir) as claim:
        (run_dir / "metrics.jsonl").write_text('{"step": 1}\n')
        raise KeyError("boom")
    assert "no --overwrite needed" in claim.next_step()
    assert run_folder.check_start(run_dir, overwrite=False).status == "failed"
    with run_folder.claim(run_dir) as claim:
        assert not (run_dir / "metrics.jsonl").exists()  # the failed attempt's logs make room
        claim.finish()


def test_a_second_process_is_refused_with_its_pid(tmp_path):
    run_dir = tmp_path / "run"
    with run_folder.claim(run_dir):
        assert (run_dir / run_folder.LOCK).read_text().strip() == str(os.getpid())
        for attempt in (
            lambda: run_folder.check_start(run_dir, overwrite=True),
            lambda: run_folder.claim(run_dir, overwrite=True).__enter__(),
        ):
            with pytest.raises(SbftError, match=f"another sbft process \\(pid {os.getpid()}\\)"):
                attempt()
    with run_folder.claim(run_dir, overwrite=True) as claim:  # free once the first one ended
        claim.finish()


def test_resume_falls_back_to_a_complete_checkpoint_and_tolerates_a_torn_log(tmp_path):
    run_dir = write_run(
        tmp_path / "run", "running", model=False, steps=(2, 4), partial_steps=(6,), torn_log=True
    )
    assert [e["step"] for e in run_folder.read_log(run_dir)] == [1, 2, 3, 4, 5, 6]
    with run_folder.claim(run_dir, resume=True) as claim:
        assert claim.notes == [
            "checkpoint-6 is incomplete (the run was stopped while saving it) and was removed; "
            "resuming from checkpoint-4"
        ]
    assert not (run_dir / "checkpoints" / "checkpoint-6").exists()
    # The log goes on from the checkpoint: later entries (and the torn line) are the resumed run's.
    assert (run_dir / "metrics.jsonl").read_text().splitlines()[-1] == '{"step": 4, "loss": 0.25}'


@pytest.mark.parametrize("cut_short", ["replacing", "restoring"])
def test_a_move_cut_short_by_a_kill_is_completed(tmp_path, cut_short):
    """A process killed while setting the old run aside (or putting it back) loses nothing."""
    run_dir = write_run(tmp_path / "run", steps=(5,))
    write_user_files(run_dir)
    before = snapshot(run_dir)
    previous = (run_dir / run_folder.MARKER).read_text()
    aside = run_dir / run_folder.REPLACED
    aside.mkdir()
    for name in ("model", "checkpoints", "metrics.json"):  # half of the run moved
        (run_dir / name).rename(aside / name)
    run_folder.write_json(run_dir / run_folder.MARKER, {"status": cut_short, "previous": previous})
    with pytest.raises(SbftError, match="already holds a finished run"), run_folder.claim(run_dir):
        pass
    after = snapshot(run_dir)
    after.pop(run_folder.LOCK)
    assert after == before


# --- the property: whatever a folder holds, sbft succeeds or refuses, and loses nothing ---------

FOLDER_STATES = st.fixed_dictionaries(
    {
        "marker": st.sampled_from([None, "finished", "running", "stopped", "failed", "garbage"]),
        "model": st.booleans(),
        "steps": st.sampled_from([(), (2,), (2, 4)]),
        "partial_steps": st.sampled_from([(), (6,)]),
        "torn_log": st.booleans(),
        "missing": st.sampled_from(
            [(), ("recipe.yaml",), ("metrics.json",), ("metrics.jsonl", "metrics.json")]
        ),
        "user_files": st.booleans(),
        "aside": st.booleans(),
    }
)


def build_state(run_dir: Path, state: dict) -> None:
    marker = None if state["marker"] in (None, "garbage") else state["marker"]
    write_run(
        run_dir,
        marker,
        model=state["model"],
        steps=state["steps"],
        partial_steps=state["partial_steps"],
        torn_log=state["torn_log"],
    )
    if state["marker"] == "garbage":
        (run_dir / run_folder.MARKER).write_text("{not json")
    for name in state["missing"]:
        (run_dir / name).unlink()
    if state["user_files"]:
        write_user_files(run_dir)
    if state["aside"] and state["marker"] is not None:
        write_run(run_dir / run_folder.REPLACED, "finished")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    state=FOLDER_STATES,
    mode=st.sampled_from(["start", "overwrite", "resume"]),
    outcome=st.sampled_from(["finish", "fail", "fail-after-checkpoint"]),
)
def test_any_folder_state_is_used_or_refused_and_nothing_is_lost(state, mode, outcome):
    with tempfile.TemporaryDirectory() as temporary:
        run_dir = Path(temporary) / "run"
        build_state(run_dir, state)
        before = snapshot(run_dir)
        try:
            if mode == "resume":
                folder = run_folder.check_resume(run_dir)
                if folder.finished:
                    return  # `sbft train --resume` says so and touches nothing (tests/cli/test_train.py)
            else:
                folder = run_folder.check_start(run_dir, overwrite=mode == "overwrite")
        except SbftError:
            assert snapshot(run_dir) == before  # refused before touching anything
            return
        # A finished run that a new one replaces: its files must survive until the new one finished.
        old_run = {
            name: digest
            for name, digest in before.items()
            if folder.finished and name not in USER_FILES and not name.startswith((run_folder.REPLACED, "."))
        }
        try:
            with run_folder.claim(run_dir, overwrite=mode == "overwrite", resume=mode == "resume") as claim:
                (run_dir / "recipe.yaml").write_text("name: new\n")  # as train writes it, first
                (run_dir / "metrics.jsonl").write_text('{"step": 1}\n')
                if outcome == "fail-after-checkpoint":
                    write_checkpoint(run_dir, 20)
                if outcome == "finish":
                    (run_dir / "model").mkdir(exist_ok=True)
                    claim.finish()
                else:
                    raise RuntimeError("the run fails")
        except RuntimeError:
            pass
        after = snapshot(run_dir)
        assert user_files(run_dir) == {k: v for k, v in before.items() if k in USER_FILES}
        if outcome == "finish":
            assert run_folder.read_marker(run_dir)["status"] == "finished"
            assert not (run_dir / run_folder.REPLACED).exists() and not (run_dir / "checkpoints").exists()
            return
        if outcome == "fail":  # nothing to resume: the old run is back in place
            assert old_run.items() <= after.items()
        else:  # resumable: the old run waits aside
            assert {f"{run_folder.REPLACED}/{k}": v for k, v in old_run.items()}.items() <= after.items()
        # The next attempt can use the folder: resume it, start again, or it holds the run it held.
        try:
            run_folder.check_resume(run_dir)
        except SbftError:
            if run_files(after) != run_files(before):
                run_folder.check_start(run_dir, overwrite=False)


def run_files(files: dict[str, str]) -> dict[str, str]:
    """The run's own files: not the lock, nor a run set aside (removed once the run above finished)."""
    return {
        name: digest
        for name, digest in files.items()
        if not name.startswith((run_folder.LOCK, run_folder.REPLACED))
    }


def test_the_saved_model_is_readable_as_the_umask_allows(tmp_path, tiny_model):
    """Issue 15, item 8: transformers writes model.safetensors 0600; the run's model/ follows the umask."""
    from sentence_transformers import SentenceTransformer

    previous = os.umask(0o022)
    try:
        model = run_folder.save_model_atomically(SentenceTransformer(str(tiny_model)), tmp_path)
    finally:
        os.umask(previous)
    files = [path for path in model.rglob("*") if path.is_file()]
    assert model / "model.safetensors" in files and {path.stat().st_mode & 0o777 for path in files} == {0o644}
