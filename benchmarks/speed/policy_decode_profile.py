"""Where a policy decision's time goes: prefill of the state prompt vs each constrained decoding step, and the
cost of attaching the policy adapter — base model without / with Outlines' constraint, then with the adapter.

One state prompt (arc_easy, step 0, ~660 tokens), 30 new tokens per run (the unconstrained run is forced to 30 by
min_new_tokens); two repetitions: the first constrained run includes Outlines' one-time `torch.compile` of its
mask kernel (a per-process warm-up). Prints one line per run; 1 thread.

Usage: nice -n 15 python benchmarks/speed/policy_decode_profile.py
"""

from __future__ import annotations

import time

import torch
from transformers import DynamicCache, LogitsProcessorList

from degaml.controller.policy.model import resolve_policy
from degaml.controller.policy.decoding import prompt_ids, schema_processor
from degaml.controller.episode.state import PolicyState, render_messages
from degaml.models import load_llm
from degaml.models.adapters import attached_adapter
from degaml.strategies.registry import Action, action_json_schema


def run(model, ids: torch.Tensor, processor, n: int = 30) -> tuple[float, float, int]:
    """(prefill seconds, ms per generated token, generated tokens)."""
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        start = time.perf_counter()
        model(ids, cache=cache)
        prefill = time.perf_counter() - start
        cache.crop(-1)  # generate needs one uncached token
        kwargs = {"logits_processor": LogitsProcessorList([processor])} if processor else {"min_new_tokens": n}
        if processor:
            processor.reset()
        start = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), cache=cache, max_new_tokens=n,
                             do_sample=False, **kwargs)
        seconds = time.perf_counter() - start
    generated = out.shape[1] - ids.shape[1]
    return prefill, seconds / generated * 1000, generated


def main() -> None:
    torch.set_num_threads(1)
    loaded = load_llm("default", "cpu")
    state = PolicyState("arc_easy", "Science questions.", "multiple_choice", ["Which is a mammal?"] * 3, 0.4, 0.4, 100,
                        0, 4, None, [])
    ids = prompt_ids(loaded.tokenizer, render_messages(state, action_json_schema()))  # (1, T)
    processor = schema_processor(loaded.model, loaded.tokenizer, Action)
    print(f"prompt tokens {ids.shape[1]}")
    for _ in range(2):
        print("base, no constraint: prefill %.2fs, %.0f ms/token (%d)" % run(loaded.model, ids, None))
        print("base + outlines:     prefill %.2fs, %.0f ms/token (%d)" % run(loaded.model, ids, processor))
        start = time.perf_counter()
        with attached_adapter(loaded.model, resolve_policy("default")) as model:
            attach = time.perf_counter() - start
            print("adapter + outlines:  prefill %.2fs, %.0f ms/token (%d); attach %.2fs" % (run(model, ids, processor) + (attach,)))


if __name__ == "__main__":
    main()
