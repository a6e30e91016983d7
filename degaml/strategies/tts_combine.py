"""Pure combination rules of test-time scaling (paper App. F.1, Figure 5, footnote 6): no model, no I/O.

Per question, K adapters each give an answer a_k (a choice index or a canonical answer key; None = no answer)
and a confidence c_k:
  - multiple choice: c_k = softmax(s_k)[a_k] with s_k the adapter's per-choice scores (summed log-probs, or
    log-prob per character under acc_norm) and a_k = argmax s_k — the probability of its chosen answer;
  - generative: c_k = mean token log-prob of the adapter's generated continuation (teacher-forced).

Ensembles
  - max_confidence: the adapter with the largest c_k among those that answered (first on ties).
  - majority_vote: the answer with most votes; ties → larger Σ c_k over its voters, then first appearance;
    returns the most confident voter of the winning answer.
  - sum_logprobs: S_c = Σ_k s_k[c] over candidates c, answer argmax S (first on ties).
Routers (Euclidean distance, footnote 6), with e(q) the question's sentence embedding and P_k batch k's prompts:
  - avg_sim_score (M1): argmin_k (1/|P_k|) Σ_{p∈P_k} ‖e(q) − e(p)‖₂
  - avg_prompt_embed (M2): argmin_k ‖e(q) − (1/|P_k|) Σ_{p∈P_k} e(p)‖₂
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence

import torch

from degaml.evaluation.answers import normalize_math


def softmax_confidence(scores: Sequence[float]) -> tuple[int, float]:
    """(argmax, its softmax probability) of one adapter's per-choice scores."""
    values = torch.tensor(list(scores), dtype=torch.float64)
    probs = torch.softmax(values, dim=0)
    best = max(range(len(scores)), key=list(scores).__getitem__)
    return best, float(probs[best])


def pick_max_confidence(answers: Sequence[Hashable | None], confidences: Sequence[float]) -> int:
    """Index of the most confident adapter that gave an answer (adapter 0 when none answered)."""
    candidates = [k for k, a in enumerate(answers) if a is not None] or [0]
    return max(candidates, key=lambda k: (confidences[k], -k))


def pick_majority(answers: Sequence[Hashable | None], confidences: Sequence[float]) -> int:
    """Index of the most confident adapter voting for the majority answer (ties: summed confidence, then order)."""
    votes: dict[Hashable, list[int]] = {}
    for k, a in enumerate(answers):
        if a is not None:
            votes.setdefault(a, []).append(k)
    if not votes:
        return 0
    order = list(votes)

    def strength(answer: Hashable) -> tuple[int, float, int]:
        members = votes[answer]
        total = sum(confidences[k] for k in members)
        return len(members), (total if not math.isnan(total) else -math.inf), -order.index(answer)

    winner = max(order, key=strength)
    return max(votes[winner], key=lambda k: (confidences[k], -k))


def pick_sum_logprobs(scores: Sequence[Sequence[float]]) -> tuple[int, list[float]]:
    """(argmax candidate, summed scores) over K adapters' per-candidate log-probs scores[k][c]."""
    if not scores:
        raise ValueError("no adapter scores to sum")
    total = [math.fsum(col) for col in zip(*scores)]
    return max(range(len(total)), key=lambda c: (total[c], -c)), total


def route_avg_sim_score(questions: torch.Tensor, batches: Sequence[torch.Tensor]) -> list[int]:
    """Per question (Q, C), the batch (each (N_k, C)) with the smallest mean Euclidean distance to its prompts."""
    dist = torch.stack([torch.cdist(questions.double(), b.double()).mean(dim=1) for b in batches], dim=1)  # (Q, K)
    return dist.argmin(dim=1).tolist()


def route_avg_prompt_embed(questions: torch.Tensor, batches: Sequence[torch.Tensor]) -> list[int]:
    """Per question (Q, C), the batch whose mean prompt embedding is nearest in Euclidean distance."""
    centres = torch.stack([b.double().mean(dim=0) for b in batches])  # (K, C)
    return torch.cdist(questions.double(), centres).argmin(dim=1).tolist()  # (Q,) → K


def answer_key(answer: str | None, fmt: str) -> str | None:
    """Canonical form of an extracted answer for voting: numbers by value, MATH answers normalised, else stripped."""
    if answer is None:
        return None
    text = answer.strip()
    if not text:
        return None
    if fmt == "numeric":
        cleaned = re.sub(r"[,$]", "", text).rstrip(".")
        try:
            return f"{float(cleaned):.12g}"
        except ValueError:
            return text
    if fmt == "math":
        return normalize_math(text)
    return text
