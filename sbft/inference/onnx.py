"""Faster CPU inference: a model's transformer run by ONNX Runtime, in fp32 or int8.

sentence-transformers runs ONNX through optimum-onnx, whose releases (up to 0.1.0) require
transformers < 4.58 while sentence-transformers 6 requires transformers 5: the two cannot be
installed together. sbft therefore exports with torch.onnx and runs the file with onnxruntime
itself. Only the transformer changes: tokenizer, pooling, normalisation, prompts and encode()
stay sentence-transformers' own, so every command works unchanged on either backend.

The export is made with eager attention (an explicit softmax(QK^T)V graph) so that onnxruntime's
transformer optimizer can fuse it, with the embeddings, layer norms and GELUs, into its own
CPU kernels; int8 then quantizes the fused graph. On the packaged all-MiniLM-L6-v2 (2 cores,
in process) int8 went from 333 texts/s, quantizing the plain export, to 381 fused.

Exported files follow sentence-transformers' layout (onnx/model.onnx,
onnx/model_qint8_<cpu>.onnx), next to the model when its folder is writable, else in the user
cache (~/.cache/sbft/onnx/<name>-<hash>/onnx, or $SBFT_CACHE). onnx/sbft-export.json records the
weights each file came from: a changed model is exported again, never served stale.

Imported lazily (it imports torch): the CLI stays instant.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from sbft.errors import SbftError, did_you_mean
from sbft.files import atomic_path, write_json
from sbft.inference.locations import model_folder, model_location
from sbft.models import resolve_model_path

BACKENDS = ("torch", "onnx", "onnx-int8")
ONNX_FOLDER = "onnx"
RECORD = "sbft-export.json"
OPSET = 17
PROBE_TEXTS = ["A man is playing a guitar.", "Two dogs run through a field of tall grass today."]
"""Export example (two lengths, so the graph sees padding) and the check after export."""
EXPORT_FORMAT = "fused-1"
"""Part of each export's record: a change in how sbft exports makes older exports stale."""
FUSED_MODEL_TYPES = {"bert"}
"""transformers model types whose graphs onnxruntime's BERT optimizer fuses (others stay unfused)."""
CHECK_TOLERANCE = 1e-3
"""Largest difference of fp32 ONNX outputs from torch's; above it the export is refused."""


# --- which backend ---------------------------------------------------------------------------


def check_backend(backend: str) -> None:
    """A known backend whose packages are installed; cheap, so run before loading anything."""
    if backend not in BACKENDS:
        raise SbftError(f"unknown backend '{backend}'", where="backend", fix=did_you_mean(backend, BACKENDS))
    if backend != "torch":
        require_onnxruntime()


def backend_of(model: Any) -> str:
    """'torch', 'onnx' or 'onnx-int8': what runs this loaded model's transformer."""
    inner = getattr(model[0], "model", None) if len(model) else None
    return inner.backend if isinstance(inner, OnnxTransformer) else "torch"


def quantization_target() -> str:
    """The int8 kernel family of this CPU, as sentence-transformers names them."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = next(
            set(line.split(":", 1)[1].split())
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return "avx2"
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def require_onnxruntime() -> None:
    """A clear error, before any model work, when the optional ONNX packages are missing."""
    import importlib.util

    missing = [package for package in ("onnx", "onnxruntime") if importlib.util.find_spec(package) is None]
    if missing:
        raise SbftError(
            f"the ONNX backend needs {' and '.join(missing)}, which are not installed",
            where="backend",
            fix="Install them with `pip install 'sbft[onnx]'` (`make install` does), or use --backend torch.",
        )


def onnx_file_name(backend: str) -> str:
    if backend == "onnx":
        return "model.onnx"
    return f"model_qint8_{quantization_target()}.onnx"


# --- where exports live ----------------------------------------------------------------------


def export_folder(name: str, local: Path) -> Path:
    """onnx/ beside the model when its folder is writable and no installed package, else the cache."""
    installed = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    if local.is_dir() and os.access(local, os.W_OK) and not installed & set(local.resolve().parents):
        return local / ONNX_FOLDER
    root = Path(os.environ.get("SBFT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "sbft")
    key = str(local.resolve()) if local.is_dir() else name
    slug = Path(name.rstrip("/")).name or "model"
    return (
        root.expanduser() / "onnx" / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}" / ONNX_FOLDER
    )


def weights_fingerprint(source: Path | None, name: str) -> str:
    """Names, sizes and times of the model's files, its exports left out (no folder: the name)."""
    stats: Any = name
    if source is not None:
        stats = [
            (str(p.relative_to(source)), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(source.rglob("*"))
            if p.is_file() and ONNX_FOLDER not in p.relative_to(source).parts
        ]
    return hashlib.sha256(json.dumps([EXPORT_FORMAT, stats]).encode()).hexdigest()


def _read_record(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --- export ----------------------------------------------------------------------------------


def ensure_onnx(
    model: Any, name: str, backend: str, say: Callable[[str], None] = lambda message: None
) -> Path:
    """The ONNX file of `backend` for the model loaded from `name`: exported on first use, then reused."""
    folder = export_folder(name, Path(resolve_model_path(model_location(name))))
    target = folder / onnx_file_name(backend)
    fingerprint = weights_fingerprint(model_folder(name), name)
    record = _read_record(folder)
    if target.exists() and record.get(target.name) == fingerprint:
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SbftError(
            f"cannot write the ONNX export to {folder}: {exc.strerror}",
            fix="Make the folder writable, or set SBFT_CACHE to a writable folder.",
        ) from None
    fp32 = folder / onnx_file_name("onnx")
    if record.get(fp32.name) != fingerprint or not fp32.exists():
        say(f"exporting {name} to ONNX: {fp32} (once; later runs reuse it)")
        _export(model, fp32)
        record[fp32.name] = fingerprint
    if target != fp32:
        say(f"quantizing to int8 for {quantization_target()}: {target}")
        _quantize(fp32, target)
        record[target.name] = fingerprint
    write_json(folder / RECORD, record)
    return target


class _Traced(torch.nn.Module):
    """The transformer as ONNX sees it: named tensors in, the one output the module reads out."""

    def __init__(self, model: Any, inputs: list[str], output: str) -> None:
        super().__init__()
        self.model, self.inputs, self.output = model, inputs, output

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.inputs, tensors, strict=True)), return_dict=True)[self.output]


