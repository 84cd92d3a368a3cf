"""The base model's dev and test results, kept between runs: a recipe tuned ten times scores its base once.

Before training, `sbft train` scores the base model on the dev and test data (20 s on STSb,
minutes on a retrieval corpus), and the result is the same every time the same model meets the
same evaluation. It is kept in the user cache ($SBFT_CACHE, else ~/.cache/sbft: baselines/KEY.json)
under a key made of everything the scores depend on:

- the model's weights as loaded (a digest of every tensor: a randomly initialised head never
  hits) and the recipe's model section (pooling, normalisation, length, prompts),
- the evaluators as built, which hold the prepared dev/test rows (texts, labels, corpus,
  relevance judgements) and every setting (batch size, similarity, dimensions, names),
- the library versions and the device type.

Any change gives another key, so a stale result is never read. An entry read back is never
trusted: one of another shape, with a score that is not a finite number, or whose checksum no
longer matches its content (a value edited by hand) is evaluated again, with a one-line
warning. `sbft train --no-cache` (or SBFT_NO_CACHE=1) neither reads nor writes the cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from sbft.errors import SbftError
from sbft.files import cache_root, write_json

FORMAT = 2
"""Part of every key: a change in what is cached, or how, makes older entries unreachable."""
NO_CACHE_VARIABLE = "SBFT_NO_CACHE"
_MAX_DEPTH = 6


@dataclass
class BaselineCache:
    """The cache entry of one baseline evaluation: `load` it, or `store` it once computed."""

    path: Path
    key: str

    doubt: str | None = None
    """Why an entry that was there was not used (damaged, edited): said once, then recomputed."""

    def load(self) -> dict[str, Any] | None:
        """The cached {"baseline_dev": ..., "baseline_test": ..., "created": ...}, or None.

        Never trusted: an entry of another shape, with a value that is not a finite number, or
        whose checksum does not match its content (edited by hand) is None, and `doubt` says why.
        """
        self.doubt = None
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            self.doubt = f"cannot be read ({error})"
            return None
        try:
            entry = json.loads(text)
        except ValueError:
            self.doubt = "is not valid JSON"
            return None
        self.doubt = _entry_doubt(entry, self.key)
        return None if self.doubt else entry

    def store(self, dev: dict[str, float], test: dict[str, float]) -> None:
        """Write the entry (atomically: concurrent runs read a whole file or none), with a checksum
        of its content."""
        entry = {"key": self.key, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        entry.update(baseline_dev=dev, baseline_test=test)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, {**entry, "checksum": checksum(entry)})
        except OSError:
            pass  # a cache that cannot be written only costs the next run its time


def checksum(entry: dict[str, Any]) -> str:
    """A digest of an entry's key, date and scores: a value edited by hand no longer matches."""
    content = {name: entry.get(name) for name in ("key", "created", "baseline_dev", "baseline_test")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _entry_doubt(entry: Any, key: str) -> str | None:
    """What is wrong with a cache entry read back, or None for one to use."""
    if not isinstance(entry, dict):
        return "is not a JSON object"
    if entry.get("key") != key:
        return "belongs to another key"
    for split in ("baseline_dev", "baseline_test"):
        scores = entry.get(split)
        if not isinstance(scores, dict):
            return f"has no {split} scores"
        for name, value in scores.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value):
                return f"has a {split} value that is not a finite number ({name}: {value!r})"
    if not isinstance(entry.get("created"), str):
        return "has no creation date"
    if entry.get("checksum") != checksum(entry):
        return "does not match its checksum (edited or damaged)"
    return None


def enabled() -> bool:
    """False when SBFT_NO_CACHE is set (to anything but 0 or empty): --no-cache for every run."""
    return os.environ.get(NO_CACHE_VARIABLE, "") in ("", "0")


