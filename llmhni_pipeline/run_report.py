"""What the CLI prints of a run: its config checked before it starts, its log without stack traces, and a
failed run's last line naming the failing step and its one-line cause.

The traces are not lost: every failure event keeps its full error in the run's event log (the UI shows it), and
``llmhni --debug materialize`` prints Dagster's own log, traces included.
"""

from __future__ import annotations

import difflib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dagster as dg

RUN_CONFIG_SECTIONS = ("ops", "resources", "execution", "loggers")


class RunConfigError(ValueError):
    """A run config names something this job does not have: one line, exit code 2."""


def _unknown(kind: str, names: Iterable[str], known: Iterable[str], where: str) -> None:
    known = sorted(known)
    unknown = sorted(set(names) - set(known))
    if not unknown:
        return
    hints = [
        f"{name!r} (did you mean {close[0]!r}?)"
        if (close := difflib.get_close_matches(name, known, 1))
        else repr(name)
        for name in unknown
    ]
    raise RunConfigError(
        f"{where}: unknown {kind} {', '.join(hints)}; its settings would be silently ignored. "
        f"Known: {', '.join(known)}"
    )


def load_run_config(text: str, where: str) -> Any:
    """A run config from YAML, refusing a key given twice in one mapping (a second ``ops:`` or ``max_calls:``
    would silently replace the first, and with it a cap): ``RunConfigError`` naming the key and both lines."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise RunConfigError(
                        f"{where}: key {key!r} appears twice in one mapping (lines {seen[key]} and {line}); "
                        "a YAML reader would keep only the last, so neither is used: remove one"
                    )
                seen[key] = line
            return super().construct_mapping(node, deep)

    try:
        return yaml.load(text, Loader=UniqueKeys)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise RunConfigError(f"{where}: not valid YAML ({exc})") from None


def check_run_config(run_config: Any, job: dg.JobDefinition, where: str) -> None:
    """Refuse a config whose sections, ops or resources this job does not have. Dagster checks the fields
    inside each op's config, but the implicit asset job a ``--select`` runs accepts any op name, so a
    misspelled asset (``llm_logical_score``) would run with its defaults: with no call cap, say."""
    if run_config is None:
        return
    if not isinstance(run_config, Mapping):
        raise RunConfigError(
            f"{where}: expected a mapping with {', '.join(RUN_CONFIG_SECTIONS)}, not {type(run_config).__name__}"
        )
    _unknown("section", run_config, RUN_CONFIG_SECTIONS, where)
    for section, known in (
        ("ops", [node.name for node in job.graph.nodes]),
        ("resources", job.resource_defs),
    ):
        value = run_config.get(section) or {}
        if not isinstance(value, Mapping):
            raise RunConfigError(f"{where}: {section} must be a mapping of names, not {type(value).__name__}")
        _unknown("op" if section == "ops" else "resource", value, known, f"{where}: {section}")


def check_whole_config(run_config: Any, job: dg.JobDefinition, where: str) -> None:
    """Every op's and resource's config in ``run_config`` checked against ``job`` (the whole asset graph), whatever
    a ``--select`` will run: ``RunConfigError`` naming the first problem."""
    if not run_config:
        return
    checked = {k: v for k, v in run_config.items() if k in ("ops", "resources")}
    try:
        dg.validate_run_config(job, checked)
    except dg.DagsterInvalidConfigError as exc:
        problems = [e.message for e in exc.errors] or [str(exc)]
        raise RunConfigError(f"{where}: {'; '.join(problems)}") from None


def unused_by_selection(run_config: Mapping[str, Any], assets: list, selection: list) -> list[str]:
    """What a selection leaves unused of a config that is valid for the whole graph: the ops not selected and the
    resources no selected asset uses, one line each."""
    chosen = {key.to_user_string() for key in selection}
    used_resources = {r for a in assets for r in a.required_resource_keys}
    lines = [
        f"the config of {name} is not used (not selected)"
        for name in sorted(run_config.get("ops") or {})
        if name not in chosen
    ]
    lines += [
        f"the config of the {name} resource is not used (no selected asset needs it)"
        for name in sorted(run_config.get("resources") or {})
        if name not in used_resources
    ]
    return lines


def root_cause(error: Any) -> str:
    """The innermost error of a ``SerializableErrorInfo`` chain, on one line, without its module path."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = (getattr(error, "message", "") or str(error)).strip()
    first, _, rest = message.partition("\n")
    kind, sep, text = first.partition(": ")
    kind = kind.rsplit(".", 1)[-1] if sep and " " not in kind else kind
    line = f"{kind}: {text}" if sep else first
    return line + (" …" if rest.strip() else "")


INTERRUPTED = "DagsterExecutionInterruptedError"


def interrupted(result: dg.ExecuteInProcessResult | dg.ExecutionResult) -> bool:
    """Whether the run failed because it was stopped (Ctrl-C, SIGTERM), not because a step went wrong."""
    for event in result.all_events:
        error = None
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE and event.job_failure_data is not None:
            error = event.job_failure_data.error
        while error is not None:
            if getattr(error, "cls_name", None) == INTERRUPTED:
                return True
            error = getattr(error, "cause", None)
    return False


def failure_lines(result: dg.ExecuteInProcessResult | dg.ExecutionResult) -> list[str]:
    """One line per failed step: ``step <key>: <cause>``; without a failed step (the executor itself failed,
    e.g. a broker that went away), the run's own failure: ``run: <cause>``."""
    steps = [
        f"step {event.step_key}: {root_cause(event.step_failure_data.error)}"
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data is not None
    ]
    if steps:
        return steps
    return [
        f"run: {root_cause(event.job_failure_data.error)}"
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.RUN_FAILURE
        and event.job_failure_data is not None
        and event.job_failure_data.error is not None
    ]


