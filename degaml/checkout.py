"""The source checkout this package runs from, for the `degaml build` commands that ship artifacts into the package.

A build writes paths relative to the checkout into its manifest (so the `rebuild` line works in any clone) and runs
its training steps as `degaml` child processes in the checkout (they resume if interrupted; a sharded E-step needs
several processes anyway). The children run this same package with this same interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from degaml.errors import DegamlError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the directory holding `degaml/`
REPO = PACKAGE_ROOT  # a source checkout: specs/, runs/ and the package side by side


def repo_relative(path: Path, what: str, repo: Path = REPO) -> Path:
    """`path` relative to the checkout `repo`; a path outside it is a one-line error naming the option `what`."""
    try:
        return path.resolve().relative_to(repo.resolve())
    except ValueError:
        raise DegamlError(f"{what}: '{path}' is not inside the checkout {repo} (manifests record paths relative to it)") from None


def degaml_argv(command: str) -> list[str]:
    """`degaml ARGS...` → the argv that runs it with this interpreter and this package."""
    words = command.split()
    if not words or words[0] != "degaml":
        raise ValueError(f"not a degaml command: {command!r}")
    return [sys.executable, "-m", "degaml", *words[1:]]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child `degaml`: this one, with this package first on PYTHONPATH."""
    env = dict(os.environ) | dict(extra or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def start_degaml(command: str, repo: Path = REPO, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start `command` (a `degaml …` line) in the checkout; the caller waits."""
    return subprocess.Popen(degaml_argv(command), cwd=repo, env=child_env(extra_env))


def run_degaml(command: str, repo: Path = REPO, extra_env: Mapping[str, str] | None = None) -> None:
    """Run `command` (a `degaml …` line) in the checkout; a failure is a one-line error naming it."""
    code = start_degaml(command, repo, extra_env).wait()
    if code != 0:
        raise DegamlError(f"`{command}` failed (exit code {code}); its own message is above; re-run to resume")
