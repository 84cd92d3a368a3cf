"""Benchmarks of sbft against plain sentence-transformers; not a test, numbers for the README.

    .venv/bin/python scripts/bench.py                    # every section, real settings (~20 min, 2 cores)
    .venv/bin/python scripts/bench.py encode --texts 2000 --repeats 5
    .venv/bin/python scripts/bench.py --quick --model PATH --out /tmp/bench   # a smoke run (tests)

Sections (each a function in SECTIONS that returns a Section; results go to OUT/<section>.md
and OUT/<section>.json, OUT defaulting to benchmarks/):

- startup: wall time of `sbft --help` and `sbft train --help` against `python -c pass`, and of
  the small commands (encode 10 lines, similarity, search over a cached corpus) with
  --backend onnx (no torch) against --backend torch.
- train: `sbft train scripts/bench_recipe.yaml` against scripts/plain_train.py, the same
  model, first N STSb pairs, loss, seed and training arguments; what each trainer received is
  recorded by scripts/trainer_inputs.py and must be identical (rows, label dtype, batch order,
  weights, random states, threads, logged losses); and sbft with length-grouped batches: the
  trainer's samples/s, tokens computed and real, the whole command, the fine-tuned model's final
  dev Spearman.
- encode: `sbft encode` on STSb sentences, with --backend torch, onnx and onnx-int8, against
  scripts/plain_encode.py (model.encode); texts/s once loaded, the whole command, STSb test
  Spearman of each backend through `sbft eval`.

One file over 400 lines on purpose: it is run as a script (scripts/ is no package), and its
sections share the measuring helpers and the output; scripts/trainer_inputs.py (what a trainer
received) and scripts/bench_gpu.py (the GPU numbers) are apart because they run elsewhere.

Every measured command runs in its own process, so each side's peak memory (max RSS, from
wait4) is its own. The sides of a section run alternately, REPEATS times, in a rotating
order, and the tables give medians, so that a busy machine does not decide a comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
STSB_DIR = REPO.parent / "shared" / "data" / "stsb"
STSB_FILES = ("sts-train.csv", "sts-dev.csv", "sts-test.csv")
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")
GOALS = {
    "startup_s_max": 0.5,
    "small_command_s_max": 1.5,
    "train_throughput_ratio_min": 0.98,
    "length_grouped_ratio_min": 1.3,
    "length_grouped_spearman_max": 0.003,
    "second_run_ratio_max": 1.1,
    "encode_ratio_min": 0.95,
    "backend_speedup_min": 2.0,
    "backend_spearman_loss_max": 0.3,
}
TRAINING_SETTINGS = (
    "num_train_epochs",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "learning_rate",
    "warmup_steps",
    "lr_scheduler_type",
    "seed",
    "data_seed",
    "eval_strategy",
    "save_strategy",
    "load_best_model_at_end",
    "batch_sampler",
    "gradient_accumulation_steps",
    "max_grad_norm",
    "weight_decay",
    "optim",
    "fp16",
    "bf16",
)
"""Training arguments that change what is computed: sbft's and the plain script's must agree."""


@dataclass
class Config:
    model: str = DEFAULT_MODEL
    texts: int = 10_000
    repeats: int = 3
    startup_repeats: int = 10
    train_samples: int = 1024
    batch_size: int = 32
    backends: tuple[str, ...] = BACKENDS
    out: Path = REPO / "benchmarks"
    stsb_dir: Path = STSB_DIR
    quick: bool = False


@dataclass
class Section:
    name: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    goals: list[tuple[str, str, bool]] = field(default_factory=list)
    """(goal, what was measured, met)."""
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- running and measuring -------------------------------------------------------------------


@dataclass
class Measured:
    wall_s: float
    max_rss_mb: float
    stdout: str
    stderr: str


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `command`; its wall time and its own peak memory (max RSS of that process).

    A child reports at least the memory of the process it was forked from (Linux carries the
    parent's high-water mark through fork and exec), and this script holds hundreds of MB. So
    a small launcher (this file, stdlib only: `_measure`) starts the command and reads its
    wait4 usage: the command's figure then starts from the launcher's ~10 MB.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report = Path(tmp) / "measured.json"
        launcher = [sys.executable, str(Path(__file__).resolve()), "_measure", str(report), "--", *command]
        subprocess.run(launcher, stdout=out, stderr=err, env=env or environment(), cwd=REPO, check=False)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
        result = json.loads(report.read_text()) if report.exists() else {"returncode": -1}
    if result["returncode"] != 0:
        raise SystemExit(f"failed ({result['returncode']}): {' '.join(command)}\n{stderr[-4000:]}")
    return Measured(result["wall_s"], result["max_rss_kb"] / 1024, stdout, stderr)


def launch_and_report(report: str, command: list[str]) -> int:
    """The launcher of `measure`: run `command` and write its wall time, max RSS and exit code."""
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    result = {"wall_s": wall, "max_rss_kb": usage.ru_maxrss, "returncode": os.waitstatus_to_exitcode(status)}
    Path(report).write_text(json.dumps(result))
    return 0


def alternate(repeats: int, sides: dict[str, Callable[[], dict[str, Any]]], label: str) -> list[dict]:
    """Each side once per repeat, the order rotating by one each time; one dict per repeat."""
    names = list(sides)
    runs = []
    for repeat in range(repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        run: dict[str, Any] = {"repeat": repeat + 1, "order": order}
        for name in order:
            run[name] = sides[name]()
        runs.append(run)
        print(f"  {label} {repeat + 1}/{repeats} done", file=sys.stderr)
    return runs


def median(runs: list[dict], side: str, key: str) -> float:
    return statistics.median(run[side][key] for run in runs)


def sbft_command(*args: str) -> list[str]:
    """The installed `sbft` entry point (what users run), else `python -m sbft`."""
    script = Path(sys.executable).with_name("sbft")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "sbft", *args]


def environment(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


def stsb_sentences(folder: Path, count: int) -> list[str]:
    """sentence1 and sentence2 of every row of train, dev, test (in that order): the first `count`."""
    sentences: list[str] = []
    for name in STSB_FILES:
        with open(folder / name, encoding="utf-8", newline="") as file:
            for row in csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE):
                sentences += [row[5], row[6]]
                if len(sentences) >= count:
                    return sentences[:count]
    raise SystemExit(f"STSb has only {len(sentences)} sentences, fewer than --texts {count}")


def write_lines(path: Path, texts: list[str]) -> Path:
    """One text per line, as `sbft encode` and plain_encode.py read them."""
    path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
    return path


def model_path(config: Config) -> str:
    from sbft.models import resolve_model_path

    return resolve_model_path(config.model)


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


# --- startup ---------------------------------------------------------------------------------


def startup_section(config: Config) -> Section:
    """How long a command takes when it has little to do.

    `sbft --help` and `sbft train --help` against `python -c pass` (the interpreter alone); then
    the small commands (encode 10 lines, similarity, search over a cached corpus) with
    --backend onnx on an exported model, which run without torch (sbft.inference.lite), against
    the same commands with --backend torch, which import sentence-transformers.
    """
    help_commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "sbft --help": sbft_command("--help"),
        "sbft train --help": sbft_command("train", "--help"),
    }
    with tempfile.TemporaryDirectory() as folder:
        env = environment(SBFT_CACHE=str(Path(folder) / "cache"))
        small = _small_commands(config, Path(folder), env)
        warm_up = [*help_commands.values(), *(c("onnx") for c in small.values())]
        for command in [*warm_up, small["sbft search (cached)"]("torch")]:
            measure(command, env)  # file cache, bytecode, and each backend's corpus cache
        help_runs = alternate(config.startup_repeats, _timed(help_commands, env), "startup")
        fast = {name: command("onnx") for name, command in small.items()}
        slow = {name: command("torch") for name, command in small.items()}
        fast_runs = alternate(config.startup_repeats, _timed(fast, env), "small commands, onnx")
        slow_runs = alternate(config.repeats, _timed(slow, env), "small commands, torch")
    walls = {name: median(help_runs, name, "wall_s") for name in help_commands}
    rss = {name: median(help_runs, name, "max_rss_mb") for name in help_commands}
    fast_walls = {name: median(fast_runs, name, "wall_s") for name in small}
    fast_rss = {name: median(fast_runs, name, "max_rss_mb") for name in small}
    slow_walls = {name: median(slow_runs, name, "wall_s") for name in small}
    limit, small_limit = GOALS["startup_s_max"], GOALS["small_command_s_max"]
    rows = [(name, f"{walls[name]:.3f}", f"{rss[name]:.0f}", "") for name in help_commands]
    rows += [
        (
            f"{name} --backend onnx",
            f"{fast_walls[name]:.3f}",
            f"{fast_rss[name]:.0f}",
            f"{slow_walls[name]:.2f}",
        )
        for name in small
    ]
    goals = [(f"{name} < {limit} s", f"{walls[name]:.3f} s", walls[name] < limit) for name in list(walls)[1:]]
    goals += [
        (
            f"{name} --backend onnx <= {small_limit} s",
            f"{fast_walls[name]:.3f} s",
            fast_walls[name] <= small_limit,
        )
        for name in small
    ]
    return Section(
        "startup",
        f"Start-up: median of {config.startup_repeats} alternating runs "
        f"({config.repeats} for the torch column)",
        ("command", "wall time, s", "peak memory (max RSS), MB", "same with --backend torch, s"),
        rows,
        goals,
        {
            "commands": {n: " ".join(c) for n, c in help_commands.items()},
            "small_commands": {n: " ".join(c) for n, c in fast.items()},
            "median_wall_s": walls,
            "small_commands_median_wall_s": {"onnx": fast_walls, "torch": slow_walls},
            "runs": help_runs,
            "small_command_runs": {"onnx": fast_runs, "torch": slow_runs},
        },
        [
            "Peak memory counts from the benchmark's launcher process (about 17 MB): "
            "`python -c pass` alone peaks near 10 MB.",
            f"Small commands use {config.model}, exported once beforehand (`sbft export`, untimed). "
            "With --backend onnx they run on tokenizers, onnxruntime and numpy alone "
            "(sbft.inference.lite); with --backend torch they import sentence-transformers, "
            f"transformers and torch. The search corpus is {SEARCH_CORPUS:,} STSb sentences whose "
            "embeddings are cached (--corpus-embeddings) by an untimed first run of each backend.",
        ],
    )


SEARCH_CORPUS = 1000
"""STSb sentences in the startup section's search corpus."""


