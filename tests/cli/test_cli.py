"""The CLI: `degaml eval` outputs, split/limit semantics, and bad arguments (exit 2, one line, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from degaml.cli import main
from tests.conftest import mc_spec_dict


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.fixture
def spec_file(mc_file, tiny_model_dir, tmp_path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(mc_spec_dict(mc_file, model=str(tiny_model_dir), batch_size=8)))
    return path


def test_eval_writes_summary_and_predictions(spec_file, tmp_path, capsys):
    out, preds = tmp_path / "out.json", tmp_path / "preds.jsonl"
    assert run(["eval", str(spec_file), "--json", str(out), "--predictions", str(preds)]) == 0
    summary = json.loads(out.read_text())
    for key in ("task", "split", "n", "accuracy", "ci95", "seconds", "examples_per_second", "model", "acc_norm", "tokens_per_second"):
        assert key in summary
    assert summary["split"] == "validation" and summary["n"] == 20 and len(summary["ci95"]) == 2
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == 20 and {"id", "prediction", "gold", "correct", "scores"} <= set(rows[0])
    assert sum(r["correct"] for r in rows) / 20 == pytest.approx(summary["accuracy"])
    assert "accuracy" in capsys.readouterr().out


def test_split_all_keeps_file_order_and_limit_takes_first_n(spec_file, tmp_path):
    preds = tmp_path / "all.jsonl"
    assert run(["eval", str(spec_file), "--split", "all", "--limit", "7", "--predictions", str(preds)]) == 0
    assert [json.loads(line)["id"] for line in preds.read_text().splitlines()] == [f"q{i}" for i in range(7)]


def test_limit_is_a_fixed_prefix_of_the_split(spec_file, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run(["eval", str(spec_file), "--split", "test", "--limit", "3", "--predictions", str(a)])
    run(["eval", str(spec_file), "--split", "test", "--limit", "5", "--predictions", str(b)])
    ids = lambda p: [json.loads(line)["id"] for line in p.read_text().splitlines()]  # noqa: E731
    assert ids(b)[:3] == ids(a)


def test_overrides_reach_the_spec(spec_file, tmp_path):
    out = tmp_path / "o.json"
    assert run(["eval", str(spec_file), "num_validation=4", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n"] == 4


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--split", "train"], "split"),
        (["--limit", "0"], "limit"),
        (["--adapter", "/nonexistent/adapter"], "--adapter"),
        (["--json", "/nonexistent/dir/out.json"], "--json"),
        (["batch_size=oops"], "batch_size"),
        (["notakeyvalue"], "override"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(spec_file, tmp_path, capsys, args, needle):
    preds = tmp_path / "never.jsonl"
    assert run(["eval", str(spec_file), "--predictions", str(preds), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not preds.exists()


def test_missing_spec_file_exits_2(tmp_path, capsys):
    assert run(["eval", str(tmp_path / "none.yaml")]) == 2
    assert "spec file not found" in capsys.readouterr().err


def test_spec_schema_prints_json(capsys):
    assert run(["spec", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "degaml task spec"


def test_models_lists_embedded_defaults(capsys):
    assert run(["models"]) == 0
    out = capsys.readouterr().out
    assert "model: default" in out and "encoder: default" in out
    assert "dtype: auto →" in out and "CPU probe" in out  # the measured dtype choice is shown


def test_adapt_tui_without_a_terminal_is_one_line_exit_2_before_any_run(spec_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run(["adapt", str(spec_file), "--run-dir", str(run_dir), "--tui"]) == 2  # pytest's stdin is not a TTY
    err = capsys.readouterr().err
    assert "--tui" in err and "degaml tui RUN_DIR" in err and len(err.strip().splitlines()) == 1
    assert not run_dir.exists()


def test_tui_without_a_terminal_refuses_instead_of_writing_escape_codes(tmp_path, capsys):
    from tests.tui.recorded_run import build_recorded_run

    run_dir = build_recorded_run(tmp_path / "run")
    assert run(["tui", str(run_dir)]) == 2  # pytest's stdin/stdout are not a TTY
    captured = capsys.readouterr()
    assert "needs an interactive terminal" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""  # no escape codes


@pytest.mark.parametrize("change, problem", [
    ({"dataset": [{"source": "bad.jsonl"}]}, "cannot parse as json"),
    ({"doc_to_text": "Question: {{ questoin }}"}, "'questoin' is undefined"),
    ({"doc_to_target": "{{ choice * 100000000 }}"}, "doc_to_target: template over its resource bounds"),
    ({"num_validation": 500}, "split sizes need"),
])
def test_spec_validate_checks_what_eval_checks_before_scoring(spec_file, tmp_path, capsys, change, problem):
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "choices": ["a", "b"], "answer": 0}\n{not json\n')
    spec = yaml.safe_load(spec_file.read_text()) | change
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    assert run(["spec", "validate", str(spec_file)]) == 0
    capsys.readouterr()
    assert run(["spec", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert problem in err and str(bad) in err and len(err.strip().splitlines()) == 1
    assert run(["eval", str(bad), "--limit", "1"]) == 2 and problem in capsys.readouterr().err  # eval refuses it too


def test_spec_validate_resolves_includes_and_skips_the_base_files(spec_file, tmp_path, capsys):
    flat = yaml.safe_load(spec_file.read_text())
    (tmp_path / "_base.yaml").write_text(yaml.safe_dump({k: v for k, v in flat.items() if k != "task"}))
    child = tmp_path / "child.yaml"
    child.write_text("include: _base.yaml\ntask: child\n")
    assert run(["spec", "validate", str(tmp_path / "_base.yaml"), str(child)]) == 0
    out = capsys.readouterr().out
    assert "skip" in out and "_base.yaml" in out and f"ok {child}: task child" in " ".join(out.split())
    child.write_text("include: _gone.yaml\ntask: child\n")
    assert run(["spec", "validate", str(child)]) == 2
    assert f'{child}: include: file not found (got "_gone.yaml")' in " ".join(capsys.readouterr().err.split())
