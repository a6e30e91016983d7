"""`degaml generator collect|train|generate`: meta-train the generalization module and use it."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import typer

from degaml.cli.common import check_writable_dir, console, console_err, data_line, data_notes, progress_bar, save_or_keep
from degaml.cli.executor_opts import CPUS_PER_UNIT, RAY, RAY_ADDRESS, UnitProgress, executor_config
from degaml.cli.help import DegamlCommand, DegamlGroup, examples
from degaml.errors import DegamlError
from degaml.specs.load import load_meta_spec, load_spec

generator_app = typer.Typer(no_args_is_help=True, cls=DegamlGroup)
EXCLUDE = typer.Option(None, "--exclude", metavar="TASK", help="leave this task (spec file stem) out; repeatable")
OVERRIDES = typer.Argument(None, metavar="KEY=VALUE", help="meta spec overrides, e.g. collection.phase1_steps=5")


@generator_app.command("collect", cls=DegamlCommand, help="Train a LoRA per meta-training task and save its checkpoint trajectory.",
                       epilog=examples("degaml generator collect specs/meta/in_domain.yaml",
                                       "degaml generator collect specs/meta/in_domain.yaml --exclude arc_easy collection.phase1_steps=5",
                                       "degaml generator collect specs/meta/in_domain.yaml --ray   # one task per CPU"))
def collect(meta_path: Path = typer.Argument(..., metavar="META_SPEC"), overrides: list[str] = OVERRIDES, exclude: list[str] = EXCLUDE,
            ray: bool = RAY, ray_address: str | None = RAY_ADDRESS, cpus_per_unit: int = CPUS_PER_UNIT) -> None:
    from degaml.executor import failures, make_executor
    from degaml.generator.collect_units import collection_units
    from degaml.generator.distributed import topology

    config = executor_config(ray, ray_address, cpus_per_unit)
    meta = load_meta_spec(meta_path, overrides or [])
    check_writable_dir(meta.output_dir(), "out_dir")  # where the trajectories go, checked before any work
    exclude = exclude or []
    topo = topology(meta.device)  # under `accelerate launch`, each process collects its share of the tasks
    if meta.generator.mode == "residual":  # θ_union first, then every task continued from it (one process)
        from degaml.generator.pipeline import included_tasks
        from degaml.generator.residual import collect_residual, ensure_union
        from degaml.models import load_llm

        if ray:
            raise DegamlError("--ray: a residual collection runs in one process (every task continues from θ_union)")
        n_tasks = len(topo.shard(included_tasks(meta, exclude)))
        loaded = load_llm(meta.model, meta.device, "float32")
        steps = meta.collection.phase1_steps + meta.collection.phase2_steps
        with progress_bar("θ_union (multi-task LoRA)", total=meta.generator.union.steps) as advance:
            ensure_union(meta, exclude, loaded, lambda step, loss: advance(1))
        with progress_bar(f"residual collect {n_tasks} task(s)", total=n_tasks * steps) as advance:
            manifests = collect_residual(meta, exclude, loaded, lambda spec: (lambda step, loss: advance(1)))
        results = []
    else:
        manifests, units = collection_units(meta, exclude, topo)
        executor = make_executor(config)
        try:
            with UnitProgress(f"{topo.describe()}collect: tasks") as bar:
                bar.start(len(units))

                def done(result) -> None:
                    if not result.ok:
                        console_err.print(f"failed: collect {result.label}: {result.error}", highlight=False)
                    bar.step()

                results = executor.run(units, done)
        finally:
            executor.close()
        manifests += [r.value for r in results if r.ok]
    for m in manifests:
        scores = ", ".join(f"step {e['step']}: {e['accuracy']:.3f}" for e in m["validation"])
        console.print(f"{topo.describe()}{m['task']}: {m['checkpoints']} checkpoints, {m['seconds_per_step']:.1f} s/step; "
                      f"validation {scores}", highlight=False)
    if failures(results):
        console_err.print(f"{len(failures(results))} task(s) failed; rerun the command to retry them", highlight=False)
        raise typer.Exit(1)


@generator_app.command("train", cls=DegamlCommand, help="Train the generator by MSE on (prompt batch, checkpoint) pairs.",
                       epilog=examples("degaml generator train specs/meta/in_domain.yaml",
                                       "degaml generator train specs/meta/in_domain.yaml --exclude arc_easy",
                                       "torchrun --standalone --nproc_per_node 2 -m degaml.cli generator train specs/meta/in_domain.yaml"))
def train(meta_path: Path = typer.Argument(..., metavar="META_SPEC"), overrides: list[str] = OVERRIDES, exclude: list[str] = EXCLUDE,
          save_every: int = typer.Option(200, "--save-every", min=1, help="steps between resume states"),
          stop_after: int | None = typer.Option(None, "--stop-after", min=1, metavar="STEPS",
                                                help="train at most STEPS steps in this run, save the resume state and "
                                                     "stop (the same command continues)")) -> None:
    from degaml.generator.distributed import topology
    from degaml.generator.embedding import PromptEmbedder
    from degaml.generator.pipeline import generator_dir, load_trajectories
    from degaml.generator.train import train_generator
    from degaml.models import load_encoder

    meta = load_meta_spec(meta_path, overrides or [])
    check_writable_dir(meta.output_dir(), "out_dir")  # where the generator goes, checked before any work
    exclude = exclude or []
    union, union_artifact = None, None
    if meta.generator.mode == "residual":  # θ_union without the excluded tasks, its residual collection, then Δ
        from degaml.generator.residual import collect_residual, load_residual, residual_ready

        if not residual_ready(meta, exclude):
            from degaml.models import load_llm

            collect_residual(meta, exclude, load_llm(meta.model, meta.device, "float32"))
        trajectories, union, union_artifact = load_residual(meta, exclude)
    else:
        trajectories = load_trajectories(meta, exclude)
    encoder = load_encoder(meta.encoder)
    embedder = PromptEmbedder(encoder, meta.generator.num_prompts, meta.generator.prompt_tokens)
    out = generator_dir(meta, exclude)
    topo = topology(meta.device)  # under `accelerate launch`, training is data-parallel (DDP)
    if not topo.is_main:
        train_generator(trajectories, meta.generator, meta.collection, embedder, meta.encoder, meta.model, out,
                        save_every=save_every, device=meta.device, stop_after=stop_after, union=union,
                        union_artifact=union_artifact)
        return
    with progress_bar(f"{topo.describe()}train generator", total=meta.generator.steps) as advance:
        bundle = train_generator(trajectories, meta.generator, meta.collection, embedder, meta.encoder, meta.model, out,
                                 save_every=save_every, progress=lambda step, loss: advance(1), device=meta.device,
                                 stop_after=stop_after, union=union, union_artifact=union_artifact)
    if bundle is None:
        console.print(f"generator → {out}: stopped after {stop_after} step(s) (--stop-after); the resume state is "
                      f"saved, rerun the command to continue", highlight=False)
        return
    metrics = bundle.config.meta["metrics"]
    console.print(f"generator → {out}: MSE on held-out prompt batches × held-out checkpoints {metrics['held_out_mse']:.4f} "
                  f"(prompt-blind mean {metrics['prompt_blind_mean_mse']:.4f}, retrieval {metrics['retrieval_mse']:.4f}, "
                  f"task's own mean {metrics['own_task_mean_mse']:.4f}), {metrics['seconds']:.0f} s, "
                  f"{metrics['processes']} process(es)", highlight=False)


@generator_app.command("generate", cls=DegamlCommand, help="Embed a task's support prompts and write a PEFT LoRA adapter.",
                       epilog=examples("degaml generator generate specs/arc_easy.yaml --out runs/adapter",
                                       "degaml generator generate specs/arc_easy.yaml num_support=40 --out runs/adapter --seed 3"))
def generate(
    spec_path: Path = typer.Argument(..., metavar="SPEC"),
    overrides: list[str] = typer.Argument(None, metavar="KEY=VALUE", help="spec overrides, e.g. num_support=40"),
    out: Path = typer.Option(..., "--out", help="adapter directory to write"),
    generator: str | None = typer.Option(None, "--generator", help="generator directory (default: the spec's)"),
    seed: int = typer.Option(0, help="prompt-batch sample: seed 0 uses the support prompts in order"),
    noise: float = typer.Option(0.0, min=0.0, help="std of Gaussian noise added to the task embedding"),
) -> None:
    if not math.isfinite(noise):
        raise DegamlError(f"--noise: must be a finite number (got {noise})")
    spec = load_spec(spec_path, overrides or [])
    check_writable_dir(out, "--out")
    from degaml.data import load_task_data
    from degaml.generator.artifact import GeneratorBundle, check_base_model
    from degaml.generator.embedding import PromptEmbedder
    from degaml.generator.generate import generate_state_dict, sample_prompt_batch, write_peft_adapter
    from degaml.evaluation.prompts import generator_inputs
    from degaml.generator.pipeline import resolve_generator
    from degaml.models import load_encoder

    generator_path = resolve_generator(generator or spec.generator)
    check_base_model(generator_path, spec.model)
    bundle = GeneratorBundle.load(generator_path)
    data = load_task_data(spec, on_skip=data_notes())
    data_line(spec.task, data, "support", len(data.support))
    prompts = generator_inputs(spec, data.support)
    if seed:
        prompts = sample_prompt_batch(prompts, len(prompts), seed)
    embedder = PromptEmbedder(load_encoder(bundle.config.encoder), bundle.config.dims[0][0], bundle.config.dims[0][1])
    start = time.perf_counter()
    state = generate_state_dict(bundle, embedder, prompts, noise=noise, seed=seed)
    manifest = {"task": spec.task, "spec": str(spec_path), "generator": str(generator_path), "seed": seed, "noise": noise,
                "prompts": len(prompts), "data": data.provenance.model_dump(mode="json")}  # which items it came from
    files = {"manifest.json": json.dumps(manifest, indent=2) + "\n"}
    save_or_keep(lambda path: write_peft_adapter(state, bundle, path, files), out, "--out")
    seconds = time.perf_counter() - start
    console.print(f"adapter → {out} ({len(state)} tensors, {sum(v.numel() for v in state.values())} parameters) in {seconds:.2f} s", highlight=False)
    console_err.print(f"[dim]score it: degaml eval {spec_path} --adapter {out}[/]", highlight=False)
