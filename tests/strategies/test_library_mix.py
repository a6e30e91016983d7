"""`library_mix` and the LoRA library: composition is linear in every LoRA tensor, the library leaves the target
task out by construction, the composed adapter is a loadable PEFT adapter no worse on the support loss than the
current one, and a missing library is a failed step."""

from __future__ import annotations

import pytest
import torch
import yaml
from safetensors.torch import load_file

from degaml.data.guard import AccessLog, guard_task_data
from degaml.generator.library import task_lora_library
from degaml.generator.pipeline import collect_all, collection_dir
from degaml.specs import load_meta_spec
from degaml.strategies.base import StrategyContext
from degaml.strategies.library_mix import LibraryMixParams, compose
from degaml.strategies.registry import run_strategy
from tests.baselines.helpers import write_world

TINY_COLLECTION = {"rank": 2, "alpha": 4, "phase1_steps": 3, "phase1_lr": 1e-2, "phase2_steps": 1, "phase2_lr": 1e-3,
                   "batch_size": 4, "max_length": 32, "eval_checkpoints": 0}  # the tiny generator's LoRA shape


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, tiny_loaded):
    paths = write_world(tmp_path_factory.mktemp("library-world"), tiny_model_dir)
    meta = yaml.safe_load(paths["meta"].read_text()) | {"collection": TINY_COLLECTION}
    paths["meta"].write_text(yaml.safe_dump(meta))
    collect_all(load_meta_spec(paths["meta"]), ["target"], tiny_loaded)
    return paths


def test_composition_is_linear_in_every_tensor():
    a = {"x.lora_A.weight": torch.ones(2, 3), "x.lora_B.weight": torch.full((3, 2), 2.0)}
    b = {"x.lora_A.weight": torch.zeros(2, 3), "x.lora_B.weight": torch.full((3, 2), -2.0)}
    assert all(torch.equal(compose([a, b], [1.0, 0.0])[k], a[k]) for k in a)
    assert torch.equal(compose([a, b], [0.5, 0.5])["x.lora_B.weight"], torch.zeros(3, 2))


@pytest.mark.slow
def test_the_library_leaves_the_target_out(world):
    meta = load_meta_spec(world["meta"])
    library = task_lora_library(meta, meta.leave_one_out("target", world["target"]))
    assert set(library) == {"task_a", "task_b"}
    assert not (collection_dir(meta, "target")).exists()  # never collected, never read
    for path in library.values():
        assert (path / "adapter_config.json").is_file() and load_file(str(path / "adapter_model.safetensors"))


@pytest.mark.slow
def test_library_mix_composes_a_loadable_adapter_without_peeking(mc_context, world):
    adapt = mc_context.spec.adapt.model_copy(update={"library": str(world["meta"])})
    spec = mc_context.spec.model_copy(update={"task": "target", "adapt": adapt})  # the meta spec's target: left out
    log = AccessLog()
    ctx = StrategyContext(mc_context.loaded, spec, guard_task_data(mc_context.task, log), mc_context.sampler,
                          mc_context.work_dir, seed=0)
    out = run_strategy(LibraryMixParams(budget=20), ctx, "validation")
    assert out.ok and out.artifact is not None and out.result.n == len(mc_context.task.validation)
    weights_line = next(line for line in out.log if line.startswith("weights"))
    assert "task_a" in weights_line and "task_b" in weights_line and "target" not in weights_line
    before, after = (float(x) for x in out.log[2].split("support loss ")[1].split(" (")[0].split(" → "))
    assert after <= before
    assert not log.test_reads() and not log.label_reads(scoring=False)


def test_no_library_is_a_failed_step(mc_context):
    out = run_strategy(LibraryMixParams(budget=20), mc_context, "validation")
    assert not out.ok and "adapt.library" in out.error