def _small_commands(
    config: Config, folder: Path, env: dict[str, str]
) -> dict[str, Callable[[str], list[str]]]:
    """encode (10 lines), similarity, search (cached corpus): each a command line for a backend."""
    sentences = stsb_sentences(config.stsb_dir, SEARCH_CORPUS)
    lines = write_lines(folder / "ten.txt", sentences[:10])
    corpus = write_lines(folder / "corpus.txt", sentences)
    measure(sbft_command("export", config.model), env)
    model = config.model

    def encode(backend: str) -> list[str]:
        output = str(folder / f"ten-{backend}.npy")
        return sbft_command("encode", model, str(lines), "-o", output, "--overwrite", "--backend", backend)

    def similarity(backend: str) -> list[str]:
        return sbft_command("similarity", model, sentences[0], sentences[1], "--backend", backend)

    def search(backend: str) -> list[str]:
        cache = ["--corpus-embeddings", str(folder / f"corpus-{backend}.npy")]
        return sbft_command(
            "search", model, "a dog runs", "--corpus", str(corpus), *cache, "--backend", backend
        )

    return {"sbft encode (10 lines)": encode, "sbft similarity": similarity, "sbft search (cached)": search}


def _timed(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, Callable[[], dict[str, Any]]]:
    def side(command: list[str]) -> Callable[[], dict[str, Any]]:
        return lambda: {"wall_s": (m := measure(command, env)).wall_s, "max_rss_mb": m.max_rss_mb}

    return {name: side(command) for name, command in commands.items()}


