"""sbft.files: atomic writes (no half files, the umask's permissions) and the data-file rules."""

from __future__ import annotations

import json
import os

import pytest

from sbft.errors import SbftError
from sbft.files import (
    as_umask_allows,
    atomic_file,
    atomic_path,
    atomic_write_text,
    check_output,
    format_of,
    reader_options,
    write_json,
)


@pytest.fixture()
def umask():
    """A known umask for the test, the previous one restored after."""
    previous = os.umask(0o027)
    yield 0o027
    os.umask(previous)


def test_atomic_writes_replace_the_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    write_json(target, {"a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2]} and target.read_text().endswith("\n")
    atomic_write_text(target, "héllo")
    assert target.read_text(encoding="utf-8") == "héllo"
    with atomic_path(tmp_path / "model.onnx") as partial:
        assert partial.parent == tmp_path and partial.exists()  # writers that want a name
        partial.write_bytes(b"graph")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx", "out.json"]


def test_an_error_leaves_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError), atomic_file(target) as stream:
        stream.write(b"half")
        raise RuntimeError("interrupted")
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new.bin"):
        raise KeyboardInterrupt
    assert target.read_bytes() == b"precious"
    assert [path.name for path in tmp_path.iterdir()] == ["out.bin"]


def test_new_files_respect_the_umask(tmp_path, umask):
    """0o666 less the umask, as open() gives, not the 0o600 of tempfile.mkstemp."""
    write_json(tmp_path / "new.json", {})
    atomic_write_text(tmp_path / "new.txt", "x")
    with atomic_path(tmp_path / "new.onnx") as partial:
        partial.write_bytes(b"x")
    for name in ("new.json", "new.txt", "new.onnx"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask == 0o640


def test_a_folder_a_library_wrote_gets_the_umask_mode(tmp_path, umask):
    """model.safetensors comes out 0600 from transformers: a saved model gets open()'s mode throughout."""
    (tmp_path / "model" / "1_Pooling").mkdir(parents=True)
    private, wide = tmp_path / "model" / "model.safetensors", tmp_path / "model" / "1_Pooling" / "config.json"
    private.write_bytes(b"weights")
    wide.write_text("{}")
    private.chmod(0o600)
    wide.chmod(0o777)
    as_umask_allows(tmp_path / "model")
    assert {path.stat().st_mode & 0o777 for path in (private, wide)} == {0o640}
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["1_Pooling", "model.safetensors"]


def test_check_output(tmp_path):
    (tmp_path / "taken.npy").write_bytes(b"precious")
    with pytest.raises(SbftError, match="already exists") as error:
        check_output(str(tmp_path / "taken.npy"), overwrite=False)
    assert error.value.where == "output" and "--overwrite" in str(error.value)
    check_output(str(tmp_path / "taken.npy"), overwrite=True)
    with pytest.raises(SbftError, match="does not exist"):
        check_output(str(tmp_path / "no" / "out.npy"), overwrite=False)
    with pytest.raises(SbftError, match="is a folder") as error:
        check_output(str(tmp_path), overwrite=True, where="report")
    assert error.value.where == "report"
    check_output(None, overwrite=False)  # stdout
    check_output("-", overwrite=False)
    assert (tmp_path / "taken.npy").read_bytes() == b"precious"


def test_format_of():
    assert [format_of(name) for name in ("a.csv", "a.TSV", "a.json", "a.jsonl", "a.parquet")] == [
        "csv",
        "csv",
        "json",
        "json",
        "parquet",
    ]
    assert format_of("data.txt") is None
    assert format_of("data.txt", "csv") == "csv" and format_of("data.csv", "json") == "json"


def test_tsv_means_tab_unless_the_separator_is_given():
    assert reader_options("a.tsv", {}) == {"sep": "\t"}
    assert reader_options("A.TSV", {"header": None}) == {"header": None, "sep": "\t"}
    assert reader_options("a.tsv", {"sep": ";"}) == {"sep": ";"}
    assert reader_options("a.tsv", {"delimiter": "|"}) == {"delimiter": "|"}
    assert reader_options("a.csv", {}) == {}
    loader_args = {"quoting": 3}
    assert reader_options("a.tsv", loader_args) is not loader_args and loader_args == {"quoting": 3}
