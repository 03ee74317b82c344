"""``make docs``: the API reference of every ``zflib`` module, built from its docstrings.

``python -m zflib.apps.apidocs [--out build/docs/api]`` renders every module of the package
(:func:`modules`) with pdoc into static HTML that opens from disk, and fails (exit status 1,
each warning printed) when pdoc warns: an annotation it cannot resolve, a module it cannot
import, a module listed twice. ``tests/test_apidocs.py`` builds it and checks that every
public function and class appears.
"""

from __future__ import annotations

import argparse
import os
import pkgutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import zflib
from zflib.config import repo_root


def modules() -> list[str]:
    """Every importable module of ``zflib`` (``__main__`` scripts left out), sorted."""
    found = {m.name for m in pkgutil.walk_packages(zflib.__path__, "zflib.")}
    return ["zflib", *sorted(n for n in found if not n.endswith(".__main__"))]


def _specs(names: Sequence[str]) -> list[str]:
    """``names`` less the submodules pdoc already reaches through their package (a package
    without ``__all__`` documents its submodules itself; naming them again is a warning)."""
    import importlib

    def walked(name: str) -> bool:
        parent = name.rpartition(".")[0]
        return bool(parent) and not hasattr(importlib.import_module(parent), "__all__")

    return [n for n in names if not walked(n)]


def build(out: str | os.PathLike) -> tuple[list[str], float]:
    """Render :func:`modules` into ``out`` (HTML, one page per module, and a search index).

    Returns (the warnings pdoc raised, as text; seconds taken)."""
    import pdoc
    import pdoc.render

    start = time.perf_counter()
    # our modules may run a subprocess at import (matplotlib's font cache runs fc-list)
    os.environ.setdefault("PDOC_ALLOW_EXEC", "1")
    pdoc.render.configure(docformat="restructuredtext", footer_text=f"zflib {zflib.__version__}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*_specs(modules()), output_directory=Path(out))
    return [f"{w.category.__name__}: {w.message}" for w in caught], time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.apps.apidocs",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(repo_root() / "build" / "docs" / "api"))
    args = p.parse_args(argv)
    problems, seconds = build(args.out)
    for line in problems:
        print(f"make docs: {line}", file=sys.stderr)
    print(f"make docs: {len(modules())} modules in {seconds:.1f} s -> {args.out}/index.html"
          + (f"; {len(problems)} warning(s)" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
