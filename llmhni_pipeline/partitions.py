"""One partition per dataset key (``ml-100k``, ``amazon-book-llard``, ``amazon-book-llard-noise10``, ...).

Dynamic, so a folder dropped into the lake's incoming area becomes a partition without a code change.
Keys live in the Dagster instance (``$DAGSTER_HOME``); ``register_builtin_datasets`` re-derives them.
"""

from __future__ import annotations

import dagster as dg

from llmhni_pipeline.datasets.registry import builtin_dataset_keys

DATASETS = "datasets"
dataset_partitions = dg.DynamicPartitionsDefinition(name=DATASETS)


def register_datasets(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """Add the keys the instance does not know yet; returns those added."""
    new = [k for k in dict.fromkeys(keys) if not instance.has_dynamic_partition(DATASETS, k)]
    if new:
        instance.add_dynamic_partitions(DATASETS, new)
    return new


def register_builtin_datasets(instance: dg.DagsterInstance) -> list[str]:
    return register_datasets(instance, builtin_dataset_keys())
