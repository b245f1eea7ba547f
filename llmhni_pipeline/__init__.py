"""LLMHNI (AAAI 2026, "Hard vs. Noise") as a staged Dagster pipeline.

The pure core (``datasets``, ``recsys``, ``llm``) never imports Dagster, so it runs anywhere torch runs;
``assets``, ``resources`` and ``definitions`` are the thin Dagster shell around it.
"""
