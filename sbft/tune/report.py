"""What a study leaves in DIR: trials.jsonl, best.yaml, report.md with optuna's plots, and the live
table of trials on a terminal."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console

from sbft.files import atomic_write_text
from sbft.recipe import Recipe
from sbft.tune.study import BEST, PLOTS, REPORT, TRIALS_LOG

FINISHED = ("COMPLETE", "PRUNED", "FAIL")


def trial_line(trial: Any) -> dict[str, Any]:
    """One trial as trials.jsonl keeps it."""
    return {
        "number": trial.number,
        "params": trial.params,
        "value": trial.value if trial.state.name == "COMPLETE" else _last(trial),
        "state": trial.state.name,
        "seconds": trial.user_attrs.get("seconds"),
        "untuned": bool(trial.user_attrs.get("untuned")),
    }


def _last(trial: Any) -> float | None:
    """A pruned trial's value: its last dev evaluation."""
    values = trial.intermediate_values
    return values[max(values)] if values else None


def append_line(out_dir: Path, trial: Any) -> None:
    """One line as soon as a trial ends (appends are whole lines: several processes may write)."""
    with open(out_dir / TRIALS_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(trial_line(trial)) + "\n")


def write_lines(out_dir: Path, study: Any) -> None:
    """trials.jsonl again from the study: every finished trial, those of other processes too."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name in FINISHED]
    atomic_write_text(out_dir / TRIALS_LOG, "".join(json.dumps(trial_line(t)) + "\n" for t in trials))


def write_best(out_dir: Path, recipe: Recipe, params: dict[str, Any]) -> Path:
    """best.yaml: the recipe file with the best trial's values, read as `--set` reads them, without
    its tune section; paths are written relative to DIR, so that `sbft train DIR/best.yaml` works."""
    import yaml

    from sbft.recipe import dump_recipe, load_recipe
    from sbft.tune.space import overrides

    assert recipe.source is not None
    best = load_recipe(recipe.source, overrides(params), variables=recipe.variables)
    data = yaml.safe_load(dump_recipe(best, out_dir))
    for key in ("tune", "output_dir"):
        data.pop(key, None)
    values = ", ".join(f"{k}={v}" for k, v in params.items())
    head = f"# The best trial of `sbft tune {recipe.source}`: {values}\n"
    text = head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    atomic_write_text(out_dir / BEST, text)
    return out_dir / BEST


def plots(out_dir: Path, study: Any) -> list[str]:
    """optuna's optimization history and parameter importances as PNGs; notes for those not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    folder = out_dir / PLOTS
    folder.mkdir(exist_ok=True)
    notes = []
    for name, draw in (("history", optuna_plots.plot_optimization_history), ("importance", _importance)):
        try:
            axes = draw(study)
            axes.figure.set_size_inches(8, 5)
            axes.figure.tight_layout()
            axes.figure.savefig(folder / f"{name}.png", dpi=100)
        except Exception as error:  # too few trials for importances, a constant parameter...
            notes.append(f"{name}: not drawn ({error})")
        finally:
            plt.close("all")
    return notes


def _importance(study: Any) -> Any:
    from optuna.visualization import matplotlib as optuna_plots

    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    if len(complete) < 3:
        raise ValueError(f"{len(complete)} complete trials; importances need 3 or more")
    return optuna_plots.plot_param_importances(study)


def write_report(out_dir: Path, study: Any, summary: dict[str, Any], notes: list[str]) -> Path:
    """report.md: untuned against best on dev and test, every trial, wall time, the plots."""
    metric, trials = summary["metric"], [t for t in study.trials if t.state.name in FINISHED]
    names = sorted({k for t in trials for k in t.params})
    test = (
        "The test split is evaluated once, for the untuned and the best trial, after the search."
        if summary["has_test"]
        else "The recipe has no test split, so the study reports dev only."
    )
    lines = [f"# sbft tune: {summary['name']}", ""]
    lines += [
        f"Study `{summary['study']}` in {summary['storage']}: {len(trials)} trials "
        f"({_count(trials, 'COMPLETE')} complete, {_count(trials, 'PRUNED')} pruned, "
        f"{_count(trials, 'FAIL')} failed); trials compared on dev {metric} ({summary['direction']}). "
        + test,
        "",
        f"| | trial | dev {metric} | test {metric} | " + " | ".join(names) + " |",
        "|---|---|---|---|" + "---|" * len(names),
    ]
    for label in ("untuned", "best"):
        row = summary.get(label)
        if row:
            params = [_shown(row["params"].get(n)) for n in names]
            lines.append(
                f"| {label} | {row['number']} | {_shown(row['dev'])} | {_shown(row.get('test'))} | "
                + " | ".join(params)
                + " |"
            )
    seconds = [t.user_attrs["seconds"] for t in trials if t.user_attrs.get("seconds")]
    if seconds:
        lines += [
            "",
            f"Wall time per trial: median {statistics.median(seconds):.0f} s, "
            f"mean {statistics.mean(seconds):.0f} s, total {sum(seconds):.0f} s.",
        ]
    lines += ["", "## Trials", "", f"| # | state | dev {metric} | " + " | ".join(names) + " | seconds |"]
    lines.append("|---|---|---|" + "---|" * len(names) + "---|")
    for trial in trials:
        line = trial_line(trial)
        params = [_shown(trial.params.get(n)) for n in names]
        lines.append(
            f"| {trial.number} | {line['state']} | {_shown(line['value'])} | "
            + " | ".join(params)
            + f" | {_shown(line['seconds'], 0)} |"
        )
    lines += ["", "## Plots", ""]
    for name, title in (("history", "Optimization history"), ("importance", "Parameter importances")):
        if (out_dir / PLOTS / f"{name}.png").is_file():
            lines += [f"![{title}]({PLOTS}/{name}.png)", ""]
    lines += [f"- {note}" for note in notes]
    atomic_write_text(out_dir / REPORT, "\n".join(lines).rstrip() + "\n")
    return out_dir / REPORT


def _count(trials: list[Any], state: str) -> int:
    return sum(t.state.name == state for t in trials)


def _shown(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


class LiveTable:
    """The trials as a table that redraws on a terminal; elsewhere (a log), one line per trial."""

    def __init__(self, console: Console, metric: str) -> None:
        self.console, self.metric = console, metric
        self.rows: dict[int, dict[str, Any]] = {}
        self.live: Any = None

    def __enter__(self) -> LiveTable:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._table(), console=self.console, refresh_per_second=2, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, number: int, **fields: Any) -> None:
        row = self.rows.setdefault(number, {"state": "RUNNING", "params": {}, "dev": None, "seconds": None})
        row.update(fields)
        if self.live is not None:
            self.live.update(self._table())
        elif row["state"] != "RUNNING":
            params = ", ".join(f"{k}={_shown(v)}" for k, v in row["params"].items())
            self.console.print(
                f"trial {number} {row['state'].lower()}: dev {self.metric} {_shown(row['dev'])} "
                f"({_shown(row['seconds'], 0)} s) {params}",
                highlight=False,
                soft_wrap=True,
            )

    def _table(self) -> Any:
        from rich.table import Table

        names = sorted({k for row in self.rows.values() for k in row["params"]})
        table = Table(title="sbft tune: trials", title_justify="left")
        for column in ["#", "state", f"dev {self.metric}", *names, "seconds"]:
            table.add_column(column, justify="right" if column != "state" else "left")
        for number, row in sorted(self.rows.items()):
            params = [_shown(row["params"].get(n)) for n in names]
            table.add_row(str(number), row["state"], _shown(row["dev"]), *params, _shown(row["seconds"], 0))
        return table
