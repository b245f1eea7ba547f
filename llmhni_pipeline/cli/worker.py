"""``llmhni worker``: a Celery worker for runs on workers (docs/guide/workers.md)."""

from __future__ import annotations

import argparse
import os
import sys

from llmhni_pipeline.cli.common import CLIError, dagster_environment


def add_parser(sub) -> None:
    p = sub.add_parser(
        "worker", help="start a Celery worker for runs with LLMHNI_EXECUTOR=celery (docs/guide/workers.md)"
    )
    p.add_argument(
        "-q",
        "--queue",
        action="append",
        help="queue(s) to take steps from: dagster (every other step, default), gpu (training), llm (LLM "
        "stages); repeat or comma-separate",
    )
    p.add_argument("-n", "--name", help="worker name (default llmhni-<queues>-<pid>); @<host> is appended")
    p.add_argument("-c", "--concurrency", type=int, default=1, help="steps at a time (default 1)")
    p.add_argument("-l", "--loglevel", default="INFO", help="Celery's log level (DEBUG, INFO, WARNING, ...)")
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    """Replace this process with a Celery worker on the given queues (broker from LLMHNI_CELERY_BROKER)."""
    dagster_environment()
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        raise CLIError("llmhni worker needs the workers extra: pip install -e '.[workers]'") from None
    from llmhni_pipeline.deploy.queues import DEFAULT_QUEUE, EXECUTOR_ENV, QUEUES, broker_url

    queues = list(dict.fromkeys(q.strip() for arg in (args.queue or [DEFAULT_QUEUE]) for q in arg.split(",")))
    unknown = [q for q in queues if q not in (DEFAULT_QUEUE, *QUEUES.values())]
    if unknown:
        raise CLIError(
            f"--queue: unknown queue(s) {', '.join(unknown)}; known: {DEFAULT_QUEUE}, {', '.join(QUEUES.values())}"
        )
    if args.concurrency < 1:
        raise CLIError("--concurrency must be at least 1")
    name = args.name or f"llmhni-{'-'.join(queues)}-{os.getpid()}"
    os.environ[EXECUTOR_ENV] = "celery"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "llmhni_pipeline.deploy.worker_app",
        "worker",
        "-Q",
        ",".join(queues),
        "-n",
        f"{name}@%h",
        "-c",
        str(args.concurrency),
        "--prefetch-multiplier=1",
        "-O",
        "fair",
        "--without-gossip",
        "--without-mingle",
        "-l",
        args.loglevel,
    ]
    print(
        f"llmhni worker {name}: queues {', '.join(queues)}, {args.concurrency} at a time, broker {broker_url()}",
        flush=True,
    )
    os.execv(sys.executable, argv)
    return 0  # not reached
