"""The README runs as written: its "A session" commands, literally, in order, on a fresh copy of the
repository's configs (the real packaged model, so marked slow), and `sbft check` on every shipped recipe."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, STSB_DIR

WIKIQA_DIR = REPO.parent / "shared" / "data" / "wikiqa"


def shell_block(heading: str) -> list[str]:
    """The commands of the first ```bash block after `heading`, comments and blank lines dropped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, f"no bash block under {heading}"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def shell(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def files_in(folder: Path) -> set[str]:
    """Every file under `folder` but the run folders (the session's ONNX export goes beside the model)."""
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.parts[len(folder.parts)] != "runs"
    }


def test_the_session_block_starts_from_the_demo_run_and_writes_into_no_repository_file():
    commands = shell_block("## A session")
    verbs = [command.split("sbft ")[1].split()[0] for command in commands if "sbft " in command]
    assert {"eval", "encode", "search", "similarity", "export"} <= set(verbs)
    assert "train" not in verbs  # `make demo` trained runs/demo already
    assert all("runs/demo" in command for command in commands)
    outputs = [command.split(" -o ")[1].split()[0] for command in commands if " -o " in command]
    assert outputs and all(output.startswith(('"${TMPDIR', "/", "-")) for output in outputs), outputs


def run_session(repository: Path, demo: str) -> None:
    """`demo` (what `make demo` runs, or a stand-in), then the README's session, command by command,
    in a copy of the repository's configs; nothing may appear in it outside runs/."""
    shutil.copytree(REPO / "configs", repository / "configs")
    trained = shell(demo, repository)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    before = files_in(repository)
    elsewhere = repository.parent / "tmp"
    elsewhere.mkdir()
    for command in shell_block("## A session"):
        result = shell(command, repository, TMPDIR=str(elsewhere))
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert files_in(repository) == before
    assert (elsewhere / "embeddings.npy").is_file()


def test_a_session_runs_as_written_on_a_tiny_demo_run(tmp_path, tiny_model):
    """The session on a stand-in for runs/demo: the quickstart recipe on the tiny model, 4 steps."""
    demo = (
        f"sbft train configs/quickstart.yaml -o runs/demo --no-smoke -q --set model.name={tiny_model} "
        "--set training.max_steps=4"
    )
    run_session(tmp_path / "repository", demo)


@pytest.mark.slow
def test_a_session_runs_as_written(tmp_path):
    """What `make demo` runs (the real model, minutes), then the README's session."""
    run_session(tmp_path / "repository", "sbft train configs/quickstart.yaml -o runs/demo")


@pytest.mark.parametrize("recipe", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_shipped_recipe_passes_check(recipe, cli, monkeypatch, request):
    if recipe in ("stsb.yaml", "stsb-tune.yaml", "reranker.yaml", "static.yaml"):
        if not STSB_DIR.is_dir():
            pytest.skip("needs ../shared/data/stsb")
        monkeypatch.setenv("STSB_DIR", str(STSB_DIR))
    if recipe in ("retrieval.yaml", "retrieval-tune.yaml", "sparse.yaml") and not WIKIQA_DIR.is_dir():
        pytest.skip("needs ../shared/data/wikiqa")
    made_first = []  # static.yaml trains what `sbft distill` makes first (README): a tiny one here
    if recipe == "static.yaml":
        made_first = ["--set", f"model.name={request.getfixturevalue('tiny_static')}"]
    result = cli(
        "check", REPO / "configs" / recipe, "--no-estimate", *made_first
    )  # the recipe, not the machine
    assert result.exit_code == 0, result.stdout + result.stderr


def test_the_recipe_example_is_the_quickstart_recipe():
    import yaml

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text[text.index("## Recipes") :], re.S)
    shipped = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load(block.group(1)) == shipped


def test_the_readme_says_each_figure_once_and_no_rounds():
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "previous round" not in text and "this one;" not in text and "earlier round" not in text
    assert "3 min 50 s" not in text  # the demo's time is given once (2 min 36 s idle, up to 8 min shared)
