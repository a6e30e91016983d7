"""One local Ray runtime (2 CPUs) for every Ray test of the session, and the two backends as a parameter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from degaml.executor import ExecutorConfig, make_executor

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_runtime():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e \".[ray]\")")
    # workers import the units' functions (degaml, and the tests' own) by name: they need this checkout on their path
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.slow)])
def executor(request):
    """An in-process executor, or one on the shared 2-CPU Ray runtime."""
    if request.param == "ray":
        request.getfixturevalue("ray_runtime")
    ex = make_executor(ExecutorConfig(backend=request.param))
    yield ex
    ex.close()
