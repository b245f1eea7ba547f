"""Stage 0 core: dataset registry, source loaders, split protocols and noise injection (no Dagster)."""
