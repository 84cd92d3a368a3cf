"""What `sbft losses` shows about a loss: its data, when to use it, its real arguments and an example.

The catalogue (sbft.families) says what a loss reads; the arguments, their defaults and their
documentation come from the sentence-transformers class itself, read from its source file (no
import: torch would take seconds) or, where the source does not say, imported; so they are
never out of date. The example is a recipe entry that passes validation.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

from sbft.errors import SbftError, closest, did_you_mean
from sbft.families import DEFAULT, FAMILIES, LossInfo, family

_HIDDEN_ARGS = ("self", "model", "loss")
# How LossInfo fields read in a description; fields added later show under their own name.
_FIELD_LABELS = {"wrapper": "wraps another loss", "filled": "filled in by sbft", "listwise": "listwise"}
_SAID_ELSEWHERE = ("name", "inputs", "min_inputs", "max_inputs", "label", "label_range", "summary")


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    """The default as Python writes it, or 'required'."""
    doc: str
    """The first sentence of its docstring entry ('' when undocumented)."""
    filled: bool
    """sbft fills it in from the model or the data."""


@dataclass(frozen=True)
class LossDescription:
    name: str
    family: str
    inputs: str
    """The data it reads, label included (`data_text`), and how many columns."""
    summary: str
    """When to use it, from the catalogue."""
    notes: tuple[str, ...]
    """The catalogue's other facts, one 'what: value' line each (wraps another loss: yes...)."""
    doc: str
    """The class docstring's first paragraph, as plain text."""
    arguments: tuple[Argument, ...]
    example: tuple[str, ...]
    """A recipe using the loss, one YAML line each."""
    unavailable: str | None = None
    """Why the class could not be read (then there are no doc, arguments or example)."""


def data_text(info: LossInfo) -> str:
    """'(sentence1, sentence2) + score in 0..1': the input columns and the label, each said once."""
    text = info.inputs
    if info.label_range is not None and not info.wrapper:
        low, high = info.label_range
        values = f"{low:g}/{high:g}" if info.label == "class" else f"in {low:g}..{high:g}"
        if values not in text:
            text += f" {values}"
    return text


def find_losses(name: str, family_names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(family, catalogue name) for `name` in each family that has it, case aside; else a guess."""
    found = []
    for family_name in family_names:
        losses = family(family_name).losses
        match = name if name in losses else next((n for n in losses if n.lower() == name.lower()), None)
        if match:
            found.append((family_name, match))
    if found:
        return found
    known = {loss.lower(): loss for family_name in family_names for loss in family(family_name).losses}
    match = closest(name.lower(), known)  # CoSENT and cosent are the same guess
    partial = sorted(loss for lowered, loss in known.items() if name.lower() in lowered)
    if match:
        guess = f"Did you mean '{known[match]}'?"
    elif 0 < len(partial) <= 5:
        guess = f"Did you mean one of: {', '.join(partial)}?"
    else:
        guess = did_you_mean(name, known.values())
    raise SbftError(f"unknown loss '{name}'", fix=guess + " `sbft losses` lists them all.")


def describe(name: str, family_name: str) -> LossDescription:
    """Everything about one catalogued loss of a family, its class read from sentence-transformers."""
    owner = family(family_name)
    if name not in owner.losses:
        raise SbftError(f"unknown {family_name} loss '{name}'", fix=did_you_mean(name, owner.losses))
    info = owner.losses[name]
    maximum = "or more" if info.max_inputs is None else f"to {info.max_inputs}"
    count = str(info.min_inputs) if info.min_inputs == info.max_inputs else f"{info.min_inputs} {maximum}"
    known = dict(
        name=name,
        family=family_name,
        inputs=f"{data_text(info)}  ({count} columns)",
        summary=info.summary,
        notes=_notes(info),
    )
    read = _from_source(owner.loss_module, name)
    if read is None:  # not found in the source as written: import the class (torch, seconds)
        try:
            loss_class = owner.loss_class(name)
        except (ImportError, AttributeError) as exc:
            return LossDescription(**known, doc="", arguments=(), example=(), unavailable=str(exc))
        read = _signature(loss_class), inspect.getdoc(loss_class.__init__) or "", inspect.getdoc(loss_class)
    signature, init_doc, class_doc = read
    doc, arg_docs = _docs(init_doc, class_doc or "")
    arguments = tuple(
        Argument(arg, default, arg_docs.get(arg, ""), arg in info.filled)
        for arg, default in signature.items()
    )
    return LossDescription(
        **known, doc=doc, arguments=arguments, example=_example(family_name, info, arguments)
    )


def _notes(info: LossInfo) -> tuple[str, ...]:
    """Every other catalogue field with a value, so new fields show up without changes here."""
    notes = []
    for field in dataclasses.fields(info):
        value = getattr(info, field.name)
        if field.name in _SAID_ELSEWHERE or value in (None, False, (), ""):
            continue
        if isinstance(value, tuple):
            value = ", ".join(str(v) for v in value)
        elif value is True:
            value = "yes"
        notes.append(f"{_FIELD_LABELS.get(field.name, field.name.replace('_', ' '))}: {value}")
    return tuple(notes)


def _signature(loss_class: type) -> dict[str, str]:
    """Argument -> default as text ('required' when none), from the real signature."""
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


def _from_source(module: str, name: str) -> tuple[dict[str, str], str, str] | None:
    """(signature, __init__'s docstring, the class's docstring) read from the loss's source file
    without importing it: `sbft losses NAME` answers at once instead of importing torch. None when
    the class is not where the package's __init__ says, or has no __init__ of its own."""
    try:
        found = importlib.util.find_spec(module.split(".")[0])  # finds the top package, imports nothing
        if found is None or not found.submodule_search_locations:
            return None
        folder = Path(found.submodule_search_locations[0], *module.split(".")[1:])
        source = _defining_file(folder, name)
        tree = ast.parse(source.read_text(encoding="utf-8")) if source else None
    except (OSError, SyntaxError, ValueError):
        return None
    cls = (
        next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None) if tree else None
    )
    init = (
        next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if cls
        else None
    )
    if init is None:
        return None
    arguments = init.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = [
        *zip(positional, defaults, strict=True),
        *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True),
    ]
    signature = {
        arg.arg: "required" if default is None else _default_text(default)
        for arg, default in pairs
        if arg.arg not in _HIDDEN_ARGS
    }
    return signature, ast.get_docstring(init) or "", ast.get_docstring(cls) or ""


