"""A new user's first minutes: fast answers (no torch before the arguments are parsed), help text that teaches,
errors that say what is wrong, one quiet line naming the data source, and progress through every long phase."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from degaml import __version__
from degaml.cli import main
from degaml.controller.store.trajectory_store import TrajectoryStore
from degaml.errors import DataError
from tests.conftest import mc_rows, mc_spec_dict, write_jsonl

COMMANDS = ["", "adapt", "eval", "models", "tui", "strategy", "strategy run", "strategy schema", "spec", "spec validate",
            "spec schema", "trajectories", "trajectories export", "policy", "policy train", "generator",
            "generator collect", "generator train", "generator generate"]


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


def heavy_modules_after(argv: list[str]) -> tuple[int, list[str]]:
    """Run `degaml argv` in a fresh interpreter; its exit code and which of torch/transformers it imported."""
    code = ("import sys\nfrom degaml.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            "print('EXIT', code, *[m for m in ('torch', 'transformers', 'textual') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    last = out.stdout.strip().splitlines()[-1].split()
    assert last[0] == "EXIT", out.stdout + out.stderr
    return int(last[1]), last[2:]


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["adapt", "--help"], ["eval", "--help"],
                                  ["eval", "no-such-spec.yaml"], ["adapt", "--steps", "zero"], ["strategy", "run", "--help"]])
def test_help_version_and_argument_errors_do_not_import_torch(argv):
    code, heavy = heavy_modules_after(argv)
    assert code in (0, 2) and heavy == []


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"degaml {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_text_is_clean(command, capsys):
    assert run([*command.split(), "--help"]) == 0
    text = capsys.readouterr().out
    assert "<bool>" not in text and "<list[str]>" not in text  # flags take no value; KEY=VALUE says it all
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "[[" not in usage and "]...]" not in usage
    if command and command not in ("strategy", "spec", "trajectories", "policy", "generator"):
        assert "Examples:" in text and "degaml " + command.split()[0] in text


def test_boolean_flags_show_both_forms(capsys):
    assert run(["adapt", "--help"]) == 0
    assert "--tui" in (text := capsys.readouterr().out) and "--no-tui" in text


def test_strategy_run_help_lists_every_family_and_the_schema_command(capsys):
    from degaml.strategies.registry import FAMILIES

    assert run(["strategy", "run", "--help"]) == 0
    text = capsys.readouterr().out
    listed = [line.split()[0] for line in text.splitlines() if line.startswith("   ") and line.split()
              and line.split()[0] in FAMILIES]
    assert sorted(listed) == sorted(FAMILIES)
    assert "degaml strategy schema" in text


def test_spec_kind_and_directory_errors_say_what_is_wrong(capsys):
    root = Path(__file__).resolve().parents[2]
    assert run(["eval", str(root / "specs")]) == 2
    assert "is a directory, not a spec file" in capsys.readouterr().err
    assert run(["generator", "collect", str(root / "specs" / "arc_easy.yaml")]) == 2
    err = capsys.readouterr().err
    assert "this is a task spec" in err and "specs/meta/" in err and "Field required" not in err
    assert run(["eval", str(root / "specs" / "meta" / "in_domain.yaml")]) == 2
    assert "this is a meta spec" in capsys.readouterr().err


def test_generator_generate_takes_overrides(tmp_path, capsys):
    root = Path(__file__).resolve().parents[2]
    assert run(["generator", "generate", str(root / "specs" / "arc_easy.yaml"), "num_support=-3",
                "--out", str(tmp_path / "a")]) == 2
    assert "num_support" in capsys.readouterr().err and not (tmp_path / "a").exists()


def test_a_corrupt_events_line_is_one_clean_line(tmp_path):
    from tests.tui.recorded_run import build_recorded_run

    run_dir = build_recorded_run(tmp_path / "run")
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    for bad, expected in [('{"kind": "step"}', "step event, field 'step': Field required"),
                          ('{"kind": "nonsense"}', "no known event 'kind'"), ("{not json", "not valid JSON")]:
        (run_dir / "events.jsonl").write_text("\n".join(lines[:2] + [bad] + lines[2:]) + "\n")
        with pytest.raises(DataError) as info:
            TrajectoryStore.open(run_dir).events()
        message = str(info.value)
        assert message == f"{run_dir / 'events.jsonl'}:3: not a degaml event ({expected})"
        assert "union" not in message and "\n" not in message


@pytest.fixture
def offline_spec(tmp_path, tiny_model_dir, tiny_generator_dir, monkeypatch):
    from degaml.models.hub import hub_reachable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_reachable.cache_clear()
    data = write_jsonl(tmp_path / "mc.jsonl", mc_rows(60))
    spec = mc_spec_dict(data, model=str(tiny_model_dir), generator=str(tiny_generator_dir),
                        adapt={"steps": 1, "policy": "base", "max_new_tokens": 120, "retries": 0})
    spec["dataset"] = [{"source": "hf:someone/planets"}, *spec["dataset"]]
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    yield path
    hub_reachable.cache_clear()


def test_offline_data_source_is_one_quiet_line_details_with_verbose(offline_spec, capsys):
    assert run(["eval", str(offline_spec), "--limit", "3"]) == 0
    err = capsys.readouterr().err
    assert "skipping" not in err and "toy_mc: 3 validation items from" in err and "mc.jsonl" in err
    assert run(["-v", "eval", str(offline_spec), "--limit", "3"]) == 0
    assert "skipping data source hf:someone/planets" in capsys.readouterr().err


@pytest.mark.slow
def test_adapt_announces_the_test_size_and_reports_progress_of_every_phase(offline_spec, tmp_path, capsys, monkeypatch):
    from degaml.controller.episode import episode

    monkeypatch.setattr(episode, "PROGRESS_INTERVAL", 0.0)  # store every progress event
    run_dir = tmp_path / "run"
    assert run(["adapt", str(offline_spec), "num_test=null", "--run-dir", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert "20 validation items per step · 35 test items scored once at the end (num_test unset" in err
    assert "num_test=100" in err
    progress = [e for e in TrajectoryStore.open(run_dir).events() if e.kind == "progress"]
    phases = {"θ₀ baseline · validation": 20, "θ₀ on the test split · test": 35}
    for label, total in phases.items():
        seen = [e.fraction for e in progress if e.what.startswith(label)]
        assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 2, label
        assert any(e.what == f"{label} {total}/{total}" for e in progress)
    tokens = [e for e in progress if e.what.startswith("policy decision (attempt 1): token")]
    assert tokens and all(0 < e.fraction <= 1 for e in tokens) and tokens[0].step == 0
    # not a terminal: plain progress lines (what, percent) rather than a bar
    assert "θ₀ baseline · validation 0/20 (0%)" in err and "θ₀ on the test split · test" in err


def test_plain_progress_lines_per_phase_not_per_item():
    import io

    from rich.console import Console

    from degaml.cli.common import PhaseProgress

    out = Console(file=io.StringIO(), width=200)
    with PhaseProgress(out) as progress:
        assert not progress.live  # not a terminal: plain lines
        for i in range(1, 50):
            progress(f"policy decision (attempt 1): token {i}/≤96", i / 96)
        progress("θ₀ on the test split · test 0/530", 0.0)
        progress("θ₀ on the test split · test 530/530", 1.0)
    lines = out.file.getvalue().splitlines()
    assert lines == ["policy decision (attempt 1): token 1/≤96 (1%)", "θ₀ on the test split · test 0/530 (0%)",
                     "θ₀ on the test split · test 530/530 (100%)"]


def test_terminal_progress_is_a_bar_with_eta():
    import io

    from rich.console import Console

    from degaml.cli.common import PhaseProgress

    out = Console(file=io.StringIO(), width=120, force_terminal=True)
    with PhaseProgress(out) as progress:
        assert progress.live
        progress("θ₀ on the test split · test 265/530", 0.5)
        progress.progress.refresh()
    text = out.file.getvalue()
    assert "test 265/530" in text and "50%" in text and "eta" in text


def test_resuming_a_live_run_fails_before_loading_anything(tmp_path, capsys):
    from tests.tui.recorded_run import live_run

    store = live_run(tmp_path / "live")  # holds the writer lock, like a live `degaml adapt`
    try:
        assert run(["adapt", "--resume", str(store.run_dir)]) == 2
        assert "is being written by another process" in capsys.readouterr().err
    finally:
        store.release()
