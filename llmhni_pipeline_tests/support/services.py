"""Real services for the worker-deployment tests and benchmark: redis-server, a Postgres cluster, Celery workers.

Every process is started in a new session (its own process group), so stopping kills the whole group, Celery's
pool children included, and ``group_alive`` can check that nothing is left. Postgres refuses to run as root:
as root (CI) its commands run as the ``postgres`` user through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_alive(pgid: int) -> list[int]:
    """Pids of live (not zombie) processes in process group ``pgid``."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(int(entry.name))
    return alive


def alive(pid: int) -> bool:
    """A live process (a zombie that nobody reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL what is left after ``grace`` seconds, reap the leader."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_alive(proc.pid):
            if proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.2)
            else:
                time.sleep(0.2)
        if not group_alive(proc.pid):
            break
    if proc.poll() is None:
        proc.wait(timeout=5)


def wait_port(port: int, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


@dataclass
class Redis:
    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            start_new_session=True,
        )  # fmt: skip
        wait_port(self.port, 20, "redis-server", self.proc)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None:
            if kill:
                os.killpg(self.proc.pid, signal.SIGKILL)
            stop_group(self.proc)
            self.proc = None


@dataclass
class Postgres:
    """A throwaway cluster (trust auth on loopback) in a temporary folder that the postgres user can enter."""

    port: int = field(default_factory=free_port)
    folder: Path | None = None
    bindir: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://llmhni@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *argv], check=True, capture_output=True, text=True, **kw)

    def start(self) -> Postgres:
        config = shutil.which("pg_config")
        if config is None:
            raise RuntimeError("pg_config not found: install postgresql-15 (Debian)")
        self.bindir = Path(subprocess.check_output([config, "--bindir"], text=True).strip())
        self.folder = Path(tempfile.mkdtemp(prefix="llmhni-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "llmhni", "--auth=trust", "-E", "UTF8")
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "postgres.log"), "-w",
            "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        )  # fmt: skip
        return self

    def postmaster_pid(self) -> int:
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.folder is not None:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop")
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


@dataclass
class Worker:
    """``llmhni worker`` in its own process group, logging to ``log``."""

    queues: list[str]
    name: str
    env: dict[str, str]
    log: Path
    concurrency: int = 1
    proc: subprocess.Popen | None = None
    log_start: int = 0  # where this start's lines begin in the (appended) log

    @property
    def hostname(self) -> str:
        return f"{self.name}@{socket.gethostname()}"

    def log_size(self) -> int:
        """Where the (appended) log ends now: what was logged before this point belongs to something earlier."""
        return self.log.stat().st_size if self.log.exists() else 0

    def start(self) -> Worker:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_start = self.log_size()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "llmhni_pipeline.cli", "worker", "-q", ",".join(self.queues), "-n",
                 self.name, "-c", str(self.concurrency)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        return self

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"worker {self.name} exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            if b" ready." in self.log.read_bytes()[self.log_start :]:  # this start's, not an earlier one's
                return
            time.sleep(0.25)
        raise RuntimeError(f"worker {self.name} not ready within {timeout} s: {self.log.read_text()[-2000:]}")

    def children(self) -> list[int]:
        return [pid for pid in group_alive(self.proc.pid) if pid != self.proc.pid]

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)


def step_timeline(instance, run_id: str) -> dict[str, dict]:
    """Per step of a run on Celery, from its event log: when the orchestrator submitted it (``submitted``), when a
    worker took it (``taken``) and which (``worker``), and the step's ``start`` and ``end`` (success or failure)."""
    import dagster as dg

    steps: dict[str, dict] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key is None:
            continue
        step = steps.setdefault(record.step_key, {})
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            if (event.message or "").startswith("Submitting celery task"):
                step["submitted"] = record.timestamp
            worker = (
                event.engine_event_data.metadata.get("Celery worker") if event.engine_event_data else None
            )
            if worker is not None:
                step["taken"], step["worker"] = record.timestamp, worker.value
        elif event.event_type == dg.DagsterEventType.STEP_START:
            step["start"] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            step["end"] = record.timestamp
    return steps


def stop_deployment(workers: list[Worker], redis: Redis, postgres: Postgres) -> None:
    """Stop the workers, Redis and Postgres, then check that none of their processes is left."""
    groups = [w.proc.pid for w in workers if w.proc is not None] + [redis.proc.pid]
    postmaster = postgres.postmaster_pid()
    for worker in workers:
        worker.stop()
    redis.stop()
    postgres.stop()
    left = {pgid: group_alive(pgid) for pgid in groups}
    assert not any(left.values()), f"processes left behind: {left}"
    assert not alive(postmaster), f"postgres {postmaster} still running"
