"""sbft: fine-tune, evaluate and use sentence-embedding models from one YAML recipe."""

from importlib import metadata

try:
    __version__ = metadata.version("sbft")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
