"""The explorer as a web page: Voila serves notebooks/00_explorer.ipynb on localhost, headless
Chromium (the Debian package, /usr/bin/chromium) driven by Playwright opens it, moves the layer
slider and checks that the picture changed; the screenshot goes to build/explorer.png.

Never ``playwright install``: the browser is Debian's (``apt-get install -y chromium``).
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from zflib.config import repo_root

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PICTURE = ".zf-explorer-picture"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is absent: install Debian's chromium (apt-get install -y "
           "chromium) to run the browser test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"voila exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"voila did not answer at {url} in {timeout} s:\n"
                         f"{log.read_text()[-3000:]}")


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)


def test_explorer_page_reacts_to_the_layer_slider(tmp_path):
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook
    from playwright.sync_api import sync_playwright

    # the explorer notebook, mining 300 validation images instead of 2,000 (faster in CI)
    nb = parameterize_notebook(load_notebook_node(str(repo_root() / "notebooks" /
                                                      "00_explorer.ipynb")),
                               {"profile": "smoke", "mine_images": 300})
    served = tmp_path / "explorer.ipynb"
    nbformat.write(nb, served)
    port = _free_port()
    log = tmp_path / "voila.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as out:
        voila = subprocess.Popen(
            [sys.executable, "-m", "voila", served.name, f"--port={port}", "--no-browser",
             "--Voila.ip=127.0.0.1"], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, voila, log)
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=ARGS,
                headless=True, viewport={"width": 1300, "height": 1500})
            try:
                page = browser.new_page()
                page.goto(url, timeout=120_000)
                picture = page.locator(PICTURE)
                picture.wait_for(state="visible", timeout=180_000)
                src0 = picture.get_attribute("src")
                shot0 = picture.screenshot()
                status = page.locator(".widget-html").first
                assert "conv1" in status.inner_text()

                layer = page.locator(".widget-slider").first
                assert "layer" in layer.inner_text()
                layer.locator(".noUi-handle").focus()
                page.keyboard.press("ArrowRight")  # layer 1 -> 2
                page.wait_for_function(
                    "([sel, old]) => document.querySelector(sel).src !== old",
                    arg=[PICTURE, src0], timeout=60_000)
                page.wait_for_timeout(500)  # let the new image paint
                shot1 = picture.screenshot()
                assert layer.locator(".widget-readout").inner_text().strip() == "2"
                assert "conv2" in status.inner_text()
                a, b = _pixels(shot0), _pixels(shot1)
                assert a.shape == b.shape and np.abs(a - b).mean() > 1.0, \
                    "the picture did not change when the layer slider moved"

                target = repo_root() / "build" / "explorer.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(target), full_page=True)
                assert target.stat().st_size > 10_000
            finally:
                browser.close()
    finally:
        voila.terminate()
        try:
            voila.wait(timeout=20)
        except subprocess.TimeoutExpired:
            voila.kill()
            voila.wait()
