"""A generator directory is validated on load: corrupt/truncated/missing files and manifest mismatches give one
`ModelLoadError` naming the file; a generator trained for another base model is refused up front."""

from __future__ import annotations

import json
import shutil

import pytest

from degaml.errors import ModelLoadError
from degaml.generator.artifact import GeneratorBundle, check_base_model
from degaml.io import file_sha256


@pytest.fixture
def gen_copy(tmp_path, tiny_generator_dir):
    return shutil.copytree(tiny_generator_dir, tmp_path / "gen")


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    "name, damage",
    [
        ("generator.json", lambda p: p.write_text('{"dims": [[1, 2')),  # truncated JSON
        ("generator.json", lambda p: p.write_text(json.dumps({"kernel": 3}))),  # valid JSON, missing keys
        ("generator.safetensors", _truncate),
        ("generator.safetensors", lambda p: p.write_bytes(b"\x00garbage" * 50)),
        ("tokenizer.json", lambda p: p.write_text("not json")),
        ("tokenizer.json", lambda p: p.write_text(json.dumps({"rank": 2}))),
        ("tokenizer_stats.safetensors", _truncate),
        ("tokenizer_stats.safetensors", lambda p: p.unlink()),
    ],
)
def test_damaged_generator_file_is_one_line_naming_it(gen_copy, name, damage):
    damage(gen_copy / name)
    with pytest.raises(ModelLoadError, match=name.replace(".", r"\.")) as info:
        GeneratorBundle.load(gen_copy)
    assert "\n" not in str(info.value)


def test_manifest_hash_mismatch_is_refused(gen_copy):
    files = ["generator.json", "generator.safetensors", "tokenizer.json", "tokenizer_stats.safetensors"]
    (gen_copy / "manifest.json").write_text(json.dumps({"sha256": {f: file_sha256(gen_copy / f) for f in files}}))
    GeneratorBundle.load(gen_copy)  # intact: loads
    weights = gen_copy / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside a tensor: still a loadable safetensors file, but garbled weights
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"generator\.safetensors does not match the sha256"):
        GeneratorBundle.load(gen_copy)


def test_corrupt_manifest_is_one_line(gen_copy):
    (gen_copy / "manifest.json").write_text("{ nope")
    with pytest.raises(ModelLoadError, match=r"manifest\.json is corrupt"):
        GeneratorBundle.load(gen_copy)


def test_shipped_generator_matches_its_manifest():
    from degaml.generator.pipeline import SHIPPED_GENERATOR

    if not (SHIPPED_GENERATOR / "manifest.json").is_file():
        pytest.skip("no shipped generator in this checkout")
    from degaml.io import verify_manifest

    assert verify_manifest(SHIPPED_GENERATOR, "generator")["sha256"]


def test_base_model_mismatch(tiny_generator_dir, tiny_model_dir):
    assert check_base_model(tiny_generator_dir, str(tiny_model_dir)).base_model == str(tiny_model_dir)
    with pytest.raises(ModelLoadError, match="trained for base model"):
        check_base_model(tiny_generator_dir, "default")


def _poison_tensors(path, value):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    name = sorted(tensors)[0]
    tensors[name].view(-1)[0] = value
    save_file(tensors, str(path))


@pytest.mark.parametrize("name", ["generator.safetensors", "tokenizer_stats.safetensors"])
@pytest.mark.parametrize("value, problem", [(float("nan"), "non-finite"), (1e30, "implausibly large")])
def test_a_diverged_generator_is_refused_on_load(gen_copy, name, value, problem):
    """Diverged weights or NaN normalisation statistics would generate NaN/huge adapters: refused, naming the file."""
    _poison_tensors(gen_copy / name, value)
    with pytest.raises(ModelLoadError, match=problem) as info:
        GeneratorBundle.load(gen_copy)
    assert name in str(info.value) and "\n" not in str(info.value)