def _output_name(transformer: Any) -> str:
    """The model output that the Transformer module reads (last_hidden_state, logits...)."""
    text = transformer.modality_config.get("text", {})
    outputs = text.get("method_output_name")
    if set(transformer.modality_config) != {"text"} or text.get("method") != "forward" or not outputs:
        raise SbftError(
            "only text models whose transformer is called with forward() can run on ONNX here",
            where="backend",
            fix="Use --backend torch for this model.",
        )
    return outputs if isinstance(outputs, str) else list(outputs)[-1]


def _export(model: Any, path: Path) -> None:
    """torch.onnx (TorchScript exporter: it needs no extra package) with dynamic batch and length."""
    import numpy as np

    transformer = model[0]
    output = _output_name(transformer)
    features = transformer.tokenizer(PROBE_TEXTS, padding=True, return_tensors="pt")
    accepted = transformer.model_forward_params
    inputs = [key for key in features if accepted is None or key in accepted]
    traced = _Traced(transformer.model, inputs, output).eval()
    example = tuple(features[key] for key in inputs)
    with torch.inference_mode():
        expected = traced(*example).numpy()
    axes = {key: {0: "batch", 1: "sequence"} for key in inputs}
    axes[output] = {0: "batch", 1: "sequence"} if expected.ndim == 3 else {0: "batch"}

    def write(partial: str) -> None:
        with torch.no_grad(), _eager_attention(transformer.model):
            torch.onnx.export(
                traced,
                example,
                partial,
                input_names=inputs,
                output_names=[output],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        _fuse(partial, transformer.model.config)
        got = _session(partial, 1).run(None, {key: features[key].numpy() for key in inputs})[0]
        difference = float(np.abs(got - expected).max())
        if difference > CHECK_TOLERANCE:
            raise SbftError(
                f"the ONNX export differs from the torch model by {difference:.1e} (over {CHECK_TOLERANCE})",
                fix="Use --backend torch for this model.",
            )

    _quietly(lambda: _write_atomically(path, write))


@contextlib.contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    """Trace attention as plain ops (not one SDPA call), the pattern onnxruntime's optimizer fuses."""
    implementation = getattr(model.config, "_attn_implementation", None)
    settable = implementation not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if settable:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if settable:
            model.set_attn_implementation(implementation)


def _fuse(path: str, config: Any) -> None:
    """Rewrite the export in place with onnxruntime's fused transformer kernels, where it knows the model."""
    if getattr(config, "model_type", None) not in FUSED_MODEL_TYPES:
        return
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        path, model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    fused.save_model_to_file(path)


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of every MatMul's weights, per channel, as optimum's CPU presets do."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(partial: str) -> None:
        quantize_dynamic(
            str(source),
            partial,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=False,
            extra_options={
                "WeightSymmetric": True,
                "ActivationSymmetric": False,
                "DefaultTensorType": TensorProto.FLOAT,  # the fused ops' outputs, which shape inference skips
            },
        )

    _quietly(lambda: _write_atomically(target, write))


def _write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """`write(name)` fills a temporary file beside `path`: concurrent runs never see half a file."""
    with atomic_path(path) as partial:
        write(str(partial))


def _quietly(action: Callable[[], None]) -> None:
    """Exporters warn at length about tracing details that do not apply here."""
    import logging
    import warnings

    quantizer_log = logging.getLogger()
    level = quantizer_log.level
    quantizer_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            action()
    finally:
        quantizer_log.setLevel(level)


# --- running ---------------------------------------------------------------------------------


def _session(path: str | Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxTransformer(torch.nn.Module):
    """Stands in for the transformers model inside sentence-transformers' Transformer module."""

    def __init__(self, path: Path, config: Any, backend: str, threads: int) -> None:
        super().__init__()
        self.session = _session(path, threads)
        self.config = config
        self.backend = backend
        self.path = path
        self.inputs = [item.name for item in self.session.get_inputs()]
        self.output = self.session.get_outputs()[0].name

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(self, **features: Any) -> dict[str, torch.Tensor]:
        feed = {key: features[key].cpu().numpy() for key in self.inputs}
        return {self.output: torch.from_numpy(self.session.run(None, feed)[0])}


def use_onnx(
    model: Any,
    name: str,
    backend: str,
    threads: int,
    say: Callable[[str], None] = lambda message: None,
) -> None:
    """Swap the model's transformer for the ONNX export of `backend` (exported on first use)."""
    from sentence_transformers.base.modules.transformer import Transformer

    if model.device.type != "cpu":
        raise SbftError(
            f"--backend {backend} runs on the CPU, but the model is on {model.device}",
            where="backend",
            fix="Add --device cpu, or use --backend torch on a GPU.",
        )
    transformer = model[0] if len(model) else None
    if not isinstance(transformer, Transformer):
        raise SbftError(
            "the model does not start with a transformer module, so it cannot run on ONNX",
            where="backend",
            fix="Use --backend torch for this model.",
        )
    _output_name(transformer)
    path = ensure_onnx(model, name, backend, say)
    transformer.model = OnnxTransformer(path, transformer.model.config, backend, threads)
