"""The `sbft` program as a shell user meets it: --version, -h, help text, completion, pipes."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO


def _commands() -> list[str]:
    import typer

    from sbft.cli import app

    return sorted(typer.main.get_command(app).commands)


COMMANDS = _commands()
PYTHON_TYPES = re.compile(r"<(bool|str|int|float|path|list\[\w+\])>|\{\w+\}")
"""Typer's own placeholders: `<bool>` after a flag, `<list[str]>`, `{recipe}` for an argument."""


def test_version_long_and_short(cli):
    from importlib import metadata

    for flag in ("--version", "-V"):
        result = cli(flag)
        assert result.exit_code == 0
        assert result.stdout == f"sbft {metadata.version('sbft')}\n"


def test_every_command_is_listed(cli):
    listed = cli("-h").stdout
    assert {"train", "eval", "encode", "compare"} <= set(COMMANDS)
    assert all(re.search(rf"│ {name}\s", listed) for name in COMMANDS), listed


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_reads_like_a_unix_tool(cli, command):
    """-h is --help everywhere; flags stand alone, values say TEXT/INTEGER/PATH or their own name."""
    arguments = [command] if command else []
    short, long = cli(*arguments, "-h"), cli(*arguments, "--help")
    assert short.exit_code == 0 and short.stdout == long.stdout
    assert not PYTHON_TYPES.search(short.stdout), short.stdout
    assert "-h" in short.stdout and "--help" in short.stdout


def test_required_arguments_are_bare_and_optional_ones_bracketed(cli):
    assert "Usage: sbft check [OPTIONS] RECIPE " in cli("check", "-h").stdout
    assert "Usage: sbft losses [OPTIONS] [NAME] " in cli("losses", "-h").stdout
    assert "Usage: sbft train [OPTIONS] RECIPE | --resume RUN_DIR " in cli("train", "-h").stdout
    missing = cli("check")
    assert missing.exit_code == 2 and "Missing argument 'RECIPE'" in missing.stderr


def test_value_names_say_what_to_give(cli):
    train = cli("train", "-h").stdout
    assert re.search(r"--set\s+KEY=VALUE", train) and re.search(r"--resume\s+RUN_DIR", train)
    assert re.search(r"--nproc\s+INTEGER", train)
    assert "--no-overwrite" not in train and "--no-keep-checkpoints" not in train  # one flag each
    assert "--no-smoke" in train  # on by default: the flag that turns it off


def test_shell_completion_is_typers_own(cli, monkeypatch):
    """The script for a shell named on the command line.

    Typer guesses the shell from the processes above this one (shellingham) unless told not to: a
    run under `make`, CI or `sh -c` finds `sh`, which it does not support, and exits 1 where a run
    from an interactive bash passes. Named explicitly, the shell is the same everywhere.
    """
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    for shell, marker in (("bash", "complete -o default -F"), ("zsh", "#compdef sbft")):
        script = cli("--show-completion", shell)
        assert script.exit_code == 0, script.output
        assert "_SBFT_COMPLETE" in script.stdout and marker in script.stdout
    assert "--install-completion" in cli("-h").stdout


def test_shell_completion_under_a_plain_sh_is_typers_limit_not_a_crash():
    """What the flaky run met: under `sh` typer says 'Shell sh not supported.' (exit 1), no traceback."""
    command = [sys.executable, "-m", "sbft", "--show-completion"]
    result = subprocess.run(
        ["sh", "-c", '"$@"', "sh", *command], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 0 or "not supported" in result.stderr


def test_completion_answers_in_a_real_shell_session():
    env = {
        **os.environ,
        "_SBFT_COMPLETE": "complete_bash",
        "COMP_WORDS": "sbft train --kee",
        "COMP_CWORD": "2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "sbft"], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0 and result.stdout.split() == ["--keep-checkpoints"]


@pytest.mark.parametrize("arguments", [["--help"], ["losses"]])
def test_a_reader_that_leaves_early_is_no_error(arguments):
    """`sbft --help | head -1`: exit 0, nothing on stderr (typer and rich would exit 1)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sbft", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "80"},
    )
    process.stdout.close()  # before the program writes a byte: its first write breaks the pipe
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0, stderr
    assert stderr == b""


def test_help_paragraphs_are_wrapped_by_the_terminal_not_the_source(cli):
    """No hard line break inside a help paragraph: it would read ragged at any other width."""
    import typer

    from sbft.cli import app
    from sbft.cli.plain_help import reflow

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        for paragraph in (command.help or "").split("\n\n"):
            lines = paragraph.splitlines()
            assert len(lines) == 1 or any(line.startswith((" ", "-", "*")) for line in lines), (
                name,
                paragraph,
            )
    assert reflow("One\ntwo.\n\nA list:\n- a\n- b") == "One two.\n\nA list:\n- a\n- b"


@pytest.mark.parametrize("command", ["similarity", "encode", "search"])
def test_the_small_commands_say_when_to_export(cli, command):
    said = " ".join(cli(command, "-h").stdout.replace("│", " ").split())  # the text, whatever the width
    assert "sbft export MODEL" in said and "--backend onnx" in said
    assert "0.7959 against torch's 0.8167" in said  # where onnx-int8 is offered, what it costs


def test_export_says_what_int8_costs(cli):
    assert "0.7959 against 0.8167" in " ".join(cli("export", "-h").stdout.replace("│", " ").split())
