"""A run folder read back (`RunRecord`), and what its metric names say.

metrics.json holds the baselines from the start, and the final and test metrics and the merged
evaluations once the run ends; metrics.jsonl has each log entry as it arrived, and is the only
record of the training-loss curve. So a record reads both, and works from the log alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sbft import run_folder
from sbft.errors import SbftError

# Kept in metrics.json, left out of tables and plots to keep them readable.
_DETAIL = re.compile(
    r"(runtime|per_second|threshold|precision@\d+|recall@\d+|accuracy@(3|5|10)|^sequential_score|^step|^epoch)"
    r"(_dim\d+)?$"
)
_TRUNCATED = re.compile(r"_dim(\d+)$")
"""Metrics of embeddings truncated to a size (Matryoshka): wikiqa_cosine_ndcg@10_dim128."""
# The metric that decides "better or worse" for a dataset, by evaluator (first match wins):
# similarity -> Spearman, retrieval/reranking -> nDCG, binary classification -> average precision.
_MAIN_METRICS = (r"spearman", r"ndcg@\d+$", r"(^|_)(ap|average_precision)$", r"f1_macro$", r"accuracy$")


@dataclass
class RunRecord:
    """Everything a report shows, read back from a run folder."""

    run_dir: Path
    status: str
    """finished, interrupted (stopped with a checkpoint), training (still running, or killed)."""
    recipe: dict[str, Any] = field(default_factory=dict)
    run_info: dict[str, Any] = field(default_factory=dict)
    baseline_dev: dict[str, float] = field(default_factory=dict)
    baseline_test: dict[str, float] = field(default_factory=dict)
    final_dev: dict[str, float] = field(default_factory=dict)
    """The fine-tuned model's dev metrics (also when the base model was the one saved)."""
    final_test: dict[str, float] = field(default_factory=dict)
    selected: str | None = None
    """Which model the run saved: 'fine-tuned', 'base' when fine-tuning made dev worse, or
    'merged R' for a mix of the two (R: the fine-tuned model's share; evaluation.merge_base)."""
    unchanged: bool = False
    """Training changed no weight: the saved model is the base model, bit for bit."""
    kept_step: int | None = None
    """The step whose weights the fine-tuned model has: the best evaluation's, or the last step."""
    merge_base: dict[str, Any] = field(default_factory=dict)
    """evaluation.merge_base: dev metrics by ratio of the fine-tuned model, the ratio shipped, the metric."""
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    losses: dict[int, float] = field(default_factory=dict)
    """Training loss by step (a resumed run logs some steps twice: the last one counts)."""
    max_steps: int | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def name(self) -> str:
        return self.recipe.get("name") or self.run_dir.resolve().name

    @property
    def tuned_dev(self) -> dict[str, float]:
        """The final dev metrics, or for an unfinished run those of its last evaluation."""
        if self.final_dev or not self.evaluations:
            return self.final_dev
        return {k: v for k, v in self.evaluations[-1].items() if k not in ("step", "epoch")}

    @property
    def tuned_label(self) -> str:
        if self.final_dev or not self.evaluations:
            return "fine-tuned"
        return f"step {self.evaluations[-1]['step']}"

    @property
    def comparisons(self) -> dict[str, tuple[dict[str, float], dict[str, float], str]]:
        """Per split: the base model's metrics, the tuned model's, and what to call the tuned one."""
        return {
            "dev": (self.baseline_dev, self.tuned_dev, self.tuned_label),
            "test": (self.baseline_test, self.final_test, "fine-tuned"),
        }

    @property
    def kept_epoch(self) -> float | None:
        """The epoch of the kept step, from the evaluation made there."""
        return next((e.get("epoch") for e in self.evaluations if e["step"] == self.kept_step), None)

    @property
    def dataset_names(self) -> list[str]:
        """From the recipe; else from per-dataset dev losses (`<name>_loss`) of multi-dataset runs."""
        if self.recipe.get("datasets"):
            return list(self.recipe["datasets"])
        return list(
            dict.fromkeys(k[: -len("_loss")] for e in self.evaluations for k in e if k.endswith("_loss"))
        )


