"""Run a training command and record what its trainer received: the benchmark's proof of equal inputs.

    python scripts/trainer_inputs.py RECORD.json -- scripts/plain_train.py MODEL STSB_DIR ...
    python scripts/trainer_inputs.py RECORD.json -- -m sbft train scripts/bench_recipe.yaml ...

Equal training arguments do not make equal runs: the rows, their order, the label values and
their dtype, the model's weights, the random states and the thread count when training starts
decide the result too. This wrapper patches transformers' Trainer (both sides' trainers derive
from it) and, for every trainer.train() call (sbft's smoke run makes one before the real run),
writes a fingerprint of each of those, and a running hash of every batch the loss saw, in the
order it saw them. scripts/bench.py compares the last call of each side.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import runpy
import sys
from typing import Any


def digest(value: Any) -> str:
    return hashlib.sha256(value if isinstance(value, bytes) else repr(value).encode()).hexdigest()[:16]


def dataset_record(data: Any) -> dict[str, Any]:
    """Rows, columns in order, each column's type and a hash of its exact values (floats by their bits)."""
    if data is None:
        return {}
    if isinstance(data, dict):  # several datasets
        return {name: dataset_record(part) for name, part in data.items()}
    import numpy as np

    columns = {}
    for name in data.column_names:
        values: Any = list(data[name])
        if data.features[name].dtype in ("float32", "float64"):
            values = np.asarray(values, dtype=data.features[name].dtype).tobytes()
        kind = data.features[name].dtype  # string or large_string: the collator gets str either way
        columns[name] = {
            "type": "text" if kind in ("string", "large_string") else kind,
            "sha": digest(values),
        }
    return {"rows": len(data), "columns": columns}


def evaluator_record(evaluator: Any) -> dict[str, Any]:
    if evaluator is None:
        return {}
    inner = getattr(evaluator, "evaluators", None)
    if isinstance(inner, list) and len(inner) == 1:  # sbft wraps its one evaluator in a SequentialEvaluator
        return evaluator_record(inner[0])
    import numpy as np

    fields = {}
    for key, value in sorted(vars(evaluator).items()):
        if isinstance(value, (str, int, float, bool, type(None))):
            fields[key] = value
        elif hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, dict):
            array = np.asarray(list(value))  # lists, tuples, datasets' Column
            fields[key] = f"{array.dtype}:{digest(array.tobytes() if array.dtype != object else list(value))}"
        elif isinstance(value, dict):
            fields[key] = digest(sorted(value.items(), key=str))
    return {"class": type(evaluator).__name__, **fields}


def model_record(model: Any) -> dict[str, Any]:
    import torch

    weights = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        weights.update(name.encode() + tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    inner = getattr(model[0], "auto_model", None) if hasattr(model, "__getitem__") else None
    config = getattr(inner, "config", None)
    return {
        "weights_sha": weights.hexdigest()[:16],
        "modules": str(model),
        "attention": getattr(config, "_attn_implementation", None),
        "dtype": str(next(model.parameters()).dtype),
    }


def state_record() -> dict[str, Any]:
    """Random states, threads and numeric switches as training starts."""
    import numpy as np
    import torch

    return {
        "torch_rng": digest(torch.get_rng_state().numpy().tobytes()),
        "python_rng": digest(random.getstate()),
        "numpy_rng": digest(np.random.get_state()[1].tobytes()),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "mkldnn": torch.backends.mkldnn.enabled,
    }


def install(record_path: str) -> None:
    """Patch Trainer.train and compute_loss to record every call's inputs into `record_path`."""
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")  # what sbft sets at start-up, before tqdm loads
    import transformers
    from sentence_transformers.base.trainer import BaseTrainer

    calls: list[dict[str, Any]] = []
    original_train = transformers.Trainer.train
    original_loss = BaseTrainer.compute_loss

    def compute_loss(self: Any, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        batches = getattr(self, "_recorded_batches", None)
        if batches is not None and model.training:  # training batches (not the evaluation loss's)
            for key in sorted(inputs):
                value = inputs[key]
                if hasattr(value, "detach"):
                    batches.update(key.encode() + value.detach().cpu().contiguous().numpy().tobytes())
                if key.endswith("attention_mask"):  # each text column's tokens: padded and real
                    self._recorded_tokens["computed"] += value.numel()
                    self._recorded_tokens["real"] += int(value.sum())
            self._recorded_steps += 1
        return original_loss(self, model, inputs, *args, **kwargs)

    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = {
            "train_dataset": dataset_record(self.train_dataset),
            "eval_dataset": dataset_record(self.eval_dataset),
            "loss": repr(getattr(self, "loss", None)).splitlines()[0][:200],
            "model": model_record(self.model),
            "state": state_record(),
            "args": self.args.to_dict(),
        }
        self._recorded_batches, self._recorded_steps = hashlib.sha256(), 0
        self._recorded_tokens = {"computed": 0, "real": 0}
        try:
            return original_train(self, *args, **kwargs)
        finally:
            call["batches"] = {"steps": self._recorded_steps, "sha": self._recorded_batches.hexdigest()[:16]}
            call["tokens"] = self._recorded_tokens
            # After training: an evaluator fills in defaults (its similarity function) when first run.
            call["evaluator"] = evaluator_record(getattr(self, "evaluator", None))
            call["losses"] = [entry["loss"] for entry in self.state.log_history if "loss" in entry]
            calls.append(call)
            with open(record_path, "w", encoding="utf-8") as file:
                json.dump(calls, file, indent=1, default=str)

    transformers.Trainer.train = train
    BaseTrainer.compute_loss = compute_loss


def main() -> None:
    record_path, separator, *command = sys.argv[1:]
    assert separator == "--", __doc__
    install(record_path)
    if command[0] == "-m":
        sys.argv = [command[1], *command[2:]]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = command
        runpy.run_path(command[0], run_name="__main__")


if __name__ == "__main__":
    main()
