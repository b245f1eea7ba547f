"""Dagster resources: thin wrappers that hand configuration to the pure core."""
