"""zflib.paper.book: executed notebooks rendered to a book that opens from file:// with nothing
from the network: contents, every figure, previous / next between notebooks; in Chromium every
page loads, every image has a width and the console stays clean. Built here from two notebooks
executed in the smoke profile (make book renders the record's eleven)."""

from __future__ import annotations

import re
import shutil
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from zflib.config import repo_root
from zflib.paper import book
from zflib.paper.figures import run_notebook

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEMS = ("01_fig1_unpooling", "03_fig3_architecture")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Two notebooks executed in smoke, as make figures leaves them in build/notebooks/."""
    folder = tmp_path_factory.mktemp("executed")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZF_FIGURES", str(folder / "figures"))
    try:
        for stem in STEMS:
            failure = run_notebook(repo_root() / "notebooks" / f"{stem}.ipynb",
                                   folder / f"{stem}.ipynb", "smoke")
            assert failure is None, failure.message()
    finally:
        mp.undo()
    return folder


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value:
                self.refs.append((tag, key, value))


def _rel(page: Path, rel: str) -> list[str]:
    """The targets of the page's links ``<a rel=rel>``."""
    return [dict(re.findall(r'(\w+)="([^"]*)"', a)).get("href", "")
            for a in re.findall(r"<a\b([^>]*)>", page.read_text())
            if re.search(rf'\brel="{rel}"', a)]


def _refs(page: Path) -> list[tuple[str, str, str]]:
    p = _Refs()
    p.feed(page.read_text())
    return p.refs


def test_the_book_has_contents_every_figure_and_links_between_notebooks(executed, tmp_path):
    out = tmp_path / "book"
    pages = book.build(executed, out, profile="smoke", expected=[*STEMS, "02_fig2_top9"])
    assert [p.page for p in pages] == [f"{s}.html" for s in STEMS]
    index = (out / "index.html").read_text()
    assert "02_fig2_top9" in index  # named as not executed
    for p in pages:
        assert f'href="{p.page}"' in index and p.figures
        for name in p.figures:  # the figures each notebook drew, on the contents page
            assert f'src="figures/{name}"' in index and (out / "figures" / name).is_file()
    first, second = (out / p.page for p in pages)
    assert _rel(first, "next") == ["03_fig3_architecture.html"] * 2  # above and below
    assert _rel(second, "prev") == ["01_fig1_unpooling.html"] * 2
    assert _rel(first, "prev") == [] and _rel(second, "next") == []
    assert _rel(first, "contents") == _rel(second, "contents") == ["index.html"] * 2
    # the committed figure the notebook opens with, copied; its outputs' PNGs as files
    assert 'src="figures/fig01_unpooling.png"' in first.read_text()
    assert (out / "figures" / "fig01_unpooling.png").read_bytes() == \
        (repo_root() / "figures" / "fig01_unpooling.png").read_bytes()
    assert "src=\"data:image/png" not in first.read_text()  # CSS may inline its own icons
    for page in (out / "index.html", first, second):
        for tag, _key, value in _refs(page):
            assert not re.match(r"(https?:)?//", value) or tag == "a", \
                f"{page.name} loads {value} from the network"
            if tag != "a" and not value.startswith(("data:", "#")):
                assert (page.parent / value).is_file(), f"{page.name}: no {value}"
            if tag == "a" and not re.match(r"[a-z]+:|#", value):
                assert (page.parent / value.split("#")[0]).resolve().exists(), \
                    f"{page.name}: the link {value} leads nowhere"


def test_without_executed_notebooks_it_names_the_command(tmp_path, capsys):
    assert book.main(["--profile", "quick", "--notebooks", str(tmp_path / "none"),
                      "--out", str(tmp_path / "book")]) == 1
    err = capsys.readouterr().err
    assert "make figures PROFILE=quick" in err and "make book PROFILE=quick" in err
    with pytest.raises(FileNotFoundError, match="make figures PROFILE=full"):
        book.build(tmp_path / "none", tmp_path / "book")


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="/usr/bin/chromium is absent: install Debian's chromium (apt-get "
                           "install -y chromium) to run the browser test")
def test_the_book_opens_from_disk_in_chromium(executed, tmp_path):
    from playwright.sync_api import sync_playwright

    out = tmp_path / "book"
    book.build(executed, out, profile="smoke")
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))

            def check() -> int:
                page.wait_for_load_state("load")
                images = page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.getAttribute('src'), e.complete, "
                    "e.naturalWidth])")
                bad = [src for src, done, width in images if not (done and width > 0)]
                assert not bad, f"{page.url}: not loaded: {bad[:5]}"
                return len(images)

            page.goto((out / "index.html").as_uri())
            assert check() >= 2
            page.click("text=Figure 1: Unpooling with switches")
            assert page.url.endswith("/01_fig1_unpooling.html")
            assert check() >= 2  # the committed figure and the drawn one
            page.locator("a[rel=next]").first.click()
            assert page.url.endswith("/03_fig3_architecture.html")
            assert check() >= 2
            target = repo_root() / "build" / "screenshots" / "book-page.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target))
            page.locator("a[rel=contents]").first.click()
            assert page.url.endswith("/index.html")
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                assert href.startswith("file://")
                assert Path(urllib.request.url2pathname(href[7:].split("#")[0])).is_file(), href
        finally:
            browser.close()
    assert not problems, problems
    shutil.rmtree(out)
