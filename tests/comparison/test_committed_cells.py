"""The committed out-of-domain table cells are found from this checkout: their content keys still match what the
specs, data, configs and artifacts produce now (re-rendering the tables loads no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from degaml.baselines.registry import method as method_module
from degaml.comparison.cells import CellRunner
from degaml.controller.policy.model import SHIPPED_POLICY
from degaml.io import file_sha256
from degaml.comparison.keys import portable_spec
from degaml.comparison.tables import TABLES
from degaml.data import shared_data_dir
from degaml.specs import load_spec

REPO = Path(__file__).resolve().parents[2]
OOD = REPO / "docs" / "results" / "tables-ood"
POLICY_OF_CELLS = file_sha256(SHIPPED_POLICY / "adapter_model.safetensors").startswith("823d8edf")  # the DeGAML cells'
RULE_BEFORE = ["adapt.metric=acc", "adapt.alpha=0.05"]  # the default reward rule until 2026-12-08


def test_the_reward_rule_does_not_key_meta_trained_artifacts():
    from degaml.comparison.keys import meta_identity
    from degaml.specs import load_meta_spec

    meta = load_meta_spec(REPO / "specs" / "meta" / "in_domain.yaml")
    changed = load_meta_spec(REPO / "specs" / "meta" / "in_domain.yaml", ["policy.metric=balanced_acc"])
    assert meta_identity(meta, ["boolq"]) != meta_identity(changed, ["boolq"])  # a set E-step field is keyed
    spec = load_spec(REPO / "specs" / "boolq.yaml")
    assert portable_spec(spec)["adapt"] != portable_spec(load_spec(REPO / "specs" / "boolq.yaml", RULE_BEFORE))["adapt"]


def test_an_unset_optional_field_is_not_part_of_the_key_and_a_set_one_is():
    spec = load_spec(REPO / "specs" / "rg" / "gcd.yaml")
    assert "library" not in portable_spec(spec)["adapt"]
    chosen = spec.model_copy(update={"adapt": spec.adapt.model_copy(update={"library": "specs/meta/broad.yaml"})})
    assert portable_spec(chosen)["adapt"]["library"] == "specs/meta/broad.yaml"


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_every_committed_ood_cell_is_found(table, monkeypatch):
    if shared_data_dir(REPO) is None:
        pytest.skip("shared benchmark data not beside this checkout")
    recorded = json.loads((OOD / f"{table}.json").read_text())
    monkeypatch.chdir(REPO)  # the recorded command's relative spec paths
    overrides = recorded["spec_overrides"] + RULE_BEFORE  # the episode rule these cells ran under, then the default
    runner = CellRunner(OOD, recorded["profile"], Path(recorded["meta_spec"]), overrides)
    # the DeGAML rows are keyed by the policy's weights too: a newly shipped policy makes their cells history, to be
    # re-run with it (`degaml reproduce`); every other row's cells must still be found
    rows = [m for m in TABLES[table]["rows"] if not getattr(method_module(m), "USES_POLICY", False) or POLICY_OF_CELLS]
    missing = [(spec, method) for spec in recorded["specs"] for method in rows
               if not runner.plan(method, Path(spec), 0).path.is_file()]
    assert not missing
