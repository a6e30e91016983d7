"""Spec templates render in a bounded sandbox: a template that would build a huge string, loop without end or ask
for a range over the limit is one `DataError` naming the field — quickly, never an OverflowError traceback."""

from __future__ import annotations

import time

import pytest
import yaml

import degaml.specs.templates as templates
from degaml.cli import main
from degaml.data import load_source
from degaml.errors import DataError
from degaml.specs import spec_from_dict
from degaml.specs.templates import compile_template, render
from tests.conftest import mc_rows, mc_spec_dict, numeric_spec_dict, write_jsonl

BOMBS = {
    "repeat": "{{ 'x' * 100000000 }}",
    "nested loops": "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
    "range over the limit": "{% for i in range(99999999999) %}{% endfor %}",
    "doubling": "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
    "huge width": "{{ 'x'|center(10000000000) }}",
    "huge format": "{{ '{:>1000000000}'.format('x') }}",
    "huge power": "{{ 10 ** (10 ** 8) }}",
    "huge output": "{% for i in range(5000) %}{{ question * 100 }}{% endfor %}",
}


@pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
def test_a_template_past_a_bound_is_one_line_naming_the_field(source):
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"^doc_to_text: template over its resource bounds: ") as info:
        render(compile_template(source, "doc_to_text"), "doc_to_text", question="What?")
    assert time.perf_counter() - start < 5 and "\n" not in str(info.value)


def test_the_time_bound_stops_a_slow_render(monkeypatch):
    monkeypatch.setattr(templates, "MAX_SECONDS", 0.0)
    with pytest.raises(DataError, match="took more than"):
        render(compile_template("{% for i in range(5000) %}{{ i }}{% endfor %}", "f"), "f")


def test_ordinary_templates_render_as_before():
    source = "Q: {{ question }}\n{% for c in choices %}{{ 'ABCD'[loop.index0] }}. {{ c }}\n{% endfor %}{{ '-' * 3 }}{{ '{}'.format(7) }}"
    assert render(compile_template(source, "f"), "f", question="Why?", choices=["a", "b"]) == "Q: Why?\nA. a\nB. b\n---7"


def test_a_field_template_bomb_fails_data_loading_fast(tmp_path):
    data = write_jsonl(tmp_path / "n.jsonl", [{"q": "What?", "a": "1"}] * 3)
    spec = spec_from_dict(numeric_spec_dict(data) | {"dataset": [{"source": str(data), "fields": {
        "question": "{{ q * 100000000 }}", "answer": "a"}}]})
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"fields\.question: template over its resource bounds"):
        load_source(spec.dataset[0], spec)
    assert time.perf_counter() - start < 5


def test_eval_with_a_runaway_prompt_template_exits_2_in_one_line(tmp_path, tiny_model_dir, capsys, monkeypatch):
    import degaml.models

    monkeypatch.setattr(degaml.models, "load_llm", lambda *a, **k: pytest.fail("model loaded before the templates were checked"))
    spec = mc_spec_dict(write_jsonl(tmp_path / "mc.jsonl", mc_rows(60)), model=str(tiny_model_dir),
                        doc_to_text="{% for i in range(99999999999) %}{% endfor %}{{ question }}")
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as info:
        main(["eval", str(tmp_path / "toy.yaml")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "doc_to_text: template over its resource bounds" in err
    assert "OverflowError" not in err and "Traceback" not in err
    assert [line for line in err.splitlines() if not line.startswith("toy_mc: ")] == [err.strip().splitlines()[-1]]
