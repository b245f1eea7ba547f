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
    """Short; its first screen holds the build prerequisites and the set-up, run and test commands, and the
    results follow; the results and benchmarks pages stay today's figures only."""
    text = (PROJECT_ROOT / "README.md").read_text()
    assert len(text.split()) <= 1500
    first_screen = "\n".join(text.splitlines()[:30])
    for needed in ("C++ compiler", "CMake", "pip install", "llmhni materialize ml-100k", "pytest -q"):
        assert needed in first_screen, needed
    assert "| **LLMHNI (ours)** |" in "\n".join(text.splitlines()[:60])
    for page in ("results.md", "benchmarks.md"):
        assert len((PROJECT_ROOT / "docs" / page).read_text().split()) <= 4000, page


def test_ci_runs_the_readmes_commands_exactly():
    """CI is the README's promise kept: each command line of ``.ci/run`` but its data check is a line of the
    README's code blocks, and the README's set-up and test lines are all in ``.ci/run``."""
    readme_lines = {
        line.strip()
        for block in FENCE.findall((PROJECT_ROOT / "README.md").read_text())
        for line in block.splitlines()
    }
    ci = [
        line.strip()
        for line in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd ", ".venv/bin/python -c"))
    ]
    assert ci, "no commands in .ci/run"
    assert [line for line in ci if line not in readme_lines] == []
    setup = next(line for line in readme_lines if line.startswith("python3 -m venv"))
    assert setup in ci and ".venv/bin/ruff check . && .venv/bin/pytest -q" in ci


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


def test_the_wheel_holds_the_package_alone():
    """``include = ["llmhni_pipeline*"]`` also packed ``llmhni_pipeline_tests`` into the wheel."""
    import tomllib

    from setuptools import find_packages

    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(root), include=config["include"])
    assert "llmhni_pipeline" in packages and "llmhni_pipeline.llm" in packages
    assert not [p for p in packages if not (p == "llmhni_pipeline" or p.startswith("llmhni_pipeline."))]


def test_the_rlmrec_download_size_the_docs_state_is_the_pinned_manifests():
    """The docs once said 32 MB while the fetch printed 26.7 MiB: the figure is read from the pinned files."""
    from llmhni_pipeline.datasets.rlmrec_fetch import files_of

    files = files_of("rlmrec")
    size = f"{sum(f.size for f in files) / 2**20:.1f} MiB"
    root = Path(__file__).resolve().parents[1]
    assert f"pinned and hash-checked, {size};" in (root / "README.md").read_text()
    assert f"({len(files)} files, {size})" in (root / "docs/guide/datasets.md").read_text()


def test_every_skip_names_the_command_that_enables_it():
    """A skipped test tells the reader what to run: `llmhni fetch …`, an `apt-get install` or a `pip install`
    (the platform skip aside). Reasons given by name are looked up in the tests' conftest."""
    from llmhni_pipeline_tests import conftest

    commands = (".venv/bin/llmhni fetch", "apt-get install", "pip install")
    tests = Path(__file__).resolve().parent
    bad = []
    for path in sorted(tests.rglob("*.py")):
        text = path.read_text()
        for match in re.finditer(r"(?:pytest\.skip|importorskip)\((.*?)\)\n", text, re.S):
            call = match.group(1)
            named = re.findall(r"\b([A-Z][A-Z0-9_]+)\b", call)
            reason = call + " ".join(str(getattr(conftest, n, "")) for n in named)
            if not any(c in reason for c in commands):
                bad.append(f"{path.relative_to(tests)}: {call.strip()[:80]}")
    assert not bad, bad


def test_no_pointer_to_a_numbered_section_of_todays_pages():
    """Today's results and benchmarks pages renumber as they change: code and guides point at a section by its
    title or anchor, or at the dated notebook, whose numbers never move (issue 47 found five stale ones)."""
    root = Path(__file__).resolve().parents[1]
    stale = []
    for path in [
        *root.glob("llmhni_pipeline/**/*.py"),
        *root.glob("benchmarks/*.py"),
        *root.glob("benchmarks/*.sh"),
        *root.glob("docs/guide/*.md"),
    ]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(?<!notebook/)(?<![0-9]-)(results|benchmarks)\.md §\d", line):
                stale.append(f"{path.relative_to(root)}:{number}")
    assert not stale, stale
