"""LLMHNI module 2 core: candidate pairs, judge prompts, the hard/noisy rule, the augmented graph (no Dagster)."""
