"""``make book``: the executed notebooks of a profile as a static HTML book that opens from disk.

``python -m zflib.paper.book [--profile full]`` renders ``build/notebooks/<profile>/NN_*.ipynb``
(what ``make figures PROFILE=<profile>`` executes; the record's profile, ``full``, by default)
with nbconvert's ``lab`` template into ``build/book/``: one page per notebook, each with links
to the contents and to the previous and next notebook, and ``index.html``, the contents: every
notebook's title, its first paragraph and every figure it drew. Nothing is loaded from the
network (no MathJax, require.js or widget scripts: the pages must open from ``file://`` on a
machine without one), so notebook outputs are shown as they were saved: text, tables, PNGs.

The notebooks' own Markdown links point into the repository (``../figures/fig02_....png``,
``../RESULTS.md``): the figures they show are copied into ``build/book/figures/`` and linked
there, every other relative link is pointed at the repository from ``build/book/``.

Without executed notebooks it says which command makes them, and exits with status 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zflib.config import RECORD_PROFILE, repo_root
from zflib.paper.figures import numbered_notebooks

# nbconvert's lab template, less everything it would fetch from a CDN
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">{{ resources.book_css }}</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.book_nav }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.book_nav }}
{{ super() }}
{% endblock body_footer %}
"""
CSS = """
nav.zf-book { display: flex; gap: 1.5em; justify-content: space-between; max-width: 70em;
  margin: 0.8em auto; padding: 0.5em 1em; font: 14px/1.4 system-ui, sans-serif;
  background: #f3f4f6; border-radius: 6px; }
nav.zf-book a { color: #1d4ed8; text-decoration: none; }
nav.zf-book a:hover { text-decoration: underline; }
nav.zf-book .up { font-weight: 600; }
"""
INDEX_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 70em; margin: 2em auto;
  padding: 0 1em; color: #111827; }
