"""Run one method on one target task under the protocol: fit (support + validation only), score validation, then
the single final scoring of the test split. Generic over the registry (degaml.baselines.registry)."""

from __future__ import annotations

import time
from typing import Any

from degaml.baselines.config import MethodConfig
from degaml.baselines.method import Fitted, RunContext
from degaml.baselines.registry import method
from degaml.protocol import ProtocolTask, final_score, validation_score


def fit_method(name: str, ptask: ProtocolTask, config: MethodConfig, ctx: RunContext) -> Fitted:
    """Produce the method's predictor for the target (reads support + validation only)."""
    return method(name).fit(ptask, config, ctx)


def run_baseline(name: str, ptask: ProtocolTask, config: MethodConfig, ctx: RunContext) -> dict[str, Any]:
    """Fit, score validation, then read the test split once; the JSON record of `degaml baseline`."""
    began = time.perf_counter()
    fitted = fit_method(name, ptask, config, ctx)
    loaded = ctx.model() if fitted.needs_model else None
    validation = fitted.validation or validation_score(loaded, ptask, fitted.adapters, constant=fitted.constant)
    test = final_score(loaded, ptask, fitted.adapters, constant=fitted.constant, scorer=fitted.scorer)
    return {
        "method": name,
        "task": ptask.task,
        "profile": config.profile,
        "config": config.model_dump(mode="json"),
        "validation": validation.summary(),
        "test": test.summary(),
        "labelled_items": ptask.labelled_items(),
        "seconds": time.perf_counter() - began,
        "info": fitted.info,
        "data_source": ptask.data_source,
        "data": ptask.data,  # provenance: which items (sha256) were read
        "predictions": test.per_item(),
    }
