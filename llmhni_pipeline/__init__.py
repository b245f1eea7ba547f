"""LLMHNI (AAAI 2026, "Hard vs. Noise") as a staged Dagster pipeline.

The pure core (``datasets``, ``recsys``, ``llm``) never imports Dagster, so it runs anywhere torch runs;
``assets``, ``resources`` and ``definitions`` are the thin Dagster shell around it.
"""

from llmhni_pipeline.omp import default_wait_policy

# OpenMP threads spin briefly, then sleep: a lone `llmhni materialize` as fast as spinning, every other process
# as polite as sleeping beside other work (omp.py has the measurements). Set here, before anything imports torch,
# in every process that imports the package and in its children; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT
# wins.
default_wait_policy()