def read_run(run_dir: Path) -> RunRecord:
    """Read a run folder: metrics.json as far as the run got, and metrics.jsonl for the rest."""
    if run_dir.is_file():
        inside = run_dir.parent
        holder = (inside / run_folder.METRICS).is_file() or (inside / run_folder.METRICS_LOG).is_file()
        fix = (
            f"Give the run folder that holds it, '{inside}'."
            if holder
            else "Give the folder `sbft train` wrote."
        )
        raise SbftError(f"'{run_dir}' is a file, not a run folder", fix=fix)
    if not run_dir.is_dir():
        raise SbftError(
            f"the run folder '{run_dir}' does not exist", fix="Give the folder `sbft train` wrote."
        )
    if run_folder.read_marker(run_dir) is None:
        raise SbftError(
            f"'{run_dir}' is not a run folder of sbft (it has no {run_folder.MARKER} marker)",
            fix="Give the folder `sbft train` wrote; sbft writes report.md only into its own run folders.",
        )
    summary_path, log_path = run_dir / run_folder.METRICS, run_dir / run_folder.METRICS_LOG
    if not summary_path.is_file() and not log_path.is_file():
        raise SbftError(
            f"'{run_dir}' holds neither {run_folder.METRICS} nor {run_folder.METRICS_LOG}",
            fix="Give a run folder written by `sbft train` (it logs from the first training step).",
        )
    summary = _read_json(summary_path) if summary_path.is_file() else {}
    log = run_folder.read_log(run_dir)  # a line cut short by a killed run is left out
    info_path = run_dir / run_folder.RUN_INFO
    record = RunRecord(
        run_dir=run_dir,
        # Runs from before the status field wrote metrics.json only once finished.
        status=_status(summary, run_folder.read_marker(run_dir) or {}),
        recipe=_read_yaml(run_dir / run_folder.RECIPE),
        run_info=_read_json(info_path) if info_path.is_file() else {},
        baseline_dev=summary.get("baseline_dev") or {},
        baseline_test=summary.get("baseline_test") or {},
        final_dev=summary.get("fine_tuned_dev") or summary.get("final_dev") or {},
        final_test=summary.get("fine_tuned_test") or summary.get("test") or {},
        selected=summary.get("selected"),
        unchanged=bool(summary.get("unchanged")),
        kept_step=summary.get("kept_step"),
        merge_base=summary.get("merge_base") or {},
        evaluations=summary.get("evaluations") or (run_folder.read_evaluations(run_dir) if log else []),
        training=summary.get("training") or {},
    )
    log = [entry for entry in log if isinstance(entry.get("step"), int)]  # an edited line is left out
    for entry in log:
        if isinstance(entry.get("loss"), int | float):
            record.losses[entry["step"]] = entry["loss"]
        elif "max_steps" in entry:
            record.max_steps = entry["max_steps"]
        elif "train_runtime" in entry and not record.training:
            record.training = {"steps": entry["step"], **entry}
    if not record.training and log:
        record.training = {"steps": log[-1]["step"], "epoch": log[-1].get("epoch")}
    return record


def _status(summary: dict[str, Any], marker: dict[str, Any]) -> str:
    """metrics.json's status, unless the run failed after writing it (while saving its report,
    say): a run is finished only once its marker says so."""
    status = summary.get("status", "finished") if summary else "training"  # old runs: no status
    if status == "finished" and marker.get("status") in ("stopped", "failed"):
        return "training"
    return status


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object the run wrote; anything else (edited, damaged) is a clear error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SbftError(f"'{path}' is not valid JSON ({exc})", fix=_DAMAGED) from None
    except OSError as exc:
        raise SbftError(f"cannot read '{path}' ({exc.strerror or exc})", fix=_UNREADABLE) from None
    if not isinstance(data, dict):
        raise SbftError(f"'{path}' holds a JSON {type(data).__name__}, not an object", fix=_DAMAGED)
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    """The run's recipe.yaml, read as strictly as a recipe (no alias bombs); {} when there is none."""
    from sbft.strict_yaml import parse_yaml

    if not path.is_file():
        return {}
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SbftError(f"'{path}' is not valid YAML{line} ({problem})", fix=_DAMAGED) from None
    except UnicodeDecodeError as exc:
        raise SbftError(f"'{path}' is not UTF-8 text (byte {exc.start})", fix=_DAMAGED) from None
    except OSError as exc:
        raise SbftError(f"cannot read '{path}' ({exc.strerror or exc})", fix=_UNREADABLE) from None
    if data is not None and not isinstance(data, dict):
        raise SbftError(f"'{path}' holds a YAML {type(data).__name__}, not a recipe", fix=_DAMAGED)
    return data or {}


_DAMAGED = (
    "sbft wrote it; was it edited by hand or cut short? Restore it from a backup, or train the run "
    "again (sbft train RECIPE -o RUN_DIR --overwrite)."
)
_UNREADABLE = "Check the file's permissions, or give another run folder."


# --- what the metric names say --------------------------------------------------------------


def split_metric(key: str, dataset_names: list[str]) -> tuple[str, str]:
    """'sts_spearman_cosine' -> ('sts', 'spearman_cosine'); ('', key) when no dataset prefixes it."""
    for name in sorted(dataset_names, key=len, reverse=True):
        if key.startswith(f"{name}_"):
            return name, key[len(name) + 1 :]
    return "", key


def headline_metrics(keys: Any) -> list[str]:
    """The metrics worth a table row or a plot line: no timings, thresholds or @k detail."""
    return [k for k in keys if not _DETAIL.search(k)]


def quality_metrics(keys: Any) -> list[str]:
    """Headline metrics that measure quality (higher is better): no losses, timings or @k detail."""
    return [k for k in headline_metrics(list(keys)) if k != "loss" and not k.endswith("_loss")]


def by_dataset(keys: list[str], dataset_names: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(split_metric(key, dataset_names)[0], []).append(key)
    return groups


def truncated_size(key: str) -> int | None:
    """The embedding size a metric was computed at, when truncated (`..._dim128` -> 128)."""
    found = _TRUNCATED.search(key)
    return int(found.group(1)) if found else None


def full_size(keys: Any) -> list[str]:
    """The metrics of full-size embeddings: the truncated ones get a plot of their own."""
    return [key for key in keys if truncated_size(key) is None]


def main_metric(keys: list[str]) -> str | None:
    """The metric the dataset's evaluator ranks models by (its primary metric), if recognised."""
    for pattern in _MAIN_METRICS:
        for key in keys:
            if re.search(pattern, key):
                return key
    return None
