"""Full and read-only disks, for every command that writes a file (issue 25, case 9): the
destination is checked before any work, and a write that fails for want of space is one paragraph
(exit 2) that keeps what was there.

The tests run as root, which chmod does not stop, and no small tmpfs is at hand: a read-only
destination is os.access saying no for it (and statvfs's read-only flag where asked), a full disk
is shutil.disk_usage reporting 0 bytes free before the work, or sbft.files' writes raising ENOSPC
during it (as a nearly full disk would).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

import sbft.files
from tests.helpers import sentences, write_jsonl


def _commands(tmp_path: Path, tiny_model: Path, pair_score_files: dict[str, Path], out: Path) -> dict:
    """Each command that writes a file: its arguments, writing into `out`, and its output file."""
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(sentences(6, 5)) + "\n", encoding="utf-8")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"q": q, "a": f"{q} today"} for q in sentences(8, 31)])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sentences(30, 32)) + "\n", encoding="utf-8")
    mine = ["--corpus", corpus, "--columns", "q,a", "--num", "1", "--range-max", "20", "--no-faiss"]
    sts = ["--columns", "sentence1,sentence2", "--label", "score", "--label-range", "0,5"]
    return {
        "encode": (["encode", tiny_model, texts, "-o", out / "vectors.npy"], out / "vectors.npy"),
        "mine": (["mine", tiny_model, pairs, *mine, "-o", out / "mined.jsonl"], out / "mined.jsonl"),
        "eval": (["eval", tiny_model, pair_score_files["dev"], *sts, "-o", out / "m.json"], out / "m.json"),
        "init": (
            ["init", "--data", pair_score_files["train"], "-o", out / "recipe.yaml"],
            out / "recipe.yaml",
        ),
    }


COMMANDS = ["encode", "mine", "eval", "init"]


@pytest.fixture()
def no_model(monkeypatch):
    """Loading a model fails the test: the refusal must come before any work."""
    import sbft.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the destination was checked")

    monkeypatch.setattr(sbft.models, "load_model", refuse)
    monkeypatch.setattr(sbft.models, "build_model", refuse)


def read_only(monkeypatch, folder: Path) -> None:
    real_access, real_statvfs = os.access, os.statvfs
    inside = str(folder.resolve())

    def access(path, mode, *args, **kwargs):
        if str(Path(path).resolve()).startswith(inside) and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    class ReadOnly:
        def __init__(self, result):
            self._result = result

        def __getattr__(self, name):
            return getattr(self._result, name)

        @property
        def f_flag(self):
            return self._result.f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(
        os, "statvfs", lambda p: ReadOnly(real_statvfs(p)) if str(p).startswith(inside) else real_statvfs(p)
    )


def full(monkeypatch, folder: Path) -> None:
    real = shutil.disk_usage
    inside = str(folder.resolve())

    def usage(path):
        found = real(path)
        return found._replace(free=0) if str(Path(path).resolve()).startswith(inside) else found

    monkeypatch.setattr(shutil, "disk_usage", usage)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("disk", "said"), [(read_only, "the file system is read-only"), (full, "is full")])
def test_a_destination_that_cannot_be_written_is_refused_before_any_work(
    cli, tmp_path, tiny_model, pair_score_files, monkeypatch, no_model, command, disk, said
):
    out = tmp_path / "out"
    out.mkdir()
    arguments, output = _commands(tmp_path, tiny_model, pair_score_files, out)[command]
    disk(monkeypatch, out)
    result = cli(*arguments)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert said in result.stderr and str(out.resolve()) in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr and not output.exists()


class _FullStream:
    """A file on a disk that fills up: the first write fails with ENOSPC."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@pytest.mark.parametrize("command", COMMANDS)
def test_a_disk_that_fills_up_keeps_what_was_there(
    cli, tmp_path, tiny_model, pair_score_files, monkeypatch, command
):
    out = tmp_path / "out"
    out.mkdir()
    arguments, output = _commands(tmp_path, tiny_model, pair_score_files, out)[command]
    output.write_bytes(b"what was there\n")
    real_open = open
    monkeypatch.setattr(
        sbft.files,
        "open",
        lambda path, mode="r", *a, **k: _FullStream(path) if "w" in mode else real_open(path, mode, *a, **k),
        raising=False,
    )
    result = cli(*arguments, "--force" if command == "init" else "--overwrite")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "the disk is full" in result.stderr and "Free some space" in result.stderr
    assert "Traceback" not in result.stderr
    assert output.read_bytes() == b"what was there\n"
    assert sorted(path.name for path in out.iterdir()) == [output.name]  # no partial file left


@pytest.mark.parametrize(("disk", "said"), [(read_only, "the file system is read-only"), (full, "is full")])
def test_sbft_report_refuses_a_run_folder_it_cannot_write(cli, tmp_path, monkeypatch, disk, said):
    from tests.report.runs import write_finished_run

    run = write_finished_run(tmp_path / "run")
    (run / "report.md").write_text("what was there\n")
    disk(monkeypatch, run)
    result = cli("report", run)
    assert result.exit_code == 2 and said in result.stderr and "Traceback" not in result.stderr
    assert (run / "report.md").read_text() == "what was there\n" and not (run / "plots").exists()


def test_sbft_report_on_a_disk_that_fills_up_keeps_the_last_report(cli, tmp_path, monkeypatch):
    from tests.report.runs import write_finished_run

    run = write_finished_run(tmp_path / "run")
    (run / "report.md").write_text("what was there\n")
    real_open = open
    monkeypatch.setattr(
        sbft.files,
        "open",
        lambda path, mode="r", *a, **k: _FullStream(path) if "w" in mode else real_open(path, mode, *a, **k),
        raising=False,
    )
    result = cli("report", run)
    assert result.exit_code == 2 and "the disk is full" in result.stderr and "Traceback" not in result.stderr
    assert (run / "report.md").read_text() == "what was there\n"
    assert not list(run.glob(".*.partial"))
