"""Build the STS Benchmark and WikiQA folders that configs/stsb.yaml, configs/reranker.yaml and
configs/retrieval.yaml read, from the files their authors publish.

Nothing is downloaded: fetch the files once (the hosts need a browser or accept a license), then

    python scripts/get_data.py stsb Stsbenchmark.tar.gz -o ../shared/data/stsb
    python scripts/get_data.py wikiqa WikiQACorpus.zip -o ../shared/data/wikiqa

(`make data STSB=... WIKIQA=...` runs both into ../shared/data, where the configs look by default).

- STS Benchmark: `Stsbenchmark.tar.gz` from the STS wiki, http://ixa2.si.ehu.eus/stswiki
  (http://ixa2.si.ehu.eus/stswiki/images/4/48/Stsbenchmark.tar.gz). Its sts-train/dev/test.csv,
  readme.txt and LICENSE.txt are copied as published; configs/stsb.yaml reads them as they are.
- WikiQA: `WikiQACorpus.zip` from Microsoft Research,
  https://www.microsoft.com/en-us/download/details.aspx?id=52419 (or its WikiQA-train.tsv alone).
  The train questions become WikiQA-train.tsv (QuestionID, Question, SentenceID, Sentence, Label;
  the ids are row numbers) and beir/: corpus.jsonl (every distinct candidate sentence, in file
  order), queries.jsonl (the questions with a correct sentence) and qrels/train.tsv, qrels/dev.tsv
  (a question is dev when the SHA-1 of its text is 0 modulo 5: 159 of the 873). From the shared
  copy's WikiQA-train.tsv this rebuilds its beir/ (the README's figures) byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

STSB_FILES = ("sts-train.csv", "sts-dev.csv", "sts-test.csv", "readme.txt", "LICENSE.txt")
WIKIQA_TRAIN = "WikiQA-train.tsv"
DEV_MODULUS = 5
"""A question is in dev when sha1(text) % DEV_MODULUS == 0 (about a fifth)."""


def stsb(archive: Path, output: Path) -> list[Path]:
    """The STS Benchmark's files, copied out of Stsbenchmark.tar.gz (or a folder holding them)."""
    found: dict[str, bytes] = {}
    if archive.is_dir():
        found = {p.name: p.read_bytes() for p in archive.rglob("*") if p.name in STSB_FILES}
    else:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in STSB_FILES:
                    found[name] = tar.extractfile(member).read()
    missing = [name for name in STSB_FILES[:3] if name not in found]
    if missing:
        sys.exit(f"error: {archive} holds no {', '.join(missing)}: is it Stsbenchmark.tar.gz?")
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in found.items():
        (output / name).write_bytes(data)
        written.append(output / name)
    return written


def wikiqa(source: Path, output: Path) -> dict[str, int]:
    """WikiQA's train questions as WikiQA-train.tsv (5 columns) and a BEIR folder; the counts."""
    rows = _wikiqa_rows(_wikiqa_text(source))
    output.mkdir(parents=True, exist_ok=True)
    with (output / WIKIQA_TRAIN).open("w", encoding="utf-8", newline="") as file:
        file.write("QuestionID\tQuestion\tSentenceID\tSentence\tLabel\n")
        for number, (question, sentence, label) in enumerate(rows, start=1):
            file.write(f"Q{number}\t{question}\tS{number}\t{sentence}\t{label}\n")
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    relevant: dict[str, list[str]] = {}
    for question, sentence, label in rows:
        document = corpus.setdefault(sentence, f"d{len(corpus)}")
        if label == "1":
            query = queries.setdefault(question, f"q{len(queries)}")
            if document not in relevant.setdefault(query, []):
                relevant[query].append(document)
    beir = output / "beir"
    (beir / "qrels").mkdir(parents=True, exist_ok=True)
    _jsonl(beir / "corpus.jsonl", ({"_id": i, "title": "", "text": t} for t, i in corpus.items()))
    _jsonl(beir / "queries.jsonl", ({"_id": i, "text": t} for t, i in queries.items()))
    counts = {"rows": len(rows), "documents": len(corpus), "queries": len(queries)}
    for split in ("train", "dev"):
        chosen = [(q, t) for t, q in queries.items() if (split == "dev") == _is_dev(t)]
        lines = [f"{q}\t{d}\t1\n" for q, _ in chosen for d in relevant[q]]
        (beir / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(lines))
        counts[f"{split} queries"], counts[f"{split} pairs"] = len(chosen), len(lines)
    return counts


def _is_dev(question: str) -> bool:
    return int(hashlib.sha1(question.encode("utf-8")).hexdigest(), 16) % DEV_MODULUS == 0


def _wikiqa_text(source: Path) -> str:
    """WikiQA-train.tsv's text, from the zip, a folder, or the file itself."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            names = [n for n in archive.namelist() if Path(n).name == WIKIQA_TRAIN]
            if not names:
                sys.exit(f"error: {source} holds no {WIKIQA_TRAIN}: is it WikiQACorpus.zip?")
            return archive.read(names[0]).decode("utf-8")
    if source.is_dir():
        found = sorted(source.rglob(WIKIQA_TRAIN))
        if not found:
            sys.exit(f"error: no {WIKIQA_TRAIN} under {source}")
        source = found[0]
    return source.read_text(encoding="utf-8")


def _wikiqa_rows(text: str) -> list[tuple[str, str, str]]:
    """(question, sentence, label) per row, read by header names: the published 7-column file
    (QuestionID, Question, DocumentID, DocumentTitle, SentenceID, Sentence, Label) or the 5-column
    copy. Quotes are text (the sentences hold unescaped ones)."""
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader)
    try:
        question, sentence, label = (header.index(name) for name in ("Question", "Sentence", "Label"))
    except ValueError:
        sys.exit(f"error: the header {header} has no Question, Sentence and Label columns")
    return [(row[question], row[sentence], row[label]) for row in reader if row]


def _jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=("stsb", "wikiqa"))
    parser.add_argument(
        "source", type=Path, help="Stsbenchmark.tar.gz, or WikiQACorpus.zip / WikiQA-train.tsv"
    )
    parser.add_argument("-o", "--output", type=Path, help="default: ../shared/data/DATASET")
    arguments = parser.parse_args(argv)
    if not arguments.source.exists():
        sys.exit(
            f"error: {arguments.source} does not exist (see this script's docstring for where to get it)"
        )
    output = arguments.output or Path("..") / "shared" / "data" / arguments.dataset
    if arguments.dataset == "stsb":
        for path in stsb(arguments.source, output):
            print(f"wrote {path}")
        print(f"now: STSB_DIR={output} sbft train configs/stsb.yaml")
    else:
        counts = wikiqa(arguments.source, output)
        print(
            f"wrote {output}/{WIKIQA_TRAIN} and {output}/beir: "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items())
        )
        print(f"now: WIKIQA_DIR={output} sbft train configs/retrieval.yaml")


if __name__ == "__main__":
    main()
