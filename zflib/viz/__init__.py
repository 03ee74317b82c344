"""Plotting (never computing attributions) and saving figures as PNG.

Each figure's plotting lives in a submodule; :func:`save_figure` writes ``figures/<name>.png``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from zflib.config import repo_root

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def require(n: int, what: str) -> None:
    """Raise a ``ValueError`` naming ``what`` when there is nothing (``n < 1``) to draw, rather
    than let matplotlib or an index fail obscurely further down."""
    if n < 1:
        raise ValueError(f"nothing to draw: no {what}")


def figures_dir() -> Path:
    """``$ZF_FIGURES`` or ``<repo>/figures``."""
    return Path(os.environ.get("ZF_FIGURES", repo_root() / "figures"))


def save_figure(fig: Figure, name: str, *, folder: str | os.PathLike | None = None,
                dpi: int = 150, close: bool = False) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png`` (default: :func:`figures_dir`) and return the
    path; ``close`` frees it (scripts; a notebook keeps it open to show it)."""
    path = Path(folder or figures_dir()) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path
