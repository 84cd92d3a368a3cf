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


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_session_block_names_the_commands_it_promises():
    commands = shell_block("## A session")
    verbs = [command.split("sbft ")[1].split()[0] for command in commands if "sbft " in command]
    assert verbs[0] == "train" and {"eval", "encode", "search", "similarity"} <= set(verbs)


@pytest.mark.slow
def test_a_session_runs_as_written(tmp_path):
    """After `make demo` (which writes runs/demo), the README's session, command by command."""
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    for command in shell_block("## A session"):
        result = shell(command, tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "embeddings.npy").is_file()


@pytest.mark.parametrize("recipe", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_shipped_recipe_passes_check(recipe, cli, monkeypatch):
    if recipe in ("stsb.yaml", "reranker.yaml"):
        if not STSB_DIR.is_dir():
            pytest.skip("needs ../shared/data/stsb")
        monkeypatch.setenv("STSB_DIR", str(STSB_DIR))
    if recipe == "retrieval.yaml" and not WIKIQA_DIR.is_dir():
        pytest.skip("needs ../shared/data/wikiqa")
    result = cli("check", REPO / "configs" / recipe, "--no-estimate")  # the recipe, not the machine
    assert result.exit_code == 0, result.stdout + result.stderr
