"""Test markers: every marker the tests use is registered in pyproject.toml (a misspelt `slow` would silently stay
in the quick run), and CI runs every test — no marker selection — while README shows the quick run beside it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILTIN = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings", "asyncio"}


def _registered() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return {line.split(":", 1)[0].strip() for line in config["markers"]}


def test_every_marker_used_is_registered():
    used = {name for path in (REPO / "tests").rglob("*.py")
            for name in re.findall(r"pytest\.mark\.([A-Za-z_]+)", path.read_text())}
    assert {"slow", "integration"} <= _registered()
    assert used - BUILTIN <= _registered(), used - BUILTIN - _registered()
    assert "slow" in used  # the quick run has something to leave out


def test_ci_runs_everything_and_readme_shows_the_quick_run():
    ci = (REPO / ".ci" / "run").read_text()
    runs = [line.split("pytest", 1)[1].split() for line in ci.splitlines() if line.startswith("python -m pytest")]
    assert runs and all(not {"-m", "-k", "--ignore", "--deselect"} & set(args) for args in runs), runs
    assert "exit 1" in ci and '"$status" -eq 5' in ci  # no test collected still fails CI
    readme = (REPO / "README.md").read_text()
    assert 'pip install -e ".[test]" && python -m pytest -q\npython -m pytest -q -m "not slow and not integration"' in readme
