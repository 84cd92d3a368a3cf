"""`sbft losses [NAME]`: the supported losses, rendered from the catalogue that validates recipes.

The list reads only `sbft.losses.catalogue` (instant); `sbft losses NAME` also imports the loss
class to show its real arguments and their documentation, which takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sbft.cli import app, user_errors

if TYPE_CHECKING:
    from rich.console import Console

    from sbft.losses import LossInfo

# How each LossInfo field reads in the detail view; fields added later show under their own name.
_FIELD_LABELS = {
    "inputs": "input columns",
    "label": "label",
    "summary": "when to use",
    "label_range": "label values",
    "wrapper": "wraps another loss",
    "filled": "filled in by sbft",
    "listwise": "listwise",
}
_HIDDEN_ARGS = ("self", "model", "loss")


@app.command()
@user_errors
def losses(
    name: Annotated[
        str | None,
        typer.Argument(help="Show one loss in detail: arguments and an example.", show_default=False),
    ] = None,
    model_type: Annotated[
        str | None,
        typer.Option("--type", help="Only the losses of this model type (bi-encoder, cross-encoder)."),
    ] = None,
) -> None:
    """List the losses a recipe accepts: inputs, label, and when to use each."""
    from rich.console import Console

    console = Console(highlight=False)
    types = _model_types(model_type)
    if name is None:
        for chosen in types:
            _print_catalogue(console, chosen)
        console.print(
            "In a recipe: 'loss: NAME', or 'loss: {name: NAME, args: {...}}'. "
            "`sbft losses NAME` shows a loss's arguments and an example.",
            soft_wrap=True,
        )
        return
    for chosen, info in _find(name, types):
        _print_detail(console, chosen, info)


def _model_types(model_type: str | None) -> tuple[str, ...]:
    from sbft.errors import SbftError, did_you_mean
    from sbft.losses import MODEL_TYPES

    if model_type is None:
        return MODEL_TYPES
    if model_type not in MODEL_TYPES:
        raise SbftError(
            f"unknown model type '{model_type}'", where="--type", fix=did_you_mean(model_type, MODEL_TYPES)
        )
    return (model_type,)


def _find(name: str, types: tuple[str, ...]) -> list[tuple[str, LossInfo]]:
    """Every model type's entry for `name` (exact, else case-insensitive), or an error naming the closest."""
    from sbft.errors import SbftError, closest, did_you_mean
    from sbft.losses import catalogue

    found = []
    for model_type in types:
        losses = catalogue(model_type)
        match = name if name in losses else next((n for n in losses if n.lower() == name.lower()), None)
        if match:
            found.append((model_type, losses[match]))
    if not found:
        known = {loss.lower(): loss for model_type in types for loss in catalogue(model_type)}
        match = closest(name.lower(), known)  # CoSENT and cosent are the same guess
        partial = sorted(loss for lowered, loss in known.items() if name.lower() in lowered)
        if match:
            guess = f"Did you mean '{known[match]}'?"
        elif 0 < len(partial) <= 5:
            guess = f"Did you mean one of: {', '.join(partial)}?"
        else:
            guess = did_you_mean(name, known.values())
        raise SbftError(f"unknown loss '{name}'", fix=guess + " `sbft losses` lists them all.")
    return found


def _label_text(info: LossInfo) -> str:
    if info.wrapper:
        return "as the inner loss"
    text = {None: "none", "scores": "list of scores"}.get(info.label, str(info.label))
    if info.label_range is not None:
        low, high = info.label_range
        text += f" {low:g}/{high:g}" if info.label == "class" else f" in {low:g}..{high:g}"
    return text


def _print_catalogue(console: Console, model_type: str) -> None:
    """Two lines a loss (name, inputs, label; then when to use): readable at any terminal width."""
    from rich.markup import escape

    from sbft.losses import catalogue

    console.print(f"[bold underline]{model_type} losses[/] (model.type: {model_type})\n")
    for info in catalogue(model_type).values():
        console.print(
            f"  [bold]{info.name}[/] · {escape(info.inputs)} · label: {_label_text(info)}", soft_wrap=True
        )
        _say(console, f"      {info.summary}")
    console.print()


def _print_detail(console: Console, model_type: str, info: LossInfo) -> None:
    console.print(f"[bold]{info.name}[/] ({model_type} loss)")
    for line in _info_lines(info):
        _say(console, f"  {line}")
    loss_class, error = _loss_class(model_type, info.name, console)
    if loss_class is None:
        _say(console, f"\n  (arguments unavailable: {error})")
        return
    description, arg_docs = _docs(loss_class)
    if description:
        _say(console, f"\n  {description}")
    arguments = _arguments(loss_class)
    if arguments:
        console.print("\n  [bold]arguments[/] (under 'args:' in the recipe):")
        width = max(len(arg) for arg in arguments)
        for arg, default in arguments.items():
            note = " (filled in by sbft)" if arg in info.filled else ""
            _say(console, f"    {arg:<{width}}  = {default}{note}  {arg_docs.get(arg, '')}".rstrip())
    console.print("\n  [bold]example[/]:")
    for line in _example(model_type, info, arguments):
        _say(console, f"    {line}")
    console.print()


def _say(console: Console, text: str) -> None:
    """Text from the catalogue or docstrings: brackets in it are data, not rich markup."""
    console.print(text, markup=False, soft_wrap=True)


