"""`sklearn:<name>` sources: scikit-learn's bundled real datasets as multiple-choice items — item for item the
dataset's rows and labels, feature subsets in order, and one-line errors for bad names, options and formats."""

from __future__ import annotations

import builtins

import pytest
import sklearn.datasets


from degaml.data import load_task_data
from degaml.data.sources import SourceUnavailable, load_source
from degaml.errors import DataError, SpecError
from degaml.specs import load_spec, spec_from_dict
from tests.conftest import mc_spec_dict, numeric_spec_dict

MEANS = ["mean radius", "mean texture"]


def spec(tmp_path, **source):
    return spec_from_dict(mc_spec_dict(tmp_path / "unused.jsonl") | {"dataset": [source]})


def test_breast_cancer_items_are_the_datasets_rows_and_labels(tmp_path):
    s = spec(tmp_path, source="sklearn:breast_cancer", options={"features": MEANS[::-1]})
    examples = load_source(s.dataset[0], s)
    bunch = sklearn.datasets.load_breast_cancer()
    assert len(examples) == len(bunch.target) == 569
    assert [e.answer for e in examples] == [int(y) for y in bunch.target]
    assert examples[0].choices == ("malignant", "benign")
    row = bunch.data[0]
    assert examples[0].question == f"mean texture {row[1]:.4g}; mean radius {row[0]:.4g}"  # the order asked for


def test_digits_render_as_an_8_by_8_image(tmp_path):
    s = spec(tmp_path, source="sklearn:digits")
    ex = load_source(s.dataset[0], s)[0]
    lines = ex.question.splitlines()
    assert len(lines) == 8 and all(len(line.split()) == 8 for line in lines)
    assert [int(v) for line in lines for v in line.split()] == [int(v) for v in sklearn.datasets.load_digits().data[0]]
    assert ex.choices == tuple(str(d) for d in range(10)) and ex.answer == 0


@pytest.mark.parametrize(("source", "message"), [
    ({"source": "sklearn:mnist"}, "unknown scikit-learn dataset 'mnist'"),
    ({"source": "sklearn:wine", "options": {"size": 3}}, "options: unknown key(s) size"),
    ({"source": "sklearn:wine", "options": {"features": ["colour"]}}, "options.features: unknown feature(s) 'colour'"),
    ({"source": "sklearn:digits", "options": {"features": ["pixel_0_0"]}}, "digits is an image"),
])
def test_bad_names_and_options_are_one_line_errors(tmp_path, source, message):
    s = spec(tmp_path, **source)
    with pytest.raises(DataError, match="^sklearn:") as info:
        load_source(s.dataset[0], s)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_generative_format_is_refused_when_the_spec_is_read(tmp_path):
    with pytest.raises(SpecError, match="use format multiple_choice"):
        spec_from_dict(numeric_spec_dict(tmp_path / "unused.jsonl") | {"dataset": [{"source": "sklearn:iris"}]})


def test_without_scikit_learn_the_source_is_unavailable(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    s = spec(tmp_path, source="sklearn:iris")
    with pytest.raises(SourceUnavailable, match="scikit-learn is not installed"):
        load_source(s.dataset[0], s)


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_shipped_specs_partition_with_provenance(name):
    s = load_spec(f"specs/{name}.yaml")
    task = load_task_data(s)
    ids = [e.id for split in (task.support, task.validation, task.read("test", "check"), task.train) for e in split]
    assert len(ids) == len(set(ids))  # disjoint splits
    assert len(task.validation) == 200 and len(task.support) == 20
    assert task.provenance.dataset.used.kind == "sklearn" and "scikit-learn" in task.provenance.dataset.used.location
