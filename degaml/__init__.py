"""degaml: meta-learning for LLMs with decoupled generalization and adaptation (DeGAML-LLM).

Data flows one way: spec → task data → generator → strategy → evaluator → reward → trajectory store.
Each paper concept lives in the subpackage named after it (`specs`, `data`, `models`, `evaluation`, ...).
"""

__version__ = "0.1.0"
