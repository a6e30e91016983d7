"""Packed multiple-choice scoring equals the naive one-sequence-per-choice computation (lm-eval's)."""

from __future__ import annotations

import pytest
import torch

from degaml.evaluation.loglikelihood import encode_pair, score_continuations

PAIRS = [
    ("Question: What is two plus two?\nAnswer:", " four"),
    ("Question: What is two plus two?\nAnswer:", " the quick brown fox"),
    ("Question: What is two plus two?\nAnswer:", " 4"),
    ("Which planet ", "is red"),  # trailing space moves to the continuation
    ("", "Mars"),  # empty context → EOS prefix
    ("yes no true", " false"),
]


def naive_logprob(model, tokenizer, context, continuation):
    ctx, cont = encode_pair(tokenizer, context, continuation)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0].float(), -1)
    picked = [logprobs[len(ctx) - 1 + k, tok] for k, tok in enumerate(cont)]
    greedy = all(logprobs[len(ctx) - 1 + k].argmax() == tok for k, tok in enumerate(cont))
    return float(sum(picked)), bool(greedy), len(cont)


def test_encode_pair_follows_lm_eval(tiny_loaded):
    tok = tiny_loaded.tokenizer
    ctx, cont = encode_pair(tok, "Which planet ", "is red")
    assert ctx == tok("Which planet", add_special_tokens=False)["input_ids"]
    assert ctx + cont == tok("Which planet is red", add_special_tokens=False)["input_ids"]
    assert encode_pair(tok, "", "Mars")[0] == [tok.eos_token_id]


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_packed_scores_equal_naive(tiny_loaded, batch_size):
    scores = score_continuations(tiny_loaded.model, tiny_loaded.tokenizer, PAIRS, batch_size, max_length=512)
    for (context, continuation), score in zip(PAIRS, scores):
        expected, greedy, n = naive_logprob(tiny_loaded.model, tiny_loaded.tokenizer, context, continuation)
        assert score.logprob == pytest.approx(expected, abs=1e-4)
        assert (score.is_greedy, score.n_tokens) == (greedy, n)


def test_long_inputs_are_left_truncated_to_max_length(tiny_loaded):
    tok = tiny_loaded.tokenizer
    context = "The quick brown fox jumps over the lazy dog. " * 20
    (score,) = score_continuations(tiny_loaded.model, tok, [(context, " Mars")], 4, max_length=16)
    ctx, cont = encode_pair(tok, context, " Mars")
    ids = torch.tensor([(ctx + cont)[-17:-1]])
    with torch.no_grad():
        logprobs = torch.log_softmax(tiny_loaded.model(ids).logits[0], -1)
    expected = sum(logprobs[16 - len(cont) + k, t] for k, t in enumerate(cont))
    assert score.logprob == pytest.approx(float(expected), abs=1e-4)


def test_progress_callback_counts_pairs(tiny_loaded):
    seen = []
    score_continuations(tiny_loaded.model, tiny_loaded.tokenizer, PAIRS, 2, 512, on_batch=lambda n, t: seen.append(n))
    assert sum(seen) == len(PAIRS)


def test_unpacked_mode_gives_the_same_scores(tiny_loaded):
    packed = score_continuations(tiny_loaded.model, tiny_loaded.tokenizer, PAIRS, 4, 512)
    unpacked = score_continuations(tiny_loaded.model, tiny_loaded.tokenizer, PAIRS, 4, 512, share_context=False)
    assert [s.logprob for s in packed] == pytest.approx([s.logprob for s in unpacked], abs=1e-4)


def test_empty_continuation_is_rejected(tiny_loaded):
    with pytest.raises(ValueError, match="empty continuation"):
        score_continuations(tiny_loaded.model, tiny_loaded.tokenizer, [("Question:", "")], 4, 512)
