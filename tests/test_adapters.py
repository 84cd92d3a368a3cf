"""LoRA adapters (sbft/adapters.py): only the adapter trains, the run folder holds it merged and alone,
bad settings stop before any model loads, resume and cross-encoders work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sbft import adapters, run_folder
from sbft.errors import SbftError
from sbft.families import BI_ENCODER, CROSS_ENCODER
from tests.helpers import run_sbft, sentences

ADAPTER = {"r": 4, "alpha": 8, "dropout": 0.0}
TEXTS = sentences(6, 40)


def train_run(recipe_file, tmp_path: Path, smoke: bool = False, **adapter) -> Path:
    from sbft.recipe import load_recipe
    from sbft.train import train

    recipe = load_recipe(recipe_file(model__adapter={**ADAPTER, **adapter}, training__learning_rate=1e-2))
    recipe.output_dir = str(tmp_path / "run")
    result = train(recipe, quiet=True, smoke_first=smoke, cache=False)
    assert result.metrics["status"] == "finished"
    return Path(result.run_dir)


def unmerged(folder: Path):
    """The adapter folder's base model with the adapter on top, not merged in."""
    from sbft.models import build_model

    model = build_model(adapters.read_base(folder))
    adapters.load_adapter(model, folder, merge_it=False)
    assert adapters.has_adapter(model)
    return model


def test_only_the_adapter_trains(recipe_file, tmp_path, tiny_model, monkeypatch):
    """Every base weight is bit for bit the base model's after training; the adapter's moved."""
    import torch
    from safetensors.torch import load_file

    saved = []
    original = run_folder.save_model_atomically

    def capture(model, run_dir, **options):
        saved.append({key: tensor.clone() for key, tensor in model.state_dict().items()})
        return original(model, run_dir, **options)

    monkeypatch.setattr(run_folder, "save_model_atomically", capture)
    train_run(recipe_file, tmp_path)
    base = load_file(str(tiny_model / "model.safetensors"))
    trained = saved[-1]
    lora = {key: value for key, value in trained.items() if "lora_" in key}
    assert lora and any(value.abs().sum() > 0 for key, value in lora.items() if "lora_B" in key)
    compared = 0
    for key, value in trained.items():
        if "lora_" in key:
            continue
        name = key.removeprefix("0.model.base_model.model.").replace(".base_layer.", ".")
        if name in base:
            assert torch.equal(value, base[name]), name
            compared += 1
    assert compared == len(base)
    parameters = json.loads((tmp_path / "run" / "run.json").read_text())["parameters"]
    assert parameters == {"trainable": sum(v.numel() for v in lora.values()), "total": parameters["total"]}
    assert parameters["total"] == sum(v.numel() for v in base.values()) + parameters["trainable"]


