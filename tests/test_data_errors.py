"""Bad data files and bad labels: one paragraph naming the file or split, the row or line, and the fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from sbft.data import load_prepared
from sbft.errors import SbftError
from sbft.recipe import DatasetSpec, LossSpec, load_recipe


def load(path: Path, loss: str = "CoSENTLoss", **extra):
    spec = DatasetSpec(
        columns=["a", "b"], loss=LossSpec(loss), files={"train": str(path)}, label="s", **extra
    )
    return load_prepared("sts", spec)


def error_of(path: Path, loss: str = "CoSENTLoss", **extra) -> SbftError:
    with pytest.raises(SbftError) as caught:
        load(path, loss, **extra)
    return caught.value


@pytest.mark.parametrize(
    ("name", "content", "loss", "message"),
    [
        (
            "null.jsonl",
            '{"a": "x", "b": "y", "s": 1}\n{"a": "x", "b": "y", "s": null}\n',
            "CoSENTLoss",
            "row 2 has no label",
        ),
        ("empty-cell.csv", "a,b,s\nx,y,1\nx,y,\n", "CoSENTLoss", "row 2 has no label"),
        ("empty-class.csv", "a,b,s\nx,y,A\nx,y,\nx,y,B\n", "SoftmaxLoss", "row 2 has no label"),
        ("nan.csv", "a,b,s\nx,y,nan\n", "CoSENTLoss", "row 1 has no label"),
        (
            "inf.csv",
            "a,b,s\nx,y,1\nx,y,-inf\n",
            "CoSENTLoss",
            "row 2 of the label column 's' holds -inf, not a finite",
        ),
        ("huge.csv", "a,b,s\nx,y,1e300\n", "CoSENTLoss", "holds 1e+300, too large for 32-bit floats"),
        ("list.jsonl", '{"a": "x", "b": "y", "s": [1]}\n', "CoSENTLoss", "holds [1], not a number"),
    ],
    ids=["json-null", "empty-csv-cell", "empty-class-cell", "nan", "inf", "1e300", "list"],
)
def test_a_missing_or_non_finite_label_names_the_row(tmp_path, name, content, loss, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    error = error_of(path, loss, label_range=[0, 5] if loss == "CoSENTLoss" else None)
    assert message in error.what and error.where == "datasets.sts (train split)"


def _jsonl_broken_at_line_20(path: Path) -> Path:
    lines = [json.dumps({"a": f"x{i}", "b": "y", "s": 1.0}) for i in range(30)]
    lines[19] = '{"a": "x", "b": "y", "s": 1.0}}'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _json_document_broken_at_line_3(path: Path) -> Path:
    path.write_text(
        '[\n  {"a": "x", "b": "y", "s": 1},\n  {"a": "x" "b": "y", "s": 1}\n]\n', encoding="utf-8"
    )
    return path


def _latin1(path: Path) -> Path:
    path.write_bytes("a,b,s\nx,y,1\ncafé,y,1\n".encode("latin-1"))
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    (path / "train.csv").write_text("a,b,s\n", encoding="utf-8")
    return path


def _link_loop(path: Path) -> Path:
    os.symlink(path.name, path)
    return path


def _dangling_link(path: Path) -> Path:
    os.symlink("gone.csv", path)
    return path


@pytest.mark.parametrize(
    ("make", "name", "message", "fix", "not_said"),
    [
        (
            _jsonl_broken_at_line_20,
            "t.jsonl",
            "line 20 of '{path}' is not valid JSON",
            "one complete JSON object",
            ["position", "quoting"],
        ),
        (
            _json_document_broken_at_line_3,
            "t.json",
            "line 3 of '{path}' is not valid JSON",
            "missing comma",
            ["position"],
        ),
        (
            _latin1,
            "t.csv",
            "'{path}' is not UTF-8 text (byte 0xe9 on line 3)",
            "iconv -f latin1 -t utf-8",
            ["Invalid UTF8"],
        ),
        (_latin1, "t.jsonl", "is not UTF-8 text", "loader_args: {encoding: latin-1}", ["position"]),
        (
            _folder,
            "data.csv",
            "the train file '{path}' is a folder, not a file",
            "data.csv/train.csv",
            ["does not exist"],
        ),
        (
            _link_loop,
            "t.csv",
            "the train file '{path}' is a symbolic link that leads back to itself",
            "real file",
            [],
        ),
        (
            _dangling_link,
            "t.csv",
            "the train file '{path}' (a link to 'gone.csv') does not exist",
            "Check the path",
            [],
        ),
    ],
    ids=[
        "jsonl-line",
        "json-document-line",
        "latin1-csv",
        "latin1-jsonl",
        "folder",
        "link-loop",
        "dangling-link",
    ],
)
def test_an_unreadable_file_is_named_for_what_it_is(tmp_path, capfd, make, name, message, fix, not_said):
    path = make(tmp_path / name)
    error = error_of(path)
    assert message.format(path=path) in error.what and fix in error.fix
    assert error.where == "datasets.sts.files.train"
    assert not any(words in str(error) for words in not_said)
    assert "Failed to" not in capfd.readouterr().err  # the readers' own error lines stay silent


def test_a_latin1_file_reads_with_its_encoding(tmp_path):
    prepared = load(_latin1(tmp_path / "t.csv"), loader_args={"encoding": "latin-1"})
    assert prepared.splits["train"]["a"] == ["x", "café"]


def test_an_unknown_encoding_is_named(tmp_path):
    error = error_of(_latin1(tmp_path / "t.csv"), loader_args={"encoding": "latin-42"})
    assert "'latin-42' is not an encoding Python knows" in error.what


def test_a_recipe_naming_a_link_loop_reaches_the_data_check(tmp_path):
    _link_loop(tmp_path / "loop.csv")
    recipe = {
        "model": {"name": "m"},
        "datasets": {
            "sts": {
                "files": {"train": "loop.csv"},
                "columns": ["a", "b"],
                "loss": "MultipleNegativesRankingLoss",
            }
        },
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    spec = load_recipe(tmp_path / "recipe.yaml").datasets["sts"]
    with pytest.raises(SbftError, match="leads back to itself"):
        load_prepared("sts", spec)


def test_a_column_listed_twice_is_a_recipe_error(tmp_path):
    recipe = {
        "model": {"name": "m"},
        "datasets": {
            "qa": {
                "files": {"train": "t.csv"},
                "columns": ["q", "a", "q"],
                "loss": "MultipleNegativesRankingLoss",
            }
        },
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(SbftError, match="listed more than once") as caught:
        load_recipe(tmp_path / "recipe.yaml")
    assert caught.value.where == "datasets.qa.columns"
