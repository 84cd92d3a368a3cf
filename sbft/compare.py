"""`sbft compare RUN_DIR...`: several runs side by side, from what each run folder holds.

After a few tries with different losses or learning rates, what changed and what it did: the
recipe keys whose values differ between the runs (only those), each dataset's main metric on
dev and test for the base and the tuned model, wall time and the run folder's size.

Recipe values are compared as they resolved on this machine (run.json), so the same data file
named from two different run folders (`../../data/x.csv`, `../data/x.csv`) is no difference;
where each run is (output_dir, its checkpoints) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft import run_folder
from sbft.errors import SbftError
from sbft.report import RunRecord, format_number, main_metric, quality_metrics, read_run
from sbft.report.record import by_dataset
from sbft.report.tables import format_change

if TYPE_CHECKING:
    from rich.table import Table

SPLITS = ("dev", "test")
_LOCATIONS = ("output_dir", "training.output_dir")
"""Where each run is (sbft sets them from the run folder): not settings, they differ every time."""


@dataclass
class RunSummary:
    """One run, as the comparison shows it."""

    run_dir: Path
    status: str
    selected: str | None
    recipe: dict[str, Any]
    """The recipe flattened to dotted keys, values as written (where the run is left out)."""
    metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """split -> main metric of each dataset -> {"base": value, "tuned": value} (those it has)."""
    wall_time_s: float | None = None
    size_bytes: int = 0
    comparable: dict[str, Any] = field(default_factory=dict)
    """The recipe's values as compared: resolved where run.json says what they resolved to."""

    def to_dict(self, keys: list[str]) -> dict[str, Any]:
        return {
            "run": str(self.run_dir),
            "status": self.status,
            "selected": self.selected,
            "recipe": {key: self.recipe.get(key) for key in keys},
            "metrics": self.metrics,
            "wall_time_s": self.wall_time_s,
            "size_bytes": self.size_bytes,
        }


KEY_COLUMN_MAX = 32
"""The key column is given up to this many characters before the values share the width."""


@dataclass
class Comparison:
    runs: list[RunSummary]
    differing: list[str]
    """The recipe keys whose values differ between the runs, in recipe order."""

    def to_dict(self) -> dict[str, Any]:
        return {"differing": self.differing, "runs": [run.to_dict(self.differing) for run in self.runs]}

    def table(self, names: list[str]) -> Table:
        """One column per run (headed by `names`): the differing recipe keys, each main metric as
        base -> tuned (change), the status, wall time and size of the run folder."""
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="runs compared", title_justify="left")
        # Keys such as datasets.sts.files.train differ only at their end: never cut them short
        # (fold long words onto a second line instead), and give the key column room first.
        longest = max((len(key) for key in self.differing), default=0)
        table.add_column("", overflow="fold", min_width=min(longest, KEY_COLUMN_MAX))
        for name in names:
            table.add_column(escape(name), justify="right", overflow="fold")
        for key in self.differing:
            table.add_row(escape(key), *(escape(_text(run.recipe.get(key))) for run in self.runs))
        if not self.differing and len(self.runs) > 1:
            table.add_row("[dim]recipes[/]", *["[dim]the same[/]"] * len(self.runs))
        table.add_section()
        rows = dict.fromkeys(
            (split, name) for run in self.runs for split in run.metrics for name in run.metrics[split]
        )
        for split, name in rows:
            cells = (_change(run.metrics.get(split, {}).get(name, {})) for run in self.runs)
            table.add_row(f"{split} {escape(name)}", *cells)
        table.add_section()
        table.add_row(
            "status", *(run.status + (f" ({run.selected})" if run.selected else "") for run in self.runs)
        )
        table.add_row("wall time", *(_duration(run.wall_time_s) for run in self.runs))
        table.add_row("run folder", *(f"{run.size_bytes / 1e6:.1f} MB" for run in self.runs))
        return table


def compare_runs(run_dirs: list[Path]) -> Comparison:
    """Read each run folder and find what differs between them."""
    if not run_dirs:
        raise SbftError("give the run folders to compare", fix="For example: sbft compare runs/a runs/b")
    if len({path.resolve() for path in run_dirs}) != len(run_dirs):
        raise SbftError("a run folder is given twice", fix="Name each run folder once.")
    runs = [_summary(read_run(path)) for path in run_dirs]
    keys = list(dict.fromkeys(key for run in runs for key in run.comparable))
    differing = [key for key in keys if len({_hashable(run.comparable.get(key)) for run in runs}) > 1]
    return Comparison(runs, differing)


def _summary(record: RunRecord) -> RunSummary:
    info = record.run_info
    written = {key: value for key, value in _flatten(record.recipe, "").items() if key not in _LOCATIONS}
    resolved = {key: value for key, value in (info.get("resolved") or {}).items() if key in written}
    run = RunSummary(
        run_dir=record.run_dir,
        status=record.status,
        selected=record.selected,
        recipe=written,
        wall_time_s=info.get("wall_time_s"),
        size_bytes=run_folder.folder_size(record.run_dir),
    )
    run.comparable = {**run.recipe, **resolved}
    for split, (base, tuned, _) in record.comparisons.items():
        keys = quality_metrics(dict.fromkeys([*base, *tuned]))
        for group in by_dataset(keys, record.dataset_names).values():
            metric = main_metric(group)
            values = {"base": base.get(metric), "tuned": tuned.get(metric)}
            if metric is not None and any(value is not None for value in values.values()):
                run.metrics.setdefault(split, {})[metric] = {k: v for k, v in values.items() if v is not None}
    return run


def _flatten(data: Any, prefix: str) -> dict[str, Any]:
    """{'training': {'seed': 1}} -> {'training.seed': 1}; lists stay values."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (list, dict)) else value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _change(values: dict[str, float]) -> str:
    """'0.8672 -> 0.8945 (+0.0273)', green when better, red when worse; the one value there is."""
    base, tuned = values.get("base"), values.get("tuned")
    if base is None or tuned is None:
        return format_number(tuned if base is None else base) if values else "-"
    style = "green" if tuned > base else "red" if tuned < base else "dim"
    return f"{format_number(base)} -> {format_number(tuned)} [{style}]({format_change(base, tuned)})[/]"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
