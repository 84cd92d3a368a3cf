"""LoRA adapters (`model.adapter:`): checking the settings, training only the adapter, saving it
merged or alone, and loading an adapter folder back.

peft is used directly, not through sentence-transformers' `add_adapter` / `load_adapter`: those
go through transformers, which asks for a newer peft than many machines have. The adapter wraps
the transformer inside the first module (`model[0].model`), so the rest of the pipeline (pooling,
normalisation, prompts, a cross-encoder's head) stays sentence-transformers' own.

An adapter folder is what sentence-transformers saves for such a model (modules.json, tokenizer,
pooling, and PEFT's adapter_config.json + adapter_model.safetensors where the transformer goes),
plus BASE_FILE: the base model as the recipe built it, so that sbft rebuilds the exact base
pipeline and puts the adapter on top. A peft user applies the adapter files to the base
transformer with `PeftModel.from_pretrained`.

Nothing heavy at import time: peft, torch and transformers are imported inside functions.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError, did_you_mean
from sbft.families import Family, family

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

WHERE = "model.adapter"
BASE_FILE = "sbft_adapter.json"
"""In an adapter folder: the base model the adapter goes on (see BaseModel)."""
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
METHODS = {"lora": "LoraConfig"}
"""Adapter methods sbft supports, and peft's config class for each."""
SHORT_NAMES = {"alpha": "lora_alpha", "dropout": "lora_dropout"}
DEFAULTS: dict[str, Any] = {"method": "lora", "r": 16, "alpha": 32, "dropout": 0.05, "merge": True}
"""Values that work for BERT-style and decoder models alike; target_modules is left to peft's
default for the architecture (query and value for BERT, q_proj and v_proj for Llama-style)."""
SBFT_KEYS = ("method", "merge")
SET_BY_SBFT = (
    "task_type",
    "peft_type",
    "base_model_name_or_path",
    "revision",
    "inference_mode",
    "auto_mapping",
    "peft_version",
)
"""Fields of peft's config that sbft sets itself (task_type comes from the model family)."""
_OTHER_NAMES = {
    "rank": "r",
    "lora_r": "r",
    "lora_rank": "r",
    "targets": "target_modules",
    "modules": "target_modules",
}
"""Names other tools use for a setting, which string similarity would not find."""
INSTALL_FIX = "Install peft with sbft's adapters extra: pip install 'sbft[adapters]'."


# --- the recipe's settings (no model needed) ---------------------------------------------------


def settings(adapter: Mapping[str, Any]) -> dict[str, Any]:
    """The adapter settings with sbft's defaults filled in, short names as written (alpha, dropout)."""
    filled = dict(DEFAULTS)
    for short, long in SHORT_NAMES.items():
        if long in adapter:  # given by peft's own name: the short default must not compete with it
            filled.pop(short)
    filled.update(adapter)
    return filled


def require_peft(where: str = WHERE) -> None:
    """peft is an optional extra: say how to install it instead of failing on an import."""
    if importlib.util.find_spec("peft") is None:
        raise SbftError(
            "adapters need the peft package, which is not installed", where=where, fix=INSTALL_FIX
        )


def check_adapter(adapter: Mapping[str, Any], model_family: Family, where: str = WHERE) -> None:
    """Every key is sbft's (method, merge, alpha, dropout) or a field of peft's config for the
    method, with a value peft accepts: checked before any model loads."""
    filled = settings(adapter)
    method = filled["method"]
    if method not in METHODS:
        raise SbftError(
            f"the adapter method '{method}' is not supported (sbft supports {', '.join(METHODS)})",
            where=f"{where}.method",
            fix=did_you_mean(str(method), METHODS) if isinstance(method, str) else "Use method: lora.",
        )
    require_peft(where)
    fields = _config_fields(method)
    for key in adapter:
        if key in SET_BY_SBFT:
            raise SbftError(
                f"'{key}' is set by sbft (from the model family and the base model)",
                where=f"{where}.{key}",
                fix=f"Remove '{key}'.",
            )
        if key not in fields and key not in SBFT_KEYS and key not in SHORT_NAMES:
            known = {*SBFT_KEYS, *SHORT_NAMES, *(f for f in fields if f not in SET_BY_SBFT)}
            meant = _OTHER_NAMES.get(key.lower())
            raise SbftError(
                f"'{key}' is not a setting of a {method} adapter (peft's {METHODS[method]})",
                where=f"{where}.{key}",
                fix=f"Did you mean '{meant}'?" if meant else did_you_mean(key, known),
            )
    for short, long in SHORT_NAMES.items():
        if short in adapter and long in adapter:
            raise SbftError(
                f"'{short}' and '{long}' are the same setting",
                where=f"{where}.{short}",
                fix="Keep one of them.",
            )
    _check_values(filled, where)
    try:
        peft_config(adapter, model_family)
    except (TypeError, ValueError) as error:
        raise SbftError(f"peft refuses these settings: {error}", where=where) from None


