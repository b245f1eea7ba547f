"""LLMHNI (AAAI 2026, "Hard vs. Noise") as a staged Dagster pipeline.

The pure core (``datasets``, ``recsys``, ``llm``) never imports Dagster, so it runs anywhere torch runs;
``assets``, ``resources`` and ``definitions`` are the thin Dagster shell around it.
"""

import os

# OpenMP threads that spin-wait for work make every other process on the machine (the UI's daemon, a second
# run) up to 12× slower (docs/benchmarks.md); passive waiting costs a quiet machine almost nothing. Set before
# torch starts its thread pool, in every entry point that imports this package; a user's own value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
