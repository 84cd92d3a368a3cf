"""Reading a recipe's YAML strictly (alias bombs, duplicate keys, tags) and redacting its secrets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from sbft.recipe import dump_recipe, load_recipe
from tests.test_recipe import MINIMAL, error_of


def alias_bomb() -> str:
    """Nine levels of ten aliases under `training:`: a billion values once expanded."""
    levels = ["  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return "model: {name: m}\ndatasets: {}\ntraining:\n" + "\n".join(levels) + "\n"


DUPLICATE_DATASET = """\
model: {name: m}
datasets:
  sts:
    files: {train: a.csv}
  sts:
    files: {train: b.csv}
"""


@pytest.mark.parametrize(
    ("text", "message", "line", "fix"),
    [
        (alias_bomb(), "expand to more than 100,000 values", 8, "write the repeated values out"),
        ("model: &m {name: *m}\n", "refers to the value that contains it", 1, "defined before it"),
        (DUPLICATE_DATASET, "the key 'sts' is given twice, on lines 3 and 5", 5, "Keep one of them"),
        ("training:\n  learning_rate: 1e-5\n  learning_rate: 2e-5\n", "lines 2 and 3", 3, "Keep one"),
        (
            'model: !!python/object/apply:os.system ["echo hi"]\n',
            "the tag '!!python/object/apply:os.system' is not allowed",
            1,
            "remove the tag",
        ),
        ("model: !!python/name:os.system\n", "tag '!!python/name:os.system' is not allowed", 1, "remove"),
        ("model: !custom {name: m}\n", "the tag '!custom' is not allowed", 1, "plain values"),
    ],
    ids=[
        "alias-bomb",
        "self-alias",
        "duplicate-dataset",
        "duplicate-field",
        "python-apply",
        "python-name",
        "custom",
    ],
)
def test_yaml_that_hides_a_mistake_or_a_cost_is_refused(tmp_path, text, message, line, fix):
    started = time.perf_counter()
    error = error_of(tmp_path, text)
    assert time.perf_counter() - started < 1
    assert message in error.what and fix in error.fix
    assert error.where.startswith(f"{tmp_path / 'recipe.yaml'}, line {line},")
    assert "indentation" not in str(error)


def test_aliases_and_merge_keys_still_work(tmp_path):
    text = yaml.safe_dump(MINIMAL) + "training:\n  <<: {seed: 1, learning_rate: 1e-5}\n  seed: 2\n"
    recipe = load_recipe(_write(tmp_path, text))
    assert recipe.training == {"seed": 2, "learning_rate": 1e-5}  # an explicit key overrides a merged one


def test_a_duplicate_key_in_an_override_is_named(tmp_path):
    error = error_of(tmp_path, MINIMAL, ["training={seed: 1, seed: 2}"])
    assert error.where == "training" and "given twice" in error.what


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _dumped(tmp_path: Path, **changes) -> dict:
    sts = {**MINIMAL["datasets"]["sts"], **changes.pop("sts", {})}
    data = {**MINIMAL, "datasets": {"api_keys_faq": sts}, **changes}
    return yaml.safe_load(dump_recipe(load_recipe(_write(tmp_path, yaml.safe_dump(data)))))


def test_names_that_merely_contain_a_secret_word_are_kept(tmp_path):
    dumped = _dumped(
        tmp_path,
        sts={"columns": {"token": "sentence1", "password_hint": "sentence2"}},
        training={"run_name": "secret-santa", "token_budget": 5},
    )
    assert dumped["datasets"]["api_keys_faq"]["columns"] == {
        "token": "sentence1",
        "password_hint": "sentence2",
    }
    assert dumped["training"] == {"run_name": "secret-santa", "token_budget": 5}


def test_known_secret_fields_are_redacted_but_never_a_whole_mapping(tmp_path):
    dumped = _dumped(
        tmp_path,
        sts={"loader_args": {"token": "hf_literal", "password": "pw"}},
        training={"hub_token": "hf_literal", "token": {"kept": "a mapping is not a secret"}},
    )
    assert dumped["datasets"]["api_keys_faq"]["loader_args"] == {
        "token": "<redacted>",
        "password": "<redacted>",
    }
    assert dumped["training"] == {"hub_token": "<redacted>", "token": {"kept": "a mapping is not a secret"}}


def test_text_from_a_secret_variable_is_used_but_saved_as_its_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_from_the_environment")
    monkeypatch.setenv("DB_PASSWORD", "pw42")
    path = _write(
        tmp_path,
        yaml.safe_dump(
            {**MINIMAL, "training": {"hub_token": "${HF_TOKEN}", "run_name": "db-${DB_PASSWORD}"}}
        ),
    )
    recipe = load_recipe(path)
    assert recipe.training["hub_token"] == "hf_from_the_environment"  # not taken for a relative path
    assert recipe.training["run_name"] == "db-pw42"
    assert "hf_from" not in repr(recipe.training)  # what error messages show
    dumped = dump_recipe(recipe)
    assert "hf_from" not in dumped and "pw42" not in dumped
    assert yaml.safe_load(dumped)["training"] == {"hub_token": "${HF_TOKEN}", "run_name": "db-${DB_PASSWORD}"}


def test_check_refuses_an_alias_bomb_with_exit_2(cli, tmp_path):
    result = cli("check", _write(tmp_path, alias_bomb()))
    assert result.exit_code == 2
    assert "expand to more than 100,000 values" in result.stderr and "Traceback" not in result.stderr
