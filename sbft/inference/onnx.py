"""Faster CPU inference: a model's transformer run by ONNX Runtime, in fp32 or int8.

sentence-transformers runs ONNX through optimum-onnx, whose releases (up to 0.1.0) require
transformers < 4.58 while sentence-transformers 6 requires transformers 5: the two cannot be
installed together. sbft therefore exports with torch.onnx and runs the file with onnxruntime
itself. Only the transformer changes: tokenizer, pooling, normalisation, prompts and encode()
stay sentence-transformers' own, so every command works unchanged on either backend. Once a
bi-encoder is exported, check_fast_start records whether the torch-free encoder
(sbft.inference.lite) embeds as this path does; later runs then start without torch.

The export is made with eager attention (an explicit softmax(QK^T)V graph) so that onnxruntime's
transformer optimizer can fuse it, with the embeddings, layer norms and GELUs, into its own
CPU kernels; int8 then quantizes the fused graph. On the packaged all-MiniLM-L6-v2 (2 cores,
in process) int8 went from 333 texts/s, quantizing the plain export, to 381 fused.

Where exports live and when they are stale: sbft.inference.exports.

Imported lazily (it imports torch): the CLI stays instant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from sbft.errors import SbftError
from sbft.files import atomic_path, write_json
from sbft.inference.declared import Unsupported, read_declared
from sbft.inference.exports import (
    FAST_START,
    RECORD,
    export_location,
    export_state,
    file_entry,
    onnx_file_name,
    quantization_target,
    read_record,
)
from sbft.inference.lite import LiteEncoder, session
from sbft.inference.threads import thread_count

OPSET = 17
PROBE_TEXTS = ["A man is playing a guitar.", "Two dogs run through a field of tall grass today."]
"""Export example (two lengths, so the graph sees padding) and the check after export."""
FUSED_MODEL_TYPES = {"bert"}
"""transformers model types whose graphs onnxruntime's BERT optimizer fuses (others stay unfused)."""
CHECK_TOLERANCE = 1e-3
"""Largest difference of fp32 ONNX outputs from torch's; above it the export is refused."""
FAST_START_TOLERANCE = 1e-5
"""Largest difference of the torch-free encoder from sentence-transformers on the same ONNX file."""


def backend_of(model: Any) -> str:
    """'torch', 'onnx' or 'onnx-int8': what runs this loaded model's transformer."""
    inner = getattr(model[0], "model", None) if len(model) else None
    return inner.backend if isinstance(inner, OnnxTransformer) else "torch"


# --- export ----------------------------------------------------------------------------------


def ensure_onnx(
    model: Any, name: str, backend: str, say: Callable[[str], None] = lambda message: None
) -> Path:
    """The ONNX file of `backend` for the model loaded from `name`: exported on first use, then
    reused while intact; one that is stale or damaged (size or SHA-256 not as recorded) is made again."""
    _, folder, fingerprint = export_location(name)
    target = folder / onnx_file_name(backend)
    if export_state(folder, target.name, fingerprint) == "current":
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SbftError(
            f"cannot write the ONNX export to {folder}: {exc.strerror}",
            fix="Make the folder writable, or set SBFT_CACHE to a writable folder.",
        ) from None
    fp32 = folder / onnx_file_name("onnx")
    state = export_state(folder, fp32.name, fingerprint)
    record = read_record(folder)
    if state != "current":
        say(
            _damaged(fp32)
            if state == "damaged"
            else f"exporting {name} to ONNX: {fp32} (once; later runs reuse it)"
        )
        _export(model, fp32)
        record[fp32.name] = file_entry(fp32, fingerprint)
    if target != fp32:
        damaged = export_state(folder, target.name, fingerprint) == "damaged"
        say(_damaged(target) if damaged else f"quantizing to int8 for {quantization_target()}: {target}")
        _quantize(fp32, target)
        record[target.name] = file_entry(target, fingerprint)
    write_json(folder / RECORD, record)
    return target


def _damaged(path: Path) -> str:
    return (
        f"the ONNX export {path} is damaged (its size or SHA-256 is not the one sbft recorded when it "
        "wrote it): making it again"
    )


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
        got = session(partial, 1).run(None, {key: features[key].numpy() for key in inputs})[0]
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


class OnnxTransformer(torch.nn.Module):
    """Stands in for the transformers model inside sentence-transformers' Transformer module."""

    def __init__(self, path: Path, config: Any, backend: str, threads: int) -> None:
        super().__init__()
        self.session = session(path, threads)
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
    if hasattr(model, "encode_query"):  # a bi-encoder: the torch-free path may serve it next time
        check_fast_start(model, name, backend, threads)


