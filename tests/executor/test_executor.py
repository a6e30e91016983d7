"""The executor on both backends: every unit runs, a failing unit is reported with its error and does not stop the
others, results come back in unit order, and a Ray unit gets as many torch threads as CPUs it reserved."""

from __future__ import annotations

import os

import pytest

from degaml.executor import ExecutorConfig, Unit, make_executor, process_cached


def square(x: int) -> int:
    if x == 2:
        raise ValueError(f"unit {x} breaks")
    return x * x


def threads() -> tuple[int, str | None]:
    import torch

    return torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


def loads_once(key: str) -> int:
    return process_cached(("test", key), lambda: os.getpid())


def test_a_failed_unit_is_reported_and_the_others_run(executor):
    seen = []
    results = executor.run([Unit(f"u{i}", f"unit {i}", square, (i,)) for i in range(5)], seen.append)
    assert [r.key for r in results] == [f"u{i}" for i in range(5)]
    assert [r.value for r in results if r.ok] == [0, 1, 9, 16]
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and failed[0].error == "ValueError: unit 2 breaks" and "raise ValueError" in failed[0].where
    assert sorted(r.key for r in seen) == sorted(r.key for r in results)  # every unit reported as it finished
    assert all(r.seconds >= 0 and r.max_rss_mb > 0 for r in results)


def test_nothing_to_run_is_no_work(executor):
    assert executor.run([]) == []


def test_the_in_process_backend_runs_here_and_keeps_what_units_load():
    ex = make_executor()
    assert ex.in_process
    results = ex.run([Unit(str(i), str(i), loads_once, ("model",)) for i in range(3)])
    assert {r.value for r in results} == {os.getpid()} and {r.pid for r in results} == {os.getpid()}


@pytest.mark.slow
def test_a_ray_unit_gets_the_threads_of_its_cpus(ray_runtime):
    ex = make_executor(ExecutorConfig(backend="ray"))
    assert not ex.in_process
    results = ex.run([Unit(str(i), str(i), threads) for i in range(4)])
    assert all(r.ok and r.value == (1, "1") for r in results), results
    assert all(r.pid != os.getpid() for r in results)
    ex.close()
    assert ray_runtime.is_initialized()  # a runtime the executor did not start is left running


def test_the_config_rejects_what_cannot_run():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ExecutorConfig(backend="dask")
    with pytest.raises(ValidationError):
        ExecutorConfig(cpus_per_unit=0)