def _info_lines(info: LossInfo) -> list[str]:
    """Every catalogue field with a value, so new fields show up without changes here."""
    lines = []
    maximum = "or more" if info.max_inputs is None else f"to {info.max_inputs}"
    count = str(info.min_inputs) if info.min_inputs == info.max_inputs else f"{info.min_inputs} {maximum}"
    for field in dataclasses.fields(info):
        value = getattr(info, field.name)
        if field.name in ("name", "min_inputs", "max_inputs") or value in (None, False, (), ""):
            continue
        if field.name == "label":
            value = _label_text(info)
        elif field.name == "inputs":
            value = f"{value}  ({count} columns)"
        elif isinstance(value, tuple):
            value = ", ".join(str(v) for v in value)
        elif value is True:
            value = "yes"
        lines.append(f"{_FIELD_LABELS.get(field.name, field.name.replace('_', ' '))}: {value}")
    return lines


def _loss_class(model_type: str, name: str, console: Console) -> tuple[Any, str | None]:
    import importlib

    from sbft.losses import LOSS_MODULES

    try:
        with console.status("reading the loss from sentence-transformers..."):
            return getattr(importlib.import_module(LOSS_MODULES[model_type]), name), None
    except (ImportError, AttributeError) as exc:
        return None, str(exc)


def _arguments(loss_class: Any) -> dict[str, str]:
    """Argument -> default as text ('required' when none), from the real signature."""
    import inspect

    arguments = {}
    for arg, param in inspect.signature(loss_class.__init__).parameters.items():
        if arg in _HIDDEN_ARGS or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = param.default
        if default is param.empty:
            arguments[arg] = "required"
        else:
            arguments[arg] = getattr(default, "__name__", None) or repr(default)
    return arguments


def _docs(loss_class: Any) -> tuple[str, dict[str, str]]:
    """The docstring's first paragraph and its (Google-style) 'Args:' entries."""
    import inspect

    doc = inspect.getdoc(loss_class.__init__) or ""
    if "Args:" not in doc:
        doc = inspect.getdoc(loss_class) or doc
    description = " ".join(doc.split("\n\n")[0].split())
    arg_docs: dict[str, str] = {}
    lines = doc.split("Args:", 1)[1].splitlines() if "Args:" in doc else []
    current = None
    for line in lines[1:]:
        if line.strip() and not line.startswith(" "):
            break  # the next section (References:, Requirements:...)
        entry = re.match(r"\s{2,6}(\w+)(?: \(.*?\))?:\s*(.*)", line)
        if entry:
            current = entry.group(1)
            arg_docs[current] = entry.group(2)
        elif current and line.strip():
            arg_docs[current] += " " + line.strip()
    return _plain(description), {arg: _first_sentence(_plain(text)) for arg, text in arg_docs.items()}


def _plain(text: str) -> str:
    """reStructuredText roles and literals (:class:`~x.Y`, ``z``) as plain words, on one line."""
    text = re.sub(r":\w+:`~?(?:[\w.]*\.)?([^`]+)`", r"\1", text)
    return " ".join(text.replace("``", "").split())


def _first_sentence(text: str) -> str:
    found = re.match(r"(.*?(?<!e\.g)(?<!i\.e)\.)(\s|$)", text)
    return found.group(1) if found else text


def _example(model_type: str, info: LossInfo, arguments: dict[str, str]) -> list[str]:
    """A dataset entry of a recipe that uses the loss, with columns named as the catalogue names them."""
    from sbft.losses import catalogue

    inner = None
    if info.wrapper:
        losses = catalogue(model_type)
        inner = losses.get("MultipleNegativesRankingLoss") or next(
            i for i in losses.values() if not i.wrapper
        )
    shape = inner or info
    required = {
        arg: "TODO" for arg, default in arguments.items() if default == "required" and arg not in info.filled
    }
    lines = ["model:", "  name: sentence-transformers/all-MiniLM-L6-v2"]
    if model_type != "bi-encoder":
        lines.append(f"  type: {model_type}")
    lines += [
        "datasets:",
        "  my_data:",
        "    files: {train: train.jsonl, dev: dev.jsonl}",
        f"    columns: [{', '.join(_column_names(shape))}]",
    ]
    if shape.label is not None:
        lines.append(f"    label: {'score' if shape.label == 'score' else 'label'}")
    if not required and inner is None:
        lines.append(f"    loss: {info.name}")
        return lines
    lines += ["    loss:", f"      name: {info.name}"]
    if required:
        lines.append(
            "      args: {"
            + ", ".join(f"{arg}: {value}" for arg, value in required.items())
            + "}  # required: see above"
        )
    if inner is not None:
        lines.append(f"      inner: {inner.name}")
    return lines


def _column_names(info: LossInfo) -> list[str]:
    """'(anchor, positive[, negative...]), no label' -> [anchor, positive]: the required columns."""
    found = re.match(r"\(([^)]*)\)", info.inputs)
    names = [part.strip(" []") for part in found.group(1).split(",")] if found else []
    names = [n for n in names if re.fullmatch(r"\w+", n)][: info.min_inputs]
    return names + [f"column{i}" for i in range(len(names) + 1, info.min_inputs + 1)]
