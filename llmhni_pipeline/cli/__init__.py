"""``llmhni``, the command line: one module per command group (``fetch``, ``datasets``, ``materialize``,
``judgments``, ``worker``, ``sql``, ``ui``), each registering its parser and holding only what the command does;
what they compute lives in the package's cores."""

from llmhni_pipeline.cli.app import build_parser, main
from llmhni_pipeline.cli.common import CLIError, open_instance
from llmhni_pipeline.cli.ui import ui_address

__all__ = ["CLIError", "build_parser", "main", "open_instance", "ui_address"]