def test_merged_model_loads_without_peft(recipe_file, tmp_path):
    run_dir = train_run(recipe_file, tmp_path)
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert not (run_dir / "model" / adapters.ADAPTER_CONFIG).exists()
    adapter = run_dir / "adapter"
    assert {adapters.ADAPTER_CONFIG, adapters.ADAPTER_WEIGHTS, adapters.BASE_FILE} <= {
        p.name for p in adapter.iterdir()
    }
    assert not (adapter / "model.safetensors").exists()  # the adapter alone, not the base weights
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel

    base = adapters.read_base(adapter)
    applied = PeftModel.from_pretrained(AutoModel.from_pretrained(base.name), str(adapter)).merge_and_unload()
    shipped = load_file(str(run_dir / "model" / "model.safetensors"))
    for key, value in applied.state_dict().items():  # peft alone gives model/'s weights
        np.testing.assert_allclose(value.numpy(), shipped[key].numpy(), atol=1e-6)
    script = (
        "import sys, json; sys.modules['peft'] = None\n"  # peft cannot be imported
        "from sentence_transformers import SentenceTransformer\n"
        f"print(json.dumps(SentenceTransformer(sys.argv[1]).encode({TEXTS!r}).tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(run_dir / "model")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    merged = np.array(json.loads(result.stdout.splitlines()[-1]))
    np.testing.assert_allclose(merged, unmerged(adapter).encode(TEXTS), atol=1e-5)


def test_unmerged_adapter_is_the_model(recipe_file, tmp_path, cli):
    run_dir = train_run(recipe_file, tmp_path, smoke=True, merge=False)  # the smoke run reloads model/
    model = run_dir / "model"
    assert (model / adapters.ADAPTER_WEIGHTS).is_file() and not (model / "model.safetensors").exists()
    assert not (run_dir / "adapter").exists()
    base = json.loads((model / adapters.BASE_FILE).read_text())
    assert base["written"] and Path(base["name"]).is_absolute()
    expected = unmerged(model).encode(TEXTS)

    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    for name in (model, run_dir):  # the adapter folder, or the run folder that holds it
        output = tmp_path / f"{name.name}.npy"
        result = cli("encode", name, texts, "-o", output)
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(np.load(output), expected, atol=1e-5)
    scored = cli("eval", model, tmp_path / "sts-dev.csv", "--json")
    assert scored.exit_code == 0, scored.output
    final_dev = json.loads((run_dir / "metrics.json").read_text())["final_dev"]
    spearman = json.loads(scored.stdout)[str(model)]["sts_spearman_cosine"]
    assert abs(spearman - final_dev["sts_spearman_cosine"]) < 1e-5  # what training measured

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    found = cli("search", model, "--corpus", corpus, TEXTS[2], "--top-k", "1", "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["hits"][0]["text"] == TEXTS[2]

    exported = cli("export", model)  # the merged model's ONNX, beside the adapter
    assert exported.exit_code == 0, exported.output
    assert (
        "cosine similarity >= 1.0000" in exported.stdout or "cosine similarity >= 0.9999" in exported.stdout
    )
    onnx = tmp_path / "onnx.npy"
    result = cli("encode", model, texts, "-o", onnx, "--backend", "onnx")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(onnx), expected, atol=1e-4)


def test_plan_counts_the_trainable_parameters(recipe_file, tiny_model):
    from sbft.check import preflight
    from sbft.models import build_model
    from sbft.recipe import load_recipe

    plan = preflight(load_recipe(recipe_file(model__adapter={})))
    assert plan.recipe.model.adapter == adapters.DEFAULTS  # the defaults, made explicit
    model = build_model(plan.recipe.model)
    adapters.attach(model, plan.recipe.model.adapter)
    trainable, total = adapters.trainable_counts(model)
    assert plan.adapter_parameters == (trainable, total)
    assert trainable == 2 * 2 * 16 * (32 + 32)  # query and value of 2 layers: A (16x32) and B (32x16)


def test_plan_on_the_packaged_model(recipe_file):
    """The README's numbers: the adapter's defaults on all-MiniLM-L6-v2, counted from its config alone."""
    from rich.console import Console

    from sbft.check import preflight
    from sbft.plan import print_plan
    from sbft.recipe import load_recipe

    recipe = recipe_file(model__name="sentence-transformers/all-MiniLM-L6-v2", model__adapter={})
    console = Console(record=True, width=200)
    print_plan(preflight(load_recipe(recipe)), console)
    assert "adapter lora r 16: 147,456 trainable of 22.9M parameters (0.65%)" in console.export_text()


def test_plan_line(cli, recipe_file):
    result = cli("check", recipe_file(model__adapter={"r": 8}))
    assert result.exit_code == 0, result.output
    assert "adapter lora r 8: 2,048 trainable of 27,936 parameters (7.33%)" in result.stdout
    assert "merged into model/, the adapter alone in adapter/" in result.stdout
    assert "learning_rate 2e-05 is low for a LoRA adapter" in result.stdout
    faster = cli("check", recipe_file(model__adapter={"r": 8}, training__learning_rate=2e-4))
    assert "is low for a LoRA adapter" not in faster.stdout


@pytest.mark.parametrize(
    ("adapter", "where", "words"),
    [
        ({"rr": 8}, "model.adapter.rr", "Did you mean 'r'?"),
        ({"lora_alfa": 8}, "model.adapter.lora_alfa", "Did you mean 'lora_alpha'?"),
        ({"method": "loha"}, "model.adapter.method", "not supported"),
        ({"task_type": "SEQ_CLS"}, "model.adapter.task_type", "set by sbft"),
        ({"alpha": 8, "lora_alpha": 8}, "model.adapter.alpha", "the same setting"),
        ({"r": 0}, "model.adapter.r", "at least 1"),
        ({"dropout": 1.5}, "model.adapter.dropout", "below 1"),
        ({"target_modules": 3}, "model.adapter.target_modules", "list of module names"),
        ({"merge": "yes"}, "model.adapter.merge", "true or false"),
    ],
)
def test_bad_settings_are_recipe_errors(adapter, where, words):
    with pytest.raises(SbftError) as caught:
        adapters.check_adapter(adapter, BI_ENCODER)
    assert caught.value.where == where and words in str(caught.value)


def test_bad_field_exits_2_before_loading(cli, recipe_file, tmp_path, monkeypatch):
    import sbft.models

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(sbft.models, "load_model", no_loading)
    monkeypatch.setattr(sbft.models, "build_model", no_loading)
    recipe = recipe_file(model__adapter={"rank": 8})
    for command in (("check", recipe), ("train", recipe, "-o", tmp_path / "run")):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert "model.adapter.rank: 'rank' is not a setting of a lora adapter" in result.stderr
        assert "Did you mean 'r'?" in result.stderr
    assert not (tmp_path / "run").exists()


def test_without_peft_says_which_extra(monkeypatch, cli, recipe_file):
    monkeypatch.setitem(sys.modules, "peft", None)
    result = cli("check", recipe_file(model__adapter={}))
    assert result.exit_code == 2
    assert "pip install 'sbft[adapters]'" in result.stderr


def test_overwrite_treats_adapter_as_sbfts():
    assert run_folder.is_owned(run_folder.ADAPTER) and run_folder.is_owned(".adapter.partial")


def test_families_name_their_task():
    assert (BI_ENCODER.adapter_task, CROSS_ENCODER.adapter_task) == ("FEATURE_EXTRACTION", "SEQ_CLS")


def test_cross_encoder_adapter_trains_its_head(tmp_path, tiny_cross_encoder, recipe_file, cli):
    """SEQ_CLS: the head trains beside the adapter and is saved with it; rerank reads both folders."""
    from sentence_transformers import CrossEncoder

    from sbft.recipe import load_recipe
    from sbft.train import train

    recipe_path = recipe_file(
        model__name=str(tiny_cross_encoder),
        model__type="cross-encoder",
        model__adapter=ADAPTER,
        datasets__sts__loss="BinaryCrossEntropyLoss",
        training__learning_rate=1e-2,
        evaluation__keep="last",
    )
    recipe = load_recipe(recipe_path)
    recipe.output_dir = str(tmp_path / "run")
    train(recipe, quiet=True, smoke_first=True, cache=False)
    run_dir = tmp_path / "run"
    weights = json.loads((run_dir / "adapter" / adapters.ADAPTER_CONFIG).read_text())
    assert weights["task_type"] == "SEQ_CLS"
    pairs = [(TEXTS[0], TEXTS[1]), (TEXTS[2], TEXTS[3])]
    merged = CrossEncoder(str(run_dir / "model")).predict(pairs)
    np.testing.assert_allclose(merged, unmerged(run_dir / "adapter").predict(pairs), atol=1e-5)
    base = CrossEncoder(str(tiny_cross_encoder)).predict(pairs)
    assert not np.allclose(merged, base)
    candidates = tmp_path / "candidates.txt"
    candidates.write_text("\n".join(TEXTS[1:4]) + "\n", encoding="utf-8")
    for model in (run_dir / "adapter", run_dir):  # the adapter alone, or the run's merged model
        result = cli("rerank", model, "--query", TEXTS[0], "--candidates", candidates, "--json")
        assert result.exit_code == 0, result.output
        hits = json.loads(result.stdout)["hits"]
        assert len(hits) == 3


def test_checkpoints_load_back_into_the_adapter(tiny_model, tmp_path):
    """What the trainer does on --resume and for the best model at the end, through bind_trainer."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model))
    adapters.attach(model, ADAPTER)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.fill_(0.5)
    expected = model.encode(TEXTS)
    model.save(str(tmp_path / "checkpoint-1"))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.zero_()

    class Trainer:
        def _load_from_checkpoint(self, path):
            raise AssertionError("the trainer's own loading was used")

    trainer = Trainer()
    trainer.model = model
    adapters.bind_trainer(trainer)
    trainer._load_from_checkpoint(str(tmp_path / "checkpoint-1"))
    np.testing.assert_allclose(model.encode(TEXTS), expected, atol=1e-6)


def test_resume_an_interrupted_adapter_run(tmp_path, tiny_model):
    from tests.test_resume import long_recipe

    recipe = long_recipe(tmp_path, tiny_model)
    data = yaml.safe_load(recipe.read_text())
    data["model"]["adapter"] = {**ADAPTER, "merge": False}
    data["training"]["learning_rate"] = 1e-2
    data["evaluation"] = {"keep": "last"}  # the fine-tuned adapter is shipped, whatever the base scored
    recipe.write_text(yaml.safe_dump(data))
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "sbft", "train", str(recipe), "-o", str(run_dir), "--no-smoke"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not run_folder.checkpoints(run_dir)[0]:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    process.send_signal(2)  # SIGINT
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    checkpoint = run_folder.newest_checkpoint(run_dir)
    assert (checkpoint / adapters.ADAPTER_WEIGHTS).is_file() and not (
        checkpoint / "model.safetensors"
    ).exists()

    resumed = run_sbft("train", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["training"]["steps"] == 120
    assert (run_dir / "model" / adapters.BASE_FILE).is_file()

    straight = run_sbft("train", str(recipe), "-o", str(tmp_path / "straight"), "--no-smoke")
    assert straight.returncode == 0, straight.stderr
    reference = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert metrics["kept_step"] == reference["kept_step"]  # the best model was found and loaded alike
    kept = next(e for e in metrics["evaluations"] if e["step"] == metrics["kept_step"])
    for key, value in metrics["final_dev"].items():  # the best checkpoint's adapter is what shipped
        assert abs(kept[key] - value) < 1e-5, key
    for key, value in reference["final_dev"].items():
        assert abs(metrics["final_dev"][key] - value) < 1e-4, key


def test_two_processes_train_an_adapter(recipe_file, tmp_path):
    """DDP on 2 CPU processes (gloo), as in tests/train/test_distributed.py: trained and saved once."""
    recipe = recipe_file(model__adapter=ADAPTER)
    run_dir = tmp_path / "ddp"
    result = run_sbft("train", str(recipe), "-o", str(run_dir), "--nproc", "2", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((run_dir / "run.json").read_text())["world_size"] == 2
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert (run_dir / "adapter" / adapters.ADAPTER_WEIGHTS).is_file()
    assert result.stdout.count("adapter lora r 4:") == 1  # the plan, printed by rank 0 only
