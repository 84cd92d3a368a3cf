"""The command line: thin typed functions, one module per verb, that call the library.

Heavy libraries (torch, transformers, sentence-transformers) are imported inside commands,
so `sbft --help` stays instant.
"""

from __future__ import annotations

import functools

import typer

from sbft.errors import SbftError

app = typer.Typer(
    name="sbft",
    help="Fine-tune, evaluate and use sentence-embedding models from one YAML recipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def user_errors(command):
    """Print an SbftError as one paragraph on stderr and exit with code 2, no traceback.

    The library names the parameter at fault (`where="threads"`); users read the flag they typed.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SbftError as error:
            from rich.console import Console

            error.where = _as_flag(error.where)
            Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {error}", soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _as_flag(where: str | None) -> str | None:
    """The current command's flag for a parameter named `where` (threads -> --threads), else `where`."""
    try:  # typer 0.20+ runs its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context

    context = get_current_context(silent=True)
    if where is None or context is None:
        return where
    for parameter in context.command.params:
        if parameter.param_type_name != "option":
            continue
        flags = [flag for flag in parameter.opts if flag.startswith("--")] or parameter.opts
        if where == parameter.name or where in (flag.lstrip("-").replace("-", "_") for flag in flags):
            return flags[0]
    return where


@app.command()
def version() -> None:
    """Print the sbft version."""
    from sbft import __version__

    typer.echo(__version__)


def main() -> None:
    app(prog_name="sbft")


def _register_commands() -> None:
    """Import every verb module of this package; each registers its command on `app`.

    Verb modules import nothing heavy at module level, so this keeps `sbft --help` instant.
    """
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register_commands()
