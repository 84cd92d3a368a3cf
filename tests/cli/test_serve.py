"""`sbft serve`: the wiring of its failures before serving (the server itself: tests/serve/)."""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.helpers import REPO


def test_a_port_in_use_exits_2_before_loading(cli, tiny_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", tiny_model, "--port", port)
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "--port" in result.stderr


def test_a_model_that_does_not_load_exits_2(cli, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    result = cli("serve", folder, "--port", "0")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and "broken" in result.stderr


def test_bad_settings_exit_2(cli, tiny_model, tiny_cross_encoder):
    assert "--max-queue must be at least 1" in cli("serve", tiny_model, "--max-queue", "0").stderr
    assert "not a TCP port" in cli("serve", tiny_model, "--port", "70000").stderr
    both = cli("serve", tiny_cross_encoder, "--reranker", tiny_cross_encoder, "--port", "0")
    assert both.exit_code == 2 and "serves /rerank itself" in both.stderr


def test_help_imports_no_web_stack():
    heavy = "{'fastapi', 'uvicorn', 'torch'}"
    code = f"import sys; from sbft.cli import app; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
