"""Reading BEIR folders: corpus with titles, graded qrels, which queries a split holds, and the errors."""

from __future__ import annotations

import re

import pytest

from sbft.beir import read_beir
from sbft.errors import SbftError
from tests.helpers import write_beir


def test_corpus_queries_and_graded_qrels(beir_folder):
    beir = read_beir(beir_folder, ("train", "dev", "test"), "where")
    assert len(beir.corpus) == 30
    assert beir.corpus["d1"].startswith("a title ")  # the title goes before the text
    assert not beir.corpus["d13"].startswith(" ")  # an empty title adds nothing
    train, dev = beir.splits["train"], beir.splits["dev"]
    assert train.qrels["q0"] == {"d0": 1, "d1": 2, "d2": 0}  # grades as given, 0 included
    assert train.relevant("q0") == ["d0", "d1"]
    assert list(train.queries) == [f"q{i}" for i in range(8)]
    assert list(dev.queries) == ["q8", "q9", "q10"]  # q11 has no relevant document: skipped
    assert "q0" not in dev.queries and list(beir.splits["test"].queries) == ["q9"]


def test_only_the_splits_asked_for_and_present(beir_folder):
    (beir_folder / "qrels" / "test.tsv").unlink()
    assert list(read_beir(beir_folder, ("dev", "test"), "w").splits) == ["dev"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "corpus.jsonl").unlink(), "has no corpus.jsonl"),
        (lambda f: (f / "qrels" / "dev.tsv").write_text("q\td\ts\n"), "not the header"),
        (
            lambda f: (f / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq8\tnope\t1\n"),
            "'nope'",
        ),
        (
            lambda f: (f / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq8\td1\thigh\n"),
            "integer",
        ),
        (lambda f: (f / "queries.jsonl").write_text('{"_id": "q0"}\n'), "line 1 of"),
    ],
)
def test_errors_name_the_file_and_line(beir_folder, damage, message):
    damage(beir_folder)
    with pytest.raises(SbftError, match=message) as caught:
        read_beir(beir_folder, ("dev",), "datasets.x.beir")
    assert caught.value.where == "datasets.x.beir"


def test_a_folder_without_the_splits(tmp_path):
    folder = write_beir(tmp_path / "b", {"d0": "text"}, {"q0": "query"}, {})
    with pytest.raises(SbftError, match=r"has none of qrels/dev\.tsv"):
        read_beir(folder, ("dev",), "w")
    with pytest.raises(SbftError, match="does not exist"):
        read_beir(tmp_path / "missing", ("dev",), "w")


# --- duplicates, encodings, BOMs, line ends (issue 25, cases 2, 11, 12) ----------------------------


