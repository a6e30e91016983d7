"""benchmarks/studies/generator_heldout.py: generator arguments are validated, the pooled paired tests use the same items."""

import json

import pytest

from tests.benchmarks.helpers import load_script


def load():
    return load_script("studies/generator_heldout")


def test_generator_arguments_need_a_name_and_a_directory(tmp_path):
    m = load()
    assert m.parse_generators(["shipped=default"]) == {"shipped": "default"}
    assert m.parse_generators([f"broad={tmp_path}"]) == {"broad": str(tmp_path.resolve())}
    for bad in ["default", "=x", "broad="]:
        with pytest.raises(SystemExit, match="--generator"):
            m.parse_generators([bad])


def test_pooled_report_pairs_generator_and_base_items(tmp_path):
    m = load()
    rows = [{"task": t, "seed": 0, "base": {"correct": [True, False, False, False]},
             "generators": {"g": {"correct": [True, True, True, False]}}} for t in ("a", "b")]
    out = tmp_path / "r.json"
    m._write(out, {"g": "dir"}, rows)
    pooled = json.loads(out.read_text())["pooled"]["g"]
    assert pooled["task_seeds"] == 2
    assert pooled["vs_base_bootstrap"]["delta"] == pytest.approx(0.5)
    assert pooled["vs_base_mcnemar_p"] == pytest.approx(2 * 0.5**4)  # 4 wins, 0 losses