# --- train -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSide:
    title: str
    sbft_options: tuple[str, ...] | None = None
    """Options of `sbft train` after the recipe's; None: the plain script."""


TRAIN_SIDES = {
    "plain": TrainSide("plain script"),
    "sbft": TrainSide(
        "sbft train, random batches", ("--set", "training.batch_sampler=batch_sampler", "--no-cache")
    ),
    "length": TrainSide("sbft train, length-grouped", ("--set", "training.batch_sampler=length_grouped")),
}
"""The training comparison's sides. sbft with the plain script's random batches must receive the
same inputs and train the same model; with length-grouped batches (sbft.sampling) it should train
faster to the same score."""
FIRST_RUN = TrainSide(
    "a first run", ("--set", "training.max_steps=1", "--set", "training.learning_rate=3e-5", "--no-smoke")
)
"""Untimed, before the sides: a run of the same recipe with another learning rate."""
INPUT_PARTS = ("train_dataset", "eval_dataset", "evaluator", "loss", "model", "state", "batches", "losses")
"""What scripts/trainer_inputs.py records of a trainer.train() call, compared between sides."""
EVALUATOR_NAMES = ("name", "csv_file", "csv_headers", "primary_metric", "write_csv")
"""Evaluator fields that only name its metrics or its CSV log (sbft names it after the dataset)."""


