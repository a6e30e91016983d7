"""The target-task protocol every method follows (the baselines, DeGAML's cell, the table cells): a `ProtocolTask`
view of the target (labelled support + validation; test behind a release) and its scoring, with the single read of
the test split in `final_score`. It sits above degaml.evaluation and below degaml.baselines and degaml.comparison."""

from degaml.protocol.score import SplitScore, TestScorer, final_score, score_split, validation_score
from degaml.protocol.task import ProtocolError, ProtocolTask, labelled_support

__all__ = ["ProtocolError", "ProtocolTask", "SplitScore", "TestScorer", "final_score", "labelled_support", "score_split",
           "validation_score"]
