"""The watched Celery result's logic with a fake result and a fake clock (the real workers: test_workers.py)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.workers  # needs the workers extra, installed by .ci/run's worker step
pytest.importorskip("dagster_celery", reason="the workers extra: pip install -e '.[workers]'")

from llmhni_pipeline.deploy import executor  # noqa: E402
from llmhni_pipeline.deploy.executor import WatchedResult, WorkerLost  # noqa: E402


class FakeResult:
    def __init__(self):
        self.state, self.info, self.done, self.error, self.revoked = "PENDING", None, False, None, False

    def ready(self):
        return self.done

    def get(self):
        if self.error:
            raise self.error
        return ["events"]

    def revoke(self):
        self.revoked = True


class FakeApp:
    def __init__(self):
        self.answers = True
        self.pings = []

        class Control:
            def ping(inner, destination, timeout):  # noqa: N805
                self.pings.append(destination)
                return [{destination[0]: {"ok": "pong"}}] if self.answers else []

        self.control = Control()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_worker_that_stops_answering_fails_the_step_naming_it():
    result, app, clock, warnings = FakeResult(), FakeApp(), Clock(), []
    watched = WatchedResult(result, app, "train", "gpu", warn=warnings.append, clock=clock)
    result.state, result.info = "STARTED", {"hostname": "gpu@box", "pid": 7}
    for _ in range(5):  # a live worker: pinged every PING_SECONDS, never lost
        clock.now += executor.PING_SECONDS
        assert not watched.ready()
    assert app.pings and all(d == ["gpu@box"] for d in app.pings)
    app.answers = False
    for _ in range(executor.MISSED_PINGS - 1):
        clock.now += executor.PING_SECONDS
        assert not watched.ready()
    clock.now += executor.PING_SECONDS
    assert watched.ready()
    with pytest.raises(WorkerLost, match=r"Celery worker gpu@box stopped answering .* step train"):
        watched.get()  # no step context here: raised (with one, a STEP_FAILURE event is returned)
    assert not warnings


def test_a_step_no_worker_takes_is_warned_about_once_naming_its_queue():
    result, app, clock, warnings = FakeResult(), FakeApp(), Clock(), []
    watched = WatchedResult(result, app, "judge", "llm", warn=warnings.append, clock=clock)
    for _ in range(30):
        clock.now += executor.PING_SECONDS
        assert not watched.ready()
    assert len(warnings) == 1 and "queue 'llm'" in warnings[0] and "llmhni worker -q llm" in warnings[0]
    assert not app.pings  # nobody to ping yet


def test_a_lost_pool_process_is_reported_with_the_worker_and_other_errors_pass_through():
    class WorkerLostError(Exception):
        pass

    result, app, clock = FakeResult(), FakeApp(), Clock()
    watched = WatchedResult(result, app, "train", "gpu", clock=clock)
    result.state, result.info = "STARTED", {"hostname": "gpu@box"}
    clock.now += executor.PING_SECONDS
    watched.ready()
    result.done, result.error = True, WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)")
    with pytest.raises(WorkerLost, match=r"Celery worker gpu@box running step train died: .*SIGKILL"):
        watched.get()
    result.error = KeyError("other")
    with pytest.raises(KeyError):
        watched.get()
    result.error = None
    assert watched.get() == ["events"]
    watched.revoke()
    assert result.revoked
