"""Pulling answers out of generated text and comparing them with gold answers.

- numeric (GSM8K): lm-eval's "flexible-extract" by default — the last number in the text; gold and prediction
  are compared as numbers after removing `$`, `,` and a trailing `.` (lm-eval compares the cleaned strings, so
  "18.0" vs "18" counts wrong there and right here).
- math (MATH): the last `\\boxed{...}` (else the last `$...$`, else the text), compared after the usual MATH
  normalisation (`normalize_math`): spacing, `\\left/\\right`, `dfrac/tfrac`, `\\frac12`, degrees, units, ...
- exact_match: the first line, stripped, compared exactly.
- reasoning_gym items are scored by the dataset's own verifier (score 1.0 = correct).
"""

from __future__ import annotations

import re

from degaml.data.example import Example
from degaml.specs.model import AnswerFilter, TaskFormat

DEFAULT_REGEX: dict[str, str | None] = {
    "numeric": r"(-?[$0-9.,]{2,})|(-?[0-9]+)",
    "math": None,
    "exact_match": None,
}


def apply_filter(text: str, answer_filter: AnswerFilter, fmt: TaskFormat) -> str | None:
    """The answer string the filter selects from `text`, or None when nothing matches."""
    regex = answer_filter.regex or DEFAULT_REGEX.get(fmt)
    if regex is None:
        if fmt == "math":
            return extract_math_answer(text)
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        return lines[0] if lines else None
    matches = list(re.finditer(regex, text))
    if not matches:
        return None
    try:
        match = matches[answer_filter.select]
    except IndexError:
        return None
    groups = [g for g in match.groups() if g] if match.groups() else []
    return (groups[0] if groups else match.group(0)).strip()


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) with balanced braces."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        rest = text[start + len("\\boxed") :].strip()
        return rest.split("$")[0].strip() or None
    depth = 0
    for i in range(brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[brace + 1 : i]
    return None


def extract_math_answer(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    dollars = [m.start() for m in re.finditer(r"\$", text)]
    if len(dollars) >= 2:
        return text[dollars[-2] + 1 : dollars[-1]]
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else None


def _fix_fracs(s: str) -> str:
    # \frac12 → \frac{1}{2}; \frac1{b} → \frac{1}{b}
    return re.sub(r"\\frac(?!\{)(\w)(?:(\w)|(\{))", lambda m: f"\\frac{{{m.group(1)}}}" + (f"{{{m.group(2)}}}" if m.group(2) else "{"), s)


def normalize_math(answer: str) -> str:
    """Canonical form of a MATH answer string for equality checks."""
    s = answer.strip().replace("\n", "").replace("\\!", "")
    s = re.sub(r"\\text\{\s*([^}]*)\}", r"\1", s)
    s = s.replace("tfrac", "frac").replace("dfrac", "frac").replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\$", "").replace("$", "")
    s = s.replace("\\%", "").replace("%", "").replace("\\ ", "")
    s = re.sub(r"(\\mbox\{.*?\})", "", s)
    s = re.sub(r"^[a-zA-Z]\s*=\s*", "", s) if len(s.split("=")[0]) <= 2 else s
    s = s.replace(" ", "")
    s = _fix_fracs(s)
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    if s.startswith("."):
        s = "0" + s
    s = re.sub(r"(\{|^|[^0-9])\.(\d)", r"\g<1>0.\2", s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    s = re.sub(r"^(-?\d+)\.0+$", r"\1", s)
    return s.rstrip(".")


def _as_number(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        return float(cleaned)
    except ValueError:
        return None


def is_correct(prediction: str | None, example: Example, fmt: TaskFormat) -> bool:
    """Whether an extracted prediction matches the example's gold answer."""
    if prediction is None:
        return False
    scorer = example.meta.get("scorer")
    if scorer is not None:
        return float(scorer(answer=prediction, entry=example.meta["reasoning_gym"])) >= 1.0 - 1e-9
    gold = str(example.answer)
    if fmt == "numeric":
        pred_num, gold_num = _as_number(prediction), _as_number(gold)
        if pred_num is not None and gold_num is not None:
            return abs(pred_num - gold_num) <= 1e-6 * max(1.0, abs(gold_num))
        return prediction.strip() == gold.strip()
    if fmt == "math":
        return normalize_math(prediction) == normalize_math(gold)
    return prediction.strip() == gold.strip()
