"""Meta-trained artifacts resume after a kill to the same state as an uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch

from degaml.baselines import maml, union_lora
from degaml.baselines.artifacts import load_state
from degaml.baselines.registry import make_config
from tests.baselines.helpers import write_world


@pytest.mark.parametrize("name,build,steps_key", [("union_lora", union_lora.build_union, "union.steps"), ("maml", maml.build_init, "meta_steps")])
@pytest.mark.slow
def test_killed_meta_training_resumes_to_the_same_artifact(name, build, steps_key, tiny_model_dir, tiny_loaded, tmp_path):
    world = write_world(tmp_path / "w", tiny_model_dir)
    fresh = world["meta"].parent / "meta_fresh.yaml"  # the same meta spec writing to another out_dir
    fresh.write_text(world["meta"].read_text().replace(str(world["meta"].parent / "meta-out"), str(tmp_path / "fresh-out")))

    def kill_at_3(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    config = make_config(name, "tiny", [f"meta={world['meta']}", f"{steps_key}=4", "save_every=2"])
    with pytest.raises(KeyboardInterrupt):
        build(tiny_loaded, config, ["target"], progress=kill_at_3)
    resumed = build(tiny_loaded, config, ["target"])
    assert json.loads((resumed / "manifest.json").read_text())["resumed_from_step"] == 2
    uninterrupted = build(tiny_loaded, make_config(name, "tiny", [f"meta={fresh}", f"{steps_key}=4", "save_every=2"]), ["target"])
    a, b = load_state(uninterrupted), load_state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)
