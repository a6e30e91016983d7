"""One adaptation episode: creating or resuming a run (`adapt`), the episode loop (`episode`), the one rollout path
(`rollout`: action → candidate configuration), the reward rule (`reward`), what the policy observes (`state`) and the
cache of transitions already tried (`outcome_cache`)."""
