"""scripts/get_data.py builds the STS Benchmark and WikiQA layouts the configs read, from the
published archives (here small fakes in the same shape)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from sbft.beir import read_beir
from tests.helpers import REPO

NUMBERS = range(25, 37)
"""Twelve questions, five of them dev by their hash (25, 27, 28, 29, 31)."""
STS_ROW = (
    "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n"
)


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("get_data", REPO / "scripts" / "get_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_stsb(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name in ("sts-train.csv", "sts-dev.csv", "sts-test.csv", "readme.txt", "LICENSE.txt"):
            data = (STS_ROW * 3).encode() if name.endswith(".csv") else b"about\n"
            info = tarfile.TarInfo(f"stsbenchmark/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def fake_wikiqa(path: Path) -> Path:
    """The published layout: 7 columns, quotes as text; questions chosen so that one lands in dev."""
    header = "QuestionID\tQuestion\tDocumentID\tDocumentTitle\tSentenceID\tSentence\tLabel\n"
    rows = []
    for number in NUMBERS:
        question = f"what is thing {number}?"
        rows.append(f'Q{number}\t{question}\tD{number}\tT\tD{number}-0\tThing {number} is "big" .\t1\n')
        rows.append(f"Q{number}\t{question}\tD{number}\tT\tD{number}-1\tShared sentence .\t0\n")
    rows.append("Q99\tunanswered?\tD99\tT\tD99-0\tNo answer here .\t0\n")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("WikiQACorpus/WikiQA-train.tsv", header + "".join(rows))
    return path


def test_stsb_files_are_copied_as_published(tmp_path):
    script = load_script()
    script.main(["stsb", str(fake_stsb(tmp_path / "Stsbenchmark.tar.gz")), "-o", str(tmp_path / "stsb")])
    assert (tmp_path / "stsb" / "sts-train.csv").read_text() == STS_ROW * 3
    assert {p.name for p in (tmp_path / "stsb").iterdir()} == {
        "sts-train.csv",
        "sts-dev.csv",
        "sts-test.csv",
        "readme.txt",
        "LICENSE.txt",
    }


def test_wikiqa_becomes_the_5_column_file_and_a_beir_folder_sbft_reads(tmp_path):
    script = load_script()
    output = tmp_path / "wikiqa"
    counts = script.wikiqa(fake_wikiqa(tmp_path / "WikiQACorpus.zip"), output)
    assert counts["rows"] == 25 and counts["queries"] == 12 and counts["documents"] == 14
    assert counts["dev queries"] + counts["train queries"] == 12
    header, first = (output / "WikiQA-train.tsv").read_text().splitlines()[:2]
    assert header == "QuestionID\tQuestion\tSentenceID\tSentence\tLabel"
    assert first == 'Q1\twhat is thing 25?\tS1\tThing 25 is "big" .\t1'  # quotes kept as text
    beir = read_beir(output / "beir", ("train", "dev"), "data")
    assert len(beir.corpus) == 14 and "unanswered?" not in json.dumps(beir.splits["train"].queries)
    dev = set(beir.splits["dev"].queries.values())
    assert dev == {f"what is thing {n}?" for n in (25, 27, 28, 29, 31)}


def test_a_missing_or_wrong_source_says_what_was_expected(tmp_path):
    script = load_script()
    with pytest.raises(SystemExit, match="does not exist"):
        script.main(["stsb", str(tmp_path / "nothing.tar.gz")])
    wrong = tmp_path / "other.zip"
    with zipfile.ZipFile(wrong, "w") as archive:
        archive.writestr("readme.txt", "x")
    with pytest.raises(SystemExit, match=r"is it WikiQACorpus\.zip"):
        script.main(["wikiqa", str(wrong), "-o", str(tmp_path / "out")])
