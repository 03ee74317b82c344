"""The explorer as a web page: Voila serves notebooks/00_explorer.ipynb on localhost, headless
Chromium (the Debian package, /usr/bin/chromium) driven by Playwright opens it, moves the layer
slider and checks that the picture changed; the screenshot goes to build/explorer.png. And what
a person does after `make lab`: JupyterLab with the kernel `zflib`, the explorer run and its
sliders moved, a numbered notebook run to its figure (screenshot: build/screenshots/).

Never ``playwright install``: the browser is Debian's (``apt-get install -y chromium``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
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
            raise AssertionError(f"{Path(str(proc.args[2])).name} exited ({proc.returncode}):\n"
                                 f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{proc.args[2]} did not answer at {url} in {timeout} s:\n"
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


def test_atlas_opens_from_disk_index_to_layer_to_map(tmp_path):
    """The unit atlas (zflib.apps.atlas) of ZFNet-64 over a few images, opened from file:// with no
    server: index, a layer (ordered by strength), its strongest map, the next map; on every
    page each image loaded, each link resolves to a file of the atlas, no console error."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from zflib.apps import atlas

    rng = np.random.default_rng(5)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (80, 72, 3), dtype=np.uint8)).save(
            photos / f"{i}.jpg")
    site = tmp_path / "atlas"
    assert atlas.main(["--model", "zfnet64", "--folder", str(photos), "--layers", "conv1",
                       "conv2", "--k", "4", "--out", str(site),
                       "--cache-dir", str(tmp_path / "cache")]) == 0
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))

            def check(expect_images: int) -> None:
                page.wait_for_load_state("load")
                images = page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.getAttribute('src'), e.complete, "
                    "e.naturalWidth])")
                assert len(images) >= expect_images, page.url
                bad = [src for src, done, w in images if not (done and w > 0)]
                assert not bad, f"{page.url}: not loaded: {bad[:5]}"
                for href in page.eval_on_selector_all("a[href], link[href]",
                                                      "els => els.map(e => e.href)"):
                    assert href.startswith("file://"), href
                    target = Path(urllib.request.url2pathname(href[7:].split("#")[0]))
                    assert target.is_file() and site.resolve() in target.resolve().parents, \
                        f"{page.url}: {href} does not resolve inside the atlas"

            page.goto(site.resolve().as_uri() + "/index.html")
            check(0)
            page.click("text=conv2")
            assert page.url.endswith("/conv2/index.html")
            check(256)
            page.click("text=activation strength")
            # the grid is reordered on the hashchange event, after the click returns; the
            # link turns "on" in the same step, once the reorder is done
            page.wait_for_selector(".order a.on[data-by=strength]")
            first = page.eval_on_selector(".grid a", "a => a.dataset.index")
            strengths = page.eval_on_selector_all(".grid a", "els => els.map(a => "
                                                  "Number(a.dataset.strength))")
            assert strengths == sorted(strengths, reverse=True)
            page.click(".grid a >> nth=0")
            assert page.url.endswith(f"/conv2/map-{int(first):04d}.html")
            check(1)
            assert "strongest of 256 maps" in page.inner_text("body")
            page.click("a[rel=next]")
            check(1)
            assert page.url.endswith(f"/conv2/map-{int(first) + 1:04d}.html") or \
                int(first) == 255
            page.screenshot(path=str(tmp_path / "map.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _set_parameters(page, panel, source: str) -> None:
    """Replace the parameters cell (the notebook's second) with ``source``, as a person would:
    click into it, select all, type."""
    editor = panel.locator(".jp-Cell").nth(1).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def test_jupyterlab_runs_the_explorer_and_a_notebook_to_its_figure(tmp_path):
    """`make lab`'s workflow: JupyterLab (token off, a free port) on a working copy of the
    notebooks, the kernel `zflib` registered as make lab registers it (here in a temporary
    prefix, not the venv); open the explorer, run it, move the layer and the map slider and see
    the projection change each time; open notebook 01, set its profile to smoke in the
    parameters cell, Run All and see its figure in the output and in $ZF_FIGURES."""
    from playwright.sync_api import expect, sync_playwright

    work = tmp_path / "repo"
    (work / "notebooks").mkdir(parents=True)
    (work / "figures").mkdir()
    for name in ("00_explorer.ipynb", "01_fig1_unpooling.ipynb"):
        shutil.copy(repo_root() / "notebooks" / name, work / "notebooks" / name)
    shutil.copy(repo_root() / "figures" / "fig01_unpooling.png", work / "figures")
    prefix = tmp_path / "jupyter"
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix),
                    "--name", "zflib", "--display-name", "Python (zflib)"], check=True,
                   capture_output=True)
    figures = tmp_path / "figures-lab"
    env = {**os.environ, "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "ZF_FIGURES": str(figures), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(repo_root()), os.environ.get("PYTHONPATH", "")])}
    port = _free_port()
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        lab = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
             f"--ServerApp.root_dir={work}", "--allow-root"], cwd=work, stdout=out,
            stderr=subprocess.STDOUT, env=env)
    shots = repo_root() / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/api/status", lab, log, timeout=120)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/lab/tree/notebooks/00_explorer.ipynb", timeout=120_000)
                panel = page.locator(".jp-NotebookPanel:visible")
                panel.locator(".jp-Cell").nth(1).wait_for(timeout=120_000)
                # the kernel named by the notebook, started without asking
                expect(panel.locator(".jp-Toolbar-kernelName")).to_have_text(
                    "Python (zflib)", timeout=120_000)
                _set_parameters(page, panel, 'profile: str = "smoke"\nmine_images: int = 300\n'
                                'alexnet_weights: str = ""\nvgg16_weights: str = ""\n'
                                'image_folder: str = ""')
                _run_all(page)
                picture = panel.locator(PICTURE)
                picture.wait_for(state="visible", timeout=300_000)
                page.wait_for_timeout(500)
                for i, name in ((0, "layer"), (1, "map")):
                    before, shot = picture.get_attribute("src"), picture.screenshot()
                    slider = panel.locator(".widget-slider").nth(i)
                    assert name in slider.inner_text()
                    value = int(slider.locator(".widget-readout").inner_text())
                    slider.locator(".noUi-handle").focus()
                    page.keyboard.press("ArrowRight")
                    page.wait_for_function(
                        "([sel, old]) => [...document.querySelectorAll(sel)].some("
                        "e => e.offsetParent && e.src !== old)",
                        arg=[PICTURE, before], timeout=120_000)
                    page.wait_for_timeout(500)  # let the new image paint
                    a, b = _pixels(shot), _pixels(picture.screenshot())
                    assert a.shape == b.shape and np.abs(a - b).mean() > 0.5, \
                        f"the projection did not change when the {name} slider moved"
                    assert int(slider.locator(".widget-readout").inner_text()) == value + 1
                page.wait_for_timeout(500)
                page.screenshot(path=str(shots / "lab-explorer.png"))

                page.locator(".jp-DirListing-item", has_text="01_fig1_unpooling.ipynb").dblclick()
                panel = page.locator(".jp-NotebookPanel:visible")
                panel.locator(".jp-Cell").nth(1).wait_for(timeout=120_000)
                shown = panel.locator(".jp-RenderedMarkdown img").first
                shown.wait_for(timeout=60_000)
                assert page.wait_for_function("e => e.complete && e.naturalWidth > 0",
                                              arg=shown.element_handle(), timeout=30_000)
                source = json.loads((work / "notebooks" / "01_fig1_unpooling.ipynb").read_text())
                params = "".join(source["cells"][1]["source"])
                assert params.startswith('profile: str = "lab"')
                _set_parameters(page, panel, params.replace('"lab"', '"smoke"', 1))
                _run_all(page)
                drawn = panel.locator(".jp-OutputArea-output img").first
                drawn.wait_for(state="visible", timeout=180_000)
                assert page.wait_for_function("e => e.complete && e.naturalWidth > 0",
                                              arg=drawn.element_handle(), timeout=30_000)
                deadline = time.monotonic() + 60
                while not (figures / "fig01_unpooling.png").exists():
                    assert time.monotonic() < deadline, "the notebook saved no figure"
                    time.sleep(0.5)
                page.screenshot(path=str(shots / "lab-notebook.png"))
            except Exception:
                page.screenshot(path=str(tmp_path / "failed.png"))
                raise
            finally:
                browser.close()
    finally:
        _stop(lab)
