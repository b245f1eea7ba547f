"""The docs are the door: every relative link in the README and docs/ resolves (to a file, and to a heading where
an anchor is given), and every `.venv/bin/llmhni` command in the README's code blocks is a real sub-command."""

import re
from pathlib import Path

import pytest

from llmhni_pipeline.cli import main
from llmhni_pipeline.lake import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, '-', '_' and spaces
    kept), spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"(?m)^#{1,6} (.+)$", text)}


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())  # code blocks hold commands, not links
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t) and not t.startswith("data:")]


def test_slugs_follow_githubs_rule():
    assert slug("1. The comparison table") == "1-the-comparison-table"
    assert slug("4. Module 2: the judge") == "4-module-2-the-judge"
    assert slug("What `OMP_WAIT_POLICY` does") == "what-omp_wait_policy-does"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, broken


def test_the_readme_is_a_short_door():
    text = (PROJECT_ROOT / "README.md").read_text()
    assert len(text.split()) <= 1500
    first_screen = "\n".join(text.splitlines()[:40])
    assert "## Results at a glance" in first_screen and "| **LLMHNI (ours)** |" in first_screen
    assert len((PROJECT_ROOT / "docs" / "results.md").read_text().split()) <= 4000


def _readme_commands() -> list[str]:
    """Every ``.venv/bin/llmhni …`` in the README's code blocks, also inside a chained line (``… && .venv/bin/llmhni
    fetch embedded``)."""
    text = (PROJECT_ROOT / "README.md").read_text()
    return [
        m.group(0).strip()
        for block in FENCE.findall(text)
        for m in re.finditer(r"\.venv/bin/llmhni [^&|;#\n]+", block)
    ]


def test_the_readme_names_llmhni_commands():
    assert len(_readme_commands()) >= 3


@pytest.mark.parametrize("command", _readme_commands())
def test_every_readme_command_is_a_real_sub_command(command, capsys):
    words = [w for w in command.split()[1:] if not w.startswith("--")]
    sub = words[:2] if words[0] == "judgments" else words[:1]  # judgments has sub-commands of its own
    with pytest.raises(SystemExit) as done:
        main([*sub, "--help"])
    assert done.value.code == 0
    assert f"usage: llmhni {' '.join(sub)}" in capsys.readouterr().out
