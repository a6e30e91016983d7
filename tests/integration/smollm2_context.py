"""A strategy context on the real SmolLM2-135M with a hand-made θ₀ (no generator needed): random LoRA B of the given
std (0: an identity adapter), ARC-Easy from the shared data with the given split overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def smollm2_context(root: Path, overrides: list[str], rank: int = 4, b_std: float = 0.0):
    from peft import LoraConfig, get_peft_model

    from degaml.data import load_task_data, shared_data_dir
    from degaml.models import load_llm
    from degaml.specs import load_spec
    from degaml.strategies.base import StrategyContext

    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    loaded = load_llm("default", device="cpu", dtype="float32")
    spec = load_spec(REPO / "specs" / "arc_easy.yaml", overrides)
    torch.manual_seed(0)
    peft_model = get_peft_model(loaded.model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"]))
    if b_std > 0:
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0.0, b_std)
    peft_model.save_pretrained(str(root / "theta0"))
    peft_model.unload()
    return StrategyContext(loaded, spec, load_task_data(spec), None, root / "work", seed=0, _initial=root / "theta0")
