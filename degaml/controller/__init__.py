"""Adaptation module (paper Sec. 2.2 eq. 4, App. C stage 2, F.2): a policy LLM observes the task and validation
performance and picks strategies; every step is stored (`store`, `events`); accepted steps are exported (`export`)
and retrain the policy by ReST^EM (`rest_em`). `episode` runs one adaptation episode."""
