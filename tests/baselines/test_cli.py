"""`degaml baseline` / `degaml reproduce` on the command line: the JSON fields, and bad input → exit 2, nothing written."""

from __future__ import annotations

import json

import pytest

from degaml.cli import main
from tests.baselines.helpers import write_world


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


def test_baseline_writes_the_protocol_fields(tiny_model_dir, tmp_path):
    world = write_world(tmp_path / "w", tiny_model_dir)
    out, preds = tmp_path / "out.json", tmp_path / "preds.jsonl"
    argv = ["baseline", "no_meta_lora", str(world["target"]), "fit.eval_steps=[1]", "--profile", "tiny",
            "--json", str(out), "--predictions", str(preds), "--work-dir", str(tmp_path / "work")]
    assert run(argv) == 0
    record = json.loads(out.read_text())
    for key in ("method", "task", "validation", "test", "labelled_items", "seconds"):
        assert key in record
    assert set(record["test"]) == {"accuracy", "ci95", "n", "answers"} and record["labelled_items"] == 5
    assert 0 <= record["test"]["answers"]["collapse_rate"] <= 1  # the answer metrics a prior shift cannot fool
    assert record["info"]["steps"] == 1
    assert len(record["data"]["dataset"]["used"]["sha256"]) == 64  # which items were read
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == record["test"]["n"] and sum(r["correct"] for r in rows) / len(rows) == pytest.approx(record["test"]["accuracy"])


@pytest.mark.parametrize("argv,message", [
    (["baseline", "nope", "{target}"], "unknown baseline"),
    (["baseline", "maml", "{target}", "inner_lr=-1"], "inner_lr"),
    (["baseline", "base", "{target}", "--profile", "gpu"], "--profile"),
    (["reproduce", "table3", "--out", "{tmp}/o"], "TABLE"),
    (["reproduce", "table1", "--out", "{tmp}/o", "--meta", "{tmp}/missing.yaml"], "meta spec"),
])
def test_bad_input_exits_2_before_any_work(argv, message, tiny_model_dir, tmp_path, capsys):
    world = write_world(tmp_path / "w", tiny_model_dir)
    argv = [a.format(target=world["target"], tmp=tmp_path) for a in argv]
    assert run(argv + ["--json", str(tmp_path / "x.json")] if argv[0] == "baseline" else argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "o").exists()


def test_baseline_train_builds_a_leave_one_out_artifact(tiny_model_dir, tmp_path):
    world = write_world(tmp_path / "w", tiny_model_dir)
    assert run(["baseline-train", "maml", str(world["meta"]), "--profile", "tiny", "--exclude", "target"]) == 0
    manifests = list((tmp_path / "w" / "meta-out" / "baselines").glob("maml-minus-target-*/manifest.json"))
    assert len(manifests) == 1 and json.loads(manifests[0].read_text())["tasks"] == ["task_a", "task_b"]
    assert run(["baseline-train", "maml", str(world["meta"]), "--profile", "tiny", "--exclude", "nope"]) == 2
