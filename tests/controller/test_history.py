"""What an episode's stored events say: elapsed work, the current configuration, the adapters validation runs wrote."""

from __future__ import annotations

from degaml.controller.episode.history import fitted_adapters
from degaml.controller.store.events import StepEvent


def _step(n: int, outcome: dict) -> StepEvent:
    return StepEvent(step=n, action=None, outcome=outcome, accuracy=None, delta=None, reward=0, best_step=None,
                     best_accuracy=0.0, seconds=1.0)


def test_fitted_adapters_are_the_weight_runs_artifacts_not_a_predictors():
    steps = [_step(0, {"family": "support_sft", "artifact": "w/validation-step-000/sft"}),
             _step(1, {"family": "slot", "artifact": None}),  # a prediction-time step writes no adapter
             _step(2, {"family": "slot", "artifact": None,  # a weight step re-running the predictor: its first part
                       "parts": [{"family": "tfew", "artifact": "w/validation-step-002/tfew"}, {"family": "slot"}]}),
             _step(3, {"ok": False, "error": "policy output did not validate"})]
    assert fitted_adapters(steps) == {0: "w/validation-step-000/sft", 2: "w/validation-step-002/tfew"}