def _defining_file(package: Path, name: str) -> Path | None:
    """The file that defines `name`, from the package __init__'s `from .module import name`."""
    init = package / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 1
            and node.module
            and any(alias.name == name and alias.asname in (None, name) for alias in node.names)
        ):
            candidate = package.joinpath(*node.module.split(".")).with_suffix(".py")
            return candidate if candidate.is_file() else None
    return None


def _default_text(node: ast.expr) -> str:
    """A default as written, its module prefix dropped (util.pairwise_cos_sim -> pairwise_cos_sim)."""
    qualified = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    if qualified and node.value.id.islower():  # a module (util, nn), not a class (SiameseDistanceMetric)
        return node.attr
    return ast.unparse(node)


def _docs(init_doc: str, class_doc: str) -> tuple[str, dict[str, str]]:
    """The docstring's first paragraph and its (Google-style) 'Args:' entries."""
    doc = init_doc
    if "Args:" not in doc:
        doc = class_doc or doc
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


def _example(family_name: str, info: LossInfo, arguments: tuple[Argument, ...]) -> tuple[str, ...]:
    """A recipe that uses the loss, with columns named as the catalogue names them."""
    losses = FAMILIES[family_name].losses
    inner = None
    if info.wrapper:
        inner = losses.get("MultipleNegativesRankingLoss") or next(
            i for i in losses.values() if not i.wrapper
        )
    shape = inner or info
    required = [arg.name for arg in arguments if arg.default == "required" and not arg.filled]
    model = "sentence-transformers/all-MiniLM-L6-v2"
    if info.needs_head == "fill-mask":  # SpladeLoss: the packaged MiniLM has no masked-language head
        model = "PATH/TO/A-MASKED-LM  # a ...ForMaskedLM model, e.g. a local copy of bert-base-uncased"
    lines = ["model:", f"  name: {model}"]
    if family_name != DEFAULT.name:
        lines.append(f"  type: {family_name}")
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
        return tuple(lines)
    lines += ["    loss:", f"      name: {info.name}"]
    if required:
        lines.append(
            "      args: {" + ", ".join(f"{arg}: TODO" for arg in required) + "}  # required: see above"
        )
    if inner is not None:
        lines.append(f"      inner: {inner.name}")
    return tuple(lines)


def _column_names(info: LossInfo) -> list[str]:
    """'(anchor, positive[, negative...]), no label' -> [anchor, positive]: the required columns."""
    found = re.match(r"\(([^)]*)\)", info.inputs)
    names = [part.strip(" []") for part in found.group(1).split(",")] if found else []
    names = [n for n in names if re.fullmatch(r"\w+", n)][: info.min_inputs]
    return names + [f"column{i}" for i in range(len(names) + 1, info.min_inputs + 1)]
