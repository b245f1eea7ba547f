"""``llmhni ui``: Dagster's UI (``dagster dev``) on this project's instance and workspace."""

from __future__ import annotations

import os
import sys

from llmhni_pipeline.cli.common import dagster_environment, open_instance
from llmhni_pipeline.lake import PROJECT_ROOT

DESCRIPTION = """Start Dagster's UI (`dagster dev`) on this project. What `llmhni ui` adds: DAGSTER_HOME defaults to the
repository (its dagster.yaml: telemetry off, the llm and gpu pools) and the project's workspace.yaml is used
whatever the working directory; the built-in dataset partitions are registered; a port already in use is refused
before the UI starts (dagster dev would start without one); an instance file that reads an unset variable is named.
Every other argument goes to `dagster dev` as it is (-h/--host, -p/--port, ...); `llmhni ui -- --help` shows its
own help."""


def add_parser(sub) -> None:
    # main() hands every argument after `ui` to dagster dev (-h is --host there); only `llmhni ui --help` is ours
    import argparse

    sub.add_parser(
        "ui",
        help="start `dagster dev` with this project's instance and workspace "
        "(arguments go to dagster dev, e.g. -h 127.0.0.1 -p 3000)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    ).add_argument("--help", action="help", help="this help (`llmhni ui -- --help`: dagster dev's)")


def ui_address(dagster_args: list[str]) -> tuple[str, int]:
    """The host and port ``dagster dev`` will serve on (its defaults: 127.0.0.1:3000)."""
    host, port = "127.0.0.1", 3000
    for i, arg in enumerate(dagster_args):
        value = dagster_args[i + 1] if i + 1 < len(dagster_args) else None
        if arg in ("-h", "--host") and value:
            host = value
        elif arg in ("-p", "--port") and value:
            port = int(value)
        elif arg.startswith("--port="):
            port = int(arg.split("=", 1)[1])
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
    return host, port


def port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def cmd_ui(dagster_args: list[str]) -> int:
    if dagster_args[:1] == ["--"]:  # `llmhni ui -- --help`: everything after -- is dagster dev's
        dagster_args = dagster_args[1:]
    host, port = ui_address(dagster_args)
    if port_in_use(host, port):  # dagster dev would print "Serving" and run on without a UI
        print(
            f"llmhni: error: {host}:{port} is already in use; stop what serves there or pass -p <port>",
            file=sys.stderr,
        )
        return 2
    dagster_environment()
    from llmhni_pipeline.partitions import register_builtin_datasets

    register_builtin_datasets(open_instance())
    workspace = str(PROJECT_ROOT / "workspace.yaml")  # absolute: DAGSTER_HOME may be the user's own
    argv = [sys.executable, "-m", "dagster", "dev", "-w", workspace, *dagster_args]
    os.execv(sys.executable, argv)
    return 0  # not reached
