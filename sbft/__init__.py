"""sbft: fine-tune, evaluate and use sentence-embedding models from one YAML recipe."""


def __getattr__(name: str) -> str:
    """`sbft.__version__`, read on first use: importlib.metadata costs 40 ms of every start-up."""
    if name != "__version__":
        raise AttributeError(f"module 'sbft' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("sbft")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0.0.0"
