"""Numbers the README and ``docs/`` quote about the results, read from the record, never typed.

A quoted number is a span of Markdown that names where its value lives::

    ZFNet-64 ends at <!--r run:zfnet64/val_top1_err_10crop|.1%-->62.7%<!--/r--> top-1 error

The comment (invisible once rendered) holds a source, a path and a format:

- source ``record:<name>``: ``figures/record/results/<name>.json`` (what a notebook saved,
  :mod:`zflib.results`; its ``data``), ``record224:<name>``: the same from the ``full224``
  record, ``figures/224/record/results/<name>.json``, ``run:<name>``: a committed run's
  ``results.json`` (:func:`zflib.paper.runs.results_of`), ``bench:<name>``:
  ``benchmarks/results/<name>.json``, ``file:<path>``: any JSON file of the repository;
- the path: keys and list indices separated by ``/``; a ``*`` takes every entry there
  (entries without the rest of the path are skipped);
- the format: a Python format spec (``.1f``, ``.1%``, ``.2f``), after ``min:``, ``max:`` or
  ``len:`` when the path holds a ``*`` (``len:`` alone: the length of a list or object);
  ``sub1:`` formats one minus the value (an error as an accuracy).

:func:`refresh` rewrites every span's text from its source (``python -m zflib.paper.record`` does it
for the README, ``docs/`` and the notebooks after writing ``RESULTS.md``;
``python -m zflib.paper.quotes`` alone); ``tests/paper/test_quotes.py`` checks that every span in
them says what its source holds. In a notebook (``notebooks/*.ipynb``) the spans live in its
Markdown cells, each span within one line.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from zflib.config import RECORD_PROFILE, repo_root

SPAN = re.compile(r"<!--r (?P<ref>[^|>]+)\|(?P<fmt>[^>]*?)-->(?P<text>.*?)<!--/r-->", re.S)
REDUCERS = {"min": min, "max": max, "len": len}


class Quote(NamedTuple):
    """One span: where its value lives, how it is written, what the text says now."""

    ref: str
    fmt: str
    text: str
    start: int
    end: int


def quotes(text: str) -> list[Quote]:
    """Every quoted number in ``text``, in order."""
    return [Quote(m["ref"].strip(), m["fmt"], m["text"], m.start(), m.end())
            for m in SPAN.finditer(text)]


def _load(source: str, root: Path) -> Any:
    kind, _, name = source.partition(":")
    if kind in ("record", "record224"):
        from zflib.paper.folders import record_dir

        folder = record_dir(root, "full224" if kind == "record224" else RECORD_PROFILE)
        return json.loads((folder / "results" / f"{name}.json").read_text())["data"]
    if kind == "run":
        from zflib.paper.runs import results_of

        return results_of(name)
    if kind == "bench":
        return json.loads((root / "benchmarks" / "results" / f"{name}.json").read_text())
    if kind == "file":
        return json.loads((root / name).read_text())
    raise ValueError(f"unknown source {kind!r} in {source!r}; "
                     "valid: record, record224, run, bench, file")


def _walk(data: Any, keys: list[str]) -> Iterator[Any]:
    if not keys:
        yield data
        return
    key, rest = keys[0], keys[1:]
    if key == "*":
        for value in (data.values() if isinstance(data, dict) else data):
            try:
                yield from _walk(value, rest)
            except (KeyError, IndexError, TypeError):
                continue
    elif isinstance(data, list):
        yield from _walk(data[int(key)], rest)
    else:
        yield from _walk(data[key], rest)


def value(ref: str, fmt: str, *, root: Path | None = None) -> str:
    """The text of a span ``ref`` / ``fmt`` (see the module docstring), from its source.

    Raises ``KeyError`` naming the span when its path is not in the source."""
    root = root or repo_root()
    if ref.startswith("file:") and ".json" in ref:  # the file's own path holds slashes
        cut = ref.index(".json") + len(".json")
        source, path = ref[:cut], ref[cut:]
    else:
        source, _, path = ref.partition("/")
    keys = [k for k in path.split("/") if k]
    try:
        found = list(_walk(_load(source, root), keys))
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise KeyError(f"quote {ref!r}: no such value ({err})") from err
    head, _, spec = fmt.rpartition(":")
    ops = [op for op in head.split(":") if op]
    if "*" in keys:
        reduce = next((op for op in ops if op in REDUCERS), None)
        if reduce is None or not found:
            raise KeyError(f"quote {ref!r}: a '*' path wants min:, max: or len: "
                           f"and at least one value, got {fmt!r} over {len(found)}")
        number = REDUCERS[reduce](found)
    else:
        number = len(found[0]) if "len" in ops else found[0]
    if "sub1" in ops:
        number = 1 - number
    return format(number, spec)


def refresh(text: str, *, root: Path | None = None) -> str:
    """``text`` with every span's number rewritten from its source."""
    return SPAN.sub(lambda m: (f"<!--r {m['ref']}|{m['fmt']}-->"
                               f"{value(m['ref'].strip(), m['fmt'], root=root)}<!--/r-->"), text)


def stale(text: str, *, root: Path | None = None) -> list[str]:
    """The spans of ``text`` whose number differs from their source: ``"ref: 'says' != 'is'"``."""
    out = []
    for q in quotes(text):
        want = value(q.ref, q.fmt, root=root)
        if q.text != want:
            out.append(f"{q.ref}: {q.text!r} != {want!r}")
    return out


def documents(root: Path | None = None) -> list[Path]:
    """The files whose quotes are kept: ``README.md``, ``docs/*.md`` and the notebooks
    (``notebooks/*.ipynb``, their Markdown cells)."""
    root = root or repo_root()
    return [root / "README.md", *sorted((root / "docs").glob("*.md")),
            *sorted((root / "notebooks").glob("*.ipynb"))]


def text_of(path: Path) -> str:
    """The Markdown of a document: the file itself, or a notebook's Markdown cells (one
    after another, a blank line between)."""
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _refresh_notebook(raw: str, root: Path | None) -> str:
    """A notebook's JSON with the spans of its Markdown cells refreshed, written as
    Jupyter writes it (one-space indent, a line per source line)."""
    nb = json.loads(raw)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = refresh("".join(cell["source"]), root=root).splitlines(True)
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    return raw if json.loads(new) == json.loads(raw) else new


def refresh_documents(root: Path | None = None) -> list[Path]:
    """Rewrite the quoted numbers of :func:`documents` from their sources; return the files
    that changed."""
    changed = []
    for path in documents(root):
        text = path.read_text()
        new = (_refresh_notebook(text, root) if path.suffix == ".ipynb"
               else refresh(text, root=root))
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.paper.quotes",
                                description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="list stale quotes; exit 1 if any")
    args = p.parse_args(argv)
    if not args.check:
        for path in refresh_documents():
            print(f"refreshed {path.relative_to(repo_root())}")
        return 0
    status = 0
    for path in documents():
        for line in stale(text_of(path)):
            print(f"{path.name}: {line}")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
