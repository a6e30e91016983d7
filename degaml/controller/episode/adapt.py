"""`degaml adapt`: create (or resume) a run directory for a task spec, build the runtime, run the episode.

A run is self-describing: run.json stores the resolved spec, so `--resume RUN_DIR` continues with exactly the
spec the run started with (the YAML file may have changed since), only the step budget may be raised.

run.json changes only under the run's writer lock and only when the run will continue: a resume refused for the
lock, or a resume of a finished run (which is never re-run), leaves the header as it was. A finished run whose
`finished` status line was torn by a kill gets it written on resume.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from degaml import __version__
from degaml.controller.episode.cost_model import cost_file, read_costs
from degaml.controller.episode.episode import Episode, Runtime
from degaml.controller.episode.rollout import check_metric
from degaml.controller.store.events import FinalEvent, RunHeader, StatusEvent
from degaml.controller.policy.reference import RandomPolicy
from degaml.controller.policy.model import Policy, resolve_policy
from degaml.controller.store.event_lines import HEADER_FILE
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.data import load_task_data
from degaml.errors import DataError
from degaml.generator.artifact import GeneratorBundle, check_base_model
from degaml.generator.pipeline import resolve_generator
from degaml.generator.sampler import AdapterSampler
from degaml.models import load_llm
from degaml.models.adapters import check_adapter_fits, check_adapter_weights
from degaml.models.llm import check_remote_code, local_model_config
from degaml.specs import load_spec, spec_from_dict
from degaml.specs.model import TaskSpec
from degaml.strategies.base import StrategyContext


def default_run_dir(spec: TaskSpec, root: Path = Path("runs")) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return root / "adapt" / f"{spec.task}-{stamp}-{uuid.uuid4().hex[:4]}"


def create_run(spec_path: Path, overrides: list[str], run_dir: Path | None) -> TrajectoryStore:
    """Validate the spec, its generator (files, hashes, finite weights, base model), policy (finite weights, shapes
    that fit the model) and data, then write run.json (nothing is written if anything is wrong)."""
    spec = load_spec(spec_path, overrides)
    check_remote_code(spec.trust_remote_code)
    policy = spec.adapt.policy if spec.adapt.policy == "random" else resolve_policy(spec.adapt.policy)
    if isinstance(policy, Path):
        check_adapter_weights(policy, "adapt.policy")  # a NaN policy adapter must not load and decide
        model_config = local_model_config(spec.model)
        if model_config is not None:  # a policy adapter for another model: refused now, not at its first decision
            check_adapter_fits(policy, model_config, "adapt.policy")
    generator = resolve_generator(spec.generator)
    check_base_model(generator, spec.model)
    GeneratorBundle.load(generator)  # a corrupt generator fails here, before the run directory exists
    check_metric(spec.adapt.metric, spec.format)
    data = load_task_data(spec).provenance
    read_costs(cost_file())  # a corrupt cost file is one line naming it, before the run directory exists
    run_dir = run_dir or default_run_dir(spec)
    header = RunHeader(
        run_id=run_dir.name, created=time.time(), spec_path=str(Path(spec_path).resolve()),
        spec=spec.model_dump(mode="json"), task=spec.task, model=spec.model, generator=str(generator),
        policy=str(policy) if policy else "base", budget_steps=spec.adapt.steps, budget_minutes=spec.adapt.budget_minutes,
        seed=spec.seed, degaml_version=__version__, data=data.model_dump(mode="json"),
    )
    return TrajectoryStore.create(run_dir, header)


def open_run(run_dir: Path, steps: int | None = None) -> tuple[TrajectoryStore, TaskSpec]:
    """An existing run and its stored spec (`steps` raises the step budget of the returned spec; run.json is
    updated by `run_adapt` once it holds the writer lock and the run is to continue)."""
    store = TrajectoryStore.open(run_dir)
    data = dict(store.header.spec)
    if steps is not None:
        data["adapt"] = dict(data.get("adapt", {})) | {"steps": steps}
    spec = spec_from_dict(data, f"{run_dir}/{HEADER_FILE}", Path(store.header.spec_path))
    return store, spec


def _header_for(store: TrajectoryStore, spec: TaskSpec) -> RunHeader:
    """run.json with `spec`'s step budget (the only field a resume may change)."""
    data = dict(store.header.spec)
    data["adapt"] = dict(data.get("adapt", {})) | {"steps": spec.adapt.steps}
    return store.header.model_copy(update={"budget_steps": spec.adapt.steps, "spec": data})


def build_runtime(spec: TaskSpec, store: TrajectoryStore, on_skip: Callable[[str], None] | None = None) -> Runtime:
    """Load the model, the task data, the frozen generator and the policy for a run."""
    loaded = load_llm(spec.model, spec.device, spec.dtype, spec.trust_remote_code)
    task = load_task_data(spec, on_skip=on_skip or (lambda _: None))
    recorded = (store.header.data or {}).get("dataset", {}).get("used", {})
    if recorded and recorded.get("sha256") != task.provenance.dataset.used.sha256:
        raise DataError(f"{store.run_dir}: the task data changed since the run started (run.json: {recorded.get('source')}, "
                        f"now {task.provenance.summary()}); start a new run")
    sampler = AdapterSampler.load(Path(store.header.generator), store.run_dir / "adapters")
    ctx = StrategyContext(loaded, spec, task, sampler, store.run_dir / "work", seed=spec.seed)
    if store.header.policy == "random":
        return Runtime(ctx, RandomPolicy(salt=spec.task))
    policy_path = None if store.header.policy == "base" else Path(store.header.policy)
    return Runtime(ctx, Policy(loaded, policy_path))


def run_adapt(store: TrajectoryStore, spec: TaskSpec, runtime: Runtime | None = None, cancel: threading.Event | None = None,
              on_event: Callable[[object], None] | None = None) -> FinalEvent | None:
    """Run or continue the episode of `store` (holding its writer lock throughout).

    A finished run is not re-run (its stored result is returned; a torn `finished` line is rewritten)."""
    store.acquire()
    try:
        finals = [e for e in store.events() if e.kind == "final"]
        if finals:
            if store.status() != "finished":
                store.append(StatusEvent(status="finished", message="status restored on resume"))
            return finals[-1]
        header = _header_for(store, spec)
        if header != store.header:
            store.rewrite_header(header)
        store.clear_cancel()
        runtime = runtime or build_runtime(spec, store)
        return Episode(store, runtime, cancel, on_event).run()
    finally:
        store.release()
