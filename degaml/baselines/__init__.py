"""The paper's comparison baselines (Table 1–2): base, generator (θ₀), no_meta_lora, union_lora, maml, abmll —
one module per method, each with a pydantic config and `cpu` / `paper` (and `tiny`) profiles. Run one with
`degaml baseline NAME SPEC`; see docs/comparison.md for the protocol every method follows."""
