"""The CLI and configuration reference pages are what the code says: regenerate them with
``.venv/bin/python -m llmhni_pipeline.reference --write``, and write a meaning beside every new field or variable."""

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
    assert written == generate(), f"docs/guide/{page}.md is out of date: {REGENERATE}"


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


def test_the_regenerate_command_writes_whole_pages_and_a_failure_empties_none(tmp_path):
    """The documented ``python -m … cli > docs/guide/cli.md`` emptied the page when ``python`` was not the venv's:
    the generator writes the pages itself, and only once every one of them is whole."""
    import subprocess
    import sys

    from llmhni_pipeline.reference import write_pages

    done = subprocess.run(
        [sys.executable, "-m", "llmhni_pipeline.reference", "--write", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli.md").read_text() == cli_markdown()
    assert (tmp_path / "configuration.md").read_text() == configuration_markdown()

    def broken() -> str:
        raise ImportError("not the venv's python")

    with pytest.raises(ImportError):
        write_pages(tmp_path, {"cli": cli_markdown, "configuration": broken})
    assert (tmp_path / "cli.md").read_text() == cli_markdown()  # nothing was written, nothing emptied
    assert (tmp_path / "configuration.md").read_text() == configuration_markdown()
    assert (
        REGENERATE.startswith(".venv/bin/python ")
        and REGENERATE in (REPO / "docs/guide/contributing.md").read_text()
    )
