"""The hand-written sentence-transformers script that sbft's `pairs_from_labels` is compared with.

    python scripts/plain_wikiqa_labels.py MODEL WIKIQA_DIR --output-dir DIR        # prints one JSON line
    python scripts/plain_wikiqa_labels.py MODEL WIKIQA_DIR --write-train FILE.tsv  # the train file only

Raw WikiQA (WIKIQA_DIR/WikiQA-train.tsv, candidates labelled 1/0 per question) minus the questions
of the BEIR dev qrels (WIKIQA_DIR/beir/qrels/dev.tsv, matched by text): each label-1 sentence is a
(question, positive) row with one label-0 sentence of the same question, drawn at random (seed 42),
as its negative; rows whose question has no label-0 sentence are dropped. MultipleNegativesRankingLoss,
2 epochs, batch 32, lr 2e-5, warmup 0.1, seed 42, the no_duplicates sampler; then the dev queries are
searched over the whole corpus (InformationRetrievalEvaluator). `--write-train` writes the filtered raw
file (same columns) for the sbft side, scripts/wikiqa_labels.yaml, and stops.
"""

import argparse
import csv
import json
import random
import time

started = time.perf_counter()


def read_jsonl(path: str) -> dict[str, str]:
    with open(path, encoding="utf-8") as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return {row["_id"]: " ".join(t for t in (row.get("title", ""), row["text"]) if t) for row in rows}


def read_qrels(path: str) -> dict[str, set[str]]:
    relevant: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as file:
        next(file)
        for line in file:
            query, doc, score = line.split()
            if float(score) > 0:
                relevant.setdefault(query, set()).add(doc)
    return relevant


parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("wikiqa_dir")
parser.add_argument("--output-dir")
parser.add_argument("--write-train", help="write the raw rows minus the dev questions here, and stop")
parser.add_argument(
    "--negatives",
    choices=("random", "first"),
    default="random",
    help="first: label-0 sentences in file order",
)
args = parser.parse_args()

beir = f"{args.wikiqa_dir}/beir"
queries = read_jsonl(f"{beir}/queries.jsonl")
dev_qrels = read_qrels(f"{beir}/qrels/dev.tsv")
dev_questions = {queries[q] for q in dev_qrels}
with open(f"{args.wikiqa_dir}/WikiQA-train.tsv", encoding="utf-8", newline="") as file:
    header, *raw = csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
rows = [row for row in raw if row[1] not in dev_questions]
if args.write_train:
    with open(args.write_train, "x", encoding="utf-8", newline="") as file:
        csv.writer(
            file, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n"
        ).writerows([header, *rows])
    print(json.dumps({"rows": len(rows), "dropped_dev_rows": len(raw) - len(rows), "file": args.write_train}))
    raise SystemExit(0)
if not args.output_dir:
    parser.error("--output-dir is needed to train")

from datasets import Dataset  # noqa: E402
from sentence_transformers import (  # noqa: E402
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator  # noqa: E402
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss  # noqa: E402

positives: dict[str, list[str]] = {}
negatives: dict[str, list[str]] = {}
for _, question, _, sentence, label in rows:
    (positives if label == "1" else negatives).setdefault(question, []).append(sentence)
rng = random.Random(42)
triplets = []
for question, answers in positives.items():
    for answer in answers:
        pool = negatives.get(question)
        if pool:
            negative = rng.choice(pool) if args.negatives == "random" else pool[0]
            triplets.append((question, answer, negative))
query, positive, negative = (list(column) for column in zip(*triplets, strict=True))
train = Dataset.from_dict({"query": query, "positive": positive, "negative": negative})

model = SentenceTransformer(args.model)
training_args = SentenceTransformerTrainingArguments(
    output_dir=args.output_dir,
    num_train_epochs=2,
    per_device_train_batch_size=32,
    learning_rate=2e-5,
    warmup_steps=0.1,  # a fraction of the steps (transformers 5)
    seed=42,
    batch_sampler="no_duplicates",
    logging_steps=10,
    eval_strategy="no",
    save_strategy="no",
    report_to="none",
    disable_tqdm=True,
)
trainer = SentenceTransformerTrainer(
    model=model, args=training_args, train_dataset=train, loss=MultipleNegativesRankingLoss(model)
)
training_started = time.perf_counter()
output = trainer.train()
timings = {"training_s": round(time.perf_counter() - training_started, 1)}

corpus = read_jsonl(f"{beir}/corpus.jsonl")
evaluator = InformationRetrievalEvaluator(
    {q: queries[q] for q in dev_qrels}, corpus, dev_qrels, name="wikiqa", batch_size=64, write_csv=False
)
evaluation_started = time.perf_counter()
metrics = evaluator(model)
timings["evaluation_s"] = round(time.perf_counter() - evaluation_started, 1)
print(
    json.dumps(
        {
            "rows": len(train),
            "questions": len(positives),
            "negatives": args.negatives,
            "dev": {k: float(v) for k, v in metrics.items()},
            "steps": output.global_step,
            **timings,
            "wall_s": round(time.perf_counter() - started, 1),
        }
    )
)
