"""Training and encoding throughput on one CUDA GPU (issue 16, item 5); numbers for the README.

    python scripts/bench_gpu.py --data STSB_DIR --model-files DIR --out RESULT.json [--quick]

The model is MiniLM-shaped: all-MiniLM-L6-v2's config and tokenizer (6 layers, 384 wide, 12
heads, mean pooling, Normalize) with RANDOM weights, because the packaged weights (87 MB) exceed
what the device machine accepts (64 MiB a call). Speed does not depend on the weights' values;
scores do, so no Spearman is reported here (the CPU benchmark has them).

- training, SentenceTransformerTrainer with CosineSimilarityLoss on STSb train (1 epoch, batch
  32): fp32 against bf16 autocast, the plain script's random batches against sbft's
  length-grouped batches (sbft.sampling); then `sbft train` itself (fp32 random, bf16
  length-grouped), whose trainer samples/s include sbft's callbacks;
- encoding 10,000 STSb sentences (batch 128): model.encode against sbft's Encoder (token-sorted
  batches), fp32 and bf16 weights.

Every variant runs twice, alternating, after one untimed warm-up; the JSON holds every run.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEVICE = "cuda"
"""--device cpu checks the script where there is no GPU."""


def stsb(folder: Path, split: str) -> list[list[str]]:
    with open(folder / f"sts-{split}.csv", encoding="utf-8", newline="") as file:
        return list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))


def build_model(files: Path, target: Path) -> Path:
    """all-MiniLM-L6-v2's folder (config, tokenizer, modules) with freshly initialised weights."""
    import torch
    from transformers import BertConfig, BertModel

    shutil.copytree(files, target, dirs_exist_ok=True)
    torch.manual_seed(0)
    BertModel(BertConfig.from_pretrained(target)).save_pretrained(target)
    return target


def train_once(model_dir: Path, rows: list[list[str]], sampler: str, bf16: bool, steps: int | None) -> dict:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    from sbft.sampling import LengthGrouped

    data = Dataset.from_dict(
        {
            "sentence1": [r[5] for r in rows],
            "sentence2": [r[6] for r in rows],
            "label": [float(r[4]) / 5 for r in rows],
        }
    )
    model = SentenceTransformer(str(model_dir), device=DEVICE)
    with tempfile.TemporaryDirectory() as output:
        args = Arguments(
            output_dir=output,
            num_train_epochs=1,
            max_steps=steps or -1,
            per_device_train_batch_size=32,
            learning_rate=2e-5,
            warmup_steps=0.1,
            seed=42,
            bf16=bf16,
            eval_strategy="no",
            save_strategy="no",
            logging_steps=1000,
            report_to="none",
            disable_tqdm=True,
            batch_sampler=LengthGrouped() if sampler == "length_grouped" else "batch_sampler",
            use_cpu=DEVICE == "cpu",
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data, loss=CosineSimilarityLoss(model)
        )
        output_metrics = trainer.train().metrics
    return {
        "samples_per_s": output_metrics["train_samples_per_second"],
        "runtime_s": output_metrics["train_runtime"],
    }


def sbft_train(
    model_dir: Path, data: Path, sampler: str, bf16: bool, folder: Path, steps: int | None
) -> dict:
    """`sbft train` on the GPU: the trainer's samples/s as sbft reports it."""
    import yaml

    recipe = {
        "name": "gpu",
        "model": {"name": str(model_dir)},
        "datasets": {
            "stsb": {
                "files": {"train": str(data / "sts-train.csv"), "dev": str(data / "sts-dev.csv")},
                "format": "csv",
                "loader_args": {
                    "sep": "\t",
                    "header": None,
                    "quoting": 3,
                    "names": ["genre", "file", "year", "id", "score", "sentence1", "sentence2", "s1", "s2"],
                },
                "columns": ["sentence1", "sentence2"],
                "label": "score",
                "label_range": [0, 5],
                "loss": "CosineSimilarityLoss",
            }
        },
        "training": {
            "seed": 42,
            "bf16": bf16,
            "batch_sampler": sampler,
            "save_strategy": "no",
            "load_best_model_at_end": False,  # sbft's default needs a checkpoint per evaluation
            "max_steps": steps or -1,
        },
        "evaluation": {"keep": "last"},
    }
    path = folder / f"recipe-{sampler}-{bf16}.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    run_dir = folder / f"run-{sampler}-{bf16}"
    command = [sys.executable, "-m", "sbft", "train", str(path), "-o", str(run_dir), "--overwrite"]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "--no-smoke", "--no-cache", "-q"], capture_output=True, text=True, cwd=REPO, check=False
    )
    if result.returncode != 0:
        return {"error": result.stderr[-1500:]}
    training = json.loads((run_dir / "metrics.json").read_text())["training"]
    return {
        "samples_per_s": training["train_samples_per_second"],
        "runtime_s": training["train_runtime"],
        "whole_command_s": time.perf_counter() - started,
    }


