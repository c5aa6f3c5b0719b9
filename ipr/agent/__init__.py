"""The agent runtime: prompts, action parsing, generation backends and the rollout engine."""
