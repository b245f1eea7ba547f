"""The reference pages, generated from the code itself, so that they cannot drift from it:

    python -m llmhni_pipeline.reference cli > docs/guide/cli.md
    python -m llmhni_pipeline.reference configuration > docs/guide/configuration.md

``cli`` walks the ``llmhni`` argument parser (every sub-command, positional and option with its help);
``configuration`` lists every stage's ``Config`` and every resource's fields (type, default, and the meaning
written beside the field in its class) and every environment variable the code reads (``settings.ENVIRONMENT``).
``llmhni_pipeline_tests/test_reference.py`` fails when a page differs from what this module writes, or when a
field or a variable has no meaning written down.
"""

from __future__ import annotations

import argparse
import inspect
import io
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import get_type_hints

# the generator writes the pages itself, each only once it is whole: a shell redirect (``> page.md``) emptied the
# page whenever the command failed (a bare ``python`` outside the venv, say)
REGENERATE = ".venv/bin/python -m llmhni_pipeline.reference --write"


def _cell(text: str | None) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


# ------------------------------------------------------------------------------------------------------------- cli
def _subcommands(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", sub, helps.get(name) or ""
                yield from _subcommands(sub, f"{path} {name}")


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        name = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
        if action.metavar and action.option_strings:
            name += f" `{action.metavar}`"
        details = []
        if action.choices:
            details.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
        if action.nargs in ("*", "+"):
            details.append("several" if action.nargs == "+" else "any number")
        default = action.default
        if default not in (None, False, argparse.SUPPRESS) and not isinstance(
            action, argparse._StoreTrueAction
        ):
            details.append(f"default `{default}`")
        rows.append(f"| {name} | {_cell(action.help)} | {_cell('; '.join(details))} |")
    return rows


def cli_markdown() -> str:
    import os

    from llmhni_pipeline.cli.app import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "110"  # argparse wraps usage lines at the terminal's width: the page must not
    try:
        return _cli_markdown(build_parser())
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def _cli_markdown(parser: argparse.ArgumentParser) -> str:
    out = [
        "# Command-line reference",
        "",
        "[User guide](README.md) · [README](../../README.md)",
        "",
        f"Generated from the argument parser (`{REGENERATE}`); a test fails when this page and",
        "the parser differ. Every command takes `--debug` (before it) to show a full traceback instead of one line.",
        "",
        "```",
        parser.format_usage().strip(),
        "```",
        "",
    ]
    out += ["| argument | meaning | values |", "|---|---|---|", *_arguments(parser), ""]
    for path, sub, help_text in _subcommands(parser, "llmhni"):
        out += [f"## `{path}`", "", _cell(help_text) + ("" if help_text.endswith(".") else "."), ""]
        if sub.description:
            out += [sub.description.strip(), ""]
        out += ["```", sub.format_usage().strip().removeprefix("usage: "), "```", ""]
        rows = _arguments(sub)
        if rows:
            out += ["| argument | meaning | values |", "|---|---|---|", *rows, ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------------- configuration
def _field_comments(cls: type) -> dict[str, str]:
    """Each field's meaning as written in its class (and the classes it extends): the comments on the field's own
    lines, else the comment lines right above it."""
    import ast
    import textwrap

    meanings: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("llmhni_pipeline"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        comments = {
            token.start[0]: token.string.lstrip("#").strip()
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT
        }
        lines = source.splitlines()
        body = ast.parse(source).body[0].body
        for node in body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            own = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
            above, n = [], node.lineno - 1
            while n >= 1 and lines[n - 1].strip().startswith("#"):
                above.insert(0, comments.get(n, ""))
                n -= 1
            meaning = " ".join(own) or " ".join(above)
            if meaning:
                meanings[node.target.id] = meaning
    return meanings


# fields whose default is read from the environment when the definitions load: shown by the variable's name, so the
# page is the same on every machine (the variables' own defaults are in the table above)
FROM_ENVIRONMENT = {
    "lake_dir": "LLMHNI_LAKE_DIR",
    "shared_data_dir": "LLMHNI_SHARED_DATA_DIR",
    "embed_backend": "LLMHNI_EMBED_BACKEND",
    "judge_backend": "LLMHNI_JUDGE_BACKEND",
    "base_url": "LLMHNI_LLM_BASE_URL",
    "embed_model": "LLMHNI_EMBED_MODEL",
    "judge_model": "LLMHNI_JUDGE_MODEL",
    "local_judge_model": "LLMHNI_LOCAL_JUDGE",
    "simulated_auc": "LLMHNI_SIMULATED_AUC",
    "simulated_seed": "LLMHNI_SIMULATED_SEED",
    "device": "LLMHNI_DEVICE",
}


def _default_text(field, name: str = "") -> str:
    if name in FROM_ENVIRONMENT:
        return f"`${FROM_ENVIRONMENT[name]}`"
    default = field.default
    if default is None:
        return "`null`"
    if isinstance(default, str):
        return f"`{default}`" if default else '`""`'
    text = repr(default)
    return f"`{text}`" if len(text) < 60 else f"`{text[:57]}…`"


def _type_text(annotation) -> str:
    text = getattr(annotation, "__name__", None) if not hasattr(annotation, "__args__") else None
    return f"`{text or str(annotation).replace('typing.', '')}`"


def config_classes() -> list[tuple[str, type]]:
    """(who uses it, class) for each stage's config and each resource, in the graph's order."""
    import dagster as dg

    from llmhni_pipeline.definitions import ASSETS, build_resources

    found: list[tuple[str, type]] = []
    for asset in ASSETS:
        fn = asset.op.compute_fn.decorated_fn
        hints = get_type_hints(fn)
        for name in inspect.signature(fn).parameters:
            hint = hints.get(name)
            resource = (dg.ConfigurableResource, dg.ConfigurableIOManager)
            if inspect.isclass(hint) and issubclass(hint, dg.Config) and not issubclass(hint, resource):
                found.append((f"`{asset.op.name}` (stage config: `ops: {asset.op.name}: config:`)", hint))
    for key, resource in build_resources().items():
        found.append((f"resource `{key}` (`resources: {key}: config:`)", type(resource)))
    return found


def config_rows() -> list[tuple[str, str, str, str, str]]:
    """(owner, field, type, default, meaning) for every field of every config class."""
    rows = []
    for owner, cls in config_classes():
        meanings = _field_comments(cls)
        for name, field in cls.model_fields.items():
            rows.append(
                (
                    owner,
                    name,
                    _type_text(field.annotation),
                    _default_text(field, name),
                    meanings.get(name, ""),
                )
            )
    return rows


def configuration_markdown() -> str:
    from llmhni_pipeline.settings import ENVIRONMENT

    out = [
        "# Configuration reference",
        "",
        "[User guide](README.md) · [README](../../README.md)",
        "",
        f"Generated from the code (`{REGENERATE}`); a test fails when a config",
        "field or an environment variable the code reads is missing here, or has no meaning written beside it.",
        "",
        "## Environment variables",
        "",
        "Read when a process starts; secrets only from here, never from a config. Relative paths are resolved",
        "against the folder you run `llmhni` in.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    out += [
        f"| {', '.join(f'`{n}`' for n in names)} | {_cell(default)} | {_cell(meaning)} |"
        for names, default, meaning in ENVIRONMENT
    ]
    out += [
        "",
        "## Stage and resource settings",
        "",
        "Dagster `Config` on each stage and each resource: edited in the UI's launchpad, or passed as YAML with",
        "`llmhni materialize <key> --config run.yaml` (`ops: <stage>: config: {field: value}`, `resources: <name>:",
        "config: {...}`). A config that names a stage, section or resource the job does not have, or a key twice, is",
        "refused before anything runs.",
        "",
    ]
    owner = None
    for who, name, kind, default, meaning in config_rows():
        if who != owner:
            out += ["", f"### {who}", "", "| field | type | default | meaning |", "|---|---|---|---|"]
            owner = who
        out.append(f"| `{name}` | {kind} | {default} | {_cell(meaning)} |")
    return "\n".join(out).rstrip() + "\n"


PAGES = {"cli": cli_markdown, "configuration": configuration_markdown}


def write_pages(folder: Path, pages: dict | None = None) -> list[Path]:
    """Every page generated in full first, then each written atomically into ``folder``: a generator that fails
    leaves every page as it was."""
    from llmhni_pipeline.lake import atomic_write

    texts = {name: generate() for name, generate in (pages or PAGES).items()}
    written = []
    for name, text in texts.items():
        path = folder / f"{name}.md"
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text))
        written.append(path)
    return written


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--write"] and len(args) in (1, 3) and (len(args) == 1 or args[1] == "--out"):
        out = Path(args[2]) if len(args) == 3 else Path(__file__).resolve().parents[1] / "docs" / "guide"
        for path in write_pages(out):
            print(f"wrote {path}")
    elif len(args) == 1 and args[0] in PAGES:
        sys.stdout.write(PAGES[args[0]]())
    else:
        sys.exit(
            f"usage: python -m llmhni_pipeline.reference --write [--out FOLDER] | {'|'.join(PAGES)} (to stdout)"
        )
