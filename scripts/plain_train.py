"""The hand-written sentence-transformers fine-tune that `sbft train` (bench_recipe.yaml) is timed against.

    python scripts/plain_train.py MODEL STSB_DIR --samples 1024 --output-dir DIR   # prints JSON

The same data (the first SAMPLES pairs of STSb train and dev, scores / 5 as float32), loss,
seed and training arguments as the recipe; prints the trainer's metrics, the final dev
Spearman and the training arguments as one JSON line, so the benchmark can check both runs
used the same settings.
"""

import argparse
import csv
import json
import time

started = time.perf_counter()
from datasets import Dataset, Value  # noqa: E402
from sentence_transformers import (  # noqa: E402
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator  # noqa: E402
from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss  # noqa: E402


def stsb(path: str, samples: int) -> Dataset:
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))[:samples]
    data = {"sentence1": [r[5] for r in rows], "sentence2": [r[6] for r in rows]}
    data["label"] = [float(r[4]) / 5 for r in rows]
    return Dataset.from_dict(data).cast_column("label", Value("float32"))


parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("stsb_dir")
parser.add_argument("--samples", type=int, default=1024)
parser.add_argument("--output-dir", required=True)
args = parser.parse_args()

model = SentenceTransformer(args.model)
train, dev = (stsb(f"{args.stsb_dir}/sts-{split}.csv", args.samples) for split in ("train", "dev"))
evaluator = EmbeddingSimilarityEvaluator(
    dev["sentence1"], dev["sentence2"], dev["label"], batch_size=64, name="stsb-dev"
)
training_args = SentenceTransformerTrainingArguments(
    output_dir=args.output_dir,
    num_train_epochs=1,
    per_device_train_batch_size=32,
    per_device_eval_batch_size=64,
    learning_rate=2e-5,
    warmup_steps=0.1,
    lr_scheduler_type="linear",
    seed=42,
    logging_steps=10,
    eval_strategy="epoch",
    save_strategy="no",
    report_to="none",
    disable_tqdm=True,
)
trainer = SentenceTransformerTrainer(
    model=model,
    args=training_args,
    train_dataset=train,
    eval_dataset=dev,
    loss=CosineSimilarityLoss(model),
    evaluator=evaluator,
)
output = trainer.train()
final_dev = evaluator(model)
model.save(f"{args.output_dir}/model")
result = {
    "training": output.metrics,
    "final_dev_spearman": final_dev[evaluator.primary_metric],
    "wall_s": time.perf_counter() - started,
    "args": training_args.to_dict(),
}
print(json.dumps(result, default=str))