h1 { margin-bottom: 0.2em; }
.note { color: #4b5563; }
section { border-top: 1px solid #e5e7eb; padding: 0.8em 0; }
section h2 { font-size: 1.15em; margin: 0.2em 0; }
section p { margin: 0.3em 0 0.6em; color: #374151; }
.figures { display: flex; flex-wrap: wrap; gap: 0.6em; }
.figures a img { height: 160px; width: auto; border: 1px solid #e5e7eb; border-radius: 4px; }
a { color: #1d4ed8; text-decoration: none; }
a:hover { text-decoration: underline; }
"""
# a Markdown link or image whose target is relative (no scheme, not an anchor, not absolute)
LINK = re.compile(r"(!?\[[^\]]*\]\()(?!(?:[a-z][a-z0-9+.-]*:|#|/))([^)\s]+)(\))", re.I)
WIDGET = "application/vnd.jupyter.widget-view+json"


@dataclass
class Page:
    """One notebook of the book: its source and page names, title, first paragraph, figures."""

    notebook: Path
    page: str
    title: str
    summary: str
    figures: list[str] = field(default_factory=list)  # files under figures/ of the book


def missing_message(profile: str, folder: Path) -> str:
    """What to run when ``folder`` holds no executed notebooks of ``profile``."""
    return (f"make book: no executed notebooks in {folder}; `make figures PROFILE={profile}` "
            f"writes them (the whole record: 15 to 50 minutes on 2 CPU cores), then run "
            f"`make book{'' if profile == RECORD_PROFILE else f' PROFILE={profile}'}` again")


def _first_paragraph(markdown: str) -> tuple[str, str]:
    """(the title without its ``#``, the first paragraph of plain prose after it)."""
    lines = markdown.strip().splitlines()
    title = lines[0].lstrip("#").strip() if lines else ""
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines[1:]))
    prose = [p for p in paragraphs if p.strip() and not p.lstrip().startswith(("!", "#", "|"))]
    text = re.sub(r"<!--.*?-->", "", prose[0] if prose else "", flags=re.S)
    return title, " ".join(text.split())


def _relink(markdown: str, source_dir: Path, root: Path, out: Path, copied: list[str]) -> str:
    """``markdown`` with its relative links taken from ``source_dir`` (the notebooks' folder)
    to the book ``out``: images under the repository's ``figures/`` copied to
    ``out/figures/`` (their names there appended to ``copied``), every other link pointed at
    the repository (relatively when the book lies inside it)."""
    inside = out.resolve().is_relative_to(root)
    back = "../" * len(out.resolve().relative_to(root).parts) if inside else f"{root.as_uri()}/"

    def swap(m: re.Match) -> str:
        target, _, anchor = m[2].partition("#")
        path = (source_dir / target).resolve()
        if m[1].startswith("!") and path.is_file() and (root / "figures") in path.parents:
            name = path.relative_to(root / "figures").as_posix().replace("/", "-")
            shutil.copyfile(path, out / "figures" / name)
            copied.append(name)
            return f"{m[1]}figures/{name}{m[3]}"
        if not path.is_relative_to(root):
            return m[0]  # outside the repository: left as it is
        rel = path.relative_to(root).as_posix()
        return f"{m[1]}{back}{rel}{'#' + anchor if anchor else ''}{m[3]}"
    return LINK.sub(swap, markdown)


def _drawn(nb, out: Path, stem: str) -> list[str]:
    """The PNGs ``nb``'s outputs show, written to ``out/figures/`` as
    ``<stem>-<i>-<hash>.png`` and linked from the outputs (``metadata.filenames``, as
    nbconvert's ``ExtractOutputPreprocessor`` does: each image stored once, as a file);
    widget views (progress bars, which need a live kernel) are dropped from the outputs."""
    names = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.get("outputs", []) if WIDGET not in o.get("data", {})]
        for output in cell.outputs:
            png = output.get("data", {}).get("image/png")
            if png:
                data = base64.b64decode(png)
                name = f"{stem}-{len(names) + 1}-{hashlib.sha1(data).hexdigest()[:8]}.png"
                (out / "figures" / name).write_bytes(data)
                output.setdefault("metadata", {}).setdefault("filenames", {})[
                    "image/png"] = f"figures/{name}"
                names.append(name)
    return names


def _inline(markdown: str) -> str:
    """A paragraph of Markdown as HTML (nbconvert's own renderer), its links made inert (they
    point from the notebook's folder)."""
    from nbconvert.filters import markdown2html

    return re.sub(r"<a [^>]*>(.*?)</a>", r"\1", markdown2html(markdown), flags=re.S)


def _nav(pages: Sequence[Page], i: int) -> str:
    prev = (f'<a rel="prev" href="{pages[i - 1].page}">&larr; {html.escape(pages[i - 1].title)}'
            "</a>") if i > 0 else "<span></span>"
    nxt = (f'<a rel="next" href="{pages[i + 1].page}">{html.escape(pages[i + 1].title)} '
           "&rarr;</a>") if i + 1 < len(pages) else "<span></span>"
    return (f'<nav class="zf-book">{prev}<a class="up" rel="contents" href="index.html">'
            f"Contents</a>{nxt}</nav>")


def _index(pages: Sequence[Page], profile: str, missing: Sequence[str]) -> str:
    sections = []
    for p in pages:
        thumbs = "".join(f'<a href="{p.page}"><img src="figures/{html.escape(f)}" '
                         f'alt="{html.escape(p.title)}"></a>' for f in p.figures)
        sections.append(f'<section><h2><a href="{p.page}">{html.escape(p.title)}</a></h2>'
                        f"{_inline(p.summary)}"
                        f'<div class="figures">{thumbs}</div></section>')
    gone = (f'<p class="note">Not in this book (not executed in {html.escape(profile)}): '
            f"{html.escape(', '.join(missing))}.</p>") if missing else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1.0">'
            f"<title>zflib: the paper, figure by figure</title>"
            f"<style>{INDEX_CSS}</style></head><body>"
            f"<h1>zflib: the paper, figure by figure</h1>"
            f'<p class="note">Zeiler &amp; Fergus, <em>Visualizing and Understanding '
            f"Convolutional Networks</em> (ECCV 2014), reproduced: the notebooks of "
            f"<code>notebooks/</code> as executed by <code>make figures PROFILE="
            f"{html.escape(profile)}</code>, {len(pages)} of them, each with the figures it "
            f"drew. Built {time.strftime('%Y-%m-%d %H:%M')}.</p>{gone}"
            f"{''.join(sections)}</body></html>\n")


def build(executed: str | Path, out: str | Path, *, profile: str = RECORD_PROFILE,
          sources: str | Path | None = None, root: Path | None = None,
          expected: Sequence[str] = ()) -> list[Page]:
    """Render the executed notebooks of ``executed`` into the book ``out``.

    Args:
        executed: the folder of executed ``NN_*.ipynb`` (``build/notebooks/<profile>``).
        out: the book's folder; replaced whole.
        profile: named on the contents page.
        sources: where the source notebooks live (their relative links start there;
            default ``<root>/notebooks``).
        root: the repository (default :func:`zflib.config.repo_root`).
        expected: notebook stems the contents page should name when absent.

    Returns the pages, in order. Raises ``FileNotFoundError`` when ``executed`` holds none.
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    root = (root or repo_root()).resolve()
    executed, out = Path(executed), Path(out)
    found = numbered_notebooks(executed) if executed.is_dir() else []
    if not found:
        raise FileNotFoundError(missing_message(profile, executed))
    source_dir = Path(sources) if sources else root / "notebooks"
    if out.exists():
        shutil.rmtree(out)
    (out / "figures").mkdir(parents=True)
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"book.j2": TEMPLATE})],
                            template_file="book.j2")
    pages, nbs = [], []
    for path in found:
        nb = nbformat.read(path, as_version=4)
        nb.metadata.pop("widgets", None)
        copied: list[str] = []
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = _relink(cell.source, source_dir, root, out, copied)
        title, summary = _first_paragraph(nb.cells[0].source if nb.cells else path.stem)
        drawn = _drawn(nb, out, path.stem)
        pages.append(Page(path, f"{path.stem}.html", title or path.stem, summary,
                          drawn or list(dict.fromkeys(copied))))
        nbs.append(nb)
    for i, (page, nb) in enumerate(zip(pages, nbs, strict=True)):
        body, _ = exporter.from_notebook_node(nb, resources={
            "metadata": {"name": page.title}, "book_nav": _nav(pages, i), "book_css": CSS})
        (out / page.page).write_text(body)
    missing = [s for s in expected if s not in {p.notebook.stem for p in pages}]
    (out / "index.html").write_text(_index(pages, profile, missing))
    return pages


def folder_size(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zflib.paper.book",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default=RECORD_PROFILE,
                    help=f"whose executed notebooks (default {RECORD_PROFILE}, the record's)")
    ap.add_argument("--notebooks", default=None,
                    help="folder of executed notebooks (default build/notebooks/PROFILE)")
    ap.add_argument("--out", default=None, help="the book's folder (default build/book)")
    args = ap.parse_args(argv)
    root = repo_root()
    executed = Path(args.notebooks) if args.notebooks else root / "build" / "notebooks" / \
        args.profile
    out = Path(args.out) if args.out else root / "build" / "book"
    expected = [p.stem for p in numbered_notebooks(root / "notebooks")]
    t = time.perf_counter()
    try:
        pages = build(executed, out, profile=args.profile, expected=expected)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    seconds = time.perf_counter() - t
    missing = [s for s in expected if s not in {p.notebook.stem for p in pages}]
    if missing:
        print(f"make book: {len(missing)} notebooks not executed in {args.profile}: "
              f"{', '.join(missing)}; `make figures PROFILE={args.profile} ONLY=\""
              f"{' '.join(s[:2] for s in missing)}\"` runs them", file=sys.stderr)
    print(json.dumps({"book": str(out / "index.html"), "pages": len(pages),
                      "figures": sum(len(p.figures) for p in pages),
                      "seconds": round(seconds, 1),
                      "megabytes": round(folder_size(out) / 1e6, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
