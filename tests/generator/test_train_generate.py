"""Generator training on tiny collected trajectories, then prompts → PEFT adapter that PEFT loads and the
evaluator scores; resume of a killed training run."""

from __future__ import annotations

import json

import pytest
import torch

from degaml.data import load_task_data
from degaml.evaluation import evaluate
from degaml.generator.artifact import GeneratorBundle
from degaml.generator.collect import collect_task
from degaml.generator.embedding import PromptEmbedder
from degaml.generator.generate import generate_state_dict, sample_prompt_batch, write_peft_adapter
from degaml.generator.train import TaskTrajectory, train_generator
from degaml.models import load_encoder, load_llm
from degaml.specs import spec_from_dict
from degaml.specs.meta import CollectionRecipe, GeneratorRecipe
from tests.conftest import mc_spec_dict

pytestmark = pytest.mark.slow  # every test reads the generator a module fixture trains

COLLECT = CollectionRecipe(phase1_steps=3, phase1_lr=1e-2, phase2_steps=1, phase2_lr=1e-3, batch_size=4, max_length=32,
                           rank=2, alpha=4, eval_checkpoints=0)
RECIPE = GeneratorRecipe(num_prompts=4, prompt_tokens=8, chunk=16, hidden_dims=[(8, 8, 24)], steps=6, lr=1e-3,
                         batch_size=4, pairs_per_task=20, position_dim=8)


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("default")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, encoder):
    from tests.conftest import mc_rows, write_jsonl

    root = tmp_path_factory.mktemp("gen")
    data_file = write_jsonl(root / "mc.jsonl", mc_rows(60))
    spec = spec_from_dict(mc_spec_dict(data_file, model=str(tiny_model_dir), num_train=12, num_test=5))
    task = load_task_data(spec)
    loaded = load_llm(str(tiny_model_dir), device="cpu")
    collect_task(loaded, task, COLLECT, root / "collect")
    from degaml.generator.collect import load_trajectory

    traj = TaskTrajectory("toy", load_trajectory(root / "collect" / "trajectory.safetensors"), [e.question for e in task.train])
    embedder = PromptEmbedder(encoder, RECIPE.num_prompts, RECIPE.prompt_tokens)
    bundle = train_generator([traj, traj], RECIPE, COLLECT, embedder, "default", str(tiny_model_dir), root / "generator")
    return root, spec, task, loaded, traj, embedder, bundle


def test_training_writes_a_loadable_bundle_with_metrics(trained):
    root, *_, bundle = trained
    again = GeneratorBundle.load(root / "generator")
    meta = json.loads((root / "generator" / "generator.json").read_text())["meta"]["metrics"]
    assert {"held_out_mse", "prompt_blind_mean_mse", "retrieval_mse", "own_task_mean_mse", "train_loss_last"} <= set(meta)
    x = torch.randn(1, *bundle.config.dims[0])
    torch.testing.assert_close(again.model(x), bundle.model.eval()(x))


def test_generated_adapter_loads_in_peft_and_is_scored(trained, tmp_path):
    from peft import PeftModel

    root, spec, task, loaded, traj, embedder, bundle = trained
    sd = generate_state_dict(bundle, embedder, task.support_prompts())
    assert set(sd) == set(traj.checkpoints[0])
    adapter = write_peft_adapter(sd, bundle, tmp_path / "adapter")
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    fresh = load_llm(spec.model, device="cpu")
    peft_model = PeftModel.from_pretrained(fresh.model, str(adapter))
    from peft import get_peft_model_state_dict

    for key, value in get_peft_model_state_dict(peft_model).items():
        torch.testing.assert_close(value, sd[key])
    result = evaluate(loaded, spec, task.validation[:5], "validation", adapter=adapter)
    assert result.n == 5 and result.adapter == str(adapter)


def test_generation_is_a_distribution_over_prompt_batches(trained):
    _, _, task, _, traj, embedder, bundle = trained
    a = generate_state_dict(bundle, embedder, sample_prompt_batch(traj.prompts, 4, seed=1))
    b = generate_state_dict(bundle, embedder, sample_prompt_batch(traj.prompts, 4, seed=2))
    again = generate_state_dict(bundle, embedder, sample_prompt_batch(traj.prompts, 4, seed=1))
    key = next(iter(a))
    assert not torch.allclose(a[key], b[key]) and torch.equal(a[key], again[key])
    noisy = generate_state_dict(bundle, embedder, sample_prompt_batch(traj.prompts, 4, seed=1), noise=0.1, seed=3)
    assert not torch.allclose(a[key], noisy[key])


def test_killed_training_resumes_to_the_same_generator(trained, tmp_path):
    _, _, _, _, traj, embedder, _ = trained
    straight = train_generator([traj], RECIPE, COLLECT, embedder, "default", "m", tmp_path / "a")

    def kill(step, loss):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_generator([traj], RECIPE, COLLECT, embedder, "default", "m", tmp_path / "b", save_every=2, progress=kill)
    resumed = train_generator([traj], RECIPE, COLLECT, embedder, "default", "m", tmp_path / "b", save_every=2)
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6, msg=name)
    metrics = resumed.config.meta["metrics"]
    assert metrics["resumed_from_step"] == 4 and straight.config.meta["metrics"]["resumed_from_step"] == 0
    assert metrics["seconds"] > 0  # includes the training time before the interruption