def _check_values(filled: Mapping[str, Any], where: str) -> None:
    """Ranges peft does not check itself: a zero rank or a dropout of 1 only fail mid-training."""

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if not isinstance(filled["merge"], bool):
        raise SbftError("merge is true or false", where=f"{where}.merge")
    rank = filled.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise SbftError(f"the rank r must be a whole number of at least 1, not {rank!r}", where=f"{where}.r")
    alpha = filled.get("alpha", filled.get("lora_alpha"))
    if not number(alpha) or alpha <= 0:
        raise SbftError(f"alpha must be a positive number, not {alpha!r}", where=f"{where}.alpha")
    dropout = filled.get("dropout", filled.get("lora_dropout"))
    if not number(dropout) or not 0 <= dropout < 1:
        raise SbftError(f"dropout must be at least 0 and below 1, not {dropout!r}", where=f"{where}.dropout")
    targets = filled.get("target_modules")
    if targets is not None and not (
        isinstance(targets, str) or (isinstance(targets, list) and all(isinstance(t, str) for t in targets))
    ):
        raise SbftError(
            "target_modules is a list of module names (or one regular expression)",
            where=f"{where}.target_modules",
            fix="For BERT: [query, value]; for Llama-style models: [q_proj, v_proj].",
        )


def _config_fields(method: str) -> set[str]:
    import peft

    config_class = getattr(peft, METHODS[method])
    return {f.name for f in dataclasses.fields(config_class) if f.init}


def peft_config(adapter: Mapping[str, Any], model_family: Family) -> Any:
    """peft's config for these settings, with the task type of the model family."""
    import peft

    filled = settings(adapter)
    method = filled.pop("method")
    for key in SBFT_KEYS:
        filled.pop(key, None)
    options = {SHORT_NAMES.get(key, key): value for key, value in filled.items()}
    return getattr(peft, METHODS[method])(task_type=model_family.adapter_task, **options)


def describe(adapter: Mapping[str, Any]) -> str:
    """'lora r 16', for the plan and messages."""
    filled = settings(adapter)
    return f"{filled['method']} r {filled['r']}"


def parameter_counts(
    folder: Path | None, adapter: Mapping[str, Any], model_family: Family, num_labels: int | None = None
) -> tuple[int, int] | None:
    """(trainable, total) parameters of the transformer with this adapter, counted on an empty
    ('meta') copy built from its config: no weights are read. None when the config is not at hand."""
    import torch
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(str(folder))
        if num_labels is not None:
            config.num_labels = num_labels
        auto_class = getattr(transformers, _AUTO_CLASSES[model_family.adapter_task])
        with torch.device("meta"):
            model = auto_class.from_config(config)
        wrapped = _get_peft_model(model, peft_config(adapter, model_family))
        return wrapped.get_nb_trainable_parameters()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_AUTO_CLASSES = {"FEATURE_EXTRACTION": "AutoModel", "SEQ_CLS": "AutoModelForSequenceClassification"}


def _get_peft_model(model: Any, config: Any) -> Any:
    """peft.get_peft_model, without its warnings about the base model's own config."""
    import warnings

    import peft

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return peft.get_peft_model(model, config)


# --- a loaded model ---------------------------------------------------------------------------


def attach(model: SentenceTransformer | CrossEncoder, adapter: Mapping[str, Any], seed: int = 0) -> None:
    """Put a fresh adapter on the model's transformer, in place; every other weight is frozen.

    The adapter's random start is drawn from `seed` (the trainer seeds only after the model
    exists), so a run is reproducible, and every process of a DDP run starts alike.
    """
    import torch

    from sbft.families import family_of

    require_peft()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model[0].model = _get_peft_model(model[0].model, peft_config(adapter, family_of(model)))


def has_adapter(model: Any) -> bool:
    """The model's transformer carries a peft adapter (attach, or loaded unmerged)."""
    try:
        inner = model[0].model
    except (TypeError, IndexError, AttributeError, KeyError):
        return False
    return any(cls.__name__ == "PeftModel" for cls in type(inner).__mro__)


def trainable_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters of the whole model."""
    parameters = list(model.parameters())
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def merge(model: SentenceTransformer | CrossEncoder) -> None:
    """Fold the adapter into the transformer's weights, in place: a plain model that needs no peft."""
    if has_adapter(model):
        model[0].model = model[0].model.merge_and_unload()


