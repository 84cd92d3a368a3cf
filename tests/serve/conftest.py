"""A real `sbft serve` process on 127.0.0.1 (port 0: the free port it prints), and the models it serves."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import REPO

PROMPTS = {"query": "query: ", "document": "passage: "}
READY_S = 600
"""Seconds a server may take to load (torch's import on a busy 2-core machine: minutes beside a benchmark)."""


@dataclass
class Server:
    """A running `sbft serve`: its base URL, process and the stderr lines it printed."""

    url: str
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def stop(self) -> int:
        """SIGTERM, then its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@contextlib.contextmanager
def running_server(*args: str) -> Iterator[Server]:
    """`sbft serve ARGS --port 0` in a subprocess, ready to answer; stopped (SIGTERM) at the end."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sbft", "serve", *map(str, args), "--port", "0"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    found: queue.Queue[str | None] = queue.Queue()

    def read() -> None:  # keeps the pipe drained for the server's whole life
        for line in process.stderr:
            lines.append(line)
            match = re.search(r" on (http://\S+) ", line)
            if match:
                found.put(match.group(1))
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        url = found.get(timeout=READY_S)
    except queue.Empty:
        url = None
    server = Server(url or "", process, lines)
    try:
        if url is None:
            raise AssertionError(f"sbft serve did not start: {''.join(lines)}")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def prompted_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT as a SentenceTransformer with query/document prompts and a Normalize module."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    folder = tmp_path_factory.mktemp("prompted")
    transformer = Transformer(str(tiny_model))
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), "mean"), Normalize()]
    SentenceTransformer(modules=modules, prompts=PROMPTS).save(str(folder))
    return folder
