"""OpenMP's wait policy for torch's CPU threads: a short spin, fast alone and polite beside other work.

After a parallel region, an OpenMP thread waits for the next one: spinning (``OMP_WAIT_POLICY=ACTIVE``; libgomp's
own default spins 300,000 times) reacts at once but burns its core, sleeping (``PASSIVE``) frees the core but
wakes late. Measured on a 2-core AMD EPYC with LightGCN epochs on amazon-book (``benchmarks/bench_wait_policy.py``,
docs/benchmarks.md, "OpenMP wait policy"), alternated in one sitting, 2026-12-06:

- alone, ``PASSIVE`` runs an epoch 1.3–1.6× slower than ``ACTIVE``; 3,000 spins run it as fast as ``ACTIVE``
  (0.98×), 1,000 spins 1.07–1.14× slower;
- beside a second training process, a long spin hurts the spinner: with libgomp's default its epochs take up to
  5× as long, with 10,000 spins 2.3×, with 3,000 spins 1.3× as long as two passive processes' do; with 1,000
  spins two such processes train as fast as two passive ones (1.02×). No spin count slowed a passive neighbour.

No single setting is both, so the default depends on what the process is. A lone ``llmhni materialize`` (one
process running one step after another) spins 3,000 times: it is the user's own run on their own machine, most
often alone. Every other process that imports the package spins 1,000 times: the UI and the runs it launches
(several at once), Celery workers, the tests, the benchmarks. Both are ``GOMP_SPINCOUNT`` (libgomp's bounded
spin; ``OMP_WAIT_POLICY`` left unset), set before anything loads torch and inherited by child processes. A user's
own ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` always wins: ``export OMP_WAIT_POLICY=PASSIVE`` on a machine shared
with much else, ``ACTIVE`` on one that does nothing but this.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path

WAIT_POLICY = "OMP_WAIT_POLICY"
SPIN_COUNT = "GOMP_SPINCOUNT"
DEFAULT_SPIN_COUNT = "1000"  # a process that may share the machine: polite, 1.07–1.14× ACTIVE alone
LONE_RUN_SPIN_COUNT = (
    "3000"  # a lone `llmhni materialize`: as fast as ACTIVE alone, 1.3× beside an equal process
)


def is_lone_run(argv: Sequence[str]) -> bool:
    """Whether this process is ``llmhni materialize`` (the console script or ``python -m llmhni_pipeline.cli``)."""
    if len(argv) < 2:
        return False
    program = Path(argv[0])
    cli = program.name == "llmhni" or program.parts[-2:] == ("cli", "__main__.py")
    return cli and argv[1] == "materialize"


def default_wait_policy(
    env: MutableMapping[str, str] = os.environ, argv: Sequence[str] | None = None
) -> None:
    """The spin count for this process in ``env``, unless the user chose a policy or a spin count. Only takes
    effect in a process whose torch (libgomp) has not loaded yet, and in its children."""
    if WAIT_POLICY not in env and SPIN_COUNT not in env:
        lone = is_lone_run(sys.argv if argv is None else argv)
        env[SPIN_COUNT] = LONE_RUN_SPIN_COUNT if lone else DEFAULT_SPIN_COUNT