def encode_once(model: Any, texts: list[str], how: str) -> float:
    """Texts/s of one encode of `texts` (synchronised)."""
    import torch

    from sbft.inference.encoder import EncodeOptions, Encoder

    synchronize = torch.cuda.synchronize if DEVICE == "cuda" else lambda: None
    synchronize()
    started = time.perf_counter()
    if how == "model.encode":
        model.encode(texts, batch_size=128, convert_to_numpy=True)
    else:
        Encoder(model, EncodeOptions(batch_size=128)).encode(texts)
    synchronize()
    return len(texts) / (time.perf_counter() - started)


def guarded(results: dict, key: str, action: Any) -> None:
    try:
        results[key] = action()
    except Exception:  # one failing variant must not lose the others' numbers
        results[key] = {"error": traceback.format_exc()[-1500:]}
    print(key, json.dumps(results[key])[:300], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model-files", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a few steps and texts: checks the script")
    parser.add_argument("--device", default="cuda")
    options = parser.parse_args()
    global DEVICE
    DEVICE = options.device
    import torch

    name = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu"
    results: dict[str, Any] = {"device": name, "torch": torch.__version__}
    import sentence_transformers
    import transformers

    results["versions"] = {
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
    }
    work = Path(tempfile.mkdtemp())
    model_dir = build_model(options.model_files, work / "minilm-random")
    rows = stsb(options.data, "train")
    steps = 4 if options.quick else None
    variants = [(s, b) for b in (False, True) for s in ("batch_sampler", "length_grouped")]
    guarded(results, "warm-up", lambda: train_once(model_dir, rows, "batch_sampler", False, 5))
    for repeat in range(1 if options.quick else 2):
        for sampler, bf16 in variants[repeat % 2 :] + variants[: repeat % 2]:
            key = f"train {sampler} {'bf16' if bf16 else 'fp32'} #{repeat + 1}"
            guarded(results, key, lambda s=sampler, b=bf16: train_once(model_dir, rows, s, b, steps))
    for sampler, bf16 in (("batch_sampler", False), ("length_grouped", True)):
        guarded(
            results,
            f"sbft train {sampler} {'bf16' if bf16 else 'fp32'}",
            lambda s=sampler, b=bf16: sbft_train(model_dir, options.data, s, b, work, steps),
        )

    from sentence_transformers import SentenceTransformer

    texts = [text for split in ("train", "dev", "test") for r in stsb(options.data, split) for text in r[5:7]]
    texts = texts[: 500 if options.quick else 10_000]
    for dtype in ("fp32", "bf16"):
        model = SentenceTransformer(str(model_dir), device=DEVICE)
        if dtype == "bf16":
            model = model.to(torch.bfloat16)
        encode_once(model, texts[:512], "model.encode")  # warm-up
        for repeat in range(2):
            for how in ("model.encode", "sbft Encoder")[:: 1 if repeat % 2 == 0 else -1]:
                guarded(
                    results,
                    f"encode {how} {dtype} #{repeat + 1}",
                    lambda m=model, h=how: encode_once(m, texts, h),
                )
    results["summary"] = summary(results)
    options.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(json.dumps(results["summary"], indent=1))


def summary(results: dict[str, Any]) -> dict[str, float]:
    """Medians by variant (the '#n' repeats merged)."""
    groups: dict[str, list[float]] = {}
    for key, value in results.items():
        if " #" in key:
            number = (
                value
                if isinstance(value, float)
                else value.get("samples_per_s")
                if isinstance(value, dict)
                else None
            )
            if number is not None:
                groups.setdefault(key.split(" #")[0], []).append(number)
    return {name: round(statistics.median(values), 2) for name, values in groups.items()}


if __name__ == "__main__":
    main()
