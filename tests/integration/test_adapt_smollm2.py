"""`degaml adapt` end to end on the real defaults: SmolLM2-135M (base and policy), the shipped generator, MiniLM,
Outlines-constrained decisions, a real strategy, the store, the final test scoring. Behaviour only, tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from degaml.cli import main
from degaml.controller.policy.model import SHIPPED_POLICY
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.data import shared_data_dir
from degaml.generator.pipeline import SHIPPED_GENERATOR

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_adapt_arc_easy_one_step(tmp_path, capsys):
    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    if not (SHIPPED_GENERATOR / "generator.json").is_file():
        pytest.skip("no shipped generator in this checkout")
    run_dir = tmp_path / "run"
    args = ["adapt", str(REPO / "specs" / "arc_easy.yaml"), "num_validation=16", "num_test=16", "adapt.steps=1",
            "--run-dir", str(run_dir), "--json", str(tmp_path / "final.json")]
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    assert info.value.code == 0, out.err
    store = TrajectoryStore.open(run_dir)
    if (SHIPPED_POLICY / "adapter_config.json").is_file():
        assert store.header.policy == str(SHIPPED_POLICY)  # `adapt.policy: default` → the shipped adapter
    decision = next(e for e in store.events() if e.kind == "decision")
    assert decision.action is not None or decision.parse_error  # a validated action, or a recorded reason
    json.loads(decision.raw)  # Outlines-constrained: always JSON
    step = store.steps()[0]
    baseline = next(e for e in store.events() if e.kind == "baseline")  # progress events come first
    assert step.reward == int(step.accuracy is not None and step.accuracy > baseline.validation.accuracy)
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["test"]["n"] == 16 and store.status() == "finished"