def train_section(config: Config) -> Section:
    """sbft train (bench_recipe.yaml) vs plain_train.py: same model, data, loss, seed, arguments.

    Each side runs under scripts/trainer_inputs.py, which records what its trainer received
    (rows, label dtype, order of the batches, weights, random states, threads) and the losses it
    logged: sbft with random batches must receive exactly what the plain script does. It runs with
    --no-cache (the base model evaluated every time); the length-grouped side, sbft's default for
    this recipe, runs as the second run of a recipe does: an untimed one-step run with another
    learning rate has cached the base model's scores.
    """
    with tempfile.TemporaryDirectory() as folder:
        env = environment(STSB_DIR=str(config.stsb_dir), SBFT_CACHE=str(Path(folder) / "cache"))
        env.pop("SBFT_NO_CACHE", None)
        first = _train_side(config, "first", FIRST_RUN, Path(folder), env)
        first()  # fills the baseline cache
        sides = {
            name: _train_side(config, name, side, Path(folder), env) for name, side in TRAIN_SIDES.items()
        }
        runs = alternate(config.repeats, sides, "train")
    return _train_results(config, runs)


def _train_side(
    config: Config, name: str, side: TrainSide, folder: Path, env: dict[str, str]
) -> Callable[[], dict[str, Any]]:
    """One run of a side: its timings, final dev Spearman, training arguments and recorded inputs."""
    run_dir, record = folder / f"{name}-run", folder / f"{name}-inputs.json"
    if side.sbft_options is None:
        command = [str(SCRIPTS / "plain_train.py"), model_path(config), str(config.stsb_dir)]
        command += ["--samples", str(config.train_samples), "--output-dir", str(run_dir)]
    else:
        command = [
            "-m",
            "sbft",
            "train",
            str(SCRIPTS / "bench_recipe.yaml"),
            "-o",
            str(run_dir),
            "--overwrite",
        ]
        command += ["--quiet", "--set", f"model.name={config.model}"]
        command += ["--set", f"datasets.stsb.max_samples={config.train_samples}", *side.sbft_options]
    wrapped = [sys.executable, str(SCRIPTS / "trainer_inputs.py"), str(record), "--", *command]

    def run() -> dict[str, Any]:
        if side.sbft_options is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        measured = measure(wrapped, env)
        inputs = json.loads(record.read_text())[-1]  # the last call: the real run (sbft smokes first)
        if side.sbft_options is None:
            result = json.loads(measured.stdout.strip().splitlines()[-1])
            training, arguments, spearman = result["training"], result["args"], result["final_dev_spearman"]
        else:
            metrics = json.loads((run_dir / "metrics.json").read_text())
            training, arguments = (
                metrics["training"],
                json.loads((run_dir / "training_args.json").read_text()),
            )
            # The fine-tuned model's score: sbft keeps the base model instead when fine-tuning lowered
            # the dev score (`evaluation.keep: best`), and reports the fine-tuned one apart.
            spearman = _spearman(metrics.get("fine_tuned_dev") or metrics["final_dev"])
        return {
            "wall_s": measured.wall_s,
            "max_rss_mb": measured.max_rss_mb,
            "samples_per_s": training["train_samples_per_second"],
            "train_runtime_s": training["train_runtime"],
            "final_dev_spearman": spearman,
            "kept": None if side.sbft_options is None else _kept(run_dir),
            "args": {key: arguments.get(key) for key in TRAINING_SETTINGS},
            "inputs": inputs,
        }

    return run


