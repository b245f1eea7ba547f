"""Memory bounds, each a setting read from the environment (GiB), so no stage's memory grows with users × items.

- ``LLMHNI_MAX_DENSE_GB`` (default 8): the largest dense matrix work a stage may allocate (exact EASE's
  items × items; ``recsys/baselines.check_dense`` refuses before allocating above it).
- ``LLMHNI_BLOCK_GB`` (default 1): the largest block of users × items scores that ranking works on at once
  (evaluation, candidate pairs, the semantic sampler's pools). Each of them takes its users in blocks of at most
  its own batch size, fewer when a block of that many users over the whole catalogue would pass the bound: at
  10⁷ interactions (464,684 items) evaluation's 4,096-user block would hold 17.7 GB, and takes 231 users instead.
"""

from __future__ import annotations

from llmhni_pipeline.settings import env_number

MAX_DENSE_GB_ENV = "LLMHNI_MAX_DENSE_GB"
DEFAULT_MAX_DENSE_GB = 8.0
BLOCK_GB_ENV = "LLMHNI_BLOCK_GB"
DEFAULT_BLOCK_GB = 1.0


def gib_setting(name: str, default: float) -> int:
    """``$name`` GiB as bytes (``default`` when unset); a clear error for anything but a positive number."""
    gib = env_number(name, default, float, 0, exclusive_minimum=True, what="a positive number of GiB")
    return int(gib * 2**30)


def max_dense_bytes() -> int:
    """The largest dense matrix work any stage may allocate: ``$LLMHNI_MAX_DENSE_GB`` GiB (default 8)."""
    return gib_setting(MAX_DENSE_GB_ENV, DEFAULT_MAX_DENSE_GB)


def users_per_block(n_items: int, wanted: int, bytes_per_cell: int) -> int:
    """``wanted`` users per block, or fewer (at least one) when ``wanted`` × ``n_items`` cells of
    ``bytes_per_cell`` bytes (a block's scores with the masks and copies made of them) would pass
    ``$LLMHNI_BLOCK_GB``."""
    bound = gib_setting(BLOCK_GB_ENV, DEFAULT_BLOCK_GB)
    return max(1, min(wanted, bound // max(1, n_items * bytes_per_cell)))
