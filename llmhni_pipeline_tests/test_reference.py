"""The CLI and configuration reference pages are what the code says: regenerate them with
``python -m llmhni_pipeline.reference cli|configuration``, and write a meaning beside every new field or variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmhni_pipeline.reference import REGENERATE, cli_markdown, config_rows, configuration_markdown
from llmhni_pipeline.settings import ENVIRONMENT

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("page, generate", [("cli", cli_markdown), ("configuration", configuration_markdown)])
def test_the_reference_page_is_what_the_code_says(page, generate):
    written = (REPO / "docs" / "guide" / f"{page}.md").read_text()
    assert written == generate(), f"docs/guide/{page}.md is out of date: {REGENERATE.format(page=page)}"


def test_every_config_field_has_its_meaning_written_beside_it():
    missing = [f"{owner}: {name}" for owner, name, _, _, meaning in config_rows() if not meaning.strip()]
    assert not missing, f"write a comment beside (or above) these fields: {missing}"


def _read_variables() -> set[str]:
    """Every environment variable the package and the deployment scripts name."""
    names: set[str] = set()
    for path in [*(REPO / "llmhni_pipeline").rglob("*.py"), *(REPO / "deploy").rglob("*.sh")]:
        if path.name == "settings.py":
            continue
        text = path.read_text()
        names |= set(re.findall(r"\bLLMHNI_[A-Z0-9_]+\b", text))
        names |= set(
            re.findall(r"environ(?:\.get)?\(\s*[\"']((?:AWS|OPENAI|DAGSTER|OMP|GOMP)_[A-Z_]+)", text)
        )
        names |= set(re.findall(r"\b((?:OMP_WAIT_POLICY|GOMP_SPINCOUNT))\b", text))
    return names


def test_every_environment_variable_the_code_reads_is_documented_and_none_is_stale():
    documented = {name for names, _, meaning in ENVIRONMENT for name in names if meaning}
    read = _read_variables()
    assert not read - documented, f"add these to settings.ENVIRONMENT: {sorted(read - documented)}"
    llmhni = {n for n in documented if n.startswith("LLMHNI_")}
    assert not llmhni - read, f"documented but never read: {sorted(llmhni - read)}"


def test_a_new_parser_option_fails_the_cli_page(monkeypatch):
    """The check is real: an option added to a parser changes the page."""
    from llmhni_pipeline.cli import fetch

    original = fetch.add_parser

    def with_extra(sub):
        original(sub)
        sub.choices["fetch"].add_argument("--brand-new", help="an option nobody documented")

    monkeypatch.setattr(fetch, "add_parser", with_extra)
    assert "--brand-new" in cli_markdown() and cli_markdown() != (REPO / "docs/guide/cli.md").read_text()
