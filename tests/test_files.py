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


# --- output = input, for every command that reads and writes files (issue 25, case 3) ------------


def _inputs(tmp_path, pair_score_files, beir_folder):
    """The files the commands read: a csv of pairs with a text column, a text corpus, a BEIR folder."""
    texts = tmp_path / "texts.csv"
    texts.write_text(
        "text,q,a\n" + "".join(f"t{i} here,q{i} x,a{i} y\n" for i in range(12)), encoding="utf-8"
    )
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"document {i} text\n" for i in range(20)), encoding="utf-8")
    return {"texts": texts, "corpus": corpus, "dev": pair_score_files["dev"], "beir": beir_folder}


SAME_FILE_CASES = {
    # command: (the input the output names, the command line with OUT for the output)
    "encode": ("texts", "encode {model} {texts} --column text -o OUT --overwrite"),
    "mine pairs": ("texts", "mine {model} {texts} --corpus {corpus} --columns q,a -o OUT --overwrite"),
    "mine corpus": ("corpus", "mine {model} {texts} --corpus {corpus} --columns q,a -o OUT --overwrite"),
    "eval file": ("dev", "eval {model} {dev} -o OUT --overwrite"),
    "eval recipe split": ("dev", "eval {model} {recipe}#sts:dev -o OUT --overwrite"),
    "eval beir": ("beir/corpus.jsonl", "eval {model} {beir}#dev -o OUT --overwrite"),
    "init file": ("dev", "init --data {dev} -o OUT --force"),
    "init beir": ("beir/qrels/train.tsv", "init --data {beir} -o OUT --force"),
    "search cache": ("corpus", "search {model} --corpus {corpus} --corpus-embeddings OUT query"),
}


@pytest.mark.parametrize("link", ["same path", "symbolic link", "hard link"])
@pytest.mark.parametrize("case", SAME_FILE_CASES)
def test_no_command_writes_over_its_input(
    cli, tmp_path, tiny_model, pair_score_files, beir_folder, recipe_file, case, link
):
    """Every command with an output refuses an output that is its input, even with --overwrite or
    --force: exit 2, one paragraph, and the input byte for byte as it was."""
    inputs = _inputs(tmp_path, pair_score_files, beir_folder)
    name, line = SAME_FILE_CASES[case]
    source = inputs[name] if name in inputs else tmp_path / name
    before = source.read_bytes()
    output = tmp_path / f"other-name{source.suffix}"
    if link == "same path":
        output = source
    elif link == "symbolic link":
        output.symlink_to(source)
    else:
        os.link(source, output)
    fields = {**inputs, "model": tiny_model, "recipe": recipe_file()}
    args = [str(output) if word == "OUT" else word.format(**fields) for word in line.split()]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert source.read_bytes() == before
    assert "Traceback" not in result.output
    assert "is the input" in " ".join(result.stderr.split())
    if link == "hard link":
        assert "hard link" in result.stderr


def test_distinct_files_with_the_same_content_are_not_the_input(tmp_path):
    """A copy is another file: writing it is allowed (with --overwrite)."""
    source, copy = tmp_path / "a.csv", tmp_path / "b.csv"
    source.write_text("x\n", encoding="utf-8")
    copy.write_text("x\n", encoding="utf-8")
    check_output(str(copy), True, inputs=[source, None, "-"])
    with pytest.raises(SbftError, match="is the input"):
        check_output(str(tmp_path / "." / "a.csv"), True, inputs=[source])


# --- a model folder being read is an input as a whole (issue 25, case 3's sibling) --------------


MODEL_FOLDER_CASES = {
    # command: (a file of the model folder the output names, the command line with MODEL and OUT)
    "eval": ("config.json", "eval MODEL {dev} -o OUT --overwrite"),
    "encode": ("vectors.npy", "encode MODEL {texts} --column text -o OUT --overwrite"),
    "mine": ("pairs.jsonl", "mine MODEL {texts} --corpus {corpus} --columns q,a -o OUT --overwrite"),
    "init": ("config.json", "init --data {dev} --model MODEL -o OUT --force"),
    "search cache": ("corpus.npy", "search MODEL --corpus {corpus} --corpus-embeddings OUT query"),
}
MODEL_FOLDER_OUTPUTS = ["a file of it", "a new file", "through a symbolic link", "hard link"]


@pytest.mark.parametrize("model_kind", ["model folder", "run folder"])
@pytest.mark.parametrize("where", MODEL_FOLDER_OUTPUTS)
@pytest.mark.parametrize("case", MODEL_FOLDER_CASES)
def test_no_command_writes_into_the_model_it_reads(
    cli, tmp_path, model_copy, pair_score_files, beir_folder, case, where, model_kind
):
    """An output inside the folder of the model being read (a local folder, or a run folder's model/)
    is refused whatever --overwrite/--force say: exit 2, one paragraph, the model's files unchanged."""
    inputs = _inputs(tmp_path, pair_score_files, beir_folder)
    model, folder = model_copy, model_copy
    if model_kind == "run folder":
        model = tmp_path / "run"
        folder = model_copy.rename(model / "model") if model.mkdir() is None else None
    name, line = MODEL_FOLDER_CASES[case]
    if not (folder / name).exists():
        (folder / name).write_bytes(b"the model's own file")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    output = folder / name
    if where == "a new file":
        output = folder / f"new-{name}"
    elif where == "through a symbolic link":
        (tmp_path / "elsewhere").symlink_to(folder)
        output = tmp_path / "elsewhere" / name
    elif where == "hard link":
        output = tmp_path / name
        os.link(folder / name, output)
    words = line.split()
    args = [str(output) if w == "OUT" else str(model) if w == "MODEL" else w.format(**inputs) for w in words]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "model folder" in " ".join(result.stderr.split())
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert not (folder / f"new-{name}").exists()


def test_an_output_beside_a_run_folders_model_is_allowed(tmp_path):
    """Only the model's own folder is guarded: a run folder's other files and a sibling folder are not."""
    from sbft.files import refuse_output_in_folders

    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    refuse_output_in_folders(tmp_path / "run" / "scores.json", [model, None])
    refuse_output_in_folders(tmp_path / "run" / "model-2.json", [model])
    with pytest.raises(SbftError, match="model folder"):
        refuse_output_in_folders(tmp_path / "run" / "model" / "sub" / "x.json", [model])