def merged_copy(model: Any) -> Any:
    """A plain copy of a model with its adapter merged in, the model itself left as it is (for
    code that reads every weight, such as mixing base and fine-tuned weights); a plain model as is."""
    import copy

    if not has_adapter(model):
        return model
    merged = copy.deepcopy(model)
    merge(merged)
    return merged


def load_checkpoint(model: Any, checkpoint: Path) -> None:
    """Load a checkpoint's adapter weights into the model being trained, in place.

    Stands in for the trainer's own loading (resume, best model at the end), which loads the
    checkpoint as a whole model and, for an adapter, fails (or only logs it, for the best model).
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    model = getattr(model, "_orig_mod", model)
    weights = _transformer_folder(Path(checkpoint)) / ADAPTER_WEIGHTS
    result = set_peft_model_state_dict(model[0].model, load_file(str(weights)))
    if result.unexpected_keys:
        raise SbftError(
            f"the checkpoint {checkpoint} holds adapter weights this model does not have: "
            f"{', '.join(result.unexpected_keys[:3])}",
            fix="Resume with the recipe the run was started with (its recipe.yaml).",
        )


def bind_trainer(trainer: Any) -> None:
    """Make the trainer load checkpoints as adapters (see load_checkpoint)."""

    def load(checkpoint: str, model: Any = None) -> None:
        load_checkpoint(trainer.model, Path(checkpoint))

    trainer._load_from_checkpoint = load


# --- adapter folders ---------------------------------------------------------------------------


@dataclass
class BaseModel:
    """The base model an adapter goes on, as its recipe built it: the fields of the recipe's
    `model:` that sbft.models.build_model reads."""

    name: str
    """What it loads from: a hub id or an absolute path."""
    type: str = "bi-encoder"
    pooling: str | None = None
    normalize: bool | None = None
    max_seq_length: int | None = None
    num_labels: int | None = None
    trust_remote_code: bool = False
    prompts: dict[str, str] | None = None
    written: str | None = None
    """The name as the recipe wrote it (a relative path, a ${VAR}), for people reading the file."""

    @property
    def family(self) -> Family:
        return family(self.type)


def base_record(spec: Any, model: Any, written: str | None = None) -> BaseModel:
    """The base model of a recipe's `model:` spec; a cross-encoder's head size is the model's own."""
    fields = {f.name for f in dataclasses.fields(BaseModel)} - {"written"}
    base = BaseModel(**{key: getattr(spec, key) for key in fields}, written=written)
    if not base.family.makes_embeddings:
        base.num_labels = int(model[0].model.config.num_labels)
    return base


def save_adapter(model: SentenceTransformer | CrossEncoder, folder: Path, base: BaseModel) -> None:
    """Save a model that carries an adapter as an adapter folder (the adapter, not the base weights)."""
    model.save(str(folder))
    (folder / BASE_FILE).write_text(json.dumps(dataclasses.asdict(base), indent=2) + "\n", encoding="utf-8")


def is_adapter_folder(folder: str | Path) -> bool:
    return (Path(folder) / BASE_FILE).is_file()


def read_base(folder: Path) -> BaseModel:
    """The base model an adapter folder names."""
    try:
        data = json.loads((folder / BASE_FILE).read_text(encoding="utf-8"))
        fields = {f.name for f in dataclasses.fields(BaseModel)}
        base = BaseModel(**{key: value for key, value in data.items() if key in fields})
        base.family  # noqa: B018 - checks the type
    except (OSError, ValueError, TypeError, AttributeError, SbftError):
        raise SbftError(
            f"the adapter folder '{folder}' has an unreadable {BASE_FILE}",
            fix="Point at an adapter folder saved by sbft train (RUN_DIR/adapter).",
        ) from None
    return base


def load_adapter(model: SentenceTransformer | CrossEncoder, folder: Path, merge_it: bool = True) -> None:
    """Put the adapter saved in `folder` on `model` (its base, rebuilt), in place; merged by default,
    which is as fast as the base model and exports to ONNX like any model."""
    require_peft(where="model")
    from peft import PeftModel

    model[0].model = PeftModel.from_pretrained(model[0].model, str(_transformer_folder(folder)))
    if merge_it:
        merge(model)


def _transformer_folder(folder: Path) -> Path:
    """Where the transformer (here: its adapter) is saved: modules.json's first module path."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        return folder / modules[0].get("path", "")
    except (OSError, ValueError, IndexError, AttributeError, KeyError):
        return folder