def _beir_recipe(tmp_path, tiny_model, **dataset) -> str:
    import yaml

    recipe = {
        "model": {"name": str(tiny_model)},
        "datasets": {"wiki": {"beir": "beir", "loss": "MultipleNegativesRankingLoss", **dataset}},
        "training": {"max_steps": 1, "per_device_train_batch_size": 4},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return str(path)


def _duplicate_document(folder):
    with (folder / "corpus.jsonl").open("a", encoding="utf-8") as corpus:
        corpus.write('{"_id": "d11", "title": "", "text": "another text under the same id"}\n')


def _duplicate_query(folder):
    with (folder / "queries.jsonl").open("a", encoding="utf-8") as queries:
        queries.write('{"_id": "q9", "text": "another query"}\n')


def _latin1(folder, name):
    """A Latin-1 byte (é) on line 2, inside a text or at the start of a qrels line."""
    path = folder / name
    lines = path.read_bytes().split(b"\n")
    text = b'"text": "'
    lines[1] = lines[1].replace(text, text + b"caf\xe9 ") if text in lines[1] else b"\xe9" + lines[1]
    path.write_bytes(b"\n".join(lines))


COMMANDS = {
    "check": lambda recipe, model, folder: ("check", recipe),
    "train": lambda recipe, model, folder: ("train", recipe, "--no-smoke"),
    "eval": lambda recipe, model, folder: ("eval", model, f"{folder}#dev"),
    "init": lambda recipe, model, folder: ("init", "--data", folder, "-o", folder.parent / "new.yaml"),
}
DAMAGE = {
    "duplicate document id": (
        _duplicate_document,
        r"corpus\.jsonl' gives 1 _id\(s\) more than once.*'d11' on lines 12, 31",
    ),
    "duplicate query id": (_duplicate_query, r"queries\.jsonl' gives 1 _id\(s\).*'q9' on lines 10, 13"),
    "latin-1 corpus": (
        lambda f: _latin1(f, "corpus.jsonl"),
        r"corpus\.jsonl' is not UTF-8 text \(byte 0xe9 on line 2\)",
    ),
    "latin-1 queries": (
        lambda f: _latin1(f, "queries.jsonl"),
        r"queries\.jsonl' is not UTF-8 text \(byte 0xe9 on line 2\)",
    ),
    "latin-1 qrels": (
        lambda f: _latin1(f, "qrels/dev.tsv"),
        r"dev\.tsv' is not UTF-8 text \(byte 0xe9 on line 2\)",
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_damaged_beir_folder(cli, tmp_path, tiny_model, beir_folder, command, damage):
    """Each command that reads a BEIR folder: exit 2, one paragraph with the file, line and id or byte."""
    change, message = DAMAGE[damage]
    change(beir_folder)
    result = cli(*COMMANDS[command](_beir_recipe(tmp_path, tiny_model), tiny_model, beir_folder))
    assert result.exit_code == 2, result.output
    assert re.search(message, " ".join(result.stderr.split())), result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "new.yaml").exists()


def test_identical_duplicates_are_read_once_with_a_warning(beir_folder, capsys):
    lines = (beir_folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    with (beir_folder / "corpus.jsonl").open("a", encoding="utf-8") as corpus:
        corpus.write(lines[3])
    beir = read_beir(beir_folder, ("dev",), "w")
    assert len(beir.corpus) == 30
    assert "repeats 1 _id(s) with the same content, read once: 'd3' on lines 4, 31" in capsys.readouterr().err


def test_a_query_and_document_graded_twice_differently_is_refused(beir_folder):
    with (beir_folder / "qrels" / "dev.tsv").open("a", encoding="utf-8") as qrels:
        qrels.write("q8\td10\t0\n")
    with pytest.raises(
        SbftError, match=r"lines 2 and 6 of .* grade the document 'd10' for the query 'q8' twice, 1 and 0"
    ):
        read_beir(beir_folder, ("dev",), "w")


@pytest.mark.parametrize("name", ["corpus.jsonl", "queries.jsonl", "qrels/dev.tsv", "qrels/train.tsv"])
@pytest.mark.parametrize("variant", ["bom", "crlf", "bom+crlf"])
def test_byte_order_marks_and_windows_line_ends_are_read(beir_folder, name, variant):
    """Files saved by Windows tools read the same as plain UTF-8 ones."""
    expected = read_beir(beir_folder, ("train", "dev"), "w")
    path = beir_folder / name
    data = path.read_bytes()
    if "crlf" in variant:
        data = data.replace(b"\n", b"\r\n")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    assert read_beir(beir_folder, ("train", "dev"), "w") == expected


def test_a_header_with_invisible_characters_shows_them(beir_folder):
    path = beir_folder / "qrels" / "dev.tsv"
    path.write_text("\u200bquery-id\tcorpus-id\tscore\nq8\td10\t1\n", encoding="utf-8")
    with pytest.raises(SbftError) as caught:
        read_beir(beir_folder, ("dev",), "w")
    assert "starts with '\\u200bquery-id' corpus-id score, not the header" in str(caught.value)
