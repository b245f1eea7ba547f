"""The OpenMP wait policy torch trains with, read back from libgomp itself (``OMP_DISPLAY_ENV`` prints what it
initialised with when torch loads): the package's short spin is in force before torch's thread pool starts, in
the processes the CLI starts too, and a user's explicit setting always wins."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from llmhni_pipeline.omp import DEFAULT_SPIN_COUNT, LONE_RUN_SPIN_COUNT, default_wait_policy, is_lone_run
from llmhni_pipeline_tests.conftest import materialize_backbone, write_incoming

CONTROLLED = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    return {**env, "OMP_DISPLAY_ENV": "VERBOSE", **extra}


def libgomp_settings(stderr: str) -> dict[str, str]:
    """libgomp's first display of its settings: the policy and the spin count it initialised with."""
    policy = re.search(r"OMP_WAIT_POLICY = '(\w+)'", stderr)
    spin = re.search(r"GOMP_SPINCOUNT = '(\w+)'", stderr)
    assert policy and spin, stderr[-2000:]
    return {"policy": policy.group(1), "spin": spin.group(1)}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_importing_the_package_before_torch_puts_the_short_spin_in_force():
    for code in ("import llmhni_pipeline, torch", "import llmhni_pipeline.definitions"):
        done = _python(code + "; import os; print(os.environ['GOMP_SPINCOUNT'])", _env())
        assert libgomp_settings(done.stderr)["spin"] == DEFAULT_SPIN_COUNT, code
        assert done.stdout.split()[-1] == DEFAULT_SPIN_COUNT  # what a child process inherits
    # without the package, libgomp spins 300,000 times: the default really is the package's doing
    assert libgomp_settings(_python("import torch", _env()).stderr)["spin"] == "300000"


def test_a_users_own_setting_is_never_overridden():
    for extra, expected in (
        ({"OMP_WAIT_POLICY": "ACTIVE"}, {"policy": "ACTIVE"}),
        ({"OMP_WAIT_POLICY": "PASSIVE"}, {"policy": "PASSIVE", "spin": "0"}),
        ({"GOMP_SPINCOUNT": "5"}, {"spin": "5"}),
    ):
        done = _python("import llmhni_pipeline.definitions", _env(**extra))
        seen = libgomp_settings(done.stderr)
        assert {k: seen[k] for k in expected} == expected, (extra, seen)
        env = dict(extra)
        default_wait_policy(env)
        assert env == extra


def test_a_lone_materialize_spins_longer_than_every_other_process():
    venv_cli = "/home/u/project/.venv/bin/llmhni"
    assert is_lone_run([venv_cli, "materialize", "ml-100k"])
    assert is_lone_run(["/x/llmhni_pipeline/cli/__main__.py", "materialize", "ml-100k"])
    for argv in (
        [venv_cli, "ui"],
        [venv_cli, "worker", "-q", "gpu"],
        ["/usr/bin/pytest", "-q"],
        [venv_cli],
        [],
    ):
        assert not is_lone_run(argv), argv
    for argv, spin in (
        ([venv_cli, "materialize", "x"], LONE_RUN_SPIN_COUNT),
        ([venv_cli, "ui"], DEFAULT_SPIN_COUNT),
    ):
        env: dict[str, str] = {}
        default_wait_policy(env, argv)
        assert env == {"GOMP_SPINCOUNT": spin}
    assert LONE_RUN_SPIN_COUNT != DEFAULT_SPIN_COUNT


def test_the_cli_trains_with_the_lone_runs_spin(tmp_path: Path, lake: Path):
    """The real entry point, a real run: what libgomp initialised with when the run's torch loaded."""
    write_incoming(
        lake, "shop", "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(6) for i in range(8))
    )
    env = _env(LLMHNI_LAKE_DIR=str(lake), DAGSTER_HOME=str(tmp_path))
    done = materialize_backbone(
        tmp_path, env, "ops:\n  pretrained_recommender:\n    config:\n      epochs: 1\n"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert libgomp_settings(done.stderr)["spin"] == LONE_RUN_SPIN_COUNT
