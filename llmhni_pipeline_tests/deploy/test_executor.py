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


def test_a_broker_that_restarts_is_waited_for_and_a_worker_reconnecting_is_not_taken_for_dead():
    """A graceful Redis restart: the ping raised ``ConnectionError: Connection closed by server`` out of the
    watcher and failed the run (a SIGKILL of Redis happened to be survived)."""

    class Closed(Exception):
        pass

    Closed.__name__ = "ConnectionError"
    result, app, clock, warnings = FakeResult(), FakeApp(), Clock(), []
    watched = WatchedResult(result, app, "train", "gpu", warn=warnings.append, clock=clock)
    result.state, result.info = "STARTED", {"hostname": "gpu@box"}
    clock.now += executor.PING_SECONDS
    assert not watched.ready()
    down = {"on": True}

    def ping(destination, timeout):
        if down["on"]:
            raise Closed("Connection closed by server.")
        return []  # back, but the worker has not reconnected yet

    app.control.ping = ping
    for _ in range(6):  # 30 s without a broker: waited for, once warned
        clock.now += executor.PING_SECONDS
        assert not watched.ready()
    assert len(warnings) == 1 and "broker does not answer" in warnings[0]
    down["on"] = False
    for _ in range(int(executor.RECONNECT_GRACE_SECONDS // executor.PING_SECONDS)):  # reconnecting
        clock.now += executor.PING_SECONDS
        assert not watched.ready()
    for _ in range(executor.MISSED_PINGS):  # still silent after the grace: lost
        clock.now += executor.PING_SECONDS
        watched.ready()
    assert watched.ready() and "stopped answering" in watched.lost
    # and a broker away for longer than the grace fails the step, naming it
    gone = WatchedResult(FakeResult(), FakeApp(), "judge", "llm", clock=clock)
    gone.result.state, gone.result.info = "STARTED", {"hostname": "llm@box"}
    down["on"] = True
    gone.app.control.ping = ping
    for _ in range(int(executor.BROKER_GRACE_SECONDS // executor.PING_SECONDS) + 2):
        clock.now += executor.PING_SECONDS
        gone.ready()
    assert gone.ready() and "broker did not answer" in gone.lost


def test_the_private_dagster_code_the_executor_builds_on_is_still_there():
    """A dagster upgrade that moves what deploy/internals.py imports fails here, naming it (not a run, later)."""
    from llmhni_pipeline.deploy.internals import DagsterInternalsChanged, check_internals

    check_internals()
    from llmhni_pipeline.deploy import internals

    internals.EXPECTED["probe"] = (lambda app: None, ["app", "plan_context"])
    try:
        with pytest.raises(DagsterInternalsChanged, match=r"probe: parameters \['plan_context'\] are gone"):
            check_internals()
    finally:
        del internals.EXPECTED["probe"]