def baseline_cache(model_spec: Any, model: Any, evaluators: list[Any]) -> BaselineCache:
    """The cache entry for scoring `model` (built from `model_spec`) with `evaluators`."""
    import sentence_transformers
    import torch
    import transformers

    from sbft.models import weights_checksum

    identity = {
        "format": FORMAT,
        # The weights as loaded, not the files: a head that sbft adds with random values (a
        # cross-encoder from a plain transformer) is another model on every run, never a stale hit.
        "weights": weights_checksum(model),
        "model_spec": canonical(model_spec),
        "device": str(getattr(model, "device", "cpu")).split(":")[0],
        "versions": [sentence_transformers.__version__, transformers.__version__, torch.__version__],
        "evaluators": [canonical(evaluator) for evaluator in evaluators],
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return BaselineCache(cache_root() / "baselines" / f"{key[:32]}.json", key)


def canonical(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON data, the same for equal contents: what a key is hashed from.

    Objects become their class and public attributes, functions their qualified names, sets
    sorted lists, arrays and tensors lists.
    """
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [canonical(item, depth + 1) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((canonical(item, depth + 1) for item in value), key=repr)
    if isinstance(value, dict):
        return {
            str(key): canonical(item, depth + 1)
            for key, item in sorted(value.items(), key=lambda kv: str(kv[0]))
        }
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays, torch tensors
        return value.tolist()
    if hasattr(value, "__len__") and hasattr(value, "__getitem__") and hasattr(value, "__iter__"):
        return [canonical(item, depth + 1) for item in value]  # other sequences: a datasets Column
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if is_dataclass(value) and not isinstance(value, type):
        return {"class": type(value).__qualname__, **canonical(asdict(value), depth + 1)}
    if depth < _MAX_DEPTH and hasattr(value, "__dict__"):
        public = {key: item for key, item in vars(value).items() if not key.startswith("_")}
        return {"class": type(value).__qualname__, **canonical(public, depth + 1)}
    return type(value).__qualname__


def baseline_scores(
    model_spec: Any,
    model: Any,
    dev: Any,
    test: Any,
    *,
    cache: bool = True,
    write: bool = True,
    say: Any = print,
) -> tuple[dict[str, float], dict[str, float]]:
    """The base model's dev and test results: from the cache when it holds them, else evaluated
    (and, with `write`, cached). `say` tells which."""
    from sbft.evaluation.evaluators import evaluate

    entry = baseline_cache(model_spec, model, [dev, test]) if cache and enabled() else None
    cached = entry.load() if entry is not None else None
    if cached is not None:
        say(f"baseline: cached ({cached['created']}; --no-cache evaluates the base model again)")
        return cached["baseline_dev"], cached["baseline_test"]
    if entry is not None and entry.doubt:
        say(f"warning: the cached baseline {entry.path} {entry.doubt}: evaluating the base model again")
    seen = _Seen(dev)
    scores = evaluate(seen if dev is not None else None, model), evaluate(test, model)
    _check_defined(seen.results, model_spec, say)
    if entry is not None and write:
        entry.store(*scores)
    return scores


class _Seen:
    """An evaluator that keeps what it returned: the NaN scores `evaluate` leaves out stay known."""

    def __init__(self, evaluator: Any) -> None:
        self.evaluator, self.results = evaluator, {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.results = self.evaluator(*args, **kwargs)
        return self.results


def _check_defined(results: dict[str, Any], model_spec: Any, say: Any) -> None:
    """The base model's dev scores are never NaN numbers: all NaN (constant or NaN embeddings) stops
    the run, as no score could judge training; some NaN are left out of the baseline, with a warning."""
    undefined = sorted(k for k, v in results.items() if isinstance(v, (int, float)) and math.isnan(v))
    if undefined and len(undefined) == sum(isinstance(v, (int, float)) for v in results.values()):
        raise SbftError(
            f"every dev score of the base model is undefined (nan: {', '.join(undefined)}): its "
            "embeddings are constant or NaN",
            where=str(getattr(model_spec, "name", "model")),
            fix="Check the model folder and its weights (a damaged or zeroed model.safetensors, a model "
            "saved after a diverged training); re-download it or name another model.",
        )
    if undefined:
        say(f"warning: the base model's dev scores {', '.join(undefined)} are undefined (nan): left out")
