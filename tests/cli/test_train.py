"""`sbft train` through the CLI, in process: its options, and the user's files kept safe around the run
folder (issue 14: 1, 2, 3, 5, 10, 11, 18, 21, 22, 23, 28; issue 15: 2).

Every refusal is exit 2 with one paragraph, and leaves every file as it was (hashed before and after).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbft import models, run_folder
from sbft.errors import SbftError
from tests.test_run_folder import USER_FILES, snapshot, user_files, write_checkpoint, write_user_files

TINY = {  # two steps, a checkpoint and an evaluation at each
    "training__max_steps": 2,
    "training__save_steps": 1,
    "training__eval_strategy": "steps",
    "training__eval_steps": 1,
    "evaluation__test": False,
}


def refused(result, *fragments: str) -> str:
    """Exit 2, one paragraph naming each fragment, no traceback."""
    assert result.exit_code == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert message.startswith("error:") and "\n\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in " ".join(message.split()), message
    return message


def without_lock(files: dict[str, str]) -> dict[str, str]:
    return {name: digest for name, digest in files.items() if name != run_folder.LOCK}


def fail_once_claimed(patch: pytest.MonkeyPatch, owner: object, name: str, failure) -> None:
    """Replace `owner.name` by `failure` from the moment the run folder is claimed: a failure
    after the folder was touched (whatever ran before it, a smoke run included, goes through)."""
    claim, original = run_folder.claim, getattr(owner, name)
    claimed = []

    def claim_and_arm(*args, **kwargs):
        claimed.append(True)
        return claim(*args, **kwargs)

    def maybe_fail(*args, **kwargs):
        return (failure if claimed else original)(*args, **kwargs)

    patch.setattr(run_folder, "claim", claim_and_arm)
    patch.setattr(owner, name, maybe_fail)


def no_model(*args, **kwargs):
    raise SbftError("the model cannot be loaded", where="model.name")


def test_refused_before_anything_is_loaded(cli, recipe_file, tmp_path, tiny_model):
    guide = tmp_path / "guide"
    guide.mkdir()
    gist = {"name": "GISTEmbedLoss", "args": {"guide": str(guide)}}
    guided = shutil.copy(
        recipe_file(datasets__sts__label=None, datasets__sts__label_range=None, datasets__sts__loss=gist),
        tmp_path / "guided.yaml",
    )
    recipe = recipe_file()
    mine = tmp_path / "mine"  # the user's own recipe and report: not a run, even with --overwrite
    write_user_files(mine)
    (mine / "recipe.yaml").write_text("# my recipe, with my comments\n")
    (mine / "report.md").write_text("# my report\n")
    before = snapshot(tmp_path)

    refused(cli("train", recipe, "-o", tmp_path / "sts-train.csv"), "is a file")
    for extra in ((), ("--overwrite",)):
        refused(cli("train", recipe, "-o", mine, *extra), f"'{mine}'", "not an sbft run", "another folder")
    # The output folder must not hold (or lie in) the base model, the data, the recipe, a guide model.
    refused(cli("train", recipe, "-o", tmp_path, "--overwrite"), "holds", "sts-", "datasets.sts.files")
    refused(cli("train", recipe, "-o", tiny_model / "run"), "lies inside", "(model.name)")
    refused(cli("train", guided, "-o", guide), "holds", "(datasets.sts.loss.args.guide)")
    assert snapshot(tmp_path) == before
    assert not (tiny_model / "run").exists()


def test_a_resume_changes_nothing_but_quiet(cli, tmp_path):
    for extra, named in (
        (("--set", "training.learning_rate=1e-3"), "--set"),
        (("-o", str(tmp_path / "elsewhere")), "-o"),
        (("--overwrite",), "--overwrite"),
        (("--keep-checkpoints",), "--keep-checkpoints"),
    ):
        refused(cli("train", "--resume", tmp_path, *extra), f"takes no {named}", "Only -q/--quiet")
    assert not (tmp_path / "elsewhere").exists()
    write_user_files(tmp_path)
    refused(cli("train", "--resume", tmp_path), "is not a run folder")


def test_a_second_run_into_a_folder_in_use_is_refused(cli, recipe_file, tmp_path):
    run_dir = tmp_path / "run"
    with run_folder.claim(run_dir):
        refused(cli("train", recipe_file(), "-o", run_dir), "another sbft process (pid", f"'{run_dir}'")


def test_rerun_overwrite_and_resume_of_a_finished_run(cli, recipe_file, tmp_path, monkeypatch):
    recipe = recipe_file(**TINY)  # the smoke run is tested in tests/train/test_smoke.py
    run_dir = tmp_path / "run"
    first = cli("train", recipe, "-o", run_dir, "--no-smoke")
    assert first.exit_code == 0, first.stderr
    assert "(checkpoints removed)" in first.stdout and "MB" in first.stdout
    assert not (run_dir / "checkpoints").exists()  # issue 15: they did their job
    write_user_files(run_dir)  # the user's own files beside the run
    finished = snapshot(run_dir)

    refused(cli("train", recipe, "-o", run_dir, "--no-smoke"), "already holds a finished run", "--overwrite")
    resumed = cli("train", "--resume", run_dir)
    assert resumed.exit_code == 0 and "nothing to resume" in resumed.stdout
    # --overwrite checks everything before it touches the old run: the recipe, the data, the model.
    refused(
        cli(
            "train", recipe, "-o", run_dir, "--no-smoke", "--overwrite", "--set", "training.learning_rat=3e-5"
        ),
        "learning_rate",
    )
    refused(
        cli("train", recipe, "-o", run_dir, "--no-smoke", "--overwrite", "--set", "datasets.sts.label=nope"),
        "nope",
    )

    with monkeypatch.context() as patch:
        fail_once_claimed(patch, models, "build_model", no_model)
        refused(
            cli("train", recipe, "-o", run_dir, "--no-smoke", "--overwrite"),
            "cannot be loaded",
            "is back in place",
        )
    assert without_lock(snapshot(run_dir)) == without_lock(finished)

    replaced = cli("train", recipe, "-o", run_dir, "--no-smoke", "--overwrite", "--keep-checkpoints")
    assert replaced.exit_code == 0, replaced.stderr
    assert "with its checkpoints" in replaced.stdout
    assert (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    assert user_files(run_dir) == {k: v for k, v in finished.items() if k in USER_FILES}
    assert not (run_dir / run_folder.REPLACED).exists()


def test_a_failed_run_leaves_a_folder_the_next_attempt_can_use(cli, recipe_file, tmp_path, monkeypatch):
    recipe = recipe_file(**TINY)  # the smoke run is tested in tests/train/test_smoke.py
    run_dir = tmp_path / "run"

    # Failed before a checkpoint: only logs are left, and the same command runs again.
    with monkeypatch.context() as patch:
        fail_once_claimed(patch, models, "build_model", no_model)
        refused(
            cli("train", recipe, "-o", run_dir, "--no-smoke"),
            "holds only the logs of this attempt",
            "no --overwrite needed",
        )
    refused(cli("train", "--resume", run_dir), "no complete checkpoint", "no --overwrite")

    # Failed after a checkpoint (a crash at step 2): the rerun says --resume, which finishes the run.
    from sbft.train import GracefulStop

    def crash(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise RuntimeError("crash at step 2")
        return control

    with monkeypatch.context() as patch:
        fail_once_claimed(patch, GracefulStop, "on_step_end", crash)
        with pytest.raises(RuntimeError, match="crash at step 2"):
            cli("train", recipe, "-o", run_dir, "--no-smoke")
    refused(
        cli("train", recipe, "-o", run_dir, "--no-smoke"),
        "checkpoint (checkpoint-1)",
        f"sbft train --resume {run_dir}",
    )

    # Killed while saving checkpoint-2 and while writing a log line: resume from checkpoint-1.
    write_checkpoint(run_dir, 2, complete=False)
    with (run_dir / "metrics.jsonl").open("a") as log:
        log.write('{"step": 2, "loss": 0.9')
    resumed = cli("train", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.stderr
    assert "checkpoint-2 is incomplete" in resumed.stdout and "resuming from checkpoint-1" in resumed.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["training"]["steps"] == 2
    assert [e["step"] for e in metrics["evaluations"]] == [1, 2]
    assert cli("report", run_dir).exit_code == 0


def write_recipe(path: Path, tiny_model: Path, sts: dict[str, Path], qa: dict[str, Path], **extra) -> Path:
    """Two datasets, two losses: scored pairs (CoSENTLoss) and retrieval pairs (MNRL)."""
    recipe = {
        "name": "tiny",
        "model": {"name": str(tiny_model), "pooling": "mean"},
        "datasets": {
            "sts": {
                "files": {split: file.name for split, file in sts.items()},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": "CoSENTLoss",
            },
            "qa": {
                "files": {split: file.name for split, file in qa.items()},
                "columns": ["query", "answer"],
                "loss": {"name": "MultipleNegativesRankingLoss", "args": {"scale": 20.0}},
            },
        },
        "training": {"per_device_train_batch_size": 8, "logging_steps": 2},
        **extra,
    }
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def test_train_two_datasets_two_losses(cli, tmp_path, tiny_model, pair_score_files, pair_files):
    """End to end: two datasets, two losses, baseline + train + test + save."""
    path = write_recipe(tmp_path / "recipe.yaml", tiny_model, pair_score_files, pair_files)
    run_dir = tmp_path / "run"
    result = cli("train", path, "-o", run_dir, "--set", "training.num_train_epochs=2")
    assert result.exit_code == 0, result.stderr + result.stdout

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for section in ("baseline_dev", "final_dev", "test", "baseline_test"):
        assert metrics[section], section
        assert all(math.isfinite(v) for v in metrics[section].values())
    assert {"sts_spearman_cosine", "qa_cosine_ndcg@10"} <= metrics["final_dev"].keys()
    assert {"sts_spearman_cosine", "qa_cosine_ndcg@10"} <= metrics["test"].keys()
    assert [e["step"] for e in metrics["evaluations"]] == [12, 24]  # one per epoch, sets merged
    # The saved model is the best on dev: one of the evaluated checkpoints, or the base model.
    candidates = [e["sequential_score"] for e in metrics["evaluations"]] + [
        metrics["baseline_dev"]["sequential_score"]
    ]
    assert metrics["final_dev"]["sequential_score"] == pytest.approx(max(candidates))

    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in entry and "learning_rate" in entry for entry in log)
    assert "sts_spearman_cosine" in result.stdout and "learning rate" in result.stdout
    assert "base vs fine-tuned" in result.stdout

    resolved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert resolved["training"]["num_train_epochs"] == 2
    assert resolved["training"]["batch_sampler"] == "no_duplicates"
    run_info = json.loads((run_dir / "run.json").read_text())
    assert run_info["packages"]["sentence-transformers"]
    assert (run_dir / "model" / "README.md").is_file()  # the model card

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(run_dir / "model"))
    embeddings = model.encode(["a man plays guitar", "the dog runs"])
    assert embeddings.shape == (2, 32)


# --- the property: whatever a run folder holds, each command succeeds or refuses, and loses nothing


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory, tiny_model):
    """A finished tiny run that kept its checkpoints (1 and 2), and its recipe."""
    from typer.testing import CliRunner

    from sbft.cli import app
    from tests.helpers import sentences, write_sts_recipe

    folder = tmp_path_factory.mktemp("seed")
    for split, count in (("train", 16), ("dev", 8)):
        rows = zip(sentences(count, 1), sentences(count, 2), strict=True)
        text = "sentence1,sentence2,score\n" + "".join(f"{a},{b},{i % 6}\n" for i, (a, b) in enumerate(rows))
        (folder / f"{split}.csv").write_text(text)
    training = {"per_device_train_batch_size": 8, "max_steps": 2, "save_steps": 1, "eval_strategy": "steps"}
    training |= {"eval_steps": 1, "logging_steps": 1}
    write_sts_recipe(folder, tiny_model, training, label_range=[0, 5], evaluation={"test": False})
    result = CliRunner().invoke(
        app,
        ["train", str(folder / "recipe.yaml"), "-o", str(folder / "run"), "--keep-checkpoints", "--no-smoke"],
    )
    assert result.exit_code == 0, result.output
    return folder


RUN_STATES = st.fixed_dictionaries(
    {
        "marker": st.sampled_from(["finished", "stopped", None, "garbage"]),
        "missing": st.lists(
            st.sampled_from(
                ["metrics.json", "metrics.jsonl", "recipe.yaml", "model", "checkpoints/checkpoint-2"]
            ),
            unique=True,
            max_size=2,
        ),
        "torn_log": st.booleans(),
        "partial_checkpoint": st.booleans(),
        "user_files": st.booleans(),
        "command": st.sampled_from(["train", "overwrite", "resume", "report"]),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(state=RUN_STATES)
def test_any_run_folder_state_is_used_or_refused_and_no_user_file_changes(cli, seed_run, state):
    with tempfile.TemporaryDirectory() as temporary:
        run_dir = Path(temporary) / "run"
        shutil.copytree(seed_run / "run", run_dir)
        marker = run_dir / run_folder.MARKER
        if state["marker"] is None:
            marker.unlink()
        elif state["marker"] == "garbage":
            marker.write_text("{torn")
        else:
            run_folder.write_json(marker, {"status": state["marker"], "keep_checkpoints": True})
        for name in state["missing"]:
            shutil.rmtree(run_dir / name) if (run_dir / name).is_dir() else (run_dir / name).unlink()
        if state["torn_log"] and (run_dir / "metrics.jsonl").exists():
            with (run_dir / "metrics.jsonl").open("a") as log:
                log.write('{"step": 3, "lo')
        if state["partial_checkpoint"]:
            write_checkpoint(run_dir, 3, complete=False)
        if state["user_files"]:
            write_user_files(run_dir)
        before = snapshot(run_dir)

        command = state["command"]
        arguments = {
            "train": ("train", seed_run / "recipe.yaml", "-o", run_dir, "--no-smoke"),
            "overwrite": ("train", seed_run / "recipe.yaml", "-o", run_dir, "--overwrite", "--no-smoke"),
            "resume": ("train", "--resume", run_dir),
            "report": ("report", run_dir),
        }[command]
        result = cli(*arguments)
        assert result.exit_code in (0, 2), (state, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert user_files(run_dir) == {k: v for k, v in before.items() if k in USER_FILES}
        if result.exit_code == 2 and command != "report":
            assert without_lock(snapshot(run_dir)) == without_lock(before)
        if result.exit_code == 0 and command != "report":
            assert run_folder.read_marker(run_dir)["status"] == "finished"
            assert (run_dir / "model").is_dir()


SIGTERM_DRIVER = """
import os, signal, sys
import sbft.check

checked = sbft.check.preflight

def checked_then_terminated(*args, **kwargs):
    plan = checked(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, while the smoke run is about to start
    return plan

sbft.check.preflight = checked_then_terminated
from sbft.cli import main
sys.argv = ["sbft", *sys.argv[1:]]
main()
"""


def test_sigterm_before_training_exits_130_and_says_what_it_stopped(recipe_file, tmp_path):
    import os
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    command = [sys.executable, "-c", SIGTERM_DRIVER, "train", str(recipe_file()), "-o", str(run_dir)]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    said = " ".join(result.stdout.split())
    assert "interrupted during the checks" in said and "Nothing was written" in said
    assert not run_dir.exists()
