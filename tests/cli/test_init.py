"""`sbft init`: the wiring (the rules are tested in tests/test_init.py)."""

from __future__ import annotations

import yaml


def test_cli_writes_checks_and_never_overwrites(cli, tmp_path, pair_files):
    recipe = tmp_path / "recipe.yaml"
    result = cli("init", "--data", pair_files["train"], "-o", recipe)
    assert result.exit_code == 0, result.stderr
    assert "task:    query-positive" in result.stdout and "next: sbft check" in result.stdout
    result = cli("check", recipe)
    assert result.exit_code == 0, result.stderr + result.stdout

    recipe.write_text("# mine\n")
    result = cli("init", "--task", "triplets", "-o", recipe)
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert recipe.read_text() == "# mine\n"
    result = cli("init", "--task", "triplets", "-o", recipe, "--force")
    assert result.exit_code == 0 and "TODO" in recipe.read_text()

    result = cli("init", "-o", tmp_path / "other.yaml")
    assert result.exit_code == 2 and "--data FILE" in result.stderr
    assert yaml.safe_load(recipe.read_text())["datasets"]

    result = cli("init", "--data", tmp_path / "missing.csv", "-o", tmp_path / "other.yaml")
    assert result.exit_code == 2 and "missing.csv' does not exist" in result.stderr


def test_cli_on_a_beir_folder_and_on_a_plain_folder(cli, tmp_path, beir_folder):
    result = cli("init", "--data", beir_folder, "-o", tmp_path / "retrieval.yaml")
    assert result.exit_code == 0, result.stderr
    assert "data:    BEIR folder, 30 documents" in result.stdout and "task:    retrieval" in result.stdout
    folder = tmp_path / "plain"
    folder.mkdir()
    result = cli("init", "--data", folder, "-o", tmp_path / "other.yaml")
    assert result.exit_code == 2 and "plain' is neither in BEIR layout nor a folder" in result.stderr
    assert "--data" in result.stderr and not (tmp_path / "other.yaml").exists()
