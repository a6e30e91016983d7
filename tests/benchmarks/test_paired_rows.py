"""benchmarks/studies/paired_rows.py: two rows' cells from different directories, paired per item."""

import json

import pytest

from tests.benchmarks.helpers import load_script

paired = load_script("studies/paired_rows")


def _cell(directory, task, method, seed, correct, ids=None):
    path = directory / task / f"{method}-s{seed}-abc.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = ids or [f"i{k}" for k in range(len(correct))]
    path.write_text(json.dumps({"predictions": {"ids": ids, "correct": correct},
                                "test": {"accuracy": sum(correct) / len(correct)}}))


def test_seeds_are_averaged_per_item_and_tasks_pooled(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _cell(a, "t1", "x", 0, [True] * 8 + [False] * 2)
    _cell(b, "t1", "y", 0, [True] * 4 + [False] * 6)
    _cell(b, "t1", "y", 1, [True] * 6 + [False] * 4)
    _cell(a, "t2", "x", 0, [True, False] * 5)
    _cell(b, "t2", "y", 0, [True, False] * 5)
    result = paired.compare(f"{a}:x", f"{b}:y", ["t1", "t2"])
    assert result["tasks"]["t1"]["b"] == pytest.approx(0.5) and result["tasks"]["t1"]["seeds"] == [1, 2]
    assert result["tasks"]["t1"]["delta_points"] == pytest.approx(30.0)
    assert result["tasks"]["t2"]["delta_points"] == 0.0 and result["tasks"]["t2"]["p"] == 1.0
    assert result["pooled"]["delta"] == pytest.approx(0.15)


def test_other_test_items_or_missing_cells_are_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _cell(a, "t1", "x", 0, [True, False], ids=["i0", "i1"])
    _cell(b, "t1", "y", 0, [True, False], ids=["i0", "i9"])
    with pytest.raises(SystemExit, match="different test items"):
        paired.compare(f"{a}:x", f"{b}:y", ["t1"])
    with pytest.raises(SystemExit, match="no cells for task 't2'"):
        paired.compare(f"{a}:x", f"{b}:y", ["t2"])
