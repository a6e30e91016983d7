"""The adaptation policy: the policy LLM (`model`) deciding under an Outlines-style constraint (`decoding`,
`jump_decoding`, `stepwise_attention`) in the action language (`action_language`), reference policies (`reference`),
and its training by ReST^EM (`rest_em`, `trajectory_sft`, `build` for the shipped policy)."""
