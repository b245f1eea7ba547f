"""The workers guide's set-up block, run as written (docs/guide/workers.md, "Start it"): services with their state
outside the checkout, the variables, three workers, a first run on them; nothing left in the checkout."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from llmhni_pipeline_tests.conftest import WORKERS_SETUP  # noqa: E402
from llmhni_pipeline_tests.support.services import REPO, free_port, group_alive

pytestmark = pytest.mark.workers
pytest.importorskip("dagster_celery", reason=WORKERS_SETUP)

GUIDE = REPO / "docs" / "guide" / "workers.md"


def guide_block() -> str:
    """The first bash block after the sentence that says the test runs it."""
    text = GUIDE.read_text()
    start = text.index("runs this block as written")
    return re.search(r"```bash\n(.*?)```", text[start:], re.S).group(1)


def untracked(paths: str) -> set[str]:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", paths],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return set(done.stdout.splitlines())


def test_the_guides_commands_work_as_written_on_a_fresh_state_folder(tmp_path, ml100k_raw):
    block = guide_block()
    assert "deploy/workers/services.sh start" in block and ".venv/bin/llmhni worker -q gpu" in block
    lake = tmp_path / "lake"
    (lake / "raw").mkdir(parents=True)
    (lake / "raw" / "ml-100k").symlink_to(ml100k_raw, target_is_directory=True)
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LLMHNI_", "DAGSTER_"))},
        "HOME": str(home),  # the guide's ~/.local/state/llmhni, fresh
        "LLMHNI_REDIS_PORT": str(free_port()),
        "LLMHNI_PG_PORT": str(free_port()),
        "LLMHNI_LAKE_DIR": str(lake),  # a lake of the test's own (the guide's default is the repository's)
        "OMP_NUM_THREADS": "1",
    }
    before = untracked(".")
    script = f"set -euo pipefail\n{block}\nwait_for() {{ :; }}\n"
    runner = subprocess.Popen(
        ["bash", "-c", script + "kill %1 %2 %3; wait\n"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = runner.communicate(timeout=600)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, 9)
        subprocess.run(["deploy/workers/services.sh", "stop"], cwd=REPO, env=env, capture_output=True)
    assert runner.returncode == 0, out[-4000:]
    assert "redis: started" in out and "postgres: started" in out
    assert (
        "database dagster created" in out or os.geteuid() == 0
    )  # as root the cluster outlives the test's HOME
    assert re.search(r"run \S+: SUCCESS \(ml-100k\)", out), out[-3000:]
    state = home / ".local" / "state" / "llmhni"
    assert (state / "redis" / "redis.pid").exists() or (state / "redis" / "redis.log").exists()
    assert (state / "dagster" / "worker-dagster.log").stat().st_size > 0
    assert (lake / "text_profiles" / "dataset=ml-100k" / "part-0.parquet").is_file()
    assert untracked(".") == before  # no appendonlydir/, no storage/, no log in the checkout
    assert not group_alive(runner.pid)
