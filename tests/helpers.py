"""Test helpers: tiny text generators, data writers, and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STSB_DIR = REPO.parent / "shared" / "data" / "stsb"

WORDS = (
    "a the man woman child dog cat bird plays sings runs eats drinks reads writes guitar piano "
    "ball food water book letter car bike train road park house garden sky sun rain big small "
    "red blue green happy sad quickly slowly today yesterday in on at with near"
).split()


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))) for _ in range(count)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_beir(
    folder: Path,
    corpus: dict[str, str | tuple[str, str]],
    queries: dict[str, str],
    qrels: dict[str, list[tuple[str, str, int]]],
) -> Path:
    """A folder in BEIR layout: corpus (id -> text, or (title, text)), queries, qrels per split."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    write_jsonl(
        folder / "corpus.jsonl",
        [
            {
                "_id": i,
                "title": doc[0] if isinstance(doc, tuple) else "",
                "text": doc[-1] if isinstance(doc, tuple) else doc,
            }
            for i, doc in corpus.items()
        ],
    )
    write_jsonl(folder / "queries.jsonl", [{"_id": i, "text": text} for i, text in queries.items()])
    for split, rows in qrels.items():
        lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{score}" for q, d, score in rows)]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def run_sbft(
    *args: str,
    cwd: Path | None = None,
    timeout: int = 600,
    env: dict | None = None,
    input: str | bytes | None = None,
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sbft", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=not isinstance(input, bytes),
        input=input,
        timeout=timeout,
    )


def wikiqa_tsv(path: Path, questions: int, seed: int) -> Path:
    """WikiQA's raw layout: row-number ids (Q1, S1...), several candidate sentences per question
    labelled 1 (answers it) or 0, and unescaped quotes in the text. Every third question has no
    answer; question 1 has two answers and no label-0 candidate."""
    rng = random.Random(seed)
    lines, row = ["QuestionID\tQuestion\tSentenceID\tSentence\tLabel"], 0
    for number, question in enumerate(sentences(questions, seed)):
        labels = [1, 1] if number == 1 else [0] * rng.randint(2, 5)
        if number % 3 and number != 1:
            labels[rng.randrange(len(labels))] = 1
        for label, sentence in zip(labels, sentences(len(labels), 1000 * seed + number), strict=True):
            row += 1
            lines.append(f'Q{row}\t{question}?\tS{row}\t"{sentence} said "yes\t{label}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_sts_recipe(
    folder: Path,
    model: Path,
    training: dict,
    *,
    label_range: list[float] | None = None,
    evaluation: dict | None = None,
) -> Path:
    """folder/recipe.yaml: `model` on folder's train.csv and dev.csv (sentence1, sentence2, score),
    CoSENTLoss, with these training settings."""
    import yaml

    dataset = {
        "files": {"train": "train.csv", "dev": "dev.csv"},
        "columns": ["sentence1", "sentence2"],
        "label": "score",
        **({"label_range": label_range} if label_range else {}),
        "loss": "CoSENTLoss",
    }
    recipe = {"model": {"name": str(model)}, "datasets": {"sts": dataset}, "training": training}
    if evaluation is not None:
        recipe["evaluation"] = evaluation
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path
