"""`sbft report` and `sbft compare` on run folders whose files were edited or damaged: one paragraph
naming the file, exit 2, never a traceback (issue 25, case 10)."""

from __future__ import annotations

import json

import pytest

from tests.report.runs import write_finished_run

DAMAGES = {
    "recipe.yaml not YAML": ("recipe.yaml", "name: demo\n  model: [unclosed\n", "is not valid YAML at line"),
    "recipe.yaml a list": ("recipe.yaml", "- a\n- b\n", "not a recipe"),
    "recipe.yaml not UTF-8": ("recipe.yaml", b"name: d\xe9mo\n", "is not UTF-8 text"),
    "recipe.yaml an alias bomb": (
        "recipe.yaml",
        'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
        + "".join(
            f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
            for p, c in zip("abcdef", "bcdefg", strict=True)
        ),
        "is not valid YAML",
    ),
    "run.json a list": ("run.json", "[1, 2]", "holds a JSON list, not an object"),
    "metrics.json cut short": ("metrics.json", '{"status": "fini', "is not valid JSON"),
    "metrics.json a string": ("metrics.json", '"finished"', "holds a JSON str, not an object"),
}


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_file_is_a_clear_error(cli, tmp_path, command, damage):
    name, content, said = DAMAGES[damage]
    run = write_finished_run(tmp_path / "run")
    path = run / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    arguments = [run] if command == "report" else [run, write_finished_run(tmp_path / "other")]
    result = cli(command, *arguments)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert said in result.stderr and str(path) in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr and "edited by hand" in result.stderr


def test_log_lines_edited_by_hand_are_left_out(cli, tmp_path):
    run = write_finished_run(tmp_path / "run")
    with (run / "metrics.jsonl").open("a") as log:
        log.write(json.dumps({"loss": 0.5}) + "\n" + json.dumps({"step": [1], "eval_x": 1.0}) + "\n")
    result = cli("report", run)
    assert result.exit_code == 0, result.stdout + result.stderr
