"""Adaptation strategies (paper App. F.1), one module per family: `ttt` (test-time training), `tts` (test-time
scaling: ensembles and routers over several generated adapters), `mixing` (two-subspace LoRA mixing), `slot`
(per-sample latent optimisation), `support_sft` (supervised LoRA steps on the labelled support items). `registry` joins them into the policy's action space (`Action`,
`run_strategy`); `base` holds the context and outcome every strategy shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from degaml.lazy import lazy_exports

_EXPORTS = {
    "Outcome": "degaml.strategies.base",
    "ScoredSplit": "degaml.strategies.base",
    "StrategyContext": "degaml.strategies.base",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the eager imports, for type checkers only
    from degaml.strategies.base import Outcome, ScoredSplit, StrategyContext

__all__ = ["Outcome", "ScoredSplit", "StrategyContext"]
