"""OpenMP's wait policy for torch's CPU threads: a short spin, fast alone and polite beside other work.

After a parallel region, an OpenMP thread waits for the next one: spinning (``OMP_WAIT_POLICY=ACTIVE``; libgomp's
own default spins 300,000 times) reacts at once but burns its core, sleeping (``PASSIVE``) frees the core but
wakes late. Measured on a 2-core AMD EPYC with LightGCN epochs on amazon-book (``benchmarks/bench_wait_policy.py``,
docs/benchmarks.md, "OpenMP wait policy"), alternated in one sitting:

- alone, ``PASSIVE`` ran an epoch 1.3–1.4× slower than ``ACTIVE``; every spin count from 1,000 up was within
  1.07× of ``ACTIVE``;
- beside a second training process, a long spin is what hurts, and it hurts the spinner: with libgomp's default
  its epochs took 4.5–7.5× as long as its passive neighbour's, with 10,000 spins about 2×; with 1,000 spins it ran
  as fast as a passive process does beside another one, and its neighbour was not slowed.

So the package sets ``GOMP_SPINCOUNT=1000`` (libgomp's bounded spin; ``OMP_WAIT_POLICY`` left unset) in every
process that imports it, before anything loads torch, and child processes inherit it. A user's own
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` always wins: ``export OMP_WAIT_POLICY=PASSIVE`` on a machine shared
with much else, ``ACTIVE`` on a machine that does nothing but this.
"""

from __future__ import annotations

import os

WAIT_POLICY = "OMP_WAIT_POLICY"
SPIN_COUNT = "GOMP_SPINCOUNT"
DEFAULT_SPIN_COUNT = "1000"


def default_wait_policy(env: os._Environ | dict[str, str] = os.environ) -> None:
    """``GOMP_SPINCOUNT=1000`` in ``env`` unless the user chose a policy or a spin count. Only takes effect in a
    process whose torch (libgomp) has not loaded yet, and in its children."""
    if WAIT_POLICY not in env and SPIN_COUNT not in env:
        env[SPIN_COUNT] = DEFAULT_SPIN_COUNT