def _kept(run_dir: Path) -> dict[str, Any]:
    """Which model sbft saved, and its dev Spearman."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"selected": metrics["selected"], "final_dev_spearman": _spearman(metrics["final_dev"])}


def _train_results(config: Config, runs: list[dict]) -> Section:
    sides = list(TRAIN_SIDES)
    keys = ("samples_per_s", "train_runtime_s", "wall_s", "max_rss_mb")
    values = {key: {side: median(runs, side, key) for side in sides} for key in keys}
    spearmen = {side: {run[side]["final_dev_spearman"] for run in runs} for side in sides}
    tokens = {side: runs[0][side]["inputs"]["tokens"] for side in sides}

    def cell(side: str, key: str, digits: int) -> str:
        relative = f" ({values[key][side] / values[key]['plain']:.3f}x)" if side != "plain" else ""
        return f"{values[key][side]:.{digits}f}{relative}"

    rows = [
        ("training throughput, samples/s", *(cell(s, "samples_per_s", 2) for s in sides)),
        ("training loop (trainer), s", *(f"{values['train_runtime_s'][s]:.1f}" for s in sides)),
        ("whole command, s", *(cell(s, "wall_s", 1) for s in sides)),
        ("peak memory (max RSS), MB", *(f"{values['max_rss_mb'][s]:.0f}" for s in sides)),
        ("final dev Spearman (fine-tuned model)", *(_spearman_text(spearmen[s]) for s in sides)),
        ("tokens computed / real (padding)", *(_tokens_text(tokens[s]) for s in sides)),
    ]
    goals, notes = _train_goals(runs, values, spearmen)
    kept = runs[0]["sbft"]["kept"]
    notes.append(
        f"sbft kept the {kept['selected']} model (`evaluation.keep: best`: the base model competes), whose "
        f"dev Spearman is {kept['final_dev_spearman']:.6f}; the Spearman compared is the fine-tuned "
        "model's on every side (sbft reports it as fine_tuned_dev when it keeps the base model)."
    )
    return Section(
        "train",
        f"Training: {config.model}, first {config.train_samples} STSb train/dev pairs, "
        f"CosineSimilarityLoss, 1 epoch, batch 32; median of {config.repeats} alternating runs",
        ("measure", *(TRAIN_SIDES[s].title for s in sides)),
        rows,
        goals,
        {"median": values, "tokens": tokens, **_comparison(runs), "runs": runs},
        notes,
    )


def _comparison(runs: list[dict]) -> dict[str, Any]:
    """The comparison of sbft (random batches) with the plain script: arguments and trainer inputs."""
    differing = sorted(
        {
            key
            for run in runs
            for key in TRAINING_SETTINGS
            if run["sbft"]["args"][key] != run["plain"]["args"][key]
        }
    )
    return {
        "settings_differing": differing,
        "trainer_inputs": {part: _same_inputs(runs, part) for part in INPUT_PARTS},
    }


def _train_goals(
    runs: list[dict], values: dict[str, dict[str, float]], spearmen: dict[str, set[float]]
) -> tuple[list[tuple[str, str, bool]], list[str]]:
    speed, data = values["samples_per_s"], _comparison(runs)
    throughput = speed["sbft"] / speed["plain"]
    identical = len(spearmen["sbft"] | spearmen["plain"]) == 1
    unequal = [part for part, same in data["trainer_inputs"].items() if not same]
    goals = [
        (
            f"random batches: throughput ratio >= {GOALS['train_throughput_ratio_min']}",
            f"{throughput:.3f}",
            throughput >= GOALS["train_throughput_ratio_min"],
        ),
        (
            "random batches: identical final dev Spearman",
            "identical" if identical else "different",
            identical,
        ),
        (
            "random batches: identical trainer inputs and logged losses",
            ", ".join(unequal) or "identical",
            not unequal,
        ),
        (
            "identical training arguments",
            ", ".join(data["settings_differing"]) or "identical",
            not data["settings_differing"],
        ),
    ]
    grouped, second_run = (
        speed["length"] / speed["plain"],
        values["wall_s"]["length"] / values["wall_s"]["plain"],
    )
    gap = max(abs(a - b) for a in spearmen["length"] for b in spearmen["plain"])
    goals += [
        (
            f"length-grouped: throughput >= {GOALS['length_grouped_ratio_min']}x plain",
            f"{grouped:.3f}x",
            grouped >= GOALS["length_grouped_ratio_min"],
        ),
        (
            f"length-grouped: final dev Spearman within {GOALS['length_grouped_spearman_max']} of plain",
            f"{gap:.4f}",
            gap <= GOALS["length_grouped_spearman_max"],
        ),
        (
            f"second run (baseline cached): whole command <= {GOALS['second_run_ratio_max']}x plain",
            f"{second_run:.3f}x",
            second_run <= GOALS["second_run_ratio_max"],
        ),
    ]
    states = {side: runs[0][side]["inputs"]["state"] for side in ("plain", "sbft")}
    extra = values["wall_s"]["sbft"] - values["wall_s"]["plain"]
    notes = [
        "Trainer inputs, plain script vs sbft with random batches (recorded by scripts/trainer_inputs.py "
        "as trainer.train() starts; batches: a hash of every training batch the loss received, in order; "
        "losses: the losses the trainer logged): "
        + "; ".join(
            f"{part} {'identical' if same else 'DIFFERENT'}" for part, same in data["trainer_inputs"].items()
        )
        + ". As training starts: "
        + "; ".join(
            f"{side} torch RNG {state['torch_rng']}, Python RNG {state['python_rng']}, "
            f"{state['torch_threads']} torch threads, CPU kernels {state['cpu_capability']}"
            for side, state in states.items()
        )
        + ".",
        f"sbft with random batches takes {extra:+.1f} s over the plain script's whole command: the smoke "
        "run, the base model's dev and test evaluations (--no-cache), the test evaluation of the result, "
        "the run folder and report.md. The length-grouped side finds the base model's scores in the "
        "baseline cache, written by an untimed run of the same recipe with another learning rate "
        "(`sbft train` keys them by the weights as loaded, the evaluation data and settings, not by "
        "the training settings).",
    ]
    return goals, notes


def _same_inputs(runs: list[dict], part: str) -> bool:
    def seen(side: str) -> list[str]:
        return [json.dumps(_comparable(part, run[side]["inputs"][part]), sort_keys=True) for run in runs]

    return seen("plain") == seen("sbft")


def _comparable(part: str, value: Any) -> Any:
    """A recorded part without what only names things (metric names, file names)."""
    if part == "evaluator":
        return {key: item for key, item in value.items() if key not in EVALUATOR_NAMES}
    return value


def _tokens_text(tokens: dict[str, int]) -> str:
    padding = 1 - tokens["real"] / tokens["computed"] if tokens["computed"] else 0
    return f"{tokens['computed']:,} / {tokens['real']:,} ({padding:.0%})"


def _spearman(metrics: dict[str, float]) -> float:
    return next(v for k, v in metrics.items() if k.endswith("spearman_cosine"))


def _spearman_text(values: set[float]) -> str:
    return " / ".join(f"{v:.6f}" for v in sorted(values))


# --- encode ----------------------------------------------------------------------------------


def encode_section(config: Config) -> Section:
    """plain model.encode vs sbft encode on each backend: texts/s, whole command, memory, Spearman."""
    import numpy as np

    texts = stsb_sentences(config.stsb_dir, config.texts)
    path = model_path(config)
    with tempfile.TemporaryDirectory() as folder:
        source = write_lines(Path(folder) / "texts.txt", texts)
        # Exports go to a fresh cache (the packaged model's folder is an installed package): timed once.
        env = environment(SBFT_CACHE=str(Path(folder) / "cache"))
        onnx = [b for b in config.backends if b != "torch"]
        exported = measure(sbft_command("export", config.model, "--quantize", "int8"), env) if onnx else None

        def plain_side(texts_file: Path = source) -> dict[str, Any]:
            command = [sys.executable, str(SCRIPTS / "plain_encode.py"), path, str(texts_file)]
            measured = measure(
                [*command, str(Path(folder) / "plain.npy"), "--batch-size", str(config.batch_size)]
            )
            result = json.loads(measured.stdout.strip().splitlines()[-1])
            return {
                "wall_s": measured.wall_s,
                "max_rss_mb": measured.max_rss_mb,
                "texts_per_s": result["texts"] / result["encode_s"],
            }

        def sbft_side(backend: str) -> Callable[..., dict[str, Any]]:
            def run(texts_file: Path = source) -> dict[str, Any]:
                output = Path(folder) / f"{backend}.npy"
                command = sbft_command(
                    "encode", config.model, str(texts_file), "-o", str(output), "--overwrite"
                )
                command += ["--stats", "--batch-size", str(config.batch_size), "--backend", backend]
                measured = measure(command, env)
                stats = json.loads(measured.stderr.strip().splitlines()[-1])
                return {
                    "wall_s": measured.wall_s,
                    "max_rss_mb": measured.max_rss_mb,
                    "texts_per_s": stats["encode_texts_per_s"],
                }

            return run

        sides = {"plain": plain_side, **{b: sbft_side(b) for b in config.backends}}
        warm_up = write_lines(Path(folder) / "warm-up.txt", texts[:256])  # file cache, first loads
        for run in sides.values():
            run(warm_up)
        runs = alternate(config.repeats, sides, "encode")
        plain = np.load(Path(folder) / "plain.npy")
        differences = {
            b: float(np.abs(np.load(Path(folder) / f"{b}.npy") - plain).max()) for b in config.backends
        }
        spearman = {b: _eval_spearman(config, b, env) for b in config.backends}

    names = list(sides)
    values = {
        key: {n: median(runs, n, key) for n in names} for key in ("texts_per_s", "wall_s", "max_rss_mb")
    }
    speed = values["texts_per_s"]
    torch_speed = speed.get("torch")
    heads = {"plain": "plain model.encode", **{b: f"sbft --backend {b}" for b in config.backends}}

    def relative(name: str) -> str:
        return f" ({speed[name] / speed['plain']:.2f}x)" if name != "plain" else ""

    rows = [
        ("texts/s, once loaded (x plain)", *(f"{speed[n]:,.0f}{relative(n)}" for n in names)),
        ("whole command, s", *(f"{values['wall_s'][n]:.1f}" for n in names)),
        ("peak memory (max RSS), MB", *(f"{values['max_rss_mb'][n]:.0f}" for n in names)),
        ("STSb test Spearman x 100", "", *(f"{100 * spearman[b]:.2f}" for b in config.backends)),
        ("largest difference from plain", "", *(f"{differences[b]:.1e}" for b in config.backends)),
    ]
    goals = []
    if torch_speed:
        encode_ratio = torch_speed / speed["plain"]
        goals.append(
            (
                f"sbft (torch) / plain >= {GOALS['encode_ratio_min']}",
                f"{encode_ratio:.3f}",
                encode_ratio >= GOALS["encode_ratio_min"],
            )
        )
        for backend in onnx:
            gain, loss = speed[backend] / speed["plain"], 100 * (spearman["torch"] - spearman[backend])
            goals.append(
                (
                    f"{backend}: >= {GOALS['backend_speedup_min']}x plain, Spearman loss <= "
                    f"{GOALS['backend_spearman_loss_max']} points",
                    f"{gain:.2f}x plain ({speed[backend] / torch_speed:.2f}x sbft torch), {loss:+.2f} points",
                    gain >= GOALS["backend_speedup_min"] and loss <= GOALS["backend_spearman_loss_max"],
                )
            )
    notes = [
        "With an export whose fast start was checked (`sbft export` checks it), `sbft encode --backend "
        "onnx|onnx-int8` runs on tokenizers, onnxruntime and numpy alone (sbft.inference.lite): no torch "
        "in the process. The Spearman column comes from `sbft eval --backend`, which runs the same ONNX "
        "file inside sentence-transformers."
    ]
    if exported is not None:
        notes.append(
            f"`sbft export {config.model} --quantize int8` (fp32 and int8, once) took "
            f"{exported.wall_s:.1f} s; later runs load the files. {exported.stdout.strip()}"
        )
    return Section(
        "encode",
        f"Encoding {len(texts):,} STSb sentences: {config.model}, batch {config.batch_size}; "
        f"median of {config.repeats} alternating runs",
        ("measure", *(heads[n] for n in names)),
        rows,
        goals,
        {
            "median": values,
            "spearman": spearman,
            "max_abs_diff": differences,
            "export_s": exported.wall_s if exported else None,
            "runs": runs,
        },
        notes,
    )


def _eval_spearman(config: Config, backend: str, env: dict[str, str]) -> float:
    command = sbft_command("eval", config.model, str(config.stsb_dir / "sts-test.csv"), "--json")
    scores = json.loads(measure([*command, "--backend", backend], env).stdout)
    return _spearman(next(iter(scores.values())))


VECTOR_FLAGS = ("avx", "amx", "fma", "f16c", "sse4", "vnni", "asimd", "sve")
"""The CPU flags a benchmark records: the vector instructions kernels are chosen by."""

SECTIONS: dict[str, Callable[[Config], Section]] = {
    "startup": startup_section,
    "train": train_section,
    "encode": encode_section,
}


# --- output ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import sentence_transformers
    import torch

    from sbft.inference.exports import cpu_flags, quantization_target
    from sbft.inference.threads import physical_cores

    try:
        import onnxruntime

        onnxruntime_version = onnxruntime.__version__
    except ImportError:
        onnxruntime_version = None
    cpu_name = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    return {
        "cpu": cpu_name,
        "cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "int8_kernels": quantization_target(),
        "cpu_flags": [flag for flag in cpu_flags() if flag.startswith(VECTOR_FLAGS)],
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "onnxruntime": onnxruntime_version,
        "load_average_at_start": os.getloadavg(),
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def table(section: Section) -> str:
    rows = [section.header, *section.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(section.header))]
    lines = [section.title, ""]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines += [f"goal: {goal}: {value}: {met(ok)}" for goal, value, ok in section.goals]
    return "\n".join(lines)


def markdown(section: Section, about: dict[str, Any]) -> str:
    lines = [f"# {section.title}", ""]
    lines += ["| " + " | ".join(section.header) + " |", "|" + "---|" * len(section.header)]
    lines += ["| " + " | ".join(row) + " |" for row in section.rows]
    if section.goals:
        lines += ["", "| goal | measured | |", "|---|---|---|"]
        lines += [f"| {goal} | {value} | {met(ok)} |" for goal, value, ok in section.goals]
    loads = ", ".join(f"{load:.2f}" for load in section.data.get("load_average_at_end", ()))
    lines += ["", *[note + "\n" for note in section.notes], machine_line(about)]
    lines += ["", f"Load average at the end of this section: {loads}.", ""]
    lines += ["Written by `python scripts/bench.py`; the raw runs are in the .json file beside this one."]
    return "\n".join(lines) + "\n"


def machine_line(about: dict[str, Any]) -> str:
    gpu = about["cuda"] or "no GPU"
    return (
        f"Machine: {about['cpu']}, {about['cpus']} CPUs ({about['physical_cores']} physical cores, int8 "
        f"kernels {about['int8_kernels']}), {about['memory_gb']} GB, {gpu}; CPU flags "
        f"{' '.join(about['cpu_flags']) or 'unknown'}; {about['platform']}; Python "
        f"{about['python']}, torch {about['torch']}, sentence-transformers {about['sentence_transformers']}, "
        f"onnxruntime {about['onnxruntime']}. Load average at start: "
        + ", ".join(f"{load:.2f}" for load in about["load_average_at_start"])
        + "."
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        return launch_and_report(argv[1], argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", help=f"of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--texts", type=int, help="texts to encode (default 10000; 50 with --quick)")
    parser.add_argument("--repeats", type=int, help="alternating runs per side (default 3; 1 with --quick)")
    parser.add_argument(
        "--train-samples", type=int, help="STSb pairs to train on (default 1024; 64 with --quick)"
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="sbft encode backends, comma-separated"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks", help="folder for .md and .json")
    parser.add_argument("--stsb-dir", type=Path, default=STSB_DIR)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 1 repeat")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")
    backends = tuple(args.backends.split(","))
    if not set(backends) <= set(BACKENDS):
        parser.error(f"--backends: choose among {', '.join(BACKENDS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = Config(
        model=args.model,
        texts=args.texts or (50 if args.quick else 10_000),
        repeats=args.repeats or (1 if args.quick else 3),
        startup_repeats=2 if args.quick else 10,
        train_samples=args.train_samples or (64 if args.quick else 1024),
        batch_size=args.batch_size,
        backends=backends,
        out=args.out,
        stsb_dir=args.stsb_dir,
        quick=args.quick,
    )
    about = machine()
    config.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for name in args.sections or SECTIONS:
        section_started = time.perf_counter()
        section = SECTIONS[name](config)
        section.data["seconds"] = round(time.perf_counter() - section_started, 1)
        section.data["load_average_at_end"] = os.getloadavg()
        print(table(section) + "\n")
        (config.out / f"{name}.md").write_text(markdown(section, about), encoding="utf-8")
        data = {
            "config": {**vars(config), "out": str(config.out), "stsb_dir": str(config.stsb_dir)},
            "goals": GOALS,
            **section.data,
            "machine": about,
        }
        (config.out / f"{name}.json").write_text(
            json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8"
        )
        print(
            f"wrote {config.out / (name + '.md')} and {name}.json ({section.data['seconds']:.0f} s)",
            file=sys.stderr,
        )
    print(f"bench: {time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
