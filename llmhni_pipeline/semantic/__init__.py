"""LLMHNI module 1 core: text profiles, the goal-aligned projector and semantic relevance (no Dagster)."""