TWIN_MIN_TEXTS = 10_000
"""Corpora at least this long get an ONNX twin (encode_corpus(twin=True)): the export of a
6-layer MiniLM takes 5-15 s, and fp32 ONNX Runtime encodes 1.1-2.4x as fast as torch on a CPU
(WikiQA's longer sentences at the low end, STSb's short ones at the high end)."""


@contextlib.contextmanager
def onnx_twin(model: Any, texts: int, say: Callable[[str], None]) -> Iterator[None]:
    """Within the block, a CPU torch model's transformer runs as a throw-away fp32 ONNX export of
    its current weights (the checkpoint being evaluated, not a file on disk); the torch module is
    put back on the way out. Embeddings match torch's within CHECK_TOLERANCE (measured 2.7e-7 on
    MiniLM); the export checks it. Anything that does not qualify or fails to export stays on torch.
    """
    import tempfile

    transformer = model[0] if len(model) else None
    if texts < TWIN_MIN_TEXTS or not _twin_ready(model, transformer):
        yield
        return
    torch_model = transformer.model
    training = torch_model.training
    with tempfile.TemporaryDirectory(prefix="sbft-onnx-twin-") as folder:
        path = Path(folder) / "model.onnx"
        try:
            _export(model, path)
            twin = OnnxTransformer(path, torch_model.config, "onnx", thread_count())
        except Exception as error:  # any exporter failure: the encode still happens, on torch
            say(f"ONNX export for a faster encode failed ({type(error).__name__}); encoding with torch")
            twin = None
        finally:
            torch_model.train(training)
        if twin is None:
            yield
            return
        transformer.model = twin
        try:
            yield
        finally:
            transformer.model = torch_model


def _twin_ready(model: Any, transformer: Any) -> bool:
    """A CPU torch model of a family onnxruntime fuses, starting with a forward()-called transformer."""
    import importlib.util

    from sentence_transformers.base.modules.transformer import Transformer

    if not isinstance(transformer, Transformer) or model.device.type != "cpu":
        return False
    if isinstance(transformer.model, OnnxTransformer) or importlib.util.find_spec("onnxruntime") is None:
        return False
    if getattr(transformer.model.config, "model_type", None) not in FUSED_MODEL_TYPES:
        return False
    try:
        _output_name(transformer)
    except SbftError:
        return False
    return True


# --- the torch-free fast start -------------------------------------------------------------------


def check_fast_start(model: Any, name: str, backend: str, threads: int) -> None:
    """Once per model files: does the folder, read without torch, embed as this loaded model does?

    The answer goes into the export record (FAST_START); sbft.inference.lite.open_fast serves
    the model without torch only where it is yes. Both sides run the same ONNX file, so any
    difference comes from reading the folder (tokenizer, pooling, normalisation, prompts,
    max length), never from the kernels.
    """
    source, folder, fingerprint = export_location(name)
    if (read_record(folder).get(FAST_START) or {}).get("fingerprint") == fingerprint:
        return
    try:
        if source is None:
            raise Unsupported("the model has no folder on disk")
        lite = LiteEncoder(read_declared(source), model[0].model.path, backend, threads)
        verdict = _compare_fast_start(model, lite)
    except Unsupported as reason:
        verdict = {"equal": False, "reason": str(reason)}
    write_json(folder / RECORD, {**read_record(folder), FAST_START: {"fingerprint": fingerprint, **verdict}})


def _compare_fast_start(model: Any, lite: LiteEncoder) -> dict[str, Any]:
    import numpy as np

    settings = ("max_seq_length", "prompts", "default_prompt_name", "truncate_dim")
    differing = [key for key in settings if getattr(model, key) != getattr(lite, key)]
    if model.get_embedding_dimension() != lite.get_embedding_dimension():
        differing.append("embedding dimension")
    if differing:
        return {"equal": False, "reason": "different " + ", ".join(differing)}
    long_text = " ".join(["many words"] * min(model.max_seq_length or 0, 2048))  # truncated
    texts = [*PROBE_TEXTS, "Ünïcödé ÀCCENTS, CAPITALS and 42 numbers!", "", long_text]
    difference = max(
        float(
            np.abs(
                getattr(lite, method)(texts) - getattr(model, method)(texts, show_progress_bar=False)
            ).max()
        )
        for method in ("encode", "encode_query", "encode_document")
    )
    return {"equal": difference <= FAST_START_TOLERANCE, "difference": difference}