def judge_lines(result: dg.ExecuteInProcessResult | dg.ExecutionResult) -> list[str]:
    """A run's last word on the judge, when it materialized ``llm_logical_scores``: what the coverage gate decided
    and what stopping after the trial saved."""
    lines = []
    for event in result.all_events:
        if event.event_type != dg.DagsterEventType.ASSET_MATERIALIZATION:
            continue
        materialization = event.event_specific_data.materialization
        if materialization.asset_key != dg.AssetKey("llm_logical_scores"):
            continue
        meta = {k: v.value for k, v in materialization.metadata.items()}
        if meta.get("coverage") in (None, "full"):
            continue
        line = f"judge ({meta.get('judge')}): {meta.get('coverage_decision')}; {meta.get('coverage_reason')}"
        if "prompts_not_sent" in meta:
            saved = [f"about {int(meta['prompts_not_sent']):,} prompts"]
            if "judging_seconds_not_spent" in meta:
                saved.append(f"about {float(meta['judging_seconds_not_spent']) / 60:.0f} min")
            if meta.get("cost_usd_not_spent"):
                saved.append(f"about ${float(meta['cost_usd_not_spent']):.2f}")
            line += f"; not spent: {', '.join(saved)} (coverage: full judges every pair)"
        lines.append(line)
    return lines


def where_to_look(result, dataset: str, llmhni: str = "llmhni") -> list[str]:
    """A successful run's last lines: where to read what it made (the UI's report page, the table in DuckDB)."""
    made = {
        event.event_specific_data.materialization.asset_key.to_user_string()
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    lines = []
    if "report" in made:
        lines.append(
            f"look: {llmhni} ui, then http://127.0.0.1:3000/assets/report?view=partitions&partition={dataset}: "
            "did the LLM help here?"
        )
    table = "evaluation" if "evaluation" in made else next(iter(sorted(made - {"id_mappings"})), None)
    if table:
        lines.append(f"look: {llmhni} sql \"select * from {table} where dataset = '{dataset}' limit 20\"")
    return lines


class _NoTraces(logging.Filter):
    """Keep an error event's headline and its cause; drop the stack traces (kept in the event log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Stack Trace:" in message:
            headline = message.split("\n", 1)[0]
            record.msg, record.args = (
                f"{headline} (traces: llmhni --debug, or the run's page in the UI)",
                None,
            )
        return True


@dg.logger(
    config_schema={
        # INFO: the stages' progress and results; Dagster's DEBUG events (inputs, outputs, step starts) stay in the
        # run's event log and show with llmhni --debug
        "log_level": dg.Field(str, is_required=False, default_value="INFO"),
        "name": dg.Field(str, is_required=False, default_value="dagster"),
    },
    description="Dagster's console log without stack traces (the CLI's default; --debug shows them).",
)
def compact_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = init_context.logger_config["log_level"]
    logger = logging.Logger(init_context.logger_config["name"], level=level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    handler.addFilter(_NoTraces())
    logger.addHandler(handler)
    return logger


class RunFollower:
    """What a run on workers does, as it reaches the event log: its steps starting, finishing and failing, the
    messages its steps log at INFO and above (a step on a worker logs there, not to this console), and, once,
    which runs hold a pool slot this run waits for. ``with RunFollower(...)`` around the run; ``find_run``
    returns the run's id once it exists."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        find_run: Callable[[], str | None],
        pools: Iterable[str] = (),
        out: Callable[[str], None] = print,
        poll_seconds: float = 2.0,
    ):
        self.instance, self.find_run, self.pools, self.out = instance, find_run, list(pools), out
        self.poll_seconds = poll_seconds
        self.run_id: str | None = None
        self.cursor: str | None = None
        self.said_waiting: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="llmhni-run-follower")

    def __enter__(self) -> RunFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.poll()  # what arrived since the last look

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception as exc:  # the instance briefly unreachable: the run itself reports what matters
                self.out(f"(progress unavailable for a moment: {type(exc).__name__})")

    def poll(self) -> None:
        if self.run_id is None:
            self.run_id = self.find_run()
            if self.run_id is None:
                return
        while True:
            page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=500)
            for record in page.records:
                line = self.describe(record.event_log_entry)
                if line:
                    self.out(line)
            self.cursor = page.cursor
            if not page.has_more:
                break
        self._waiting()

    @staticmethod
    def describe(entry) -> str | None:
        when = time.strftime("%H:%M:%S", time.localtime(entry.timestamp))
        step = entry.step_key
        event = entry.dagster_event
        if step is None:
            return None
        if event is None:
            if entry.level >= logging.INFO and entry.user_message:
                return f"{when} {step}: {entry.user_message}"
            return None
        if event.event_type == dg.DagsterEventType.STEP_START:
            return f"{when} {step}: started"
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            return f"{when} {step}: done"
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            return f"{when} {step}: failed: {root_cause(event.step_failure_data.error) if event.step_failure_data else ''}"
        return None

    def _waiting(self) -> None:
        storage = self.instance.event_log_storage
        for pool in self.pools:
            info = storage.get_concurrency_info(pool)
            if self.run_id in info.pending_run_ids and pool not in self.said_waiting:
                holders = sorted(set(info.active_run_ids) - {self.run_id})
                if holders:
                    self.said_waiting.add(pool)
                    self.out(f"waiting: pool {pool} is held by run(s) {', '.join(holders)}")
