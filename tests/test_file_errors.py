"""Every text format sbft parses, through every command that reads it: a file that is not UTF-8
is refused with its line and byte (exit 2, one paragraph), and a byte-order mark or Windows line
ends read exactly as the plain file does (issue 25, case 11 and its class).

BEIR folders (corpus, queries, qrels) have the same table in tests/test_beir.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from sbft.mining.files import read_pairs
from tests.helpers import sentences

ROWS = [(a, b, f"{i % 6}.0") for i, (a, b) in enumerate(zip(sentences(24, 5), sentences(24, 6), strict=True))]


def _write(path, variant):
    """A (sentence1, sentence2, score) file in path's format, plain or with one variant applied."""
    if path.suffix == ".jsonl":
        lines = [json.dumps({"sentence1": a, "sentence2": b, "score": float(s)}) for a, b, s in ROWS]
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        lines = [sep.join(("sentence1", "sentence2", "score")), *(sep.join(row) for row in ROWS)]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if variant == "latin-1":
        line = 3 if path.suffix != ".jsonl" else 2
        parts = data.split(b"\n")
        parts[line - 1] = parts[line - 1].replace(b"a", b"caf\xe9", 1)
        data = b"\n".join(parts)
    if "crlf" in variant:
        data = data.replace(b"\n", b"\r\n")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


def _recipe(folder, model, data):
    recipe = {
        "model": {"name": str(model)},
        "datasets": {
            "sts": {
                "files": {"train": data.name, "dev": data.name},
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": "CoSENTLoss",
            }
        },
        "training": {"per_device_train_batch_size": 4},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


COMMANDS = {
    "check": lambda model, data, tmp: ("check", _recipe(tmp, model, data)),
    "eval": lambda model, data, tmp: ("eval", model, data),
    "init": lambda model, data, tmp: ("init", "--data", data, "-o", tmp / "new.yaml"),
    "mine": lambda model, data, tmp: (
        *("mine", model, data, "--columns", "sentence1,sentence2"),
        *("--corpus", tmp / "corpus.txt", "-o", tmp / "mined.jsonl"),
    ),
    "encode": lambda model, data, tmp: ("encode", model, data, "--column", "sentence1", "-o", tmp / "e.npy"),
}
FORMATS = [".csv", ".tsv", ".jsonl"]


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_that_is_not_utf8_is_named_with_its_line_and_byte(cli, tmp_path, tiny_model, command, suffix):
    data = _write(tmp_path / f"data{suffix}", "latin-1")
    (tmp_path / "corpus.txt").write_text("\n".join(sentences(20, 7)) + "\n", encoding="utf-8")
    result = cli(*COMMANDS[command](tiny_model, data, tmp_path))
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    line = 3 if suffix != ".jsonl" else 2
    assert (
        f"is not UTF-8 text (byte 0xe9 on line {line})" in message
        or f"line {line} is not valid UTF-8 (byte 0xe9" in message  # encode's streaming reader
    ), message
    assert "Traceback" not in result.output and "codec can't decode" not in message
    assert message.count("error:") == 1


@pytest.mark.parametrize("variant", ["bom", "crlf", "bom+crlf"])
@pytest.mark.parametrize("suffix", FORMATS)
def test_byte_order_marks_and_crlf_read_as_the_plain_file(cli, tmp_path, tiny_model, suffix, variant):
    plain = _write(tmp_path / f"plain{suffix}", "plain")
    data = _write(tmp_path / f"data{suffix}", variant)
    # check: the same plan (a BOM glued to the first column name would be a missing column)
    assert cli("check", _recipe(tmp_path, tiny_model, data)).exit_code == 0
    # init: the same proposal
    for name, source in (("plain", plain), ("data", data)):
        assert cli("init", "--data", source, "-o", tmp_path / f"{name}.yaml").exit_code == 0
    proposed = [
        yaml.safe_load((tmp_path / f"{name}.yaml").read_text())["datasets"] for name in ("plain", "data")
    ]
    assert [next(iter(p.values()))["columns"] for p in proposed] == [["sentence1", "sentence2"]] * 2
    # mine's pairs reader: the same rows
    columns = ["sentence1", "sentence2"]
    assert read_pairs(str(data), columns).to_list() == read_pairs(str(plain), columns).to_list()
    # encode: the same vectors
    for name, source in (("plain", plain), ("data", data)):
        assert (
            cli(
                "encode", tiny_model, source, "--column", "sentence1", "-o", tmp_path / f"{name}.npy"
            ).exit_code
            == 0
        )
    np.testing.assert_array_equal(np.load(tmp_path / "data.npy"), np.load(tmp_path / "plain.npy"))


@pytest.mark.parametrize("variant", ["bom", "crlf", "bom+crlf"])
def test_text_inputs_with_a_bom_or_crlf_embed_as_plain_ones(cli, tmp_path, tiny_model, variant):
    texts = sentences(5, 9)
    plain, data = tmp_path / "plain.txt", tmp_path / "data.txt"
    plain.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    raw = plain.read_bytes().replace(b"\n", b"\r\n" if "crlf" in variant else b"\n")
    data.write_bytes((b"\xef\xbb\xbf" if "bom" in variant else b"") + raw)
    for source in (plain, data):
        assert cli("encode", tiny_model, source, "-o", tmp_path / f"{source.stem}.npy").exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "data.npy"), np.load(tmp_path / "plain.npy"))


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_header_naming_a_column_twice_is_refused(cli, tmp_path, tiny_model, command, suffix):
    """Readers keep the last copy (a dict per row) or rename one ('sentence1.1'): which texts are
    read would be a guess, so every command refuses the file, naming the column and its places."""
    data = _write(tmp_path / f"data{suffix}", "plain")
    sep = "\t" if suffix == ".tsv" else ","
    data.write_text(data.read_text().replace(f"sentence2{sep}", f"sentence1{sep}", 1), encoding="utf-8")
    (tmp_path / "corpus.txt").write_text("\n".join(sentences(20, 7)) + "\n", encoding="utf-8")
    args = COMMANDS[command](tiny_model, data, tmp_path)
    if command == "check":  # the recipe names the columns it reads
        recipe = yaml.safe_load(args[1].read_text())
        recipe["datasets"]["sts"]["columns"] = ["sentence1", "score"]
        recipe["datasets"]["sts"].pop("label")
        recipe["datasets"]["sts"].pop("label_range")
        recipe["datasets"]["sts"]["loss"] = "MultipleNegativesRankingLoss"
        args[1].write_text(yaml.safe_dump(recipe))
    if command == "mine":
        args = tuple("sentence1,score" if arg == "sentence1,sentence2" else arg for arg in args)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "names a column more than once: sentence1 (columns 1, 2)" in message, message
    assert "Traceback" not in result.output
