"""The Dagster UI as a person sees it: Debian's chromium driven by Playwright over `llmhni ui` (slow: needs
`apt-get install chromium` and `pip install playwright`, see the README's development notes).

A small incoming dataset is materialized from the CLI under a foreign DAGSTER_HOME and working directory, the UI
is started on a free port, and the test opens the asset catalog and one asset's partition page, checks that the
stage assets are listed and that the training-curve plot (matplotlib PNG metadata) renders, and saves the
screenshots (to ``$LLMHNI_UI_SCREENSHOT_DIR`` when set, e.g. ``docs/``).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from llmhni_pipeline_tests.conftest import materialize_backbone

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STAGES = [
    "raw_interactions",
    "text_profiles",
    "llm_embeddings",
    "aligned_projector",
    "pretrained_recommender",
    "candidate_pairs",
    "llm_logical_scores",
    "augmented_graph",
    "joint_model",
    "baselines",
    "evaluation",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f}s")


def test_the_ui_lists_the_stages_and_renders_a_training_curve(tmp_path):
    try:
        import playwright.sync_api as playwright
    except ImportError:
        pytest.fail("playwright is not installed: .venv/bin/pip install -e '.[ui-test]'")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium")
    llmhni = str(Path(sys.executable).with_name("llmhni"))
    home, lake, work = tmp_path / "dagster_home", tmp_path / "lake", tmp_path / "work"
    for folder in (home, lake / "incoming" / "shop", work):
        folder.mkdir(parents=True)
    rows = ["user_id,item_id"] + [f"{u},{i}" for u in range(30) for i in range(24) if i % 3 == u % 3]
    (lake / "incoming" / "shop" / "interactions.csv").write_text("\n".join(rows) + "\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LLMHNI_LAKE_DIR": str(lake)}
    done = materialize_backbone(
        work,
        env,
        "ops:\n  pretrained_recommender:\n    config: {epochs: 5, dim: 16, n_layers: 2, batch_size: 128, lr: 0.01}\n",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ui = subprocess.Popen(
        [llmhni, "ui", "-p", str(port)],
        cwd=work,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    shots = Path(os.environ.get("LLMHNI_UI_SCREENSHOT_DIR") or tmp_path)
    try:
        _wait_for(f"{base}/server_info", 180)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            # the first-visit community dialog can open at any moment, over whatever the test is about to
            # click: dismiss it whenever it shows instead of checking once
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda button: button.click())
            # the UI polls its server without pause, so "networkidle" need never come: load the page, then
            # wait for the elements themselves
            page.goto(f"{base}/assets", wait_until="domcontentloaded", timeout=120_000)
            for stage in STAGES:
                page.get_by_text(stage, exact=True).first.wait_for()
            page.screenshot(path=str(shots / "ui_asset_catalog.png"))
            page.goto(
                f"{base}/assets/pretrained_recommender?view=partitions&partition=shop",
                wait_until="domcontentloaded",
            )
            page.locator("tr", has_text="training_curve").get_by_text("[Show Markdown]").click()
            plot = page.locator("img[src^='data:image/png']").first
            plot.wait_for(state="visible", timeout=30_000)
            box = plot.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 200  # a real figure, not a broken image
            assert page.evaluate("img => img.naturalWidth", plot.element_handle()) > 300
            page.screenshot(path=str(shots / "ui_training_curve.png"))
            browser.close()
    finally:
        os.killpg(ui.pid, signal.SIGINT)
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
