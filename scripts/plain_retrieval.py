"""The hand-written sentence-transformers retrieval fine-tune that configs/retrieval.yaml is compared with.

    python scripts/plain_retrieval.py MODEL BEIR_DIR --output-dir DIR [--mine]   # prints one JSON line

MultipleNegativesRankingLoss on the (query, answer) pairs of qrels/train.tsv, 2 epochs, batch 32,
lr 2e-5, seed 42, the no_duplicates sampler (the WikiQA readme's reference script); with --mine, one
negative per pair mined by the base model over the whole corpus (ranks 10-50, relative margin 0.05).
The dev queries are then searched over the whole corpus (InformationRetrievalEvaluator).
"""

import argparse
import json
import time

started = time.perf_counter()
from datasets import Dataset  # noqa: E402
from sentence_transformers import (  # noqa: E402
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator  # noqa: E402
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss  # noqa: E402
from sentence_transformers.util import mine_hard_negatives  # noqa: E402


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
parser.add_argument("beir_dir")
parser.add_argument("--output-dir", required=True)
parser.add_argument("--mine", action="store_true")
args = parser.parse_args()

corpus = read_jsonl(f"{args.beir_dir}/corpus.jsonl")
queries = read_jsonl(f"{args.beir_dir}/queries.jsonl")
train_qrels = read_qrels(f"{args.beir_dir}/qrels/train.tsv")
dev_qrels = read_qrels(f"{args.beir_dir}/qrels/dev.tsv")
pairs = [(queries[q], corpus[d]) for q in sorted(train_qrels) for d in sorted(train_qrels[q])]
train = Dataset.from_dict({"query": [q for q, _ in pairs], "document": [d for _, d in pairs]})

model = SentenceTransformer(args.model)
timings = {}
if args.mine:
    mining_started = time.perf_counter()
    train = mine_hard_negatives(
        train,
        model,
        corpus=list(corpus.values()),
        num_negatives=1,
        range_min=10,
        range_max=50,
        relative_margin=0.05,
        sampling_strategy="top",
        batch_size=64,
        verbose=False,
    )
    timings["mining_s"] = round(time.perf_counter() - mining_started, 1)

training_args = SentenceTransformerTrainingArguments(
    output_dir=args.output_dir,
    num_train_epochs=2,
    per_device_train_batch_size=32,
    learning_rate=2e-5,
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
timings["training_s"] = round(time.perf_counter() - training_started, 1)

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
            "columns": train.column_names,
            "dev": {k: float(v) for k, v in metrics.items()},
            "steps": output.global_step,
            **timings,
            "wall_s": round(time.perf_counter() - started, 1),
        }
    )
)
