"""Every shipped spec loads its real data offline, partitions it, and renders every prompt without error."""

from __future__ import annotations

from pathlib import Path

import pytest

from degaml.data import load_task_data, shared_data_dir
from degaml.evaluation import PromptBuilder
from degaml.specs import load_spec

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "specs").glob("*.yaml"))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from degaml.models import hub

    hub.hub_reachable.cache_clear()
    yield
    hub.hub_reachable.cache_clear()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_data_loads_and_every_prompt_renders(path):
    spec = load_spec(path)
    if any(s.kind == "shared" for s in spec.dataset) and shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    data = load_task_data(spec)
    assert len(data.support) == spec.num_support and len(data.validation) == spec.num_validation
    assert len(data.test) >= 1
    builder = PromptBuilder(spec, data.train)
    for example in data.validation + data.read("test", "template check")[:50]:
        if spec.format == "multiple_choice":
            pairs = builder.choice_pairs(example)
            assert len(pairs) == len(example.choices) >= 2
            assert all(context and continuation.strip() for context, continuation in pairs)
        else:
            assert builder.context(example).strip()


def test_lm_eval_prompt_formats_on_real_items():
    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    boolq = load_spec(REPO / "specs" / "boolq.yaml")
    ex = load_task_data(boolq).validation[0]
    context, continuation = PromptBuilder(boolq).choice_pairs(ex)[1]
    passage, question = ex.question.rsplit("\n\n", 1)
    assert context == f"{passage}\nQuestion: {question}?\nAnswer:" and continuation == " yes"
    wino = load_spec(REPO / "specs" / "winogrande.yaml")
    ex = load_task_data(wino).validation[0]
    (c0, t0), (c1, t1) = PromptBuilder(wino).choice_pairs(ex)
    head, tail = ex.question.split("_", 1)
    assert c0 == head + ex.choices[0] and c1 == head + ex.choices[1] and t0 == t1 == " " + tail.strip()


def test_gsm8k_falls_back_to_reasoning_gym_without_shared_data(monkeypatch, tmp_path):
    monkeypatch.setenv("DEGAML_SHARED_DATA", str(tmp_path / "absent"))
    spec = load_spec(REPO / "specs" / "gsm8k.yaml")
    data = load_task_data(spec, on_skip=lambda _: None)
    assert data.source.source == "reasoning_gym:gsm_symbolic"
    assert data.train and not {e.question for e in data.train} & {e.question for e in data.read("all", "check")}


HELD_OUT_MC = REPO / "specs" / "heldout" / "mc_tasks.yaml"


@pytest.mark.parametrize("meta_path", sorted((REPO / "specs" / "meta").glob("*.yaml")), ids=lambda p: p.stem)
def test_held_out_multiple_choice_tasks_never_reach_meta_training(meta_path):
    from degaml.generator.pipeline import included_tasks
    from degaml.specs import load_meta_spec

    held = [spec for _, spec in included_tasks(load_meta_spec(HELD_OUT_MC), [])]
    assert {s.task for s in held} == {"sciq", "openbookqa", "commonsenseqa"}
    held_files = {src.target for s in held for src in [*s.dataset, *(s.train_dataset or [])]}
    assert all(f.split("/")[0] in {"sciq", "openbookqa", "commonsenseqa"} for f in held_files)
    for _, spec in included_tasks(load_meta_spec(meta_path), []):
        assert spec.task not in {s.task for s in held}
        used = {src.target for src in [*spec.dataset, *(spec.train_dataset or [])]}
        assert not used & held_files, f"{meta_path.name}: {spec.task} reads held-out data {used & held_files}"
        assert not any(u.split("/")[0] in {"sciq", "openbookqa", "commonsenseqa"} for u in used if "/" in u)
