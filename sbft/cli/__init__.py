"""The command line: thin typed functions, one module per verb, that call the library.

Heavy libraries (torch, transformers, sentence-transformers) are imported inside commands,
so `sbft --help` stays instant.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated, Any

import typer

from sbft.cli.plain_help import PlainCommand, PlainGroup
from sbft.errors import SbftError


class _App(typer.Typer):
    """Typer, with every command's help in sbft's style (see plain_help)."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or PlainCommand, **kwargs)


app = _App(
    name="sbft",
    cls=PlainGroup,
    help="Fine-tune, evaluate and use sentence-embedding models from one YAML recipe.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from sbft import __version__  # read only now: importlib.metadata costs every start-up

        typer.echo(f"sbft {__version__}")
        raise typer.Exit()


@app.callback()
def _sbft(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", is_eager=True, callback=_print_version, help="Print sbft's version and exit."
        ),
    ] = False,
) -> None:
    """sbft's own options, given before the command: --version (the help text is app's)."""


def user_errors(command):
    """Print an SbftError as one paragraph on stderr and exit with code 2, no traceback.

    The library names the parameter at fault (`where="threads"`); users read the flag they typed.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SbftError as error:
            _print_error(error)
            raise typer.Exit(2) from None
        except Exception as error:  # a full or read-only disk, from any library: one paragraph too
            from sbft.files import disk_error

            found = disk_error(error, kept="Files that were there are left as they were.")
            if found is None:
                raise
            _print_error(found)
            raise typer.Exit(2) from None

    return wrapper


def _print_error(error: SbftError) -> None:
    from rich.console import Console
    from rich.markup import escape

    error.where = _as_flag(error.where)
    # escape: text such as "pip install 'sbft[adapters]'" is not markup
    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)


def _as_flag(where: str | None) -> str | None:
    """The current command's flag for a parameter named `where` (threads -> --threads), its argument
    (model.name -> MODEL, for `sbft similarity MODEL ...`), else `where`."""
    try:  # typer 0.20+ runs its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context

    context = get_current_context(silent=True)
    if where is None or context is None:
        return where
    for parameter in context.command.params:
        if parameter.param_type_name == "argument" and where in (parameter.name, f"{parameter.name}.name"):
            return (getattr(parameter, "metavar", None) or parameter.name).upper()  # MODEL, not a recipe key
        if parameter.param_type_name != "option":
            continue
        flags = [flag for flag in parameter.opts if flag.startswith("--")] or parameter.opts
        if where == parameter.name or where in (flag.lstrip("-").replace("-", "_") for flag in flags):
            return flags[0]
    return where


def main() -> None:
    """The `sbft` program.

    A reader that leaves early (`sbft --help | head -1`, `sbft encode ... | head`) is no error:
    typer and rich end with exit code 1 when stdout's pipe breaks, and the program then exits 0.
    """
    from sbft.quiet import no_progress_bars_in_logs

    no_progress_bars_in_logs()
    stdout = _watch(sys.stdout)
    try:
        app(prog_name="sbft")
    except SystemExit as exit:
        if exit.code == 1 and _reader_left(stdout):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())  # nothing left to flush
            raise SystemExit(0) from None
        raise


def _watch(stream: Any) -> int | None:
    """A duplicate of `stream`'s descriptor: it still shows the pipe after rich points fd 1 at /dev/null."""
    try:
        return os.dup(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no real file (tests' runner, a closed stream)
        return None


def _reader_left(descriptor: int | None) -> bool:
    """Whether `descriptor` is a pipe whose reading end has been closed."""
    import select

    if descriptor is None or not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(descriptor, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _register_commands() -> None:
    """Import every verb module of this package; each registers its command on `app`.

    Verb modules import nothing heavy at module level, so this keeps `sbft --help` instant.
    """
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register_commands()
