"""`sklearn:<name>` sources: real benchmark datasets bundled inside scikit-learn's wheel, loadable offline.

They are small UCI classification sets, rendered as multiple-choice items (the class names are the choices):
  breast_cancer  Wisconsin diagnostic breast cancer, 569 items, malignant / benign, 30 nucleus measurements
  wine           wine recognition, 178 items, 3 cultivars, 13 chemical measurements
  iris           iris, 150 items, 3 species, 4 measurements
  digits         handwritten digits, 1797 items, 0–9, an 8 × 8 image of intensities 0–16 (rendered row by row)
Feature datasets render `name value; name value; …`; `options: {features: [...]}` keeps a subset, in that order.
Items are in the dataset's own order; the spec's seeded partition shuffles them like any other source.
"""

from __future__ import annotations

from typing import Any

from degaml.data.example import Example
from degaml.errors import DataError

LOADERS = {"breast_cancer": "load_breast_cancer", "wine": "load_wine", "iris": "load_iris", "digits": "load_digits"}
OPTIONS = {"features"}


def _value(x: float) -> str:
    return f"{x:.4g}"


def _render_image(row: Any) -> str:
    """64 intensities → 8 lines of 8 numbers."""
    pixels = [int(v) for v in row]
    return "\n".join(" ".join(f"{p:2d}" for p in pixels[r * 8:(r + 1) * 8]) for r in range(8))


def sklearn_examples(source: str, name: str, options: dict[str, Any]) -> list[Example]:
    """Every item of scikit-learn's bundled dataset `name`; raises ImportError when scikit-learn is missing."""
    import sklearn.datasets

    if name not in LOADERS:
        raise DataError(f"{source}: unknown scikit-learn dataset '{name}' (one of {', '.join(LOADERS)})")
    unknown = set(options) - OPTIONS
    if unknown:
        raise DataError(f"{source}: options: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(OPTIONS))})")
    bunch = getattr(sklearn.datasets, LOADERS[name])()
    choices = tuple(str(t).replace("_", " ") for t in bunch.target_names)
    if name == "digits":
        if "features" in options:
            raise DataError(f"{source}: options.features: digits is an image, its pixels cannot be selected")
        questions = [_render_image(row) for row in bunch.data]
    else:
        names = [str(f) for f in bunch.feature_names]
        wanted = list(options.get("features") or names)
        missing = [f for f in wanted if f not in names]
        if missing:
            raise DataError(f"{source}: options.features: unknown feature(s) {', '.join(map(repr, missing))}")
        columns = [names.index(f) for f in wanted]
        questions = ["; ".join(f"{names[c]} {_value(row[c])}" for c in columns) for row in bunch.data]
    return [Example(id=f"{name}-{i:05d}", question=q, choices=choices, answer=int(y))
            for i, (q, y) in enumerate(zip(questions, bunch.target))]
