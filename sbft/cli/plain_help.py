"""How sbft's help reads: the words a shell user expects, not Python's types.

Typer shows each parameter's Python type (`<bool>` after a flag, `<list[str]>`, `<path>`) and
writes a required argument as `{recipe}`. sbft's help writes them the way click and most Unix
tools do: flags bare, values as TEXT, INTEGER, FLOAT or PATH (or the option's own metavar, such
as KEY=VALUE), arguments in capitals, and only the optional ones in brackets:
`sbft check [OPTIONS] RECIPE`, `sbft train [OPTIONS] [RECIPE]`.

Typer builds its own parameter objects, so the commands and the group re-class theirs (and the
help option they make on demand) to the subclasses below, which change nothing but the display.
"""

from __future__ import annotations

import inspect
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

_VALUE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH"}
"""Typer's type names -> the words click has always shown for a value."""


class PlainArgument(TyperArgument):
    """An argument shown by its name in capitals; the name already says what it takes."""

    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw + ("..." if self.nargs != 1 and self.metavar is None else "")
        return [name if self.required else f"[{name}]"]


class PlainOption(TyperOption):
    """A flag shown bare; an option that takes a value shows its metavar, else TEXT, INTEGER..."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return self.metavar
        label = self.display_type(ctx).strip("<>")
        if label.startswith("list[") and label.endswith("]"):  # a repeatable option: one value each time
            label = label[len("list[") : -1]
        return _VALUE_WORDS.get(label, label)


def _plain(params: list[Any]) -> list[Any]:
    for param in params:
        if type(param) is TyperArgument:
            param.__class__ = PlainArgument
        elif type(param) is TyperOption:
            param.__class__ = PlainOption
    return params


class PlainCommand(TyperCommand):
    """A command whose help and usage line read as described above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


def reflow(text: str | None) -> str | None:
    """A docstring's paragraphs as single lines, for the terminal to wrap at its own width.

    Typer keeps a docstring's line breaks, so a paragraph wrapped at 100 columns in the source
    reads ragged in an 80-column terminal (and leaves a lone word such as "again)" on a line of
    its own in a pipe). Paragraphs with indented or bulleted lines (examples, lists) keep theirs.
    """
    if not text:
        return text
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.splitlines()
        kept = any(line.startswith((" ", "-", "*", "\b")) for line in lines)
        paragraphs.append(paragraph if kept else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


class PlainGroup(TyperGroup):
    """The `sbft` group itself, with the same help style (its --version, completion options)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))
