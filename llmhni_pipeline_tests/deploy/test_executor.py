"""The watched Celery result's logic with a fake result and a fake clock (the real workers: test_workers.py)."""

from __future__ import annotations

import pytest

from llmhni_pipeline_tests.conftest import WORKERS_SETUP  # noqa: E402

pytestmark = pytest.mark.workers  # needs the workers extra, installed by .ci/run's worker step
pytest.importorskip("dagster_celery", reason=WORKERS_SETUP)

from llmhni_pipeline.deploy import executor  # noqa: E402
from llmhni_pipeline.deploy.executor import WatchedResult, WorkerLost  # noqa: E402


class FakeResult:
    def __init__(self, task_id: str = "task-1"):
        self.id = task_id
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


class FakeJournal:
    """The run's event log for one step, as StepJournal reads it."""

    def __init__(self):
        self.started_by: str | None = None
        self.has_ended = False
        self.logged = ["engine event", "step output", "step success"]

    def worker(self):
        return self.started_by

    def ended(self):
        return self.has_ended

    def events(self):
        return list(self.logged)


def test_a_result_the_broker_lost_is_read_back_from_the_event_log():
    """A step that ended just before a broker restart wiped its stored result (seen on CI: text_profiles succeeded
    64 ms before Redis stopped; the run then waited for ever on a result that no longer existed)."""
    result, app, clock, warnings, journal = FakeResult(), FakeApp(), Clock(), [], FakeJournal()
    watched = WatchedResult(result, app, "text_profiles", "dagster", warn=warnings.append, clock=clock,
                            journal=journal)  # fmt: skip
    clock.now += executor.PING_SECONDS
    assert not watched.ready() and watched.worker is None
    journal.started_by, journal.has_ended = (
        "default@box",
        True,
    )  # logged by the worker; its STARTED state is gone
    clock.now += executor.PING_SECONDS
    assert not watched.ready()
    assert watched.worker == "default@box"  # learned from the log: pinged from now on
    for _ in range(int(executor.LOST_RESULT_GRACE_SECONDS // executor.PING_SECONDS) - 1):
        clock.now += executor.PING_SECONDS  # the result gets its grace
        assert not watched.ready()
    clock.now += executor.PING_SECONDS
    assert watched.ready()
    assert watched.get() == ["engine event", "step output", "step success"]
    assert len(warnings) == 1 and "text_profiles" in warnings[0] and "event log" in warnings[0]
    # a result that does come within the grace is the one used
    on_time = WatchedResult(FakeResult(), FakeApp(), "x", "dagster", clock=clock, journal=FakeJournal())
    on_time.journal.has_ended = True
    clock.now += executor.PING_SECONDS
    on_time.ready()
    on_time.result.done = True
    assert on_time.ready() and on_time.get() == ["events"]


def lost_message_watch(clock, queued, warnings):
    submitted = []

    def resubmit():
        submitted.append(FakeResult(f"task-{len(submitted) + 2}"))
        return submitted[-1]

    journal = FakeJournal()
    watched = WatchedResult(FakeResult(), FakeApp(), "raw_interactions", "dagster", warn=warnings.append,
                            clock=clock, journal=journal, queued=queued, resubmit=resubmit)  # fmt: skip
    return watched, submitted, journal


def test_an_untaken_step_whose_message_the_broker_lost_is_revoked_and_submitted_again():
    clock, warnings, asked = Clock(), [], []

    def queued(task_id):
        asked.append(task_id)
        return False  # in no queue and taken by no worker

    watched, submitted, _ = lost_message_watch(clock, queued, warnings)
    first = watched.result
    checks = int(executor.LOST_MESSAGE_AFTER_SECONDS // executor.PING_SECONDS) - 1
    for _ in range(checks):  # a message just sent is not looked for yet
        clock.now += executor.PING_SECONDS
        assert not watched.ready()
    assert not asked
    for _ in range(executor.LOST_MESSAGE_CHECKS):
        clock.now += executor.PING_SECONDS
        assert not watched.ready()
    assert asked == ["task-1"] * executor.LOST_MESSAGE_CHECKS  # found nowhere twice in a row
    assert first.revoked and len(submitted) == 1 and watched.result is submitted[0]
    assert (
        len(warnings) == 1
        and "task-1" in warnings[0]
        and "task-2" in warnings[0]
        and "'dagster'" in warnings[0]
    )
    watched.result.done = True  # the new message is run: its result is the step's
    assert watched.ready() and watched.get() == ["events"]


def test_a_message_still_queued_or_a_step_a_worker_began_or_an_unknown_broker_is_never_submitted_again():
    for queued in (
        lambda task_id: True,
        lambda task_id: None,
    ):  # waiting for a busy worker; not a Redis broker
        clock = Clock()
        watched, submitted, _ = lost_message_watch(clock, queued, [])
        for _ in range(40):
            clock.now += executor.PING_SECONDS
            assert not watched.ready()
        assert not submitted and not watched.result.revoked
    clock = Clock()
    watched, submitted, journal = lost_message_watch(clock, lambda task_id: False, [])
    journal.started_by = "default@box"  # the worker logged the step's start: its message was taken, not lost
    for _ in range(40):
        clock.now += executor.PING_SECONDS
        watched.ready()
    assert not submitted and watched.worker == "default@box"
    clock = Clock()
    watched, submitted, _ = lost_message_watch(clock, lambda task_id: False, [])
    watched.result.state = "STARTED"  # started (its hostname not yet readable): never submitted again
    for _ in range(40):
        clock.now += executor.PING_SECONDS
        watched.ready()
    assert not submitted


def test_a_message_lost_again_and_again_fails_the_step_instead_of_submitting_for_ever():
    clock = Clock()
    watched, submitted, _ = lost_message_watch(clock, lambda task_id: False, [])
    for _ in range(200):
        clock.now += executor.PING_SECONDS
        if watched.ready():
            break
    assert len(submitted) == executor.MAX_RESUBMITS
    with pytest.raises(
        WorkerLost, match=r"raw_interactions's Celery message was lost from queue 'dagster' 4 times"
    ):
        watched.get()


def test_a_step_submitted_while_the_broker_restarts_waits_for_it_and_a_longer_outage_names_the_step():
    class Refused(Exception):
        pass

    Refused.__name__ = "OperationalError"  # kombu's, for "Error 111 connecting ... Connection refused"
    clock, warnings, tries = Clock(), [], []

    def sleep(seconds):
        clock.now += seconds

    def submit_once():
        tries.append(clock.now)
        if clock.now < 12:  # the broker is back 12 s later
            raise Refused("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return "async result"

    assert executor.submit_within_grace(submit_once, "raw_interactions", warnings.append, clock, sleep) == (
        "async result"
    )
    assert len(tries) == 7 and len(warnings) == 1 and "step raw_interactions" in warnings[0]
    clock.now, tries[:] = 0.0, []

    def never():
        tries.append(clock.now)
        raise Refused("Connection refused.")

    with pytest.raises(
        WorkerLost, match=r"step judge could not be submitted: the Celery broker did not answer"
    ):
        executor.submit_within_grace(never, "judge", None, clock, sleep)
    assert tries[-1] > executor.BROKER_GRACE_SECONDS
    with pytest.raises(KeyError):  # anything else is the step's own error: raised at once
        executor.submit_within_grace(lambda: {}["x"], "judge", None, clock, sleep)
    # Celery's Redis backend, subscribing to the new task's result with Redis away, raises a RuntimeError from the
    # refused connection: that is the broker too (the next try resubscribes)
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as refused:
            raise RuntimeError("Retry limit exceeded while trying to reconnect") from refused
    except RuntimeError as wrapped:
        assert executor.broker_unreachable(wrapped)
    assert not executor.broker_unreachable(RuntimeError("the step's own failure"))


def test_the_redis_broker_is_read_for_a_step_message_waiting_or_taken_and_not_after_a_restart_wiped_it(
    tmp_path, monkeypatch
):
    """QueueScan against a real redis-server: a message sent to a queue no worker reads is found while it waits
    and while a consumer holds it unacknowledged, and not once a restart without persistence wiped the broker."""
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    from dagster_celery.make_app import make_app

    from llmhni_pipeline.deploy.executor import QueueScan, app_args
    from llmhni_pipeline_tests.support.services import Redis

    redis = Redis(tmp_path / "redis").start()
    try:
        monkeypatch.setenv("LLMHNI_CELERY_BROKER", redis.url)
        monkeypatch.setenv(
            "LLMHNI_CELERY_BACKEND", "cache+memory://"
        )  # results are not what is looked at here
        app = make_app(app_args())
        waiting = app.send_task("execute_plan", args=[{}, {}], queue="dagster", priority=5)
        taken = app.send_task("execute_plan", args=[{}, {}], queue="dagster", priority=9)
        clock = Clock()
        scan = QueueScan(app, clock=clock)
        assert scan.holds(waiting.id, "dagster") is True and scan.holds(taken.id, "dagster") is True
        assert scan.holds("not-sent", "dagster") is False
        with (
            app.connection_for_read() as conn
        ):  # a consumer takes one message and has not acknowledged it yet
            held = conn.SimpleQueue("dagster").get(timeout=5)
            assert held.headers["id"] in (waiting.id, taken.id)
            clock.now += executor.PING_SECONDS
            assert scan.holds(waiting.id, "dagster") is True and scan.holds(taken.id, "dagster") is True
        redis.stop()
        redis.start()  # same port, no persistence: every queued and unacknowledged message is gone
        clock.now += executor.PING_SECONDS
        assert scan.holds(waiting.id, "dagster") is False and scan.holds(taken.id, "dagster") is False
    finally:
        redis.stop()
    memory = make_app({"broker": "memory://", "backend": "cache+memory://"})
    assert QueueScan(memory).holds("any", "dagster") is None  # not Redis: nothing known, nothing resubmitted
