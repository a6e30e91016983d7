"""Adaptation module (paper Sec. 2.2 eq. 4, App. C stage 2, F.2), by concept: `episode` (a run of the policy's
decisions, rewards and the state it observes), `policy` (the policy LLM, its constrained decoding and ReST^EM), and
`store` (the run directory's events and the export of accepted trajectories). `pretrained/` holds the shipped policy."""
